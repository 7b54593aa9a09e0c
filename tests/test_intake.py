"""What happens to a submission before nbgrader runs it: which entries of an LMS download are
whose, when each was handed in, what is unpacked, its notebooks' lost metadata, and modules
that reach for the grader. Fast: nothing here is graded (tests/test_class_grading.py grades
a whole class end to end)."""
import ast
import datetime as dt
import gc
import inspect
import os
import re
import sys
import uuid
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.grading.flags import flag_grader_access
from autograder.grading.hidden import apply_flags
from autograder.grading.intake import IntakeError, open_download, read_download
from autograder.grading.metadata import recover_metadata
from autograder.grading.submissions import Entry, Source, SubmissionError, unpack
from autograder.manifest import load_manifest, manifest_path
from lms_downloads import (BLACKBOARD_ZONE, BROKEN, CLASS, WRITERS, Attempt, Student,
                           at, bulk_zip, canvas_late, recorded_time, write_blackboard,
                           write_canvas, write_gradescope, write_moodle, zip_bytes)

REPO = Path(__file__).resolve().parents[1]
MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))
RELEASE = REPO / "release" / "fcnet"
HANDED_IN = ("FullyConnectedNets.ipynb", "nnkit/layers.py", "nnkit/classifiers/fc_net.py",
             "nnkit/optim.py", "best_model.npz")
PATTERN = r"(?P<student_id>[A-Za-z0-9]+)_\d+_(?P<timestamp>\d{8}T\d{6})_.*"


