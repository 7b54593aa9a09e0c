"""Grading submissions (autograder/grading): `autograder grade`, its pieces, and the samples.

The end-to-end tests (marked slow) grade real sample submissions with real nbgrader and
real kernels, once per module (2 workers): the reference solution, the blank release, one
partial submission and a broken zip. Everything else here is fast.
"""
import hashlib
import html
import json
import re
import shutil
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, OverwriteCells, SaveAutoGrades
from sqlalchemy.exc import SAWarning
from traitlets.config.loader import PyFileConfigLoader

from autograder.cli import main as autograder_main
from autograder.grading.active_content import NeutraliseActiveContent
from autograder.grading.batch import RECORDS, grade_folder
from autograder.grading.check import score_problems
from autograder.grading.data_cache import ensure_data_cache
from autograder.grading import task as task_module
from autograder.grading.bundle import build_bundle
from autograder.grading.executors import grade_in
from autograder.grading.course import GradingSteps, NbgraderError, nbgrader_env
from autograder.grading.execute import (KERNEL_DIED_ERROR, KERNELS, NOT_RUN_ERROR,
                                        TIMEOUT_ERROR, ExecuteWithinLimits)
from autograder.grading.preprocessors import (
    ForgetUnknownCells, HoldSkippedGrades, RequireHiddenVerdicts, SkipSlowCells,
    autograde_pipeline, sanitize_pipeline)
from autograder.grading.execution_log import CELLS, KERNEL_DIED, KERNEL_START as KERNEL_START_STAGE
from autograder.grading.execution_log import (NOT_RUN, TIMED_OUT, VERDICT_WAIT, ExecutionLog,
                                              read_seconds, status_notes)
from autograder.grading.output_cap import OutputCap
from autograder.grading.records import OutputPaths, copy_student_files, read_csv
from autograder.grading.samples import Sample, build_samples, partials, write_zip
from autograder.grading.samples import _reverted_module
from autograder.grading.deadlines import TIME_UNKNOWN, assess
from autograder.grading.intake import read_download
from autograder.grading.submissions import SubmissionError, read_handed_in, unpack
from autograder.grading.task import (AUTOGRADE, FEEDBACK, HIDDEN_CHECKS, PREPARING, CellResult,
                                     GradingResult, GradingTask, grade_submission, graded_files)
from autograder.grading.time_limits import (KERNEL_START, NOTEBOOK_OVERHEAD, CellTimes,
                                            MeasuredCell, NotebookLimits, NotebookTimes, backstop,
                                            source_digest)
from autograder.manifest import load_manifest, manifest_path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))
PARTIAL = next(p for p in partials(REPO, MANIFEST) if p.name == "partial_affine_backward")
BROKEN = "Broken Zip.zip"  # not a zip, and not a safe student id either


