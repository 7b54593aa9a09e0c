"""A graded output folder as an nbgrader course root, for formgrader and generate_feedback.

    make_course_root(OutputPaths(out), "fcnet")

nbgrader finds everything from the course root: the gradebook (`gradebook.db`), the
autograded notebooks (`autograded/<student>/<id>/`) and the feedback folder, all already in
OUT. Two things it also needs, which this writes:

- `OUT/nbgrader_config.py`, setting the root to OUT's own folder (wherever OUT is moved or
  copied). nbgrader reads the config file of the folder it runs in, so a server or command
  started in OUT uses it, not the course repository's (whose root is the repository). It
  also makes every page rendered from a notebook (formgrader's, the feedback) drop the
  student HTML that could run in a browser, as the autograded copies already did;
- `OUT/source/<id>/`, which formgrader's assignment list is built from (NbGraderAPI lists the
  folders of source/): without it "Manual Grading" shows no assignment. It holds only a
  README: the instructor's notebooks (with solutions) stay in the repository.

Neither config nor folder runs autograding from OUT: grading always goes through
`autograder grade`, which writes the same gradebook.
"""
from __future__ import annotations

from .active_content import NeutraliseActiveContent
from .records import OutputPaths

CONFIG = '''\
"""Written by `autograder` (autograder/grading/graded_course.py): makes this graded output
folder the nbgrader course root, so formgrader and `nbgrader generate_feedback` started here
use its gradebook.db, autograded/ and feedback/. Rewritten by every autograder command."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# Every page formgrader and generate_feedback render from a student's notebook first loses
# the HTML that could run in the reader's browser (autograder/grading/active_content.py).
c.HTMLExporter.preprocessors = ["{preprocessor}"]
'''

SOURCE_README = """\
This folder only makes nbgrader's formgrader list the assignment {assignment}.
The instructor's notebooks are in the course repository (source/{assignment}/), never here.
"""


def make_course_root(paths: OutputPaths, assignment: str) -> None:
    """Write OUT/nbgrader_config.py and OUT/source/<assignment>/ (idempotent)."""
    preprocessor = f"{NeutraliseActiveContent.__module__}.{NeutraliseActiveContent.__name__}"
    paths.nbgrader_config.write_text(CONFIG.replace("{preprocessor}", preprocessor),
                                     encoding="utf-8")
    source = paths.root / "source" / assignment
    source.mkdir(parents=True, exist_ok=True)
    (source / "README.txt").write_text(SOURCE_README.format(assignment=assignment),
                                      encoding="utf-8")
