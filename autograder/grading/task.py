"""Grading one submission: a self-contained task with plain, picklable input and output.

    task = GradingTask(entry, read_handed_in(entry, manifest), bundle.digest, data_dir, ...)
    result = grade_submission(task, bundle.unpacked(cache), scratch)

The task carries the submission's files (bytes) and names the assignment bundle
(bundle.py: the course template, with the reference, the release notebooks, the manifest
and cell times), which the worker has unpacked; it copies that into its own scratch
folder, writes the submission into submitted/<student>/<id>/, runs the hidden checks once
outside any kernel (hidden.py), then `nbgrader autograde` with kernels confined to the
submission (kernel.py), each cell and notebook within its time limits (execute.py,
time_limits.py), and `nbgrader generate_feedback` (both in one nbgrader process, each step
with a last-resort wall-clock limit: course.GradingSteps), and returns a GradingResult:
the score of every graded cell, a status (saying what a limit stopped, and why), the
feedback and autograded files as bytes, and where its time went. It reads nothing of the
course checkout, writes nothing outside its scratch folder and never raises for a bad
submission, so any executor (local processes, a Dask cluster: executors.py) can run it;
the caller records the results.
"""
from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook

from ..manifest import Manifest
from .bundle import bundled_manifest
from .course import GRADEBOOK_FILE, GradingSteps, NbgraderError, last_error, nbgrader_env
from .deadlines import Lateness
from .execute import ExecuteWithinLimits
from .execution_log import read_seconds, status_notes
from .flags import flag_grader_access
from .hidden import HiddenChecks, HiddenChecksFailed, assemble_checked_folder, checks_budget
from .kernel import kernel_for_submission
from .metadata import recover_metadata
from .preprocessors import withhold_points
from .submissions import Entry, HandedIn, SubmissionError
from .time_limits import CELL_FLOOR, CellTimes, backstop, cell_times_path

OK = "ok"
FAILED = "failed"
_MESSAGE_LENGTH = 200
NBGRADER_TIME = "%Y-%m-%d %H:%M:%S.%f %Z"  # how nbgrader writes timestamp.txt
FEEDBACK_TIMEOUT = 300.0  # seconds for generate_feedback (renders HTML; runs no student code)
# What nbgrader itself writes next to the autograded notebooks (the submission's time).
NBGRADER_FILES = ("timestamp.txt",)
# The stages of a grading task (GradingResult.stages; execution_log adds the notebooks'
# kernel start, cells and waiting for hidden checks, which are part of AUTOGRADE, and
# HIDDEN_CHECKS runs alongside AUTOGRADE).
PREPARING, AUTOGRADE, FEEDBACK, HIDDEN_CHECKS = ("preparing", "autograde", "feedback",
                                                "hidden checks")


@dataclass(frozen=True)
class Limits:
    """The time limits a grader may set for one submission, in seconds; every other limit
    follows from these and the reference's measured cell times (time_limits.py)."""
    cell_floor: float = CELL_FLOOR  # the least time any notebook cell gets
    probe: float | None = None      # one hidden check's run of student code
                                    # (None: autograder.checks.student_process's default)


@dataclass(frozen=True)
class GradingTask:
    entry: Entry
    handed_in: HandedIn     # the submission's files (submissions.read_handed_in)
    bundle: str             # digest of the assignment bundle it is graded with (bundle.py)
    data_dir: Path          # the datasets folder the notebooks load (NNKIT_DATA_DIR)
    lateness: Lateness      # when it was handed in and due, and what lateness costs
    limits: Limits = Limits()


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
    entry_name: str                         # the download's names for it (Entry.label)
    status: str                             # "ok", "ok, but: ...", or "failed: ..."
    cells: tuple[CellResult, ...] = ()      # empty when the submission could not be graded
    timestamp: str | None = None            # as written to timestamp.txt
    # {path in autograded/<student>/<id>/: bytes}: the graded notebooks, the files the
    # manifest names and nbgrader's own (nothing else grading left in scratch)
    autograded_files: dict[str, bytes] = field(default_factory=dict)
    feedback_files: dict[str, bytes] = field(default_factory=dict)  # one HTML page per notebook
    seconds: float = 0.0
    name: str = ""                          # the LMS's display name of the student
    lateness: Lateness | None = None        # when handed in and due; what lateness costs
    grader_fault: bool = False              # failed for a reason of the grader's, not the
                                            # student's: grading it again may succeed
    stages: dict[str, float] = field(default_factory=dict)  # {stage: seconds}: where the
                                            # seconds went (PREPARING, ... below)

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