def stand_in(sample: str) -> dict[str, bytes]:
    """A small stand-in for a sample submission: every file says which sample it is."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"# {sample}")])
    return {path: (nbformat.writes(notebook).encode() if path.endswith(".ipynb")
                   else f"# {sample}: {path}\n".encode()) for path in HANDED_IN}


FILES = {sample: stand_in(sample) for sample in ("reference", "partial_adam", "blank")}


def unpacked_sample(entry, tmp_path) -> str:
    """Which sample an entry unpacks to (all its files must agree)."""
    target = tmp_path / "unpacked" / entry.student_id
    unpacked = unpack(entry, MANIFEST, target)
    assert sorted(unpacked.present) == sorted(HANDED_IN), unpacked
    samples = {sample for sample, files in FILES.items()
               if all((target / path).read_bytes() == files[path] for path in HANDED_IN)}
    assert len(samples) == 1, entry
    return samples.pop()


# --- LMS downloads, as each LMS writes them --------------------------------------------------

@pytest.mark.parametrize("lms", WRITERS)
def test_each_lms_download_is_detected_and_gives_every_student_once(lms, tmp_path):
    WRITERS[lms](tmp_path / "download", CLASS, FILES)
    intake = read_download(tmp_path / "download")
    assert intake.layout.name == lms
    assert re.match(rf"detected the {intake.layout.title} layout, .*: (\d+) of \1 entries fit it",
                    intake.reason), intake.reason
    by_id = {entry.student_id: entry for entry in intake.entries}
    assert sorted(by_id) == sorted(student.id_in(lms) for student in CLASS)
    assert {by_id[student.id_in(lms)].name for student in CLASS} == {
        student.name_in(lms) for student in CLASS}


@pytest.mark.parametrize("lms", WRITERS)
def test_hand_in_times_are_what_the_lms_recorded_never_the_files_times(lms, tmp_path):
    WRITERS[lms](tmp_path / "download", CLASS, FILES)  # every file dated after the deadline
    by_id = {entry.student_id: entry for entry in read_download(tmp_path / "download").entries}
    for student in CLASS:
        entry = by_id[student.id_in(lms)]
        assert entry.submitted == recorded_time(student, lms), student.key
        assert entry.marked_late_by == ("Canvas" if lms == "canvas" and canvas_late(student)
                                        else None), student.key


@pytest.mark.parametrize("lms", WRITERS)
def test_every_student_unpacks_to_their_last_attempt(lms, tmp_path):
    """Zips, loose files, a zip of a deeply nested folder, a resubmission, a broken zip."""
    WRITERS[lms](tmp_path / "download", CLASS, FILES)
    by_id = {entry.student_id: entry for entry in read_download(tmp_path / "download").entries}
    for student in CLASS:
        entry = by_id[student.id_in(lms)]
        if student.last.sample == BROKEN:
            with pytest.raises(SubmissionError, match="not a readable zip file"):
                unpack(entry, MANIFEST, tmp_path / "broken")
        else:
            assert unpacked_sample(entry, tmp_path) == student.last.sample, student.key


def test_blackboard_grades_the_newest_of_all_attempts_and_says_so(tmp_path):
    write_blackboard(tmp_path / "download", CLASS, FILES)
    ben = next(entry for entry in read_download(tmp_path / "download").entries
               if entry.student_id == "ben")
    assert ben.notes[0].startswith("graded Homework 1_ben_attempt_2026-12-18-18-49-00_"
                                   "fcnet_submission.zip, the newest of 2 submissions")
    assert ben.submitted == at(minutes=-10)


@pytest.mark.parametrize("lms", WRITERS)
def test_a_bulk_zip_reads_as_its_folder(lms, tmp_path):
    folder = WRITERS[lms](tmp_path / "download", CLASS, FILES)
    bulk = bulk_zip(folder, tmp_path / "download.zip")
    before = bulk.read_bytes()
    download = open_download(bulk, tmp_path / "scratch")
    from_zip = read_download(download.folder, skipped=tuple(download.skipped))
    from_folder = read_download(folder)
    assert from_zip.layout is from_folder.layout
    assert ([(entry.student_id, entry.submitted, entry.label) for entry in from_zip.entries]
            == [(entry.student_id, entry.submitted, entry.label) for entry in from_folder.entries])
    assert bulk.read_bytes() == before


def test_a_bulk_zips_unsafe_members_get_a_failed_row_and_are_not_unpacked(tmp_path):
    bulk = tmp_path / "bulk.zip"
    with zipfile.ZipFile(bulk, "w") as archive:
        archive.writestr("alice.zip", zip_bytes(FILES["reference"]))
        archive.writestr("../escaped.zip", b"x")
    download = open_download(bulk, tmp_path / "scratch")
    entries = read_download(download.folder, skipped=tuple(download.skipped)).entries
    assert [(entry.student_id, entry.problem) for entry in entries] == [
        ("alice", None), ("escaped", "an unsafe path in the bulk zip ('../escaped.zip'), not unpacked")]
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["alice.zip", "bulk.zip", "scratch"]


def test_entries_a_layout_cannot_read_get_a_failed_row(tmp_path):
    folder = write_canvas(tmp_path / "download", CLASS, FILES)
    (folder / "grading notes.txt").write_text("remember ben")
    (folder / "old").mkdir()
    intake = read_download(folder)
    count = len(list(folder.iterdir()))
    assert intake.layout.name == "canvas"
    assert f"{count - 2} of {count} entries fit it" in intake.reason
    assert "2 not, each listed as failed (grading notes.txt, old)" in intake.reason
    failed = {entry.student_id: entry.problem for entry in intake.entries if entry.problem}
    assert failed == {"grading_notes": "not a Canvas submission (name[_LATE]_userid_fileid_filename)",
                      "old": "not a Canvas submission (name[_LATE]_userid_fileid_filename)"}


@pytest.mark.parametrize("chosen, written", [("canvas", "moodle"), ("moodle", "gradescope"),
                                             ("gradescope", "blackboard"), ("blackboard", "canvas")])
def test_a_layout_that_reads_none_of_the_entries_is_an_error_naming_some(chosen, written, tmp_path):
    WRITERS[written](tmp_path / "download", CLASS, FILES)
    with pytest.raises(IntakeError, match=r"none of the \d+ entries of .* is a .* submission") as error:
        read_download(tmp_path / "download", lms=chosen)
    first = sorted(path.name for path in (tmp_path / "download").iterdir())[0]
    assert first in str(error.value)


def test_a_name_pattern_that_matches_nothing_is_an_error_naming_some(tmp_path):
    folder = write_canvas(tmp_path / "download", CLASS, FILES)
    names = sorted(path.name for path in folder.iterdir())
    with pytest.raises(IntakeError, match=f"matches none of the {len(names)} entries") as error:
        read_download(folder, name_pattern=r"(?P<student_id>\d+)\.zip")
    assert names[0] in str(error.value)


def test_a_plain_folder_is_detected_as_such_and_says_why(tmp_path):
    for name in ("alice.zip", "bob.zip"):
        (tmp_path / name).write_bytes(zip_bytes(FILES["reference"]))
    (tmp_path / "carol").mkdir()
    intake = read_download(tmp_path)
    assert intake.layout.name == "plain"
    assert intake.reason.startswith("no LMS layout fits (Canvas, Moodle, Gradescope, Blackboard), "
                                    "so one .zip file or folder per student")
    assert [entry.student_id for entry in intake.entries] == ["alice", "bob", "carol"]


def test_a_download_unpacked_into_a_folder_of_its_own_is_read_inside_it(tmp_path):
    write_moodle(tmp_path / "download" / "CS101-fcnet-123", CLASS, FILES)
    intake = read_download(tmp_path / "download")
    assert intake.layout.name == "moodle" and "inside CS101-fcnet-123/" in intake.reason
    assert len(intake.entries) == len(CLASS)


def test_canvas_text_entries_are_reported_not_graded(tmp_path):
    folder = write_canvas(tmp_path / "download", CLASS[:1], FILES)
    (folder / "lovelaceada_104201_text.html").write_text("<p>see my zip</p>")
    (folder / "roelea_LATE_104299_text.html").write_text("<p>my answers</p>")
    ada, lea = read_download(folder).entries
    assert ada.notes == ("its text entry (lovelaceada_104201_text.html) is not graded",)
    assert lea.problem == "a Canvas text entry, not a file upload" and lea.marked_late_by == "Canvas"


def test_canvas_anonymous_grading_ids_are_read(tmp_path):
    (tmp_path / "LATE_anon_Xy12z_7000001_fcnet_submission.zip").write_bytes(b"zip")
    (tmp_path / "anon_Qr34s_7000002_fcnet_submission.zip").write_bytes(b"zip")
    entries = read_download(tmp_path, lms="canvas").entries
    assert [(entry.student_id, entry.marked_late_by) for entry in entries] == [
        ("anon_Qr34s", None), ("anon_Xy12z", "Canvas")]


def test_moodle_online_texts_flat_files_and_blind_marking(tmp_path):
    folder = write_moodle(tmp_path / "download", CLASS[:1], FILES)
    text = folder / "Ada Lovelace_5301_assignsubmission_onlinetext_"
    text.mkdir()
    (text / "onlinetext.html").write_text("<p>hello</p>")
    (folder / "Participant_5399_assignsubmission_file_fcnet_submission.zip").write_bytes(
        zip_bytes(FILES["blank"]))
    (folder / "Bo Li_5398_assignsubmission_onlinetext_").mkdir()
    ada, bo, blind = read_download(folder).entries
    assert ada.notes == ("its online text (Ada Lovelace_5301_assignsubmission_onlinetext_) is "
                         "not graded",)
    assert bo.problem == "no file submission, only online text"
    assert (blind.student_id, blind.name) == ("5399", "")
    assert unpacked_sample(blind, tmp_path) == "blank"


def test_gradescope_group_submissions_and_metadata_that_does_not_fit(tmp_path):
    folder = write_gradescope(tmp_path / "download", CLASS[:2], FILES)
    root = folder / "assignment_424242_export"
    metadata = root / "submission_metadata.yml"
    metadata.write_text(metadata.read_text() + (
        "submission_999:\n  :submitters:\n  - :name: Pat Lee\n    :sid: '2026050'\n"
        "  - :name: Sam Ortiz\n    :email: sam@example.edu\n"
        "  :created_at: 2026-12-18 23:00:00.000000000 Z\n  :status: failed\n"))
    (root / "submission_123").mkdir()
    entries = {entry.student_id: entry for entry in read_download(folder).entries}
    assert entries["2026050"].notes == ("Gradescope's status of the submission: failed",
                                       "group submission submission_999 with sam@example.edu")
    assert entries["sam@example.edu"].name == "Sam Ortiz"
    assert entries["2026050"].problem == ("listed in submission_metadata.yml, but the download "
                                          "has no folder submission_999")
    assert entries["submission_123"].problem == "not listed in submission_metadata.yml"
    assert entries["2026050"].submitted == dt.datetime(2026, 12, 18, 23, tzinfo=dt.timezone.utc)


def test_gradescope_metadata_that_is_not_yaml_is_an_error_naming_it(tmp_path):
    (tmp_path / "submission_metadata.yml").write_text("submission_1: [unclosed\n")
    (tmp_path / "submission_1").mkdir()
    with pytest.raises(IntakeError, match="submission_metadata.yml cannot be read as YAML"):
        read_download(tmp_path)


def test_blackboard_without_receipts_reads_the_names_time_in_the_given_zone(tmp_path):
    folder = write_blackboard(tmp_path / "download", CLASS[:1], FILES)
    for receipt in folder.glob("*.txt"):
        receipt.unlink()
    (ada,) = read_download(folder, timezone=BLACKBOARD_ZONE).entries
    assert ada.submitted == CLASS[0].last.at and ada.name == ""
    (ada,) = read_download(folder).entries  # read as UTC: off by the zone's offset
    assert ada.submitted == CLASS[0].last.at - dt.timedelta(hours=5)


def test_blackboard_usernames_with_underscores_come_from_the_receipt(tmp_path):
    student = Student("jane_doe", "Jane Doe", 40, (Attempt("reference", at(days=-1)),))
    folder = write_blackboard(tmp_path / "download", (student,), FILES)
    (jane,) = read_download(folder).entries
    assert (jane.student_id, jane.name) == ("jane_doe", "Jane Doe")


# --- names read with --name-pattern ----------------------------------------------------------

def test_a_name_pattern_reads_ids_and_times_and_the_newest_is_graded(tmp_path):
    (tmp_path / "alice_12345_20261202T091500_fcnet.zip").write_bytes(b"")  # newer by its name
    (tmp_path / "alice_12345_20261201T101500_fcnet.zip").write_bytes(b"")
    (tmp_path / "bob.zip").write_bytes(b"")
    alice, bob = read_download(tmp_path, name_pattern=PATTERN).entries
    assert alice.sources[0].path.name == "alice_12345_20261202T091500_fcnet.zip"
    assert alice.submitted == dt.datetime(2026, 12, 2, 9, 15, tzinfo=dt.timezone.utc)
    assert alice.notes == ("graded alice_12345_20261202T091500_fcnet.zip, the newest of 2 "
                           "submissions (ignored alice_12345_20261201T101500_fcnet.zip)",)
    assert bob.submitted is None
    assert bob.notes == ("its name does not match --name-pattern, so the id is the name",)


def test_without_times_file_dates_never_decide_which_upload_wins(tmp_path):
    """Two zips of one student and no times: one submission, and of files in both the one
    in the zip last by name is graded, whatever the files' modification times say."""
    older, newer = (dt.datetime(2026, 12, day, tzinfo=dt.timezone.utc).timestamp() for day in (1, 9))
    for name, sample, stamp in (("carol-1.zip", "partial_adam", newer), ("carol-2.zip", "blank", older)):
        (tmp_path / name).write_bytes(zip_bytes(FILES[sample]))
        os.utime(tmp_path / name, (stamp, stamp))
    (entry,) = read_download(tmp_path, name_pattern=r"(?P<student_id>[a-z]+)-\d\.zip").entries
    assert entry.label == "carol-1.zip, carol-2.zip" and entry.submitted is None
    assert unpacked_sample(entry, tmp_path) == "blank"


