"""The `autograder` command: one subcommand per job of the course pipeline."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .grading.answers import AnswersError, import_scores, write_answers_page
from .grading.batch import GradingInputError, IntakeOptions, grade_folder
from .grading.check import check_grading
from .grading.class_grades import ClassGradesError, gradebook_assignment, read_class_grades
from .grading.course import NbgraderError
from .grading.export import export_grades
from .grading.feedback import regenerate_feedback
from .grading.formgrader import DEFAULT_PORT, LOCAL_ONLY, FormgraderServer, serve
from .grading.gradebook import GradebookDatabase, GradebookError
from .grading.intake import LAYOUTS
from .grading.interruption import GradingInterrupted, Interruptions
from .grading.records import OutputPaths
from .grading.report import summary_table, write_report
from .grading.samples import SampleError, build_samples, write_zip
from .grading.task import Limits
from .manifest import ManifestError, load_manifest, manifest_path
from .release import release
from .release.build import BuildError
from .release.handout import HandoutError
from .release.strip import StripError

GRADE_EPILOG = """\
downloads read as the LMS writes them (--lms, or detected):
  canvas      doejane[_LATE]_123456_7890123_hw1_submission.zip, loose files too; the id
              is the Canvas user id; no hand-in time, only LATE
  moodle      Jane Doe_12345_assignsubmission_file_/ (the zip or loose files inside); the id
              is the participant id; times from its grading worksheet via --times
  gradescope  submission_metadata.yml and a folder per submission; the id is the sid (else
              the email); times from the metadata
  blackboard  Assignment_jdoe_attempt_2026-12-18-23-10-05_hw1_submission.zip and the
              attempt's .txt receipt; the id is the username; times from the receipt
  plain       one zip or folder per student, named by the student id; no times

