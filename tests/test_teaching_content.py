"""What the student release teaches and asks: read from the committed release/fcnet.

- Every student function's docstring states exactly the in-place rule its check enforces
  (nnkit.gradient_check.KEPT_INPUTS) and claims none that no check enforces; the visible cell
  of each such function checks it with the hidden check's message, which names the input.
- Every section that introduces something to implement says "Implement X in nnkit/..."
  before the check that exercises it.
- The inline questions: one answer cell and one format check per question, the same in
  every notebook; the check explains an unanswered question instead of a NameError; no
  format example is a right answer.
- The handout: nothing for instructors, the exact-match rule, how to get the folder into
  Drive.
- The numbers "Reading a gradient check" quotes are what rel_error gives.
- The Colab set-up cell is the same everywhere and fetches every dataset.
- The arrays test cells compare with are what the reference solution computes
  (scripts/expected_values.py).

(No spelled-out gradient or solution expression: release verification, tested in
tests/test_release.py. The set-up cell in action: tests/test_colab_setup.py.)
"""
import ast
import copy
import functools
import inspect
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from autograder.checks import checks_folder
from autograder.checks.assignment import load_checks
from autograder.manifest import load_manifest, manifest_path
from nnkit import layers, optim
from nnkit.gradient_check import (KEPT_INPUTS, changed_in_place_message, check_inputs_kept,
                                  rel_error)

REPO = Path(__file__).resolve().parents[1]
ANSWER_KEY = load_checks(checks_folder(REPO, "fcnet")).module("answer_checks").ANSWER_KEY
RELEASE = REPO / "release" / "fcnet"
MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))
PREFIX_OF = {"FullyConnectedNets.ipynb": "fc", "BatchNormalization.ipynb": "bn",
             "Dropout.ipynb": "do", "Optimizers.ipynb": "opt"}
# "for example {3}", "for example inline_q1_answer = {2, 4}", "such as `{2, 5}`"
FORMAT_EXAMPLE = re.compile(r"(?:for example|e\.g\.|such as)[\s`:,]*(?:inline_q\d+_answer\s*=\s*)?"
                            r"(?P<value>\{[\d,\s]*\}|\d+)")
NOT_ANSWERED = "Not answered yet: set {variable} in the answer cell above and run that cell."
FORMAT_ONLY = "# Format check only: whether your answer is right is graded after the deadline."


def notebook(name):
    return nbformat.read(RELEASE / name, as_version=4)


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def student_functions():
    """(module path, qualified name, function node) of every function with a stub."""
    for module in MANIFEST.student_modules:
        tree = ast.parse((RELEASE / module).read_text())
        for node, name in functions(tree):
            if any(isinstance(inner, ast.Raise) and "implement this" in ast.unparse(inner)
                   for inner in ast.walk(node)):
                yield module, name, node


def functions(tree, prefix=""):
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.FunctionDef):
            yield child, f"{prefix}{child.name}"
        elif isinstance(child, ast.ClassDef):
            yield from functions(child, f"{prefix}{child.name}.")


def questions():
    """(notebook, question such as "q1", answer cell, choice cell) of every inline question."""
    for name in MANIFEST.notebooks:
        cells = {grade_id(cell): cell for cell in notebook(name).cells}
        for answer_id in sorted(cell_id for cell_id in cells if cell_id.endswith("_answer")):
            question = answer_id.split("_")[1]
            yield name, question, cells[answer_id], cells[answer_id.replace("_answer", "_choice")]


def visible_code(cell):
    return cell.source.split("### BEGIN HIDDEN TESTS")[0]


def code_identifiers(code):
    """The names a piece of notebook code uses (variables, functions, attributes, imports),
    never what its comments or string literals mention."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    names = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[-1])
    return names


def graded_test_cells():
    """(notebook, cell) of every graded code cell that is not a solution cell."""
    for name in MANIFEST.notebooks:
        for cell in notebook(name).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                yield name, cell


def kept_inputs_checked_by_cell():
    """{function: [grade_id of every visible cell that calls check_inputs_kept(function, ...)]}"""
    cells = {}
    for _, cell in graded_test_cells():
        for node in ast.walk(ast.parse(visible_code(cell))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "check_inputs_kept":
                cells.setdefault(ast.unparse(node.args[0]), []).append(grade_id(cell))
    return cells


# --- modules ----------------------------------------------------------------------------

def in_place_rule(function):
    """The sentence stating KEPT_INPUTS[function], e.g. "It must not change x, w or b in place:
    its cache keeps x, w and b for the backward pass." """
    names, reason = KEPT_INPUTS[function]
    joined = {word: f" {word} ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
              for word in ("or", "and")}
    return f"It must not change {joined['or']} in place: {reason.format(names=joined['and'])}."


