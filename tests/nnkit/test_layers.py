"""Tests of nnkit.layers: the notebook's expected numbers, numeric gradient checks and the
behaviour every layer promises (batchnorm statistics, inverted dropout, ...).

Gradient thresholds are one order looser than the error the notebooks promise students.
"""
import numpy as np
import pytest

from numeric_helpers import numeric_grads
from nnkit.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from nnkit.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)


# ---------------------------------------------------------------- affine


def test_affine_forward_reproduces_the_notebook_output():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                            [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, correct_out) < 1e-8


def test_affine_backward_matches_numeric_gradients():
    np.random.seed(231)
    x = np.random.randn(10, 2, 3)
    w = np.random.randn(6, 5)
    b = np.random.randn(5)
    dout = np.random.randn(10, 5)
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    dx_num, dw_num, db_num = numeric_grads(affine_forward, [x, w, b], dout)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    assert rel_error(dx_num, dx) < 1e-9
    assert rel_error(dw_num, dw) < 1e-9
    assert rel_error(db_num, db) < 1e-9


# ---------------------------------------------------------------- activations


def test_relu_forward_reproduces_the_notebook_output():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    x_before = x.copy()
    out, _ = relu_forward(x)
    correct_out = np.array([[0.0, 0.0, 0.0, 0.0],
                            [0.0, 0.0, 0.04545455, 0.13636364],
                            [0.22727273, 0.31818182, 0.40909091, 0.5]])
    assert rel_error(out, correct_out) < 1e-7  # the expected values carry 8 decimals
    assert np.array_equal(x, x_before)


def test_relu_backward_matches_numeric_gradient():
    np.random.seed(231)
    x = np.random.randn(10, 10)
    dout = np.random.randn(*x.shape)
    dx = relu_backward(dout, relu_forward(x)[1])
    (dx_num,) = numeric_grads(relu_forward, [x], dout)
    assert rel_error(dx_num, dx) < 1e-11


def test_leaky_relu_forward_scales_negative_inputs_by_alpha():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    out, _ = leaky_relu_forward(x, alpha=0.1)
    assert np.allclose(out, [[-0.2, -0.05, 0.0, 0.5, 2.0]])
    out, _ = leaky_relu_forward(x, alpha=0.3)
    assert np.allclose(out, [[-0.6, -0.15, 0.0, 0.5, 2.0]])
    assert np.allclose(leaky_relu_forward(x)[0], leaky_relu_forward(x, alpha=0.1)[0])


@pytest.mark.parametrize("alpha", [0.1, 0.01])
def test_leaky_relu_backward_matches_numeric_gradient(alpha):
    np.random.seed(231)
    x = np.random.randn(10, 10)
    dout = np.random.randn(*x.shape)
    dx = leaky_relu_backward(dout, leaky_relu_forward(x, alpha)[1])
    dx_num = eval_numerical_gradient_array(lambda z: leaky_relu_forward(z, alpha)[0], x, dout)
    assert rel_error(dx_num, dx) < 1e-10


# ---------------------------------------------------------------- losses


@pytest.fixture
def seeded_scores():
    """The notebook's loss check input: tiny random scores for 50 examples, 10 classes."""
    np.random.seed(231)
    num_classes, num_inputs = 10, 50
    x = 0.001 * np.random.randn(num_inputs, num_classes)
    y = np.random.randint(num_classes, size=num_inputs)
    return x, y


def test_svm_loss_reproduces_the_notebook_and_its_gradient(seeded_scores):
    x, y = seeded_scores
    dx_num = eval_numerical_gradient(lambda z: svm_loss(z, y)[0], x, verbose=False)
    loss, dx = svm_loss(x, y)
    assert abs(loss - 8.999602749096233) < 1e-9  # ~ (C - 1) for scores near 0
    assert rel_error(dx_num, dx) < 1e-8


