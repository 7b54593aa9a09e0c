"""Killing grading workers mid-task, as the kernel's OOM killer or a preempted node would, for
the tests of local workers (test_local_workers.py) and of a Dask cluster (test_cluster.py).

    killer = WorkerKiller("alice", times=1, workers=local_workers, in_notebooks=True)
    killer.start(); ...grade...; killer.stop()
    killer.killed          # PIDs of the workers killed
    killer.left_running    # what their nbgrader processes had started, still there afterwards

A worker grades a student when one of its processes works in the student's task folder
(executors.grade_in makes it: <scratch>/tasks/<student>-XXXX locally, nnkit-tasks/<student>-XXXX
on a Dask worker), which it makes after the attempt counted itself (executors._Attempts): a
killed attempt is always a death the grader counts. The killer looks again just before the
kill, so that a fast machine cannot have it kill the worker's next task instead.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Callable

import psutil

from autograder.grading.nbgrader_steps import WORKER_CHECK_SECONDS

# How long after its worker's death an nbgrader process may still be there: its own check,
# and the time to kill its kernels on a busy machine. (Executing the rest of a notebook, as
# it did before nbgrader_steps watched its worker, takes longer.)
NBGRADER_LEFT_SECONDS = WORKER_CHECK_SECONDS + 2.0


def local_workers() -> list[psutil.Process]:
    """The worker processes this process spawned (LocalExecutor)."""
    return psutil.Process().children()


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the process among workers() that grades `student`, up to `times`
    times, once per worker: as soon as its task is seen, or with in_notebooks once the
    student's notebooks execute (nbgrader has started a kernel). after_kill: called after
    each kill (a cluster waits for its nanny's new worker)."""

    def __init__(self, student: str, times: int, workers: Callable[[], list[psutil.Process]],
                 in_notebooks: bool = False, after_kill: Callable[[], None] = lambda: None):
        super().__init__(daemon=True)
        self.student, self.times, self.workers = student, times, workers
        self.in_notebooks, self.after_kill = in_notebooks, after_kill
        self.killed, self.left_running, self._stopping = [], [], threading.Event()
        self._lookouts = []

    def run(self) -> None:
        while len(self.killed) < self.times and not self._stopping.wait(0.1):
            worker = self._grading_worker()
            if worker is None or worker.pid in self.killed:
                continue
            nbgrader = nbgrader_processes(worker)
            started = descendants(nbgrader)
            if self.in_notebooks and not any(map(is_kernel, started)):
                continue
            if self._grading_worker() != worker:  # its task ended meanwhile
                continue
            worker.send_signal(signal.SIGKILL)
            self.killed.append(worker.pid)
            lookout = threading.Timer(NBGRADER_LEFT_SECONDS, self._note_alive, [nbgrader + started])
            lookout.start()
            self._lookouts.append(lookout)
            self.after_kill()

    def _grading_worker(self) -> psutil.Process | None:
        marker = f"tasks{os.sep}{self.student}-"
        for worker in self.workers():
            try:
                family = [worker, *worker.children(recursive=True)]
                if any(marker in process.cwd() or marker in " ".join(process.cmdline())
                       for process in family):
                    return worker
            except psutil.Error:  # it ended meanwhile
                continue
        return None

    def _note_alive(self, processes: list[psutil.Process]) -> None:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.status() != psutil.STATUS_ZOMBIE:
                    self.left_running.append(" ".join(process.cmdline()))

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        for lookout in self._lookouts:
            lookout.join()


def nbgrader_processes(worker: psutil.Process) -> list[psutil.Process]:
    """The worker's nbgrader_steps processes (one, unless tasks grade side by side)."""
    found = []
    for child in worker.children():
        with contextlib.suppress(psutil.Error):
            if "autograder.grading.nbgrader_steps" in child.cmdline():
                found.append(child)
    return found


def descendants(processes: list[psutil.Process]) -> list[psutil.Process]:
    """What the processes started (the child grading a submission, its kernels in their
    sandboxes), and what those started."""
    found = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            found += process.children(recursive=True)
    return found


def is_kernel(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "ipykernel_launcher" in " ".join(process.cmdline())
    return False
