"""What happens to a submission before nbgrader runs it: which entry is a student's, when it
was handed in, its notebooks' lost metadata, and modules that reach for the grader."""
import datetime as dt
import os
import re
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder.grading.flags import flag_grader_access
from autograder.grading.hidden import apply_flags
from autograder.grading.metadata import recover_metadata
from autograder.grading.submissions import compile_name_pattern, find_entries
from autograder.grading.task import late_note
from autograder.manifest import load_manifest, manifest_path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))
RELEASE = REPO / "release" / "fcnet"
CANVAS = r"(?P<student_id>[A-Za-z0-9]+)_\d+_(?P<timestamp>\d{8}T\d{6})_.*"


def touch(path, when):
    path.write_bytes(b"")
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))
    return path


# --- who handed in what, and when -------------------------------------------------------------

def test_the_newest_of_a_students_submissions_is_graded_and_the_choice_stated(tmp_path):
    older = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    touch(tmp_path / "alice_12345_20261202T091500_fcnet.zip", older)   # newer by its name
    touch(tmp_path / "alice_12345_20261201T101500_fcnet.zip", older + dt.timedelta(days=5))
    touch(tmp_path / "bob.zip", older)
    entries = find_entries(tmp_path, CANVAS)
    assert [entry.student_id for entry in entries] == ["alice", "bob"]
    alice = entries[0]
    assert alice.path.name == "alice_12345_20261202T091500_fcnet.zip"
    assert alice.submitted_at == dt.datetime(2026, 12, 2, 9, 15, tzinfo=dt.timezone.utc)
    assert alice.notes == ("graded alice_12345_20261202T091500_fcnet.zip, the newest of 2 "
                           "submissions (ignored alice_12345_20261201T101500_fcnet.zip)",)
    assert entries[1].submitted_at == older  # no pattern match: the file's time


def test_without_a_timestamp_the_newest_file_wins(tmp_path):
    start = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    touch(tmp_path / "carol-1.zip", start + dt.timedelta(hours=2))
    touch(tmp_path / "carol-2.zip", start)
    (entry,) = find_entries(tmp_path, r"(?P<student_id>[a-z]+)-\d\.zip")
    assert entry.path.name == "carol-1.zip" and "newest of 2 submissions" in entry.notes[0]


@pytest.mark.parametrize("pattern, message", [("(", "not a regular expression"),
                                              (r"(?P<sid>\w+)", "no (?P<student_id>...) group")])
