"""Our steps in nbgrader's autograde pipeline (registered in nbgrader_config.py).

    sanitize: ... -> ForgetUnknownCells -> OverwriteCells -> ...
    autograde:      SkipSlowCells -> ExecuteWithinLimits -> ... -> SaveAutoGrades
                    -> HoldSkippedGrades -> RequireHiddenVerdicts -> ...

ForgetUnknownCells turns a cell whose grade id the assignment does not have (a notebook from
an older release, a cell pasted from another notebook) into a plain cell. nbgrader itself
only drops the id and then fails on that cell when it restores deleted test cells
(OverwriteCells.add_missing_cells), which fails the whole submission.

SkipSlowCells keeps cells tagged "slow" (training runs, searches, long comparisons) from
running: their code is commented out under a note saying why, so grading a submission
takes seconds instead of many minutes and students still see their code in the feedback.

A skipped test cell proves nothing, yet nbgrader would give it full points because it ran
without error. HoldSkippedGrades therefore removes the automatic score of every skipped
test cell and marks it as needing a manual grade: nobody gets points for a check that did
not run, and formgrader lists it for a TA.

ExecuteWithinLimits (execute.py) is nbgrader's Execute within limits a submission cannot
lift: per-cell time limits and a time budget derived from the reference's own times, a new
kernel after a cell ends its kernel, and an output cap; a cell stopped by any of them fails
alone, saying why, and the notebook is still saved and graded.

RequireHiddenVerdicts makes the hidden checks' verdicts, computed outside any kernel while
the notebooks run (autograder/grading/hidden.py), decide: a test cell whose check did not
pass gets no points even if its code ran without error in the kernel, where the student's
code could have replaced autograder.checks.run or anything else.
"""
from __future__ import annotations

import os

from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.preprocessors import (Execute, NbGraderPreprocessor, OverwriteCells,
                                    SaveAutoGrades)
from traitlets import List, Unicode

from ..checks import VERDICTS_ENV, read_verdicts
from .execute import ExecuteWithinLimits

# Where SkipSlowCells leaves the grade ids of the test cells it skipped, for HoldSkippedGrades.
# (resources live for one notebook's pass through the pipeline.)
SKIPPED_GRADE_IDS = "autograder_skipped_grade_ids"


