"""nbgrader configuration: this repository is the nbgrader course directory.

nbgrader's default folder names apply: source/<id>/ is the instructor's version,
release/<id>/ the student version (built by `autograder release <id>`), and grading uses
submitted/, autograded/ and feedback/ next to them. Assignment facts come from
assignments/<id>/manifest.toml, so nothing here repeats them.
"""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent
# nbgrader may run from another folder (e.g. formgrader), where autograder is not importable.
sys.path.insert(0, str(REPO))
from autograder.manifest import LOCAL_ONLY_PATTERNS, load_manifest  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = str(REPO)

manifests = [load_manifest(path) for path in sorted(REPO.glob("assignments/*/manifest.toml"))]

# Autograde copies every non-notebook file of source/<id> over the student's submission,
# so without this it would grade the instructor's modules and every student would pass
# (nbgrader issue #940).
c.Autograde.exclude_overwriting = {m.id: list(m.student_modules) for m in manifests}

# nbgrader copies every non-notebook file it finds (source -> release, submission ->
# autograded); data, checkpoints and caches of a working copy must never travel along.
never_copied = {".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"} | set(LOCAL_ONLY_PATTERNS)
c.CourseDirectory.ignore = sorted(never_copied)
# Saved models are handed in, so autograde must copy them from submissions; only the release
# leaves them out (the instructor's own best_model.npz is not for students).
c.GenerateAssignmentApp.CourseDirectory.ignore = sorted(
    never_copied | {pattern for m in manifests for pattern in m.local_only_patterns})
