"""Grading one submission: a self-contained task with plain, picklable input and output.

    result = grade_submission(GradingTask(entry, manifest, course_template, scratch, ...))

The task copies the course template into its own scratch folder, unpacks the submission
into submitted/<student>/<id>/, runs `nbgrader autograde` and `nbgrader generate_feedback`
there (each a subprocess with a wall-clock limit), and returns a GradingResult: the score
of every graded cell, a status, and where the feedback and autograded files are. It writes
nothing outside its scratch folder and never raises for a bad submission, so any executor
(local processes today, a cluster later) can run it; the caller records the results.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook

from ..manifest import Manifest
from .course import GRADEBOOK_FILE, NbgraderError, last_error, nbgrader_env, run_nbgrader
from .submissions import Entry, SubmissionError, unpack

OK = "ok"
FAILED = "failed"
_MESSAGE_LENGTH = 200


@dataclass(frozen=True)
class GradingTask:
    entry: Entry
    manifest: Manifest
    course_template: Path   # made by course.make_course_template; only read
    scratch: Path           # this task's own folder (must not exist yet)
    data_dir: Path          # the datasets folder the notebooks load (NNKIT_DATA_DIR)
    import_root: Path       # put on the kernels' PYTHONPATH: holds the `autograder` package
                            # whose checks the hidden tests call
    autograde_timeout: float = 1200.0  # seconds for all notebooks of the submission
    feedback_timeout: float = 300.0


@dataclass(frozen=True)
class CellResult:
    notebook: str          # nbgrader's notebook id, e.g. "FullyConnectedNets"
    grade_id: str
    kind: str              # "test": scored by the autograder; "answer": graded by a TA
    score: float | None    # None: not scored yet (a TA grades it)
    max_score: float
    message: str = ""      # why points were lost, or why there is no score yet


@dataclass(frozen=True)
class GradingResult:
    student_id: str
    entry_name: str                         # file or folder name in the submissions folder
    status: str                             # "ok", "ok, but: ...", or "failed: ..."
    cells: tuple[CellResult, ...] = ()      # empty when the submission could not be graded
    timestamp: str | None = None            # as written to timestamp.txt
    autograded_dir: Path | None = None      # autograded notebooks and modules (in scratch)
    feedback_files: tuple[Path, ...] = ()   # one HTML page per notebook (in scratch)
    seconds: float = 0.0

    @property
    def graded(self) -> bool:
        return bool(self.cells)

    @property
    def tests(self) -> tuple[CellResult, ...]:
        return tuple(cell for cell in self.cells if cell.kind == "test")

    @property
    def score(self) -> float:
        """Autograded points earned (cells waiting for a TA count as 0 here)."""
        return sum(cell.score or 0.0 for cell in self.tests)


def grade_submission(task: GradingTask) -> GradingResult:
    """Grade one submission; every problem ends up in the result's status, never raised."""
    started = time.perf_counter()
    entry, assignment = task.entry, task.manifest.id
    notes = list(entry.notes)  # things the instructor should know, even when all went well

    def failed(reason: str, **details) -> GradingResult:
        return GradingResult(entry.student_id, entry.path.name, _status(notes, reason),
                             seconds=time.perf_counter() - started, **details)

    course = task.scratch / "course"
    shutil.copytree(task.course_template, course)
    submitted = course / "submitted" / entry.student_id / assignment
    try:
        unpacked = unpack(entry, task.manifest, submitted)
    except SubmissionError as error:
        return failed(str(error))
    notes += unpacked.notes
    if not any(path.endswith(".ipynb") for path in unpacked.present):
        return failed("none of the assignment's notebooks is in it (expected "
                      f"{', '.join(task.manifest.notebooks)})")
    if unpacked.missing:
        notes.append(f"missing {', '.join(unpacked.missing)}")
    timestamp = _timestamp(entry.path)
    (submitted / "timestamp.txt").write_text(timestamp + "\n", encoding="utf-8")

    pythonpath = os.pathsep.join(filter(None, [str(task.import_root),
                                               os.environ.get("PYTHONPATH")]))
    env = nbgrader_env({"NNKIT_DATA_DIR": str(task.data_dir), "PYTHONPATH": pythonpath})
    try:
        finished = run_nbgrader(["autograde", assignment], course, task.autograde_timeout, env)
    except NbgraderError as error:
        return failed(str(error), timestamp=timestamp)
    autograded = course / "autograded" / entry.student_id / assignment
    if finished.returncode != 0 or not autograded.is_dir():
        return failed(f"nbgrader autograde: {last_error(finished.log)}", timestamp=timestamp)
    cells = read_cell_results(f"sqlite:///{course / GRADEBOOK_FILE}", task.manifest,
                              entry.student_id, autograded)

    try:
        finished = run_nbgrader(["generate_feedback", assignment], course,
                                task.feedback_timeout, env)
        if finished.returncode != 0:
            notes.append(f"no feedback: {last_error(finished.log)}")
    except NbgraderError as error:
        notes.append(f"no feedback: {error}")
    feedback_files = tuple(sorted((course / "feedback" / entry.student_id / assignment)
                                  .glob("*.html")))
    return GradingResult(entry.student_id, entry.path.name, _status(notes), tuple(cells),
                         timestamp, autograded, feedback_files, time.perf_counter() - started)


