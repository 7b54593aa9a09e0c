"""A real class, from the LMS download to grades.csv, end to end (slow).

The class of tests/lms_downloads.py (a dozen students: a resubmission, loose files instead
of the zip, a zip of a deeply nested folder, a broken zip, work handed in on time, within
the grace period, late, past the cut-off, and late but within an extension) hands in the
reference, the adam-less partial and the blank release, trimmed like the hostile corpus to
FullyConnectedNets.ipynb, the three modules and the model. Canvas serves it as one bulk zip,
downloaded after the deadline (every file dated then); the instructor passes --times (all
but two students: Canvas only records LATE) and --extensions. ONE `autograder grade` run,
2 workers, default limits, with the late policy POLICY; then every student's row of
grades.csv is checked against EXPECTED, a table of data: add columns to Row to check more.
"""
import contextlib
import dataclasses
import hashlib
import io
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from autograder import cli
from autograder.grading.deadlines import iso_utc, late_policy_from
from autograder.grading.records import read_csv
from autograder.grading.samples import build_samples
from autograder.manifest import load_manifest, manifest_path
from corpus.build_corpus import KEPT
from lms_downloads import (CLASS, DUE, DOWNLOADED, at, bulk_zip, extensions_csv, times_csv,
                           write_canvas)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
POLICY = late_policy_from({"grace": "15 minutes", "penalty": "10% per day", "cutoff": "7 days"})


def _test_cell_points(notebook: str) -> dict[str, float]:
    cells = nbformat.read(REPO / "release" / "fcnet" / notebook, as_version=4).cells
    return {cell.metadata.nbgrader["grade_id"]: float(cell.metadata.nbgrader["points"])
            for cell in cells if cell.metadata.get("nbgrader", {}).get("grade")
            and not cell.metadata.nbgrader.get("solution")}


POINTS = _test_cell_points("FullyConnectedNets.ipynb")
FULL = sum(POINTS.values())             # what the trimmed reference earns
WITHOUT_ADAM = FULL - POINTS["fc_adam"]  # the partial without adam


@dataclasses.dataclass(frozen=True)
class Row:
    """What grades.csv must say for a student (the id and name come from the class)."""
    score: float
    late: str                  # "yes", "no", "" (unknown)
    late_hours: str            # "" when unknown
    late_penalty: str
    status: str                # a phrase the status holds
    submitted: bool = True     # submitted_at is the student's last hand-in time (else empty)
    due: str = iso_utc(DUE)


EXPECTED = {
    "ada": Row(FULL, "no", "0", "0", "ok"),
    "ben": Row(FULL, "no", "0", "0", "ok"),  # resubmitted: fcnet_submission-1.zip
    "cleo": Row(FULL, "no", "0", "0", "10 min after the due date (2026-12-18 23:59 UTC), "
                                      "within the 15 min grace period: on time"),
    "dev": Row(FULL, "yes", "27", "0.2", "late: handed in 2026-12-20 02:59 UTC, 1 day 3 h after "
                                        "the due date (2026-12-18 23:59 UTC): 2 started day(s) "
                                        "at 10% each, penalty 20%"),
    "eve": Row(FULL, "no", "0", "0", "ok"),  # loose notebook, modules and model
    "finn": Row(WITHOUT_ADAM, "no", "0", "0", "ok"),
    "gus": Row(FULL, "no", "0", "0", "handed in 2026-12-20 23:59 UTC, after the due date but "
                                     "before the student's extension to 2026-12-21 23:59 UTC",
               due=iso_utc(at(days=3))),
    "hana": Row(FULL, "no", "0", "0", "ok"),  # Users/hana/Desktop/fcnet/... in the zip
    "ivy": Row(0, "", "", "0", "hand-in time unknown, so not marked late", submitted=False),
    "jon": Row(0, "no", "0", "0", "failed: not a readable zip file"),
    "kim": Row(FULL, "yes", "192", "1", "8 days after the due date (2026-12-18 23:59 UTC), past "
                                       "the cut-off of 7 days: penalty 100%, the grade is 0"),
    "lea": Row(FULL, "yes", "", "0.1", "late: Canvas marked it late but records no time, so it "
                                      "pays one day's penalty, 10%", submitted=False),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request, datasets_dir):
    tmp = tmp_path_factory.mktemp("class")
    cache = Path(request.config.cache.mkdir("grading-artifacts"))  # the trained best model
    samples = build_samples(REPO, load_manifest(manifest_path(REPO, "fcnet")), cache,
                            partial_names=("partial_adam",), say=lambda *_: None)
    files = {sample.name: {path: sample.files[path] for path in KEPT if path in sample.files}
             for sample in samples}
    download = bulk_zip(write_canvas(tmp / "canvas", CLASS, files),
                        tmp / "CS231-fcnet_submissions.zip")
    digest = hashlib.sha256(download.read_bytes()).hexdigest()
    argv = ["grade", "fcnet", "--submissions", str(download), "--out", str(tmp / "out"),
            "--workers", "2", "--times", str(times_csv(tmp / "times.csv")),
            "--extensions", str(extensions_csv(tmp / "extensions.csv")), "--root", str(REPO)]
    output = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output):
        # the policy under test, not the one the repository ships
        patch.setattr(cli, "load_manifest", lambda path: dataclasses.replace(
            load_manifest(path), late_policy=POLICY))
        exit_code = cli.main(argv)
    print(output.getvalue())
    return SimpleNamespace(exit_code=exit_code, download=download, digest=digest,
                           output=output.getvalue(),
                           rows={row["student_id"]: row for row in read_csv(tmp / "out/grades.csv")})


def test_the_command_succeeds_and_says_what_it_read(graded):
    assert graded.exit_code == 0
    assert "detected the Canvas layout" in graded.output
    assert "16 of 16 entries fit it" in graded.output
    assert f"Late policy (manifest.toml): {POLICY.describe()}" in graded.output


def test_the_download_is_untouched(graded):
    assert hashlib.sha256(graded.download.read_bytes()).hexdigest() == graded.digest


def test_every_student_has_exactly_one_row_under_their_canvas_id(graded):
    assert sorted(graded.rows) == sorted(student.canvas_id for student in CLASS)
    assert sorted(EXPECTED) == sorted(student.key for student in CLASS)


@pytest.mark.parametrize("student", CLASS, ids=lambda student: student.key)
def test_row(graded, student):
    expected, row = EXPECTED[student.key], graded.rows[student.canvas_id]
    assert row["name"] == student.canvas_name
    assert float(row["score"]) == expected.score, row["status"]
    assert row["max_score"] == "77"
    assert (row["late"], row["late_hours"], row["late_penalty"]) == (
        expected.late, expected.late_hours, expected.late_penalty), row["status"]
    assert row["submitted_at"] == (iso_utc(student.last.at) if expected.submitted else "")
    assert row["due"] == expected.due
    assert expected.status in row["status"], row["status"]
    assert iso_utc(DOWNLOADED) not in row["status"]  # file dates never count


def test_only_the_late_pay_and_the_statuses_say_by_how_much(graded):
    penalized = {key for key, row in EXPECTED.items() if row.late_penalty != "0"}
    assert penalized == {"dev", "kim", "lea"}
    for student in CLASS:
        status = graded.rows[student.canvas_id]["status"]
        assert ("late:" in status) == (EXPECTED[student.key].late == "yes"), status
        assert not re.search(r"penalty \d+%", status) or student.key in penalized
