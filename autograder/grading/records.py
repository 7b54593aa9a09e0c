"""Recording grading results in the output folder; only the parent process calls these.

    OUT/gradebook.db                      nbgrader gradebook: students, submissions, grades
                                          (or a PostgreSQL database: gradebook.py)
    OUT/grades.csv                        student_id, name, score, max_score, submitted_at,
                                          due, late, late_hours, late_penalty, status
    OUT/scores.csv                        student_id, notebook, grade_id, score, max_score,
                                          message (why points were lost)
    OUT/autograded/<student>/<id>/        autograded notebooks, the student's modules and
                                          artifacts (formgrader's layout)
    OUT/feedback/<student>/<id>/*.html    feedback pages (nbgrader's layout, for release_feedback)
    OUT/nbgrader_config.py, OUT/source/<id>/  make OUT an nbgrader course root (graded_course.py)
    OUT/progress/                         which entries are graded (progress.py)

Written later, from the gradebook once TAs have graded (see class_grades.py): export.py's
final grades and LMS files, answers.py's pages, feedback.py's regenerated pages and zips.

Every writer is keyed by student: grading a student again replaces that student's rows and
files, and leaves every other student's as they were. Scores are autograded points: the
test cells. Written answers are graded by TAs in formgrader, on the same gradebook.
"""
from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Grade
from sqlalchemy import true, update

from ..manifest import Manifest
from .deadlines import Lateness, iso_utc
from .gradebook import GradebookDatabase, open_gradebook, recorded_database
from .task import GradingResult

# grades.csv: the LMS's id and display name; autograded points; the hand-in time and the
# student's due date (ISO 8601, UTC; submitted_at empty when unknown); late ("yes", "no",
# or empty when unknown), late_hours (0 on time, empty when unknown) and late_penalty (the
# share of the points taken away, 0 to 1: final = points x (1 - late_penalty)); a status
# sentence. See deadlines.py.
GRADES_FIELDS = ("student_id", "name", "score", "max_score", "submitted_at", "due", "late",
                 "late_hours", "late_penalty", "status")
SCORES_FIELDS = ("student_id", "notebook", "grade_id", "score", "max_score", "message")


@dataclass(frozen=True)
class OutputPaths:
    root: Path
    db: GradebookDatabase | None = None  # this command's --db; None: the one OUT records

    @property
    def gradebook(self) -> Path:
        """The SQLite gradebook, when OUT keeps its own (the default)."""
        return self.root / "gradebook.db"

    @property
    def database(self) -> GradebookDatabase:
        """Where the gradebook is: --db, else the PostgreSQL database OUT/nbgrader_config.py
        names, else OUT/gradebook.db."""
        return self.db or self.recorded_database or GradebookDatabase.sqlite(self.gradebook)

    @property
    def recorded_database(self) -> GradebookDatabase | None:
        return recorded_database(self.nbgrader_config)

    @property
    def db_url(self) -> str:
        return self.database.connect_url

    @property
    def grades_csv(self) -> Path:
        return self.root / "grades.csv"

    @property
    def scores_csv(self) -> Path:
        return self.root / "scores.csv"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def autograded(self) -> Path:
        return self.root / "autograded"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def histogram(self) -> Path:
        return self.root / "score_histogram.png"

    @property
    def isolation(self) -> Path:
        return self.root / "isolation.json"

    @property
    def nbgrader_config(self) -> Path:
        return self.root / "nbgrader_config.py"

    @property
    def final_grades_csv(self) -> Path:
        return self.root / "final_grades.csv"

    @property
    def canvas_csv(self) -> Path:
        return self.root / "canvas_import.csv"

    @property
    def moodle_csv(self) -> Path:
        return self.root / "moodle_grading_worksheet.csv"

    @property
    def answers(self) -> Path:
        return self.root / "answers"

    @property
    def handback(self) -> Path:
        return self.root / "handback"

    @property
    def progress(self) -> Path:
        """Which entries are graded already (progress.py): what a run that was interrupted
        continues from."""
        return self.root / "progress"


def record_in_gradebook(db_url: str, assignment: str, results: list[GradingResult]) -> None:
    """Create or update each student's submission and set every grade from its result.

    Like nbgrader's SaveAutoGrades: a grade without an automatic score, or one a TA already
    graded by hand, is flagged for manual grading; manual scores and comments are never
    touched. A submission that could not be graded gets no automatic scores at all.

    TAs may be grading in the same gradebook meanwhile (formgrader, import-scores): each
    grade is set by one UPDATE of its automatic columns alone, whose flag is worked out
    from the manual score in the row as it is then, not as it was read; a TA's score saved
    between the read and the write is kept and counts.
    """
    with open_gradebook(db_url) as gradebook:
        for result in results:
            gradebook.update_or_create_student(result.student_id)
            details = {"timestamp": result.timestamp} if result.timestamp else {}
            submission = gradebook.update_or_create_submission(assignment, result.student_id,
                                                               **details)
            scores = {(cell.notebook, cell.grade_id): cell.score for cell in result.cells}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    score = scores.get((notebook.name, grade.name))
                    gradebook.db.execute(
                        update(Grade).where(Grade.id == grade.id)
                        .values(auto_score=score, needs_manual_grade=(
                            true() if score is None else Grade.manual_score.is_not(None)))
                        .execution_options(synchronize_session=False))
            gradebook.db.commit()


def write_csvs(paths: OutputPaths, results: list[GradingResult], max_score: float) -> None:
    """Merge the results into grades.csv and scores.csv (one row per student, and per
    student and test cell), keeping the rows of students not graded this time."""
    graded_now = {result.student_id for result in results}
    grades = [row for row in read_csv(paths.grades_csv) if row["student_id"] not in graded_now]
    scores = [row for row in read_csv(paths.scores_csv) if row["student_id"] not in graded_now]
    for result in results:
        grades.append({"student_id": result.student_id, "name": result.name,
                       "score": _number(result.score), "max_score": _number(max_score),
                       **_lateness_columns(result.lateness), "status": result.status})
        scores.extend({"student_id": result.student_id, "notebook": cell.notebook,
                       "grade_id": cell.grade_id, "score": _number(cell.score),
                       "max_score": _number(cell.max_score), "message": cell.message}
                      for cell in result.tests)
    _write_csv(paths.grades_csv, GRADES_FIELDS, sorted(grades, key=lambda row: row["student_id"]))
    # Cells stay in notebook order within a student (the sort is stable).
    _write_csv(paths.scores_csv, SCORES_FIELDS, sorted(scores, key=lambda row: row["student_id"]))


def _lateness_columns(lateness: Lateness | None) -> dict[str, str]:
    if lateness is None:
        return {}
    return {"submitted_at": iso_utc(lateness.submitted_at), "due": iso_utc(lateness.due),
            "late": {True: "yes", False: "no", None: ""}[lateness.late],
            "late_hours": _number(lateness.late_hours),
            "late_penalty": _number(lateness.penalty)}


def copy_student_files(paths: OutputPaths, manifest: Manifest, result: GradingResult) -> None:
    """Replace the student's autograded folder and feedback pages with this result's files
    (task.graded_files chose them; they arrive as bytes, from wherever the task ran)."""
    for folder in (paths.autograded / result.student_id, paths.feedback / result.student_id):
        if folder.exists():
            shutil.rmtree(folder)
    for folder, files in ((paths.autograded, result.autograded_files),
                          (paths.feedback, result.feedback_files)):
        for name, data in files.items():
            destination = folder / result.student_id / manifest.id / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict]) -> None:
    # Write a new file and rename it: a crash mid-write never leaves a truncated CSV behind.
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
