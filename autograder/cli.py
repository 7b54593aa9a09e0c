"""The `autograder` command: one subcommand per job of the course pipeline."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .manifest import ManifestError, manifest_path
from .release import release
from .release.build import BuildError
from .release.handout import HandoutError
from .release.strip import StripError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    release_parser = commands.add_parser(
        "release", help="build the student release release/<id> from source/<id>",
        description="Build release/<id> from source/<id> with nbgrader, strip the solutions "
                    "from the modules, add the handout and data script, and verify that no "
                    "solution text is left and every module imports.")
    release_parser.add_argument("assignment", help="assignment id, e.g. fcnet")
    release_parser.add_argument(
        "--check", action="store_true",
        help="build into a temporary folder and fail if release/<id> differs (writes nothing)")
    release_parser.add_argument(
        "--root", type=Path, default=None,
        help="the course folder (default: the nearest folder upwards from here holding "
             "assignments/<id>/manifest.toml)")

    args = parser.parse_args(argv)
    try:
        root = args.root or _find_course_root(args.assignment)
        return release(root.resolve(), args.assignment, check=args.check)
    except (ManifestError, BuildError, StripError, HandoutError) as error:
        print(f"autograder {args.command}: {error}", file=sys.stderr)
        return 1


def _find_course_root(assignment_id: str) -> Path:
    for folder in (Path.cwd(), *Path.cwd().parents):
        if manifest_path(folder, assignment_id).is_file():
            return folder
    raise ManifestError(f"no assignments/{assignment_id}/manifest.toml in {Path.cwd()} or any "
                        "folder above it: run inside the course repository or pass --root")
