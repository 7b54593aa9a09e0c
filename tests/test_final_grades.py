"""Final grades from a graded folder (class_grades, export, answers import, --only), on a
small real nbgrader gradebook built here, with grades.csv rows written as the intake writes
them (name, submitted_at, due, late_hours, late_penalty). Fast: nothing is graded.

The end-to-end path (real grading, formgrader in a browser, feedback) is in
test_ta_grading.py.
"""
import csv
import datetime as dt
import shutil
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

from autograder.cli import main as autograder_main
from autograder.grading.answers import AnswersError, import_scores, write_answers_page
from autograder.grading.class_grades import ClassGradesError, read_class_grades
from autograder.grading.course import nbgrader_env
from autograder.grading.export import export_grades
from autograder.grading.records import OutputPaths, read_csv

REPO = Path(__file__).resolve().parents[1]
GRADES_FIELDS = ("student_id", "name", "score", "max_score", "status", "submitted_at", "due",
                 "late_hours", "late_penalty")
# a1/nb: test cell t1 (6 points), written answers q1 and q2 (2 points each): 10 in all.
STUDENTS = {  # student id: (name, t1 auto score, q1 state, q2 state, late_penalty, status)
    "100001": ("Doe, Jane", 6, "written", "written", "", "ok"),
    "100002": ("Roe, Rick", 3, "written", "blank", "0.25", "ok, but: late: 1 day"),
    "100003": ("Poe, Edgar", 6, "written", "written", "1", "ok, but: late: past the cut-off"),
    "100004": ("", None, None, None, "", "failed: not a readable zip file"),
}


@pytest.fixture
def out(made_out, tmp_path):
    """A fresh copy of made_out for each test."""
    shutil.copytree(made_out.root, tmp_path / "out")
    return OutputPaths(tmp_path / "out")


@pytest.fixture(scope="module")
def made_out(tmp_path_factory):
    """OUT as `autograder grade` leaves it for the students above: gradebook, grades.csv,
    autograded notebooks. q1/q2 "written": the student wrote an answer (waiting for a TA);
    "blank": left as released (nbgrader scored it 0)."""
    paths = OutputPaths(tmp_path_factory.mktemp("made") / "out")
    paths.root.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", nbgrader_env()["PATH"])  # nbgrader runs `alembic`
        add_submissions(paths)
    write_grades_csv(paths, [
        {"student_id": student_id, "name": name, "score": "" if t1 is None else t1,
         "max_score": 6, "status": status, "late_penalty": penalty}
        for student_id, (name, t1, _, _, penalty, status) in STUDENTS.items()])
    return paths


def add_submissions(paths):
    with Gradebook(paths.db_url) as gradebook, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Object of type .* not in session", SAWarning)
        gradebook.add_assignment("a1")
        gradebook.add_notebook("nb", "a1")
        gradebook.add_grade_cell("t1", "nb", "a1", max_score=6, cell_type="code")
        for answer in ("q1", "q2"):
            gradebook.add_grade_cell(answer, "nb", "a1", max_score=2, cell_type="markdown")
            gradebook.add_solution_cell(answer, "nb", "a1")
        for student_id, (_, t1, q1, q2, _, status) in STUDENTS.items():
            gradebook.add_student(student_id)
            gradebook.add_submission("a1", student_id)
            if status.startswith("failed"):
                continue
            gradebook.find_grade("t1", "nb", "a1", student_id).auto_score = t1
            for answer, state in (("q1", q1), ("q2", q2)):
                grade = gradebook.find_grade(answer, "nb", "a1", student_id)
                grade.auto_score = 0.0 if state == "blank" else None
            write_notebook(paths, student_id, q1=f"{student_id} answers q1", q2="")
        gradebook.db.commit()


def write_notebook(paths, student_id, **answers):
    cells = []
    for grade_id, text in answers.items():
        cell = new_markdown_cell(text)
        cell.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": grade_id,
                                     "points": 2, "locked": False, "schema_version": 3,
                                     "task": False}
        cells.append(cell)
    folder = paths.autograded / student_id / "a1"
    folder.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), folder / "nb.ipynb")


def write_grades_csv(paths, rows):
    with paths.grades_csv.open("w", newline="") as file:
        writer = csv.DictWriter(file, GRADES_FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)


def set_manual(paths, student_id, answer, score, comment=None):
    with Gradebook(paths.db_url) as gradebook:
        grade = gradebook.find_grade(answer, "nb", "a1", student_id)
        grade.manual_score, grade.needs_manual_grade = score, False
        if comment:
            gradebook.find_comment(answer, "nb", "a1", student_id).manual_comment = comment
        gradebook.db.commit()