def _status(notes: list[str], failure: str | None = None) -> str:
    """"ok", "ok, but: <notes>" or "failed: <why>; <notes>"."""
    if failure is not None:
        return "; ".join([f"{FAILED}: {failure}", *notes])
    return OK if not notes else f"{OK}, but: " + "; ".join(notes)


def read_cell_results(db_url: str, manifest: Manifest, student_id: str,
                      autograded: Path) -> list[CellResult]:
    """The grade of every graded cell of a submission, from its gradebook, with the reason
    for each lost point taken from the autograded notebooks; in the manifest's notebook
    order, and cell order within a notebook."""
    order = [Path(name).stem for name in manifest.notebooks]
    results = []
    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(manifest.id, student_id)
        for notebook in sorted(submission.notebooks, key=lambda nb: order.index(nb.name)):
            answers = {cell.name for cell in notebook.notebook.solution_cells}
            path = autograded / f"{notebook.name}.ipynb"
            messages = failure_messages(path) if path.is_file() else {}
            for grade in notebook.grades:
                kind = "answer" if grade.name in answers else "test"
                if not path.is_file():
                    message = "notebook not handed in"
                elif grade.auto_score is None:  # an answer, or a test cell skipped as slow
                    message = "graded by a TA" + ("" if kind == "answer" else
                                                  " (skipped: tagged slow)")
                elif grade.auto_score < grade.max_score:
                    message = "no answer" if kind == "answer" else messages.get(grade.name, "")
                else:
                    message = ""
                results.append(CellResult(notebook.name, grade.name, kind, grade.auto_score,
                                          float(grade.max_score), message))
    return results


def failure_messages(notebook_path: Path) -> dict[str, str]:
    """{grade_id: what went wrong} for the test cells of an autograded notebook that
    raised an error or wrote to stderr (nbgrader gives both zero points)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    messages = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or not utils.is_grade(cell):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                first_line = (output.get("evalue") or "").strip().splitlines()[:1]
                message = ": ".join([output.get("ename", "Error"), *first_line])
            elif output.output_type == "stream" and output.get("name") == "stderr":
                message = "wrote to stderr: " + output.text.strip().partition("\n")[0]
            else:
                continue
            messages[cell.metadata.nbgrader["grade_id"]] = _shorten(message)
            break
    return messages


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LENGTH else text[: _MESSAGE_LENGTH - 3] + "..."


def _timestamp(path: Path) -> str:
    """When the submission last changed, in nbgrader's timestamp format. An LMS download
    keeps no upload time, so this is what nbgrader's late-submission check sees."""
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc)
    return modified.strftime("%Y-%m-%d %H:%M:%S.%f %Z")


def unexpected_failure(task: GradingTask, error: BaseException) -> GradingResult:
    """The result for a task that crashed (a bug, or a worker process that died), so one
    submission never stops a batch."""
    status = _status(list(task.entry.notes),
                     f"grading crashed ({type(error).__name__}: {error})")
    return GradingResult(task.entry.student_id, task.entry.path.name, status)

