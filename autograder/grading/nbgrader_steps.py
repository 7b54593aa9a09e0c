"""`nbgrader autograde`, then `nbgrader generate_feedback`, for one submission after another.

    python -P -m autograder.grading.nbgrader_steps

Importing nbgrader costs about a second of CPU, and grading needs two of nbgrader's
applications with a step of the grader's in between (task.py withholds the points of failed hidden
checks before the feedback shows them). So a grading worker starts this process once
(course.GradingSteps): it imports nbgrader, then forks a child for each submission, which
begins with nbgrader imported and nothing left of the submissions before it, as a new
`nbgrader` command would. The protocol, one line at a time each way:

1. the process reads a job, JSON: {"argv": [assignment, "--Class.trait=value", ...],
   "cwd": the scratch course folder, "env": the whole environment, "log": a file}; the end
   of stdin instead (no more submissions) ends it;
2. its child for the job moves into the folder, takes the environment, sends everything it
   prints to the log (nbgrader logs there as the `nbgrader` command logs to stderr; the
   caller keeps it for its error messages), runs autograde with the options given, waits
   for its notebooks' kernels to end (execute.py), and writes the step's outcome:
   {"step": "autograde", "success": true|false};
3. the child reads one line: FEEDBACK runs generate_feedback (without the options, which
   are autograde's) and writes its line; anything else (DONE) ends the child;
4. once its child has ended, the process writes {"step": "done", "exit_code": n} (n is
   negative for a child killed by a signal) and reads the next job.

A step that fails (nbgrader exits, or raises) reports success false. A child that dies
before its line is written shows as the process's "done" line, which the caller reads in
its place.

The process ends, with everything it started, as soon as the grading worker that started it
is gone, and its child as soon as the process is: a worker killed mid-task (the kernel's OOM
killer, a kill) has its task graded again elsewhere, and its nbgrader would otherwise go on
executing the notebooks, holding a core and a kernel's memory, until the end of the step
nobody waits for.
"""
import contextlib
import json
import os
import select
import sys
import tempfile
import threading
import time
import traceback

import psutil

FEEDBACK = "feedback"
DONE = "done"
# How often the process and its child look whether the process that started them is still there.
WORKER_CHECK_SECONDS = 1.0


def run_app(app_class, argv: list[str]) -> bool:
    """Run one nbgrader application as its command would; whether it succeeded."""
    app = app_class.instance()
    try:
        app.initialize(argv)
        app.start()
        return True
    except SystemExit as stop:  # nbgrader's apps end a failed run with sys.exit(1)
        return stop.code in (None, 0)
    except Exception:  # noqa: BLE001 - logged for the caller's error message, like the command
        app.log.exception("%s failed", app_class.name)
        return False
    finally:
        app.reset()  # nbgrader's apps are singletons: the next one starts afresh


def report(channel, **outcome) -> None:
    print(json.dumps(outcome), file=channel, flush=True)


def read_line() -> str:
    """One line of stdin, read byte by byte: the process and its child read the same pipe in
    turn, and a buffered read could take the other's line with its own."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:
            break
        line += byte
    return line.decode()


def redirect_output(log_file: str, streams=(1, 2)) -> None:
    """Send what is printed to these file descriptors to the end of log_file."""
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    for stream in streams:
        os.dup2(log, stream)
    os.close(log)


def take_job(job: dict) -> None:
    """Become the process of the job's submission: its folder, environment and log."""
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    tempfile.tempdir = None  # read again from the new TMPDIR, where the kernels' files go
    redirect_output(job["log"])


def end_with_descendants() -> None:
    """Kill everything this process started, then end it at once: the main thread may be
    anywhere in nbgrader, and there is nobody left to clean up for."""
    for descendant in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            descendant.kill()
    os._exit(1)


def watch_parent() -> None:
    """End this process and everything it started once the process that started it has
    ended (this process is then the child of another: getppid changes)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WORKER_CHECK_SECONDS)
        end_with_descendants()

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def grade(job: dict, channel) -> None:
    """The child's part: autograde, then feedback if asked."""
    from nbgrader.apps import AutogradeApp, GenerateFeedbackApp

    from .execute import KERNELS

    watch_parent()
    take_job(job)
    succeeded = run_app(AutogradeApp, job["argv"])
    KERNELS.finish()
    report(channel, step="autograde", success=succeeded)
    if read_line().strip() == FEEDBACK:
        report(channel, step=FEEDBACK, success=run_app(GenerateFeedbackApp, job["argv"][:1]))


def run_child(job: dict, channel) -> None:
    """Grade the job in this forked child and end it; never return into the loop of jobs."""
    try:
        grade(job, channel)
        exit_code = 0
    except BaseException:  # noqa: BLE001 - anything, even an interrupt, ends the child here
        traceback.print_exc()  # into the job's log
        exit_code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def wait_for(child: int, worker: int) -> int:
    """The child's exit code (negative: the signal that ended it), once it has ended; or
    this process ends, with the child, when the worker that started it is gone. No thread
    watches here: a process that forks should have only one."""
    ended = os.pidfd_open(child)  # readable once the child has ended
    try:
        while not select.select([ended], [], [], WORKER_CHECK_SECONDS)[0]:
            if os.getppid() != worker:
                end_with_descendants()
    finally:
        os.close(ended)
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])


def main() -> int:
    # Imported once, here, for every child to begin with (not at the top: the grader
    # imports this module for its protocol's words alone).
    import nbgrader.apps  # noqa: F401

    from . import execute  # noqa: F401

    worker = os.getppid()
    # stdout carries the protocol's lines alone; whatever else is printed goes to a log.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    while line := read_line():
        job = json.loads(line)
        redirect_output(job["log"], streams=(2,))  # this process's own errors, if any
        child = os.fork()
        if child == 0:
            run_child(job, channel)
        report(channel, step=DONE, exit_code=wait_for(child, worker))
    return 0


if __name__ == "__main__":
    sys.exit(main())
