"""How a student release can give a solution away in prose, and how to find it.

Starter code says WHAT to compute (outputs, gradients, shapes, what the cache holds, the
conventions the checks rely on) and never HOW. Two ways of saying how are caught here:

- a solution expression written out, e.g. a TODO saying `out = gamma * x_hat + beta`
  where the solution has `out = gamma * x_hat + beta`: compared with spaces, quotes and
  the `np.` prefix ignored, so `sqrt(var + eps)` in a comment matches `np.sqrt(var+eps)`;
- a gradient written out in the TODO or docstring of a backward pass or a loss, e.g.
  `dx = dout * mask` or `grads["W1"] = ...`, whatever the solution's own spelling.

Prose means comments, docstrings and markdown. Code the source gives students (given
functions, the code of test cells) is not prose: an expression it shares with a solution
is not a secret, because students see it anyway.
"""
from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize

# Statement values shorter than this once normalized (`x > 0`, `N - 1`) are too common to
# mean a leak.
MIN_EXPRESSION_LENGTH = 8
# Statement values that compute something; a bare name, constant, attribute or literal
# collection (an answer set such as {1, 3}) is not an expression to hide.
_COMPUTING = (ast.BinOp, ast.BoolOp, ast.Compare, ast.Call, ast.IfExp, ast.UnaryOp,
              ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# `dx = ...`, `dgamma += ...`, `grads["W1"] = ...`: a gradient given a value. `==` is a
# comparison, not a value; `d_k = D` is a dimension, not a gradient.
_GRADIENT_GIVEN = re.compile(
    r"(?<![\w.])(?P<gradient>d[a-z]\w*|grads\[[^\]]*\])\s*[-+*/]?=(?!=)\s*(?P<value>\S.*)")
# A function whose TODO and docstring must not spell out a gradient.
_DERIVES_GRADIENTS = re.compile(r"(^|_)(backward|loss)(_\w+)?$")


def normalize(text: str) -> str:
    """Text as compared for leaks: no whitespace, no `np.` prefix, one kind of quote."""
    return re.sub(r"\s+", "", text).replace("np.", "").replace("'", '"')


def statement_values(code: str) -> list[tuple[str, int]]:
    """The normalized values the statements of a piece of solution code compute, each with
    the (1-based) line of `code` its statement starts on.

    For `x_hat = x_centered / std` that is `x_centered/std`; for a call on its own line,
    the call. Only values that compute something and are at least MIN_EXPRESSION_LENGTH
    long once normalized count. Code that does not parse (a fragment) gives nothing.
    """
    lines = ["" if line.lstrip().startswith(("%", "!")) else line  # IPython magics
             for line in textwrap.dedent(code).splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    values = []
    for node in ast.walk(tree):
        value = getattr(node, "value", None) if isinstance(
            node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return)) else None
        if _computes(value):
            text = normalize(ast.unparse(value))
            if len(text) >= MIN_EXPRESSION_LENGTH:
                values.append((text, node.lineno))
    return sorted(values, key=lambda item: item[1])


def _computes(node) -> bool:
    if isinstance(node, _COMPUTING):
        return True
    return isinstance(node, ast.Tuple) and any(_computes(item) for item in node.elts)


def is_setting(line: str) -> bool:
    """Whether a line is one keyword argument of a call spread over several lines, set to a
    plain value (`lr_decay=0.95,`): it says which setting to use, not how to compute."""
    match = re.fullmatch(r"\s*\w+\s*=\s*(?P<value>.+?)\s*[,)]+\s*", line)
    if not match:
        return False
    try:
        ast.literal_eval(match["value"])
    except (ValueError, SyntaxError):
        return False
    return True


def prose_line_numbers(text: str) -> set[int]:
    """1-based numbers of the lines of Python code that are comments or docstrings.

    Code that does not tokenize or parse (a notebook cell with magics) counts its
    comment lines (those starting with #) only.
    """
    lines = text.splitlines()
    prose = {number for number, line in enumerate(lines, start=1)
             if line.lstrip().startswith("#")}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        tree = ast.parse(text)
    except (SyntaxError, tokenize.TokenError, IndentationError):
        return prose
    prose |= {token.start[0] for token in tokens if token.type == tokenize.COMMENT}
    for node in _docstring_owners(tree):
        docstring = node.body[0]
        prose |= set(range(docstring.lineno, docstring.end_lineno + 1))
    return prose


def spelled_out_gradients(text: str) -> list[tuple[int, str, str]]:
    """(line number, function, what it says) for every gradient given a value in the
    docstring or a comment of a backward pass or a loss of a Python module."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string
    lines = text.splitlines()
    found = []
    for node, name in _functions(tree):
        if not _DERIVES_GRADIENTS.search(node.name):
            continue
        prose = {number: comment for number, comment in comments.items()
                 if node.lineno <= number <= node.end_lineno}
        if node in _docstring_owners(tree):
            docstring = node.body[0]
            for number in range(docstring.lineno, docstring.end_lineno + 1):
                prose[number] = lines[number - 1]
        for number, line in sorted(prose.items()):
            match = _GRADIENT_GIVEN.search(line)
            if match:
                found.append((number, name, match.group(0).strip()))
    return found


def _docstring_owners(tree: ast.AST) -> list[ast.AST]:
    return [node for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
            and isinstance(node.body[0].value.value, str)]


def _functions(tree: ast.AST, prefix: str = ""):
    """(node, qualified name) of every function, e.g. 'FullyConnectedNet.loss'."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield child, f"{prefix}{child.name}"
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)
