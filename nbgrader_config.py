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
from autograder.manifest import NEVER_COPIED, load_manifest  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = str(REPO)

manifests = [load_manifest(path) for path in sorted(REPO.glob("assignments/*/manifest.toml"))]

# Autograde copies every non-notebook file of source/<id> over the student's submission,
# so without this it would grade the instructor's modules and every student would pass
# (nbgrader issue #940). Handed-in artifacts are listed too: an instructor who ran the
# source notebooks has a best_model.npz in source/<id>, which would replace the student's.
c.Autograde.exclude_overwriting = {m.id: list(m.student_modules) + list(m.artifacts)
                                   for m in manifests}

# nbgrader copies every non-notebook file it finds (source -> release, submission ->
# autograded); data, checkpoints and caches of a working copy must never travel along.
c.CourseDirectory.ignore = sorted(NEVER_COPIED)
# Saved models are handed in, so autograde must copy them from submissions; only the release
# leaves them out (the instructor's own best_model.npz is not for students).
c.GenerateAssignmentApp.CourseDirectory.ignore = sorted(
    set(NEVER_COPIED) | {pattern for m in manifests for pattern in m.local_only_patterns})


# --- Autograding (`nbgrader autograde`, and `autograder grade`, which runs it per student) ---
from autograder.grading.preprocessors import autograde_pipeline, sanitize_pipeline  # noqa: E402
from autograder.grading.time_limits import KERNEL_START, cell_times_path  # noqa: E402
from autograder.checks import checks_folder  # noqa: E402
from autograder.grading.feedback_page import FeedbackPageExporter  # noqa: E402

# Cells tagged "slow" (training runs, searches) would take many minutes per student: they are
# commented out before execution, and a skipped test cell gets no automatic score but a
# manual-grade flag, so nobody earns points for a check that did not run. Execute becomes
# ExecuteWithinLimits: a cell that hangs, ends its kernel or floods its output fails alone,
# and a notebook whose time budget runs out keeps every score reached. After the scores are
# saved, RequireHiddenVerdicts withholds the points of every test cell whose hidden check
# (run outside the kernel, where the student cannot fake it) did not pass, and
# NeutraliseActiveContent strips what could run in a TA's browser from the graded copy
# (see autograder/grading/preprocessors.py, execute.py and active_content.py).
c.Autograde.autograde_preprocessors = autograde_pipeline()
# Each cell's time limit follows the reference's own time for it, which `autograder release`
# measures into a file next to the manifest (autograder/grading/time_limits.py has the rules).
c.ExecuteWithinLimits.cell_times = {m.id: str(cell_times_path(m)) for m in manifests}
# While one notebook runs, the kernel of the next starts beside it.
c.ExecuteWithinLimits.notebooks = {m.id: list(m.notebooks) for m in manifests}
# A test cell with a hidden check waits for its verdict (the checks run beside the notebooks).
c.ExecuteWithinLimits.hidden_checks = {m.id: str(checks_folder(REPO, m.id)) for m in manifests}
# nbconvert checks a notebook against the format's schema after every step of autograde's
# pipelines (about twenty per notebook); once, after the last, still refuses a notebook a step
# broke, for a tenth of a second less CPU per submission.
c.Exporter.optimistic_validation = True

# Students delete, cut or paste cells. A deleted test cell would otherwise be "needs manual
# grading" forever (nbgrader issue #1682); this puts it back from the gradebook and runs it.
c.OverwriteCells.add_missing_cells = True
# ...but nbgrader then fails the whole submission on a cell whose grade id the assignment
# does not have (a notebook from an older release): such cells become plain cells first.
c.Autograde.sanitize_preprocessors = sanitize_pipeline()

# With several graders sharing the cores, a kernel can take well over nbgrader's 60 s to start
# (the grader's outside backstop allows for it: time_limits.py).
c.Execute.startup_timeout = KERNEL_START
# After its reply, a cell's last output must arrive within this: a cell that printed a flood
# takes seconds to drain on a loaded machine; a kernel stuck after an interrupt is replaced
# when this runs out. nbgrader's 4 s failed whole notebooks that printed a lot.
c.Execute.iopub_timeout = 10

# Output a student prints in a loop would bloat the autograded notebook, the feedback page
# and the gradebook: ExecuteWithinLimits cuts it as it arrives (autograder/grading/
# output_cap.py: characters per cell and notebook), and of what is kept we show 200 lines
# per cell and 60 lines per traceback (top and bottom).
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60

# --- Feedback (`nbgrader generate_feedback`, which `autograder grade` runs per student) ---
# nbconvert's HTMLExporter re-parses every page it renders to give images their alt text,
# more than half of the feedback step's CPU; this exporter gives the same pages without it
# (autograder/grading/feedback_page.py).
c.GenerateFeedback.exporter_class = FeedbackPageExporter