# --- end to end: real nbgrader, real kernels ------------------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory, request, datasets_dir):
    """The reference, the blank release, one partial submission and a broken zip, graded
    with 2 workers."""
    tmp = tmp_path_factory.mktemp("grading")
    cache = Path(request.config.cache.mkdir("grading-artifacts"))  # the trained best model
    samples = build_samples(REPO, MANIFEST, cache, partial_names=(PARTIAL.name,),
                            say=lambda *_: None)
    submissions = tmp / "submissions"
    for sample in samples:
        write_zip(sample, submissions / f"{sample.name}.zip")
    (submissions / BROKEN).write_bytes(b"an LMS error page, not a zip archive")
    before = tree_digest(submissions)
    run = grade_folder(REPO, MANIFEST, submissions, tmp / "out", workers=2, say=lambda *_: None)
    return SimpleNamespace(run=run, out=tmp / "out", submissions=submissions, before=before,
                           tmp=tmp, results={result.student_id: result for result in run.results})


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(str(path.stat().st_mode).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_reference_gets_every_autograded_point(graded):
    reference = graded.results["reference"]
    assert reference.status == f"ok, but: {TIME_UNKNOWN}"  # a plain folder records no times
    not_full = [(cell.grade_id, cell.score, cell.message) for cell in reference.tests
                if cell.score != cell.max_score]
    assert not_full == []
    assert reference.score == graded.run.max_score > 0


@pytest.mark.slow
def test_a_result_says_where_its_time_went(graded):
    stages = graded.results["reference"].stages
    assert set(stages) == {PREPARING, AUTOGRADE, KERNEL_START_STAGE, CELLS, VERDICT_WAIT,
                           FEEDBACK, RECORDS, HIDDEN_CHECKS}
    notebooks = stages[KERNEL_START_STAGE] + stages[CELLS] + stages[VERDICT_WAIT]
    assert 0 < notebooks < stages[AUTOGRADE]
    assert stages[PREPARING] + stages[AUTOGRADE] + stages[FEEDBACK] <= graded.results["reference"].seconds


@pytest.mark.slow
def test_untouched_release_gets_no_point(graded):
    blank = graded.results["blank"]
    assert blank.graded, blank.status
    scored = [(cell.grade_id, cell.score) for cell in blank.tests if cell.score != 0]
    assert scored == []


@pytest.mark.slow
def test_partial_submission_loses_exactly_the_cells_of_its_undone_work(graded):
    partial = graded.results[PARTIAL.name]
    lost = {cell.grade_id for cell in partial.tests if cell.score != cell.max_score}
    assert lost == PARTIAL.loses
    assert all(cell.score == 0 for cell in partial.tests if cell.grade_id in lost)
    assert partial.score == graded.run.max_score - sum(
        cell.max_score for cell in partial.tests if cell.grade_id in lost)


@pytest.mark.slow
def test_the_students_own_module_is_graded_not_the_instructors(graded):
    # exclude_overwriting: autograde must keep the student's layers.py.
    layers = graded.out / "autograded" / PARTIAL.name / "fcnet" / "nnkit" / "layers.py"
    assert 'raise NotImplementedError("affine_backward' in layers.read_text()
    cell = next(c for c in graded.results[PARTIAL.name].tests if c.grade_id == "fc_affine_backward")
    assert cell.score == 0 and "NotImplementedError" in cell.message


@pytest.mark.slow
def test_grades_csv_has_one_row_per_entry_including_the_broken_one(graded):
    rows = read_csv(graded.out / "grades.csv")
    assert [row["student_id"] for row in rows] == sorted(
        ["reference", "blank", PARTIAL.name, "Broken_Zip"])
    broken = next(row for row in rows if row["student_id"] == "Broken_Zip")
    assert broken["status"].startswith("failed: not a readable zip file")
    assert "student id changed from 'Broken Zip'" in broken["status"]
    assert {row["max_score"] for row in rows} == {f"{graded.run.max_score:g}"}


@pytest.mark.slow
def test_scores_csv_has_every_test_cell_of_every_graded_student(graded):
    rows = read_csv(graded.out / "scores.csv")
    test_cells = len(graded.results["reference"].tests)
    for student in ["reference", "blank", PARTIAL.name]:
        assert sum(row["student_id"] == student for row in rows) == test_cells


@pytest.mark.slow
def test_feedback_page_per_notebook_for_every_graded_student(graded):
    for student in ["reference", "blank", PARTIAL.name]:
        pages = sorted(path.name for path in (graded.out / "feedback" / student / "fcnet").glob("*.html"))
        assert pages == sorted(name.replace(".ipynb", ".html") for name in MANIFEST.notebooks)
    assert not (graded.out / "feedback" / "Broken_Zip").exists()


@pytest.mark.slow
def test_feedback_shows_each_hidden_checks_call_and_verdict_but_none_of_its_code(graded):
    secrets = ["ANSWER_KEY", "answer_checks", "ctx.compare", "reference_package", "REFERENCE_DIR",
               "student_process", "default_rng", "@check("]
    for page in (graded.out / "feedback" / "blank" / "fcnet").glob("*.html"):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        assert "autograder.checks.run(" in text, page.name
        assert [secret for secret in secrets if secret in text] == [], page.name
    text = html.unescape(re.sub(r"<[^>]+>", "", (graded.out / "feedback" / "reference" / "fcnet" /
                                                 "FullyConnectedNets.html").read_text()))
    assert "hidden check fc_affine_forward: passed" in text


@pytest.mark.slow
def test_feedback_shows_no_complaint_of_the_sandbox_about_fonts(graded):
    """The kernel gets matplotlib's font list: without it, every notebook's pyplot import
    rebuilt the list and fontconfig, whose settings the sandbox hides, printed an error."""
    for page in (graded.out / "feedback" / "reference" / "fcnet").glob("*.html"):
        text = page.read_text()
        assert "Fontconfig" not in text and "Matplotlib created a temporary" not in text, page.name


@pytest.mark.slow
def test_gradebook_holds_the_students_submissions_and_grades(graded):
    with Gradebook(graded.run.paths.db_url) as gradebook:
        assert sorted(student.id for student in gradebook.students) == sorted(graded.results)
        submission = gradebook.find_submission("fcnet", "reference")
        auto = {grade.name: grade.auto_score for notebook in submission.notebooks
                for grade in notebook.grades}
        for cell in graded.results["reference"].tests:
            assert auto[cell.grade_id] == cell.score


@pytest.mark.slow
def test_report_and_histogram_are_written(graded):
    report = (graded.out / "report.md").read_text()
    assert "score_histogram.png" in report and "## Per question" in report
    assert "- Isolation: student code runs in a bubblewrap sandbox" in report
    attention = report.split("## Needs attention")[1].split("### Written answers not graded")[0]
    assert "Broken_Zip" in attention and "blank" in attention and "reference" not in attention
    waiting = report.split("### Written answers not graded yet")[1].split("## Per question")[0]
    reference = next(line for line in waiting.splitlines() if line.startswith("- reference: "))
    assert "fc_q1_explain" in reference and "opt_q1_explain" in reference
    assert "blank" not in waiting  # answers left as released score 0 by themselves
    assert (graded.out / "score_histogram.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_submissions_folder_is_never_modified(graded):
    assert tree_digest(graded.submissions) == graded.before


@pytest.fixture(scope="module")
def regraded(graded):
    """The same output folder graded again (not only continued: --regrade-all), with only
    some of the students."""
    out = graded.tmp / "out-again"
    shutil.copytree(graded.out, out)
    again = graded.tmp / "submissions-again"
    again.mkdir()
    for name in ["blank.zip", BROKEN]:
        shutil.copy2(graded.submissions / name, again / name)
    run = grade_folder(REPO, MANIFEST, again, out, workers=1, regrade_all=True,
                       say=lambda *_: None)
    return SimpleNamespace(run=run, out=out)


def without_seeds(rows):
    """Rows of scores.csv with the seeds in messages blanked: every run draws new inputs."""
    return [{**row, "message": re.sub(r"seed \d+", "seed N", row["message"])} for row in rows]


@pytest.mark.slow
def test_grading_again_updates_rows_and_loses_none(graded, regraded):
    assert read_csv(regraded.out / "grades.csv") == read_csv(graded.out / "grades.csv")
    scores = read_csv(regraded.out / "scores.csv")
    assert without_seeds(scores) == without_seeds(read_csv(graded.out / "scores.csv"))
    assert len({(row["student_id"], row["grade_id"]) for row in scores}) == len(scores)
    with Gradebook(regraded.run.paths.db_url) as gradebook:
        assert len(gradebook.students) == 4
        assert len(gradebook.assignment_submissions("fcnet")) == 4


@pytest.mark.slow
def test_a_hanging_cell_is_stopped_and_the_notebook_graded_with_nothing_left_running(
        tmp_path, datasets_dir):
    notebook = nbformat.read(REPO / "release" / "fcnet" / "Dropout.ipynb", as_version=4)
    number, first_code = next((number, cell) for number, cell in enumerate(notebook.cells, 1)
                              if cell.cell_type == "code")
    first_code.source = "while True:\n    pass"
    make_zip(tmp_path / "subs" / "hangs.zip", {"Dropout.ipynb": nbformat.writes(notebook).encode()})
    bundle = build_bundle(REPO, MANIFEST, tmp_path / "template")
    entry = entries(tmp_path / "subs")[0]
    task = GradingTask(entry, read_handed_in(entry, MANIFEST), bundle.digest, datasets_dir,
                       assess(None, MANIFEST.due, MANIFEST.late_policy))
    result = grade_submission(task, bundle.unpacked(tmp_path / "bundles"), tmp_path / "task")
    assert result.graded and f"timed out in Dropout.ipynb cell {number}" in result.status
    left = [process.info for process in psutil.process_iter(["pid", "cwd", "cmdline"])
            if str(tmp_path) in (process.info["cwd"] or "")
            or any(str(tmp_path) in part for part in process.info["cmdline"] or [])]
    assert left == []


def test_a_grader_bug_fails_only_its_submission_and_says_where_it_happened(
        tmp_path, datasets_dir, monkeypatch):
    def scan_crashes(*args):
        raise SystemError("AST constructor recursion depth mismatch (before=48, after=63)")
    monkeypatch.setattr(task_module, "flag_grader_access", scan_crashes)
    make_zip(tmp_path / "subs" / "ann.zip", {"FullyConnectedNets.ipynb":
                                             (REPO / "release" / "fcnet" / "FullyConnectedNets.ipynb").read_bytes()})
    bundle = build_bundle(REPO, MANIFEST, tmp_path / "template")
    entry = entries(tmp_path / "subs")[0]
    task = GradingTask(entry, read_handed_in(entry, MANIFEST), bundle.digest, datasets_dir,
                       assess(None, MANIFEST.due, MANIFEST.late_policy))
    result = grade_in(bundle.unpacked(tmp_path / "bundles"), task, tmp_path / "tasks")
    assert result.grader_fault and not result.graded
    assert re.match(r"failed: grading crashed \(SystemError: AST constructor recursion depth "
                    r"mismatch \(before=48, after=63\), in grade_submission "
                    r"\(autograder/grading/task\.py, line \d+\)\)", result.status)
    assert list((tmp_path / "tasks").iterdir()) == []  # its scratch folder removed all the same


# --- command-line validation ----------------------------------------------------------------

def grade_command(tmp_path, *options, assignment="fcnet", submissions="subs", out="out"):
    """`autograder grade` on tmp_path/<submissions> (holding alice.zip, if it is made here)."""
    folder = tmp_path / submissions
    if submissions == "subs":
        folder.mkdir()
        (folder / "alice.zip").write_bytes(b"")
    return autograder_main(["grade", assignment, "--submissions", str(folder),
                            "--out", str(tmp_path / out), "--root", str(REPO), *options])


def test_grade_rejects_an_unknown_assignment(tmp_path, capsys):
    assert grade_command(tmp_path, assignment="nosuch") == 1
    assert "nosuch" in capsys.readouterr().err


def test_grade_rejects_a_missing_submissions_folder(tmp_path, capsys):
    assert grade_command(tmp_path, submissions="absent") == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_grade_rejects_an_output_folder_inside_the_submissions(tmp_path, capsys):
    assert grade_command(tmp_path, out="subs/out") == 1
    assert "inside the submissions folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "subs").iterdir()) == ["alice.zip"]


def test_grade_rejects_missing_datasets(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NNKIT_DATA_DIR", str(tmp_path / "no-data"))
    assert grade_command(tmp_path) == 1
    assert "no cifar-10-batches-py in" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_grade_refuses_datasets_whose_fast_load_cache_cannot_be_made(tmp_path, capsys, monkeypatch):
    (tmp_path / "copied-data" / "cifar-10-batches-py").mkdir(parents=True)  # the batches left out
    monkeypatch.setenv("NNKIT_DATA_DIR", str(tmp_path / "copied-data"))
    assert grade_command(tmp_path) == 1
    error = capsys.readouterr().err
    assert "could not write the fast-load cache" in error and "data_batch_1" in error
    assert "run `make data`" in error
    assert not (tmp_path / "out").exists()


def test_the_data_step_s_cache_is_confirmed_before_grading(datasets_dir):
    said = []
    ensure_data_cache(REPO, MANIFEST, datasets_dir, say=said.append)
    assert len(said) == 1 and said[0].endswith("is up to date; nothing to do.")


def test_grade_rejects_a_name_pattern_without_a_student_id(tmp_path, capsys):
    assert grade_command(tmp_path, "--name-pattern", r"(?P<name>\w+)\.zip") == 1
    assert "has no (?P<student_id>...) group" in capsys.readouterr().err


def test_grade_rejects_a_layout_that_reads_none_of_the_download(tmp_path, capsys):
    assert grade_command(tmp_path, "--lms", "canvas") == 1
    error = capsys.readouterr().err
    assert "none of the 1 entries of" in error
    assert "is a Canvas submission (name[_LATE]_userid_fileid_filename), e.g. alice.zip" in error
    assert not (tmp_path / "out").exists()


def test_grade_rejects_an_empty_download(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert grade_command(tmp_path, submissions="empty") == 1
    assert "holds no submissions" in capsys.readouterr().err


@pytest.mark.parametrize("option, text, message", [
    ("--times", "student_id,submitted_at\nbob,2026-12-18T10:00Z\n",
     "none of the 1 students in"),
    ("--extensions", "student_id,due\nalice,2026-12-20\n", "line 2: due '2026-12-20' has no time"),
    ("--timezone", None, "--timezone 'Mars/Olympus' is not a time zone name"),
])
def test_grade_rejects_deadline_inputs_it_cannot_use(tmp_path, capsys, option, text, message):
    value = "Mars/Olympus"
    if text is not None:
        value = str(tmp_path / "file.csv")
        (tmp_path / "file.csv").write_text(text)
    assert grade_command(tmp_path, option, value) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- finding and unpacking submissions ------------------------------------------------------

def notebook_bytes() -> bytes:
    return nbformat.writes(new_notebook(cells=[new_code_cell("x = 1")])).encode()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def entries(folder: Path):
    return read_download(folder).entries


def test_student_ids_are_made_safe_and_unique(tmp_path):
    for name in ["Jane Doe.zip", "jane_doe.zip", "c*l.zip", ".DS_Store"]:
        (tmp_path / name).write_bytes(b"")
    for name in ["bob", "__MACOSX"]:
        (tmp_path / name).mkdir()
    found = entries(tmp_path)
    assert [entry.student_id for entry in found] == ["Jane_Doe", "bob", "c_l", "jane_doe-2"]
    assert [bool(entry.notes) for entry in found] == [True, False, True, True]
    assert "'Jane Doe'" in found[0].notes[0]


def test_unsafe_zip_members_are_skipped_and_reported(tmp_path):
    zip_path = make_zip(tmp_path / "mallory.zip", {
        "FullyConnectedNets.ipynb": notebook_bytes(),
        "nnkit/layers.py": b"# mine\n",
        "../escaped.py": b"boom",
        "/etc/absolute.py": b"boom",
        "nnkit/../../up.py": b"boom",
    })
    target = tmp_path / "target" / "fcnet"
    unpacked = unpack(entries(tmp_path)[0], MANIFEST, target)
    assert sorted(unpacked.present) == ["FullyConnectedNets.ipynb", "nnkit/layers.py"]
    assert len([note for note in unpacked.notes if "unsafe zip member" in note]) == 3
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["mallory.zip", "target/fcnet/FullyConnectedNets.ipynb",
                       "target/fcnet/nnkit/layers.py"]
    assert zip_path.is_file()


def test_a_zip_of_the_whole_folder_is_unwrapped(tmp_path):
    make_zip(tmp_path / "alice.zip", {"fcnet/FullyConnectedNets.ipynb": notebook_bytes(),
                                      "fcnet/nnkit/optim.py": b"# mine\n",
                                      "fcnet/README.md": b"extra"})
    unpacked = unpack(entries(tmp_path)[0], MANIFEST, tmp_path / "target")
    assert sorted(unpacked.present) == ["FullyConnectedNets.ipynb", "nnkit/optim.py"]
    assert "best_model.npz" in unpacked.missing


def test_only_handed_in_files_are_taken_from_a_folder(tmp_path):
    student = tmp_path / "subs" / "carol"
    (student / "nnkit").mkdir(parents=True)
    (student / "autograder").mkdir()
    (student / "Dropout.ipynb").write_bytes(notebook_bytes())
    (student / "nnkit" / "layers.py").write_text("# mine\n")
    (student / "autograder" / "checks.py").write_text("# would shadow the hidden checks\n")
    (student / "numpy.py").write_text("# would shadow numpy\n")
    unpack(entries(tmp_path / "subs")[0], MANIFEST, tmp_path / "target")
    written = sorted(p.relative_to(tmp_path / "target").as_posix()
                     for p in (tmp_path / "target").rglob("*") if p.is_file())
    assert written == ["Dropout.ipynb", "nnkit/layers.py"]


def test_an_unreadable_notebook_is_graded_as_missing(tmp_path):
    make_zip(tmp_path / "dave.zip", {"Dropout.ipynb": b"{not json",
                                     "Optimizers.ipynb": notebook_bytes()})
    unpacked = unpack(entries(tmp_path)[0], MANIFEST, tmp_path / "target")
    assert unpacked.present == ["Optimizers.ipynb"]
    assert any("Dropout.ipynb is not a readable notebook" in note for note in unpacked.notes)


def test_an_invalid_zip_raises_a_submission_error(tmp_path):
    (tmp_path / "eve.zip").write_bytes(b"PK but not really")
    with pytest.raises(SubmissionError, match="not a readable zip file"):
        unpack(entries(tmp_path)[0], MANIFEST, tmp_path / "target")


# --- our nbgrader preprocessors and the configuration ------------------------------------

def test_config_registers_the_grading_settings():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert config.Autograde.autograde_preprocessors == autograde_pipeline()
    assert config.Autograde.sanitize_preprocessors == sanitize_pipeline()
    assert config.OverwriteCells.add_missing_cells is True
    assert {"nnkit/layers.py", "best_model.npz"} <= set(config.Autograde.exclude_overwriting["fcnet"])
    assert config.Execute.startup_timeout > 60
    assert Path(config.ExecuteWithinLimits.cell_times["fcnet"]).is_file()


def test_our_steps_sit_where_they_must_in_nbgraders_pipelines():
    steps = autograde_pipeline()
    assert Execute not in steps and issubclass(ExecuteWithinLimits, Execute)
    assert steps[steps.index(ExecuteWithinLimits) - 1] is SkipSlowCells
    assert steps[steps.index(SaveAutoGrades) + 1: steps.index(SaveAutoGrades) + 3] == [
        HoldSkippedGrades, RequireHiddenVerdicts]
    assert steps[-1] is NeutraliseActiveContent  # once every grade is saved
    sanitize = sanitize_pipeline()
    assert sanitize[sanitize.index(OverwriteCells) - 1] is ForgetUnknownCells


def graded_cell(source, grade_id, tags=()):
    cell = new_code_cell(source, metadata={"tags": list(tags)})
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True,
                                 "points": 2, "schema_version": 3, "solution": False,
                                 "task": False}
    return cell


def test_skip_slow_cells_comments_out_tagged_code_only():
    notebook = new_notebook(cells=[
        new_code_cell("train()\nplot()", metadata={"tags": ["slow"]}),
        graded_cell("assert accuracy > 0.5", "acc_check", tags=["slow"]),
        new_code_cell("quick()"),
        new_markdown_cell("*slow* prose", metadata={"tags": ["slow"]}),
    ])
    notebook, resources = SkipSlowCells().preprocess(notebook, {})
    skipped = notebook.cells[0].source.splitlines()
    assert skipped[0].startswith("# Skipped by the autograder")
    assert skipped[-2:] == ["# train()", "# plot()"]
    assert "graded by a TA" in notebook.cells[1].source
    assert [cell.source for cell in notebook.cells[2:]] == ["quick()", "*slow* prose"]
    assert resources["autograder_skipped_grade_ids"] == ["acc_check"]
    compile(notebook.cells[0].source, "skipped", "exec")  # nothing left to run


@pytest.fixture
def small_gradebook(tmp_path, monkeypatch):
    """A gradebook with assignment a1, notebook nb with test cell acc_check, and a
    submission by student ann that SaveAutoGrades gave full points."""
    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])  # nbgrader runs `alembic` to create it
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db_url) as gradebook:
        gradebook.add_assignment("a1")
        gradebook.add_notebook("nb", "a1")
        gradebook.add_grade_cell("acc_check", "nb", "a1", max_score=2, cell_type="code")
        gradebook.add_source_cell("acc_check", "nb", "a1", cell_type="code", source="",
                                  locked=True)
        gradebook.add_student("ann")
        with pytest.warns(SAWarning):  # nbgrader's add_submission; the rows are saved
            gradebook.add_submission("a1", "ann")
        grade = gradebook.find_grade("acc_check", "nb", "a1", "ann")
        grade.auto_score, grade.needs_manual_grade = 2.0, False
        gradebook.db.commit()
    return {"db_url": db_url, "notebook": "nb", "assignment": "a1", "student": "ann"}