def grade_submission(task: GradingTask, bundle: Path, scratch: Path) -> GradingResult:
    """Grade one submission with the unpacked assignment bundle `bundle`, in `scratch` (its
    own folder, which must not exist yet); every problem ends up in the result's status,
    never raised."""
    started = time.perf_counter()
    entry = task.entry
    manifest = bundled_manifest(bundle, bundle_assignment(bundle))
    assignment = manifest.id
    # Things the instructor should know, even when all went well.
    notes = [*entry.notes, *filter(None, [task.lateness.note])]

    def failed(reason: str, **details) -> GradingResult:
        return GradingResult(entry.student_id, entry.label, _status(notes, reason),
                             seconds=time.perf_counter() - started, name=entry.name,
                             lateness=task.lateness, **details)

    course = scratch / "course"
    shutil.copytree(bundle, course)
    submitted = course / "submitted" / entry.student_id / assignment
    try:
        unpacked = task.handed_in.write(submitted)
    except SubmissionError as error:
        return failed(str(error))
    notes += unpacked.notes
    if not any(path.endswith(".ipynb") for path in unpacked.present):
        return failed("none of the assignment's notebooks is in it (expected "
                      f"{', '.join(manifest.notebooks)})")
    if unpacked.missing:
        notes.append(f"missing {', '.join(unpacked.missing)}")
    release = bundle / "release" / assignment
    notes += filter(None, (recover_metadata(submitted / name, release / name)
                           for name in manifest.notebooks if (submitted / name).is_file()))
    timestamp = None  # unknown: nbgrader's gradebook gets no time either
    if task.lateness.submitted_at is not None:
        timestamp = task.lateness.submitted_at.strftime(NBGRADER_TIME)
        (submitted / "timestamp.txt").write_text(timestamp + "\n", encoding="utf-8")

    reference = bundle / "source" / assignment
    checked = assemble_checked_folder(submitted, reference, manifest, scratch / "checked")
    flags = flag_grader_access(checked, manifest, bundle)
    notes += [f"flagged: {module} {why}" for module, why in flags.items()]
    (scratch / "verdicts").mkdir()
    verdicts_file = scratch / "verdicts" / "verdicts.json"
    checks = HiddenChecks(checked, verdicts_file, task.data_dir, reference, task.limits.probe,
                          flags)
    autograded = course / "autograded" / entry.student_id / assignment
    execution_log = scratch / "execution_log.json"
    stages = {PREPARING: time.perf_counter() - started}
    with tempfile.TemporaryDirectory(prefix="nnkit-kernel-") as runtime, \
            _grading_steps(task, manifest, course, scratch, Path(runtime), autograded,
                           verdicts_file, execution_log) as steps:
        try:
            autograde_started = time.perf_counter()
            finished = steps.autograde(_backstop(task, manifest))
            stages[AUTOGRADE] = time.perf_counter() - autograde_started
            problem = (None if finished.returncode == 0 and autograded.is_dir()
                       else f"nbgrader autograde: {last_error(finished.log)}")
        except NbgraderError as error:
            problem = str(error)
        try:
            verdicts = checks.result()  # waited for even after a failure: it writes to scratch
        except HiddenChecksFailed as error:
            return failed(str(error), timestamp=timestamp, grader_fault=True)
        if problem is not None:
            return failed(problem, timestamp=timestamp)
        # Again, from the verdicts in memory: without a sandbox the student's code could
        # have rewritten the verdicts file that nbgrader's RequireHiddenVerdicts step read.
        withhold_points(f"sqlite:///{course / GRADEBOOK_FILE}", assignment, entry.student_id,
                        graded_test_cells(course / "source" / assignment, manifest), verdicts)
        cells = read_cell_results(f"sqlite:///{course / GRADEBOOK_FILE}", manifest,
                                  entry.student_id, autograded, verdicts)
        notes += status_notes(execution_log)
        if checks.not_run:
            notes.append(f"not run: {len(checks.not_run)} hidden check(s) "
                         f"({', '.join(checks.not_run)}): the hidden checks' time budget of "
                         f"{checks_budget(manifest, task.limits.probe):.0f} s ran out")
        try:
            feedback_started = time.perf_counter()
            finished = steps.feedback(FEEDBACK_TIMEOUT)
            stages[FEEDBACK] = time.perf_counter() - feedback_started
            if finished.returncode != 0:
                notes.append(f"no feedback: {last_error(finished.log)}")
        except NbgraderError as error:
            notes.append(f"no feedback: {error}")
    stages.update(read_seconds(execution_log), **{HIDDEN_CHECKS: checks.seconds})
    feedback = course / "feedback" / entry.student_id / assignment
    return GradingResult(entry.student_id, entry.label, _status(notes), tuple(cells), timestamp,
                         graded_files(autograded, manifest),
                         {page.name: page.read_bytes() for page in sorted(feedback.glob("*.html"))},
                         time.perf_counter() - started, entry.name, task.lateness, stages=stages)


def graded_files(autograded: Path, manifest: Manifest) -> dict[str, bytes]:
    """The autograded folder's files that go to OUT: the notebooks, the files the manifest
    names and nbgrader's own."""
    names = (*manifest.notebooks, *manifest.student_modules, *manifest.artifacts, *NBGRADER_FILES)
    return {name: (autograded / name).read_bytes() for name in names
            if (autograded / name).is_file()}


