"""Strip solution regions from a Python module for the student release.

nbgrader clears solutions in notebooks only; it copies .py files as they are. In the
instructor's modules each solution sits between `### BEGIN SOLUTION` and `### END SOLUTION`
right below a comment saying what to compute. The student version keeps that comment and
gets, at the region's indentation,

    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("affine_forward: implement this (see the TODO above)")

so an unfinished function fails with its own name instead of a confusing crash later.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

BEGIN_SOLUTION = "BEGIN SOLUTION"  # matched anywhere in a line, as nbgrader does
END_SOLUTION = "END SOLUTION"
TODO_LINE = "# TODO: your code goes here, in place of the raise below."


class StripError(ValueError):
    """A module's solution markers cannot be stripped safely; the message names file and line."""


@dataclass(frozen=True)
class Region:
    name: str        # enclosing function as Class.method or function; module name at top level
    begin_line: int  # 1-based line numbers of the markers in the instructor's module
    end_line: int


def find_regions(text: str, filename: str) -> list[Region]:
    """The solution regions of a module, each named after the function it sits in."""
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as error:
        raise StripError(f"{filename}:{error.lineno}: not valid Python: {error.msg}") from None
    functions = _functions(tree)

    regions, begin = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if BEGIN_SOLUTION in line:
            if begin is not None:
                raise StripError(f"{filename}:{number}: a second {BEGIN_SOLUTION} before the "
                                 f"{END_SOLUTION} of the region opened on line {begin}")
            begin = number
        elif END_SOLUTION in line:
            if begin is None:
                raise StripError(f"{filename}:{number}: {END_SOLUTION} without a "
                                 f"{BEGIN_SOLUTION} above it")
            regions.append(Region(_enclosing_name(functions, begin, filename), begin, number))
            begin = None
    if begin is not None:
        raise StripError(f"{filename}:{begin}: {BEGIN_SOLUTION} is never closed "
                         f"by {END_SOLUTION}")

    for region in regions:
        for start, _end, name in functions:
            if region.begin_line < start < region.end_line:
                raise StripError(
                    f"{filename}:{start}: the solution region on lines {region.begin_line}-"
                    f"{region.end_line} contains the definition of {name}; a region must hold "
                    "statements inside one function, never a def or class")
    return regions


def strip_solutions(text: str, filename: str) -> tuple[str, list[Region]]:
    """Return the student version of a module's text and the regions that were replaced."""
    regions = find_regions(text, filename)
    lines = text.splitlines(keepends=True)
    # Replace from the bottom up so the line numbers of the regions above stay valid.
    for region in reversed(regions):
        begin = lines[region.begin_line - 1]
        indent = begin[: len(begin) - len(begin.lstrip())]
        message = f"{region.name}: implement this (see the TODO above)"
        stub = [f"{indent}{TODO_LINE}\n", f'{indent}raise NotImplementedError("{message}")\n']
        lines[region.begin_line - 1: region.end_line] = stub
    stripped = "".join(lines)
    try:
        ast.parse(stripped, filename=filename)
    except SyntaxError as error:
        raise StripError(f"{filename}: the student version is not valid Python after stripping "
                         f"(line {error.lineno} of the stripped text: {error.msg}); check the "
                         "indentation of the solution markers") from None
    return stripped, regions


def _functions(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, e.g. 'Solver.train'."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((child.lineno, child.end_lineno, name))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _enclosing_name(functions, line: int, filename: str) -> str:
    enclosing = [(start, name) for start, end, name in functions if start < line <= end]
    if enclosing:
        return max(enclosing)[1]  # the innermost function starts last
    return filename.rsplit("/", 1)[-1]