def test_a_skipped_test_cell_gets_no_automatic_score(small_gradebook):
    resources = {"nbgrader": small_gradebook, "autograder_skipped_grade_ids": ["acc_check"]}
    HoldSkippedGrades().preprocess(new_notebook(), resources)
    with Gradebook(small_gradebook["db_url"]) as gradebook:
        grade = gradebook.find_grade("acc_check", "nb", "a1", "ann")
        assert grade.auto_score is None and grade.needs_manual_grade


@pytest.mark.parametrize("status, kept", [("passed", 2.0), ("failed", 0.0), ("error", 0.0)])
def test_the_hidden_verdict_decides_a_test_cells_points(small_gradebook, tmp_path, status, kept):
    verdicts = tmp_path / "verdicts.json"
    verdicts.write_text(json.dumps({"complete": True, "verdicts": {
        "acc_check": {"status": status, "message": "- why", "notes": [], "modules": []}}}))
    step = RequireHiddenVerdicts(verdicts_file=str(verdicts))
    step.preprocess(new_notebook(cells=[graded_cell("pass", "acc_check")]),
                    {"nbgrader": small_gradebook})
    with Gradebook(small_gradebook["db_url"]) as gradebook:
        assert gradebook.find_grade("acc_check", "nb", "a1", "ann").auto_score == kept


