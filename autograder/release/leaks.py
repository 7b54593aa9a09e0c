"""How a student release can give a solution away in prose, and how to find it.

Starter code says WHAT to compute (outputs, gradients, shapes, what the cache holds, the
conventions the checks rely on) and never HOW. Two ways of saying how are caught here:

- a solution expression written out, e.g. a TODO saying `out = gamma * x_hat + beta`
  where the solution has `out = gamma * x_hat + beta`: compared with spaces, quotes and
  the `np.` prefix ignored, so `sqrt(var + eps)` in a comment matches `np.sqrt(var+eps)`;
- a gradient written out in the TODO or docstring of a backward pass or a loss, e.g.
  `dx = dout * mask` or `grads["W1"] = ...`, whatever the solution's own spelling.

Prose means comments, string literals (docstrings and messages included) and markdown.
Code the source gives students (given functions, given notebook cells) is not prose: an
expression it shares with a solution is not a secret, because students see it anyway. The
code of test cells is held to the rule of prose instead: a check must not compute its
expected values with the solution's own expressions (see verify.py).
"""
from __future__ import annotations

import ast
import copy
import io
import re
import textwrap
import tokenize

# Statement values shorter than this once normalized (`x > 0`, `N - 1`) are too common to
# mean a leak.
MIN_EXPRESSION_LENGTH = 8
# Under other names, an expression must take at least this many operations to mean a leak:
# `beta1 * m + (1 - beta1) * g` (4) does, `mu * v - lr * g` (3) is as common as arithmetic.
MIN_SHAPE_OPERATIONS = 4
# Statement values that compute something; a bare name, constant, attribute or literal
# collection (an answer set such as {1, 3}) is not an expression to hide.
_COMPUTING = (ast.BinOp, ast.BoolOp, ast.Compare, ast.Call, ast.IfExp, ast.UnaryOp,
              ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# `dx = ...`, `dgamma += ...`, `grads["W1"] = ...`: a gradient given a value. `==` is a
# comparison, not a value; `d_k = D` is a dimension, not a gradient.
_GRADIENT_GIVEN = re.compile(
    r"(?<![\w.])(?P<gradient>d[a-z]\w*|grads\[[^\]]*\])\s*[-+*/]?=(?!=)\s*(?P<value>\S.*)")
# `dx is dout times the mask`, `dbeta are sums over the examples`: a gradient described by
# what it is made of.
_GRADIENT_DESCRIBED = re.compile(
    r"(?<![\w.])(?P<gradient>d[a-z]\w*|grads\[[^\]]*\])\s+(?:is|are|equals?)\s+(?:(?:the|a|an)\s+)?"
    r"(?P<value>(?:sums?|means?|times|products?|dout|d[a-z]\w*)\b.*)")
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


def statement_shapes(code: str) -> list[tuple[str, int]]:
    """Like statement_values, the shapes (see expression_shape) of the values that take at
    least MIN_SHAPE_OPERATIONS operations, each with its line."""
    try:
        tree = ast.parse(_without_magics(code))
    except SyntaxError:
        return []
    return sorted(((expression_shape(node.value), node.lineno) for node in ast.walk(tree)
                   if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return))
                   and node.value is not None and operations(node.value) >= MIN_SHAPE_OPERATIONS),
                  key=lambda item: item[1])


def expression_shapes(code: str) -> list[tuple[str, int]]:
    """The shapes of every expression in a piece of code (and in each of its parts) that
    takes at least MIN_SHAPE_OPERATIONS operations, each with its line."""
    try:
        tree = ast.parse(_without_magics(code))
    except SyntaxError:
        return []
    return [(expression_shape(node), node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.expr) and operations(node) >= MIN_SHAPE_OPERATIONS]


def operations(node: ast.AST) -> int:
    """How many operations (arithmetic, comparisons, calls) an expression takes."""
    return sum(isinstance(inner, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call))
               for inner in ast.walk(node))


