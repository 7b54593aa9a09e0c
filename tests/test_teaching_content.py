"""What the student release teaches and asks: read from the committed release/fcnet.

- Every student function's docstring says it must not modify its inputs.
- Every section that introduces something to implement says "Implement X in nnkit/..."
  before the check that exercises it.
- The inline questions: one answer cell and one format check per question, the same in
  every notebook; the check explains an unanswered question instead of a NameError; no
  format example is a right answer.
- The handout: nothing for instructors, the exact-match rule, how to get the folder into
  Drive.
- The numbers "Reading a gradient check" quotes are what rel_error gives.
- The Colab set-up cell is the same everywhere and fetches every dataset.

(No spelled-out gradient or solution expression: release verification, tested in
tests/test_release.py. The set-up cell in action: tests/test_colab_setup.py.)
"""
import ast
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.checks.answer_checks import ANSWER_KEY
from autograder.manifest import load_manifest, manifest_path
from nnkit.gradient_check import rel_error

REPO = Path(__file__).resolve().parents[1]
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


# --- modules ----------------------------------------------------------------------------

def test_every_student_function_says_it_must_not_modify_its_inputs():
    found = list(student_functions())
    assert len(found) == 25
    for module, name, node in found:
        docstring = " ".join((ast.get_docstring(node) or "").split())
        assert "must not modify its inputs" in docstring, f"{module}: {name}"


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


@pytest.mark.parametrize("name", MANIFEST.notebooks)
def test_every_section_says_what_to_implement_where_before_its_check(name):
    """The first graded check of a notebook that (or whose section's set-up code) uses a
    student function comes after a sentence "Implement ... `function` ... in `nnkit/...`"."""
    module_of = {}
    for module, qualified, _ in student_functions():
        module_of.setdefault(qualified.split(".")[0], module)  # methods: their class
    introduced, checked = set(), 0
    for section in sections(notebook(name).cells):
        markdown = "\n".join(cell.source for cell in section if cell.cell_type == "markdown")
        code_before_check = ""
        for cell in section:
            if cell.cell_type != "code":
                continue
            code_before_check += visible_code(cell)
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade") or meta.get("solution") or grade_id(cell).endswith("_choice"):
                continue
            checked += 1
            for function, module in module_of.items():
                if function in introduced or not re.search(rf"\b{function}\b", code_before_check):
                    continue
                sentence = (rf"[Ii]mplement(?:(?!\.\s).)*?`{function}`(?:(?!\.\s).)*?"
                            rf"in\s+`{re.escape(module)}`")
                assert re.search(sentence, markdown, re.S), (
                    f"{name}: the section before {grade_id(cell)} should say "
                    f"'Implement `{function}` in `{module}`'")
                introduced.add(function)
    assert checked and introduced


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
