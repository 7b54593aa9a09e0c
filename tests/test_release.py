"""The student release: stripping solutions, the manifest, the handout, verification (no
solution given away, in code or in prose), collect_submission.py, and the committed
release/fcnet being what `autograder release` builds.

Everything here is fast except test_committed_release_is_up_to_date, which runs nbgrader.
What the release teaches (TODOs, notebooks' guidance, questions): test_teaching_content.py.
"""
import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.manifest import ManifestError, load_manifest, manifest_path
from autograder.release.paths import assignment_files
from autograder.release.handout import HandoutError, fill_blocks, notebook_points, student_handout
from autograder.release.leaks import normalize, spelled_out_gradients, statement_values
from autograder.release.strip import StripError, strip_solutions
from autograder.release.timing import stale_cell_times
from autograder.release.verify import (read_chunks, secret_expressions, secret_lines,
                                       verify_release)

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "source" / "fcnet"
RELEASE = REPO / "release" / "fcnet"
MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))

needs_release = pytest.mark.skipif(
    not RELEASE.is_dir(), reason="release/fcnet not built yet: run `autograder release fcnet`")


def stripped(source: str) -> str:
    text, _ = strip_solutions(textwrap.dedent(source), "pkg/mod.py")
    return text


# --- stripping solutions from modules ---------------------------------------------------

def test_strip_keeps_the_comment_above_and_names_the_function():
    text = stripped('''
        def affine_forward(x, w, b):
            """Doc."""
            # TODO: set out = x @ w + b.
            ### BEGIN SOLUTION
            out = x.reshape(len(x), -1) @ w + b
            ### END SOLUTION
            return out, (x, w, b)
        ''')
    assert text == textwrap.dedent('''
        def affine_forward(x, w, b):
            """Doc."""
            # TODO: set out = x @ w + b.
            # TODO: your code goes here, in place of the raise below.
            raise NotImplementedError("affine_forward: implement this (see the TODO above)")
            return out, (x, w, b)
        ''')


def test_strip_names_methods_by_class_and_keeps_nested_indentation():
    text = stripped('''
        class Net:
            def loss(self, X, y=None):
                if y is not None:
                    # TODO: compute the loss.
                    ### BEGIN SOLUTION
                    loss = float(X.sum())
                    ### END SOLUTION
                return loss
        ''')
    stub = "\n".join([
        '            # TODO: compute the loss.',
        '            # TODO: your code goes here, in place of the raise below.',
        '            raise NotImplementedError("Net.loss: implement this (see the TODO above)")',
        '        return loss',
    ])
    assert stub in text
    assert "X.sum()" not in text


def test_strip_replaces_every_region_with_its_own_name():
    source = '''
        import numpy as np

        def first(x):
            # TODO: forward.
            ### BEGIN SOLUTION
            y = np.tanh(x)
            ### END SOLUTION
            # TODO: backward.
            ### BEGIN SOLUTION
            dy = 1 - y ** 2
            ### END SOLUTION
            return y, dy

        class Model:
            def step(self):
                def helper(v):
                    # TODO: scale v.
                    ### BEGIN SOLUTION
                    return 3 * v
                    ### END SOLUTION
                return helper(1)
        '''
    text, regions = strip_solutions(textwrap.dedent(source), "pkg/mod.py")
    assert [region.name for region in regions] == ["first", "first", "Model.step.helper"]
    assert text.count("raise NotImplementedError(") == 3
    assert "# TODO: forward." in text and "# TODO: backward." in text
    for solution in ("np.tanh(x)", "1 - y ** 2", "3 * v", "BEGIN SOLUTION", "END SOLUTION"):
        assert solution not in text


def test_stripped_function_raises_not_implemented_error_naming_it():
    namespace = {}
    exec(stripped('''
        class Net:
            def forward(self, x):
                # TODO: set out.
                ### BEGIN SOLUTION
                out = x
                ### END SOLUTION
                return out
        '''), namespace)
    with pytest.raises(NotImplementedError, match=r"^Net\.forward: implement this"):
        namespace["Net"]().forward(1)


@pytest.mark.parametrize("source, problem", [
    ("def f():\n    ### BEGIN SOLUTION\n    x = 1\n", "pkg/mod.py:2: .* never closed"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n",
     "pkg/mod.py:3: a second BEGIN SOLUTION"),
    ("def f():\n    x = 1\n    ### END SOLUTION\n", "pkg/mod.py:3: END SOLUTION without"),
    ("### BEGIN SOLUTION\ndef f():\n    return 1\n### END SOLUTION\n",
     "pkg/mod.py:2: .* contains the definition of f"),
])
def test_strip_refuses_malformed_regions_naming_file_and_line(source, problem):
    with pytest.raises(StripError, match=problem):
        strip_solutions(source, "pkg/mod.py")