@pytest.mark.parametrize("pattern, message", [("(", "not a regular expression"),
                                              (r"(?P<sid>\w+)", "no (?P<student_id>...) group")])
def test_a_bad_name_pattern_is_refused(pattern, message, tmp_path):
    (tmp_path / "a.zip").write_bytes(b"")
    with pytest.raises(IntakeError, match=re.escape(message)):
        read_download(tmp_path, name_pattern=pattern)


# --- what is unpacked --------------------------------------------------------------------------

def entry_of(*paths: Path) -> Entry:
    return Entry("student", tuple(Source(path) for path in paths))


def test_the_newest_upload_wins_over_a_zips_copy_and_the_notes_say_so(tmp_path):
    old = tmp_path / "fcnet_submission.zip"
    old.write_bytes(zip_bytes(FILES["partial_adam"]))
    fixed = tmp_path / "optim-1.py"  # uploaded after the zip, numbered by the LMS
    fixed.write_bytes(FILES["reference"]["nnkit/optim.py"])
    target = tmp_path / "target"
    unpacked = unpack(entry_of(old, fixed), MANIFEST, target)
    assert (target / "nnkit/optim.py").read_bytes() == FILES["reference"]["nnkit/optim.py"]
    assert unpacked.notes == ["nnkit/optim.py: graded optim-1.py, the newest of 2 different "
                              "copies (not nnkit/optim.py in fcnet_submission.zip)"]


