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
import contextlib
import json
import os
import re
import shutil
import signal
import threading
from pathlib import Path

import psutil
import pytest

from autograder.cli import main as autograder_main
from autograder.grading.executors import WORKER_DEATHS_ALLOWED, killed_workers
from autograder.grading.nbgrader_steps import WORKER_CHECK_SECONDS
from autograder.grading.records import OutputPaths, read_csv

REPO = Path(__file__).resolve().parents[1]
RANDOM_SEED = re.compile(r" \(random inputs: seed \d+\)")
pytestmark = pytest.mark.slow


# How long after its worker's death an nbgrader process may still be there: its own
# check, and the time to kill its kernels on a busy machine. (Executing the rest of
# alice's notebook, as it did before, takes longer.)
NBGRADER_LEFT_SECONDS = WORKER_CHECK_SECONDS + 2.0


class LocalWorkerKiller(threading.Thread):
    """Kills (SIGKILL) the worker process of this process that grades `student`, up to
    `times` times, once per worker: as soon as the task is seen, or with in_notebooks
    once the student's notebooks execute (nbgrader has started a kernel). left_running:
    what each killed worker's nbgrader processes had started, themselves included, that
    was still there NBGRADER_LEFT_SECONDS after the kill."""

    def __init__(self, student: str, times: int, in_notebooks: bool = False):
        super().__init__(daemon=True)
        self.student, self.times, self.in_notebooks = student, times, in_notebooks
        self.killed, self.left_running, self._stopping = [], [], threading.Event()
        self._lookouts = []

    def run(self) -> None:
        while len(self.killed) < self.times and not self._stopping.wait(0.1):
            worker = self._grading_worker()
            if worker is None or worker.pid in self.killed:
                continue
            nbgrader = nbgrader_processes(worker)
            started = descendants(nbgrader)
            if self.in_notebooks and not started:  # no kernel yet
                continue
            if self._grading_worker() == worker:  # still on the student's task
                worker.send_signal(signal.SIGKILL)
                self.killed.append(worker.pid)
                lookout = threading.Timer(NBGRADER_LEFT_SECONDS, self._note_alive,
                                          [nbgrader + started])
                lookout.start()
                self._lookouts.append(lookout)

    def _note_alive(self, processes: list[psutil.Process]) -> None:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.status() != psutil.STATUS_ZOMBIE:
                    self.left_running.append(" ".join(process.cmdline()))

    def _grading_worker(self) -> psutil.Process | None:
        """The spawned worker one of whose processes works in the student's task folder
        (executors.grade_in makes it: tasks/<student>-XXXX)."""
        marker = f"{os.sep}tasks{os.sep}{self.student}-"
        for worker in psutil.Process().children():
            try:
                family = [worker, *worker.children(recursive=True)]
                if any(marker in process.cwd() or marker in " ".join(process.cmdline())
                       for process in family):
                    return worker
            except psutil.Error:  # it ended meanwhile
                continue
        return None

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        for lookout in self._lookouts:
            lookout.join()


def nbgrader_processes(worker: psutil.Process) -> list[psutil.Process]:
    """The worker's nbgrader_steps processes (the one grading, the one started ahead)."""
    found = []
    for child in worker.children():
        with contextlib.suppress(psutil.Error):
            if "autograder.grading.nbgrader_steps" in child.cmdline():
                found.append(child)
    return found


def descendants(processes: list[psutil.Process]) -> list[psutil.Process]:
    """What the processes started (kernels, in their sandboxes), and what those started."""
    found = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            found += process.children(recursive=True)
    return found


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
    killers = [LocalWorkerKiller("alice", times=1, in_notebooks=True),
               LocalWorkerKiller("killer", times=WORKER_DEATHS_ALLOWED + 1)]
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