def rows_of(path):
    with path.open(newline="") as file:
        return list(csv.reader(file))


# --- what a student's grade is ----------------------------------------------------------------

def test_written_answers_not_graded_leave_the_grade_incomplete_never_zero(out):
    grades = read_class_grades(out)
    assert grades.assignment == "a1" and grades.max_score == 10
    jane = grades.students[0]
    assert [cell.grade_id for cell in jane.waiting] == ["q1", "q2"]
    assert jane.final is None and jane.state.startswith("incomplete: 2 cell(s) wait for a TA")
    rick = grades.students[1]
    assert [cell.grade_id for cell in rick.waiting] == ["q1"]  # q2 untouched: nbgrader's 0


def test_final_grade_is_autograded_plus_written_less_the_late_penalty(out):
    set_manual(out, "100001", "q1", 2)
    set_manual(out, "100001", "q2", 1.5)
    set_manual(out, "100002", "q1", 1)
    grades = {s.student_id: s for s in read_class_grades(out).students}
    assert (grades["100001"].autograded, grades["100001"].written) == (6, 3.5)
    assert grades["100001"].final == 9.5
    assert grades["100002"].final == (3 + 1 + 0) * 0.75
    assert grades["100002"].late


def test_after_the_cut_off_the_grade_is_zero_even_with_answers_ungraded(out):
    edgar = next(s for s in read_class_grades(out).students if s.student_id == "100003")
    assert edgar.waiting and edgar.final == 0 and edgar.state == "final"


def test_a_ta_score_on_a_test_cell_and_extra_credit_count_as_nbgrader_counts_them(out):
    with Gradebook(out.db_url) as gradebook:
        grade = gradebook.find_grade("t1", "nb", "a1", "100002")
        grade.manual_score, grade.extra_credit = 5, 1
        gradebook.db.commit()
    set_manual(out, "100002", "q1", 2)
    rick = next(s for s in read_class_grades(out).students if s.student_id == "100002")
    assert rick.autograded == 6 and rick.final == (6 + 2) * 0.75


def test_a_bad_late_penalty_names_the_line_of_grades_csv(out):
    rows = read_csv(out.grades_csv)
    rows[2]["late_penalty"] = "25%"
    write_grades_csv(out, rows)
    with pytest.raises(ClassGradesError, match=r"grades.csv, line 4: late_penalty '25%'"):
        read_class_grades(out)


def test_grades_csv_without_the_intake_columns_means_no_penalty(out):
    rows = read_csv(out.grades_csv)
    with out.grades_csv.open("w", newline="") as file:
        writer = csv.DictWriter(file, ("student_id", "score", "max_score", "status"),
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert {s.late_penalty for s in read_class_grades(out).students} == {0}


# --- the exported files -----------------------------------------------------------------------

def test_export_writes_every_student_and_only_final_grades_to_the_lms_files(out):
    set_manual(out, "100001", "q1", 2)
    set_manual(out, "100001", "q2", 1.5)
    exported = export_grades(read_class_grades(out), out, canvas_column="Nets (4711)",
                             now=dt.datetime(2026, 12, 21, 9, 30, tzinfo=dt.timezone.utc))
    final = {row["student_id"]: row for row in read_csv(exported.final_csv)}
    assert [(row["final"], row["state"].split(":")[0]) for row in final.values()] == [
        ("9.5", "final"), ("", "incomplete"), ("0", "final"), ("", "not graded")]
    assert final["100002"]["late_penalty"] == "0.25" and final["100001"]["max_score"] == "10"
    assert rows_of(exported.canvas_csv) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Nets (4711)"],
        ["    Points Possible", "", "", "", "", "10"],
        ["Doe, Jane", "100001", "", "", "", "9.5"],
        ["Poe, Edgar", "100003", "", "", "", "0"]]
    assert rows_of(exported.moodle_csv) == [
        ["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)"],
        ["Participant 100001", "Doe, Jane", "9.5", "10", "2026-12-21 09:30:00 UTC"],
        ["Participant 100003", "Poe, Edgar", "0", "10", "2026-12-21 09:30:00 UTC"]]
    assert [s.student_id for s in exported.incomplete] == ["100002"]
    assert [s.student_id for s in exported.not_graded] == ["100004"]


def test_export_command_lists_the_students_without_a_final_grade(out, capsys):
    assert autograder_main(["export", str(out.root)]) == 0
    printed = capsys.readouterr().out
    assert "no final grade for 100002: incomplete" in printed
    assert "no final grade for 100004: not graded: failed" in printed
    report = out.report.read_text()
    assert "| 100002 | 3 | ok, but: late: 1 day; late penalty 25% |" in report
    assert "- 100002: q1\n" in report
    assert "| nb | q1 | written | 2 | not graded yet | 0/3 |" in report