# --- the manifest ------------------------------------------------------------------------

def test_real_manifest_has_the_assignment_facts():
    assert MANIFEST.id == "fcnet"
    assert MANIFEST.due.isoformat() == "2026-12-18T23:59:00+00:00"
    assert MANIFEST.notebooks == ("FullyConnectedNets.ipynb", "BatchNormalization.ipynb",
                                  "Dropout.ipynb", "Optimizers.ipynb")
    assert MANIFEST.student_modules == ("nnkit/layers.py", "nnkit/classifiers/fc_net.py",
                                        "nnkit/optim.py")
    assert MANIFEST.artifacts == ("best_model.npz",)
    assert MANIFEST.submission_zip == "fcnet_submission.zip"


@pytest.mark.parametrize("change, problem", [
    (lambda text: text.replace('title = "Fully', 'titel = "Fully'), "key 'titel' is not"),
    (lambda text: text.replace("23:59:00+00:00", "23:59:00"), "key 'due' .* without a timezone"),
    (lambda text: text.replace('"nnkit/optim.py"', '"../optim.py"'), "key 'student_modules'"),
    (lambda text: text.replace('id = "fcnet"', 'id = "other"'), "key 'id' .* must match"),
])
def test_manifest_errors_name_the_file_and_key(tmp_path, change, problem):
    broken = tmp_path / "fcnet" / "manifest.toml"
    broken.parent.mkdir()
    broken.write_text(change(MANIFEST.path.read_text()))
    with pytest.raises(ManifestError, match=f"{broken}: .*{problem}"):
        load_manifest(broken)


# --- the handout ---------------------------------------------------------------------------

def graded_notebook(path: Path) -> Path:
    def nbgrader(**fields):
        meta = {"grade": False, "locked": False, "schema_version": 3, "solution": False,
                "task": False, "grade_id": f"cell{len(fields)}{sorted(fields)}"}
        return {"nbgrader": {**meta, **fields}}
    notebook = new_notebook(cells=[
        new_code_cell("x = 1"),
        new_code_cell("assert x", metadata=nbgrader(grade=True, locked=True, points=2)),
        new_code_cell("assert x > 0", metadata=nbgrader(grade=True, locked=True, points=1.5)),
        new_markdown_cell("why", metadata=nbgrader(grade=True, solution=True, points=3)),
    ])
    nbformat.write(notebook, path)
    return path


def test_points_split_into_autograded_and_ta_graded(tmp_path):
    points = notebook_points(graded_notebook(tmp_path / "Demo.ipynb"))
    assert (points.notebook, points.auto, points.manual) == ("Demo.ipynb", 3.5, 3.0)


def test_fill_blocks_rewrites_only_the_generated_blocks():
    text = ("intro\n<!-- BEGIN GENERATED points: rewritten -->\nold\n"
            "<!-- END GENERATED points -->\noutro\n")
    assert fill_blocks(text, {"points": "new\n"}, "README.md") == (
        "intro\n<!-- BEGIN GENERATED points: rewritten -->\nnew\n"
        "<!-- END GENERATED points -->\noutro\n")
    with pytest.raises(HandoutError, match="README.md: no generated block 'todo'"):
        fill_blocks(text, {"points": "", "todo": ""}, "README.md")


def test_the_students_handout_keeps_no_html_comment():
    text = ("<!-- For instructors:\nregenerated blocks. -->\n<!-- BEGIN GENERATED summary: x -->\n"
            "# Title\n<!-- END GENERATED summary -->\n\nText <!-- aside --> here.\n")
    assert student_handout(text) == "# Title\n\nText here.\n"


# --- what verification counts as a leak ----------------------------------------------------

def test_solution_text_is_secret_even_when_prose_spells_it_out_but_not_when_given_code_has_it(
        tmp_path):
    (tmp_path / "mod.py").write_text(textwrap.dedent('''
        def f(x_centered, std):
            """Return x_hat = x_centered / std."""
            # TODO: set x_hat = x_centered / std.
            ### BEGIN SOLUTION
            x_hat = x_centered / std
            scaled = np.exp(x_hat - x_hat.max())
            ### END SOLUTION
            return scaled

        def given(x_hat):
            scaled = np.exp(x_hat - x_hat.max())
            return scaled
        '''))
    chunks = read_chunks(tmp_path, "mod.py")
    assert secret_lines(chunks) == {"x_hat = x_centered / std": "mod.py:6"}
    assert secret_expressions(chunks) == {"x_centered/std": "mod.py:6"}


