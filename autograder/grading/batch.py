"""`autograder grade <id>`: grade every submission of an LMS download and record the results.

    graded = grade_folder(course_root, manifest, Path("downloads"), Path("out"), workers=2,
                          intake=IntakeOptions(lms="canvas", times=Path("times.csv")))
    graded.results, graded.paths.grades_csv, graded.max_score

1. read the download (a folder, or a bulk zip unpacked into scratch) to one entry per
   student (intake/), and work out each one's lateness (deadlines.py);
2. build the assignment bundle (the scratch course template every task is graded in:
   bundle.py) and register the assignment in the gradebook
   (OUT/gradebook.db, or the PostgreSQL database of --db, which OUT then records);
3. run one GradingTask per entry not graded yet (progress.py), each carrying its
   submission's files and naming the assignment bundle (bundle.py), in `workers` local
   processes or on a Dask cluster (executors.py), saying the pace as results arrive;
4. in this process, serially, as results arrive: record each in the gradebook and the CSV
   files, copy its feedback and autograded files, and then record it as graded; at the end
   rewrite the CSV files from every entry's result and write the report.

The download is only read; all scratch work happens in a temporary folder.
"""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
import zoneinfo
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from .. import sandbox
from ..checks.student_process import AFTER_A_TIMEOUT, MEMORY_BYTES as PROBE_MEMORY_BYTES
from ..checks.student_process import probe_timeout
from ..manifest import Manifest
from . import time_limits
from .bundle import build_bundle
from .class_grades import read_class_grades
from .course import GRADEBOOK_FILE, data_folder, register_assignment
from .data_cache import DataCacheError, ensure_data_cache
from .deadlines import Lateness, TimesFileError, assess, read_student_times
from .executors import DaskExecutor, LocalExecutor
from .gradebook import GradebookDatabase, open_gradebook
from .graded_course import make_course_root
from .hidden import checks_budget
from .intake import IntakeError, compile_name_pattern, open_download, read_download
from .interruption import Interruptions
from .kernel import KERNEL_MEMORY_BYTES
from .output_cap import CELL_LIMIT, NOTEBOOK_LIMIT
from .pace import Pace
from .progress import Progress, Regrade, entry_key, grader_digest, submitted_students
from .records import OutputPaths, copy_student_files, record_in_gradebook, write_csvs
from .report import save_isolation, write_report
from .submissions import Entry, read_handed_in
from .task import GradingResult, GradingTask, Limits
from .time_limits import cell_times_path

# The stage of GradingResult.stages this process adds: recording a result in OUT.
RECORDS = "records"
# The columns of --times and --extensions files (--times also reads Moodle's worksheet).
TIME_COLUMNS = ("submitted_at", "Last modified (submission)")
DUE_COLUMNS = ("due",)


class GradingInputError(ValueError):
    """The command's inputs are unusable; the message is one sentence saying why."""


@dataclass(frozen=True)
class IntakeOptions:
    """How to read the download and the students' deadlines."""
    lms: str | None = None           # a layout of intake.LAYOUTS; None: detect it
    name_pattern: str | None = None  # instead of a layout: how names carry ids and times
    times: Path | None = None        # CSV of hand-in times: student_id, submitted_at
    extensions: Path | None = None   # CSV of students' own due dates: student_id, due
    timezone: str | None = None      # IANA zone of times written without one (default:
                                     # the manifest due date's)


@dataclass(frozen=True)
class Graded:
    results: list[GradingResult]  # one per entry of the download, in entry order
    paths: OutputPaths
    max_score: float              # autograded points of the assignment