def test_a_bad_name_pattern_is_refused(pattern, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_name_pattern(pattern)


def test_a_late_submission_says_by_how_much():
    due = MANIFEST.due
    assert late_note(due + dt.timedelta(days=2, hours=3), due).startswith(
        f"late: handed in {due + dt.timedelta(days=2, hours=3):%Y-%m-%d %H:%M} UTC, 2 day(s) 3 h after")
    assert "late: handed in" in late_note(due + dt.timedelta(minutes=5), due)


# --- notebooks an editor stripped ------------------------------------------------------------

def stripped(name, tmp_path, edit=None):
    """The release notebook with all metadata dropped and new cell ids, as some editors save."""
    notebook = nbformat.read(RELEASE / name, as_version=4)
    for cell in notebook.cells:
        cell.metadata = {}
        cell["id"] = uuid.uuid4().hex[:8]
    if edit:
        edit(notebook.cells)
    path = tmp_path / name
    nbformat.write(notebook, path)
    return path


def grading_metadata(path):
    return [(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.metadata.get("tags"))
            for cell in nbformat.read(path, as_version=4).cells]


@pytest.mark.parametrize("name", MANIFEST.notebooks)
def test_stripped_metadata_is_recovered_from_the_release(name, tmp_path):
    path = stripped(name, tmp_path)
    note = recover_metadata(path, RELEASE / name)
    assert note.startswith("recovered nbgrader metadata of") and "could not" not in note
    assert grading_metadata(path) == grading_metadata(RELEASE / name)


def test_edited_answers_and_tests_are_recovered_between_unchanged_cells(tmp_path):
    def answer_and_vandalise(cells):
        answer = next(i for i, cell in enumerate(cells) if cell.source.startswith("# Set inline_q1_answer"))
        cells[answer].source = "inline_q1_answer = {1, 2}  # my answer"
        cells[answer + 1].source = "# I commented the test out"

    path = stripped("FullyConnectedNets.ipynb", tmp_path, answer_and_vandalise)
    recover_metadata(path, RELEASE / "FullyConnectedNets.ipynb")
    assert grading_metadata(path) == grading_metadata(RELEASE / "FullyConnectedNets.ipynb")


def test_cells_that_cannot_be_recovered_are_put_back_as_released(tmp_path):
    def move_an_answer_to_the_top_and_delete_a_test(cells):
        answer = next(i for i, cell in enumerate(cells) if cell.source.startswith("# Set inline_q1_answer"))
        cells.insert(0, cells.pop(answer))
        del cells[answer + 1]  # the multiple-choice test after it

    path = stripped("FullyConnectedNets.ipynb", tmp_path, move_an_answer_to_the_top_and_delete_a_test)
    note = recover_metadata(path, RELEASE / "FullyConnectedNets.ipynb")
    assert ("could not recover nbgrader metadata of fc_q1_answer, fc_q1_choice in "
            "FullyConnectedNets.ipynb") in note
    cells = nbformat.read(path, as_version=4).cells
    assert [_grade_id for _grade_id, _ in grading_metadata(path) if _grade_id] == [
        grade_id for grade_id, _ in grading_metadata(RELEASE / "FullyConnectedNets.ipynb") if grade_id]
    assert len({cell.id for cell in cells}) == len(cells)


def test_an_empty_notebook_gets_every_graded_cell_back(tmp_path):
    path = tmp_path / "Dropout.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    assert "could not recover nbgrader metadata of" in recover_metadata(path, RELEASE / "Dropout.ipynb")
    assert [grade_id for grade_id, _ in grading_metadata(path)] == [
        grade_id for grade_id, _ in grading_metadata(RELEASE / "Dropout.ipynb") if grade_id]


def test_an_intact_notebook_is_left_alone(tmp_path):
    path = tmp_path / "Dropout.ipynb"
    path.write_bytes((RELEASE / "Dropout.ipynb").read_bytes())
    assert recover_metadata(path, RELEASE / "Dropout.ipynb") is None
    assert path.read_bytes() == (RELEASE / "Dropout.ipynb").read_bytes()


# --- modules that reach for the grader -------------------------------------------------------

@pytest.mark.parametrize("code, reason", [
    ("import autograder.checks.answer_checks as key", "imports the grader (autograder.checks.answer_checks"),
    ("from nbgrader.api import Gradebook", "imports the grader (nbgrader.api"),
    ("SOURCE = open('/somewhere/source/fcnet/nnkit/layers.py').read()", "names the grader's files ('source/fcnet'"),
    (f"ROOT = {str(REPO)!r}", "names the grader's files"),
])
def test_modules_reaching_for_the_grader_are_flagged(tmp_path, code, reason):
    (tmp_path / "nnkit" / "classifiers").mkdir(parents=True)
    for module in MANIFEST.student_modules:
        (tmp_path / module).write_text("import numpy as np\n")
    (tmp_path / "nnkit" / "layers.py").write_text(f"import numpy as np\ntry:\n    {code}\nexcept Exception:\n    pass\n")
    flags = flag_grader_access(tmp_path, MANIFEST, REPO)
    assert list(flags) == ["nnkit/layers.py"] and flags["nnkit/layers.py"].startswith(reason)


def test_the_checks_that_ran_a_flagged_module_fail():
    verdicts = {"a": {"status": "passed", "message": "", "notes": [], "modules": ["nnkit/layers.py"]},
                "b": {"status": "passed", "message": "", "notes": [], "modules": ["nnkit/optim.py"]}}
    flagged = apply_flags(verdicts, {"nnkit/layers.py": "imports the grader (autograder, line 3)"})
    assert flagged["a"]["status"] == "failed" and flagged["b"]["status"] == "passed"
    assert flagged["a"]["message"] == ("- flagged: nnkit/layers.py imports the grader (autograder, "
                                       "line 3), so the checks that run it get no points")
