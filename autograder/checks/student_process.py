"""Run probes on the student's code in a process of its own (grader side).

One StudentProcess serves all the checks of one grader process (`--all` runs every check
of a submission through one): it starts student_runner.py in the sandbox
(autograder.sandbox) and sends it a job per probe. The student's side sees a read-only
copy of nothing but the submission, a work folder for the jobs, and the two runner files
(student_runner.py and the assignment's probes.py); never the reference solution, the
hidden checks or the gradebook. Its memory (address
space) and file sizes are capped, it starts from an empty environment plus the variables
it needs, every job has a CPU limit and a wall-clock timeout (after one job has timed out,
the later ones get a tight one: a function that never returns would otherwise cost the full
time in every check that calls it), and inputs and outputs travel as .npz files read with
allow_pickle=False, so nothing the student's code writes can run code in the grader. During
a check of a network, the job's calls of the grader's layers come back on the same pipe and
are served in between (layer_server.py), until the job's answer arrives.
"""
import atexit
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from .. import sandbox

RUNNER = Path(__file__).with_name("student_runner.py")
MEMORY_BYTES = 2 * 2**30
FILE_BYTES = 64 * 2**20
# Seconds one probe may take; correct code needs well under one. Tests lower it.
TIMEOUT_ENV = "NNKIT_CHECK_PROBE_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 20.0
# Once a probe of this submission has timed out, the later ones get this share of it.
AFTER_A_TIMEOUT = 1 / 4
# Time for the student process to start (bubblewrap, Python, numpy) on a loaded machine.
START_SECONDS = 60.0
# Longest line accepted from the runner (its answers and the calls it passes on are short).
LINE_BYTES = 4096
# Native libraries must not start a thread per core on the shared grading machine.
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
_STUCK_AT = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')


class StudentCodeFailed(Exception):
    """The probe could not finish on the student's code; str() is the student-facing reason."""

    def __init__(self, message, modules=(), timed_out=False):
        super().__init__(message)
        self.modules = list(modules)  # the submission's files it had imported
        self.timed_out = timed_out


def probe_timeout():
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS))


