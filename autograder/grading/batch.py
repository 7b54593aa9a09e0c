"""`autograder grade <id>`: grade every entry of a submissions folder and record the results.

    graded = grade_folder(course_root, manifest, Path("downloads"), Path("out"), workers=2)
    graded.results, graded.paths.grades_csv, graded.max_score

1. find the entries (one zip or folder per student) of the submissions folder;
2. build one scratch course template and register the assignment in OUT/gradebook.db;
3. run one GradingTask per entry, in `workers` local processes;
4. in this process, serially, as results arrive: record each in the gradebook and the CSV
   files and copy its feedback and autograded files; at the end write the report.

The submissions folder is only read; all scratch work happens in a temporary folder.
"""
from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook

from .. import sandbox
from ..checks.student_process import AFTER_A_TIMEOUT, MEMORY_BYTES as PROBE_MEMORY_BYTES
from ..checks.student_process import probe_timeout
from ..manifest import Manifest
from . import time_limits
from .course import GRADEBOOK_FILE, data_folder, make_course_template, register_assignment
from .hidden import checks_budget
from .kernel import KERNEL_MEMORY_BYTES
from .output_cap import CELL_LIMIT, NOTEBOOK_LIMIT
from .records import OutputPaths, copy_student_files, record_in_gradebook, write_csvs
from .report import write_report
from .submissions import compile_name_pattern, find_entries
from .task import GradingResult, GradingTask, Limits, grade_submission, unexpected_failure
from .time_limits import cell_times_path

DATA_MARKER = "cifar-10-batches-py"  # what the notebooks load; its absence fails every test


class GradingInputError(ValueError):
    """The command's inputs are unusable; the message is one sentence saying why."""


@dataclass(frozen=True)
class Graded:
    results: list[GradingResult]  # one per entry of the submissions folder, in entry order
    paths: OutputPaths
    max_score: float              # autograded points of the assignment


def validate_inputs(submissions: Path, out: Path, data_dir: Path,
                    name_pattern: str | None = None, cell_times: Path | None = None) -> None:
    """Raise GradingInputError naming the first problem with the command's inputs."""
    if name_pattern is not None:
        try:
            compile_name_pattern(name_pattern)
        except ValueError as error:
            raise GradingInputError(str(error)) from None
    if not submissions.exists():
        raise GradingInputError(f"the submissions folder {submissions} does not exist")
    if not submissions.is_dir():
        raise GradingInputError(f"{submissions} is not a folder: --submissions takes the folder "
                                "holding one zip or folder per student")
    submissions, out = submissions.resolve(), out.resolve()
    if out == submissions or submissions in out.parents:
        raise GradingInputError(f"the output folder {out} is inside the submissions folder "
                                f"{submissions}, which is never written to; choose another --out")
    if not find_entries(submissions):
        raise GradingInputError(f"{submissions} holds no submissions (expected one .zip file or "
                                "folder per student)")
    if not (data_dir / DATA_MARKER).is_dir():
        raise GradingInputError(f"no {DATA_MARKER} in {data_dir}, so every notebook would fail "
                                "to load its data; run `make data` or set NNKIT_DATA_DIR")
    if cell_times is not None and not cell_times.is_file():
        raise GradingInputError(f"{cell_times} not found: the cells' time limits follow the "
                                "reference's measured times; run `autograder release "
                                f"{cell_times.parent.name}`, which measures them")


