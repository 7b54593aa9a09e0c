"""Write the expected arrays of the notebooks' test cells, computed with the reference solution.

Some test cells compare what a student's function returns with numbers written into the
cell, so that no update equation or gradient formula appears in code students read. Each
such block is a statement preceded by a comment:

    # NAME with the reference solution (written by scripts/expected_values.py):
    expected_NAME = np.asarray([...])

This script runs the notebook's set-up cells (SETUP_CELLS) and then the cell's code above
that comment with the reference nnkit (source/fcnet/nnkit), and writes the value NAME then
has in place of the array. An instructor who changes a cell's inputs or the reference
solution runs it, then regenerates the release:

    .venv/bin/python scripts/expected_values.py           # rewrite the stale arrays
    .venv/bin/python scripts/expected_values.py --check   # list them, exit 1 if any

(tests/test_teaching_content.py runs --check, so a stale array fails the tests.)
"""
import argparse
import ast
import contextlib
import io
import re
import sys
from pathlib import Path

import nbformat
import numpy as np

ASSIGNMENT = Path(__file__).resolve().parents[1] / "source" / "fcnet"
sys.path.insert(0, str(ASSIGNMENT))

# The given cells (by cell id) whose names the checks with written arrays use, run first.
SETUP_CELLS = {
    "BatchNormalization.ipynb": ("bn-cell-03",),
    "Optimizers.ipynb": ("imports", "check-helpers"),
}
MARKER = re.compile(r"^# (?P<name>\w+) with the reference solution \(written by scripts/expected_values\.py\):$")


def written_arrays(source):
    """(NAME, line of the marker comment, first and last line of the statement), 0-based,
    for every marked statement of a cell."""
    lines = source.splitlines()
    statements = {node.lineno - 1: node for node in ast.parse(source).body}
    found = []
    for number, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        node = statements.get(number + 1)
        target = f"expected_{match['name']}"
        if not (isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [target]):
            raise ValueError(f"the line after {line!r} must assign {target}")
        found.append((match["name"], number, number + 1, node.end_lineno - 1))
    return found


def statement(name, value):
    prefix = f"expected_{name} = np.asarray("
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} is not finite with the reference solution")
    return f"{prefix}{nested_list(array, len(prefix))})"


def nested_list(array, indent):
    """The array as a nested list literal, one innermost row per line, every number with all
    the digits that round-trip (repr): a correct implementation then agrees to rounding
    error, far below the checks' tolerances."""
    if array.ndim == 0:
        return repr(float(array))
    if array.ndim == 1:
        return "[" + ", ".join(repr(float(number)) for number in array) + "]"
    separator = "," + "\n" * (array.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(nested_list(part, indent + 1) for part in array) + "]"


def run_code(code, namespace, where):
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # what the cell prints is not wanted here
            exec(compile(code, where, "exec"), namespace)  # noqa: S102 - the instructor's own notebook
    except Exception as error:
        raise RuntimeError(f"{where} fails with the reference solution: {type(error).__name__}: {error}") from error


def refreshed(name, notebook):
    """{cell number: new source} for the cells of one notebook whose arrays are stale."""
    by_id = {cell.get("id"): cell for cell in notebook.cells}
    namespace = {}
    for cell_id in SETUP_CELLS.get(name, ()):
        run_code(by_id[cell_id].source, namespace, f"{name}, cell {cell_id}")
    changed = {}
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not any(MARKER.match(line) for line in cell.source.splitlines()):
            continue
        if name not in SETUP_CELLS:
            raise ValueError(f"{name} has written arrays but no entry in SETUP_CELLS")
        lines = cell.source.splitlines()
        for value_name, marker, first, last in reversed(written_arrays(cell.source)):
            scope = dict(namespace)
            run_code("\n".join(lines[:marker]), scope, f"{name}, cell {cell.get('id')}")
            if value_name not in scope:
                raise ValueError(f"{name}, cell {cell.get('id')}: nothing named {value_name} above the marker")
            lines[first:last + 1] = statement(value_name, scope[value_name]).splitlines()
        if "\n".join(lines) != cell.source:
            changed[number] = "\n".join(lines)
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list stale arrays; exit 1 if any")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(ASSIGNMENT.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        changed = refreshed(path.name, notebook)
        stale += [f"{path.name}, cell {notebook.cells[number].get('id')}" for number in changed]
        if changed and not args.check:
            for number, source in changed.items():
                notebook.cells[number].source = source
            nbformat.write(notebook, path)
    verb = "stale" if args.check else "rewritten"
    print("\n".join(f"{verb}: {where}" for where in stale) or "every written array is up to date")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