def test_a_zip_in_a_students_folder_and_nested_folders_are_opened(tmp_path):
    folder = tmp_path / "Jane Doe_5301_assignsubmission_file_"
    folder.mkdir()
    (folder / "fcnet_submission (1).zip").write_bytes(zip_bytes(
        {f"home/jane/fcnet/{path}": data for path, data in FILES["reference"].items()}))
    (folder / "notes.txt").write_text("not handed in")
    assert unpacked_sample(entry_of(folder), tmp_path) == "reference"


def test_one_broken_zip_among_good_files_costs_only_itself(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    loose = []
    for path, data in FILES["reference"].items():
        loose.append(tmp_path / Path(path).name)
        loose[-1].write_bytes(data)
    unpacked = unpack(entry_of(tmp_path / "broken.zip", *loose), MANIFEST, tmp_path / "target")
    assert sorted(unpacked.present) == sorted(HANDED_IN)
    assert unpacked.notes[0].startswith("skipped broken.zip: not a readable zip file")


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


def test_the_scan_survives_a_parse_that_lands_in_the_middle_of_its_own():
    """CPython up to 3.11.7 keeps one AST recursion counter for all threads (cpython
    gh-106905): a parse that begins while another is under way makes the first fail with a
    spurious SystemError ("AST constructor recursion depth mismatch"). On a Dask worker,
    the event loop thread parses (inspect.signature of a builtin parses its signature)
    while the task scans, and a student's grading crashed with it. Here a finalizer that
    the garbage collector runs in the middle of the scan's first parse parses, once."""
    parsed_meanwhile = []

    def in_a_parse() -> bool:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code is not ast.parse.__code__:
            frame = frame.f_back
        return frame is not None

    class ParsesWhenCollected:
        def __init__(self):
            self.cycle = self  # only the garbage collector frees it

        def __del__(self):
            if parsed_meanwhile:
                return
            if in_a_parse():
                parsed_meanwhile.append(inspect.signature(os.getpid))
            else:
                ParsesWhenCollected()  # collected at the next collection, maybe mid-parse

    thresholds = gc.get_threshold()
    gc.set_threshold(1)  # a collection at almost every allocation
    ParsesWhenCollected()
    try:
        flags = flag_grader_access(REPO / "source" / "fcnet", MANIFEST, REPO)
    finally:
        gc.set_threshold(*thresholds)
    assert parsed_meanwhile and flags == {}


def test_the_checks_that_ran_a_flagged_module_fail():
    verdicts = {"a": {"status": "passed", "message": "", "notes": [], "modules": ["nnkit/layers.py"]},
                "b": {"status": "passed", "message": "", "notes": [], "modules": ["nnkit/optim.py"]}}
    flagged = apply_flags(verdicts, {"nnkit/layers.py": "imports the grader (autograder, line 3)"})
    assert flagged["a"]["status"] == "failed" and flagged["b"]["status"] == "passed"
    assert flagged["a"]["message"] == ("- flagged: nnkit/layers.py imports the grader (autograder, "
                                       "line 3), so the checks that run it get no points")
