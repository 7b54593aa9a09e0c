"""Where grading tasks run: local worker processes (the default) or an existing Dask cluster.

    executor = LocalExecutor(workers=2, scratch=scratch)  # or DaskExecutor("tcp://host:8786")
    with closing(executor.results(tasks, bundle)) as results:
        for result in results: ...       # each task's GradingResult, as it finishes

Both take the tasks lazily (a task carries its submission's files) and keep each worker
busy, ship the assignment bundle (bundle.py) once to each worker, which unpacks it once
into a cache of its own, and turn a task that crashed into a failed result, so one
submission never stops a batch. A worker that dies while grading (killed, out of memory)
costs only that task: it runs again on another worker, and a submission that took down
WORKER_DEATHS_ALLOWED workers fails instead, saying so; the coordinator says each death in
one line. Closing the generator (Ctrl-C included) stops what is running: the local
workers' processes (interruption.py), or the run's futures on the cluster.

Locally, each worker is a pool of one process (LocalExecutor). On a cluster, the scheduler
runs again the task of a worker that died; so that a submission that kills every worker it
runs on ends instead of taking the cluster down one worker at a time, each task counts its
own attempts in the scheduler's metadata: an attempt that finds WORKER_DEATHS_ALLOWED
earlier attempts that never finished does not grade, it fails the submission; an attempt
after a death tells the coordinator. The scheduler's own limit
(`distributed.scheduler.allowed-failures`, 3 by default, set by whoever runs the cluster)
is only a backstop: a KilledWorker error becomes the same kind of failure.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import multiprocessing
import os
import shutil
import tempfile
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterable, Iterator

from .bundle import AssignmentBundle
from .interruption import stopped_when_left, worker_started
from .task import GradingResult, GradingTask, grade_submission, grader_failure, unexpected_failure

# Tasks in flight per Dask worker thread: the next one waits there while a result travels back.
IN_FLIGHT_PER_WORKER = 2
# Workers a submission may take down (a death each) before it is failed instead of retried.
WORKER_DEATHS_ALLOWED = 2
_METADATA = "nnkit-grading"  # the scheduler metadata our attempt counts live under
LOST_WORKER_TOPIC = "nnkit-grading-lost-worker"  # an attempt after a worker died says so
DATA_DIR_ENV = "NNKIT_DATA_DIR"  # a worker's own datasets folder, if not the coordinator's path


def grade_in(bundle: Path, task: GradingTask, scratch_root: Path) -> GradingResult:
    """Grade `task` with the unpacked bundle in a new scratch folder below scratch_root,
    removed afterwards (its files travel back in the result). A bug of the grader's fails
    the task (task.unexpected_failure), saying where it happened."""
    if bundle.name != task.bundle:  # AssignmentBundle.unpacked names the folder by its digest
        return grader_failure(task, f"the worker holds assignment bundle {bundle.name[:12]}, "
                                    f"not the task's {task.bundle[:12]}")
    scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{task.entry.student_id}-", dir=scratch_root))
    try:
        return grade_submission(task, bundle, scratch / "task")
    except Exception as error:  # a bug: failed here, where its traceback tells where
        return unexpected_failure(task, error)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- local worker processes ---------------------------------------------------------------

class LocalExecutor:
    """`workers` spawned processes on this machine, in `scratch` (the run's scratch folder).
    say: where the coordinator's one-line messages go (a worker lost, ...).

    Each worker is a pool of its own with one task at a time, so that a worker that dies
    (the kernel's OOM killer, a kill) takes down nothing but the task it was grading: that
    task is graded again in a new worker, unless it has taken down WORKER_DEATHS_ALLOWED
    workers already (then it fails, as on a cluster), and the other workers go on. (One
    shared pool would fail every task still queued, and stop the others' running tasks.)
    The next task is handed over as a result comes back: milliseconds, against the seconds
    a submission takes."""

    def __init__(self, workers: int, scratch: Path, say=print):
        self.workers, self.scratch, self.say = workers, scratch, say

    def describe(self) -> str:
        return f"{self.workers} local worker(s)"

    def results(self, tasks: Iterable[GradingTask],
                bundle: AssignmentBundle) -> Iterator[GradingResult]:
        tasks, again = iter(tasks), collections.deque()  # again: tasks whose worker died
        deaths = collections.Counter()  # student id: workers died grading it
        workers = [self._new_worker(bundle) for _ in range(self.workers)]
        running = {}  # future: (worker number, task)

        def hand_over(number: int) -> None:
            task = again.popleft() if again else next(tasks, None)
            if task is None:
                return
            try:
                future = workers[number].submit(_grade_in_local_worker, task, self.scratch / "tasks")
            except BrokenProcessPool:  # it died between two tasks
                workers[number] = self._new_worker(bundle)
                future = workers[number].submit(_grade_in_local_worker, task, self.scratch / "tasks")
            running[future] = number, task

        with stopped_when_left(workers):
            for number in range(self.workers):
                hand_over(number)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    number, task = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:  # the worker died while grading this task
                        workers[number].shutdown(wait=False)
                        workers[number] = self._new_worker(bundle)
                        result = self._after_death(task, deaths, again)
                    except Exception as error:  # a bug
                        result = unexpected_failure(task, error)
                    hand_over(number)
                    if result is not None:
                        yield result
            for worker in workers:
                worker.shutdown()

    def _new_worker(self, bundle: AssignmentBundle) -> ProcessPoolExecutor:
        # "spawn": each worker starts from a fresh interpreter, as a cluster node would, so
        # the tasks rely on nothing but what they carry and the bundle. (One worker is a
        # process too: an interruption stops it like any other, interruption.py.)
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_local_worker_started,
                                   initargs=(bundle, self.scratch / "bundles"))

    def _after_death(self, task: GradingTask, deaths: collections.Counter,
                     again: collections.deque) -> GradingResult | None:
        """Queue the task of a worker that died to be graded again, or (after
        WORKER_DEATHS_ALLOWED deaths) return its failure."""
        student = task.entry.student_id
        deaths[student] += 1
        self.say(lost_worker(student, deaths[student], "a new worker"))
        if deaths[student] >= WORKER_DEATHS_ALLOWED:
            return grader_failure(task, killed_workers(deaths[student]))
        again.append(task)
        return None


_local_bundle: Path | None = None  # in a local worker process: its unpacked bundle


def _local_worker_started(bundle: AssignmentBundle, cache: Path) -> None:
    global _local_bundle
    worker_started()
    _local_bundle = bundle.unpacked(cache)


def _grade_in_local_worker(task: GradingTask, scratch_root: Path) -> GradingResult:
    return grade_in(_local_bundle, task, scratch_root)


# --- a Dask cluster -------------------------------------------------------------------------

class DaskExecutor:
    """The workers of an existing Dask scheduler at `address` (tcp://host:port). say: where
    the coordinator's one-line messages go (a worker lost, ...)."""

    def __init__(self, address: str, say=print):
        self.address, self.say = address, say

    def describe(self) -> str:
        return f"the Dask cluster at {self.address}"

    def results(self, tasks: Iterable[GradingTask],
                bundle: AssignmentBundle) -> Iterator[GradingResult]:
        from distributed import Client, as_completed  # only a cluster run pays for importing it
        from distributed.scheduler import KilledWorker

        run = uuid.uuid4().hex
        with Client(self.address, set_as_default=False) as client:
            # Called on the client's event loop as soon as a task begins again after its
            # worker died. (Not the scheduler's own "all" topic: some of its events cannot be
            # sent to a client, and the scheduler then drops the client and its tasks.)
            client.subscribe_topic(LOST_WORKER_TOPIC, lambda event: self._say_lost(event[1], run))
            # A task whose result is the bundle: each worker fetches it once, from a peer or
            # the worker that made it, and should every holder die, the scheduler makes it
            # again (scattered data would be lost, and with it every task of the run).
            shipped = client.submit(_the_bundle, bundle, pure=False,
                                    key=f"nnkit-bundle-{bundle.digest[:16]}-{run}")
            tasks, running, finished = iter(tasks), {}, as_completed(loop=client.loop)

            def submit_next() -> None:
                task = next(tasks, None)
                if task is not None:
                    future = client.submit(grade_on_dask_worker, task, shipped, run, pure=False,
                                           key=f"grade-{task.entry.student_id}-{run}")
                    running[future] = task
                    finished.add(future)

            try:
                for _ in range(max(1, sum(client.nthreads().values())) * IN_FLIGHT_PER_WORKER):
                    submit_next()
                for future in finished:
                    task = running.pop(future)
                    submit_next()
                    try:
                        yield future.result()
                    except KilledWorker as error:  # the scheduler's own limit came first
                        yield grader_failure(task, killed_workers(error.allowed_failures + 1))
                    except Exception as error:
                        yield unexpected_failure(task, error)
            finally:
                # Ctrl-C, an error, or the end: nothing of this run stays on the cluster.
                client.cancel([*running, shipped], force=True)
                with contextlib.suppress(Exception):
                    client.set_metadata([_METADATA, run], {})

    def _say_lost(self, event: dict, run: str) -> None:
        if event.get("run") == run:
            self.say(lost_worker(event["student"], event["deaths"], event["worker"]))


def _the_bundle(bundle: AssignmentBundle) -> AssignmentBundle:
    return bundle


def lost_worker(student: str, deaths: int, where_next: str) -> str:
    """The coordinator's line when a worker died grading `student` (the deaths-th time)."""
    return (f"  A grading worker died while grading {student} ({deaths} so far): " +
            (f"grading it again on {where_next}." if deaths < WORKER_DEATHS_ALLOWED
             else "not graded again."))


def killed_workers(deaths: int) -> str:
    return (f"killed {deaths} grading workers (each died while grading it: out of memory, or "
            "killed); not retried")


def grade_on_dask_worker(task: GradingTask, bundle: AssignmentBundle, run: str) -> GradingResult:
    """Run on a Dask worker: grade the task in the worker's own local directory, unless the
    attempts before this one took down WORKER_DEATHS_ALLOWED workers already."""
    from distributed import get_client, get_worker

    attempts = _Attempts(get_client(), run, task.entry.student_id)
    deaths = attempts.begin()
    worker = get_worker()
    if deaths:
        worker.log_event(LOST_WORKER_TOPIC, {"run": run, "student": task.entry.student_id,
                                             "deaths": deaths, "worker": worker.address})
    if deaths >= WORKER_DEATHS_ALLOWED:
        return grader_failure(task, killed_workers(deaths))
    if os.environ.get(DATA_DIR_ENV):  # where this machine keeps the datasets
        task = dataclasses.replace(task, data_dir=Path(os.environ[DATA_DIR_ENV]))
    local = Path(worker.local_directory)
    result = grade_in(bundle.unpacked(local / "nnkit-bundles"), task, local / "nnkit-tasks")
    attempts.end()
    return result


class _Attempts:
    """How often one task of one run began and ended, in the scheduler's metadata (which
    outlives any worker): an attempt that began and never ended lost its worker."""

    def __init__(self, client, run: str, student_id: str):
        self._client, self._keys = client, [_METADATA, run, student_id]

    def begin(self) -> int:
        """Count this attempt; return how many earlier ones never ended."""
        counts = self._client.get_metadata(self._keys, default=None) or {"began": 0, "ended": 0}
        self._client.set_metadata(self._keys, {**counts, "began": counts["began"] + 1})
        return counts["began"] - counts["ended"]

    def end(self) -> None:
        counts = self._client.get_metadata(self._keys)
        self._client.set_metadata(self._keys, {**counts, "ended": counts["ended"] + 1})
