"""Hidden checks of an assignment, one per autograded notebook cell (its grade_id).

The hidden section of a test cell in source/<id>/*.ipynb only calls the grader:

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
autograder/grading/preprocessors.py). Without that variable, e.g. when an instructor runs
a source notebook, run() runs the check now, in a grader process that the kernel's first
run() starts and later cells reuse (`--serve`, _GraderServer): starting one costs more
than most checks. Either way the grader draws fresh random inputs, runs the student's code
in a sandboxed process of its own (student_process.py), runs the reference nnkit
(source/<id>/nnkit) on the same inputs and compares with its own code, so redefining
rel_error, monkeypatching nnkit or numpy, or editing objects in the notebook cannot change
a result.

This file is the only part of the grader a sandboxed kernel can import (autograder/grading
gives it a copy of this file and nothing else of the package), so it imports only the
standard library.

    python -m autograder.checks --list                     every grade_id with a check
    python -m autograder.checks GRADE_ID --submission DIR  one check, outside a notebook
    python -m autograder.checks --all --submission DIR     every check, verdicts as JSON
    python -m autograder.checks --serve                    checks requested on stdin (run())
"""
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[2]
VERDICTS_ENV = "NNKIT_HIDDEN_VERDICTS"
# The one setting that says which assignment the checks are of: its reference solution, the
# assignment's source folder (COURSE/source/<id>, holding nnkit/). Its hidden checks are
# COURSE/assignments/<id>/checks of the same course (checks_folder). The grader names the
# folder it ships with the assignment (autograder/grading/bundle.py).
REFERENCE_ENV = "NNKIT_REFERENCE_DIR"


def checks_folder(course_root, assignment):
    """Where the hidden checks of `assignment` live in a course (or an assignment bundle)."""
    return Path(course_root) / "assignments" / assignment / "checks"


def _reference_dir():
    """$NNKIT_REFERENCE_DIR; else the source folder an instructor's kernel runs in
    (COURSE_ROOT/source/<id>); else the course's one assignment with checks. None when
    none of these says (a grading kernel, which only reads verdicts)."""
    if os.environ.get(REFERENCE_ENV):
        return Path(os.environ[REFERENCE_ENV]).resolve()
    try:
        here = Path.cwd().resolve()
    except FileNotFoundError:
        here = None
    if here is not None and here.parent == COURSE_ROOT / "source":
        return here
    with_checks = sorted(COURSE_ROOT.glob("assignments/*/checks"))
    return COURSE_ROOT / "source" / with_checks[0].parent.name if len(with_checks) == 1 else None


REFERENCE_DIR = _reference_dir()
CHECKS_DIR = REFERENCE_DIR and checks_folder(REFERENCE_DIR.parents[1], REFERENCE_DIR.name)
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


# This kernel's grader process (a _GraderServer), started by the first run() that needs it.
_grader = None


def _fresh_verdict(grade_id, timeout, values):
    """Run the check now, in this kernel's grader process."""
    global _grader
    if timeout is None:
        timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS))
    if _grader is None or not _grader.is_current():
        if _grader is not None:
            _grader.close()
        _grader = _GraderServer()
    # The values travel as they do on the command line (--value NAME=JSON).
    request = {"grade_id": grade_id, "submission": os.getcwd(),
               "values": {name: encode(value) for name, value in values.items()}}
    try:
        return _grader.ask(request, timeout)
    except TimeoutError:
        return {"status": "failed", "message": f"- timed out after {timeout:g} s", "notes": []}


class _GraderServer:
    """The grader process of this kernel (`python -m autograder.checks --serve`), kept
    between cells: one JSON request per line on its stdin, one verdict per line on its
    stdout.

    It exists because starting a grader (Python, numpy, the checks, the sandboxed student
    process, the reference nnkit) costs about a second, more than most checks take, and a
    kernel running a source notebook calls run() in every autograded cell. The student's
    code needs no restart to be checked as it is now: every probe imports it afresh
    (student_runner.py). What the grader imported itself would go stale, so the server is
    replaced when the grader's code or the reference nnkit changed on disk since it started,
    when the kernel's environment changed, and when it died, timed out or the wait for it
    was interrupted. It exits when its stdin closes, that is with the kernel, and ends
    whatever it started.
    """

    def __init__(self):
        # Taken before the process imports anything: a later edit always shows.
        self._code, self._env = _grader_code(), dict(os.environ)
        self._stderr = tempfile.TemporaryFile()
        # -E keeps PYTHONPATH out; with -m the working directory, the course root, is where
        # the autograder package is imported from.
        self._process = subprocess.Popen(
            [sys.executable, "-E", "-s", "-m", "autograder.checks", "--serve"], cwd=COURSE_ROOT,
            env=_server_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, start_new_session=True)

    def is_current(self):
        return (self._process.poll() is None and self._env == os.environ
                and self._code == _grader_code())

    def ask(self, request, timeout):
        """The verdict of one request. Raises TimeoutError after `timeout` seconds; a server
        that timed out, did not answer or was interrupted (KeyboardInterrupt) is ended."""
        errors_from = os.fstat(self._stderr.fileno()).st_size
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
            line = self._read_line(time.monotonic() + timeout)
        except BrokenPipeError:  # it died before reading the request
            line = b""
        except BaseException:
            self.close()
            raise
        try:
            return json.loads(line)
        except ValueError:
            problem = self._last_error(errors_from)
            self.close()
            if not problem:
                problem = f"the grader process ended without a verdict (exit code {self._process.returncode})"
            return {"status": "error", "message": problem, "notes": []}

    def _read_line(self, deadline):
        """The server's next line; b"" when it closed its stdout (it died)."""
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError
                chunk = os.read(self._process.stdout.fileno(), 1 << 16)
                if not chunk:
                    return b""
                line += chunk
        return line

    def _last_error(self, since):
        """The last line the server wrote to its stderr after offset `since`."""
        size = os.fstat(self._stderr.fileno()).st_size
        since = max(since, size - 4096)
        text = os.pread(self._stderr.fileno(), size - since, since).decode(errors="replace")
        return (text.strip().splitlines() or [""])[-1]

    def close(self):
        """End the server and whatever it started (its sandboxes end with it: autograder/sandbox.py)."""
        if self._process.returncode is None:  # once collected, its PID may be another's
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._stderr):
            try:
                stream.close()
            except OSError:  # an unflushed request to a dead server
                pass


def _server_env():
    """The kernel's environment for its grader, naming the assignment this kernel found
    (the server runs in COURSE_ROOT, where it could not tell)."""
    found = {REFERENCE_ENV: str(REFERENCE_DIR)} if REFERENCE_DIR else {}
    return dict(os.environ, **SINGLE_THREAD, **found)


def _grader_code():
    """(folder, file, size, mtime) of every Python file the grader imports from the course:
    the autograder package, the assignment's checks and the reference nnkit."""
    found = []
    tops = [COURSE_ROOT / "autograder"] + ([CHECKS_DIR, REFERENCE_DIR / "nnkit"] if REFERENCE_DIR else [])
    for top in tops:
        for folder, subfolders, files in os.walk(top):
            subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
            for name in sorted(name for name in files if name.endswith(".py")):
                try:
                    stat = os.stat(os.path.join(folder, name))
                except FileNotFoundError:  # removed while we looked
                    continue
                found.append((folder, name, stat.st_size, stat.st_mtime_ns))
    return found


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

