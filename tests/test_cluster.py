"""Grading on a Dask cluster (`autograder grade --cluster ADDRESS`), on real servers.

One cluster for the module (tests/dask_cluster.py): a `dask scheduler` and two `dask worker`
processes (one process, one thread each, under nannies) on loopback, working in a temporary
folder outside the repository with no PYTHONPATH, stopped by PID afterwards.

Slow, on conftest's graded_class (alice and bob: the reference; carol: the blank release;
graded there with 2 local workers):
- graded with 1 local worker, on the cluster from a copy of the course that is moved away
  once the bundle is built (so the tasks cannot read any checkout), and on the cluster into
  PostgreSQL with a worker killed while bob's notebooks execute: identical grades.csv and
  scores.csv, every student graded once, and nothing of the dead worker's nbgrader left;
- a submission whose worker is killed every time it grades it fails after 2 worker deaths
  ("killed 2 grading workers"), while the rest of the batch is graded;
- Ctrl-C cancels the run's tasks on the cluster and says "Graded N of 3 ...".
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.cli import main as autograder_main
from autograder.grading import batch
from autograder.grading.executors import WORKER_DEATHS_ALLOWED, killed_workers
from autograder.grading.records import OutputPaths, read_csv
from dask_cluster import DaskCluster
from postgres_server import PostgresServer, PostgresUnavailable
from test_postgres_gradebook import NEED_SERVER_ENV, PASSWORD, ROLE
from worker_killer import WorkerKiller

REPO = Path(__file__).resolve().parents[1]
# What a course needs on the coordinator: its settings, the assignment's source, release and facts.
RANDOM_SEED = re.compile(r" \(random inputs: seed \d+\)")
COURSE_FILES = ("nbgrader_config.py", "source/fcnet", "release/fcnet", "assignments/fcnet")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    cluster = DaskCluster.start(workers=2)
    yield cluster
    cluster.stop()


def grade(submissions: Path, out: Path, *options: str, root: Path = REPO) -> int:
    return autograder_main(["grade", "fcnet", "--submissions", str(submissions), "--out",
                            str(out), "--root", str(root), *options])


def rows(out: Path) -> dict[str, list[dict]]:
    """grades.csv and scores.csv, without the random seeds of the checks' inputs (fresh on
    every run; the messages print them so that an instructor can rerun the same inputs)."""
    paths = OutputPaths(out)
    scores = [{**row, "message": RANDOM_SEED.sub("", row["message"])}
              for row in read_csv(paths.scores_csv)]
    return {"grades": read_csv(paths.grades_csv), "scores": scores}


def worker_killer(cluster: DaskCluster, student: str, times: int, **options) -> WorkerKiller:
    """Kills the cluster's worker process grading `student` (its nanny starts a new one,
    which the killer waits for before it kills again)."""
    return WorkerKiller(student, times, workers=cluster.worker_processes,
                        after_kill=lambda: cluster.wait_for_workers(2), **options)


def test_workers_cannot_reach_the_checkout(cluster):
    with cluster.client() as client:
        places = client.run(lambda: (os.getcwd(), os.environ.get("PYTHONPATH")))
    assert len(places) == 2
    for cwd, pythonpath in places.values():
        assert not Path(cwd).is_relative_to(REPO) and pythonpath is None


def test_the_same_class_graded_four_ways_gets_the_same_grades(cluster, graded_class, tmp_path,
                                                              capsys, monkeypatch, datasets_dir):
    local_two = rows(graded_class.out)
    assert grade(graded_class.submissions, tmp_path / "local1", "--workers", "1") == 0
    assert rows(tmp_path / "local1") == local_two

    # On the cluster, from a copy of the course that is gone once the bundle is built.
    course = tmp_path / "course"
    for name in COURSE_FILES:
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, course / name)
    monkeypatch.setenv("NNKIT_DATA_DIR", str(datasets_dir))
    real_build = batch.build_bundle

    def build_then_move_the_course(*args, **kwargs):
        bundle = real_build(*args, **kwargs)
        course.rename(tmp_path / "course-moved-away")
        return bundle

    monkeypatch.setattr(batch, "build_bundle", build_then_move_the_course)
    assert grade(graded_class.submissions, tmp_path / "dask", "--cluster", cluster.address,
                 root=course) == 0
    monkeypatch.undo()
    assert not course.exists()
    said = capsys.readouterr().out
    assert f"with the Dask cluster at {cluster.address}" in said and "[3/3, " in said
    assert rows(tmp_path / "dask") == local_two

    # Into PostgreSQL, with a worker killed while it grades bob.
    try:
        postgres = PostgresServer.start()
    except PostgresUnavailable as why:
        (pytest.fail if os.environ.get(NEED_SERVER_ENV) == "1" else pytest.skip)(
            f"no PostgreSQL server: {why}")
    try:
        url = postgres.create_database("fcnet_cluster", ROLE, PASSWORD)
        killer = worker_killer(cluster, "bob", times=1, in_notebooks=True)
        killer.start()
        try:
            assert grade(graded_class.submissions, tmp_path / "dask-pg", "--cluster",
                         cluster.address, "--db", url) == 0
        finally:
            killer.stop()
        assert len(killer.killed) == 1
        assert killer.left_running == []  # the dead worker's nbgrader and kernel ended with it
        said = capsys.readouterr().out
        assert "A grading worker died while grading bob (1 so far): grading it again" in said, said
        assert rows(tmp_path / "dask-pg") == local_two  # nothing lost, nobody twice
        assert sorted(path.stem for path in (tmp_path / "dask-pg" / "progress" / "entries")
                      .glob("*.json")) == ["alice", "bob", "carol"]
    finally:
        postgres.stop()


def test_a_submission_that_kills_its_workers_fails_after_two_and_the_rest_is_graded(
        cluster, graded_class, tmp_path, capsys):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy2(graded_class.submissions / "carol.zip", submissions / "carol.zip")
    shutil.copy2(graded_class.submissions / "carol.zip", submissions / "killer.zip")
    killer = worker_killer(cluster, "killer", times=WORKER_DEATHS_ALLOWED + 1)
    killer.start()
    try:
        assert grade(submissions, tmp_path / "out", "--cluster", cluster.address) == 0
    finally:
        killer.stop()
    assert len(killer.killed) == WORKER_DEATHS_ALLOWED  # a third attempt never graded it
    grades = {row["student_id"]: row for row in read_csv(OutputPaths(tmp_path / "out").grades_csv)}
    assert sorted(grades) == ["carol", "killer"]
    assert grades["killer"]["status"].startswith(f"failed: {killed_workers(WORKER_DEATHS_ALLOWED)}")
    assert grades["carol"]["status"].startswith("ok")
    said = capsys.readouterr().out
    assert said.count("A grading worker died while grading killer") == WORKER_DEATHS_ALLOWED
    # A grader's fault, as a crash is: the next run grades it again.
    record = json.loads((tmp_path / "out" / "progress" / "entries" / "killer.json").read_text())
    assert record["grader_fault"] is True


def test_ctrl_c_cancels_the_runs_tasks_on_the_cluster_and_says_how_far_it_got(
        cluster, graded_class, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade", "fcnet", "--submissions",
               str(graded_class.submissions), "--out", str(out), "--cluster", cluster.address,
               "--root", str(REPO)]
    with (tmp_path / "stderr").open("w") as stderr:
        run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
                               start_new_session=True)
        while run.poll() is None and not list((out / "progress" / "entries").glob("*.json")):
            time.sleep(0.2)
        assert run.poll() is None, (tmp_path / "stderr").read_text()
        os.killpg(run.pid, signal.SIGINT)
        run.wait()
    said = (tmp_path / "stderr").read_text()
    assert run.returncode == 130, said
    assert re.search(r"Graded [12] of 3 submission\(s\) before the run was interrupted", said)
    assert "Traceback" not in said
    with cluster.client() as client:  # nothing of the run is left queued on the cluster
        deadline = time.monotonic() + 60
        while (left := client.run_on_scheduler(
                lambda dask_scheduler: [str(key) for key in dask_scheduler.tasks])) \
                and time.monotonic() < deadline:
            time.sleep(0.5)
    assert left == []
