"""`nbgrader autograde`, then `nbgrader generate_feedback`, in one process.

    python -P -m autograder.grading.nbgrader_steps

Importing nbgrader and setting up one of its applications costs more than a second of CPU,
and grading a submission needs two of them with a step of the grader's in between (task.py
withholds the points of failed hidden checks from the verdicts it holds before the
feedback shows them), so one process runs both, and it imports nbgrader before it is given
its submission: the grader starts the next submission's process while one is graded
(course.GradingSteps). The process

1. imports nbgrader, then reads one line from stdin, its job as JSON: {"argv": [assignment,
   "--Class.trait=value", ...], "cwd": the scratch course folder, "env": the whole
   environment, "log": a file}; the end of stdin instead (no submission came) ends it;
2. moves into the folder, takes the environment, sends everything it prints to the log
   (nbgrader logs there as the `nbgrader` command logs to stderr; the caller keeps it for
   its error messages), runs autograde with the options given, waits for its notebooks'
   kernels to end (execute.py), and writes one line to stdout, the step's outcome as JSON: {"step": "autograde", "success": true|false};
3. reads one line from stdin: "feedback" runs generate_feedback (without the options,
   which are autograde's) and writes its line; anything else, or the end of stdin, ends
   the process.

A step that fails (nbgrader exits, or raises) reports success false and the process goes
on to the next line.

The process ends, with the kernels it started, as soon as the grading worker that started
it is gone: a worker killed mid-task (the kernel's OOM killer, a kill) has its task graded
again elsewhere, and this process would otherwise go on executing the notebooks, holding a
core and a kernel's memory, until the end of the step nobody waits for.
"""
import contextlib
import json
import os
import sys
import tempfile
import threading
import time

import psutil

FEEDBACK = "feedback"
# How often the process looks whether its worker is still there.
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


def report(step: str, success: bool, channel) -> None:
    print(json.dumps({"step": step, "success": success}), file=channel, flush=True)


def take_job(job: dict) -> None:
    """Become the process of the job's submission: its folder, environment and log."""
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    tempfile.tempdir = None  # read again from the new TMPDIR, where the kernels' files go
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(job["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(log, sys.stdout.fileno())
    os.dup2(log, sys.stderr.fileno())
    os.close(log)


def end_with_worker() -> None:
    """End this process and everything it started once the process that started it has
    ended (this process is then the child of another: getppid changes)."""
    worker = os.getppid()

    def watch() -> None:
        while os.getppid() == worker:
            time.sleep(WORKER_CHECK_SECONDS)
        for descendant in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                descendant.kill()
        os._exit(1)  # the main thread may be anywhere in nbgrader: no clean-up to wait for

    threading.Thread(target=watch, name="end-with-worker", daemon=True).start()


def main() -> int:
    end_with_worker()
    # Here, not at the top: the grader imports this module for FEEDBACK alone.
    from nbgrader.apps import AutogradeApp, GenerateFeedbackApp

    from .execute import KERNELS

    # stdout carries the steps' outcomes alone; whatever else is printed goes to the log.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    line = sys.stdin.readline()
    if not line:
        return 0
    job = json.loads(line)
    take_job(job)
    succeeded = run_app(AutogradeApp, job["argv"])
    KERNELS.finish()
    report("autograde", succeeded, channel)
    if sys.stdin.readline().strip() == FEEDBACK:
        report(FEEDBACK, run_app(GenerateFeedbackApp, job["argv"][:1]), channel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
