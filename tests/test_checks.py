"""Tests of the hidden checks (autograder/checks).

Submissions are built in temporary folders: the reference nnkit (source/fcnet/nnkit), the
untouched release (release/fcnet/nnkit), and mutants, copies of the reference with one
deliberate bug. Each mutant must fail exactly the checks that exercise the bug, with a
message that names the function and shows no arrays.
"""
import ast
import importlib.util
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import sandbox
from autograder.checks import checks_folder, decode, encode
from autograder.checks.__main__ import evaluate
from autograder.checks.assignment import load_checks
from autograder.checks.student_process import close_all
from autograder.grading.hidden import assemble_checked_folder
from autograder.manifest import load_manifest, manifest_path

REPO = Path(__file__).resolve().parents[1]
FCNET_CHECKS = load_checks(checks_folder(REPO, "fcnet"))
CHECKS = FCNET_CHECKS.checks
ANSWER_KEY = FCNET_CHECKS.module("answer_checks").ANSWER_KEY
SOURCE = REPO / "source" / "fcnet"
RELEASE = REPO / "release" / "fcnet"
NOTEBOOKS = ["FullyConnectedNets.ipynb", "BatchNormalization.ipynb", "Dropout.ipynb", "Optimizers.ipynb"]
HIDDEN_SECTION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)\n### END HIDDEN TESTS", re.S)

OVERFIT_VALUES = {
    "fc_overfit_three_layer_check": {"weight_scale": 3e-2, "learning_rate": 3e-3},
    "fc_overfit_five_layer_check": {"weight_scale": 1e-1, "learning_rate": 1e-3},
}
# The checks that only need the student's code (no values from the notebook, no data).
CODE_CHECKS = sorted(grade_id for grade_id, registered in CHECKS.items()
                     if not registered.parameters and grade_id != "fc_best_model_saved")


def exercising(*modules):
    """The code checks whose cells exercise a function of one of `modules` (as declared)."""
    return [grade_id for grade_id in CODE_CHECKS
            if any(work.partition(":")[0] in modules for work in CHECKS[grade_id].exercises)]


LAYER_AND_NETWORK_CHECKS = exercising("nnkit/layers.py", "nnkit/classifiers/fc_net.py")
NETWORK_CHECKS = exercising("nnkit/classifiers/fc_net.py")
OPTIMIZER_CHECKS = exercising("nnkit/optim.py")


@pytest.fixture(autouse=True, scope="session")
def check_cache(tmp_path_factory):
    """Keep the CIFAR-10 cache of the checks out of the user's home."""
    previous = os.environ.get("NNKIT_CHECK_CACHE")
    os.environ["NNKIT_CHECK_CACHE"] = str(tmp_path_factory.mktemp("check-cache"))
    yield
    if previous is None:
        os.environ.pop("NNKIT_CHECK_CACHE")
    else:
        os.environ["NNKIT_CHECK_CACHE"] = previous


@pytest.fixture(autouse=True)
def end_student_processes():
    """Each test's submissions get their own student processes; none outlives the test."""
    yield
    close_all()


def make_submission(folder, nnkit_from=SOURCE, edits=()):
    """An assignment folder holding a copy of nnkit_from/nnkit with `edits` applied.

    edits: (module path inside nnkit/, old text, new text, which occurrence in code, 0-based;
    occurrences in comments do not count).
    """
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(nnkit_from / "nnkit", folder / "nnkit", ignore=shutil.ignore_patterns("__pycache__"))
    for module, old, new, occurrence in edits:
        path = folder / "nnkit" / module
        text = path.read_text()
        starts = [match.start() for match in re.finditer(re.escape(old), text)
                  if "#" not in text[text.rfind("\n", 0, match.start()) + 1:match.start()]]
        assert len(starts) > occurrence, f"{old!r} occurs {len(starts)} time(s) in {module}"
        start = starts[occurrence]
        path.write_text(text[:start] + new + text[start + len(old):])
    return folder


