"""Broken and hostile submissions, graded end to end in one run.

The corpus (tests/corpus/build_corpus.py) is generated from the reference solution; each
entry states what grading must report for it, relative to the `control` entry (the
reference trimmed to FullyConnectedNets.ipynb, the three student modules and the model).
One module fixture builds it and grades it once through the command line, with 2 workers
and the default limits, a secret in the grader's environment; then every case is checked
against its expectation, and the whole run against properties that hold whatever the
students did: a row per entry, the submissions folder untouched, nothing planted outside
the output and scratch folders, the gradebook agreeing with grades.csv, the secret nowhere
in the output, only the manifest's files in it, and the limits in force.
"""
import hashlib
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import sandbox
from autograder.cli import main as autograder_main
from autograder.grading.records import read_csv
from autograder.grading.task import NBGRADER_FILES
from autograder.sandbox import PLACE_BYTES, SANDBOX_TASKS
from corpus.build_corpus import (CASES, DISK_FILLED, FC_TESTS, FILLER_PREFIX, GRADER_SECRET_NAME,
                                 MANIFEST, NAME_PATTERN, NOTEBOOK, STARTED_PROCESSES,
                                 build_corpus, grader_secret)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
EXPECTED = [case for case in CASES if case.expect is not None]
_NOT_SEARCHED = {".git", ".venv", "datasets", "__pycache__", ".pytest_cache"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request, datasets_dir):
    """The corpus, built into tmp/submissions and graded into tmp/out in ONE command-line
    run with the default limits, with the grader's scratch in tmp/scratch and a secret in
    the grader's environment."""
    started = time.perf_counter()
    tmp = tmp_path_factory.mktemp("hostile")
    cache = Path(request.config.cache.mkdir("grading-artifacts"))  # the trained best model
    corpus = build_corpus(tmp / "submissions", cache, say=lambda *_: None)
    built = time.perf_counter() - started
    before = tree_digest(corpus.folder)
    scratch, out = tmp / "scratch", tmp / "out"
    scratch.mkdir()
    argv = ["grade", "fcnet", "--submissions", str(corpus.folder), "--out", str(out),
            "--workers", "2", "--name-pattern", NAME_PATTERN, "--root", str(REPO)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(GRADER_SECRET_NAME, grader_secret(corpus.marker))
        # Every temporary folder of the run (the grader's scratch) inside tmp/scratch.
        patch.setenv("TMPDIR", str(scratch))
        patch.setattr(tempfile, "tempdir", str(scratch))
        try:
            exit_code = autograder_main(argv)
        except SystemExit as refused:  # argparse: an option the command does not know
            exit_code = f"SystemExit({refused.code})"
    seconds = time.perf_counter() - started
    print(f"\n[hostile corpus] {len(corpus.cases)} entries: built in {built:.0f} s, built and "
          f"graded in {seconds:.0f} s")
    yield SimpleNamespace(
        corpus=corpus, tmp=tmp, out=out, scratch=scratch, exit_code=exit_code,
        before=before, seconds=seconds,
        grades={row["student_id"]: row for row in read_csv(out / "grades.csv")},
        cells=cells_by_student(read_csv(out / "scores.csv")))
    for path in planted_files(corpus.marker, tmp):  # never leave what an attack planted
        if tmp not in path.parents:
            path.unlink()


def cells_by_student(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """{student: {grade_id: row of scores.csv}}, for the FullyConnectedNets cells."""
    cells = {}
    for row in rows:
        if row["notebook"] == Path(NOTEBOOK).stem:
            cells.setdefault(row["student_id"], {})[row["grade_id"]] = row
    return cells


def points(text: str) -> float | None:
    return None if text == "" else float(text)


def tree_digest(folder: Path) -> str:
    """Names, modes, modification times and contents of everything under folder."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        info = path.stat()
        digest.update(f"{path.relative_to(folder).as_posix()} {info.st_mode} "
                      f"{info.st_mtime_ns}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def planted_files(marker: str, tmp: Path) -> list[Path]:
    """Files named after the corpus's marker, or escape.txt, anywhere an attack could have
    put them: the test's folder, the top of /tmp, the course repository."""
    found = [*tmp.rglob(f"*{marker}*"), *tmp.rglob("escape.txt"),
             *Path("/tmp").glob(f"*{marker}*"), *tmp.parent.glob("escape.txt")]
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in _NOT_SEARCHED]
        found += [Path(folder) / name for name in files
                  if marker in name or name == "escape.txt"]
    return sorted(set(found))


# --- the run as a whole ---------------------------------------------------------------------

def test_the_command_succeeds(graded):
    assert graded.exit_code == 0


def test_control_gets_every_point_of_its_notebook(graded):
    control = graded.cells["control"]
    assert set(control) == FC_TESTS
    not_full = {grade_id: (row["score"], row.get("message")) for grade_id, row in control.items()
                if points(row["score"]) != points(row["max_score"])}
    assert not_full == {}


def test_every_entry_has_a_row_with_a_status(graded):
    assert sorted(graded.grades) == sorted({case.student_id for case in CASES})
    assert all(row["status"] for row in graded.grades.values())


def test_two_submissions_of_one_student_give_one_row(graded):
    assert [student for student in graded.grades if student.startswith("alice")] == ["alice"]


def test_submissions_folder_is_unchanged(graded):
    assert tree_digest(graded.corpus.folder) == graded.before


def test_nothing_is_written_outside_out_and_the_scratch(graded):
    assert planted_files(graded.corpus.marker, graded.tmp) == []
    assert sorted(path.name for path in graded.tmp.iterdir()) == ["out", "scratch", "submissions"]


def test_gradebook_scores_equal_grades_csv(graded):
    with Gradebook(f"sqlite:///{graded.out / 'gradebook.db'}") as gradebook:
        for student, row in graded.grades.items():
            submission = gradebook.find_submission("fcnet", student)
            auto = {}
            for notebook in submission.notebooks:
                answers = {cell.name for cell in notebook.notebook.solution_cells}
                auto.update({(notebook.name, grade.name): grade.auto_score
                             for grade in notebook.grades if grade.name not in answers})
            assert sum(score or 0 for score in auto.values()) == pytest.approx(points(row["score"])), student
            for grade_id, cell in graded.cells.get(student, {}).items():
                assert auto[(Path(NOTEBOOK).stem, grade_id)] == points(cell["score"]), (student, grade_id)


def test_gradebook_holds_no_planted_table(graded):
    with sqlite3.connect(graded.out / "gradebook.db") as connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master")]
    assert [name for name in tables if graded.corpus.marker in name] == []


def test_huge_output_is_cut_in_the_autograded_notebook(graded):
    notebook = graded.out / "autograded" / "huge_output" / "fcnet" / NOTEBOOK
    assert notebook.stat().st_size < 5 * 2**20


# --- Limits the student cannot lift, nothing of the grader leaks --------------------

def cell_outputs(graded, student: str) -> str:
    """Everything the cells of the student's autograded notebook printed."""
    notebook = nbformat.read(graded.out / "autograded" / student / "fcnet" / NOTEBOOK, as_version=4)
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs)


