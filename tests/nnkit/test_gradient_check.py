"""Tests of nnkit.gradient_check: the tools every other gradient test relies on."""
import numpy as np
import pytest

from nnkit.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)


def test_rel_error_is_the_largest_elementwise_relative_difference():
    x = np.array([1.0, 2.0, 0.0])
    y = np.array([1.0, 2.2, 0.0])
    assert rel_error(x, y) == pytest.approx(0.2 / 4.2)
    assert rel_error(x, x) == 0.0


def test_rel_error_floor_keeps_near_zero_entries_from_exploding():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    # |x - y| / max(1e-8, |x| + |y|) = 1e-12 / 1e-8
    assert rel_error(np.array([1e-12]), np.array([0.0])) == pytest.approx(1e-4)


def test_eval_numerical_gradient_matches_the_exact_gradient_and_restores_x():
    rng = np.random.RandomState(0)
    x = rng.randn(3, 4)
    x_before = x.copy()
    grad = eval_numerical_gradient(lambda z: np.sum(z**3), x, verbose=False)
    assert grad.shape == x.shape
    assert rel_error(grad, 3 * x_before**2) < 1e-8
    assert np.array_equal(x, x_before)


def test_eval_numerical_gradient_sees_changes_made_through_another_reference():
    # Models are checked with f = lambda _: model.loss(X, y)[0], which ignores its
    # argument and reads the parameter array that is being perturbed.
    params = {"w": np.array([1.0, -2.0])}
    grad = eval_numerical_gradient(lambda _: np.sum(params["w"] ** 2), params["w"], verbose=False)
    assert rel_error(grad, 2 * params["w"]) < 1e-9


def test_eval_numerical_gradient_verbose_prints_one_line_per_entry(capsys):
    eval_numerical_gradient(lambda z: z.sum(), np.zeros((2, 2)), verbose=True)
    assert len(capsys.readouterr().out.strip().splitlines()) == 4


def test_eval_numerical_gradient_array_contracts_with_the_upstream_gradient():
    rng = np.random.RandomState(1)
    a = rng.randn(5, 3)
    x = rng.randn(3, 2)
    df = rng.randn(5, 2)
    x_before = x.copy()
    grad = eval_numerical_gradient_array(lambda z: a @ z, x, df)
    assert rel_error(grad, a.T @ df) < 1e-8
    assert np.array_equal(x, x_before)


def test_eval_numerical_gradient_array_copes_with_f_returning_its_input():
    # An identity layer returns x itself; without a copy both evaluations would alias x.
    rng = np.random.RandomState(2)
    x = rng.randn(4)
    df = rng.randn(4)
    grad = eval_numerical_gradient_array(lambda z: z, x, df)
    assert rel_error(grad, df) < 1e-8


def test_grad_check_sparse_reports_small_errors_for_a_right_gradient(capsys):
    rng = np.random.RandomState(3)
    x = rng.randn(10, 10)
    errors = grad_check_sparse(lambda z: np.sum(z**2), x, 2 * x, num_checks=7, seed=0)
    assert len(errors) == 7
    assert max(errors) < 1e-8
    assert len(capsys.readouterr().out.strip().splitlines()) == 7


def test_grad_check_sparse_reports_large_errors_for_a_wrong_gradient():
    rng = np.random.RandomState(4)
    x = rng.randn(10, 10)
    errors = grad_check_sparse(lambda z: np.sum(z**2), x, 2.02 * x, num_checks=5, seed=0)
    assert min(errors) > 1e-3


def test_grad_check_sparse_seed_is_reproducible_and_leaves_global_rng_alone():
    x = np.arange(100.0).reshape(10, 10)

    def f(z):
        return np.sum(z**2)

    np.random.seed(5)
    expected_next = np.random.rand()
    np.random.seed(5)
    first = grad_check_sparse(f, x, 2 * x + np.arange(100.0).reshape(10, 10), seed=42)
    assert np.random.rand() == expected_next
    second = grad_check_sparse(f, x, 2 * x + np.arange(100.0).reshape(10, 10), seed=42)
    assert first == second


def test_failing_layers_is_empty_for_working_layers_and_leaves_the_global_rng_alone():
    from nnkit.gradient_check import failing_layers

    state = np.random.get_state()
    assert failing_layers("affine", "relu", "softmax_loss", "batchnorm", "layernorm", "dropout",
                          "fully_connected") == {}
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state()[1:3], state[1:3]))


def test_failing_layers_names_what_fails(monkeypatch):
    from nnkit import layers
    from nnkit.gradient_check import failing_layers

    correct_backward = layers.affine_backward

    def transposed_backward(dout, cache):
        dx, dw, db = correct_backward(dout, cache)
        return dx, dw.T.reshape(dw.shape), db

    def unfinished(x):
        raise NotImplementedError("relu_forward: implement this")

    def unshifted_softmax_loss(x, y):
        with np.errstate(all="ignore"):
            probs = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
        return -np.log(probs[np.arange(len(y)), y]).mean(), np.zeros_like(x)

    monkeypatch.setattr(layers, "affine_backward", transposed_backward)
    monkeypatch.setattr(layers, "relu_forward", unfinished)
    monkeypatch.setattr(layers, "softmax_loss", unshifted_softmax_loss)
    problems = failing_layers("affine", "relu", "softmax_loss", "dropout")
    assert problems["affine"].startswith("affine_backward does not match the numeric gradient of affine_forward")
    assert problems["relu"] == "relu: NotImplementedError: relu_forward: implement this"
    assert "for scores shifted by 1000" in problems["softmax_loss"]
    assert set(problems) == {"affine", "relu", "softmax_loss"}