def test_softmax_loss_reproduces_the_notebook_and_its_gradient(seeded_scores):
    x, y = seeded_scores
    dx_num = eval_numerical_gradient(lambda z: softmax_loss(z, y)[0], x, verbose=False)
    loss, dx = softmax_loss(x, y)
    assert abs(loss - 2.302545844500738) < 1e-9  # ~ log(10) for scores near 0
    assert rel_error(dx_num, dx) < 1e-7


def test_svm_loss_on_a_hand_computed_example():
    x = np.array([[3.0, 1.0, 2.5],
                  [0.0, 2.0, 0.0]])
    y = np.array([0, 1])
    # Row 0: margins max(0, 1-3+1)=0, max(0, 2.5-3+1)=0.5; row 1: both margins 0.
    loss, dx = svm_loss(x, y)
    assert loss == pytest.approx(0.25)
    assert np.allclose(dx, [[-0.5, 0.0, 0.5], [0.0, 0.0, 0.0]])


def test_softmax_loss_is_log_c_for_equal_scores_and_stable_for_huge_scores():
    y = np.array([0, 3])
    loss, dx = softmax_loss(np.zeros((2, 4)), y)
    assert loss == pytest.approx(np.log(4))
    assert np.allclose(dx.sum(axis=1), 0)

    rng = np.random.RandomState(0)
    x = rng.randn(2, 4)
    loss_huge, dx_huge = softmax_loss(x + 1000.0, y)
    loss_plain, dx_plain = softmax_loss(x, y)
    assert np.isfinite(loss_huge)
    assert loss_huge == pytest.approx(loss_plain)
    assert np.allclose(dx_huge, dx_plain)


# ---------------------------------------------------------------- batch normalization


def test_batchnorm_train_output_has_mean_beta_and_std_gamma():
    rng = np.random.RandomState(231)
    x = 5 * rng.randn(200, 3) + np.array([12.0, -4.0, 0.5])
    gamma = np.array([1.0, 2.0, 3.0])
    beta = np.array([11.0, 12.0, 13.0])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert np.allclose(out.mean(axis=0), beta, atol=1e-7)
    assert np.allclose(out.std(axis=0), gamma, atol=1e-4)  # eps shrinks the std a little


def test_batchnorm_uses_the_biased_variance_and_eps():
    x = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    out, _ = batchnorm_forward(x, np.ones(2), np.zeros(2), {"mode": "train", "eps": 1.0})
    biased_var = 8.0 / 3.0
    assert np.allclose(out[:, 0], np.array([-2.0, 0.0, 2.0]) / np.sqrt(biased_var + 1.0))
    assert np.allclose(out[:, 1], 0.0)  # a constant feature normalizes to beta


def test_batchnorm_running_averages_follow_the_momentum_formula():
    rng = np.random.RandomState(0)
    x1, x2 = rng.randn(8, 4) + 3, 2 * rng.randn(8, 4) - 1
    bn_param = {"mode": "train", "momentum": 0.8}
    batchnorm_forward(x1, np.ones(4), np.zeros(4), bn_param)
    assert bn_param["running_mean"].shape == (4,)
    assert np.allclose(bn_param["running_mean"], 0.2 * x1.mean(axis=0))
    assert np.allclose(bn_param["running_var"], 0.2 * x1.var(axis=0))
    batchnorm_forward(x2, np.ones(4), np.zeros(4), bn_param)
    assert np.allclose(bn_param["running_mean"], 0.8 * 0.2 * x1.mean(axis=0) + 0.2 * x2.mean(axis=0))
    assert np.allclose(bn_param["running_var"], 0.8 * 0.2 * x1.var(axis=0) + 0.2 * x2.var(axis=0))


def test_batchnorm_default_momentum_is_0_9():
    x = np.random.RandomState(1).randn(6, 3)
    bn_param = {"mode": "train"}
    batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    assert np.allclose(bn_param["running_mean"], 0.1 * x.mean(axis=0))


