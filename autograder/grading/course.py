"""Scratch nbgrader course folders, and running nbgrader in them.

Every submission is graded in a course folder of its own, copied from one template:

    <template>/nbgrader_config.py   loads the copy of the course's nbgrader_config.py
                                    beside it (all grading settings), with the root moved
                                    to this folder
    <template>/source/<id>/         a snapshot of the instructor's source/<id>
    <template>/release/<id>/        the release's notebooks (metadata.py matches against them)
    <template>/assignments/<id>/    the manifest, the reference's cell times and the hidden checks
    <template>/gradebook.db         the assignment registered by `nbgrader generate_assignment`

so a grading task needs nothing but that folder (shipped to workers as bundle.py's bundle)
and the submission, and no two tasks ever share a gradebook (SQLite allows one writer at a
time). The course's config finds the manifests next to itself, so its copy finds these.
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..checks import checks_folder
from ..manifest import Manifest
from . import nbgrader_steps
from .time_limits import cell_times_path

CONFIG_FILE = "nbgrader_config.py"
GRADEBOOK_FILE = "gradebook.db"
# The course an assignment is registered in: nbgrader.api.Gradebook's default, which every
# Gradebook() of ours creates. nbgrader's own default course id, "", names no course row at
# all: SQLite lets that pass, PostgreSQL's foreign key refuses the assignment.
COURSE_ID = "default_course"
# Seconds the child of the steps' process may take to end once told to (it has nothing
# left to do).
STEPS_EXIT_SECONDS = 10.0
_EXCEPTION_LINE = re.compile(r"[\w.]*(Error|Exception): ")
_CONFIG_TEMPLATE = '''\
"""Scratch course folder for grading: the course's settings, with the root moved here."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
load_subconfig(os.path.join(HERE, {course_config!r}))  # noqa: F821 (provided by traitlets)
c = get_config()  # noqa: F821
c.CourseDirectory.root = HERE
'''
COURSE_CONFIG_COPY = "course_nbgrader_config.py"


class NbgraderError(RuntimeError):
    """An nbgrader command failed or timed out; the message says which and why."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    log: str       # stdout and stderr, interleaved


def data_folder(course_root: Path) -> Path:
    """The datasets folder the notebooks read: NNKIT_DATA_DIR, else <course>/datasets."""
    return Path(os.environ.get("NNKIT_DATA_DIR") or course_root / "datasets").resolve()


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for nbgrader and the kernels it starts.

    - The interpreter's bin folder goes first on PATH: nbgrader calls the `alembic`
      command when it creates a gradebook, and `make` or a cron job rarely activate the venv.
    - One BLAS/OpenMP thread per kernel: several kernels share the cores, and OpenBLAS
      threads spin-wait; two threads per kernel on a 2-core machine made grading 10x slower.
    - A config file that fails to load stops nbgrader. By default traitlets only logs the
      error and carries on with nbgrader's defaults, i.e. without exclude_overwriting: every
      student would be graded on the instructor's modules.
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, **(extra or {})}
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR"] = "1"
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["MPLBACKEND"] = "Agg"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in graded folders
    return env


def run_nbgrader(args: list[str], course_dir: Path, timeout: float,
                 env: dict[str, str]) -> Finished:
    """Run `nbgrader <args>` in course_dir; on timeout, stop it and everything it started."""
    command = [sys.executable, "-m", "nbgrader", *args]
    process = subprocess.Popen(command, cwd=course_dir, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        process.communicate()
        raise NbgraderError(f"nbgrader {args[0]} did not finish within {timeout:.0f} s "
                            "and was stopped") from None
    except BaseException:  # e.g. KeyboardInterrupt: leave no kernels behind
        _kill_tree(process)
        process.communicate()
        raise
    return Finished(process.returncode, log)


class GradingSteps:
    """The nbgrader process that autogrades one submission and then, when told, generates
    its feedback (nbgrader_steps.py): a child forked, for this submission, from the
    worker's one nbgrader process, which imported nbgrader once for all of them.

        with GradingSteps(assignment, options, course_dir, env, log_file) as steps:
            finished = steps.autograde(timeout)
            ...                                  # the grader's step in between
            finished = steps.feedback(timeout)

    Each step returns a Finished (its log: what nbgrader wrote meanwhile) or raises
    NbgraderError when it did not end within its timeout; leaving the block ends the child
    and everything it started, and gives the process back for the next submission.
    """

    def __init__(self, assignment: str, options: list[str], course_dir: Path,
                 env: dict[str, str], log_file: Path):
        self._log_file = log_file
        log_file.touch()
        # Where each step's log begins, taken before the step is asked for: a step that
        # fails fast has written its error before the caller starts waiting for it.
        self._step_log_start = log_file.stat().st_size
        self._process = _IDLE_STEPS.take() or _StepsProcess(log_file)
        self._child_exit_code = None  # once the child has ended
        self._told = False            # whether the child has its word after autograde
        job = {"argv": [assignment, *options], "cwd": str(course_dir), "env": env,
               "log": str(log_file)}
        self._process.send(json.dumps(job))  # if it died, the autograde step says how

    def autograde(self, timeout: float) -> Finished:
        return self._step("autograde", timeout)

    def feedback(self, timeout: float) -> Finished:
        self._step_log_start = self._log_file.stat().st_size
        self._told = self._child_exit_code is None and self._process.send(nbgrader_steps.FEEDBACK)
        if not self._told:
            raise NbgraderError("nbgrader ended after autograde (exit code "
                                f"{self._ended_with()}), before generate_feedback")
        return self._step("generate_feedback", timeout)

    def _step(self, name: str, timeout: float) -> Finished:
        outcome = self._next_line(timeout)
        with open(self._log_file, encoding="utf-8", errors="replace") as written:
            written.seek(self._step_log_start)
            log = written.read()
        if outcome is None:
            self._process.stop()
            raise NbgraderError(f"nbgrader {name} did not finish within {timeout:.0f} s "
                                "and was stopped")
        if "success" in outcome:
            return Finished(0 if outcome["success"] else 1, log)
        return Finished(self._ended_with() or 1, log)  # the child ended without its line

    def _next_line(self, timeout: float) -> dict | None:
        """The process's next line (None: none within timeout), noting the child's end."""
        outcome = self._process.read(timeout)
        if outcome is not None and outcome.get("step") == nbgrader_steps.DONE:
            self._child_exit_code = outcome.get("exit_code", 1)
        return outcome

    def _ended_with(self) -> int:
        """The child's exit code, or the process's when it is gone too."""
        if self._child_exit_code is not None:
            return self._child_exit_code
        return self._process.stop()

    def _child_ended(self) -> bool:
        """Tell the child to end if it still waits for its word, and wait for it; whether it
        ended, leaving the process ready for the next submission."""
        if not (self._told or self._child_exit_code is not None):
            self._process.send(nbgrader_steps.DONE)
        while self._child_exit_code is None and self._process.running():
            if self._next_line(STEPS_EXIT_SECONDS) is None:
                self._process.stop()
        return self._child_exit_code is not None and self._process.running()

    def __enter__(self) -> "GradingSteps":
        return self

    def __exit__(self, error_type, *_) -> None:
        if error_type is None and self._child_ended():
            _IDLE_STEPS.put(self._process)
        else:
            self._process.stop()


class _StepsProcess:
    """A nbgrader_steps process, which imports nbgrader and waits for its jobs, and what it
    wrote that was not read yet (it may write two lines at once). It starts with the
    environment nbgrader needs from the start (nbgrader_env) and gives each job's child that
    job's own; -P keeps its working folder off its import path. What it prints before its
    first job (nbgrader failing to import) goes to that job's log."""

    def __init__(self, log_file: Path):
        with open(log_file, "ab") as errors:
            self._popen = subprocess.Popen(
                [sys.executable, "-P", "-m", "autograder.grading.nbgrader_steps"],
                env=nbgrader_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=errors)
        self.pid = self._popen.pid
        self._unread = b""

    def send(self, line: str) -> bool:
        """Write a line to the process; whether it could (it may have died)."""
        try:
            self._popen.stdin.write(line.encode() + b"\n")
            self._popen.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):  # ValueError: stopped, its pipes closed
            return False

    def read(self, timeout: float) -> dict | None:
        """The process's next line, parsed; None when none came within timeout; {} when the
        process ended or broke the protocol (then it is stopped)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._unread:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._popen.stdout], [], [], left)[0]:
                return None
            written = os.read(self._popen.stdout.fileno(), 65536)  # what select saw, unbuffered
            if not written:
                self.stop()
                return {}
            self._unread += written
        line, _, self._unread = self._unread.partition(b"\n")
        try:
            outcome = json.loads(line)
        except ValueError:
            outcome = None
        if not isinstance(outcome, dict):
            self.stop()
            return {}
        return outcome

    def running(self) -> bool:
        return self._popen.poll() is None

    def stop(self) -> int:
        """Kill it with everything it started; its exit code."""
        _kill_tree(self._popen)  # also what it left (a kernel stuck in a student's cell)
        exit_code = self._popen.wait()
        self._popen.stdin.close()
        self._popen.stdout.close()
        return exit_code


class _IdleSteps:
    """This worker's nbgrader_steps processes waiting for a job: usually one, more only
    while tasks grade side by side in one worker (a Dask worker with several threads). They
    read their jobs from pipes of this process, so they end when it does."""

    def __init__(self):
        self._idle, self._lock = [], threading.Lock()

    def take(self) -> _StepsProcess | None:
        """An idle process that is still alive, or None."""
        with self._lock:
            while self._idle:
                process = self._idle.pop()
                if process.running():
                    return process
                process.stop()
        return None

    def put(self, process: _StepsProcess) -> None:
        with self._lock:
            self._idle.append(process)


_IDLE_STEPS = _IdleSteps()


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill nbgrader and all its descendants. Kernels (and the processes hidden checks
    start) run in sessions of their own, so killing a process group would miss them, and a
    kernel stuck in a student's endless loop would keep a core busy."""
    try:
        parent = psutil.Process(process.pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass


def make_course_template(course_root: Path, manifest: Manifest, template: Path,
                         timeout: float = 600) -> Path:
    """Create the template course folder for grading `manifest`'s assignment; return it."""
    course_config = course_root / CONFIG_FILE
    if not course_config.is_file():
        raise NbgraderError(f"{course_config} not found: grading uses its settings")
    template.mkdir(parents=True)
    shutil.copytree(course_root / "source" / manifest.id, template / "source" / manifest.id,
                    ignore=shutil.ignore_patterns(*manifest.local_only_patterns))
    for name in manifest.notebooks:
        (template / "release" / manifest.id).mkdir(parents=True, exist_ok=True)
        shutil.copy2(course_root / "release" / manifest.id / name,
                     template / "release" / manifest.id / name)
    assignment = template / "assignments" / manifest.id
    assignment.mkdir(parents=True)
    for facts in (manifest.path, cell_times_path(manifest)):
        if facts.is_file():
            shutil.copy2(facts, assignment / facts.name)
    shutil.copytree(checks_folder(course_root, manifest.id), checks_folder(template, manifest.id),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(course_config, template / COURSE_CONFIG_COPY)
    (template / CONFIG_FILE).write_text(
        _CONFIG_TEMPLATE.format(course_config=COURSE_CONFIG_COPY), encoding="utf-8")
    register_assignment(template, manifest.id, f"sqlite:///{template / GRADEBOOK_FILE}", timeout)
    return template


def register_assignment(course_dir: Path, assignment_id: str, db_url: str,
                        timeout: float = 600, env: dict[str, str] | None = None) -> None:
    """Record the assignment's notebooks and cells in the gradebook at db_url, as
    `nbgrader generate_assignment` does (the release it writes goes to a throw-away folder).
    env: added to nbgrader's environment (a database's PGPASSWORD: never on a command line).

    On a gradebook that already holds submissions nbgrader refuses to add or remove cells;
    the error then says so.
    """
    with tempfile.TemporaryDirectory(prefix="unused-release-") as unused_release:
        finished = run_nbgrader(
            ["generate_assignment", assignment_id, "--force", f"--db={db_url}",
             f"--CourseDirectory.release_directory={unused_release}",
             f"--CourseDirectory.course_id={COURSE_ID}"],
            course_dir, timeout, nbgrader_env(env))
    if finished.returncode != 0:
        reason = ("it already holds grades for a different version of the assignment (cells "
                  "were added or removed since); grade into a new --out folder"
                  if "because there are submissions" in finished.log else last_error(finished.log))
        raise NbgraderError(f"could not register {assignment_id} in {db_url}: {reason}")


def last_error(log: str) -> str:
    """The most telling line of an nbgrader log: the last exception ("KeyError: ..."),
    else the last line logged as an error, else the last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    exceptions = [line for line in lines if _EXCEPTION_LINE.match(line)]
    errors = [line for line in lines if "| ERROR]" in line]
    for candidates in (exceptions, errors, lines):
        if candidates:
            return candidates[-1]
    return "(no output)"
