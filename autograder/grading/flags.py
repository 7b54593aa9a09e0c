"""Student modules that reach for the grader or the reference solution.

A student's nnkit has no business importing the autograder or nbgrader, or naming the
course's files (the reference solution in source/, the hidden checks' answer key, a
gradebook). In the sandbox such attempts fail anyway (none of it is visible there); this
scan makes them visible to the instructor, and the checks that run a flagged module get
no points (hidden.apply_flags), also where no sandbox is available.

The scan reads the modules' syntax trees (nothing is run): imports, and string constants
with one of the tell-tale names. `importlib.import_module("autog" + "rader")` escapes it;
the sandbox does not rely on it.
"""
from __future__ import annotations

import ast
import contextlib
from pathlib import Path

from ..manifest import Manifest

GRADER_PACKAGES = ("autograder", "nbgrader")
# Parses of one module before a spurious SystemError is believed (see _syntax_tree).
PARSE_ATTEMPTS = 3
# Names in a string constant that only code looking for the grader's files would use.
GRADER_NAMES = ("autograder", "nbgrader", "answer_checks", "gradebook",
                "hidden_verdicts", "verdicts.json")


def flag_grader_access(folder: Path, manifest: Manifest, course_files: Path) -> dict[str, str]:
    """{module path: why} for the student modules in `folder` that reach for the grader.
    course_files: where the course's files are where the checks run (the assignment
    bundle's folder: the reference solution, the settings)."""
    names = GRADER_NAMES + (f"source/{manifest.id}", f"assignments/{manifest.id}", str(course_files.resolve()))
    flags = {}
    for module in manifest.student_modules:
        path = folder / module
        if not path.is_file():
            continue
        try:
            tree = _syntax_tree(path.read_bytes(), module)
        except (SyntaxError, ValueError):
            continue  # the checks report syntax errors
        reason = _reason(tree, names)
        if reason:
            flags[module] = reason
    return flags


def _syntax_tree(source: bytes, filename: str) -> ast.AST:
    """ast.parse, parsing again after the SystemError "AST constructor recursion depth
    mismatch": CPython 3.11.0-3.11.7 and 3.12.0-3.12.1 share the AST constructor's
    recursion counter between threads (cpython gh-106905), and a Dask worker parses in
    its event loop thread too (inspect.signature of a builtin), so a garbage collection
    in the middle of both parses fails one at random, and with it a student's grading."""
    for _ in range(PARSE_ATTEMPTS - 1):
        with contextlib.suppress(SystemError):
            return ast.parse(source, filename=filename)
    return ast.parse(source, filename=filename)


def _reason(tree: ast.AST, names: tuple[str, ...]) -> str | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported = [node.module or ""]
        else:
            imported = []
        for name in imported:
            if name.split(".")[0] in GRADER_PACKAGES:
                return f"imports the grader ({name}, line {node.lineno})"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found = next((name for name in names if name in node.value), None)
            if found:
                return f"names the grader's files ({found!r}, line {node.lineno})"
    return None
