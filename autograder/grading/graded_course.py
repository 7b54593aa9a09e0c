"""A graded output folder as an nbgrader course root, for formgrader and generate_feedback.

    make_course_root(OutputPaths(out), "hw1")

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

When the gradebook is a PostgreSQL database (`autograder grade --db URL`), the config also
sets c.CourseDirectory.db_url, without password (gradebook.py): that line is where every
autograder command and nbgrader itself find the database, so TAs never repeat the URL. A
TA command given another one (--db: say, through an SSH tunnel) starts nbgrader in a
scratch folder whose config loads OUT's and names that one (`nbgrader_folder`): nbgrader
reads the config of the folder it starts in over its command line.

Neither config nor folder runs autograding from OUT: grading always goes through
`autograder grade`, which writes the same gradebook.
"""
from __future__ import annotations

from pathlib import Path

from .active_content import NeutraliseActiveContent
from .feedback_page import FeedbackPageExporter
from .gradebook import GradebookDatabase
from .records import OutputPaths

CONFIG = '''\
"""Written by `autograder` (autograder/grading/graded_course.py): makes this graded output
folder the nbgrader course root, so formgrader and `nbgrader generate_feedback` started here
use its gradebook (gradebook.db, or the database named at the end), autograded/ and
feedback/. Rewritten by every autograder command, which keeps the database named here."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# Every page formgrader and generate_feedback render from a student's notebook first loses
# the HTML that could run in the reader's browser (autograder/grading/active_content.py).
c.HTMLExporter.preprocessors = ["{preprocessor}"]
# nbconvert's exporter without its costly re-parsing of every page (autograder/grading/
# feedback_page.py).
c.GenerateFeedback.exporter_class = "{exporter}"
'''
DATABASE_LINE = '''
# The gradebook. No password here: libpq takes it from PGPASSWORD, ~/.pgpass or a service
# file. Edit this line if the database moves.
c.CourseDirectory.db_url = {url!r}
'''

ONE_COMMAND_CONFIG = '''\
"""Written by `autograder` for one command given --db: the settings of the graded folder,
with that gradebook."""
load_subconfig({out_config!r})  # noqa: F821 (provided by traitlets)
c = get_config()  # noqa: F821
c.CourseDirectory.db_url = {url!r}
'''

SOURCE_README = """\
This folder only makes nbgrader's formgrader list the assignment {assignment}.
The instructor's notebooks are in the course repository (source/{assignment}/), never here.
"""


def _import_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"


def make_course_root(paths: OutputPaths, assignment: str,
                     database: GradebookDatabase | None = None) -> None:
    """Write OUT/nbgrader_config.py and OUT/source/<assignment>/ (idempotent). database: the
    gradebook OUT keeps from now on (`grade`'s); None: the one it records now."""
    database = database or paths.recorded_database
    named = "" if database is None or database.is_sqlite else DATABASE_LINE.format(url=str(database))
    config = (CONFIG.replace("{preprocessor}", _import_name(NeutraliseActiveContent))
              .replace("{exporter}", _import_name(FeedbackPageExporter)))
    paths.nbgrader_config.write_text(config + named, encoding="utf-8")
    source = paths.root / "source" / assignment
    source.mkdir(parents=True, exist_ok=True)
    (source / "README.txt").write_text(SOURCE_README.format(assignment=assignment),
                                      encoding="utf-8")


def nbgrader_folder(paths: OutputPaths, scratch: Path) -> Path:
    """The folder to start nbgrader in on OUT (formgrader, generate_feedback): OUT, whose
    config names its gradebook; or, when this command was given one (--db), `scratch`
    (created), whose config loads OUT's and names that one."""
    if paths.db is None:
        return paths.root
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / paths.nbgrader_config.name).write_text(ONE_COMMAND_CONFIG.format(
        out_config=str(paths.nbgrader_config), url=str(paths.db)), encoding="utf-8")
    return scratch
