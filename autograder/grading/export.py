"""`autograder export OUT`: final grades, for people and for the LMS.

    exported = export_grades(read_class_grades(paths), paths, canvas_column="hw1 (4711)")

Each student's final grade is (autograded + written points) x (1 - late penalty), out of the
assignment's full maximum (class_grades.py). Three files:

- OUT/final_grades.csv: every student of grades.csv, with the parts of the grade and a
  `state`: "final", "incomplete: ..." (written answers not graded yet) or "not graded: ...";
  only final rows have a `final` value;
- OUT/canvas_import.csv: Canvas's gradebook import format (Grades > Import), the columns of
  its gradebook export: Student, ID, SIS User ID, SIS Login ID, Section, then the assignment
  column named "<assignment name> (<Canvas assignment id>)", and a "Points Possible" row.
  Canvas matches rows by ID, the Canvas user id our student ids come from;
- OUT/moodle_grading_worksheet.csv: Moodle's assignment "offline grading worksheet"
  (Assignment > Upload grading worksheet), matched by its Identifier column,
  "Participant <id>", the number in Moodle's download folder names; it requires the
  "Last modified (grade)" column, set to the time of the export.

Students without a final grade are left out of the LMS files, so an import never writes a
0 for work not graded yet (a row left out changes nothing in either LMS); the command lists
them.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path

from .class_grades import ClassGrades, StudentGrade
from .records import OutputPaths

FINAL_FIELDS = ("student_id", "name", "autograded", "written", "late_penalty", "final",
                "max_score", "state", "status")
CANVAS_FIELDS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
# The header strings Moodle's worksheet importer looks for (mod/assign, English language pack).
MOODLE_FIELDS = ("Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)")
MOODLE_PARTICIPANT = "Participant "


@dataclass(frozen=True)
class Exported:
    final_csv: Path
    canvas_csv: Path
    moodle_csv: Path
    final: tuple[StudentGrade, ...]        # in the LMS files
    incomplete: tuple[StudentGrade, ...]   # graded, but TA work left
    not_graded: tuple[StudentGrade, ...]   # the submission could not be graded


def export_grades(grades: ClassGrades, paths: OutputPaths, canvas_column: str | None = None,
                  now: dt.datetime | None = None) -> Exported:
    final = tuple(student for student in grades.students if student.final is not None)
    _write(paths.final_grades_csv, final_rows(grades))
    _write(paths.canvas_csv, canvas_rows(grades, canvas_column or grades.assignment))
    _write(paths.moodle_csv, moodle_rows(grades, now or dt.datetime.now(dt.timezone.utc)))
    return Exported(paths.final_grades_csv, paths.canvas_csv, paths.moodle_csv, final,
                    tuple(s for s in grades.students if s.graded and s.final is None),
                    tuple(s for s in grades.students if not s.graded))


def final_rows(grades: ClassGrades) -> list[list[str]]:
    rows = [list(FINAL_FIELDS)]
    for student in grades.students:
        rows.append([student.student_id, student.name, number(student.autograded),
                     number(student.written), number(student.late_penalty),
                     number(student.final), number(grades.max_score), student.state,
                     student.status])
    return rows


def canvas_rows(grades: ClassGrades, column: str) -> list[list[str]]:
    rows = [[*CANVAS_FIELDS, column],
            ["    Points Possible", "", "", "", "", number(grades.max_score)]]
    for student in grades.students:
        if student.final is not None:
            rows.append([student.name or student.student_id, student.student_id, "", "", "",
                         number(student.final)])
    return rows


def moodle_rows(grades: ClassGrades, now: dt.datetime) -> list[list[str]]:
    rows = [list(MOODLE_FIELDS)]
    modified = now.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    for student in grades.students:
        if student.final is not None:
            rows.append([MOODLE_PARTICIPANT + student.student_id, student.name,
                         number(student.final), number(grades.max_score), modified])
    return rows


def number(value: float | None) -> str:
    if value is None:
        return ""
    value = round(float(value), 2)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _write(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    os.replace(partial, path)