def test_every_docstring_states_the_in_place_rule_its_check_enforces_and_no_other():
    found = list(student_functions())
    assert len(found) == 25
    stated = set()
    for module, name, node in found:
        docstring = " ".join((ast.get_docstring(node) or "").split())
        if name in KEPT_INPUTS:
            assert in_place_rule(name) in docstring, f"{module}: {name}: say {in_place_rule(name)!r}"
            stated.add(name)
        else:  # no claim the checks do not enforce, but still a word on changing inputs
            assert not re.search(r"must not (change|modify)", docstring), f"{module}: {name}"
            assert node.name == "__init__" or re.search(r"in place|without changing", docstring), name
    assert stated == set(KEPT_INPUTS)


def test_every_in_place_rule_is_checked_in_one_visible_cell():
    """The hidden check of that cell judges the same rule with the same message
    (nnkit.gradient_check.changed_in_place_message; tests/test_checks.py runs the hidden
    checks on functions that change an input in place)."""
    assert {function: len(cells) for function, cells in kept_inputs_checked_by_cell().items()} == {
        function: 1 for function in KEPT_INPUTS}


def reference_arguments(function):
    """Arguments of the reference `function` (a name in KEPT_INPUTS) and the function."""
    rng = np.random.RandomState(0)
    if function in ("affine_forward", "relu_forward", "leaky_relu_forward",
                    "batchnorm_forward", "layernorm_forward"):
        x = rng.randn(4, 3)
        arguments = {"affine_forward": (x, rng.randn(3, 5), rng.randn(5)),
                     "relu_forward": (x,), "leaky_relu_forward": (x, 0.1),
                     "batchnorm_forward": (x, rng.randn(3), rng.randn(3), {"mode": "train"}),
                     "layernorm_forward": (x, rng.randn(3), rng.randn(3), {})}[function]
        return getattr(layers, function), arguments
    return getattr(optim, function), (rng.randn(2, 3), rng.randn(2, 3), {"learning_rate": 1e-2})


def changing(function, name):
    """function, but adding 1 in place to its array argument `name` first."""
    @functools.wraps(function)
    def changed(*args, **kwargs):
        bound = inspect.signature(function).bind(*args, **kwargs)
        bound.arguments[name][...] += 1.0
        return function(*args, **kwargs)
    return changed


@pytest.mark.parametrize("function", sorted(KEPT_INPUTS))
def test_the_visible_in_place_check_fails_naming_the_changed_input_and_only_then(function):
    reference, arguments = reference_arguments(function)
    before = copy.deepcopy(arguments)
    kept, _ = KEPT_INPUTS[function]
    parameters = list(inspect.signature(reference).parameters)
    assert set(kept) <= set(parameters)
    out = check_inputs_kept(reference, *arguments)
    assert np.array_equal(out[0], reference(*copy.deepcopy(arguments))[0])
    for name in parameters:
        if not isinstance(arguments[parameters.index(name)], np.ndarray):
            continue
        if name in kept:
            with pytest.raises(AssertionError) as failure:
                check_inputs_kept(changing(reference, name), *arguments)
            assert str(failure.value) == changed_in_place_message(function, name)
            assert f"changed its input {name} in place" in str(failure.value)
        else:  # e.g. batchnorm_forward's x: allowed
            check_inputs_kept(changing(reference, name), *arguments)
    for given, kept_as_it_was in zip(arguments, before):  # the caller's arrays: never touched
        if isinstance(given, np.ndarray):
            assert np.array_equal(given, kept_as_it_was)


# --- notebooks: what to implement -------------------------------------------------------

def sections(cells):
    """Cells grouped into sections, each starting at a markdown cell with a heading."""
    section = []
    for cell in cells:
        if cell.cell_type == "markdown" and re.search(r"^#", cell.source, re.M) and section:
            yield section
            section = []
        section.append(cell)
    yield section