# --- question by question -----------------------------------------------------------------------

def test_answers_page_shows_every_answer_cleaned_and_a_sheet_to_fill(out):
    write_notebook(out, "100005", q1="**bold** claim <script>alert('x')</script>", q2="")
    with Gradebook(out.db_url) as gradebook, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Object of type .* not in session", SAWarning)
        gradebook.add_student("100005")
        gradebook.add_submission("a1", "100005")
    rows = read_csv(out.grades_csv) + [{"student_id": "100005", "status": "ok"}]
    write_grades_csv(out, rows)
    page, sheet = write_answers_page(read_class_grades(out), out, "q1")
    text = page.read_text()
    assert all(f"{s} answers q1" in text for s in ("100001", "100002", "100003"))
    assert "<strong>bold</strong> claim" in text and "<script>" not in text
    assert "Did not hand in nb.ipynb (0 points): 100004" in text
    assert rows_of(sheet)[:2] == [["student_id", "question", "score", "comment"],
                                  ["100001", "q1", "", ""]]


def test_answers_page_refuses_a_cell_that_is_not_a_written_answer(out):
    with pytest.raises(AnswersError, match="'t1' is not a written answer of a1; they are q1, q2"):
        write_answers_page(read_class_grades(out), out, "t1")


def test_import_sets_scores_and_comments_as_formgrader_would(out, tmp_path):
    sheet = tmp_path / "scores.csv"
    sheet.write_text('student_id,question,score,comment\n100001,q1,2,"Clear,\nand right"\n'
                     "100001,q2,,only a comment\n100002,q1,0.5,\n")
    imported = import_scores(out, sheet)
    assert (imported.scores, imported.comments) == (2, 2)
    cells = {(s.student_id, c.grade_id): c for s in read_class_grades(out).students
             for c in s.cells}
    assert (cells["100001", "q1"].score, cells["100001", "q1"].comment) == (2, "Clear,\nand right")
    assert cells["100001", "q2"].waiting and cells["100001", "q2"].comment == "only a comment"
    assert cells["100002", "q1"].score == 0.5


def test_a_scores_file_with_errors_names_each_line_and_writes_nothing(out, tmp_path):
    before = out.gradebook.read_bytes()
    sheet = tmp_path / "scores.csv"
    sheet.write_text("student_id,question,score,comment\n"
                     "100001,q1,2,fine\n"          # line 2: good, yet not written
                     "999999,q1,1,\n"              # line 3: unknown student
                     "100001,q7,1,\n"              # line 4: unknown question
                     "100001,t1,1,\n"              # line 5: a test cell
                     "100002,q1,2.5,\n"            # line 6: above the maximum
                     "100002,q2,-1,\n"             # line 7: negative
                     "100003,q1,two,\n"            # line 8: not a number
                     "100001,q1,1,\n"              # line 9: repeated
                     "100004,q1,1,\n")             # line 10: no graded submission
    with pytest.raises(AnswersError) as error:
        import_scores(out, sheet)
    message = str(error.value)
    for line, phrase in [(3, "unknown student '999999'"), (4, "'q7' is not a question of a1"),
                         (5, "'t1' is an autograded test cell"),
                         (6, "score 2.5 is above the maximum 2 of q1"),
                         (7, "score -1 is negative"), (8, "score 'two' is not a number"),
                         (9, "100001 and q1 are already on line 2"),
                         (10, "100004 did not hand in nb.ipynb")]:
        assert f"scores.csv, line {line}: {phrase}" in message
    assert "line 2:" not in message and message.startswith("8 problem(s), nothing was imported")
    assert out.gradebook.read_bytes() == before


def test_import_command_reports_a_missing_column(out, tmp_path, capsys):
    sheet = tmp_path / "scores.csv"
    sheet.write_text("student,question,points\n100001,q1,2\n")
    assert autograder_main(["import-scores", str(out.root), str(sheet)]) == 1
    assert "line 1: the header lacks student_id, score" in capsys.readouterr().err


# --- regrading chosen students --------------------------------------------------------------------

def test_only_refuses_an_id_that_is_not_in_the_submissions(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "alice.zip").write_bytes(b"")
    assert autograder_main(["grade", "fcnet", "--submissions", str(tmp_path / "subs"),
                            "--out", str(tmp_path / "out"), "--root", str(REPO),
                            "--only", "alice", "bob"]) == 1
    assert "--only names 'bob', not a student of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