@pytest.fixture(scope="module")
def reference_submission(tmp_path_factory):
    return make_submission(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def release_submission(tmp_path_factory):
    return make_submission(tmp_path_factory.mktemp("release"), nnkit_from=RELEASE)


def run_checks(grade_ids, submission, values=None):
    """{grade_id: verdict}"""
    return {grade_id: evaluate(grade_id, submission, (values or {}).get(grade_id)) for grade_id in grade_ids}


def assert_readable(message):
    """Student-facing: short, no array dumps."""
    assert len(message) < 2500, message
    assert "array(" not in message and "[[" not in message, message
    assert not re.search(r"(-?\d+\.\d+[\s,]+){4}", message), message  # no rows of numbers


def graded_test_cells():
    """(notebook, cell) for every autograded test cell of the source notebooks."""
    for name in NOTEBOOKS:
        for cell in nbformat.read(SOURCE / name, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                yield name, cell


# --- the notebooks and the catalogue agree ----------------------------------------------


def test_every_autograded_cell_has_a_check_and_every_check_a_cell():
    graded = {cell.metadata.nbgrader["grade_id"] for _, cell in graded_test_cells()}
    assert graded == set(CHECKS), (
        f"cells without a check: {sorted(graded - set(CHECKS))}; checks without a cell: {sorted(set(CHECKS) - graded)}")


def test_hidden_sections_only_call_the_grader():
    for name, cell in graded_test_cells():
        grade_id = cell.metadata.nbgrader["grade_id"]
        sections = HIDDEN_SECTION.findall(cell.source)
        assert len(sections) == 1 and cell.source.endswith("### END HIDDEN TESTS"), f"{name}: {grade_id}"
        call = ast.parse(sections[0]).body
        assert [type(node) for node in call] == [ast.Import, ast.Expr], f"{name}: {grade_id}: {sections[0]}"
        run = call[1].value
        assert ast.unparse(run.func) == "autograder.checks.run", sections[0]
        assert [ast.literal_eval(arg) for arg in run.args] == [grade_id], sections[0]
        # Keyword values are the student's variables, never literals (no answers in the notebook).
        assert all(isinstance(keyword.value, ast.Name) for keyword in run.keywords), sections[0]
        assert {keyword.arg for keyword in run.keywords} == set(CHECKS[grade_id].parameters), sections[0]


def test_slow_cells_are_not_graded():
    for name, cell in graded_test_cells():
        assert "slow" not in cell.metadata.get("tags", []), f"{name}: {cell.metadata.nbgrader['grade_id']}"


def test_answer_key_matches_the_solutions_of_the_source_notebooks():
    solutions = {}
    for name in NOTEBOOKS:
        for cell in nbformat.read(SOURCE / name, as_version=4).cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if grade_id.endswith("_answer"):
                region = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
                solutions[grade_id.replace("_answer", "_choice")] = ast.literal_eval(region.split("=", 1)[1].strip())
    assert solutions == ANSWER_KEY


def test_list_names_every_check():
    listed = subprocess.run([sys.executable, "-m", "autograder.checks", "--list"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    assert [line.split()[0] for line in listed.splitlines()] == sorted(CHECKS)


# --- reference and release --------------------------------------------------------------


def test_reference_passes_every_code_check(reference_submission):
    verdicts = run_checks(CODE_CHECKS, reference_submission)
    failed = {grade_id: verdict["message"] for grade_id, verdict in verdicts.items() if verdict["status"] != "passed"}
    assert not failed


def test_release_fails_every_code_check_as_not_implemented(release_submission):
    for grade_id, verdict in run_checks(CODE_CHECKS, release_submission).items():
        assert verdict["status"] == "failed", grade_id
        assert "is not implemented yet" in verdict["message"], (grade_id, verdict["message"])
        assert_readable(verdict["message"])


def test_release_fails_the_checks_that_need_notebook_values(release_submission):
    for grade_id, registered in CHECKS.items():
        if registered.parameters or grade_id == "fc_best_model_saved":
            verdict = evaluate(grade_id, release_submission)
            assert verdict["status"] == "failed", grade_id
            assert re.search(r"not answered: set inline_q\d_answer|is not set: set it|not in the submission",
                             verdict["message"]), verdict["message"]


def test_every_check_declares_work_the_assignment_has():
    """What a check declares it exercises names a function or class of a student module, or
    a solution cell of a notebook: samples.partials and these tests derive from it."""
    manifest = load_manifest(manifest_path(REPO, "fcnet"))
    solution_cells = {f"{name}:{cell.metadata.nbgrader['grade_id']}"
                      for name in manifest.notebooks for cell in nbformat.read(SOURCE / name, as_version=4).cells
                      if cell.metadata.get("nbgrader", {}).get("solution")}
    defined = {f"{module}:{node.name}" for module in manifest.student_modules
               for node in ast.parse((SOURCE / module).read_text()).body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for grade_id, registered in CHECKS.items():
        assert registered.exercises, grade_id
        assert set(registered.exercises) <= defined | solution_cells, (grade_id, registered.exercises)


# --- deliberate bugs --------------------------------------------------------------------

LAYERS, FC_NET, OPTIM = "layers.py", "classifiers/fc_net.py", "optim.py"
BATCHNORM_LAYER_CHECKS = {"bn_forward_train", "bn_backward", "bn_backward_alt"}
# Each bug fails the cell of the function it is in, and no other: the checks of networks run
# the student's fc_net with the grader's layers, and the Optimizers notebook's cells of the
# rules FullyConnectedNets introduced check how the rule behaves in the Solver, not its
# formula (a bug of a formula is charged in the rule's own cell).
MUTANTS = {
    "transposed dw": (
        [(LAYERS, "dw = x_rows.T @ dout", "dw = (dout.T @ x_rows).reshape(w.shape)", 0)], LAYER_AND_NETWORK_CHECKS,
        {"fc_affine_backward"}, "affine_backward: dw is wrong"),
    "affine_forward hard-codes the public expected output": (
        [(LAYERS, "out = x_rows @ w + b",
          "out = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.51413270, 3.77273342]])", 0)],
        LAYER_AND_NETWORK_CHECKS, {"fc_affine_forward"}, "affine_forward: out has shape"),
    "unbiased batch variance in the running average": (
        [(LAYERS, "running_var = momentum * running_var + (1 - momentum) * batch_var",
          "running_var = momentum * running_var + (1 - momentum) * x.var(axis=0, ddof=1)", 0)],
        LAYER_AND_NETWORK_CHECKS, {"bn_forward_train"}, "bn_param['running_var'] is wrong"),
    "batchnorm test mode normalizes with the batch statistics": (
        [(LAYERS, "out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta",
          "out = gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta", 0)],
        LAYER_AND_NETWORK_CHECKS, {"bn_forward_test"}, "batchnorm_forward (test): out is wrong"),
    # Decided in layer_checks.batchnorm_forward_test: not accepted (it matters for small
    # variances), charged once, and the message states what was measured.
    "batchnorm test mode adds eps outside the square root": (
        [(LAYERS, "out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta",
          "out = gamma * (x - running_mean) / (np.sqrt(running_var) + eps) + beta", 0)],
        LAYER_AND_NETWORK_CHECKS, {"bn_forward_test"}, "the error is largest in the feature whose running_var is"),
    "batchnorm keeps the batch dimension (keepdims=True)": (
        [(LAYERS, "batch_mean = x.mean(axis=0)", "batch_mean = x.mean(axis=0, keepdims=True)", 0),
         (LAYERS, "batch_var = np.mean(x_centered**2, axis=0)",
          "batch_var = np.mean(x_centered**2, axis=0, keepdims=True)", 0),
         (LAYERS, "dgamma = np.sum(dout * x_hat, axis=0)", "dgamma = np.sum(dout * x_hat, axis=0, keepdims=True)", 0),
         (LAYERS, "dgamma = np.sum(dout * x_hat, axis=0)", "dgamma = np.sum(dout * x_hat, axis=0, keepdims=True)", 0)],
        LAYER_AND_NETWORK_CHECKS, BATCHNORM_LAYER_CHECKS, ": a kept dimension? (for x of shape"),
    "batchnorm_backward_alt drops the x_hat term": (
        [(LAYERS, "dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * np.mean(dx_hat * x_hat, axis=0)) / std",
          "dx = (dx_hat - dx_hat.mean(axis=0)) / std", 0)],
        LAYER_AND_NETWORK_CHECKS, {"bn_backward_alt"}, "batchnorm_backward_alt: dx is wrong"),
    "layernorm over the batch axis": (
        [(LAYERS, "mean = x.mean(axis=1, keepdims=True)", "mean = x.mean(axis=0, keepdims=True)", 0),
         (LAYERS, "std = np.sqrt(x.var(axis=1, keepdims=True) + eps)", "std = np.sqrt(x.var(axis=0, keepdims=True) + eps)", 0)],
        LAYER_AND_NETWORK_CHECKS, {"bn_layernorm_forward", "bn_layernorm_backward"}, "layernorm_forward: out is wrong"),
    "dropout scales the kept entries by p instead of 1 / p": (
        [(LAYERS, "astype(x.dtype) / p", "astype(x.dtype) * p", 0)], LAYER_AND_NETWORK_CHECKS,
        {"do_forward"}, "kept entries must equal x / p"),
    "softmax without shifting the scores": (
        [(LAYERS, "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x", 0)], LAYER_AND_NETWORK_CHECKS,
        {"fc_softmax_loss"}, "softmax_loss: loss contains NaN or inf"),
    "relu_forward overwrites its input": (
        [(LAYERS, "out = np.maximum(0, x)", "out = np.maximum(0, x, out=x)", 0)], LAYER_AND_NETWORK_CHECKS,
        {"fc_relu_forward"}, "relu_forward changed its input x in place (for x of shape"),
    "batchnorm_forward doubles beta in place": (
        [(LAYERS, "out = gamma * x_hat + beta\n        cache = (x_hat, gamma, x_centered, std)",
          "beta *= 2.0\n        out = gamma * x_hat + beta / 2.0\n        cache = (x_hat, gamma, x_centered, std)", 0)],
        LAYER_AND_NETWORK_CHECKS, {"bn_forward_train"},
        "batchnorm_forward changed its input beta in place (for x of shape"),
    "TwoLayerNet without the 0.5 of the L2 term": (
        [(FC_NET, "loss += 0.5 * self.reg", "loss += self.reg", 0)], NETWORK_CHECKS,
        {"fc_two_layer_loss"}, "TwoLayerNet.loss(X, y): the loss is wrong"),
    "FullyConnectedNet without the 0.5 of the L2 term": (
        [(FC_NET, "loss += 0.5 * self.reg", "loss += self.reg", 1)], NETWORK_CHECKS,
        {"fc_fcnet_loss_grads"}, "FullyConnectedNet: the loss of loss(X, y) is wrong"),
    "TwoLayerNet draws uniform initial weights": (
        [(FC_NET, 'weight_scale * np.random.randn(input_dim, hidden_dim)',
          'weight_scale * np.random.rand(input_dim, hidden_dim)', 0)], NETWORK_CHECKS,
        {"fc_two_layer_init"}, "must be drawn from a normal distribution"),
    "FullyConnectedNet skips dropout_backward": (
        [(FC_NET, "dhidden = dropout_backward(dhidden, dropout_cache)", "pass", 0)], NETWORK_CHECKS,
        {"do_fcnet_dropout"}, "grads['W1'] is wrong"),
    # A limitation of running the network with the grader's layers, stated clearly.
    "FullyConnectedNet reads inside a layer's cache": (
        [(FC_NET, "cache, dropout_cache = layer_caches[layer - 1]",
          "cache, dropout_cache = layer_caches[layer - 1]\n            assert len(cache[1])", 0)], NETWORK_CHECKS,
        {"fc_fcnet_loss_grads", "bn_fcnet_batchnorm", "bn_fcnet_layernorm", "do_fcnet_dropout"},
        "the network looked inside the cache of relu_forward"),
    "adam without bias correction": (
        [(OPTIM, "v_hat = v / (1 - beta2**t)", "v_hat = v", 0),
         (OPTIM, "m_hat = m / (1 - beta1**t)", "m_hat = m", 0)], OPTIMIZER_CHECKS,
        {"fc_adam"}, "adam: the step next_w - w is wrong"),
    "nesterov_momentum steps with the old velocity": (
        [(OPTIM, 'w + config["momentum"] * velocity', 'w + config["momentum"] * config["velocity"]', 0)],
        OPTIMIZER_CHECKS, {"opt_nesterov_momentum"}, "nesterov_momentum: the step next_w - w is wrong"),
    "sgd_momentum updates w in place": (
        [(OPTIM, "next_w = w + velocity", "w += velocity\n    next_w = w", 0)], OPTIMIZER_CHECKS,
        {"fc_sgd_momentum"}, "sgd_momentum changed its input w in place"),
    "adagrad forgets the earlier squared gradients": (
        [(OPTIM, 'cache = config["cache"] + dw**2', "cache = dw**2", 0)], OPTIMIZER_CHECKS,
        {"opt_adagrad"}, "adagrad: the step next_w - w is wrong"),
    "rmsprop swaps the decay weights": (
        [(OPTIM, 'rho * config["cache"] + (1 - rho) * dw**2', '(1 - rho) * config["cache"] + rho * dw**2', 0)],
        OPTIMIZER_CHECKS, {"fc_rmsprop"}, "rmsprop: the step next_w - w is wrong"),
    "adabelief uses the old m in the surprise": (
        [(OPTIM, "(dw - m) ** 2", '(dw - config["m"]) ** 2', 0)], OPTIMIZER_CHECKS,
        {"opt_adabelief"}, "adabelief: the step next_w - w is wrong"),
    # State kept outside config breaks both properties of a rule: its steps from a given
    # state (the state it is given is not what it uses) and its run in the Solver.
    "adam counts t in a module variable": (
        [(OPTIM, 't = config["t"] + 1', 'global _adam_steps\n    _adam_steps = globals().get("_adam_steps", 0) + 1\n'
                                          '    t = _adam_steps', 0)], OPTIMIZER_CHECKS,
        {"fc_adam", "opt_adam"}, "adam in the Solver: after"),
}


@pytest.mark.parametrize("name", MUTANTS)
def test_a_bug_fails_exactly_the_checks_that_exercise_it(name, tmp_path):
    edits, checks, expected, message = MUTANTS[name]
    submission = make_submission(tmp_path, edits=edits)
    verdicts = run_checks(checks, submission)
    failed = {grade_id for grade_id, verdict in verdicts.items() if verdict["status"] != "passed"}
    assert failed == expected, {grade_id: verdicts[grade_id]["message"] for grade_id in failed ^ expected}
    messages = [verdicts[grade_id]["message"] for grade_id in sorted(expected)]
    assert not expected or any(message in text for text in messages), messages
    for text in messages:
        assert_readable(text)


def test_other_correct_implementations_pass(tmp_path):
    """Equivalent formulas, other numpy calls and Adam's "efficient" form are not bugs."""
    submission = make_submission(tmp_path, edits=[
        (LAYERS, "out = x_rows @ w + b", "out = np.einsum('nd,dm->nm', x_rows, w) + b", 0),
        (LAYERS, "dx = dout * (x > 0)", "dx = np.where(x > 0, dout, 0.0)", 0),
        (LAYERS, "batch_var = np.mean(x_centered**2, axis=0)", "batch_var = x.var(axis=0)", 0),
        (LAYERS, "dx = dx_centered - dx_centered.mean(axis=0)",
         "dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * np.mean(dx_hat * x_hat, axis=0)) / std", 0),
        (LAYERS, "rng.rand(*x.shape) < p", "rng.random_sample(x.shape) < p", 0),
        (LAYERS, "log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
         "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))", 0),
        (OPTIM, 'm_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)\n'
                '    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])',
         'step_size = config["learning_rate"] * np.sqrt(1 - beta2**t) / (1 - beta1**t)\n'
         '    next_w = w - step_size * m / (np.sqrt(v) + config["epsilon"])', 0),
    ])
    verdicts = run_checks(LAYER_AND_NETWORK_CHECKS + OPTIMIZER_CHECKS, submission)
    assert {g: v["message"] for g, v in verdicts.items() if v["status"] != "passed"} == {}


def test_a_new_seed_every_run_and_a_given_seed_repeats(tmp_path):
    submission = make_submission(tmp_path, edits=[(LAYERS, "dw = x_rows.T @ dout", "dw = 1.01 * x_rows.T @ dout", 0)])
    first, second = (evaluate("fc_affine_backward", submission)["message"] for _ in range(2))
    assert first != second  # different seeds, different inputs
    seed = int(re.search(r"seed (\d+)", first)[1])
    assert evaluate("fc_affine_backward", submission, seed=seed)["message"] == first


# --- the student's code misbehaves ------------------------------------------------------


def test_an_endless_loop_times_out_and_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("NNKIT_CHECK_PROBE_TIMEOUT", "2")
    submission = make_submission(tmp_path, edits=[(LAYERS, "out = np.maximum(0, x)", "while True:\n        pass", 0)])
    start = time.monotonic()
    verdict = evaluate("fc_relu_forward", submission)
    assert time.monotonic() - start < 10
    assert verdict["status"] == "failed"
    assert "relu_forward did not finish: timed out after 2 s" in verdict["message"]
    assert "running relu_forward in nnkit/layers.py" in verdict["message"]


@pytest.mark.parametrize("code, message", [
    ("x = np.ones(2**34)", "relu_forward ran out of memory"),
    ("import os; os._exit(3)", "ended early (exit code 3)"),
    ("raise ValueError('bad shapes')", "relu_forward raised ValueError: bad shapes (nnkit/layers.py, line"),
    ("return x", "relu_forward must return (out, cache), but returned ndarray"),
])
def test_student_failures_are_reported_by_function(tmp_path, code, message):
    submission = make_submission(tmp_path, edits=[(LAYERS, "out = np.maximum(0, x)", code, 0)])
    verdict = evaluate("fc_relu_forward", submission)
    assert verdict["status"] == "failed" and message in verdict["message"], verdict["message"]


def test_syntax_errors_and_missing_packages(tmp_path):
    broken = make_submission(tmp_path / "broken", edits=[(OPTIM, "def adam(w, dw, config=None):", "def adam(w, dw, config=None)", 0)])
    verdict = evaluate("opt_adam", broken)
    assert "nnkit/optim.py has a syntax error at line" in verdict["message"]
    assert evaluate("fc_affine_forward", broken)["status"] == "passed"  # layers.py is fine
    (tmp_path / "empty").mkdir()
    assert "no nnkit/ folder in the submission" in evaluate("fc_affine_forward", tmp_path / "empty")["message"]


def test_bytecode_the_submission_brings_along_is_not_what_is_checked(tmp_path):
    """A __pycache__ from an earlier version of layers.py, stamped with the size and time of
    the handed-in one, so that Python would take it as current."""
    submitted = make_submission(tmp_path / "submitted")
    earlier = make_submission(tmp_path / "earlier", edits=[(LAYERS, "np.maximum(0, x)", "np.minimum(0, x)", 0)])
    layers, earlier_layers = submitted / "nnkit" / "layers.py", earlier / "nnkit" / "layers.py"
    assert layers.stat().st_size == earlier_layers.stat().st_size
    os.utime(earlier_layers, ns=(layers.stat().st_atime_ns, layers.stat().st_mtime_ns))
    py_compile.compile(str(earlier_layers), cfile=importlib.util.cache_from_source(str(layers)), doraise=True)
    imported = subprocess.run([sys.executable, "-c", "from nnkit.layers import relu_forward\n"
                               "print(relu_forward(__import__('numpy').ones(1))[0][0])"],
                              cwd=submitted, capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "0.0"  # a plain import runs the earlier version

    checked = assemble_checked_folder(submitted, SOURCE, load_manifest(manifest_path(REPO, "fcnet")),
                                      tmp_path / "checked")
    assert not list(checked.rglob("*.pyc"))
    assert evaluate("fc_relu_forward", checked)["status"] == "passed"


# --- run() in the student's kernel ------------------------------------------------------


KERNEL_PRELUDE = "import sys, os; sys.path.insert(0, os.getcwd())\nimport autograder.checks\n"


def kernel(submission, code, timeout=120, env=None):
    """Run `code` like a notebook kernel would: in the submission folder, nnkit importable."""
    return subprocess.run([sys.executable, "-c", KERNEL_PRELUDE + textwrap.dedent(code)], cwd=submission,
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_run_passes_and_fails_like_a_test_cell(reference_submission, release_submission):
    passed = kernel(reference_submission, 'autograder.checks.run("fc_affine_forward")')
    assert passed.returncode == 0 and "hidden check fc_affine_forward: passed" in passed.stdout, passed.stderr
    failed = kernel(release_submission, 'autograder.checks.run("fc_affine_forward")')
    assert "AssertionError: hidden check fc_affine_forward failed:" in failed.stderr
    assert "affine_forward is not implemented yet" in failed.stderr


def test_tampering_in_the_notebook_does_not_change_results(release_submission):
    tampered = kernel(release_submission, """
        import numpy as np
        import nnkit.layers, nnkit.gradient_check
        # Fix the function in the notebook instead of in layers.py, and break every comparison.
        nnkit.layers.affine_forward = lambda x, w, b: (x.reshape(len(x), -1) @ w + b, (x, w, b))
        nnkit.gradient_check.rel_error = lambda x, y: 0.0
        np.max = np.amax = lambda *args, **kwargs: 0.0
        np.allclose = lambda *args, **kwargs: True
        autograder.checks.run("fc_affine_forward")
    """)
    assert "affine_forward is not implemented yet" in tampered.stderr, tampered.stderr


def test_run_times_out(tmp_path):
    submission = make_submission(tmp_path, edits=[(LAYERS, "out = np.maximum(0, x)", "while True:\n        pass", 0)])
    start = time.monotonic()
    result = kernel(submission, 'autograder.checks.run("fc_relu_forward", timeout=3)')
    assert time.monotonic() - start < 15
    assert "hidden check fc_relu_forward failed:\n- timed out after 3 s" in result.stderr, result.stderr


# What a kernel below reports of its grader process (`autograder.checks --serve`): grader()
# is its PID, family() the grader and everything it started, as [PID, start time] pairs that
# name a process for good; outcome() what a run() call ended with.
WATCH = """
import json, signal, threading, time
import psutil

# Ctrl-C raises KeyboardInterrupt, as in a kernel running a cell, also when the tests were
# started in the background (a non-interactive shell starts them with SIGINT ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)

def grader():
    servers = [child for child in psutil.Process().children() if "--serve" in child.cmdline()]
    return servers[0].pid if servers else None

def family():
    server = psutil.Process(grader())
    return [[process.pid, process.create_time()] for process in [server, *server.children(recursive=True)]]

def outcome(grade_id, **arguments):
    try:
        autograder.checks.run(grade_id, **arguments)
    except BaseException as error:
        return f"{type(error).__name__}: {error}"
    return "passed"

def kill_grader(wait=False):
    server = psutil.Process(grader())
    server.kill()
    while wait and server.status() != psutil.STATUS_ZOMBIE:  # dead, not yet collected
        time.sleep(0.05)

def later(seconds, action):
    threading.Timer(seconds, action).start()

def edit(path, old, new):
    text = open(path).read()
    assert old in text, (path, old)
    open(path, "w").write(text.replace(old, new, 1))

seen = {}
"""
RELU = "out = np.maximum(0, x)"
ENDLESS_RELU = (LAYERS, RELU, "while True:\n        pass", 0)
RELU_IS_WRONG = "AssertionError: hidden check fc_relu_forward failed:\n- relu_forward: out is wrong"


def watched_kernel(submission, code, env=None):
    """`seen`, the dictionary `code` fills, after running it in a kernel with WATCH."""
    result = kernel(submission, WATCH + textwrap.dedent(code) + "\nprint(json.dumps(seen))", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def assert_ended(processes):
    """Every [PID, start time] has ended, waiting for the ends under way (a sandbox ends its
    processes once its supervisor is told its parent died)."""
    import psutil

    def alive(pid, started):
        try:
            process = psutil.Process(pid)
            return process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 60
    while any(alive(*process) for process in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [process for process in processes if alive(*process)] == []


def test_one_grader_serves_a_kernel_and_checks_the_files_as_they_are_now(tmp_path):
    submission = make_submission(tmp_path)
    seen = watched_kernel(submission, f"""
        seen["first"] = outcome("fc_relu_forward"), grader()
        seen["second"] = outcome("fc_q1_choice", answer={{7}}), grader()
        edit("nnkit/layers.py", {RELU!r}, "out = x")  # the student breaks relu between two cells
        seen["edited"] = outcome("fc_relu_forward"), grader()
        import shutil  # and puts a fresh nnkit/ in place of the old one
        shutil.rmtree("nnkit")
        shutil.copytree({str(SOURCE / "nnkit")!r}, "nnkit")
        seen["replaced"] = outcome("fc_relu_forward"), grader()
    """)
    server = seen["first"][1]
    assert seen["first"] == ["passed", server]
    assert seen["second"] == ["AssertionError: hidden check fc_q1_choice failed:\n- fc_q1: the answer {7} is not correct",
                              server]
    assert seen["edited"][0].startswith(RELU_IS_WRONG)
    assert seen["edited"][1] == server
    assert seen["replaced"] == ["passed", server]


@pytest.fixture
def course_copy(tmp_path):
    """A copy of the grader, the assignment's checks and the reference nnkit to edit, and the
    environment of a kernel that imports the grader from it."""
    course = tmp_path / "course"
    shutil.copytree(REPO / "autograder", course / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(checks_folder(REPO, "fcnet"), checks_folder(course, "fcnet"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SOURCE / "nnkit", course / "source" / "fcnet" / "nnkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return course, dict(os.environ, PYTHONPATH=str(course))


def test_the_grader_is_replaced_when_its_code_or_the_reference_changes(tmp_path, course_copy):
    course, env = course_copy
    submission = make_submission(tmp_path / "submission")
    reference_layers = course / "source" / "fcnet" / "nnkit" / "layers.py"
    checks = checks_folder(course, "fcnet") / "layer_checks.py"
    seen = watched_kernel(submission, f"""
        assert autograder.checks.COURSE_ROOT.as_posix() == {course.as_posix()!r}
        seen["first"] = outcome("fc_relu_forward"), grader()
        edit({str(reference_layers)!r}, {RELU!r}, "out = x")  # the instructor breaks the reference
        seen["reference edited"] = outcome("fc_relu_forward"), grader()
        edit({str(checks)!r}, "import numpy as np", "import numpy as np)")
        seen["grader broken"] = outcome("fc_relu_forward"), grader()
        edit({str(checks)!r}, "import numpy as np)", "import numpy as np")
        seen["grader mended"] = outcome("fc_relu_forward"), grader()
    """, env=env)
    assert seen["first"][0] == "passed"
    assert seen["reference edited"][0].startswith(RELU_IS_WRONG)
    assert seen["grader broken"][0].startswith("RuntimeError: hidden check fc_relu_forward could not run: SyntaxError")
    assert seen["grader mended"][0].startswith(RELU_IS_WRONG)
    servers = [seen[step][1] for step in ("first", "reference edited", "grader mended")]
    assert len(set(servers)) == 3 and None not in servers


def test_a_grader_that_timed_out_was_interrupted_or_died_is_replaced(tmp_path):
    submission = make_submission(tmp_path, edits=[ENDLESS_RELU])
    seen = watched_kernel(submission, """
        seen["warm"] = outcome("fc_affine_forward"), grader()
        later(2, lambda: seen.setdefault("stuck in the timeout", family()))
        seen["timed out"] = outcome("fc_relu_forward", timeout=5)
        seen["after the timeout"] = outcome("fc_affine_forward"), grader()
        later(2, lambda: seen.setdefault("stuck in the interrupt", family()))
        later(3, lambda: os.kill(os.getpid(), signal.SIGINT))  # the kernel's interrupt button
        seen["interrupted"] = outcome("fc_relu_forward")
        seen["after the interrupt"] = outcome("fc_affine_forward"), grader()
        kill_grader(wait=True)  # between two cells (out of memory, say)
        seen["after a kill"] = outcome("fc_affine_forward"), grader()
        later(2, kill_grader)  # in the middle of a check
        seen["killed in a check"] = outcome("fc_relu_forward")
        seen["after that"] = outcome("fc_affine_forward"), grader()
    """)
    assert seen["timed out"] == "AssertionError: hidden check fc_relu_forward failed:\n- timed out after 5 s"
    assert seen["interrupted"] == "KeyboardInterrupt: "
    assert seen["killed in a check"] == ("RuntimeError: hidden check fc_relu_forward could not run: "
                                         "the grader process ended without a verdict (exit code -9)")
    servers = [seen[step][1] for step in ("warm", "after the timeout", "after the interrupt", "after a kill",
                                          "after that")]
    assert all(seen[step][0] == "passed" for step in ("warm", "after the timeout", "after the interrupt",
                                                       "after a kill", "after that")), json.dumps(seen, indent=1)
    assert len(set(servers)) == 5
    # The grader was stuck in the student's endless loop: the grader, its sandbox and the
    # student's processes all ended with it.
    assert len(seen["stuck in the timeout"]) > 2 and len(seen["stuck in the interrupt"]) > 2
    assert_ended(seen["stuck in the timeout"] + seen["stuck in the interrupt"])


@pytest.mark.parametrize("how", ["exits", "is killed in the middle of a check"])
def test_the_grader_ends_with_its_kernel(tmp_path, how):
    submission = make_submission(tmp_path, edits=[ENDLESS_RELU])
    code = WATCH + textwrap.dedent("""
        autograder.checks.run("fc_affine_forward")
        if sys.argv[1] == "exits":
            print(json.dumps(family()), flush=True)
        else:
            later(2, lambda: print(json.dumps(family()), flush=True))
            autograder.checks.run("fc_relu_forward")
    """)
    with subprocess.Popen([sys.executable, "-c", KERNEL_PRELUDE + code, how], cwd=submission, stdout=subprocess.PIPE,
                          text=True) as kernel_process:
        processes = json.loads(next(line for line in kernel_process.stdout if line.startswith("[")))
        if how != "exits":
            kernel_process.kill()  # as Jupyter ends a kernel that does not shut down
        kernel_process.wait()
    assert len(processes) > 2  # the grader and its student process's sandbox
    assert_ended(processes)


def test_values_travel_as_json():
    for value in [{1, 2}, 2, 0.5, "x", None, [1, (2, 3)], {(1, 2)}, np.int64(3), np.float64(0.25), True]:
        expected = value.item() if isinstance(value, np.generic) else value
        if isinstance(expected, list):
            expected = [list(item) if isinstance(item, tuple) else item for item in expected]
        assert decode(encode(value)) == expected
    assert decode(encode(object())) == {"unsupported": "object"}
    assert decode(encode({1, np.int64(2)})) == {1, 2}


# --- multiple choice --------------------------------------------------------------------


@pytest.mark.parametrize("grade_id", sorted(ANSWER_KEY))
def test_multiple_choice(grade_id, tmp_path):
    key = ANSWER_KEY[grade_id]
    assert evaluate(grade_id, tmp_path, {"answer": key})["status"] == "passed"
    if isinstance(key, set):
        wrong = [key ^ {1}, key | {max(key) + 1}, sorted(key), {str(option) for option in key}, set()]
    else:
        wrong = [key + 1, {key}, str(key), True]
    for answer in wrong:
        verdict = evaluate(grade_id, tmp_path, {"answer": decode(encode(answer))})
        assert verdict["status"] == "failed", answer
        assert "seed" not in verdict["message"]
        if isinstance(key, set):
            assert "{" + ", ".join(map(str, sorted(key))) + "}" not in verdict["message"]  # the key stays secret


# --- checks that need CIFAR-10 ----------------------------------------------------------


def cli_check(grade_id, submission, values):
    """The check through its command line, as run() starts it (one BLAS thread)."""
    command = [sys.executable, "-m", "autograder.checks", grade_id, "--submission", str(submission)]
    command += [f"--value={name}={json.dumps(value)}" for name, value in values.items()]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("grade_id", sorted(OVERFIT_VALUES))
def test_overfitting_checks_rerun_the_students_settings(grade_id, tmp_path, datasets_dir, monkeypatch):
    monkeypatch.setenv("NNKIT_DATA_DIR", str(datasets_dir))
    good = cli_check(grade_id, tmp_path, OVERFIT_VALUES[grade_id])
    assert good["status"] == "passed", good
    too_small = cli_check(grade_id, tmp_path, {"weight_scale": 1e-4, "learning_rate": 1e-4})
    assert too_small["status"] == "failed" and "it must reach 1.00" in too_small["message"]
    nonsense = cli_check(grade_id, tmp_path, {"weight_scale": "big", "learning_rate": -1})
    assert "weight_scale must be a positive number" in nonsense["message"]
    assert "learning_rate must be a positive number" in nonsense["message"]


def save_reference_model(path, model_class, **arguments):
    from nnkit.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
    from nnkit.model_io import save_model

    classes = {"TwoLayerNet": TwoLayerNet, "FullyConnectedNet": FullyConnectedNet}
    return save_model(classes[model_class](**arguments), path)


def test_best_model_problems_are_explained(tmp_path, datasets_dir, monkeypatch):
    monkeypatch.setenv("NNKIT_DATA_DIR", str(datasets_dir))
    assert "best_model.npz is not in the submission" in evaluate("fc_best_model_saved", tmp_path)["message"]

    (tmp_path / "best_model.npz").write_bytes(b"not a zip file")
    assert "best_model.npz cannot be loaded" in evaluate("fc_best_model_saved", tmp_path)["message"]

    save_reference_model(tmp_path / "best_model.npz", "TwoLayerNet", input_dim=10)
    assert "takes inputs of size 10" in evaluate("fc_best_model_saved", tmp_path)["message"]

    metadata = {"format": "nnkit-model", "version": 1, "class": "FullyConnectedNet",
                "init_args": {"hidden_dims": [100000, 100000], "input_dim": 3072, "num_classes": 10}}
    np.savez(tmp_path / "best_model.npz", nnkit_model=np.array(json.dumps(metadata)))
    assert "at most 25,000,000 are accepted" in evaluate("fc_best_model_saved", tmp_path)["message"]

    save_reference_model(tmp_path / "best_model.npz", "FullyConnectedNet", hidden_dims=[20])  # untrained
    verdict = evaluate("fc_best_model_saved", tmp_path)
    assert verdict["status"] == "failed" and "at least 0.50" in verdict["message"], verdict
    assert_readable(verdict["message"])


@pytest.mark.slow
def test_a_trained_best_model_passes(tmp_path, datasets_dir, monkeypatch):
    """The recipe of the notebook's "train your best model" cell, saved and checked."""
    monkeypatch.setenv("NNKIT_DATA_DIR", str(datasets_dir))
    from nnkit.classifiers.fc_net import FullyConnectedNet
    from nnkit.data_utils import get_CIFAR10_data
    from nnkit.model_io import save_model
    from nnkit.solver import Solver

    np.random.seed(0)
    model = FullyConnectedNet([200, 100], weight_scale=5e-3, reg=0.01)
    Solver(model, get_CIFAR10_data(), update_rule="adam", optim_config={"learning_rate": 5e-4},
           lr_decay=0.8, num_epochs=8, batch_size=200, verbose=False).train()
    save_model(model, tmp_path / "best_model.npz")
    verdict = evaluate("fc_best_model_saved", tmp_path)
    assert verdict["status"] == "passed", verdict
    assert "validation accuracy" in verdict["notes"][0]


# --- checking from outside the kernel ---------------------------------------------------


def test_values_are_read_from_the_notebooks_without_running_them(tmp_path):
    from autograder.checks.notebook_values import Unreadable, values_for

    for name in NOTEBOOKS:
        shutil.copy(SOURCE / name, tmp_path / name)
    for grade_id, key in ANSWER_KEY.items():
        assert values_for(CHECKS[grade_id].values_from, tmp_path) == {"answer": key}
    assert values_for(CHECKS["fc_overfit_five_layer_check"].values_from, tmp_path) == \
        OVERFIT_VALUES["fc_overfit_five_layer_check"]
    assert values_for(CHECKS["fc_affine_forward"].values_from, tmp_path) == {}
    do_q2 = CHECKS["do_q2_choice"].values_from

    notebook = nbformat.read(tmp_path / "Dropout.ipynb", as_version=4)
    answer_cell = next(cell for cell in notebook.cells if cell.get("id") == "do_q2_answer")
    answer_cell.source = "inline_q2_answer = {1, 4}\nprint(1)\ninline_q2_answer = set([2 + 1])"
    del answer_cell.metadata["nbgrader"]  # editors sometimes drop it; any cell setting it counts
    nbformat.write(notebook, tmp_path / "Dropout.ipynb")
    assert values_for(do_q2, tmp_path) == {"answer": {3}}

    answer_cell.source = "inline_q2_answer = set(range(1, 3))"
    nbformat.write(notebook, tmp_path / "Dropout.ipynb")
    assert values_for(do_q2, tmp_path) == {"answer": Unreadable("inline_q2_answer = set(range(1, 3))")}

    for name in NOTEBOOKS:
        shutil.copy(RELEASE / name, tmp_path / name)
    assert values_for(CHECKS["fc_q1_choice"].values_from, tmp_path) == {}  # the release answers nothing
    (tmp_path / "Dropout.ipynb").write_text("not a notebook")
    assert values_for(do_q2, tmp_path) == {}


def test_all_checks_from_the_command_line(release_submission):
    for name in NOTEBOOKS:
        shutil.copy(RELEASE / name, release_submission / name)
    result = subprocess.run([sys.executable, "-m", "autograder.checks", "--all", "--submission",
                             str(release_submission)], cwd=REPO, capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    verdicts = {line["grade_id"]: line["verdict"] for line in lines}
    assert result.returncode == 1 and set(verdicts) == set(CHECKS) and len(lines) == len(CHECKS)
    assert [line["grade_id"] for line in lines][:2] == ["fc_affine_forward", "fc_affine_backward"]
    for grade_id, verdict in verdicts.items():
        assert verdict["status"] == "failed", (grade_id, verdict)
        assert verdict.get("unanswered", False) == grade_id.endswith("_choice"), (grade_id, verdict)


# --- what a mistake costs: once, in the cell of the function it is in -----------------------


@pytest.mark.parametrize("layers_py", ["release", "syntax error"])
def test_networks_are_graded_with_the_graders_layers(tmp_path, layers_py):
    """An unfinished or broken layers.py costs the cells of its layers, not the networks'."""
    submission = make_submission(tmp_path)
    path = submission / "nnkit" / "layers.py"
    if layers_py == "release":
        shutil.copy(RELEASE / "nnkit" / "layers.py", path)
    else:
        path.write_text("def affine_forward(x, w, b)\n    return x\n")
    verdicts = run_checks(NETWORK_CHECKS, submission)
    assert {grade_id: verdict["message"] for grade_id, verdict in verdicts.items()
            if verdict["status"] != "passed"} == {}


def test_a_loss_that_shifts_its_scores_in_place_passes_with_a_note(tmp_path):
    """Nothing in nnkit reads a loss's scores after the call: a note, no lost point."""
    submission = make_submission(tmp_path, edits=[
        (LAYERS, "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x\n    shifted -= x.max(axis=1, keepdims=True)", 0)])
    verdict = evaluate("fc_softmax_loss", submission)
    assert verdict["status"] == "passed", verdict
    assert [note for note in verdict["notes"] if "softmax_loss changed its input x in place" in note], verdict


def before_two_layer_forward(code):
    """An edit of fc_net.py running `code` first thing in TwoLayerNet.loss."""
    line = 'hidden, hidden_cache = affine_relu_forward(X, '
    return (FC_NET, line, textwrap.indent(textwrap.dedent(code), " " * 8).lstrip() + " " * 8 + line, 0)


def test_the_student_process_cannot_read_the_reference_layers(tmp_path):
    """The network runs with the grader's layers, yet its process sees neither their source
    (the stand-ins are all it can inspect) nor the reference's files."""
    if not sandbox.status().confined:
        pytest.skip("needs bubblewrap: unconfined, student code can read any file of the grader's user")
    reference = SOURCE / "nnkit" / "layers.py"
    submission = make_submission(tmp_path, edits=[before_two_layer_forward(f"""\
        import inspect, nnkit.layers
        seen = inspect.getsource(nnkit.layers.affine_backward) + inspect.getsource(affine_relu_forward)
        try:
            seen += open({str(reference)!r}).read()
        except OSError as error:
            seen += f" [cannot read the reference: {{type(error).__name__}}]"
        raise ValueError(seen[-200:])
        """)])
    verdict = evaluate("fc_two_layer_scores", submission)
    assert "[cannot read the reference: FileNotFoundError]" in verdict["message"], verdict["message"]
    assert "x_rows" not in verdict["message"]


def test_a_network_that_garbles_its_line_to_the_grader_fails_only_its_check(tmp_path):
    submission = make_submission(tmp_path, edits=[before_two_layer_forward("""\
        import os
        for descriptor in range(3, 64):
            try:
                os.write(descriptor, b'{"call": "x"}\\n')
            except OSError:
                pass
        """)])
    verdict = evaluate("fc_two_layer_scores", submission)
    assert verdict["status"] == "failed" and "crashed (signal 9)" in verdict["message"], verdict
    assert evaluate("fc_affine_forward", submission)["status"] == "passed"  # the student process goes on


def test_the_layer_server_refuses_what_no_layer_accepts(tmp_path):
    layer_server = FCNET_CHECKS.module("layer_server")
    MAX_ELEMENTS, ReferenceLayers = layer_server.MAX_ELEMENTS, layer_server.ReferenceLayers

    layers = ReferenceLayers()

    def call(function, **arrays):
        np.savez(tmp_path / "call-1.npz", **{key.replace("__", "/"): value for key, value in arrays.items()})
        return layers.serve(tmp_path, {"call": 1, "function": function})

    assert call("system", arg__x=np.ones(2)) == {"ok": False, "message": "system is not a layer the grader serves"}
    assert "do not fit" in call("affine_forward", arg__x=np.ones((2, 3)), arg__w=np.ones((4, 5)),
                                arg__b=np.ones(5))["message"]
    assert "entries; at most" in call("relu_forward", arg__x=np.ones(MAX_ELEMENTS + 1))["message"]
    assert "could not be read" in call("relu_forward", arg__x=np.array([object()]))["message"]
    assert "takes x, w, b" in call("affine_forward", arg__x=np.ones((2, 3)))["message"]
    assert "labels outside" in call("softmax_loss", arg__x=np.ones((2, 3)), arg__y=np.array([0, 3]))["message"]
    assert "did not return" in call("affine_backward", arg__dout=np.ones((2, 4)), handle=np.array(1))["message"]

    assert call("affine_forward", arg__x=np.ones((2, 3)), arg__w=np.ones((3, 4)), arg__b=np.ones(4)) == {"ok": True}
    with np.load(tmp_path / "reply-1.npz", allow_pickle=False) as reply:
        assert reply["out"].tolist() == [[4.0] * 4] * 2
        handle = reply["handle"]
    assert "had shape (2, 4)" in call("affine_backward", arg__dout=np.ones((3, 4)), handle=handle)["message"]
    assert "needs the cache of relu_forward" in call("relu_backward", arg__dout=np.ones((2, 4)), handle=handle)["message"]
    assert call("affine_backward", arg__dout=np.ones((2, 4)), handle=handle) == {"ok": True}
    with np.load(tmp_path / "reply-1.npz", allow_pickle=False) as reply:
        assert [reply[f"grad/{number}"].shape for number in range(3)] == [(2, 3), (3, 4), (4,)]


# --- visible checks: copies, and the same verdict as the hidden ones ----------------------


VISIBLE_RUNNER = """\
import json, sys
sys.path.insert(0, ".")
namespace, failures = {"__name__": "__main__"}, {}
for name, code in json.load(open(sys.argv[1])):
    try:
        exec(compile(code, name, "exec"), namespace)
    except Exception as error:
        failures[name] = f"{type(error).__name__}: {error}"
print("FAILURES " + json.dumps(failures))
"""


def visible(submission, notebook, cells):
    """Run the visible code of `cells` (grade ids or cell ids) of a source notebook, after its
    import cell, one after the other in one namespace in the submission folder, as a kernel
    would: (the cells that raised, {name: error}; what they printed)."""
    source = [cell for cell in nbformat.read(SOURCE / notebook, as_version=4).cells if cell.cell_type == "code"]
    imports = next(cell for cell in source if "from nnkit." in cell.source)
    chosen = [imports] + [cell for cell in source if cell.get("id") in cells
                          or cell.metadata.get("nbgrader", {}).get("grade_id") in cells]
    named = [(cell.metadata.get("nbgrader", {}).get("grade_id") or cell.get("id"),
              "\n".join(line for line in HIDDEN_SECTION.sub("", cell.source).splitlines()
                        if not line.lstrip().startswith(("%", "!")))) for cell in chosen]
    (submission / "cells.json").write_text(json.dumps(named))
    env = dict(os.environ, NNKIT_DATA_DIR=str(REPO / "datasets"), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    ran = subprocess.run([sys.executable, "-c", VISIBLE_RUNNER, "cells.json"], cwd=submission,
                         capture_output=True, text=True, timeout=600, env=env)
    *printed, last = ran.stdout.rstrip("\n").splitlines() or [""]
    assert last.startswith("FAILURES "), ran.stderr
    return json.loads(last[len("FAILURES "):]), "\n".join(printed)


def test_visible_cell_of_softmax_loss_passes_a_loss_that_shifts_in_place(tmp_path):
    submission = make_submission(tmp_path, edits=[
        (LAYERS, "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x\n    shifted -= x.max(axis=1, keepdims=True)", 0)])
    failures, _ = visible(submission, "FullyConnectedNets.ipynb", ["fc_softmax_loss"])
    assert failures == {}


def test_a_wrong_adam_costs_one_cell_visible_and_hidden(tmp_path):
    submission = make_submission(tmp_path, edits=MUTANTS["adam without bias correction"][0])
    failures, _ = visible(submission, "FullyConnectedNets.ipynb", ["fc_sgd_momentum", "fc_rmsprop", "fc_adam"])
    assert list(failures) == ["fc_adam"] and "adam: next_w is wrong" in failures["fc_adam"], failures
    failures, printed = visible(submission, "Optimizers.ipynb", ["check-helpers", "opt_sgd_momentum", "opt_rmsprop",
                                                                 "opt_adam"])
    assert failures == {}
    assert "adam in the Solver vs. called by hand: largest relative difference 0.0e+00" in printed


def test_an_unfinished_rule_costs_no_other_rules_cell_in_optimizers(tmp_path):
    submission = make_submission(tmp_path, edits=[
        (OPTIM, "next_w = w + velocity", "raise NotImplementedError('sgd_momentum')", 0)])
    failures, _ = visible(submission, "Optimizers.ipynb", ["check-helpers", "opt_sgd_momentum", "opt_rmsprop",
                                                           "opt_adam"])
    assert failures == {"opt_sgd_momentum": "NotImplementedError: sgd_momentum"}


def test_a_bug_of_the_plain_network_costs_one_cell_visible_and_hidden(tmp_path):
    submission = make_submission(tmp_path, edits=MUTANTS["FullyConnectedNet without the 0.5 of the L2 term"][0])
    failures, _ = visible(submission, "FullyConnectedNets.ipynb", ["fc_fcnet_loss_grads"])
    assert list(failures) == ["fc_fcnet_loss_grads"], failures
    assert "FullyConnectedNet.loss: grads['W1'] is wrong at reg = 3.14" in failures["fc_fcnet_loss_grads"]
    failures, printed = visible(submission, "BatchNormalization.ipynb", ["bn_fcnet_batchnorm", "bn_fcnet_layernorm"])
    assert failures == {}
    assert "Not checked yet: the network needs these parts" in printed
    assert "FullyConnectedNet (no normalization, reg = 3.14): grads[" in printed


def test_an_overfitting_cell_is_graded_by_the_rerun_not_by_a_training_that_crashed(tmp_path):
    submission = make_submission(tmp_path, edits=[(LAYERS, "out = np.maximum(0, x)", "raise MemoryError", 0)])
    failures, printed = visible(submission, "FullyConnectedNets.ipynb", [
        "code-load-data", "fc_overfit_three_layer", "fc_overfit_three_layer_check"])
    assert list(failures) == ["fc_overfit_three_layer"], failures  # the training, not the graded cell
    assert "The training cell above did not finish" in printed


def test_visible_batchnorm_test_mode_message_states_what_it_measured(tmp_path):
    """The cell compares with the reference's output written into it (no formula in sight)
    and says what it measured: the feature with the largest error, or that test mode gave
    what training mode gives."""
    measured = "the output for the fixed input differs from the reference solution's (relative error"
    for mutant, cause in [
            ("batchnorm test mode adds eps outside the square root",
             "; the error is largest in feature 2, whose running_var is 0.01."),
            ("batchnorm test mode normalizes with the batch statistics",
             "; it equals what training mode gives for this batch")]:
        submission = make_submission(tmp_path / mutant.replace(" ", "_"), edits=MUTANTS[mutant][0])
        failures, _ = visible(submission, "BatchNormalization.ipynb", ["bn_forward_test"])
        assert measured in failures["bn_forward_test"] and cause in failures["bn_forward_test"], failures


# --- multiple choice: not answered, and in which form ---------------------------------------


def test_an_unanswered_question_says_where_to_answer_it(tmp_path):
    from autograder.grading.task import _verdict_message

    for values in ({}, {"answer": None}, {"answer": set()}):
        verdict = evaluate("bn_q2_choice", tmp_path, values)
        assert verdict["status"] == "failed" and verdict["unanswered"], verdict
        assert verdict["message"] == (
            "- not answered: set inline_q2_answer in the answer cell of Inline Question 2 (bn_q2_answer in "
            "BatchNormalization.ipynb) to a set of option numbers written as a literal, like {2, 4}, and run it")
        assert _verdict_message(verdict).startswith("not answered: set inline_q2_answer in the answer cell")
    wrong = evaluate("bn_q2_choice", tmp_path, {"answer": {4}})
    assert "unanswered" not in wrong and _verdict_message(wrong).startswith("hidden check failed: bn_q2")


def test_the_examples_of_the_answer_forms_are_no_answers():
    answer_checks = FCNET_CHECKS.module("answer_checks")
    OPTION_EXAMPLE, SET_EXAMPLE = answer_checks.OPTION_EXAMPLE, answer_checks.SET_EXAMPLE

    keys = list(ANSWER_KEY.values())
    assert ast.literal_eval(SET_EXAMPLE) not in keys and ast.literal_eval(OPTION_EXAMPLE) not in keys


def test_the_graders_layers_reach_the_network_however_it_imports_them(tmp_path):
    """fc_net.py with `from ..layers import *`, a module import and a table that layers.py
    filled with its own functions when it was imported: all of them reach the grader's."""
    submission = make_submission(tmp_path, edits=[
        (LAYERS, "out = np.maximum(0, x)", "raise ValueError('this relu is broken')", 0)])
    (submission / "nnkit" / "layers.py").write_text(
        (submission / "nnkit" / "layers.py").read_text() + "\nACTIVATIONS = {'relu': (relu_forward, relu_backward)}\n")
    fc_net = submission / "nnkit" / "classifiers" / "fc_net.py"
    text = fc_net.read_text().replace(
        "from ..layers import affine_backward, affine_forward, dropout_backward, dropout_forward, softmax_loss",
        "from ..layers import *\nfrom .. import layers as all_layers")
    text = text.replace(
        'hidden, hidden_cache = affine_relu_forward(X, self.params["W1"], self.params["b1"])',
        'affine_out, affine_cache = all_layers.affine_forward(X, self.params["W1"], self.params["b1"])\n'
        '        hidden, relu_cache = ACTIVATIONS["relu"][0](affine_out)\n'
        '        hidden_cache = (affine_cache, relu_cache)')
    fc_net.write_text(text)
    verdicts = run_checks(["fc_two_layer_scores", "fc_two_layer_grads", "fc_relu_forward"], submission)
    assert verdicts["fc_two_layer_scores"]["status"] == "passed", verdicts["fc_two_layer_scores"]
    assert verdicts["fc_two_layer_grads"]["status"] == "passed", verdicts["fc_two_layer_grads"]
    assert "this relu is broken" in verdicts["fc_relu_forward"]["message"]


def test_the_assignment_is_named_by_the_reference_folder_or_the_source_folder_a_kernel_runs_in(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(REPO / "autograder", course / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    for assignment in ("hw1", "hw2"):
        checks_folder(course, assignment).mkdir(parents=True)
        (course / "source" / assignment).mkdir(parents=True)
    show = "import autograder.checks as c; print(c.REFERENCE_DIR, c.CHECKS_DIR)"
    env = {key: value for key, value in os.environ.items() if key != "NNKIT_REFERENCE_DIR"}

    def found(cwd, **more):
        done = subprocess.run([sys.executable, "-c", show], cwd=cwd, capture_output=True, text=True, check=True,
                              env=dict(env, PYTHONPATH=str(course), **more))
        return done.stdout.split()

    assert found(course / "source" / "hw2") == [str(course / "source" / "hw2"), str(checks_folder(course, "hw2"))]
    assert found(tmp_path) == ["None", "None"]  # two assignments and no source folder: none is guessed
    assert found(tmp_path, NNKIT_REFERENCE_DIR=str(course / "source" / "hw1")) == [
        str(course / "source" / "hw1"), str(checks_folder(course, "hw1"))]
    shutil.rmtree(checks_folder(course, "hw2"))
    assert found(tmp_path) == [str(course / "source" / "hw1"), str(checks_folder(course, "hw1"))]  # the only one