def test_statement_values_ignore_spaces_quotes_np_and_what_computes_nothing():
    code = textwrap.dedent('''
        std = np.sqrt(batch_var + eps)
        config['m'] = beta1 * config['m'] + (1 - beta1) * dw
        mask = None
        out = x
        inline_q1_answer = {1, 2}
        dx[rows, y] -= 1
        %timeit out = gamma * x_hat + beta
        ''')
    assert statement_values(code) == [("sqrt(batch_var+eps)", 2),
                                      ('beta1*config["m"]+(1-beta1)*dw', 3)]
    assert normalize("np.sqrt( var +\n eps )") == normalize("sqrt(var+eps)")


def test_a_gradient_given_a_value_in_a_backward_pass_or_a_loss_is_found():
    found = spelled_out_gradients(textwrap.dedent('''
        def dropout_backward(dout, cache):
            """Backward pass.

            Returns:
            - dx: Gradient with respect to x, of the shape of dout; dx == 0 where dropped.
            """
            # TODO: set dx = dout * mask.
            return dout

        class Net:
            def loss(self, X, y=None):
                """Inputs: X of shape (N, d_1, ..., d_k) with d_1 * ... * d_k = D."""
                # TODO: grads['W1'] = dW1 + self.reg * W1
                return 0

        def dropout_forward(x, p):
            # TODO: dx = 1 is not a gradient of a forward pass.
            return x
        '''))
    assert found == [(8, "dropout_backward", "dx = dout * mask."),
                     (14, "Net.loss", "grads['W1'] = dW1 + self.reg * W1")]


# --- collect_submission.py ---------------------------------------------------------------

@pytest.fixture
def student_copy(tmp_path):
    """A student's copy of the release, without data."""
    copy = tmp_path / "fcnet"
    shutil.copytree(RELEASE, copy, ignore=shutil.ignore_patterns(*MANIFEST.local_only_patterns))
    return copy


def collect(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "collect_submission.py"], cwd=folder,
                          capture_output=True, text=True, timeout=60)


