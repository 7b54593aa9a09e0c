"""Hidden checks of the fcnet assignment, one per autograded notebook cell (its grade_id).

The hidden section of a test cell in source/fcnet/*.ipynb only calls the grader:

    ### BEGIN HIDDEN TESTS
    import autograder.checks; autograder.checks.run("fc_affine_backward")
    ### END HIDDEN TESTS

(multiple-choice cells pass the student's value: run("fc_q1_choice", answer=inline_q1_answer)).
nbgrader removes the section from the release and restores it at autograde time, when
students see it in their feedback: it holds no logic, no reference values, no answers.

run() executes in the student's kernel and does nothing clever there: it starts a fresh
grader process, `python -m autograder.checks <grade_id> --submission <cwd>`, and turns its
verdict into an exception. The grader process draws fresh random inputs, runs the
student's code in yet another process with limits (sandbox.py), runs the reference nnkit
(source/fcnet/nnkit) on the same inputs and compares with its own code. Redefining
rel_error, monkeypatching nnkit or numpy, or editing objects in the notebook therefore
cannot change a result.

    python -m autograder.checks --list                     every grade_id with a check
    python -m autograder.checks GRADE_ID --submission DIR  one check, outside a notebook
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_ENV = "NNKIT_CHECK_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 120.0
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def run(grade_id, *, timeout=None, **values):
    """Run the hidden check `grade_id` on the assignment folder the kernel runs in.

    Inputs:
    - grade_id: The grade_id of the notebook cell, e.g. "fc_affine_backward".
    - timeout: Seconds the whole check may take (default: $NNKIT_CHECK_TIMEOUT or 120).
    - values: What the check needs from the notebook, e.g. answer=inline_q1_answer. Numbers,
      strings, and sets, lists or tuples of them travel as JSON; anything else arrives as
      "unsupported" and fails the check.

    Prints a line when the check passes. Raises AssertionError with the grader's message
    when it fails or times out, RuntimeError when the grader itself cannot run.
    """
    if timeout is None:
        timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS))
    command = [sys.executable, "-E", "-s", "-m", "autograder.checks", grade_id, "--submission", os.getcwd()]
    for name, value in values.items():
        command += ["--value", f"{name}={encode(value)}"]
    # -E keeps PYTHONPATH out; with -m the working directory, the course root, is where
    # the autograder package is imported from.
    process = subprocess.Popen(
        command, cwd=COURSE_ROOT, env=dict(os.environ, **SINGLE_THREAD), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        process.communicate()
        raise AssertionError(f"hidden check {grade_id}: timed out after {timeout:g} s") from None
    finally:
        _kill(process)

    lines = stdout.strip().splitlines()
    try:
        verdict = json.loads(lines[-1])
    except (IndexError, ValueError):
        problem = (stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"hidden check {grade_id} could not run: {problem}") from None
    if verdict["status"] == "passed":
        print(f"hidden check {grade_id}: passed" + "".join(f"\n  {note}" for note in verdict["notes"]))
    elif verdict["status"] == "failed":
        raise AssertionError(f"hidden check {grade_id} failed:\n{verdict['message']}")
    else:
        raise RuntimeError(f"hidden check {grade_id} could not run: {verdict['message']}")


def encode(value):
    """JSON for a value from the notebook; sets become {"set": [...]} (see decode)."""
    return json.dumps(_plain(value))


def decode(text):
    return _unplain(json.loads(text))


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _plain(value.item())
    if isinstance(value, (set, frozenset)):
        return {"set": sorted((_plain(item) for item in value), key=repr)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return {"unsupported": type(value).__name__}


def _unplain(value):
    if isinstance(value, dict):
        if set(value) == {"set"} and isinstance(value["set"], list):
            return {_hashable(_unplain(item)) for item in value["set"]}
        return {"unsupported": value.get("unsupported", "dict")}
    if isinstance(value, list):
        return [_unplain(item) for item in value]
    return value


def _hashable(value):
    """Set members as they were: tuples, not lists; anything else is marked unsupported."""
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return "<unsupported>"
    return value


def _kill(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