def missing_implement_sentences(cells):
    """(grade_id, function, module) for every student function that the code of a graded
    check (or its section's set-up code) uses before a markdown cell of that section says
    "Implement ... `function` ... in `nnkit/...`", and the number of graded checks seen.
    Uses in code count, not names in comments or strings: a network's check that waits for
    the parts it builds on (failing_layers("softmax_loss", ...)) does not introduce them."""
    module_of = {}
    for module, qualified, _ in student_functions():
        module_of.setdefault(qualified.split(".")[0], module)  # methods: their class
    introduced, missing, checked = set(), [], 0
    for section in sections(cells):
        markdown = "\n".join(cell.source for cell in section if cell.cell_type == "markdown")
        used_before_check = set()
        for cell in section:
            if cell.cell_type != "code":
                continue
            used_before_check |= code_identifiers(visible_code(cell))
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade") or meta.get("solution") or grade_id(cell).endswith("_choice"):
                continue
            checked += 1
            for function, module in module_of.items():
                if function in introduced or function not in used_before_check:
                    continue
                sentence = (rf"[Ii]mplement(?:(?!\.\s).)*?`{function}`(?:(?!\.\s).)*?"
                            rf"in\s+`{re.escape(module)}`")
                if not re.search(sentence, markdown, re.S):
                    missing.append((grade_id(cell), function, module))
                introduced.add(function)
    return missing, checked


@pytest.mark.parametrize("name", MANIFEST.notebooks)
def test_every_section_says_what_to_implement_where_before_its_check(name):
    missing, checked = missing_implement_sentences(notebook(name).cells)
    assert checked
    assert missing == [], [f"{name}: the section before {cell} should say 'Implement `{function}` in "
                           f"`{module}`'" for cell, function, module in missing]


def test_a_check_using_a_function_no_sentence_introduces_is_found():
    def check(grade, source):
        return new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade, "points": 1}})

    cells = [
        new_markdown_cell("## Affine layer\nImplement `affine_forward` in `nnkit/layers.py`."),
        check("a", "out, _ = affine_forward(x, w, b)"),
        new_markdown_cell("## A network\nThe network below waits for the layers it needs."),
        check("b", 'broken = failing_layers("softmax_loss", "dropout")  # softmax_loss, dropout_forward'),
        new_markdown_cell("## Dropout\nThe check below is about dropout."),
        check("c", "out, _ = dropout_forward(x, {'p': 0.5, 'mode': 'train'})\nrelu_forward(x)"),
    ]
    missing, checked = missing_implement_sentences(cells)
    assert checked == 3
    assert sorted(missing) == [("c", "dropout_forward", "nnkit/layers.py"), ("c", "relu_forward", "nnkit/layers.py")]


# --- notebooks: inline questions -------------------------------------------------------

def test_every_question_has_an_answer_cell_and_a_format_check_named_alike():
    found = list(questions())
    assert sorted(grade_id(choice) for *_, choice in found) == sorted(ANSWER_KEY)
    for name, question, answer, choice in found:
        variable = f"inline_{question}_answer"
        assert grade_id(answer) == f"{PREFIX_OF[name]}_{question}_answer"
        assert answer.source.splitlines()[0].startswith(f"# Set {variable} to ")
        assert "Write it in place of the raise below, then run this cell." in answer.source
        assert answer.source.rstrip().endswith("raise NotImplementedError()"), name
        assert choice.source.splitlines()[0] == FORMAT_ONLY, (name, question)
        assert NOT_ANSWERED.format(variable=variable) in choice.source


@pytest.mark.parametrize("name, question, choice", [
    (name, question, choice) for name, question, _, choice in questions()])
def test_the_format_check_explains_what_is_missing_and_accepts_the_key(name, question, choice):
    variable = f"inline_{question}_answer"
    code = visible_code(choice)
    with pytest.raises(AssertionError, match=re.escape(NOT_ANSWERED.format(variable=variable))):
        exec(code, {})  # the answer cell was never run: a sentence, not a NameError
    key = ANSWER_KEY[grade_id(choice)]
    exec(code, {variable: key})  # the right answer has the right format
    for wrong_form in ([1], "1", 1.0, True, set()):
        with pytest.raises(AssertionError, match=variable):
            exec(code, {variable: wrong_form})