def question_ids(folder: Path) -> list[tuple[str, str]]:
    """(notebook, "q1") of every inline question, from the notebooks' grade ids."""
    return [(name, cell.metadata.nbgrader["grade_id"].split("_")[1])
            for name in MANIFEST.notebooks
            for cell in nbformat.read(folder / name, as_version=4).cells
            if cell.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_answer")]


@needs_release
def test_collect_submission_lists_everything_missing_from_an_untouched_release(student_copy):
    result = collect(student_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(student_copy / "fcnet_submission.zip") as archive:
        assert sorted(archive.namelist()) == sorted(MANIFEST.notebooks + MANIFEST.student_modules)
    out = result.stdout
    assert "best_model.npz: a notebook saves it" in out
    todo = list(dict.fromkeys((module, function) for module in MANIFEST.student_modules
                              for function, _ in stubs(ast.parse((student_copy / module).read_text()))))
    assert len(todo) == 25
    for module, function in todo:
        assert re.search(rf"^  {re.escape(module)}:\d+: {re.escape(function)} still raises "
                         "NotImplementedError$", out, re.M), (module, function)
    questions = question_ids(student_copy)
    assert len(questions) == 11
    for notebook, question in questions:
        where = f"{notebook}, inline question {question[1:]}"
        assert f"{where}: inline_{question}_answer is not set" in out
        assert f"{where}: the explanation still says YOUR ANSWER HERE" in out
    assert out.count("still raises NotImplementedError (# TODO") == 5  # training cells
    for notebook in MANIFEST.notebooks:  # never run
        assert f"{notebook}: has no outputs" in out
    expected = 1 + len(todo) + 2 * len(questions) + 5 + len(MANIFEST.notebooks)
    assert out.rstrip().splitlines()[-1] == (
        f"NOT COMPLETE: {expected} item(s) above still need work; fix them, run this script "
        "again, then hand in fcnet_submission.zip.")


@needs_release
def test_collect_submission_from_a_notebook_cell_includes_saved_artifacts(student_copy):
    (student_copy / "best_model.npz").write_bytes(b"weights")
    cell = "import collect_submission; print('exit', collect_submission.main())"
    result = subprocess.run([sys.executable, "-c", cell], cwd=student_copy,
                            capture_output=True, text=True, timeout=60)
    assert "exit 0" in result.stdout, result.stdout + result.stderr
    assert "MISSING" not in result.stdout
    assert "best_model.npz: does not load (" in result.stdout
    with zipfile.ZipFile(student_copy / "fcnet_submission.zip") as archive:
        assert archive.read("best_model.npz") == b"weights"


@needs_release
def test_collect_submission_warns_about_a_notebook_saved_before_a_module_change(student_copy):
    notebook_path = student_copy / MANIFEST.notebooks[0]
    notebook = nbformat.read(notebook_path, as_version=4)
    for number, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        cell.execution_count = number + 1
    nbformat.write(notebook, notebook_path)
    saved = (student_copy / MANIFEST.student_modules[0]).stat().st_mtime - 3600
    os.utime(notebook_path, (saved, saved))  # saved an hour before the last module change
    result = collect(student_copy)
    assert f"{MANIFEST.notebooks[0]}: was last saved before your latest change to" in result.stdout
    assert f"{MANIFEST.notebooks[0]}: has no outputs" not in result.stdout


@needs_release
def test_collect_submission_says_what_is_wrong_with_an_answer_cell(student_copy):
    path = student_copy / "Dropout.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in notebook.cells}
    cells["do_q1_answer"].source += "\ninline_q1_answer = 3"  # the raise is still above it
    cells["do_q2_answer"].source = "choice = {1, 2}\ninline_q2_answer = choice"
    cells["do_q3_answer"].source = "inline_q3_answer = 2"
    cells["do_q3_explain"].source = "Because the layers are smaller."
    nbformat.write(notebook, path)
    out = collect(student_copy).stdout
    assert "Dropout.ipynb, inline question 1: the answer cell still has its raise" in out
    assert "Dropout.ipynb, inline question 2: inline_q2_answer must be written as a plain" in out
    assert "Dropout.ipynb, inline question 3:" not in out


@needs_release
def test_collect_submission_reports_a_module_that_does_not_parse(student_copy):
    layers = student_copy / "nnkit" / "layers.py"
    layers.write_text(layers.read_text() + "\ndef broken(:\n")
    out = collect(student_copy).stdout
    assert re.search(r"^  nnkit/layers.py:\d+: does not parse \(", out, re.M)
    assert "affine_forward still raises" not in out  # nothing more is said of that module


# --- the committed release ---------------------------------------------------------------

def source_chunks():
    """The instructor's modules and notebooks, as verification reads them."""
    return [chunk for path in assignment_files(SOURCE, MANIFEST.local_only_patterns)
            for chunk in read_chunks(SOURCE, path)]


@needs_release
def test_release_contains_no_solution_text_or_markers():
    secrets = secret_lines(source_chunks())
    assert len(secrets) > 50  # the source really has solutions to hide
    for path in RELEASE.rglob("*"):
        if path.suffix not in (".py", ".ipynb", ".md", ".json", ".sh"):
            continue
        for chunk in read_chunks(RELEASE, path.relative_to(RELEASE).as_posix()):
            for number, line in chunk.lines():
                where = chunk.where(number)
                assert "BEGIN SOLUTION" not in line and "HIDDEN TESTS" not in line, where
                leaked = [secret for secret in secrets if secret in line]
                assert not leaked, f"{where} leaks {leaked[0]!r} ({secrets[leaked[0]]})"


@needs_release
def test_no_value_a_solution_computes_is_written_anywhere_in_the_release():
    """The measure of the issue that led to it: a sixth of the values the solution of the
    student modules computes were written out, spaces and np. aside, in the release's
    comments (e.g. `x_hat = x_centered / std` in a TODO). Given code may share a value
    with a solution (it is public anyway); nothing else may."""
    secrets = secret_expressions(source_chunks())
    modules = [value for value, origin in secrets.items()
               if origin.startswith(tuple(MANIFEST.student_modules))]
    assert len(modules) > 60  # the modules really compute things to hide
    release_text = normalize("\n".join(
        chunk.text for path in assignment_files(RELEASE, MANIFEST.local_only_patterns)
        for chunk in read_chunks(RELEASE, path)))
    written = [value for value in secrets if value in release_text]
    assert written == []


@needs_release
def test_no_todo_or_docstring_of_the_release_gives_a_gradient_a_value():
    for module in MANIFEST.student_modules:
        assert spelled_out_gradients((RELEASE / module).read_text()) == [], module


def stubs(tree: ast.AST, prefix: str = ""):
    """(enclosing Class.function, message) of every `raise NotImplementedError("...")`."""
    for child in ast.iter_child_nodes(tree):
        if (isinstance(child, ast.Raise) and isinstance(child.exc, ast.Call)
                and getattr(child.exc.func, "id", None) == "NotImplementedError"):
            yield prefix.rstrip("."), child.exc.args[0].value
        inner = f"{prefix}{child.name}." if isinstance(child, (ast.FunctionDef, ast.ClassDef)) \
            else prefix
        yield from stubs(child, inner)


@needs_release
def test_every_stub_names_the_function_it_sits_in():
    for module in MANIFEST.student_modules:
        found = list(stubs(ast.parse((RELEASE / module).read_text())))
        assert found, f"{module} has no NotImplementedError stubs"
        for function, message in found:
            assert message == f"{function}: implement this (see the TODO above)", module


@needs_release
def test_calling_a_stripped_function_raises_not_implemented_error_naming_it():
    program = textwrap.dedent('''
        import sys
        sys.path.insert(0, sys.argv[1])  # the release folder
        import numpy as np
        from nnkit import layers, optim
        from nnkit.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
        x, w, b = np.ones((2, 3)), np.ones((3, 4)), np.ones(4)
        calls = {
            "affine_forward": lambda: layers.affine_forward(x, w, b),
            "relu_forward": lambda: layers.relu_forward(x),
            "softmax_loss": lambda: layers.softmax_loss(x, np.array([0, 1])),
            "dropout_forward": lambda: layers.dropout_forward(x, {"mode": "train", "p": 0.5}),
            "sgd_momentum": lambda: optim.sgd_momentum(w, w),
            "adam": lambda: optim.adam(w, w),
            "TwoLayerNet.__init__": lambda: TwoLayerNet(input_dim=3, hidden_dim=4, num_classes=2),
            "FullyConnectedNet.__init__":
                lambda: FullyConnectedNet([4], input_dim=3, num_classes=2),
        }
        for name, call in calls.items():
            try:
                call()
            except NotImplementedError as error:
                print(name, "->", error)
            else:
                print(name, "-> no error")
        ''')
    # -I: only the release's nnkit is importable, not the instructor's.
    result = subprocess.run([sys.executable, "-I", "-B", "-c", program, str(RELEASE)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 8
    for line in lines:
        name, error = line.split(" -> ")
        assert error == f"{name}: implement this (see the TODO above)"


def assert_found_once_each(problems: list[str], expected: list[tuple[str, ...]]):
    """Every (start, *parts) of `expected` is the start of exactly one problem that holds
    every part."""
    for start, *parts in expected:
        matching = [problem for problem in problems
                    if problem.startswith(start) and all(part in problem for part in parts)]
        assert len(matching) == 1, (start, problems)


@needs_release
def test_verification_catches_what_gives_a_solution_away(tmp_path):
    copy = tmp_path / "fcnet"
    shutil.copytree(RELEASE, copy, ignore=shutil.ignore_patterns(*MANIFEST.local_only_patterns))
    solution = next(line for line, origin in secret_lines(source_chunks()).items()
                    if origin.startswith("nnkit/layers.py:") and " = " in line
                    and normalize(line.split(" = ", 1)[1]) in secret_expressions(source_chunks()))
    optim = copy / "nnkit" / "optim.py"
    with optim.open("a") as module:
        module.write(f"\n\ndef _leak(x, w, b):\n    {solution}\n")
    planted_line = len(optim.read_text().splitlines())
    # A TODO that writes out a solution's value in other spacing, and one giving a gradient.
    layers = copy / "nnkit" / "layers.py"
    text = layers.read_text()
    text = text.replace("    # TODO: Implement the ReLU forward pass:",
                        "    # TODO: set out = np.maximum( 0, x ).\n"
                        "    # TODO: Implement the ReLU forward pass:")
    text = text.replace("    # TODO: Implement the dropout backward pass:",
                        "    # TODO: dx = dout * mask\n    # TODO: Implement the dropout backward pass:")
    layers.write_text(text)
    lines = text.splitlines()
    spelled_line = lines.index("    # TODO: set out = np.maximum( 0, x ).") + 1
    gradient_line = lines.index("    # TODO: dx = dout * mask") + 1
    handout = copy / "README.md"
    handout.write_text("<!-- for instructors -->\n" + handout.read_text() + "\n### BEGIN SOLUTION\n")

    problems = [str(problem) for problem in verify_release(copy, SOURCE, MANIFEST)]
    # The committed release itself verifies (see the next test), so these are all there is.
    expected = [
        ("README.md:1: an HTML comment (meant for instructors)",),
        ("README.md:", "nbgrader marker left in the release: '### BEGIN SOLUTION'"),
        (f"nnkit/optim.py:{planted_line}: contains solution text",),
        (f"nnkit/optim.py:{planted_line}: spells out a solution expression",),
        (f"nnkit/layers.py:{spelled_line}: spells out a solution expression (from "
         "source/fcnet/nnkit/layers.py:", "'maximum(0,x)'"),
        (f"nnkit/layers.py:{gradient_line}: the TODO or docstring of dropout_backward gives a "
         "gradient a value: 'dx = dout * mask'",),
    ]
    assert_found_once_each(problems, expected)
    assert len(problems) == len(expected), problems


@needs_release
def test_verification_catches_a_test_cell_that_gives_a_solution_away(tmp_path):
    """The visible part of a test cell is held to the rule of prose: a solution line in a
    comment, an update equation computing the expected values under other names, a message
    saying what a gradient is made of each fail the release (and so `release --check`)."""
    copy = tmp_path / "fcnet"
    shutil.copytree(RELEASE, copy, ignore=shutil.ignore_patterns(*MANIFEST.local_only_patterns))
    solution = next(line for line, origin in secret_lines(source_chunks()).items()
                    if origin.startswith("nnkit/optim.py:") and line.startswith('cache = config["cache"]'))
    planted = [
        f"# The sum so far: {solution}",
        "lr, eps, G = 0.05, 1e-8, np.zeros_like(w_start)",
        "for g in step_grads:",
        "    G = G + g**2",
        "    expected = w_start - lr * g / (np.sqrt(G) + eps)",
        'assert True, "adagrad: dx is dout times the mask"',
    ]
    path = copy / "Optimizers.ipynb"
    notebook = nbformat.read(path, as_version=4)
    number, cell = next((number, cell) for number, cell in enumerate(notebook.cells, start=1)
                        if cell.metadata.get("nbgrader", {}).get("grade_id") == "opt_adagrad")
    cell.source = "\n".join(planted) + "\n" + cell.source
    nbformat.write(notebook, path)

    problems = [str(problem) for problem in verify_release(copy, SOURCE, MANIFEST)]
    where = f"Optimizers.ipynb cell {number} line"
    expected = [
        (f"{where} 1: contains solution text (from source/fcnet/nnkit/optim.py:", repr(solution)),
        (f"{where} 1: spells out a solution expression (from source/fcnet/nnkit/optim.py:",),
        (f"{where} 5: computes a solution expression under other names (from "
         "source/fcnet/nnkit/optim.py:", "scripts/expected_values.py"),
        (f"{where} 6: a message or comment of this check spells out a gradient: "
         "'dx is dout times the mask'",),
    ]
    assert_found_once_each(problems, expected)
    assert len(problems) == len(expected), problems


def test_committed_release_is_up_to_date():
    """A stale release/fcnet (source changed, release not rebuilt) fails here."""
    result = subprocess.run([sys.executable, "-m", "autograder", "release", "fcnet", "--check"],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_release
def test_cell_times_go_stale_only_with_the_notebook_they_measure(tmp_path):
    """A changed cell makes its notebook's measured times stale (a release measures it
    again, --check fails); the other notebooks' times stand."""
    root = tmp_path / "course"
    shutil.copytree(SOURCE, root / "source" / "fcnet", ignore=shutil.ignore_patterns(
        *MANIFEST.local_only_patterns))
    shutil.copytree(REPO / "assignments" / "fcnet", root / "assignments" / "fcnet")
    manifest = load_manifest(manifest_path(root, "fcnet"))
    assert stale_cell_times(root, manifest, RELEASE) == []
    notebook = nbformat.read(root / "source" / "fcnet" / "Dropout.ipynb", as_version=4)
    solution = next(cell for cell in notebook.cells
                    if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code")
    solution.source += "\nprint('a slower reference')"
    nbformat.write(notebook, root / "source" / "fcnet" / "Dropout.ipynb")
    assert stale_cell_times(root, manifest, RELEASE) == ["Dropout.ipynb"]
