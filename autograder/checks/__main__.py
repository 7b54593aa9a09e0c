"""The grader process: `python -m autograder.checks ...` (see autograder.checks).

    python -m autograder.checks --list
    python -m autograder.checks GRADE_ID --submission DIR [--value NAME=JSON ...] [--seed N]
    python -m autograder.checks --all --submission DIR
    python -m autograder.checks --serve

The verdict is the last line of stdout, one JSON object:
    {"status": "passed" | "failed" | "error", "message": "...", "notes": [...], "modules": [...]}
"failed" is the student's (the message says what to fix); "error" is the grader's (missing
data or reference), and never means points; "modules" lists the submission's files the
check ran. Exit codes: 0 passed, 1 failed, 2 error.

--all runs every check outside any notebook kernel, reading the values the notebooks would
pass (answers, hyperparameters) from the submitted notebooks' source (see notebook_values),
in the order the notebooks reach them, and prints one line per check as it finishes,
{"grade_id": ..., "verdict": {...}}; a value the notebook does not set, or sets by an
expression the grader does not evaluate, fails its check with a message saying where to set
it and in which form (a multiple-choice question not answered gets "unanswered": true).
Grading requires these verdicts (autograder/grading/hidden.py), so that student code in
the kernel cannot fake a hidden check.

--serve is the grader of one notebook kernel (autograder.checks._GraderServer): it reads
one request per line on stdin, {"grade_id": ..., "submission": DIR, "values": {NAME: JSON}},
runs that check with a fresh seed and writes its verdict on one line of stdout, until stdin
closes. Everything else the checks print goes to stderr.
"""
import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from .. import sandbox
from ..manifest import load_manifest, manifest_path
from . import decode
from .assignment import current_checks
from .framework import REFERENCE_DIR, CheckFailed, Context, NotGradable
from .notebook_values import notebook_order, values_for
from .student_process import close_all, forget_timeouts


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.checks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grade_id", nargs="?", help="the grade_id of the notebook cell to check")
    parser.add_argument("--list", action="store_true", help="list every grade_id that has a check")
    parser.add_argument("--all", action="store_true",
                        help="run every check, with the values read from the submitted notebooks")
    parser.add_argument("--serve", action="store_true",
                        help="run the checks requested on stdin, one verdict per line on stdout")
    parser.add_argument("--submission", type=Path, default=Path.cwd(),
                        help="the student's assignment folder (default: the current folder)")
    parser.add_argument("--value", action="append", default=[], metavar="NAME=JSON",
                        help="a value from the notebook, e.g. answer='{\"set\": [1, 2]}'")
    parser.add_argument("--answer", metavar="JSON", help="short for --value answer=JSON")
    parser.add_argument("--seed", type=int, help="seed of the random inputs (default: a fresh one)")
    args = parser.parse_args(argv)

    try:
        checks = current_checks().checks
    except NotGradable as problem:
        parser.error(str(problem))
    if args.list:
        width = max(map(len, checks))
        for grade_id, registered in sorted(checks.items()):
            print(f"{grade_id:<{width}}  {registered.description}")
        return 0
    if args.all:
        passed = True
        for grade_id, result in each_verdict(args.submission, args.seed):
            print(json.dumps({"grade_id": grade_id, "verdict": result}), flush=True)
            passed = passed and result["status"] == "passed"
        return 0 if passed else 1
    if args.serve:
        serve()
        return 0
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


def serve():
    """--serve: answer the requests on stdin until it closes (see the module docstring)."""
    sandbox.end_with_parent()  # a kernel killed mid-check ends its grader (and so its student processes)
    # The verdicts get a private copy of stdout; whatever a check or the reference prints
    # goes to stderr, so it cannot be taken for a verdict.
    verdicts = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        request = json.loads(line)
        values = {name: decode(text) for name, text in request["values"].items()}
        verdicts.write(json.dumps(evaluate(request["grade_id"], request["submission"], values)) + "\n")
        verdicts.flush()
        forget_timeouts()  # the next request may come after the student fixed an endless loop
    close_all()


def each_verdict(submission, seed=None):
    """(grade_id, verdict) of every check, with the values read from the notebooks, in the
    order the notebooks reach the checks."""
    checks = current_checks().checks
    manifest = load_manifest(manifest_path(REFERENCE_DIR.parents[1], REFERENCE_DIR.name))
    for grade_id in notebook_order(checks, REFERENCE_DIR, manifest.notebooks):
        values = values_for(checks[grade_id].values_from, submission)
        yield grade_id, evaluate(grade_id, submission, values, seed)
    close_all()


def evaluate(grade_id, submission, values=None, seed=None):
    """Run one check; returns the verdict dictionary printed by main()."""
    registered = current_checks().checks.get(grade_id)
    if registered is None:
        return verdict("error", f"no hidden check is registered for grade_id {grade_id!r}")
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
    ctx = Context(grade_id, Path(submission).resolve(), seed, dict(values or {}), registered.values_from)
    try:
        registered.function(ctx)
        ctx.raise_failures()
    except CheckFailed as failure:
        message = str(failure)
        if not message.startswith("- "):
            message = f"- {message}"
        if ctx.used_random_inputs:  # lets an instructor rerun the very same inputs (--seed)
            message += f"\n(random inputs: seed {seed})"
        return verdict("failed", message, modules=ctx.modules, unanswered=ctx.unanswered)
    except NotGradable as problem:
        return verdict("error", f"the grader cannot run this check: {problem}")
    except Exception as bug:  # a bug of the grader: the traceback is for the instructor
        traceback.print_exc()
        return verdict("error", f"internal error of the grader: {type(bug).__name__}: {bug}")
    return verdict("passed", notes=ctx.notes, modules=ctx.modules)


def verdict(status, message="", notes=(), modules=(), unanswered=False):
    result = {"status": status, "message": message, "notes": list(notes), "modules": sorted(modules)}
    if unanswered:  # a question not answered: the message says where to answer it
        result["unanswered"] = True
    return result


if __name__ == "__main__":
    sys.exit(main())
