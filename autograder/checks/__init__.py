"""Hidden checks of the fcnet assignment, one per autograded notebook cell (its grade_id).

The hidden section of a test cell in source/fcnet/*.ipynb only calls the grader:

    ### BEGIN HIDDEN TESTS
    import autograder.checks; autograder.checks.run("fc_affine_backward")
    ### END HIDDEN TESTS

(multiple-choice cells pass the student's value: run("fc_q1_choice", answer=inline_q1_answer)).
nbgrader removes the section from the release and restores it at autograde time, when
students see it in their feedback: it holds no logic, no reference values, no answers.

The checks never run in the student's kernel. When `autograder grade` grades a submission
it runs them all in a grader process of their own (`python -m autograder.checks --all`),
while the notebooks run, and writes the verdicts to the file named in
$NNKIT_HIDDEN_VERDICTS; in the kernel, run() waits for that file and only shows the verdict
of its grade_id (and the grade comes from the file, not from the kernel: see
autograder/grading/preprocessors.py). Without that variable, e.g.
when an instructor runs a source notebook, run() starts a grader process for the one
check. Either way the grader draws fresh random inputs, runs the student's code in a
sandboxed process of its own (student_process.py), runs the reference nnkit
(source/fcnet/nnkit) on the same inputs and compares with its own code, so redefining
rel_error, monkeypatching nnkit or numpy, or editing objects in the notebook cannot change
a result.

This file is the only part of the grader a sandboxed kernel can import (autograder/grading
gives it a copy of this file and nothing else of the package), so it imports only the
standard library.

    python -m autograder.checks --list                     every grade_id with a check
    python -m autograder.checks GRADE_ID --submission DIR  one check, outside a notebook
    python -m autograder.checks --all --submission DIR     every check, verdicts as JSON
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[2]
VERDICTS_ENV = "NNKIT_HIDDEN_VERDICTS"
# The folder of the reference solution the checks compare with (the assignment's source
# folder, holding nnkit/); without it, the course's source/fcnet next to this package.
REFERENCE_ENV = "NNKIT_REFERENCE_DIR"
# Seconds a cell waits for its verdict: the grader runs the checks while the notebooks run.
VERDICTS_WAIT_ENV = "NNKIT_HIDDEN_VERDICTS_WAIT"
DEFAULT_VERDICTS_WAIT_SECONDS = 1800.0
TIMEOUT_ENV = "NNKIT_CHECK_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 120.0
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def run(grade_id, *, timeout=None, **values):
    """Run the hidden check `grade_id` on the assignment folder the kernel runs in.

    Inputs:
    - grade_id: The grade_id of the notebook cell, e.g. "fc_affine_backward".
    - timeout: Seconds the whole check may take when it runs now (default:
      $NNKIT_CHECK_TIMEOUT or 120).
    - values: What the check needs from the notebook, e.g. answer=inline_q1_answer. Numbers,
      strings, and sets, lists or tuples of them travel as JSON; anything else arrives as
      "unsupported" and fails the check. (A recorded verdict was computed with the values
      the grader read from the notebook's source: see notebook_values.py.)

    Prints a line when the check passes. Raises AssertionError with the grader's message
    when it fails or times out, RuntimeError when the grader itself cannot run.
    """
    if os.environ.get(VERDICTS_ENV):
        verdict = _recorded_verdict(grade_id, os.environ[VERDICTS_ENV])
    else:
        verdict = _fresh_verdict(grade_id, timeout, values)
    if verdict["status"] == "passed":
        print(f"hidden check {grade_id}: passed" + "".join(f"\n  {note}" for note in verdict["notes"]))
    elif verdict["status"] == "pending":  # the grade still uses the verdict, once it is in
        print(f"hidden check {grade_id}: still running when this cell ran; see your grades")
    elif verdict["status"] == "failed":
        raise AssertionError(f"hidden check {grade_id} failed:\n{verdict['message']}")
    else:
        raise RuntimeError(f"hidden check {grade_id} could not run: {verdict['message']}")


def read_verdicts(verdicts_file, until=(), wait_seconds=None):
    """({grade_id: verdict}, complete) from the file the grader rewrites as checks finish,
    {"complete": bool, "verdicts": {...}}, after waiting up to wait_seconds
    ($NNKIT_HIDDEN_VERDICTS_WAIT or 1800) for the verdicts of the grade ids in `until`, or
    for all of them when it is empty."""
    if wait_seconds is None:
        wait_seconds = float(os.environ.get(VERDICTS_WAIT_ENV, DEFAULT_VERDICTS_WAIT_SECONDS))
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with open(verdicts_file, encoding="utf-8") as file:
                recorded = json.load(file)
        except FileNotFoundError:
            recorded = {"complete": False, "verdicts": {}}
        verdicts, complete = recorded["verdicts"], recorded["complete"]
        if complete or (until and set(until) <= set(verdicts)) or time.monotonic() > deadline:
            return verdicts, complete
        time.sleep(0.2)


def _recorded_verdict(grade_id, verdicts_file):
    """The verdict the grader recorded for this cell."""
    try:
        verdicts, complete = read_verdicts(verdicts_file, until=[grade_id])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return {"status": "error", "message": f"no verdicts from the grader ({error})", "notes": []}
    if grade_id in verdicts:
        return verdicts[grade_id]
    if not complete:
        return {"status": "pending", "message": "", "notes": []}
    return {"status": "error", "message": f"the grader recorded no verdict for {grade_id}", "notes": []}


def _fresh_verdict(grade_id, timeout, values):
    """Run the check now in a grader process of its own."""
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
        return {"status": "failed", "message": f"- timed out after {timeout:g} s", "notes": []}
    finally:
        _kill(process)
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        problem = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "error", "message": problem, "notes": []}


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
