"""The `autograder` command: one subcommand per job of the course pipeline."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .grading.batch import GradingInputError, grade_folder
from .grading.check import check_grading
from .grading.course import NbgraderError
from .grading.report import summary_table
from .grading.samples import SampleError, build_samples, write_zip
from .grading.task import Limits
from .manifest import ManifestError, load_manifest, manifest_path
from .release import release
from .release.build import BuildError
from .release.handout import HandoutError
from .release.strip import StripError

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
    release_parser.add_argument("assignment", help="assignment id, e.g. fcnet")
    release_parser.add_argument(
        "--check", action="store_true",
        help="build into a temporary folder and fail if release/<id> differs (writes nothing)")
    _add_root_option(release_parser)

    grade_parser = commands.add_parser(
        "grade", help="autograde a folder of submissions: grades, feedback, report",
        description="Autograde every submission (one zip or folder per student) with nbgrader, "
                    "each in its own scratch course folder, and write OUT/gradebook.db, "
                    "OUT/grades.csv, OUT/scores.csv, OUT/feedback/, OUT/autograded/ and "
                    "OUT/report.md. The submissions folder is never modified; grading into "
                    "the same OUT again updates each student's rows.")
    grade_parser.add_argument("assignment", help="assignment id, e.g. fcnet")
    grade_parser.add_argument("--submissions", type=Path, required=True, metavar="DIR",
                              help="folder with one zip (from collect_submission.py) or "
                                   "folder per student; the name is the student id")
    grade_parser.add_argument("--out", type=Path, required=True, metavar="OUT",
                              help="output folder (created; outside DIR)")
    _add_workers_option(grade_parser)
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
    grade_parser.add_argument(
        "--name-pattern", metavar="REGEX", default=None,
        help="how submission file names carry the student id and time, as a regular "
             "expression with a (?P<student_id>...) group and optionally a "
             "(?P<timestamp>...) group, e.g. for Canvas downloads "
             "'(?P<student_id>[^_]+)_\\d+_(?P<timestamp>\\d{8}T\\d{6})_.*'; of several "
             "submissions of one student the newest is graded (default: the name without "
             "extension is the id)")

    samples_parser = commands.add_parser(
        "samples", help="write sample submissions: reference, blank release, partials",
        description="Write reference.zip (every solution filled in), blank.zip (the release "
                    "as is) and one zip per partial submission (the reference with one piece "
                    "of work undone), as collect_submission.py would write them.")
    samples_parser.add_argument("assignment", help="assignment id, e.g. fcnet")
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
    check_parser.add_argument("assignment", help="assignment id, e.g. fcnet")
    check_parser.add_argument("--work", type=Path, default=None, metavar="DIR",
                              help="keep the samples and their grading here (default: a "
                                   "temporary folder, removed afterwards)")
    _add_workers_option(check_parser)
    _add_root_option(check_parser)
    _add_cache_option(check_parser)

    args = parser.parse_args(argv)
    try:
        root = (args.root or _find_course_root(args.assignment)).resolve()
        if args.command == "release":
            return release(root, args.assignment, check=args.check)
        manifest = load_manifest(manifest_path(root, args.assignment))
        if args.command == "grade":
            return _grade(root, manifest, args)
        if args.command == "samples":
            return _samples(root, manifest, args)
        return _check(root, manifest, args)
    except (ManifestError, BuildError, StripError, HandoutError, GradingInputError,
            NbgraderError, SampleError) as error:
        print(f"autograder {args.command}: {error}", file=sys.stderr)
        return 1


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


def _grade(root: Path, manifest, args) -> int:
    limits = Limits(cell_floor=args.cell_timeout, probe=args.check_timeout)
    graded = grade_folder(root, manifest, args.submissions, args.out, workers=args.workers,
                          limits=limits, name_pattern=args.name_pattern)
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
    print(f"Gradebook for formgrader: {graded.paths.gradebook}")


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
