"""The hidden checks of one submission, run once, while its notebooks run.

    checked = assemble_checked_folder(submitted, source, manifest, scratch / "checked")
    checks = HiddenChecks(checked, scratch / "verdicts" / "verdicts.json", data_dir,
                          reference, probe_timeout, flags)
    ... nbgrader autograde ...
    verdicts = checks.result()

1. assemble the folder the checks see as nbgrader will assemble the autograded one: the
   instructor's given files (solver, layer_utils, ...) with the student's files on top;
2. run `python -m autograder.checks --all` on it in a grader process of its own, which
   sends the student's code to a sandboxed process (autograder/checks/student_process.py),
   in a background thread, so that the checks and the notebooks use a core each;
3. fail the checks that ran a module flagged for reaching for the grader (flags.py);
4. write each verdict as it arrives where the kernels wait for it
   ($NNKIT_HIDDEN_VERDICTS) and the RequireHiddenVerdicts step of nbgrader's pipeline
   enforces them;
5. stop them when their time budget (`checks_budget`) runs out: the checks without a
   verdict by then fail as not run, and every verdict reached is kept.

All 47 checks share one grader process and one student process (seconds), instead of two
fresh processes per test cell.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..checks import REFERENCE_ENV, checks_folder
from ..checks.assignment import load_checks
from ..checks.student_process import START_SECONDS, TIMEOUT_ENV as PROBE_TIMEOUT_ENV
from ..checks.student_process import probe_timeout as default_probe_timeout
from ..manifest import NEVER_COPIED, Manifest
from .course import nbgrader_env


class HiddenChecksFailed(RuntimeError):
    """The grader process could not produce verdicts; the message says why."""


def hidden_check_ids(reference: Path) -> list[str]:
    """The grade ids with a hidden check in the assignment whose source folder, in a course
    or an assignment bundle, is `reference` (its checks are beside it: checks_folder)."""
    return list(load_checks(checks_folder(reference.parents[1], reference.name)).checks)


def checks_budget(manifest: Manifest, probe_seconds: float | None = None) -> float:
    """Seconds all hidden checks of a submission may take: the student process's start and
    every check's student code using its whole time limit (a check stops at its first
    probe that cannot finish; after one timeout, the rest get a quarter of the time)."""
    course_root = manifest.path.parents[2]  # COURSE/assignments/<id>/manifest.toml
    return _budget(hidden_check_ids(course_root / "source" / manifest.id), probe_seconds)


def _budget(grade_ids: list[str], probe_seconds: float | None) -> float:
    return START_SECONDS + len(grade_ids) * (probe_seconds or default_probe_timeout())


def assemble_checked_folder(submitted: Path, source: Path, manifest: Manifest,
                            checked: Path) -> Path:
    """Copy the submission into `checked`, with the assignment's given files from `source`
    added where the manifest does not make them the student's (as autograde does). What
    autograde never copies stays behind too: a __pycache__ the submission brings along
    need not match its .py files."""
    shutil.copytree(submitted, checked, ignore=shutil.ignore_patterns(*NEVER_COPIED))
    students = set(manifest.student_modules) | set(manifest.artifacts)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if (not path.is_file() or path.suffix == ".ipynb" or relative in students
                or "__pycache__" in path.parts or "ipynb_checkpoints" in relative):
            continue
        target = checked / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return checked


class HiddenChecks:
    """Every hidden check of one submission, running in a background thread from creation.

    - checked: The folder to check (assemble_checked_folder).
    - verdicts_file: Where to write {"complete": bool, "verdicts": {grade_id: verdict}},
      rewritten as each verdict arrives (complete, maybe with verdicts missing, when the
      checks end or cannot run, so that nobody waits for it forever).
    - reference: The assignment's source folder (the reference nnkit), from its bundle.
    - flags: {module path: why it is flagged} (flags.py); checks that run a flagged module fail.
    - probe_timeout: Seconds for one check's run of the student's code (None: the checks'
      default); all checks together get checks_budget() of it.
    """

    def __init__(self, checked: Path, verdicts_file: Path, data_dir: Path, reference: Path,
                 probe_timeout: float | None = None, flags: dict[str, str] | None = None):
        self._command = [sys.executable, "-m", "autograder.checks", "--all", "--submission",
                         str(checked)]
        self._env = nbgrader_env({"NNKIT_DATA_DIR": str(data_dir), REFERENCE_ENV: str(reference)})
        if probe_timeout is not None:
            self._env[PROBE_TIMEOUT_ENV] = str(probe_timeout)
        # The grader process runs beside the submission, in the task's scratch folder, so
        # that nothing is imported from a working folder but the installed kit.
        self._grade_ids = hidden_check_ids(reference)
        self._folder, self._timeout = checked.parent, _budget(self._grade_ids, probe_timeout)
        self._verdicts_file, self._flags = verdicts_file, flags or {}
        self._verdicts, self._error = {}, None
        self.not_run = []  # checks the budget stopped before they had a verdict
        self.seconds = 0.0  # how long they took, once they are done
        self._thread = threading.Thread(target=self._run, name="hidden-checks", daemon=True)
        self._thread.start()

    def result(self) -> dict:
        """{grade_id: verdict} once the checks are done; raises HiddenChecksFailed."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._verdicts

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self._check()
        except HiddenChecksFailed as error:
            self._error = error
        except Exception as bug:  # noqa: BLE001 - reported as the submission's status
            self._error = HiddenChecksFailed(f"the hidden checks crashed ({type(bug).__name__}: {bug})")
        finally:  # whatever happened: kernels and RequireHiddenVerdicts stop waiting
            self._write(complete=True)
            self.seconds = time.perf_counter() - started

    def _check(self) -> None:
        """Run the grader process, recording each verdict as it arrives."""
        with tempfile.TemporaryFile("w+") as stderr:
            process = subprocess.Popen(self._command, cwd=self._folder, env=self._env,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=stderr, text=True)
            expired = threading.Event()

            def stop():
                expired.set()
                process.kill()

            timer = threading.Timer(self._timeout, stop)
            timer.start()
            try:
                for line in process.stdout:
                    try:
                        arrived = json.loads(line)
                        grade_id, verdict = arrived["grade_id"], arrived["verdict"]
                    except (ValueError, KeyError, TypeError):
                        continue  # not a verdict line
                    self._verdicts.update(apply_flags({grade_id: verdict}, self._flags))
                    self._write(complete=False)
            finally:
                timer.cancel()
                process.kill()
                process.wait()
            if len(self._verdicts) < len(self._grade_ids) and expired.is_set():
                not_run = {"status": "failed", "notes": [], "modules": [], "message": (
                    f"- not run: the hidden checks' time budget of {self._timeout:.0f} s ran "
                    "out before this check (the checks before it took that long)")}
                self.not_run = [grade_id for grade_id in self._grade_ids if grade_id not in self._verdicts]
                self._verdicts.update(dict.fromkeys(self.not_run, not_run))
            elif len(self._verdicts) < len(self._grade_ids):
                stderr.seek(0)
                problem = (stderr.read().strip().splitlines() or ["no output"])[-1]
                raise HiddenChecksFailed(f"the hidden checks could not run: {problem}")

    def _write(self, complete: bool) -> None:
        partial = self._verdicts_file.with_suffix(".partial")
        partial.write_text(json.dumps({"complete": complete, "verdicts": self._verdicts}, indent=1),
                           encoding="utf-8")
        os.replace(partial, self._verdicts_file)  # readers never see half a file


def apply_flags(verdicts: dict, flags: dict[str, str]) -> dict:
    """Fail every check that ran a flagged module, whatever its own verdict."""
    for grade_id, verdict in verdicts.items():
        ran = [module for module in verdict.get("modules", []) if module in flags]
        if ran:
            verdicts[grade_id] = {**verdict, "status": "failed", "notes": [], "message": "\n".join(
                f"- flagged: {module} {flags[module]}, so the checks that run it get no points"
                for module in ran)}
    return verdicts
