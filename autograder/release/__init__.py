"""`autograder release <id>`: build the student release, verify it, then install or compare.

Every build goes to a temporary folder first and is verified there, so a release that
leaks solutions or does not import never reaches release/<id>:

    release(root, "hw1")              -> release/hw1/ updated (only changed files rewritten),
                                           the generated blocks of the handout refreshed, and
                                           the reference's cell times measured where they are
                                           stale (timing.py: grading's time limits follow them)
    release(root, "hw1", check=True)  -> nothing written; non-zero when release/hw1/, the
                                           handout or the cell times are stale
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..manifest import Manifest, load_manifest, manifest_path
from .build import FACTS_FILE, Build, build_release
from .install import compare_trees, install_tree
from .timing import TimingError, stale_cell_times, update_cell_times
from .verify import verify_release


def release(course_root: Path, assignment_id: str, check: bool = False, say=print) -> int:
    """Build, verify and install (or compare) a release; return the exit code."""
    manifest = load_manifest(manifest_path(course_root, assignment_id))
    with tempfile.TemporaryDirectory(prefix=f"release-{manifest.id}-") as out_root:
        build = build_release(course_root, manifest, Path(out_root))
        problems = verify_release(build.release_dir, course_root / "source" / manifest.id,
                                  manifest)
        if problems:
            say(f"Verification FAILED: {len(problems)} problem(s) in the release built from "
                f"source/{manifest.id}; release/{manifest.id} was left unchanged.")
            for problem in problems:
                say(f"  {problem}")
            return 1
        if check:
            return _compare(build, manifest, course_root, say)
        _install(build, manifest, course_root, say)
        try:
            update_cell_times(course_root, manifest, build.release_dir, say)
        except TimingError as error:
            say(f"Cell times NOT measured: {error}")
            return 1
        return 0


def _compare(build: Build, manifest: Manifest, course_root: Path, say) -> int:
    committed = course_root / "release" / manifest.id
    differences = compare_trees(build.release_dir, committed, manifest.local_only_patterns)
    handout = manifest.path.parent / "README.md"
    handout_stale = handout.read_text(encoding="utf-8") != build.handout
    times_stale = stale_cell_times(course_root, manifest, build.release_dir)
    if not differences and not handout_stale and not times_stale:
        say(f"release/{manifest.id} is up to date with source/{manifest.id} and verified.")
        return 0
    say(f"release/{manifest.id} is out of date with source/{manifest.id}:")
    for line in differences.lines(installed=False):
        say(f"  {line}")
    if handout_stale:
        say(f"  generated blocks are stale: {handout.relative_to(course_root)}")
    for name in times_stale:
        say(f"  the reference's cell times of {name} are missing or stale")
    say(f"Run `autograder release {manifest.id}` and commit the result.")
    return 1


def _install(build: Build, manifest: Manifest, course_root: Path, say) -> None:
    committed = course_root / "release" / manifest.id
    differences = install_tree(build.release_dir, committed, manifest.local_only_patterns)
    handout = manifest.path.parent / "README.md"
    if handout.read_text(encoding="utf-8") != build.handout:
        handout.write_text(build.handout, encoding="utf-8", newline="\n")
        say(f"Updated the generated blocks of {handout.relative_to(course_root)}")

    say(f"Wrote release/{manifest.id}/ from source/{manifest.id}/:")
    for notebook in manifest.notebooks:
        say(f"  {notebook:<30} solutions, hidden tests and outputs cleared by nbgrader")
    for module, regions in sorted(build.stripped.items()):
        functions = list(dict.fromkeys(region.name for region in regions))  # unique, in order
        say(f"  {module:<30} {len(regions)} solution region(s) stripped, in "
            f"{', '.join(functions)}")
    say(f"  {'README.md':<30} the handout (generated blocks filled, notes to instructors removed)")
    say(f"  {'datasets/get_datasets.sh':<30} copied from datasets/")
    say(f"  {FACTS_FILE:<30} what collect_submission.py needs, from the manifest")
    lines = differences.lines(installed=True)
    say(f"{len(lines)} file(s) changed since the previous release" + (":" if lines else "."))
    for line in lines:
        say(f"  {line}")
    say("Verification passed: no solution or hidden-test text in the release (no solution line, "
        "no solution expression and no gradient written out in its prose either), no nbgrader "
        "markers, no notes to instructors, every notebook and student module present, every "
        "module imports.")