class ForgetUnknownCells(NbGraderPreprocessor):
    """Remove the nbgrader metadata of cells whose grade id the gradebook does not know, or
    that have none (nbgrader's DeduplicateIds leaves a duplicated cell so)."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            known = {cell.name for cell in notebook.source_cells}
        for index, cell in enumerate(nb.cells):
            if "nbgrader" not in cell.metadata:
                continue
            grade_id = cell.metadata.nbgrader.get("grade_id")
            if grade_id not in known:
                del cell.metadata["nbgrader"]
                self.log.warning("Cell %d has grade id %r, which %s does not have: graded as a "
                                 "plain cell", index, grade_id, info["notebook"])
        return nb, resources


class SkipSlowCells(NbGraderPreprocessor):
    """Comment out code cells carrying one of `tags`, under a note saying they were skipped."""

    tags = List(
        Unicode(), ["slow"],
        help="Cell tags (cell.metadata.tags) that mark a code cell as too slow to run "
             "during autograding.",
    ).tag(config=True)

    note = Unicode(
        "# Skipped by the autograder: this cell is tagged \"{tag}\" (it takes minutes), so it\n"
        "# was not run. Your code is kept below as comments.{graded}\n",
        help="The comment put above a skipped cell's code; {tag} is the matching tag and "
             "{graded} a sentence added for test cells.",
    ).tag(config=True)

    graded_note = Unicode(
        "\n# This check is graded by a TA instead.",
        help="Added to the note of a skipped test cell.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        resources[SKIPPED_GRADE_IDS] = []
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        tag = next((tag for tag in cell.metadata.get("tags", []) if tag in self.tags), None)
        if cell.cell_type != "code" or tag is None:
            return cell, resources
        graded = utils.is_grade(cell)
        if graded:
            resources[SKIPPED_GRADE_IDS].append(cell.metadata.nbgrader["grade_id"])
        commented = "\n".join(f"# {line}" if line else "#" for line in cell.source.splitlines())
        cell.source = self.note.format(tag=tag, graded=self.graded_note if graded else "") + commented
        self.log.info("Skipped cell %d (tagged %r)", cell_index, tag)
        return cell, resources


class HoldSkippedGrades(NbGraderPreprocessor):
    """Take the automatic score away from test cells SkipSlowCells skipped (runs after
    SaveAutoGrades), leaving them to a TA."""

    def preprocess(self, nb, resources):
        skipped = resources.get(SKIPPED_GRADE_IDS, [])
        if not skipped:
            return nb, resources
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            for grade_id in skipped:
                grade = gradebook.find_grade(grade_id, info["notebook"], info["assignment"],
                                             info["student"])
                grade.auto_score = None
                grade.needs_manual_grade = True
                self.log.warning("Test cell %s was skipped: it needs a manual grade", grade_id)
            gradebook.db.commit()
        return nb, resources


class RequireHiddenVerdicts(NbGraderPreprocessor):
    """Take the points away from test cells whose hidden check did not pass (runs after
    SaveAutoGrades)."""

    verdicts_file = Unicode(
        help="The verdicts file autograder/grading/hidden.py writes ({\"complete\": ..., "
             f"\"verdicts\": {{grade_id: verdict}}}}); default: ${VERDICTS_ENV}. Without one, "
             "the kernel's results stand.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        path = self.verdicts_file or os.environ.get(VERDICTS_ENV, "")
        if not path:
            return nb, resources
        tests = [cell.metadata.nbgrader["grade_id"] for cell in nb.cells
                 if utils.is_grade(cell) and not utils.is_solution(cell)]
        verdicts, _ = read_verdicts(path, until=tests)  # waits for this notebook's checks
        info = resources["nbgrader"]
        for grade_id in withhold_points(info["db_url"], info["assignment"], info["student"],
                                        {info["notebook"]: tests}, verdicts):
            self.log.warning("Test cell %s ran without error, but its hidden check did not "
                             "pass: no points", grade_id)
        return nb, resources


def withhold_points(db_url: str, assignment: str, student: str, tests: dict[str, list[str]],
                    verdicts: dict) -> list[str]:
    """Set to 0 the automatic score of every test cell ({notebook: [grade_id]}) whose hidden
    check has a verdict other than passed; returns the grade ids that had points."""
    withheld = []
    with Gradebook(db_url) as gradebook:
        for notebook, grade_ids in tests.items():
            for grade_id in grade_ids:
                if verdicts.get(grade_id, {"status": "passed"})["status"] == "passed":
                    continue
                try:
                    grade = gradebook.find_grade(grade_id, notebook, assignment, student)
                except MissingEntry:  # a notebook not handed in has no grades
                    continue
                if grade.auto_score:
                    grade.auto_score = 0.0
                    withheld.append(grade_id)
        gradebook.db.commit()
    return withheld


def sanitize_pipeline() -> list:
    """nbgrader's sanitize steps with ForgetUnknownCells right before OverwriteCells, for
    c.Autograde.sanitize_preprocessors."""
    steps = list(Autograde.class_traits()["sanitize_preprocessors"].default())
    steps.insert(steps.index(OverwriteCells), ForgetUnknownCells)
    return steps


def autograde_pipeline() -> list:
    """nbgrader's own autograde steps with ours inserted (ExecuteWithinLimits instead of
    Execute, SkipSlowCells right before it, HoldSkippedGrades and RequireHiddenVerdicts right
    after SaveAutoGrades), for
    c.Autograde.autograde_preprocessors. Built from nbgrader's default list, so steps a
    newer nbgrader adds are kept."""
    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    steps[steps.index(Execute)] = ExecuteWithinLimits
    steps.insert(steps.index(ExecuteWithinLimits), SkipSlowCells)
    steps.insert(steps.index(SaveAutoGrades) + 1, HoldSkippedGrades)
    steps.insert(steps.index(HoldSkippedGrades) + 1, RequireHiddenVerdicts)
    return steps
