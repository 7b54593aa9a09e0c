"""`nbgrader autograde`, then `nbgrader generate_feedback`, in one process.

    python -m autograder.grading.nbgrader_steps ASSIGNMENT [--Class.trait=value ...]

run in a scratch course folder (course.py). Importing nbgrader and setting up one of its
applications costs more than a second of CPU, and grading a submission needs two of them
with a step of the grader's in between (task.py withholds the points of failed hidden
checks from the verdicts it holds before the feedback shows them), so one process runs
both, waiting for the grader in between:

1. runs autograde (with the options given) and writes one line to stdout, the step's
   outcome as JSON: {"step": "autograde", "success": true|false};
2. reads one line from stdin: "feedback" runs generate_feedback (without the options,
   which are autograde's) and writes its line; anything else, or the end of stdin, ends
   the process.

nbgrader logs to stderr, as the `nbgrader` command does (the caller keeps it for its error
messages), and so does anything else the process prints. A step that fails (nbgrader exits, or raises) reports success false and the
process goes on to the next line.
"""
import json
import os
import sys

FEEDBACK = "feedback"


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


def main(argv: list[str]) -> int:
    # Here, not at the top: the grader imports this module for FEEDBACK alone.
    from nbgrader.apps import AutogradeApp, GenerateFeedbackApp

    # stdout carries the steps' outcomes alone; whatever else is printed goes to the log.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    assignment, options = argv[0], argv[1:]
    report("autograde", run_app(AutogradeApp, [assignment, *options]), channel)
    if sys.stdin.readline().strip() == FEEDBACK:
        report(FEEDBACK, run_app(GenerateFeedbackApp, [assignment]), channel)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