def grade_folder(course_root: Path, manifest: Manifest, submissions: Path, out: Path,
                 workers: int = 1, limits: Limits = Limits(), name_pattern: str | None = None,
                 say=print) -> Graded:
    """Grade every entry of `submissions` into `out`. name_pattern: how entry names carry
    the student id and time (see submissions.py)."""
    data_dir = data_folder(course_root)
    validate_inputs(submissions, out, data_dir, name_pattern, cell_times_path(manifest))
    entries = find_entries(submissions.resolve(), name_pattern)
    paths = OutputPaths(out.resolve())
    paths.root.mkdir(parents=True, exist_ok=True)

    isolation = sandbox.status()
    say(isolation.description if isolation.confined else
        f"WARNING: {isolation.description}. See docs/SECURITY.md.")
    in_force = limits_in_force(limits)
    for limit in in_force:
        say(f"  {limit.name}: {limit.how}" if limit.in_force else
            f"  WARNING, {limit.name} not capped: {limit.how}")
    with tempfile.TemporaryDirectory(prefix=f"autograder-grade-{manifest.id}-") as scratch:
        scratch = Path(scratch)
        say(f"Preparing a scratch course for {manifest.id} and registering it in "
            f"{paths.gradebook} ...")
        template = make_course_template(course_root, manifest, scratch / "template")
        if paths.gradebook.exists():  # a regrade: nbgrader checks the assignment still fits
            register_assignment(template, manifest.id, paths.db_url)
        else:  # a new gradebook is the template's, which has the assignment registered
            shutil.copy2(template / GRADEBOOK_FILE, paths.gradebook)
        max_score = autograded_max_score(paths.db_url, manifest.id)
        tasks = [GradingTask(entry, manifest, template, scratch / "tasks" / entry.student_id,
                             data_dir, course_root.resolve(), limits)
                 for entry in entries]
        say(f"Grading {len(tasks)} submission(s) from {submissions} with {workers} worker(s) ...")
        results = {}
        for result in run_tasks(tasks, workers):
            # Recorded in full as each task returns (its scratch files are still there), by
            # this one process: no two writers ever touch the gradebook or the output files,
            # and a run that is interrupted keeps everything graded so far.
            record_in_gradebook(paths.db_url, manifest.id, [result])
            copy_student_files(paths, manifest, result)
            write_csvs(paths, [result], max_score)
            shutil.rmtree(scratch / "tasks" / result.student_id, ignore_errors=True)
            results[result.student_id] = result
            say(f"  {result.student_id}: {_points(result.score)} points in {result.seconds:.0f} s"
                f" ({result.status})")

    write_report(paths, manifest, max_score, isolation, in_force)
    return Graded([results[entry.student_id] for entry in entries], paths, max_score)


def limits_in_force(limits: Limits) -> list[sandbox.Limit]:
    """Every limit on student code, and whether it is in force on this machine."""
    probe = limits.probe or probe_timeout()
    return [
        sandbox.Limit("time", True, f"{time_limits.describe(limits.cell_floor)}; each hidden "
                      f"check's student code {probe:g} s ({probe * AFTER_A_TIMEOUT:g} s after one "
                      f"timed out), all of them {checks_budget(limits.probe):.0f} s"),
        sandbox.Limit("output", True, f"{CELL_LIMIT:,} characters per cell and "
                      f"{NOTEBOOK_LIMIT:,} per notebook, cut as the grader receives them"),
        sandbox.Limit("memory", True, f"address space of each process: {KERNEL_MEMORY_BYTES // 2**30} "
                      f"GiB in a notebook kernel, {PROBE_MEMORY_BYTES // 2**30} GiB for the hidden "
                      "checks' student code (RLIMIT_AS, set before student code starts)"),
        *sandbox.limits(),
    ]


def run_tasks(tasks: list[GradingTask], workers: int):
    """Yield the result of every task as it finishes; a task that crashes yields a failed
    result instead of stopping the batch."""
    if workers <= 1:
        for task in tasks:
            yield _grade_safely(task)
        return
    # "spawn": each worker starts from a fresh interpreter, as a cluster node would, so the
    # tasks can rely on nothing but what they carry.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(grade_submission, task): task for task in tasks}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # a bug, or a worker killed (e.g. out of memory)
                yield unexpected_failure(futures[future], error)


def _grade_safely(task: GradingTask) -> GradingResult:
    try:
        return grade_submission(task)
    except Exception as error:
        return unexpected_failure(task, error)


def autograded_max_score(db_url: str, assignment: str) -> float:
    """The points of the assignment's test cells (graded cells that are not answers)."""
    with Gradebook(db_url) as gradebook:
        total = 0.0
        for notebook in gradebook.find_assignment(assignment).notebooks:
            answers = {cell.name for cell in notebook.solution_cells}
            total += sum(cell.max_score for cell in notebook.grade_cells
                         if cell.name not in answers)
    return total


def _points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