def validate_inputs(submissions: Path, out: Path, data_dir: Path, data_folders: tuple[str, ...] = (),
                    intake: IntakeOptions = IntakeOptions(), cell_times: Path | None = None) -> None:
    """Raise GradingInputError naming the first problem with the command's inputs."""
    if intake.name_pattern is not None:
        try:
            compile_name_pattern(intake.name_pattern)
        except IntakeError as error:
            raise GradingInputError(str(error)) from None
    if not submissions.exists():
        raise GradingInputError(f"the submissions folder {submissions} does not exist")
    if not (submissions.is_dir() or submissions.suffix.lower() == ".zip"):
        raise GradingInputError(f"{submissions} is not a folder or .zip file: --submissions "
                                "takes the LMS's download, unpacked or as it came")
    submissions, out = submissions.resolve(), out.resolve()
    if out == submissions or submissions in out.parents:
        raise GradingInputError(f"the output folder {out} is inside the submissions folder "
                                f"{submissions}, which is never written to; choose another --out")
    for folder in data_folders:  # what the notebooks load: without it every test fails
        if not (data_dir / folder).is_dir():
            raise GradingInputError(f"no {folder} in {data_dir}, so every notebook would fail "
                                    "to load its data; run `make data` or set NNKIT_DATA_DIR")
    if cell_times is not None and not cell_times.is_file():
        raise GradingInputError(f"{cell_times} not found: the cells' time limits follow the "
                                "reference's measured times; run `autograder release "
                                f"{cell_times.parent.name}`, which measures them")


