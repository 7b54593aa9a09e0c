"""The grader process: `python -m autograder.checks ...` (see autograder.checks).

    python -m autograder.checks --list
    python -m autograder.checks GRADE_ID --submission DIR [--value NAME=JSON ...] [--seed N]
    python -m autograder.checks --all --submission DIR

The verdict is the last line of stdout, one JSON object:
    {"status": "passed" | "failed" | "error", "message": "...", "notes": [...]}
"failed" is the student's (the message says what to fix); "error" is the grader's (missing
data or reference), and never means points. Exit codes: 0 passed, 1 failed, 2 error.

--all runs every check outside any notebook kernel, reading the values the notebooks would
pass (answers, hyperparameters) from the submitted notebooks' source (see notebook_values),
and prints one JSON object {grade_id: verdict}; a value that is not set by a plain literal
gives an "error" verdict saying so. Grading can require this verdict as well as the
notebook's, so that student code in the kernel cannot fake a hidden check.
"""
import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from . import decode
from .catalog import CHECKS
from .framework import CheckFailed, Context, NotGradable
from .notebook_values import ValueNotFound, values_for


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.checks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grade_id", nargs="?", help="the grade_id of the notebook cell to check")
    parser.add_argument("--list", action="store_true", help="list every grade_id that has a check")
    parser.add_argument("--all", action="store_true",
                        help="run every check, with the values read from the submitted notebooks")
    parser.add_argument("--submission", type=Path, default=Path.cwd(),
                        help="the student's assignment folder (default: the current folder)")
    parser.add_argument("--value", action="append", default=[], metavar="NAME=JSON",
                        help="a value from the notebook, e.g. answer='{\"set\": [1, 2]}'")
    parser.add_argument("--answer", metavar="JSON", help="short for --value answer=JSON")
    parser.add_argument("--seed", type=int, help="seed of the random inputs (default: a fresh one)")
    args = parser.parse_args(argv)

    if args.list:
        width = max(map(len, CHECKS))
        for grade_id, registered in sorted(CHECKS.items()):
            print(f"{grade_id:<{width}}  {registered.description}")
        return 0
    if args.all:
        verdicts = evaluate_all(args.submission, args.seed)
        print(json.dumps(verdicts))
        return 0 if all(verdict["status"] == "passed" for verdict in verdicts.values()) else 1
    if args.grade_id is None:
        parser.error("name a grade_id, or use --list or --all")

    values = {}
    for item in args.value + ([f"answer={args.answer}"] if args.answer is not None else []):
        name, separator, text = item.partition("=")
        if not separator:
            parser.error(f"--value {item!r}: expected NAME=JSON")
        try:
            values[name] = decode(text)
        except ValueError:
            parser.error(f"--value {item!r}: not valid JSON")
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    verdict = evaluate(args.grade_id, args.submission, values, seed)
    print(json.dumps(verdict))
    return {"passed": 0, "failed": 1}.get(verdict["status"], 2)


def evaluate_all(submission, seed=None):
    """{grade_id: verdict} for every check, with the values read from the notebooks."""
    verdicts = {}
    for grade_id, registered in sorted(CHECKS.items()):
        try:
            values = values_for(grade_id, registered.parameters, submission)
        except ValueNotFound as problem:
            verdicts[grade_id] = {"status": "error", "notes": [],
                                  "message": f"cannot check this outside the notebook: {problem}"}
            continue
        verdicts[grade_id] = evaluate(grade_id, submission, values, seed)
    return verdicts


def evaluate(grade_id, submission, values=None, seed=None):
    """Run one check; returns the verdict dictionary printed by main()."""
    registered = CHECKS.get(grade_id)
    if registered is None:
        return {"status": "error", "message": f"no hidden check is registered for grade_id {grade_id!r}", "notes": []}
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
    ctx = Context(grade_id, Path(submission).resolve(), seed, dict(values or {}))
    try:
        registered.function(ctx)
        ctx.raise_failures()
    except CheckFailed as failure:
        message = str(failure)
        if not message.startswith("- "):
            message = f"- {message}"
        if ctx.used_random_inputs:  # lets an instructor rerun the very same inputs (--seed)
            message += f"\n(random inputs: seed {seed})"
        return {"status": "failed", "message": message, "notes": []}
    except NotGradable as problem:
        return {"status": "error", "message": f"the grader cannot run this check: {problem}", "notes": []}
    except Exception as bug:  # a bug of the grader: the traceback is for the instructor
        traceback.print_exc()
        return {"status": "error", "message": f"internal error of the grader: {type(bug).__name__}: {bug}",
                "notes": []}
    return {"status": "passed", "message": "", "notes": ctx.notes}


if __name__ == "__main__":
    sys.exit(main())