class StudentProcess:
    """The student's side of the checks of one submission; started on first use."""

    def __init__(self, submission):
        self.submission = Path(submission).resolve()
        self._process = None
        self._work = None
        self._entries = None
        self._jobs = 0
        self._timed_out = False
        self._lock = threading.Lock()  # one job at a time on the runner's pipe

    def run_probe(self, probe_name, cases, subject, served=None):
        """Run probes.PROBES[probe_name] on each case with the student's nnkit.

        Inputs:
        - probe_name: Name of the probe.
        - cases: List of dicts of arrays.
        - subject: What is being checked, for messages ("affine_backward").
        - served: None, or what answers the calls the probe makes back to the grader
          (serve(job, request)), e.g. the grader's layers (the assignment's
          layer_server.ReferenceLayers) that the student's network runs with.

        Returns: (list of dicts of arrays, one per case; the submission's files the probe
        imported, e.g. ["nnkit/layers.py"]).
        Raises StudentCodeFailed with a message for the student.
        """
        if not (self.submission / "nnkit").is_dir():
            raise StudentCodeFailed(
                f"no nnkit/ folder in the submission ({self.submission.name}): hand in the "
                "nnkit package next to the notebooks")
        with self._lock:
            return self._run_job(probe_name, cases, subject, served)

    def _run_job(self, probe_name, cases, subject, served):
        timeout = probe_timeout() * (AFTER_A_TIMEOUT if self._timed_out else 1)
        work = self._start()
        self._jobs += 1
        job = work / f"job-{self._jobs:04d}"
        job.mkdir()
        try:
            np.savez(job / "inputs.npz", **{f"{number}/{key}": np.asarray(value)
                                            for number, case in enumerate(cases)
                                            for key, value in case.items()})
            exit_code = self._send({"job": job.name, "probe": probe_name, "cases": len(cases),
                                    "timeout_seconds": max(1, round(timeout)),
                                    "cpu_seconds": int(timeout) + 5,
                                    "served": served is not None}, timeout + 10, job, served)
            return _read_result(job, exit_code, len(cases), subject, timeout, self.submission)
        except StudentCodeFailed as failure:
            self._timed_out = self._timed_out or failure.timed_out
            raise
        finally:
            shutil.rmtree(job, ignore_errors=True)

    def forget_timeouts(self):
        """Give the next probes the full time again (a new check of the live grader, which
        may come after the student fixed the endless loop)."""
        self._timed_out = False

    def close(self):
        if self._process is not None:
            _kill(self._process)
            self._process = None
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def _start(self):
        # The sandbox shows the entries of the submission folder it found at its start: a
        # file or folder added or replaced since (nnkit/ unpacked again) needs a new one.
        running = self._process is not None and self._process.poll() is None
        if running and self._entries == _entries(self.submission):
            return self._work
        self.close()
        self._jobs = 0
        self._entries = _entries(self.submission)
        self._work = Path(tempfile.mkdtemp(prefix="nnkit-probes-")).resolve()
        runner_dir = self._work / "runner"
        runner_dir.mkdir()
        from .assignment import PROBES_FILE, current_checks

        # The runner loads the probes.py next to it: the assignment's, under that name.
        shutil.copy2(RUNNER, runner_dir / RUNNER.name)
        shutil.copy2(current_checks().probes_file, runner_dir / PROBES_FILE)
        command = [sys.executable, "-I", str(runner_dir / RUNNER.name), str(self.submission),
                   str(self._work)]
        # Its whole environment: nothing of the grader's passes.
        env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
               "LANG": "C.UTF-8", **SINGLE_THREAD, "NNKIT_PROBE_MEMORY_BYTES": str(MEMORY_BYTES),
               "NNKIT_PROBE_FILE_BYTES": str(FILE_BYTES)}
        # The submission's files are read-only for the student's code (new files go to the
        # sandbox's own capped space): a probe must not change what the notebooks will run.
        plan = sandbox.Plan(folder=str(self.submission), env=env, memory_bytes=MEMORY_BYTES,
                            exchange=[str(self._work)])
        self._process = subprocess.Popen(
            sandbox.confine(command, plan), cwd=self.submission, env={}, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        return self._work

    def _send(self, request, wall_seconds, job, served):
        """Send one job and serve the calls back to the grader it makes; returns the
        child's exit code, or None when it had to be killed."""
        if not self._write(request):
            return None
        deadline = time.monotonic() + wall_seconds + (START_SECONDS if self._jobs == 1 else 0)
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while True:
                ready = selector.select(max(0.0, deadline - time.monotonic()))
                line = self._process.stdout.readline(LINE_BYTES) if ready else ""
                try:
                    answer = json.loads(line)
                except ValueError:
                    answer = {}
                if not isinstance(answer, dict) or answer.get("job") != request["job"]:
                    self.close()  # stuck, or the runner itself died
                    return None
                if "call" not in answer:
                    return answer["exit"]
                reply = (served.serve(job, answer) if served is not None else
                         {"ok": False, "message": "this check serves no calls of the grader's"})
                if not self._write({"reply": answer["call"], **reply}):
                    return None

    def _write(self, message):
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except OSError:
            self.close()
            return False
        return True


_processes = {}


def student_process(submission):
    """The StudentProcess of `submission` for this grader process (closed at exit)."""
    key = Path(submission).resolve()
    if key not in _processes:
        _processes[key] = StudentProcess(key)
    return _processes[key]


def forget_timeouts():
    """StudentProcess.forget_timeouts of every student process of this grader process."""
    for process in _processes.values():
        process.forget_timeouts()


@atexit.register
def close_all():
    """End every student process of this grader process."""
    for process in _processes.values():
        process.close()
    _processes.clear()


def _entries(folder):
    """{name: (device, inode)} of what is in `folder`: what the sandbox binds one by one."""
    found = {}
    for entry in os.scandir(folder):
        try:
            stat = entry.stat()
        except OSError:  # a dangling link, or removed while we looked
            continue
        found[entry.name] = (stat.st_dev, stat.st_ino)
    return found


def _read_result(job, exit_code, count, subject, timeout, submission):
    result_file = job / "result.json"
    if not result_file.is_file():
        message, timed_out = _why_no_result(job, exit_code, subject, timeout, submission)
        raise StudentCodeFailed(message, timed_out=timed_out)
    try:  # the student's code could have written these files itself
        result = json.loads(result_file.read_text())
        modules = [str(name) for name in result["modules"]]
        if not result["ok"]:
            raise StudentCodeFailed(str(result["message"]), modules)
        with np.load(job / "outputs.npz", allow_pickle=False) as archive:
            outputs = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, KeyError, TypeError):
        raise StudentCodeFailed(f"the process running {subject} left no readable result") from None
    cases = [{} for _ in range(count)]
    for key, value in outputs.items():
        number, _, name = key.partition("/")
        if number.isdigit() and int(number) < count:
            cases[int(number)][name] = value
    return cases, modules


def _why_no_result(job, exit_code, subject, timeout, submission):
    """(A message for a probe that ended without a result, whether it timed out)."""
    stuck = (job / "timeout.txt").read_text(errors="replace") if (job / "timeout.txt").is_file() else ""
    if exit_code is None or exit_code == -signal.SIGXCPU or "Timeout" in stuck:
        where = ""
        for match in _STUCK_AT.finditer(stuck):
            path = Path(match["file"])
            if path.is_relative_to(submission):
                where = (f" (it was running {match['function']} in "
                         f"{path.relative_to(submission).as_posix()}, line {match['line']})")
                break  # faulthandler lists the innermost frame first
        return (f"{subject} did not finish: timed out after {timeout:g} s{where}. Look for an "
                "endless loop.", True)
    if exit_code < 0:
        return f"the process running {subject} crashed (signal {-exit_code})", False
    return (f"the process running {subject} ended early (exit code {exit_code}) without a result; "
            "does your code call exit()?", False)


def _kill(process):
    """End the runner and everything it started (each job is a process group of its own)."""
    try:
        family = [*psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()