def test_no_format_example_is_a_right_answer():
    examples = 0
    for name, question, answer, choice in questions():
        key = ANSWER_KEY[grade_id(choice)]
        cells = notebook(name).cells
        question_text = next(cell.source for cell in reversed(cells[:cells.index(answer)])
                             if cell.cell_type == "markdown")
        text = "\n".join([question_text, answer.source, choice.source])
        for match in FORMAT_EXAMPLE.finditer(text.replace("{{", "{").replace("}}", "}")):
            example = ast.literal_eval(match["value"])
            assert example != key, f"{name}, {question}: the example {example} is the answer"
            examples += 1
    handout = (RELEASE / "README.md").read_text()
    for match in FORMAT_EXAMPLE.finditer(handout):
        examples += 1
        assert ast.literal_eval(match["value"]) not in ANSWER_KEY.values(), match.group(0)
    set_questions = sum(isinstance(key, set) for key in ANSWER_KEY.values())
    assert examples >= 2 * set_questions  # each set question shows its format twice


# --- the handout ------------------------------------------------------------------------

def test_the_handout_is_for_students():
    handout = (RELEASE / "README.md").read_text()
    assert handout.startswith(f"# {MANIFEST.title}\n")
    assert "<!--" not in handout and "instructor" not in handout.lower()
    assert "scored by exact match" in handout
    assert "Google Drive cannot unzip" in handout
    assert "Reading a gradient check" in handout


# --- the gradient-check guidance --------------------------------------------------------

@pytest.mark.parametrize("factor, quoted, notebook_name", [
    (2, "0.333", "FullyConnectedNets.ipynb"), (0.5, "0.333", "FullyConnectedNets.ipynb"),
    (10, "0.818", "FullyConnectedNets.ipynb"), (50, "0.961", "FullyConnectedNets.ipynb"),
    (0.2, "0.667", "Dropout.ipynb"), (-1, "1.0", "FullyConnectedNets.ipynb"),
])
def test_the_errors_quoted_for_a_constant_factor_are_what_rel_error_gives(factor, quoted,
                                                                            notebook_name):
    gradient = np.random.RandomState(0).randn(7, 5)
    assert f"{rel_error(factor * gradient, gradient):.{len(quoted) - 2}f}" == quoted
    markdown = "\n".join(cell.source for cell in notebook(notebook_name).cells
                         if cell.cell_type == "markdown")
    assert quoted in markdown


def test_every_gradient_check_is_introduced_with_how_to_read_it():
    """The section of every graded numeric gradient check says which error to expect and
    points at the table of what error sizes mean (or holds it)."""
    sections_checked = 0
    for name in MANIFEST.notebooks:
        for section in sections(notebook(name).cells):
            markdown = " ".join(" ".join(cell.source.split()) for cell in section
                                if cell.cell_type == "markdown")
            numeric = [grade_id(cell) for cell in section if cell.cell_type == "code"
                       and cell.metadata.get("nbgrader", {}).get("grade")
                       and "eval_numerical_gradient" in cell.source]
            if numeric:
                sections_checked += 1
                assert re.search(r"1e-\d+|10\^\{-\d+\}", markdown), (name, numeric)
                assert "Reading a gradient check" in markdown, (name, numeric)
    assert sections_checked >= 10


# --- the Colab set-up cell ---------------------------------------------------------------

def test_the_colab_cell_is_the_same_everywhere_and_fetches_every_dataset():
    first_cells = [next(cell for cell in nbformat.read(folder / name, as_version=4).cells
                        if cell.cell_type == "code")
                   for folder in (REPO / "source" / "fcnet", RELEASE) for name in MANIFEST.notebooks]
    assert len({cell.source for cell in first_cells}) == 1
    cell = first_cells[0].source
    assert f'FOLDERNAME = "{MANIFEST.colab_folder}"' in cell
    assert "sys.path.insert(0, folder)" in cell
    fetch = [line for line in cell.splitlines() if "get_datasets.sh" in line and "!" in line]
    # One place fetches the data, every session and unconditionally: the script fetches
    # whatever of CIFAR-10 and MNIST is missing and writes the fast-load cache on the Colab
    # machine (tests/test_colab_setup.py runs it).
    assert [line.strip() for line in fetch] == ["!bash datasets/get_datasets.sh"]
    assert fetch[0].startswith("    !")  # inside the Colab branch, under no other condition


# --- written expected values -------------------------------------------------------------

def test_the_arrays_written_into_test_cells_are_the_reference_solution_s():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "expected_values.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