def test_batchnorm_test_mode_uses_the_running_averages_and_leaves_them_alone():
    rng = np.random.RandomState(2)
    x = rng.randn(5, 3)
    gamma, beta = rng.randn(3), rng.randn(3)
    running_mean, running_var = rng.randn(3), rng.rand(3) + 0.5
    bn_param = {"mode": "test", "running_mean": running_mean.copy(), "running_var": running_var.copy()}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    expected = gamma * (x - running_mean) / np.sqrt(running_var + 1e-5) + beta
    assert np.allclose(out, expected)
    assert np.array_equal(bn_param["running_mean"], running_mean)
    assert np.array_equal(bn_param["running_var"], running_var)


def test_batchnorm_test_mode_after_training_normalizes_new_data():
    rng = np.random.RandomState(231)
    w1, w2 = rng.randn(20, 30), rng.randn(30, 3)
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(3), np.zeros(3)
    for _ in range(50):
        x = np.maximum(0, rng.randn(100, 20) @ w1) @ w2
        batchnorm_forward(x, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    x = np.maximum(0, rng.randn(100, 20) @ w1) @ w2
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    assert np.all(np.abs(out.mean(axis=0)) < 0.25)
    assert np.all(np.abs(out.std(axis=0) - 1) < 0.25)


@pytest.mark.parametrize("mode", ["bogus", "Train", None])
def test_batchnorm_rejects_an_unknown_mode_by_name(mode):
    bn_param = {} if mode is None else {"mode": mode}
    with pytest.raises(ValueError) as info:
        batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), bn_param)
    message = str(info.value)
    assert repr(mode) in message and "'train'" in message and "'test'" in message


@pytest.fixture
def batchnorm_case():
    np.random.seed(231)
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    return x, gamma, beta, dout


@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_alt])
def test_batchnorm_backward_matches_numeric_gradients(batchnorm_case, backward):
    x, gamma, beta, dout = batchnorm_case
    bn_param = {"mode": "train"}
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = backward(dout, cache)
    dx_num, dgamma_num, dbeta_num = numeric_grads(
        lambda *args: batchnorm_forward(*args, bn_param), [x, gamma, beta], dout
    )
    assert (dx.shape, dgamma.shape, dbeta.shape) == (x.shape, gamma.shape, beta.shape)
    assert rel_error(dx_num, dx) < 1e-7
    assert rel_error(dgamma_num, dgamma) < 1e-7
    assert rel_error(dbeta_num, dbeta) < 1e-7


def test_batchnorm_backward_versions_agree(batchnorm_case):
    x, gamma, beta, dout = batchnorm_case
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    for graph, alt in zip(batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache)):
        assert rel_error(graph, alt) < 1e-12


def test_batchnorm_gradient_check_catches_a_missing_variance_path(batchnorm_case):
    """The threshold above is tight enough to catch the classic mistake of treating
    the batch standard deviation as a constant."""
    x, gamma, beta, dout = batchnorm_case
    _, (x_hat, gamma, x_centered, std) = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx_hat = dout * gamma
    wrong_dx = (dx_hat - dx_hat.mean(axis=0)) / std
    (dx_num,) = numeric_grads(lambda z: batchnorm_forward(z, gamma, beta, {"mode": "train"}), [x], dout)
    assert rel_error(dx_num, wrong_dx) > 1e-3


# ---------------------------------------------------------------- layer normalization


def test_layernorm_normalizes_every_example_over_its_features():
    rng = np.random.RandomState(231)
    x = 5 * rng.randn(4, 6) + rng.randn(4, 1) * 10
    out, _ = layernorm_forward(x, np.ones(6), np.zeros(6), {})
    assert np.allclose(out.mean(axis=1), 0, atol=1e-7)
    assert np.allclose(out.std(axis=1), 1, atol=1e-4)

    gamma, beta = rng.randn(6), rng.randn(6)
    scaled, _ = layernorm_forward(x, gamma, beta, {})
    assert np.allclose(scaled, gamma * out + beta)


