"""A local grading worker that dies mid-task (the kernel's OOM killer, a kill) costs only
the task it was grading.

Slow, on conftest's graded_class (alice and bob: the reference; carol: the blank release),
graded again with the default 2 local workers together with `killer` (a copy of carol):
alice's worker is killed once, while her notebooks execute (nbgrader with its kernel, the
hidden checks beside), and killer's every time. alice is graded again in a new worker with
her grades unchanged, bob and carol are graded as if nothing happened, and killer fails
after 2 worker deaths, as on a cluster. The nbgrader process a dead worker left (and its
kernel) ends within a few seconds instead of executing the notebooks to the end.
"""
import json
import re
import shutil
from pathlib import Path

import pytest

from autograder.cli import main as autograder_main
from autograder.grading.executors import WORKER_DEATHS_ALLOWED, killed_workers
from autograder.grading.records import OutputPaths, read_csv
from worker_killer import WorkerKiller, local_workers

REPO = Path(__file__).resolve().parents[1]
RANDOM_SEED = re.compile(r" \(random inputs: seed \d+\)")
pytestmark = pytest.mark.slow


def rows_of(out: Path) -> dict[str, tuple[dict, list[dict]]]:
    """{student: (grades.csv row, scores.csv rows)} without the checks' random seeds."""
    paths = OutputPaths(out)
    scores = [{**row, "message": RANDOM_SEED.sub("", row["message"])}
              for row in read_csv(paths.scores_csv)]
    return {row["student_id"]: (row, [score for score in scores
                                      if score["student_id"] == row["student_id"]])
            for row in read_csv(paths.grades_csv)}


def test_a_dead_worker_costs_only_its_task_and_a_worker_killer_fails_after_two(
        graded_class, tmp_path, capsys):
    submissions = tmp_path / "submissions"
    shutil.copytree(graded_class.submissions, submissions)
    shutil.copy2(submissions / "carol.zip", submissions / "killer.zip")
    killers = [WorkerKiller("alice", times=1, workers=local_workers, in_notebooks=True),
               WorkerKiller("killer", times=WORKER_DEATHS_ALLOWED + 1, workers=local_workers)]
    for killer in killers:
        killer.start()
    try:
        assert autograder_main(["grade", "fcnet", "--submissions", str(submissions),
                                "--out", str(tmp_path / "out"), "--root", str(REPO)]) == 0
    finally:
        for killer in killers:
            killer.stop()
    alice, killer = killers
    assert len(alice.killed) == 1
    assert len(killer.killed) == WORKER_DEATHS_ALLOWED  # never graded a third time
    assert alice.left_running == killer.left_running == []

    said = capsys.readouterr().out
    assert said.count("A grading worker died while grading alice (1 so far): grading it "
                      "again on a new worker.") == 1
    assert said.count("A grading worker died while grading killer") == WORKER_DEATHS_ALLOWED
    graded, before = rows_of(tmp_path / "out"), rows_of(graded_class.out)
    assert sorted(graded) == ["alice", "bob", "carol", "killer"]
    for student in ("alice", "bob", "carol"):
        assert graded[student] == before[student]
    assert graded["killer"][0]["status"].startswith(
        f"failed: {killed_workers(WORKER_DEATHS_ALLOWED)}")
    # A grader's fault: the next run grades it again.
    record = json.loads((tmp_path / "out" / "progress" / "entries" / "killer.json").read_text())
    assert record["grader_fault"] is True