def executed(cells, **settings):
    """The notebook of `cells` run by ExecuteWithinLimits; [[text or error name per output]
    per cell], and the stops it recorded."""
    notebook = new_notebook(cells=cells)
    step = ExecuteWithinLimits(kernel_name="python3", **settings)
    step.preprocess(notebook, {"metadata": {"path": str(REPO)}})
    KERNELS.finish()
    outputs = [[output.get("text") or output.get("ename") for output in cell.outputs]
               for cell in notebook.cells]
    return notebook, outputs, step._log.stops


def test_a_cell_that_ends_its_kernel_between_graded_cells_costs_only_that_cell():
    notebook, outputs, stops = executed([
        new_code_cell("x = 41"), graded_cell("print(x)", "above"),
        new_code_cell("import os; os._exit(1)"), graded_cell("print(x + 1)", "after_exit"),
        new_code_cell("exit()"), graded_cell("print(x + 2)", "after_exit_call"),
        new_code_cell("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
        new_code_cell("print('still', x)")])
    assert outputs == [[], ["41\n"], [KERNEL_DIED_ERROR], ["42\n"], [KERNEL_DIED_ERROR],
                       ["43\n"], [KERNEL_DIED_ERROR], ["still 41\n"]]
    # The graded cell above the deaths is still the graded cell it was (the replay in a new
    # kernel once put metadata-less copies in its place, and its points were lost).
    assert notebook.cells[1].metadata.nbgrader["grade_id"] == "above"
    assert [(stop.cell, stop.kind) for stop in stops] == [(3, "kernel died"), (5, "kernel died"),
                                                        (7, "kernel died")]


def kernels() -> set[int]:
    """PIDs of the kernels this test process started that have not been waited for."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE or "ipykernel_launcher" in child.cmdline():
                found.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def ended_unwaited(process: psutil.Process, seconds: float = 30) -> bool:
    """Whether the process ends within `seconds` and is left for its parent to collect."""
    deadline = time.monotonic() + seconds
    while process.status() != psutil.STATUS_ZOMBIE:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_kernels_start_ahead_end_beside_the_next_notebook_and_none_is_left_over():
    step = lambda: ExecuteWithinLimits(  # noqa: E731 - nbgrader makes one per notebook
        kernel_name="python3", notebooks={"a1": ["one.ipynb", "two.ipynb", "three.ipynb"]})
    resources = lambda name: {"metadata": {"path": str(REPO)},  # noqa: E731
                              "nbgrader": {"assignment": "a1", "notebook": name}}
    kernel_started = new_code_cell("import psutil; print(psutil.Process().create_time())")
    before = kernels()
    one = new_notebook(cells=[new_code_cell("import os; print(os.getpid())")])
    step().preprocess(one, resources("one"))
    one_kernel = psutil.Process(int(one.cells[0].outputs[0].text))
    two_began = time.time()
    two = new_notebook(cells=[kernel_started, new_code_cell("print(x)")])
    step().preprocess(two, resources("two"))
    assert float(two.cells[0].outputs[0].text) < two_began  # started while one ran
    assert two.cells[1].outputs[0].ename == "NameError"  # a kernel of its own, all the same
    assert ended_unwaited(one_kernel)  # asked to shut down when one was done, not waited for
    step().preprocess(new_notebook(cells=[new_code_cell("x = 3")]), resources("three"))
    KERNELS.finish()
    assert kernels() == before  # three was the last: nothing was started ahead of it

    step().preprocess(new_notebook(cells=[new_code_cell("x = 1")]), resources("one"))
    KERNELS.finish()  # two was never handed in: the kernel started for it ends too
    assert kernels() == before


@pytest.mark.slow
def test_a_hung_cell_times_out_alone_and_later_cells_get_a_tight_limit():
    """Default limits: the first hang gets the floor, the next a third of it; a loop that
    ignores the interrupt gets a new kernel, which runs the cells above again."""
    notebook, outputs, stops = executed([
        new_code_cell("x = 41\ndef hang():\n    while True:\n        pass"),
        new_code_cell("hang()"), graded_cell("print(x)", "after_hang"),
        new_code_cell("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nhang()"),
        graded_cell("print(x + 1)", "after_stubborn")])
    assert outputs == [[], [TIMEOUT_ERROR], ["41\n"], [TIMEOUT_ERROR], ["42\n"]]
    first, second = (notebook.cells[index].outputs[0].evalue for index in (1, 3))
    assert first.startswith("timed out after 10 s") and "in hang (defined in the notebook" in first
    assert second.startswith("timed out after 4 s") and "did not stop when interrupted" in second
    assert [(stop.cell, stop.kind) for stop in stops] == [(2, "timed out"), (4, "timed out")]


def test_when_the_time_budget_runs_out_the_cells_left_are_not_run_and_say_why():
    """With a floor of 1 s (`--cell-timeout 1`), a notebook's budget is 6 s."""
    _, outputs, stops = executed([new_code_cell("import time; time.sleep(0.9)") for _ in range(8)]
                                 + [graded_cell("print(1)", "late")], cell_floor=1.0)
    assert outputs[-1] == [NOT_RUN_ERROR]
    assert stops[-1].kind == "not run" and stops[-1].reason == "this notebook's time budget of 6 s ran out"


def test_output_is_cut_as_it_arrives_but_what_decides_the_grade_is_kept():
    _, outputs, stops = executed([graded_cell(
        'for _ in range(40):\n    print("x" * 100_000)\nimport sys\nprint("bad", file=sys.stderr)',
        "floods")])
    stdout, notice, stderr = outputs[0]
    assert len(stdout) == 2_000_000 and "output cut" in notice and stderr == "bad\n"
    assert [stop.kind for stop in stops] == ["output cut"]


def test_cells_with_grade_ids_the_assignment_lacks_become_plain_cells(small_gradebook):
    duplicate = new_code_cell("check()", metadata={"nbgrader": {}})  # as DeduplicateIds leaves it
    notebook = new_notebook(cells=[graded_cell("check()", "acc_check"),
                                   graded_cell("old_check()", "removed_since_release"), duplicate])
    notebook, _ = ForgetUnknownCells().preprocess(notebook, {"nbgrader": small_gradebook})
    assert notebook.cells[0].metadata.nbgrader["grade_id"] == "acc_check"
    assert "nbgrader" not in notebook.cells[1].metadata
    assert notebook.cells[1].source == "old_check()"
    assert "nbgrader" not in notebook.cells[2].metadata


# --- samples and the check ------------------------------------------------------------------

def test_a_partial_module_reverts_only_the_named_function():
    source = (REPO / "source" / "fcnet" / "nnkit" / "layers.py").read_text()
    reverted = _reverted_module(source, "affine_backward", "layers.py")
    assert reverted.count("raise NotImplementedError(") == 1
    assert 'raise NotImplementedError("affine_backward' in reverted
    assert "BEGIN SOLUTION" not in reverted and "END SOLUTION" not in reverted
    compile(reverted, "layers.py", "exec")


def result_with(student, scores):
    cells = tuple(CellResult("nb", grade_id, "test", score, 2.0)
                  for grade_id, score in scores.items())
    return GradingResult(student, f"{student}.zip", "ok", cells)


def test_each_partial_loses_the_cells_whose_checks_declare_its_work():
    assert {p.name: p.loses for p in partials(REPO, MANIFEST)} == {
        "partial_affine_backward": {"fc_affine_backward"},
        "partial_adam": {"fc_adam", "opt_adam"},
        "partial_fc_q1_answer": {"fc_q1_choice"},
    }


def test_check_reports_every_score_that_differs_from_the_expected_one():
    samples = [Sample("reference", {}), Sample("blank", {}, loses_everything=True),
               Sample(PARTIAL.name, {}, frozenset({"a"}), undoes=PARTIAL.undoes)]
    results = [result_with("reference", {"a": 2.0, "b": 0.0}),
               result_with("blank", {"a": 0.0, "b": 2.0}),
               result_with(PARTIAL.name, {"a": 0.0, "b": 0.0})]
    problems = score_problems(samples, results, "fcnet")
    assert len(problems) == 3
    assert problems[0].startswith("reference: b scored 0 of 2")
    assert problems[1].startswith("blank: b scored 2 of 2")
    assert problems[2].startswith(f"{PARTIAL.name}: b scored 0 of 2, yet it only undoes")
    good = [result_with("reference", {"a": 2.0, "b": 2.0}),
            result_with("blank", {"a": 0.0, "b": 0.0}),
            result_with(PARTIAL.name, {"a": 0.0, "b": 2.0})]
    assert score_problems(samples, good, "fcnet") == []


# --- limits: time, output, the execution log, what travels into OUT -------------------------

def test_cell_limits_follow_the_references_time_with_a_floor_and_tighten_after_a_timeout():
    measured = NotebookTimes("fp", [MeasuredCell("slow_check", "c1", "s1", 4.0),
                                    MeasuredCell(None, "c2", source_digest("quick()"), 0.01)])
    limits = NotebookLimits(measured)
    graded = graded_cell("anything", "slow_check")
    renamed = new_code_cell("quick()")  # an editor renewed its id: found by its source
    added = new_code_cell("print('mine')")  # the student's own cell: the floor
    assert [limits.cell(cell) for cell in (graded, renamed, added)] == [40.0, 10.0, 10.0]
    assert limits.budget == 60.0  # 10 x 4.01 s is less than the notebook's floor
    limits.tight = True  # the floor drops most: a cell that needs long keeps a margin
    assert [round(limits.cell(cell), 2) for cell in (graded, added)] == [20.0, 3.33]


def test_cell_times_survive_a_round_trip_through_their_file(tmp_path):
    times = CellTimes({"a.ipynb": NotebookTimes("fp", [MeasuredCell("g", "i", "s", 1.5)])})
    times.dump(tmp_path / "cell_times.json", "a note")
    again = CellTimes.load(tmp_path / "cell_times.json")
    assert again.notebook("a.ipynb").cells == times.notebook("a.ipynb").cells
    assert again.notebook("a.ipynb").fingerprint == "fp" and again.notebook("b.ipynb") is None


def test_the_backstop_is_computed_from_the_inside_limits():
    times = CellTimes({"a.ipynb": NotebookTimes("fp", [MeasuredCell(None, "i", "s", 12.0)])})
    assert backstop(times, ["a.ipynb", "b.ipynb"], checks_budget=1000, max_restarts=3) == (
        120 + 60 + 2 * (4 * KERNEL_START + NOTEBOOK_OVERHEAD) + 1000)


def test_output_cap_keeps_what_decides_a_grade():
    cap = OutputCap(cell_limit=10)
    cap.start_cell()
    stream = lambda name, text: {"msg_type": "stream", "content": {"name": name, "text": text}}  # noqa: E731
    first, second = stream("stdout", "x" * 8), stream("stdout", "y" * 8)
    assert cap.admit(first) == (True, None)
    keep, notice = cap.admit(second)
    assert keep and second["content"]["text"] == "yy" and "output cut" in notice.text
    assert cap.admit(stream("stdout", "more")) == (False, None)
    stderr = stream("stderr", "e" * 5000)
    assert cap.admit(stderr)[0] and len(stderr["content"]["text"]) == 2000
    assert cap.admit(stream("stderr", "again"))[0] is False
    assert cap.admit({"msg_type": "error", "content": {}})[0]
    result = {"msg_type": "execute_result", "content": {"data": {"text/plain": "0.5", "image/png": "x" * 99}}}
    assert cap.admit(result)[0] and result["content"]["data"] == {"text/plain": "0.5"}


def test_status_notes_group_the_stops_by_kind_notebook_and_reason(tmp_path):
    log = ExecutionLog(tmp_path / "log.json", "A.ipynb")
    for cell in (3, 5, 6, 7):
        log.add(TIMED_OUT, cell, "stuck in f (m.py, line 1)")
    log.add(KERNEL_DIED, 9, "the notebook went on in a new kernel")
    later = ExecutionLog(tmp_path / "log.json", "B.ipynb")  # the next notebook reads the log
    assert later.timed_out
    later.add(NOT_RUN, 2, "budget")
    assert status_notes(tmp_path / "log.json") == [
        "timed out in A.ipynb cells 3, 5-7: stuck in f (m.py, line 1)",
        "kernel died in A.ipynb cell 9: the notebook went on in a new kernel",
        "not run in B.ipynb cell 2: budget"]


def test_the_execution_log_adds_up_each_stage_over_the_notebooks(tmp_path):
    first = ExecutionLog(tmp_path / "log.json", "A.ipynb")
    first.spent(KERNEL_START_STAGE, 0.5)
    first.spent(CELLS, 2.0)
    second = ExecutionLog(tmp_path / "log.json", "B.ipynb")
    second.spent(KERNEL_START_STAGE, 0.25)
    second.add(NOT_RUN, 2, "budget")
    assert read_seconds(tmp_path / "log.json") == {KERNEL_START_STAGE: 0.75, CELLS: 2.0}
    assert status_notes(tmp_path / "log.json") == ["not run in B.ipynb cell 2: budget"]


def test_grading_steps_report_a_failed_autograde_and_leave_nothing_running(tmp_path, monkeypatch):
    """One nbgrader child per submission, two steps: a failed first step is reported with
    nbgrader's own error, the second still answers, and after the block the child and
    what it started are gone. The next submission's child is forked from the same
    process, which imported nbgrader once. The grader waits for each step a second late, as
    a busy worker may: a step that failed fast has written its whole log by then, and the
    log says all of it."""
    wait_for_step = GradingSteps._step

    def wait_late(steps, *args):
        time.sleep(1)
        return wait_for_step(steps, *args)
    monkeypatch.setattr(GradingSteps, "_step", wait_late)
    servers = []
    for student in ("first", "second"):
        course_dir = tmp_path / student
        course_dir.mkdir()
        with GradingSteps(f"no_such_assignment_{student}", [], course_dir, nbgrader_env(),
                          tmp_path / f"{student}.log") as steps:
            autograde = steps.autograde(timeout=120)
            server = psutil.Process(steps._process.pid)
            children = server.children()  # the child waits for its word
            feedback = steps.feedback(timeout=120)
        servers.append(server)
        assert autograde.returncode != 0 and f"no_such_assignment_{student}" in autograde.log
        assert feedback.returncode != 0 and "GenerateFeedbackApp | ERROR" in feedback.log
        assert [child.pid for child in children] != []
        assert not any(child.is_running() for child in children)
        assert server.children() == []
    assert servers[0] == servers[1]


def test_grading_steps_fail_a_submission_whose_nbgrader_died_and_grade_the_next(tmp_path):
    """A child that dies in the middle of autograde (killed, out of memory) fails that step
    at once, with its exit code, instead of leaving the grader waiting for its timeout;
    feedback is refused, and the next submission is graded by the same process."""
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    (course_dir / "nbgrader_config.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    before = time.monotonic()
    with GradingSteps("killed", [], course_dir, nbgrader_env(), tmp_path / "killed.log") as steps:
        autograde = steps.autograde(timeout=120)
        with pytest.raises(NbgraderError, match=r"nbgrader ended after autograde \(exit code -9\)"):
            steps.feedback(timeout=120)
        server = psutil.Process(steps._process.pid)
    assert autograde.returncode == -9 and time.monotonic() - before < 60
    (tmp_path / "next").mkdir()
    with GradingSteps("next", [], tmp_path / "next", nbgrader_env(), tmp_path / "next.log") as steps:
        assert "No notebooks were matched" in steps.autograde(timeout=120).log
        assert steps._process.pid == server.pid


def test_only_the_manifests_files_and_nbgraders_travel_into_out(tmp_path):
    autograded = tmp_path / "scratch" / "autograded"
    for name in ("FullyConnectedNets.ipynb", "nnkit/layers.py", "best_model.npz", "timestamp.txt",
                 "filler.bin", "nnkit/solver.py", "nnkit/__pycache__/layers.pyc"):
        (autograded / name).parent.mkdir(parents=True, exist_ok=True)
        (autograded / name).write_text("x")
    result = GradingResult("ann", "ann.zip", "ok",
                           autograded_files=graded_files(autograded, MANIFEST))
    paths = OutputPaths(tmp_path / "out")
    copy_student_files(paths, MANIFEST, result)
    folder = paths.autograded / "ann" / "fcnet"
    assert sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()) == [
        "FullyConnectedNets.ipynb", "best_model.npz", "nnkit/layers.py", "timestamp.txt"]