def test_the_graders_secret_appears_nowhere_in_out(graded):
    secret = grader_secret(graded.corpus.marker).encode()
    assert [path for path in graded.out.rglob("*") if path.is_file()
            and secret in path.read_bytes()] == []
    # ...though the notebook did print its environment:
    assert "'PATH':" in cell_outputs(graded, "prints_grader_environment")


def test_a_lifted_output_cap_still_cuts_the_output(graded):
    student = "lifts_output_cap_then_prints_200_mb"
    assert (graded.out / "autograded" / student / "fcnet" / NOTEBOOK).stat().st_size < 5 * 2**20
    assert (graded.out / "feedback" / student / "fcnet" / "FullyConnectedNets.html").stat().st_size < 5 * 2**20


def test_disk_student_code_fills_is_capped_and_stays_out_of_out(graded):
    written = [int(line.split()[-1]) for line in cell_outputs(graded, "fills_3_gb_of_disk").splitlines()
               if line.startswith(DISK_FILLED)]
    assert len(written) == 2 and all(0 < mib <= PLACE_BYTES // 2**20 for mib in written)
    assert [path for path in graded.out.rglob(f"{FILLER_PREFIX}-*")] == []
    assert sum(path.stat().st_size for path in graded.out.rglob("*") if path.is_file()) < 200 * 2**20


def test_processes_are_capped(graded):
    line = next(line for line in cell_outputs(graded, "starts_400_processes").splitlines()
                if line.startswith(STARTED_PROCESSES))
    assert int(line.split()[-1]) < SANDBOX_TASKS


def test_only_the_manifests_files_travel_into_out(graded):
    kept = {*MANIFEST.notebooks, *MANIFEST.student_modules, *MANIFEST.artifacts, *NBGRADER_FILES}
    for folder in (graded.out / "autograded").glob("*/fcnet"):
        files = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
        assert files <= kept, folder


def test_the_report_lists_the_limits_in_force(graded):
    report = (graded.out / "report.md").read_text()
    assert "## Limits on student code" in report
    for limit in ("time", "output", "memory", "processes", "disk", "environment"):
        assert f"| {limit} | " in report


# --- each case against its expectation -----------------------------------------------------

@pytest.mark.parametrize("case", EXPECTED, ids=lambda case: case.name)
def test_status(graded, case):
    expect = case.expect
    assert case.student_id in graded.grades, f"no row for {case.student_id} in grades.csv"
    status = graded.grades[case.student_id]["status"]
    assert "crashed" not in status
    assert status.startswith(expect.status_starts), status
    for phrase in expect.status_has:
        assert phrase in status, status
    for phrase in expect.status_lacks:
        assert phrase not in status, status


@pytest.mark.parametrize("case", EXPECTED, ids=lambda case: case.name)
def test_scores(graded, case):
    expect = case.expect
    cells = graded.cells.get(case.student_id, {})
    if expect.graded:
        assert cells, f"no {NOTEBOOK} cells for {case.student_id} in scores.csv"
    lost = {grade_id: points(cells[grade_id]["score"]) for grade_id in expect.loses
            if grade_id in cells}
    assert lost == dict.fromkeys(lost, 0.0)
    if not expect.scores_like_control:
        return
    control = graded.cells["control"]
    wanted = {grade_id: 0.0 if grade_id in expect.loses else points(row["score"])
              for grade_id, row in control.items() if grade_id not in expect.may_lose}
    got = {grade_id: points(row["score"])
           for grade_id, row in cells.items() if grade_id not in expect.may_lose}
    assert got == wanted
    assert ({grade_id: row["max_score"] for grade_id, row in cells.items()}
            == {grade_id: row["max_score"] for grade_id, row in control.items()})
    assert graded.grades[case.student_id]["max_score"] == graded.grades["control"]["max_score"]


@pytest.mark.parametrize("case", [case for case in EXPECTED if case.expect.why],
                         ids=lambda case: case.name)
def test_lost_points_say_why(graded, case):
    cells = graded.cells.get(case.student_id, {})
    messages = {grade_id: cells[grade_id].get("message")
                for grade_id in case.expect.explained_cells() if grade_id in cells}
    assert None not in messages.values(), "scores.csv has no message column"
    unexplained = {grade_id: message for grade_id, message in messages.items()
                   if not any(phrase in message for phrase in case.expect.why)}
    assert unexplained == {}


def test_without_a_sandbox_a_forged_verdicts_file_gives_no_points(graded, tmp_path, monkeypatch):
    """Unconfined (NNKIT_SANDBOX=0), the kernel can overwrite the verdicts file; the grader
    still zeroes the cells from the verdicts it holds in memory."""
    tampering = next(case for case in CASES if case.name == "namespace_tampering")
    shutil.copy2(graded.corpus.folder / tampering.entry, tmp_path / tampering.entry)
    monkeypatch.setenv("NNKIT_SANDBOX", "0")
    sandbox.status.cache_clear()
    try:
        exit_code = autograder_main(["grade", "fcnet", "--submissions", str(tmp_path),
                                     "--out", str(tmp_path.parent / "unconfined-out"),
                                     "--root", str(REPO)])
    finally:
        sandbox.status.cache_clear()
    assert exit_code == 0
    out = tmp_path.parent / "unconfined-out"
    assert "WARNING, no isolation" in (out / "report.md").read_text()
    cells = cells_by_student(read_csv(out / "scores.csv"))[tampering.student_id]
    assert {grade_id: points(cells[grade_id]["score"]) for grade_id in tampering.expect.loses} == \
        dict.fromkeys(tampering.expect.loses, 0.0)


# --- fair grading: the other notebooks some entries hand in --------------------------------

@pytest.mark.parametrize("case", [case for case in EXPECTED if case.expect.notebooks],
                         ids=lambda case: case.name)
def test_other_notebooks(graded, case):
    """Every test cell of the other notebooks an entry hands in scores full points, except
    the entry's lost cells, which score 0 and say why."""
    stems = {Path(name).stem for name in case.expect.notebooks}
    rows = {row["grade_id"]: row for row in read_csv(graded.out / "scores.csv")
            if row["student_id"] == case.student_id and row["notebook"] in stems}
    assert case.expect.loses - FC_TESTS <= set(rows), f"no rows for {sorted(case.expect.loses - set(rows))}"
    assert ({grade_id: points(row["score"]) for grade_id, row in rows.items()} ==
            {grade_id: 0.0 if grade_id in case.expect.loses else points(row["max_score"])
             for grade_id, row in rows.items()})
    unexplained = {grade_id: rows[grade_id]["message"] for grade_id in case.expect.explained_cells() & set(rows)
                   if not any(phrase in rows[grade_id]["message"] for phrase in case.expect.why)}
    assert unexplained == {}
