"""Run a probe on the student's code in a fresh process with limits (grader side).

The student's process sees the submission folder as its working directory and as the
only place nnkit is imported from. Its memory (address space), CPU time and file sizes
are capped, and a wall-clock timeout ends it (and anything it started). Inputs and
outputs travel as .npz files read with allow_pickle=False, so nothing the student's code
writes can run code in the grader.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RUNNER = Path(__file__).with_name("student_runner.py")
MEMORY_BYTES = 2 * 2**30
FILE_BYTES = 64 * 2**20
# Seconds one probe may take; correct code needs well under one. Tests lower it.
TIMEOUT_ENV = "NNKIT_CHECK_PROBE_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 20.0
# Native libraries must not start a thread per core on the shared grading machine.
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
_STUCK_AT = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')


class StudentCodeFailed(Exception):
    """The probe could not finish on the student's code; str() is the student-facing reason."""


def probe_timeout():
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS))


def run_student_probe(probe_name, cases, submission, subject):
    """Run probes.PROBES[probe_name] on each case with the student's nnkit.

    Inputs:
    - probe_name: Name of the probe.
    - cases: List of dicts of arrays.
    - submission: The student's assignment folder (holding nnkit/).
    - subject: What is being checked, for messages ("affine_backward").

    Returns: list of dicts of arrays, one per case.
    Raises StudentCodeFailed with a message for the student.
    """
    submission = Path(submission).resolve()
    if not (submission / "nnkit").is_dir():
        raise StudentCodeFailed(
            f"no nnkit/ folder in the submission ({submission.name}): hand in the nnkit package "
            "next to the notebooks")
    timeout = probe_timeout()
    with tempfile.TemporaryDirectory(prefix="nnkit-probe-") as job:
        job_dir = Path(job)
        arrays = {f"{number}/{key}": np.asarray(value) for number, case in enumerate(cases)
                  for key, value in case.items()}
        np.savez(job_dir / "inputs.npz", **arrays)
        (job_dir / "job.json").write_text(json.dumps({
            "probe": probe_name, "cases": len(cases), "submission": str(submission), "grader_pid": os.getpid(),
            "memory_bytes": MEMORY_BYTES, "file_bytes": FILE_BYTES,
            "timeout_seconds": max(1, round(timeout)), "cpu_seconds": int(timeout) + 5,
        }))
        returncode = _run(job_dir, submission, timeout + 5)
        result_file = job_dir / "result.json"
        if not result_file.is_file():
            raise StudentCodeFailed(_why_no_result(job_dir, returncode, subject, timeout, submission))
        try:  # the student's code could have written these files itself
            result = json.loads(result_file.read_text())
            if not result["ok"]:
                raise StudentCodeFailed(str(result["message"]))
            with np.load(job_dir / "outputs.npz", allow_pickle=False) as archive:
                outputs = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, KeyError, TypeError):
            raise StudentCodeFailed(f"the process running {subject} left no readable result") from None
    return [{key.split("/", 1)[1]: value for key, value in outputs.items()
             if key.split("/", 1)[0] == str(number)} for number in range(len(cases))]


def _run(job_dir, submission, wall_seconds):
    """Run the runner; returns its exit code (None when it had to be killed)."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    env.update(SINGLE_THREAD)
    with open(job_dir / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-I", str(RUNNER), str(job_dir)], cwd=submission, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True)
        try:
            returncode = process.wait(timeout=wall_seconds)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            # Also ends whatever the student's code started in the same session.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
    return returncode


def _why_no_result(job_dir, returncode, subject, timeout, submission):
    """A message for a student process that ended without a result."""
    stuck = (job_dir / "timeout.txt").read_text(errors="replace") if (job_dir / "timeout.txt").is_file() else ""
    if returncode is None or returncode == -signal.SIGXCPU or "Timeout" in stuck:
        where = ""
        for match in _STUCK_AT.finditer(stuck):
            path = Path(match["file"])
            if path.is_relative_to(submission):
                where = f" (it was running {match['function']} in {path.relative_to(submission).as_posix()}, line {match['line']})"
                break  # faulthandler lists the innermost frame first
        return f"{subject} did not finish: timed out after {timeout:g} s{where}. Look for an endless loop."
    if returncode is not None and returncode < 0:
        return f"the process running {subject} crashed (signal {-returncode})"
    return (f"the process running {subject} ended early (exit code {returncode}) without a result; "
            "does your code call exit()?")
