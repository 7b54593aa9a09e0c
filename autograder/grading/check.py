"""`autograder check <id>`: grade the sample submissions and verify every score.

- the reference must get full points on every test cell,
- the untouched release must get none,
- each partial must lose exactly the test cells whose hidden checks declare that they
  exercise the piece of work it undoes (samples.partials).

A test cell that autograde skips (tagged slow) can give nobody points automatically, so it
is reported too: the reference cannot reach full autograded points while one exists.
"""
from __future__ import annotations

from pathlib import Path

from ..manifest import Manifest
from .batch import Graded, grade_folder
from .samples import Sample, build_samples, write_zip
from .task import GradingResult


def check_grading(course_root: Path, manifest: Manifest, work: Path, cache_dir: Path,
                  workers: int = 1, say=print) -> tuple[Graded, list[str]]:
    """Build and grade the samples under `work`; return what was graded and the problems."""
    samples = build_samples(course_root, manifest, cache_dir, say=say)
    for sample in samples:
        write_zip(sample, work / "submissions" / f"{sample.name}.zip")
    graded = grade_folder(course_root, manifest, work / "submissions", work / "graded",
                          workers=workers, say=say)
    return graded, score_problems(samples, graded.results, manifest.id)


def score_problems(samples: list[Sample], results: list[GradingResult],
                   assignment: str) -> list[str]:
    """Every way the results differ from what the samples must score, one sentence each."""
    by_student = {result.student_id: result for result in results}
    problems, skipped = [], {}
    for sample in samples:
        result = by_student.get(sample.name)
        if result is None or not result.graded:
            status = result.status if result else "no result"
            problems.append(f"{sample.name}: could not be graded ({status})")
            continue
        test_ids = {cell.grade_id for cell in result.tests}
        for grade_id in sorted(sample.loses - test_ids):
            problems.append(f"{sample.name}: a hidden check declares test cell {grade_id!r}, "
                            f"which {assignment} does not have")
        for cell in result.tests:
            if cell.score is None:
                skipped[cell.grade_id] = cell
                continue
            must_lose = sample.loses_everything or cell.grade_id in sample.loses
            expected = 0.0 if must_lose else cell.max_score
            if cell.score == expected:
                continue
            got = f"{cell.grade_id} scored {cell.score:g} of {cell.max_score:g}"
            if sample.loses_everything:
                problems.append(f"{sample.name}: {got}: this test cell gives points for the "
                                "untouched release, i.e. for no work at all")
            elif must_lose:
                problems.append(f"{sample.name}: {got}, but undoing {sample.undoes} "
                                "should cost all of them (is the student's file really graded, "
                                "or does its check's `exercises` declaration claim too much?)")
            elif sample.loses:
                problems.append(f"{sample.name}: {got}, yet it only undoes "
                                f"{sample.undoes} ({cell.message}); if that cell uses "
                                "it, add it to the `exercises` of the cell's hidden check")
            else:
                problems.append(f"{sample.name}: {got}: the reference solution fails it "
                                f"({cell.message})")
    for grade_id, cell in skipped.items():
        problems.append(f"{cell.notebook}: test cell {grade_id} is tagged slow, so autograde "
                        f"skips it and its {cell.max_score:g} points always wait for a TA; make "
                        "it check something the notebook saves (as the best-model check does) "
                        "and remove the tag")
    return problems