def grade_folder(course_root: Path, manifest: Manifest, submissions: Path, out: Path,
                 workers: int = 1, limits: Limits = Limits(),
                 intake: IntakeOptions = IntakeOptions(), only: list[str] | None = None,
                 database: GradebookDatabase | None = None,
                 regrade_all: bool = False, interruptions: Interruptions | None = None,
                 cluster: str | None = None, say=print) -> Graded:
    """Grade every submission of the download `submissions` (a folder or a bulk zip) into
    `out`; `intake` says how to read it and its deadlines. Entries graded into `out` before
    and unchanged since are not graded again, unless regrade_all. only: grade (again) just
    these students (their ids as grading names them); everyone else's rows, files and TA
    scores in `out` stay. database: a PostgreSQL gradebook (--db); None: the one `out`
    records, else SQLite in `out`. interruptions: counts how far the run got (for its
    caller's sentence when it is interrupted). cluster: the address of a Dask scheduler
    to grade on (tcp://host:port) instead of `workers` local processes."""
    interruptions = interruptions or Interruptions()
    data_dir = data_folder(course_root)
    validate_inputs(submissions, out, data_dir, manifest.data.folders, intake, cell_times_path(manifest))
    try:
        ensure_data_cache(course_root, manifest, data_dir, say)
    except DataCacheError as error:
        raise GradingInputError(str(error)) from None
    timezone = _timezone(intake.timezone, manifest)
    try:
        times = (read_student_times(intake.times, TIME_COLUMNS, timezone, required=False)
                 if intake.times else {})
        due_dates = (read_student_times(intake.extensions, DUE_COLUMNS, timezone, required=True)
                     if intake.extensions else {})
    except TimesFileError as error:
        raise GradingInputError(str(error)) from None
    paths = OutputPaths(out.resolve())
    paths = OutputPaths(paths.root, chosen_database(paths, database))
    if not paths.database.is_sqlite:
        paths.database.holds_gradebook()  # reachable: GradebookError now, not after set-up
        _say_where_the_password_is(paths.database, say)

    isolation = sandbox.status()
    say(isolation.description if isolation.confined else
        f"WARNING: {isolation.description}. See docs/SECURITY.md.")
    in_force = limits_in_force(limits, manifest)
    for limit in in_force:
        say(f"  {limit.name}: {limit.how}" if limit.in_force else
            f"  WARNING, {limit.name} not capped: {limit.how}")
    with tempfile.TemporaryDirectory(prefix=f"autograder-grade-{manifest.id}-") as scratch:
        scratch = Path(scratch)
        try:
            download = open_download(submissions.resolve(), scratch / "download")
            read = read_download(download.folder, intake.lms, intake.name_pattern, timezone,
                                 tuple(download.skipped))
        except IntakeError as error:
            raise GradingInputError(str(error)) from None
        say(f"Reading {submissions}: {read.reason}")
        for path, listed in ((intake.times, times), (intake.extensions, due_dates)):
            _check_listed_students(path, listed, read.entries, say)
        entries = read.entries if only is None else chosen_entries(read.entries, only, submissions)
        say(f"Late policy ({manifest.path.name}): {manifest.late_policy.describe()}")
        paths.root.mkdir(parents=True, exist_ok=True)
        save_isolation(paths, isolation, in_force)
        say(f"Preparing a scratch course for {manifest.id} and registering it in "
            f"{paths.database} ...")
        bundle = build_bundle(course_root, manifest, scratch / "template")
        template = scratch / "template"
        if paths.database.is_sqlite and not paths.gradebook.exists():
            # A new gradebook is the template's, which has the assignment registered.
            shutil.copy2(template / GRADEBOOK_FILE, paths.gradebook)
        else:  # a regrade, or a database: nbgrader checks the assignment (still) fits
            register_assignment(template, manifest.id, str(paths.database),
                                env=paths.database.environment())
        # Now, not at the end: TAs can start formgrader on OUT while the batch runs.
        make_course_root(paths, manifest.id, paths.database)
        max_score = autograded_max_score(paths.db_url, manifest.id)
        lateness = {entry.student_id: lateness_of(entry, manifest, times, due_dates)
                    for entry in entries}
        grader = grader_digest(course_root, manifest, limits)
        keys = {entry.student_id: entry_key(entry, lateness[entry.student_id], grader)
                for entry in entries}
        progress = Progress(paths.progress, Regrade.asked(regrade_all, only))
        plan = progress.plan(entries, keys, submitted_students(paths.db_url, manifest.id))
        interruptions.planned(len(entries), len(plan.done))
        for line in plan.describe():
            say(line)
        # Made as the executor asks for them: each holds its submission's files.
        tasks = (GradingTask(entry, read_handed_in(entry, manifest), bundle.digest, data_dir,
                             lateness[entry.student_id], limits) for entry in plan.to_grade)
        executor = (DaskExecutor(cluster, say) if cluster is not None
                    else LocalExecutor(workers, scratch, say))
        say(f"Grading {len(plan.to_grade)} submission(s) from {submissions} with "
            f"{executor.describe()} ...")
        results, pace = dict(plan.done), Pace(len(plan.to_grade))
        with closing(executor.results(tasks, bundle)) as finished:
            for result in finished:
                # Recorded in full as each task returns (its scratch files are still there),
                # by this one process: no two writers ever touch the gradebook or the output
                # files. Its progress record comes last: a run that is interrupted (even
                # killed) keeps everything graded so far, and the next one grades the rest.
                with interruptions.recording():
                    recording_started = time.perf_counter()
                    record_in_gradebook(paths.db_url, manifest.id, [result])
                    copy_student_files(paths, manifest, result)
                    write_csvs(paths, [result], max_score)
                    progress.save(result, keys[result.student_id])
                    results[result.student_id] = replace(result, stages={
                        **result.stages, RECORDS: time.perf_counter() - recording_started})
                    say(f"  {result.student_id}: {_points(result.score)} points in "
                        f"{result.seconds:.0f} s ({result.status}) {pace.one_more()}")
        # Rewritten from every entry's recorded result: the files of a run that was
        # interrupted and continued are those of a run that was not.
        write_csvs(paths, list(results.values()), max_score)
        faults = sum(result.grader_fault for result in results.values())
        if faults:
            say(f"{faults} submission(s) could not be graded for a reason of the grader's (see "
                "their status); running the same command again grades them again.")

    write_report(paths, read_class_grades(paths, manifest.id), f"autograder grade {manifest.id}",
                 manifest.title)
    progress.finished()
    return Graded([results[entry.student_id] for entry in entries], paths, max_score)


def chosen_database(paths: OutputPaths, requested: GradebookDatabase | None) -> GradebookDatabase:
    """The gradebook to grade into: --db, else the one OUT records, else OUT/gradebook.db.
    GradingInputError when OUT already keeps its grades elsewhere than --db: grading on would
    split them."""
    current = paths.recorded_database or (GradebookDatabase.sqlite(paths.gradebook)
                                          if paths.gradebook.exists() else None)
    if requested is None:
        return current or GradebookDatabase.sqlite(paths.gradebook)
    if current is not None and str(current) != str(requested):
        raise GradingInputError(
            f"{paths.root} keeps its grades in {current}, so grading it into --db {requested} "
            "would split them: leave --db out, or grade into a new --out (if the database "
            f"moved, edit c.CourseDirectory.db_url in {paths.nbgrader_config})")
    return requested