hand-in times come from the LMS or --times, never from file modification times; without
one a submission is not marked late, and Canvas's LATE without one costs one period's
penalty. The due date is the manifest's or the student's --extensions one; the manifest's
[late_policy] sets grace, penalty and cut-off.
grades.csv: student_id, name, score, max_score, submitted_at, due, late, late_hours,
late_penalty (share of the points taken away), status.
"""

# Artifacts of the reference solution (a trained model) are kept here between runs (out/ is
# the repository's ignored scratch folder).
DEFAULT_CACHE = Path("out") / "cache"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    release_parser = commands.add_parser(
        "release", help="build the student release release/<id> from source/<id>",
        description="Build release/<id> from source/<id> with nbgrader, strip the solutions "
                    "from the modules, add the handout and data script, and verify that no "
                    "solution text is left and every module imports.")
    release_parser.add_argument("assignment", help="assignment id, e.g. hw1")
    release_parser.add_argument(
        "--check", action="store_true",
        help="build into a temporary folder and fail if release/<id> differs (writes nothing)")
    _add_root_option(release_parser)

    grade_parser = commands.add_parser(
        "grade", help="autograde an LMS download of submissions: grades, feedback, report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Autograde every submission of an LMS download with nbgrader, each in its "
                    "own scratch course folder, and write the gradebook (OUT/gradebook.db, "
                    "or a PostgreSQL database: --db), OUT/grades.csv, "
                    "OUT/scores.csv, OUT/feedback/, OUT/autograded/ and OUT/report.md. The "
                    "download is never modified; grading into the same OUT again updates each "
                    "student's rows. Interrupted (Ctrl-C), the same command run again grades "
                    "only what is not graded yet.",
        epilog=GRADE_EPILOG)
    grade_parser.add_argument("assignment", help="assignment id, e.g. hw1")
    grade_parser.add_argument(
        "--submissions", type=Path, required=True, metavar="DOWNLOAD",
        help="the LMS's bulk download: its folder, or the zip as downloaded")
    grade_parser.add_argument("--out", type=Path, required=True, metavar="OUT",
                              help="output folder (created; outside DOWNLOAD)")
    _add_workers_option(grade_parser)
    grade_parser.add_argument(
        "--cluster", metavar="ADDRESS", default=None,
        help="grade on the workers of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786, "
             "instead of local processes (--workers is then ignored); each worker needs the "
             "kit installed with the same pinned versions, bubblewrap and the datasets "
             "(README: Grading on a Dask cluster)")
    _add_root_option(grade_parser)
    grade_parser.add_argument(
        "--cell-timeout", type=_positive_float, default=Limits.cell_floor, metavar="SECONDS",
        help="the least time a notebook cell gets: each cell may take 10x what the reference "
             "solution needed for it (measured by `autograder release`), and at least this; a "
             "cell that takes longer is interrupted and fails, and the notebooks' time budgets "
             "follow (default: %(default)g)")
    grade_parser.add_argument(
        "--check-timeout", type=_positive_float, default=None, metavar="SECONDS",
        help="limit for the student code one hidden check runs (default: 20)")
    layout = grade_parser.add_mutually_exclusive_group()
    layout.add_argument(
        "--lms", choices=list(LAYOUTS), default=None,
        help="the download's layout (default: detected, and the grader says which and why)")
    layout.add_argument(
        "--name-pattern", metavar="REGEX", default=None,
        help="for any other naming: a regular expression for the names of the download's "
             "items, with a (?P<student_id>...) group and optionally (?P<timestamp>...), "
             "(?P<name>...) and (?P<filename>...), e.g. "
             "'(?P<student_id>[^_]+)_\\d+_(?P<timestamp>\\d{8}T\\d{6})_.*'; of several "
             "submissions of one student the newest is graded")
    grade_parser.add_argument(
        "--only", nargs="+", metavar="ID", default=None,
        help="grade only these students (ids as in grades.csv) into an existing OUT; every "
             "other student's rows and files, and every TA score and comment, stay")
    grade_parser.add_argument(
        "--regrade-all", action="store_true",
        help="grade every submission again (default: a submission graded into OUT before is "
             "skipped unless it changed since, was graded by a different grader, or failed "
             "for a reason of the grader's)")
    grade_parser.add_argument(
        "--times", type=Path, default=None, metavar="CSV",
        help="hand-in times (columns student_id, submitted_at; or Moodle's grading worksheet "
             "as downloaded); they replace what the LMS recorded")
    grade_parser.add_argument(
        "--extensions", type=Path, default=None, metavar="CSV",
        help="students' own due dates (columns student_id, due)")
    _add_db_option(grade_parser, "keep the gradebook in this PostgreSQL database instead of "
                   "OUT/gradebook.db, so several TAs can grade in formgrader at once, also "
                   "while grading runs; OUT records it (without password) for formgrader and "
                   "the TA commands, and later runs into OUT use it without --db")
    grade_parser.add_argument(
        "--timezone", default=None, metavar="ZONE",
        help="time zone of times written without one (in --times, --extensions, Blackboard's "
             "file names), e.g. Europe/Berlin (default: the manifest due date's offset)")

    samples_parser = commands.add_parser(
        "samples", help="write sample submissions: reference, blank release, partials",
        description="Write reference.zip (every solution filled in), blank.zip (the release "
                    "as is) and one zip per partial submission (the reference with one piece "
                    "of work undone), as collect_submission.py would write them.")
    samples_parser.add_argument("assignment", help="assignment id, e.g. hw1")
    samples_parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                                help="folder for the zips (created)")
    _add_root_option(samples_parser)
    _add_cache_option(samples_parser)

    check_parser = commands.add_parser(
        "check", help="grade the sample submissions and verify every score",
        description="Grade the reference (must get every autograded point), the untouched "
                    "release (must get none) and the partial submissions (each must lose "
                    "exactly the test cells of what it leaves undone); exit non-zero saying "
                    "why when any score differs.")
    check_parser.add_argument("assignment", help="assignment id, e.g. hw1")
    check_parser.add_argument("--work", type=Path, default=None, metavar="DIR",
                              help="keep the samples and their grading here (default: a "
                                   "temporary folder, removed afterwards)")
    _add_workers_option(check_parser)
    _add_root_option(check_parser)
    _add_cache_option(check_parser)

    _add_out_commands(commands)

    args = parser.parse_args(argv)
    try:
        database = GradebookDatabase.parse(args.db) if getattr(args, "db", None) else None
        if args.command in OUT_COMMANDS:
            return OUT_COMMANDS[args.command](OutputPaths(args.out.resolve(), database), args)
        root = (args.root or _find_course_root(args.assignment)).resolve()
        if args.command == "release":
            return release(root, args.assignment, check=args.check)
        manifest = load_manifest(manifest_path(root, args.assignment))
        if args.command == "grade":
            return _grade(root, manifest, args, database)
        if args.command == "samples":
            return _samples(root, manifest, args)
        return _check(root, manifest, args)
    except (ManifestError, BuildError, StripError, HandoutError, GradingInputError,
            NbgraderError, SampleError, ClassGradesError, AnswersError, GradebookError) as error:
        print(f"autograder {args.command}: {error}", file=sys.stderr)
        return 1
    except GradingInterrupted as interrupted:
        print(interrupted, file=sys.stderr)
        return interrupted.exit_code


# --- commands on a graded output folder (OUT): TAs and the instructor after grading ---------
# They read OUT alone (its gradebook and grades.csv), not the course repository.

def _add_out_commands(commands) -> None:
    formgrader = commands.add_parser(
        "formgrader", help="open nbgrader's formgrader on OUT for TAs to grade written answers",
        description="Start a Jupyter server with nbgrader's formgrader on the graded folder "
                    "OUT (its gradebook and autograded notebooks) and print the URL for "
                    "the TAs. Scores and comments they enter are saved in the gradebook; "
                    "regrading into OUT keeps them. Stop with Ctrl-C.")
    _add_out_argument(formgrader)
    formgrader.add_argument("--port", type=_positive_int, default=DEFAULT_PORT,
                            help="port to listen on (default: %(default)s)")
    formgrader.add_argument(
        "--ip", default=LOCAL_ONLY,
        help="address to listen on (default: %(default)s, this machine only; use 0.0.0.0 "
             "for TAs on other machines of a trusted network: the URL's token is the password)")

    answers = commands.add_parser(
        "answers", help="every student's answer to one written question, on one HTML page",
        description="Write OUT/answers/<question>.html with every student's answer to one "
                    "written question, and OUT/answers/<question>.csv (student_id, question, "
                    "score, comment) to fill in and load with `autograder import-scores`.")
    _add_out_argument(answers)
    answers.add_argument("--question", required=True, metavar="ID",
                         help="the answer cell's grade id, e.g. fc_q1_explain")

    scores = commands.add_parser(
        "import-scores", help="load TA scores and comments for written answers from a CSV",
        description="Set the scores and comments of written answers in OUT's gradebook from "
                    "a CSV with columns student_id, question, score, comment. Every line is "
                    "checked first; when any is wrong, nothing is written and each problem "
                    "is listed with its line.")
    _add_out_argument(scores)
    scores.add_argument("scores_csv", type=Path, metavar="FILE", help="the CSV file")

    export = commands.add_parser(
        "export", help="final grades: a CSV, and files Canvas and Moodle import",
        description="Write OUT/final_grades.csv (every student: autograded + written points "
                    "- late penalty, or why there is no final grade yet), "
                    "OUT/canvas_import.csv (Canvas gradebook import), "
                    "OUT/moodle_grading_worksheet.csv (Moodle assignment grading worksheet), "
                    "and rewrite OUT/report.md. Students whose written answers are not all "
                    "graded are listed as incomplete and left out of the LMS files.")
    _add_out_argument(export)
    export.add_argument(
        "--canvas-column", metavar="HEADER", default=None,
        help="the assignment's column header as in your Canvas gradebook export, e.g. "
             "'Neural nets (123456)', so Canvas updates that assignment (default: the "
             "assignment id, which Canvas imports as a new assignment)")

    feedback = commands.add_parser(
        "feedback", help="regenerate feedback with the TAs' scores and comments, zip per student",
        description="Run nbgrader generate_feedback on OUT, so the pages show the scores and "
                    "comments in the gradebook now; replace OUT/feedback/<student>/<id>/ "
                    "and write OUT/handback/<student>.zip to hand back.")
    _add_out_argument(feedback)


def _add_out_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT",
                        help="the output folder of `autograder grade`")
    parser.add_argument("--assignment", default=None, metavar="ID",
                        help="the assignment, when OUT's gradebook holds several")
    _add_db_option(parser, "the PostgreSQL gradebook to use instead of the one OUT records "
                           "(default: OUT's, as `autograder grade` recorded it)")


def _add_db_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--db", metavar="URL", default=None,
        help=f"{help_text}. URL: postgresql://USER@HOST[:PORT]/DATABASE; the password comes "
             "from PGPASSWORD, ~/.pgpass or a service file (one written in the URL serves "
             "this command only)")


def _formgrader(paths: OutputPaths, args) -> int:
    server = FormgraderServer(paths, gradebook_assignment(paths, args.assignment),
                              port=args.port, ip=args.ip)
    return serve(server)


def _answers(paths: OutputPaths, args) -> int:
    page, sheet = write_answers_page(read_class_grades(paths, args.assignment), paths,
                                     args.question)
    print(f"Answers: {page}\nScores sheet to fill in: {sheet}\n"
          f"Then: autograder import-scores {paths.root} {sheet}")
    return 0


def _import_scores(paths: OutputPaths, args) -> int:
    imported = import_scores(paths, args.scores_csv, args.assignment)
    print(f"Imported {imported.scores} score(s) and {imported.comments} comment(s) from "
          f"{args.scores_csv} into {paths.database}")
    return 0


def _export(paths: OutputPaths, args) -> int:
    grades = read_class_grades(paths, args.assignment)
    exported = export_grades(grades, paths, args.canvas_column)
    write_report(paths, grades, f"autograder export {paths.root}")
    print(f"Final grades of {len(exported.final)} of {len(grades.students)} student(s), out "
          f"of {grades.max_score:g}:\n  {exported.final_csv}\n  {exported.canvas_csv} "
          f"(Canvas: Grades > Import)\n  {exported.moodle_csv} (Moodle: assignment > "
          f"Upload grading worksheet)\nReport: {paths.report}")
    for student in exported.incomplete + exported.not_graded:
        print(f"  no final grade for {student.student_id}: {student.state}")
    return 0


def _feedback(paths: OutputPaths, args) -> int:
    handed_back = regenerate_feedback(read_class_grades(paths, args.assignment), paths)
    print(f"Feedback regenerated from {paths.database}: {paths.feedback}{os.sep}<student>, "
          f"and {len(handed_back.zips)} zip(s) to hand back in {paths.handback}")
    for student_id in handed_back.without:
        print(f"  no feedback for {student_id}: the submission could not be graded")
    return 0


OUT_COMMANDS = {"formgrader": _formgrader, "answers": _answers, "import-scores": _import_scores,
                "export": _export, "feedback": _feedback}


def _add_root_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", type=Path, default=None,
        help="the course folder (default: the nearest folder upwards from here holding "
             "assignments/<id>/manifest.toml)")


def _add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache", type=Path, default=None, metavar="DIR",
        help="where artifacts of the reference solution (a trained model) are kept between "
             f"runs (default: <root>/{DEFAULT_CACHE.as_posix()})")


def _add_workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                        help="submissions graded at the same time, each in its own process "
                             "(default: %(default)s)")


def _grade(root: Path, manifest, args, database: GradebookDatabase | None) -> int:
    limits = Limits(cell_floor=args.cell_timeout, probe=args.check_timeout)
    intake = IntakeOptions(args.lms, args.name_pattern, args.times, args.extensions,
                           args.timezone)
    with Interruptions() as interruptions:
        graded = grade_folder(root, manifest, args.submissions, args.out, workers=args.workers,
                              limits=limits, intake=intake, only=args.only, database=database,
                              regrade_all=args.regrade_all, interruptions=interruptions,
                              cluster=args.cluster)
    _print_graded(graded, manifest.id)
    return 0


def _samples(root: Path, manifest, args) -> int:
    samples = build_samples(root, manifest, args.cache or root / DEFAULT_CACHE)
    print(f"Wrote {len(samples)} sample submission(s) of {manifest.id} to {args.out}:")
    for sample in samples:
        path = write_zip(sample, args.out / f"{sample.name}.zip")
        must = ("no autograded point" if sample.loses_everything else
                f"all but {', '.join(sorted(sample.loses))}" if sample.loses else
                "every autograded point")
        print(f"  {path.name:<32} must get {must}")
    return 0


def _check(root: Path, manifest, args) -> int:
    with tempfile.TemporaryDirectory(prefix=f"autograder-check-{manifest.id}-") as temporary:
        graded, problems = check_grading(root, manifest, args.work or Path(temporary),
                                         args.cache or root / DEFAULT_CACHE, args.workers)
        _print_graded(graded, manifest.id)
    if problems:
        print(f"\nCheck FAILED: {len(problems)} score(s) differ from what the samples must get:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("\nCheck passed: the reference gets every autograded point, the release none, and "
          "each partial submission loses exactly the test cells of what it leaves undone.")
    return 0


def _print_graded(graded, assignment_id: str) -> None:
    print()
    for line in summary_table(graded.results, graded.max_score):
        print(line)
    print(f"\nGrades:   {graded.paths.grades_csv} (per cell: {graded.paths.scores_csv.name})")
    print(f"Feedback: {graded.paths.feedback / '<student>' / assignment_id}{os.sep}*.html")
    print(f"Report:   {graded.paths.report} (histogram: {graded.paths.histogram.name})")
    print(f"Written answers: `autograder formgrader {graded.paths.root}` (or `autograder "
          "answers`), then `autograder export` and `autograder feedback`")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _find_course_root(assignment_id: str) -> Path:
    for folder in (Path.cwd(), *Path.cwd().parents):
        if manifest_path(folder, assignment_id).is_file():
            return folder
    raise ManifestError(f"no assignments/{assignment_id}/manifest.toml in {Path.cwd()} or any "
                        "folder above it: run inside the course repository or pass --root")
