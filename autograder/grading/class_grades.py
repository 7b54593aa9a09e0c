"""Where every student stands, read from a graded output folder: the one source for the
export, the report and the question-by-question tools.

    grades = read_class_grades(OutputPaths(out))
    grades.assignment, grades.max_score               # "hw1", 99
    for student in grades.students:
        student.autograded, student.written, student.waiting, student.final

Points come from the gradebook TAs grade in (formgrader or `autograder import-scores`):
OUT/gradebook.db, or the PostgreSQL database OUT records (gradebook.py): nbgrader's own score of each cell, so a TA's manual score
overrides an automatic one and extra credit counts. Everything else comes from
OUT/grades.csv, one row per entry graded: the status, and, when the intake wrote them, the
student's display `name` and the `late_penalty` (a fraction of the points taken away, 1
after the cut-off).

A cell is *waiting* when it needs a person's score and has none: a written answer the student
filled in (nbgrader gives an untouched answer 0 by itself), or a test cell skipped as slow.
Cells of a notebook the student did not hand in score 0 and never wait. A student with a
waiting cell has no final grade yet: never a silent 0 for work nobody graded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from nbgrader.api import (Assignment, BaseCell, Comment, Grade, Notebook, SubmittedAssignment,
                          SubmittedNotebook)

from .gradebook import open_gradebook
from .records import OutputPaths, read_csv
from .task import FAILED

TEST, ANSWER = "test", "answer"


class ClassGradesError(ValueError):
    """The output folder cannot be read; the message names the file and says why."""


@dataclass(frozen=True)
class CellGrade:
    notebook: str
    grade_id: str
    kind: str                 # TEST (scored by the autograder) or ANSWER (written, TA-graded)
    max_score: float
    score: float | None       # None: waiting for a person's score
    comment: str = ""         # the TA's comment, if any
    handed_in: bool = True    # False: the student's notebook is not in OUT/autograded

    @property
    def waiting(self) -> bool:
        return self.score is None


@dataclass(frozen=True)
class StudentGrade:
    student_id: str
    name: str                 # display name from the LMS, "" when unknown
    status: str               # grades.csv's status sentence
    cells: tuple[CellGrade, ...]
    late_penalty: float = 0.0  # fraction of the points taken away
    late_hours: float | None = None  # None: unknown (or not written by this version)

    @property
    def graded(self) -> bool:
        """False when the submission could not be graded at all (status "failed: ...")."""
        return not self.status.startswith(FAILED)

    @property
    def autograded(self) -> float:
        return sum(cell.score or 0.0 for cell in self.cells if cell.kind == TEST)

    @property
    def written(self) -> float:
        return sum(cell.score or 0.0 for cell in self.cells if cell.kind == ANSWER)

    @property
    def waiting(self) -> tuple[CellGrade, ...]:
        return tuple(cell for cell in self.cells if cell.waiting)

    @property
    def complete(self) -> bool:
        """Graded, and nothing waits for a TA (or the cut-off already made it 0)."""
        return self.graded and (not self.waiting or self.late_penalty >= 1)

    @property
    def late(self) -> bool:
        return self.late_penalty > 0 or (self.late_hours or 0) > 0

    @property
    def final(self) -> float | None:
        """(autograded + written) x (1 - late penalty), or None while incomplete."""
        if not self.complete:
            return None
        return round((self.autograded + self.written) * (1 - self.late_penalty), 2)

    @property
    def state(self) -> str:
        """"final", "incomplete: 2 answer(s) not graded (fc_q1_explain, ...)" or
        "not graded: <status>"."""
        if not self.graded:
            return f"not graded: {self.status}"
        if not self.complete:
            ids = ", ".join(cell.grade_id for cell in self.waiting)
            return f"incomplete: {len(self.waiting)} cell(s) wait for a TA ({ids})"
        return "final"


@dataclass(frozen=True)
class ClassGrades:
    assignment: str
    max_score: float                     # every graded cell: autograded + written
    cells: tuple[CellGrade, ...]         # the assignment's graded cells (score None), in order
    students: tuple[StudentGrade, ...]   # in grades.csv order (sorted by student id)

    def cell(self, grade_id: str) -> CellGrade | None:
        return next((cell for cell in self.cells if cell.grade_id == grade_id), None)

    @property
    def answer_ids(self) -> list[str]:
        return [cell.grade_id for cell in self.cells if cell.kind == ANSWER]


def gradebook_assignment(paths: OutputPaths, assignment: str | None = None) -> str:
    """The assignment graded in OUT: `assignment` if given (checked), else the only one."""
    database = paths.database
    if not database.holds_gradebook():
        raise ClassGradesError(
            f"{paths.gradebook} not found: {paths.root} is not an output folder of "
            "`autograder grade`" if database.is_sqlite else
            f"{database} holds no gradebook yet: grade into {paths.root} first")
    with open_gradebook(database.connect_url) as gradebook:
        names = sorted(assignment.name for assignment in gradebook.assignments)
    if assignment is not None:
        if assignment not in names:
            raise ClassGradesError(f"{database} has no assignment {assignment!r} "
                                   f"(it has: {', '.join(names) or 'none'})")
        return assignment
    if len(names) != 1:
        raise ClassGradesError(f"{database} holds {len(names)} assignments "
                               f"({', '.join(names) or 'none'}); say which with --assignment")
    return names[0]


def read_class_grades(paths: OutputPaths, assignment: str | None = None) -> ClassGrades:
    assignment = gradebook_assignment(paths, assignment)
    rows = read_csv(paths.grades_csv)
    if not rows:
        raise ClassGradesError(f"{paths.grades_csv} is missing or empty: grade the submissions "
                               "first (`autograder grade`)")
    with open_gradebook(paths.db_url) as gradebook:
        cells = tuple(_assignment_cells(gradebook, assignment))
        grades = _submitted(gradebook, assignment, Grade, Grade.auto_score, Grade.manual_score,
                            Grade.score)
        comments = _submitted(gradebook, assignment, Comment, Comment.manual_comment)
    students = []
    for line, row in enumerate(rows, start=2):
        student_id = row["student_id"]
        student_cells = (_student_cells(paths, assignment, student_id, cells, grades[student_id],
                                        comments.get(student_id, {}))
                         if student_id in grades else ())
        students.append(StudentGrade(
            student_id, row.get("name") or "", row["status"], student_cells,
            _fraction(row.get("late_penalty"), paths.grades_csv, line),
            _hours(row.get("late_hours"), paths.grades_csv, line)))
    return ClassGrades(assignment, sum(cell.max_score for cell in cells), cells, tuple(students))


def _assignment_cells(gradebook, assignment: str):
    for notebook in gradebook.find_assignment(assignment).notebooks:
        answers = {cell.name for cell in notebook.solution_cells}
        for cell in notebook.grade_cells:
            yield CellGrade(notebook.name, cell.name, ANSWER if cell.name in answers else TEST,
                            float(cell.max_score), None, handed_in=False)


def _submitted(gradebook, assignment: str, table, *columns) -> dict[str, dict[tuple, tuple]]:
    """{student id: {(notebook, grade id): columns}} of every submission's rows of `table`
    (Grade or Comment), in one query: loading them student by student costs a query per
    cell, each a network round trip to a database server (minutes for a class of 300)."""
    rows = (gradebook.db.query(SubmittedAssignment.student_id, Notebook.name, BaseCell.name,
                               *columns)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(table, table.notebook_id == SubmittedNotebook.id)
            .join(BaseCell, table.cell_id == BaseCell.id)
            .filter(Assignment.name == assignment))
    found = {}
    for student_id, notebook, grade_id, *values in rows:
        found.setdefault(student_id, {})[notebook, grade_id] = tuple(values)
    return found


def _student_cells(paths: OutputPaths, assignment: str, student_id: str,
                   cells: tuple[CellGrade, ...], grades: dict, comments: dict):
    """The student's grade of each of the assignment's cells, in the assignment's order."""
    folder = paths.autograded / student_id / assignment
    handed_in = {notebook: (folder / f"{notebook}.ipynb").is_file()
                 for notebook in {cell.notebook for cell in cells}}
    graded = []
    for cell in cells:
        key = (cell.notebook, cell.grade_id)
        if key not in grades:
            continue
        auto, manual, score = grades[key]
        unscored = manual is None and auto is None
        graded.append(replace(
            cell, score=None if unscored and handed_in[cell.notebook] else float(score),
            comment=(comments.get(key, (None,))[0] or ""), handed_in=handed_in[cell.notebook]))
    return tuple(graded)


def _fraction(text: str | None, path: Path, line: int) -> float:
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise ClassGradesError(f"{path}, line {line}: late_penalty {text!r} is not a fraction "
                               "between 0 and 1")
    return value


def _hours(text: str | None, path: Path, line: int) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ClassGradesError(f"{path}, line {line}: late_hours {text!r} is not a number") from None