def test_layernorm_output_for_one_example_does_not_depend_on_the_batch():
    rng = np.random.RandomState(3)
    x, gamma, beta = rng.randn(5, 4), rng.randn(4), rng.randn(4)
    batch_out, _ = layernorm_forward(x, gamma, beta, {})
    single_out, _ = layernorm_forward(x[2:3], gamma, beta, {})
    assert np.allclose(batch_out[2:3], single_out)


def test_layernorm_uses_eps():
    x = np.array([[0.0, 2.0]])  # mean 1, biased variance 1
    out, _ = layernorm_forward(x, np.ones(2), np.zeros(2), {"eps": 3.0})
    assert np.allclose(out, [[-0.5, 0.5]])


def test_layernorm_backward_matches_numeric_gradients(batchnorm_case):
    x, gamma, beta, dout = batchnorm_case
    _, cache = layernorm_forward(x, gamma, beta, {})
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    dx_num, dgamma_num, dbeta_num = numeric_grads(
        lambda *args: layernorm_forward(*args, {}), [x, gamma, beta], dout
    )
    assert (dx.shape, dgamma.shape, dbeta.shape) == (x.shape, gamma.shape, beta.shape)
    assert rel_error(dx_num, dx) < 1e-7
    assert rel_error(dgamma_num, dgamma) < 1e-7
    assert rel_error(dbeta_num, dbeta) < 1e-7


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.25, 0.4, 0.7])
def test_dropout_keeps_fraction_p_and_preserves_the_mean(p):
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    out, mask = dropout_forward(x, {"mode": "train", "p": p})
    assert abs(out.mean() - x.mean()) < 0.01 * x.mean()
    assert abs(np.mean(out == 0) - (1 - p)) < 0.01
    kept = out != 0
    assert np.allclose(out[kept], x[kept] / p)
    assert mask.shape == x.shape


def test_dropout_test_mode_is_the_identity():
    x = np.random.RandomState(0).randn(20, 30)
    out, cache = dropout_forward(x, {"mode": "test", "p": 0.3})
    assert np.array_equal(out, x)
    dout = np.random.RandomState(1).randn(20, 30)
    assert np.array_equal(dropout_backward(dout, cache), dout)


def test_dropout_seed_gives_the_same_mask_and_leaves_the_global_rng_alone():
    x = np.ones((30, 40))
    np.random.seed(7)
    expected_next = np.random.rand()
    np.random.seed(7)
    first, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    second, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    other, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 124})
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)
    assert np.random.rand() == expected_next


def test_dropout_without_seed_draws_from_numpys_global_rng():
    x = np.ones((30, 40))
    np.random.seed(11)
    first, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    different, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    np.random.seed(11)
    again, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    assert np.array_equal(first, again)
    assert not np.array_equal(first, different)


def test_dropout_keeps_the_input_dtype():
    x = np.ones((4, 5), dtype=np.float32)
    out, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})
    assert out.dtype == np.float32


def test_dropout_backward_matches_numeric_gradient():
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
    dx = dropout_backward(dout, dropout_forward(x, dropout_param)[1])
    (dx_num,) = numeric_grads(lambda z: dropout_forward(z, dropout_param), [x], dout)
    assert rel_error(dx_num, dx) < 1e-10


@pytest.mark.parametrize(
    "dropout_param, fragment",
    [
        ({"mode": "train", "p": 0.0}, "(0, 1]"),
        ({"mode": "train", "p": 1.5}, "(0, 1]"),
        ({"mode": "train"}, "keep probability"),
        ({"mode": "eval", "p": 0.5}, "'eval'"),
    ],
)
def test_dropout_rejects_bad_parameters(dropout_param, fragment):
    with pytest.raises(ValueError, match="dropout_forward") as info:
        dropout_forward(np.ones((2, 2)), dropout_param)
    assert fragment in str(info.value)