def expression_shape(node: ast.expr) -> str:
    """An expression with its variables renamed in order of appearance, normalized: the
    same for `w - lr * g / (np.sqrt(G) + eps)` and the solution's
    `w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])`
    (`v0-v1*v2/(sqrt(v3)+v4)`). Variables are names, attributes of names (`self.reg`) and
    entries with a constant key (`config["m"]`); functions, methods, numbers and np. stay."""
    names = {}

    class Rename(ast.NodeTransformer):
        def visit_Call(self, call):
            if isinstance(call.func, ast.Attribute):  # a method: rename what it is called on
                call.func.value = self.visit(call.func.value)
            call.args = [self.visit(arg) for arg in call.args]
            call.keywords = [self.visit(keyword) for keyword in call.keywords]
            return call

        def generic_visit(self, node):
            if _is_variable(node):
                key = ast.unparse(node)
                return ast.Name(id=names.setdefault(key, f"v{len(names)}"), ctx=ast.Load())
            return super().generic_visit(node)

    return normalize(ast.unparse(Rename().visit(copy.deepcopy(node))))


def _is_variable(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id != "np"
    if isinstance(node, ast.Attribute):
        return _is_variable(node.value)
    return (isinstance(node, ast.Subscript) and _is_variable(node.value)
            and isinstance(node.slice, ast.Constant))


def _without_magics(code: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in textwrap.dedent(code).splitlines())


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


# A string literal that is a key or a name (`"W1"`, `'train'`, `f"b{layer}"`) is code: it says
# which entry, not how to compute. Any other string literal is prose.
_KEY = re.compile(r"""[rbfRBF]{0,2}(["'])[\w{}.\[\]]*\1""")


def code_lines(text: str) -> dict[int, str] | None:
    """The code of each line (1-based) of a piece of Python source, with comments and string
    literals (docstrings, messages, f-strings) left out, keys and names (_KEY) kept: the
    tokens joined by spaces, which normalize() removes. IPython magics (lines starting with
    % or !) stay as they are. None when the text does not tokenize.
    """
    lines = text.splitlines()
    magics = {number for number, line in enumerate(lines, start=1)
              if line.lstrip().startswith(("%", "!"))}
    plain = "\n".join("" if number in magics else line for number, line in enumerate(lines, start=1))
    code = {number: lines[number - 1] for number in magics}
    inside_fstring = 0  # Python 3.12+ splits f-strings into several tokens
    try:
        for token in tokenize.generate_tokens(io.StringIO(plain).readline):
            kind = tokenize.tok_name[token.type]
            inside_fstring += kind == "FSTRING_START"
            prose = kind == "COMMENT" or kind == "STRING" and not _KEY.fullmatch(token.string)
            if inside_fstring or prose or not token.string.strip():
                inside_fstring -= kind == "FSTRING_END"
                continue
            line = token.start[0]
            code[line] = f"{code.get(line, '')} {token.string}"
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return code


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
            match = _GRADIENT_GIVEN.search(line) or _GRADIENT_DESCRIBED.search(line)
            if match:
                found.append((number, name, match.group(0).strip()))
    return found


def gradients_in_messages(code: str) -> list[tuple[int, str]]:
    """(line number, what it says) for every gradient given a value or described by what it
    is made of in the comments and string literals of a notebook's test cell. A formatted
    value (`f"dx = {dx}"`, `dropout_keep_ratio = {p}`) is a printout, not a gradient."""
    found = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(_without_magics(code)).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    for token in tokens:
        if token.type not in (tokenize.COMMENT, tokenize.STRING):
            continue
        for offset, line in enumerate(token.string.splitlines()):
            given = _GRADIENT_GIVEN.search(line)
            match = given if given and not given["value"].startswith("{") else _GRADIENT_DESCRIBED.search(line)
            if match:
                said = match.group(0).strip().rstrip("\"'")  # without a string's closing quote
                found.append((token.start[0] + offset, said))
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
