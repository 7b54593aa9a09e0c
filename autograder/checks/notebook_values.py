"""Read, without running anything, the values a check needs from a submitted notebook.

In the kernel, a hidden section passes them (run("fc_q1_choice", answer=inline_q1_answer)).
But a kernel runs the student's code, which could replace autograder.checks.run itself, so
`python -m autograder.checks --all` verifies a submission from outside any kernel: it
takes the values from the source text of the cells that set them, evaluating only
literals and arithmetic on numbers (ast; never exec).

A value the notebook does not set is left out of the values (the check says "not
answered" or "not set" and where to set it); one set by an expression the grader does not
evaluate arrives as an Unreadable holding that line, and the check says which form it
needs. Both are the student's to fix, so both are failed checks, never grader errors.
"""
import ast
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


@dataclass(frozen=True)
class Unreadable:
    """A value the notebook sets by an expression that is not a plain literal."""
    source: str   # the assignment, as written in the cell


@dataclass(frozen=True)
class ValueSource:
    """Where the notebook sets the values of a check (a check declares it: framework.check)."""
    notebook: str   # "FullyConnectedNets.ipynb"
    cell: str       # the grade_id of the cell, e.g. "fc_q1_answer"
    variables: dict  # {check parameter: notebook variable}, e.g. {"answer": "inline_q1_answer"}


def notebook_order(grade_ids, folder, notebooks):
    """The grade ids in the order the `notebooks` in `folder` reach their cells (notebooks in
    the order students work through them, as the manifest lists them); ids no notebook has
    come last."""
    order = []
    for name in notebooks:
        if (Path(folder) / name).is_file():
            cells = nbformat.read(Path(folder) / name, as_version=4).cells
            order += [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in cells]
    position = {grade_id: index for index, grade_id in enumerate(order) if grade_id}
    return sorted(grade_ids, key=lambda grade_id: position.get(grade_id, len(position)))


def values_for(source, submission):
    """{parameter: value} for a check whose values come from `source` (a ValueSource, or None
    for a check that takes none), read from the submission's notebook. A parameter the
    notebook does not set is left out; one it sets by an expression is an Unreadable."""
    if source is None:
        return {}
    try:
        cells = [cell for cell in nbformat.read(Path(submission) / source.notebook, as_version=4).cells
                 if cell.cell_type == "code"]
    except (OSError, ValueError):  # not handed in, or not a notebook: nothing is set
        return {}
    tagged = [cell for cell in cells if cell.metadata.get("nbgrader", {}).get("grade_id") == source.cell]
    values = {}
    for parameter, variable in source.variables.items():
        # The cell with the grade_id; if editing lost its metadata, any cell (the last one wins).
        for candidates in (tagged, cells):
            found = [value for cell in candidates for value in _assignments(cell.source, variable)]
            if found:
                values[parameter] = found[-1]
                break
    return values


def _assignments(source, variable):
    """Values of the top-level assignments `variable = ...` in a cell's source: the value of
    a literal, an Unreadable for any other expression."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    code = "\n".join(lines)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    values = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets):
            try:
                values.append(_evaluate(node.value))
            except (ValueError, TypeError, ArithmeticError):
                values.append(Unreadable(" ".join((ast.get_source_segment(code, node) or "").split())))
    return values


def _evaluate(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return node.value
    if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
        items = [_evaluate(item) for item in node.elts]
        return set(items) if isinstance(node, ast.Set) else items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "set" \
            and len(node.args) <= 1 and not node.keywords:
        return set(_evaluate(node.args[0])) if node.args else set()
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _number(_OPERATORS[type(node.op)](_number(_evaluate(node.operand))))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _number(_evaluate(node.left)), _number(_evaluate(node.right))
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        return _number(_OPERATORS[type(node.op)](left, right))
    raise ValueError(f"not a plain value: {ast.dump(node)[:60]}")


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("arithmetic on something that is not a number")
    return value
