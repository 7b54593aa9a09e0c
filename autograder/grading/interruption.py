"""Stopping a batch part-way: Ctrl-C, SIGTERM or a closed terminal end it with one sentence
and no process left behind.

    with Interruptions() as interruptions:        # the whole command
        ...
        interruptions.planned(total=len(entries), graded=len(plan.done))
        for result in results:
            with interruptions.recording():   # a signal waits until the result is in OUT
                ...
    # interrupted: raises GradingInterrupted(signal, graded, total), every process stopped

Worker processes start with `worker_started`: in a session of their own, so Ctrl-C (which
the terminal sends to its whole foreground process group) reaches the parent alone and the
parent decides what stops; and ending (with everything they started) when the parent ends,
also when it is killed outright. `stop_child_processes` ends every process the parent
started, and theirs: workers, nbgrader, kernels and the sandboxes' supervisors, which get
SIGTERM first so that they clean up (their sandbox, cgroup and scratch home).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from multiprocessing import resource_tracker

import psutil

from .. import sandbox

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Seconds a process gets to end after SIGTERM before it is killed.
STOP_GRACE = 10.0


class GradingInterrupted(BaseException):
    """The batch was stopped by a signal; str() is the sentence for the instructor."""

    def __init__(self, signum: int, graded: int | None, total: int | None):
        super().__init__(signum, graded, total)
        self.signum, self.graded, self.total = signum, graded, total

    @property
    def exit_code(self) -> int:
        """What a shell reports for a command ended by the signal (130 for Ctrl-C)."""
        return 128 + self.signum

    def __str__(self) -> str:
        if self.total is None:
            return ("The run was interrupted before grading began; run the same command "
                    "again to grade the submissions.")
        remaining = self.total - self.graded
        if remaining == 0:
            return (f"All {self.total} submission(s) were graded, but the run was interrupted "
                    "before it wrote the report; run the same command again to write it "
                    "(nothing is graded again).")
        return (f"Graded {self.graded} of {self.total} submission(s) before the run was "
                f"interrupted; run the same command again to grade the remaining {remaining}.")


class _Signalled(BaseException):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Interruptions:
    """How far a run got, and, while entered, SIGINT, SIGTERM and SIGHUP turned into
    GradingInterrupted after every child process is stopped.

    planned(total, graded) once the run knows its entries; `graded` counts the entries
    whose results are in OUT: those graded before, plus one per recording() block."""

    def __init__(self):
        self.total: int | None = None
        self.graded: int | None = None
        self._recording, self._pending, self._signalled = False, None, False
        self._previous = {}

    def planned(self, total: int, graded: int) -> None:
        self.total, self.graded = total, graded

    def __enter__(self) -> Interruptions:
        if threading.current_thread() is threading.main_thread():  # only there can signals be caught
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, kind, error, traceback) -> None:
        signum = (error.signum if isinstance(error, _Signalled) else
                  signal.SIGINT if isinstance(error, KeyboardInterrupt) else None)
        if signum is not None:  # nothing the run started may outlive it
            stop_child_processes()
        for handled, handler in self._previous.items():
            signal.signal(handled, handler)
        if signum is not None:
            raise GradingInterrupted(signum, self.graded, self.total) from None

    @contextlib.contextmanager
    def recording(self):
        """One result is being written to OUT: a signal now takes effect once it is all there."""
        self._recording = True
        try:
            yield
        finally:
            self._recording = False
        self.graded += 1
        if self._pending is not None:
            self._signalled = True
            raise _Signalled(self._pending)

    def _on_signal(self, signum, frame) -> None:
        if self._signalled:  # a second Ctrl-C while the first one is being handled
            return
        if self._recording:
            self._pending = signum
        else:
            self._signalled = True
            raise _Signalled(signum)


@contextlib.contextmanager
def stopped_when_left(pools: list):
    """Leaving the block by an exception (an interruption, or the caller closing a
    generator): cancel the queued tasks of the ProcessPoolExecutors in `pools` (as the list
    holds them then) and stop the running ones at once, instead of waiting for them."""
    try:
        yield pools
    except BaseException:
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        stop_child_processes()
        raise


def stop_child_processes(grace: float = STOP_GRACE) -> None:
    """End every process this one started, and theirs: SIGTERM, then SIGKILL for those still
    there after `grace` seconds. Repeated until none is left, as a process may start another
    while the first ones end. multiprocessing's resource tracker stays: it ends with this
    process and cleans up after the workers."""
    this = psutil.Process()
    spared = {getattr(resource_tracker._resource_tracker, "_pid", None)}  # noqa: SLF001
    for _ in range(3):
        family = [process for process in _descendants(this) if process.pid not in spared]
        if not family:
            return
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        _, alive = psutil.wait_procs(family, timeout=grace)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(alive, timeout=grace)


def _descendants(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def worker_started() -> None:
    """Run first in each worker process (ProcessPoolExecutor's initializer)."""
    with contextlib.suppress(OSError):
        os.setsid()  # Ctrl-C reaches the parent alone
    signal.signal(signal.SIGTERM, _end_worker)
    sandbox.end_with_parent()  # SIGTERM when the parent ends, however it ends


def _end_worker(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stop_child_processes()
    os._exit(128 + signum)