def _say_where_the_password_is(database: GradebookDatabase, say) -> None:
    if database.password:
        say(f"The password in --db serves this run only: {database} is recorded without it, "
            "so formgrader and the TA commands take it from PGPASSWORD, ~/.pgpass or a "
            "service file.")


def chosen_entries(entries: list[Entry], only: list[str], submissions: Path) -> list[Entry]:
    """The entries of the students in `only`; GradingInputError naming any id not found."""
    by_id = {entry.student_id: entry for entry in entries}
    unknown = [student_id for student_id in only if student_id not in by_id]
    if unknown:
        known = sorted(by_id)
        raise GradingInputError(
            f"--only names {', '.join(map(repr, unknown))}, not a student of {submissions} "
            f"(its students: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''})")
    return [by_id[student_id] for student_id in dict.fromkeys(only)]


def lateness_of(entry: Entry, manifest: Manifest, times: dict[str, dt.datetime],
                due_dates: dict[str, dt.datetime]) -> Lateness:
    """The entry's lateness: its time from --times, else the LMS's; its due date from
    --extensions, else the manifest's."""
    extended = entry.student_id in due_dates
    return assess(times.get(entry.student_id, entry.submitted),
                  due_dates.get(entry.student_id, manifest.due), manifest.late_policy,
                  extended_from=manifest.due if extended else None,
                  marked_late_by=None if entry.student_id in times else entry.marked_late_by)


def _timezone(name: str | None, manifest: Manifest) -> dt.tzinfo:
    if name is None:
        return manifest.due.tzinfo
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise GradingInputError(f"--timezone {name!r} is not a time zone name such as "
                                "Europe/Berlin or America/New_York") from None


def _check_listed_students(path: Path | None, listed: dict, entries: list[Entry], say) -> None:
    """A file that names none of the download's students names them differently (e.g.
    logins instead of the LMS's ids): an error. Some unknown ones: said, as a student with
    an extension may not have handed in."""
    unknown = sorted(set(listed) - {entry.student_id for entry in entries})
    if not unknown:
        return
    examples = ", ".join(unknown[:3])
    if len(unknown) == len(listed):
        raise GradingInputError(
            f"none of the {len(listed)} students in {path} is in the download (e.g. {examples}); "
            f"the download's ids look like {', '.join(entry.student_id for entry in entries[:3])}")
    say(f"Note: {len(unknown)} student(s) in {path} have no submission in the download: "
        f"{examples}" + (" ..." if len(unknown) > 3 else ""))


def limits_in_force(limits: Limits, manifest: Manifest) -> list[sandbox.Limit]:
    """Every limit on student code, and whether it is in force on this machine."""
    probe = limits.probe or probe_timeout()
    return [
        sandbox.Limit("time", True, f"{time_limits.describe(limits.cell_floor)}; each hidden "
                      f"check's student code {probe:g} s ({probe * AFTER_A_TIMEOUT:g} s after one "
                      f"timed out), all of them {checks_budget(manifest, limits.probe):.0f} s"),
        sandbox.Limit("output", True, f"{CELL_LIMIT:,} characters per cell and "
                      f"{NOTEBOOK_LIMIT:,} per notebook, cut as the grader receives them"),
        sandbox.Limit("memory", True, f"address space of each process: {KERNEL_MEMORY_BYTES // 2**30} "
                      f"GiB in a notebook kernel, {PROBE_MEMORY_BYTES // 2**30} GiB for the hidden "
                      "checks' student code (RLIMIT_AS, set before student code starts)"),
        *sandbox.limits(),
    ]


def autograded_max_score(db_url: str, assignment: str) -> float:
    """The points of the assignment's test cells (graded cells that are not answers)."""
    with open_gradebook(db_url) as gradebook:
        total = 0.0
        for notebook in gradebook.find_assignment(assignment).notebooks:
            answers = {cell.name for cell in notebook.solution_cells}
            total += sum(cell.max_score for cell in notebook.grade_cells
                         if cell.name not in answers)
    return total


def _points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
