"""`autograder feedback OUT`: feedback pages regenerated from the gradebook, after TAs grade.

    handed_back = regenerate_feedback(grades, paths)

`autograder grade` writes feedback as it grades, before any TA has scored a written
answer. This runs `nbgrader generate_feedback` on OUT as a course root (graded_course.py),
so every page shows the scores and comments in the gradebook now, TAs' included, and:

- replaces OUT/feedback/<student>/<id>/*.html (nbgrader's layout, for release_feedback);
- writes OUT/handback/<student>.zip holding <id>/*.html, one zip per student to upload
  to the LMS or mail.

Only the pages are kept: nbgrader would also copy the student's own modules and files into
the feedback folder. The pages show what the autograded notebooks hold: each hidden test
as its one-line `autograder.checks.run(...)` call and verdict, never the checks' code.
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .class_grades import ClassGrades
from .course import NbgraderError, last_error, nbgrader_env, run_nbgrader
from .graded_course import make_course_root, nbgrader_folder
from .records import OutputPaths

TIMEOUT_PER_STUDENT = 60.0  # seconds; renders HTML only, runs no student code


@dataclass(frozen=True)
class HandedBack:
    zips: tuple[Path, ...]          # one per student with feedback
    without: tuple[str, ...]        # students with no autograded notebook (not graded)


def regenerate_feedback(grades: ClassGrades, paths: OutputPaths) -> HandedBack:
    make_course_root(paths, grades.assignment)
    students = [s.student_id for s in grades.students
                if (paths.autograded / s.student_id / grades.assignment).is_dir()]
    with tempfile.TemporaryDirectory(prefix="autograder-feedback-") as scratch:
        pages = Path(scratch) / "feedback"
        finished = run_nbgrader(
            ["generate_feedback", grades.assignment, "--force",
             f"--CourseDirectory.feedback_directory={pages}"],
            nbgrader_folder(paths, Path(scratch) / "config"),
            TIMEOUT_PER_STUDENT * max(1, len(students)),
            nbgrader_env(paths.database.environment()))
        if finished.returncode != 0:
            raise NbgraderError(f"nbgrader generate_feedback in {paths.root}: "
                                f"{last_error(finished.log)}")
        paths.handback.mkdir(exist_ok=True)
        zips = []
        for student_id in students:
            generated = sorted((pages / student_id / grades.assignment).glob("*.html"))
            if not generated:
                raise NbgraderError(f"nbgrader generate_feedback wrote no page for {student_id} "
                                    f"in {paths.root}: {last_error(finished.log)}")
            zips.append(_replace_pages(paths, grades.assignment, student_id, generated))
    without = tuple(s.student_id for s in grades.students if s.student_id not in students)
    return HandedBack(tuple(zips), without)


def _replace_pages(paths: OutputPaths, assignment: str, student_id: str,
                   pages: list[Path]) -> Path:
    folder = paths.feedback / student_id / assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    archive = paths.handback / f"{student_id}.zip"
    partial = archive.with_name(archive.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as handback:
        for page in pages:
            shutil.copy2(page, folder / page.name)
            handback.write(page, f"{assignment}/{page.name}")
    partial.replace(archive)
    return archive