def bundle_assignment(bundle: Path) -> str:
    """The id of the one assignment an unpacked bundle holds."""
    return next((bundle / "assignments").iterdir()).name


def _backstop(task: GradingTask, manifest: Manifest) -> float:
    """Seconds autograde may take in all before it is stopped: computed from the limits
    that should stop it first (time_limits.backstop)."""
    max_restarts = ExecuteWithinLimits.class_traits()["max_restarts"].default_value
    return backstop(CellTimes.load(cell_times_path(manifest)), list(manifest.notebooks),
                    checks_budget(manifest, task.limits.probe), max_restarts, task.limits.cell_floor)


def _grading_steps(task: GradingTask, manifest: Manifest, course: Path, scratch: Path,
                   runtime: Path, autograded: Path, verdicts_file: Path,
                   execution_log: Path) -> GradingSteps:
    """The nbgrader process for this submission (course.GradingSteps), its kernel confined
    to the submission, its notebooks within their limits (recorded in execution_log)."""
    kernel = kernel_for_submission(scratch, runtime, autograded, task.data_dir, verdicts_file)
    options = [*kernel.nbgrader_args, f"--ExecuteWithinLimits.log_file={execution_log}",
               f"--ExecuteWithinLimits.cell_floor={task.limits.cell_floor}",
               f"--ExecuteWithinLimits.verdict_wait={checks_budget(manifest, task.limits.probe)}"]
    return GradingSteps(manifest.id, options, course, nbgrader_env(kernel.env),
                        scratch / "nbgrader.log")


def _status(notes: list[str], failure: str | None = None) -> str:
    """"ok", "ok, but: <notes>" or "failed: <why>; <notes>"."""
    if failure is not None:
        return "; ".join([f"{FAILED}: {failure}", *notes])
    return OK if not notes else f"{OK}, but: " + "; ".join(notes)


def read_cell_results(db_url: str, manifest: Manifest, student_id: str,
                      autograded: Path, verdicts: dict) -> list[CellResult]:
    """The grade of every graded cell of a submission, from its gradebook, with the reason
    for each lost point: the hidden check's message, else the error the cell showed in the
    autograded notebook. In the manifest's notebook order, and cell order within a notebook."""
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
                    message = ("no answer" if kind == "answer" else
                               _verdict_message(verdicts.get(grade.name))
                               or messages.get(grade.name, ""))
                else:
                    message = ""
                results.append(CellResult(notebook.name, grade.name, kind, grade.auto_score,
                                          float(grade.max_score), message))
    return results


def graded_test_cells(source: Path, manifest: Manifest) -> dict[str, list[str]]:
    """{notebook id: [grade_id of each test cell]} of the instructor's notebooks."""
    cells = {}
    for name in manifest.notebooks:
        notebook = nbformat.read(source / name, as_version=4)
        cells[Path(name).stem] = [cell.metadata.nbgrader["grade_id"] for cell in notebook.cells
                                  if utils.is_grade(cell) and not utils.is_solution(cell)]
    return cells


def _verdict_message(verdict: dict | None) -> str:
    if not verdict or verdict["status"] == "passed":
        return ""
    message = verdict["message"].removeprefix("- ")
    if verdict.get("unanswered"):  # "not answered: set inline_q1_answer in ..."
        return _shorten(message)
    kind = "hidden check failed" if verdict["status"] == "failed" else "hidden check could not run"
    return _shorten(f"{kind}: {message}")


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


def unexpected_failure(task: GradingTask, error: BaseException) -> GradingResult:
    """The result for a task that crashed (a bug, or a worker process that died), so one
    submission never stops a batch. In the process that raised it, the status also says
    where in the grader it happened, for whoever maintains it."""
    return grader_failure(task, f"grading crashed ({type(error).__name__}: {error}"
                                f"{_where_in_grader(error)})")


def _where_in_grader(error: BaseException) -> str:
    """", in flag_grader_access (autograder/grading/flags.py, line 40)": the innermost frame
    of the grader's own code in the error's traceback, or "" when it holds none. (An error
    that travelled from a worker process carries only this process's frames: the line
    where the coordinator received it.)"""
    package = Path(__file__).resolve().parents[1]
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if Path(frame.filename).resolve().is_relative_to(package)]
    if not frames:
        return ""
    place = Path(frames[-1].filename).resolve().relative_to(package.parent).as_posix()
    return f", in {frames[-1].name} ({place}, line {frames[-1].lineno})"


def grader_failure(task: GradingTask, reason: str) -> GradingResult:
    """The result for a task that could not be graded for a reason of the grader's."""
    status = _status([*task.entry.notes, *filter(None, [task.lateness.note])], reason)
    return GradingResult(task.entry.student_id, task.entry.label, status,
                         name=task.entry.name, lateness=task.lateness, grader_fault=True)

