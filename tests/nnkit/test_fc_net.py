"""Tests of nnkit.classifiers.fc_net: TwoLayerNet and FullyConnectedNet.

Gradient checks run in float64 on small networks. Their parameters are replaced by
random values of order 1 first: zero biases and tiny weights produce exact ReLU kinks
(a fully dropped layer feeds exact zeros into the next one) and gradients so small that
rounding noise dominates the relative error, which would hide or fake bugs.
"""
import json

import numpy as np
import pytest

import nnkit.classifiers.fc_net as fc_net
from nnkit.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from nnkit.gradient_check import eval_numerical_gradient, rel_error
from nnkit.layers import affine_backward


def gradient_errors(model, X, y):
    """Relative error between the analytic and numeric gradient of every parameter.

    Biases feeding a batchnorm layer are left out: their true gradient is zero, so a
    relative error of rounding noise against zero means nothing. They are checked to be
    zero in absolute terms instead.
    """
    _, grads = model.loss(X, y)
    assert sorted(grads) == sorted(model.params)
    errors = {}
    for name in sorted(grads):
        assert grads[name].shape == model.params[name].shape, name
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False)
        before_batchnorm = (
            getattr(model, "normalization", None) == "batchnorm" and name[0] == "b" and name[1:].isdigit()
            and int(name[1:]) < model.num_layers
        )
        if before_batchnorm:
            assert np.abs(grads[name]).max() < 1e-10 and np.abs(numeric).max() < 1e-8, name
        else:
            errors[name] = rel_error(numeric, grads[name])
    return errors


def randomize_params(model, rng):
    """Replace every parameter by random values of order 1 (gammas around 1)."""
    for name, value in model.params.items():
        center = 1.0 if name.startswith("gamma") else 0.0
        model.params[name] = (center + 0.5 * rng.randn(*value.shape)).astype(value.dtype)


# ---------------------------------------------------------------- TwoLayerNet


@pytest.fixture
def notebook_two_layer_net():
    """The TwoLayerNet of the notebook's check, with its deterministic parameters."""
    np.random.seed(231)
    N, D, H, C = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    y = np.asarray([0, 5, 1])
    return model, X, y


def test_two_layer_net_initialization():
    np.random.seed(231)
    std = 1e-3
    model = TwoLayerNet(input_dim=5, hidden_dim=50, num_classes=7, weight_scale=std)
    assert {name: value.shape for name, value in model.params.items()} == {
        "W1": (5, 50), "b1": (50,), "W2": (50, 7), "b2": (7,)
    }
    assert abs(model.params["W1"].std() - std) < std / 10
    assert abs(model.params["W2"].std() - std) < std / 10
    assert np.all(model.params["b1"] == 0) and np.all(model.params["b2"] == 0)


def test_two_layer_net_reproduces_the_notebook_scores(notebook_two_layer_net):
    model, X, _ = notebook_two_layer_net
    correct_scores = np.asarray(
        [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
         [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
         [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319]])
    assert np.abs(model.loss(X) - correct_scores).sum() < 1e-6


def test_two_layer_net_reproduces_the_notebook_losses(notebook_two_layer_net):
    model, X, y = notebook_two_layer_net
    loss, _ = model.loss(X, y)
    assert abs(loss - 3.4702243556) < 1e-10
    model.reg = 1.0
    loss, _ = model.loss(X, y)
    assert abs(loss - 26.5948426952) < 1e-10  # catches a missing 0.5 in the L2 term


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_gradients_on_the_notebook_net(notebook_two_layer_net, reg):
    model, X, y = notebook_two_layer_net
    model.reg = reg
    errors = gradient_errors(model, X, y)
    assert max(errors.values()) < 1e-6, errors


def test_two_layer_net_accepts_image_shaped_inputs():
    np.random.seed(0)
    model = TwoLayerNet(input_dim=3 * 2 * 2, hidden_dim=6, num_classes=4, weight_scale=0.5)
    X = np.random.randn(5, 3, 2, 2)
    y = np.random.randint(4, size=5)
    assert model.loss(X).shape == (5, 4)
    assert np.array_equal(model.loss(X), model.loss(X.reshape(5, -1)))
    errors = gradient_errors(model, X, y)
    assert max(errors.values()) < 1e-6, errors


def test_two_layer_net_records_its_constructor_arguments():
    model = TwoLayerNet(input_dim=np.int64(12), hidden_dim=6, num_classes=4, weight_scale=0.1, reg=0.5)
    assert model.init_args == {
        "input_dim": 12, "hidden_dim": 6, "num_classes": 4, "weight_scale": 0.1, "reg": 0.5
    }
    json.dumps(model.init_args)  # plain Python values only


@pytest.mark.parametrize(
    "kwargs, fragment",
    [({"hidden_dim": 0}, "hidden_dim"), ({"input_dim": 2.5}, "input_dim"), ({"reg": -1}, "reg")],
)
def test_two_layer_net_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match="TwoLayerNet") as info:
        TwoLayerNet(**kwargs)
    assert fragment in str(info.value)


# ---------------------------------------------------------------- FullyConnectedNet


def test_fully_connected_net_initial_loss():
    """The multilayer notebook's sanity check: with small weights the data loss is about
    log(10), and the regularized loss adds 0.5 * reg * sum(W**2). The two models are
    built one after the other from one seeded sequence, as in the notebook; the pinned
    values are what this set-up gives with the reference implementation."""
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    losses = []
    for reg in (0.0, 3.14):
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                                  dtype=np.float64)
        losses.append(model.loss(X, y)[0])
    assert abs(losses[0] - np.log(C)) < 0.01
    assert abs(losses[0] - 2.3004790897684924) < 1e-10
    assert abs(losses[1] - 7.052114776533016) < 1e-10


def test_fully_connected_net_l2_penalty_is_half_reg_times_sum_of_squared_weights():
    rng = np.random.RandomState(0)
    X, y = rng.randn(4, 6), rng.randint(5, size=4)
    model = FullyConnectedNet([7, 8], input_dim=6, num_classes=5, normalization="layernorm", dtype=np.float64)
    randomize_params(model, rng)
    data_loss, _ = model.loss(X, y)
    model.reg = 0.3
    loss, _ = model.loss(X, y)
    penalty = sum(np.sum(model.params[f"W{layer}"] ** 2) for layer in (1, 2, 3))
    assert loss - data_loss == pytest.approx(0.5 * 0.3 * penalty, rel=1e-12)


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_fully_connected_net_parameter_names_shapes_and_initial_values(normalization):
    np.random.seed(0)
    model = FullyConnectedNet([7, 8], input_dim=6, num_classes=5, normalization=normalization, weight_scale=0.1)
    expected = {"W1": (6, 7), "b1": (7,), "W2": (7, 8), "b2": (8,), "W3": (8, 5), "b3": (5,)}
    if normalization is not None:
        expected.update({"gamma1": (7,), "beta1": (7,), "gamma2": (8,), "beta2": (8,)})
    assert {name: value.shape for name, value in model.params.items()} == expected
    for name, value in model.params.items():
        if name.startswith("gamma"):
            assert np.all(value == 1), name
        elif name.startswith(("b", "beta")):
            assert np.all(value == 0), name
    assert model.num_layers == 3
    assert len(model.norm_params) == (0 if normalization is None else 2)


def test_fully_connected_net_weights_come_from_the_global_rng_and_seed_only_affects_dropout():
    np.random.seed(231)
    first = FullyConnectedNet([20], input_dim=30, num_classes=4, weight_scale=0.5, dtype=np.float64)
    np.random.seed(231)
    second = FullyConnectedNet([20], input_dim=30, num_classes=4, weight_scale=0.5, dtype=np.float64,
                               dropout_keep_ratio=0.5, seed=3)
    np.random.seed(231)
    expected_W1 = 0.5 * np.random.randn(30, 20)
    for name in first.params:
        assert np.array_equal(first.params[name], second.params[name])
    assert np.array_equal(first.params["W1"], expected_W1)
    assert abs(first.params["W2"].std() - 0.5) < 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalization", [None, "batchnorm"])
def test_fully_connected_net_respects_dtype(dtype, normalization):
    rng = np.random.RandomState(0)
    X, y = rng.randn(4, 6), rng.randint(5, size=4)  # float64 input
    model = FullyConnectedNet([7], input_dim=6, num_classes=5, normalization=normalization,
                              dropout_keep_ratio=0.5, dtype=dtype)
    assert all(value.dtype == dtype for value in model.params.values())
    loss, grads = model.loss(X, y)
    assert all(grad.dtype == dtype for grad in grads.values())
    assert np.asarray(loss).dtype == dtype
    assert model.loss(X).dtype == dtype


def test_fully_connected_net_default_dtype_is_float32():
    model = FullyConnectedNet([3], input_dim=4, num_classes=2)
    assert model.params["W1"].dtype == np.float32
    assert model.init_args["dtype"] == "float32"


CONFIGS = [
    pytest.param(normalization, keep, reg, id=f"{normalization}-keep{keep}-reg{reg}")
    for normalization in (None, "batchnorm", "layernorm")
    for keep in (1, 0.75)
    for reg in (0.0, 0.7)
]


@pytest.mark.parametrize("normalization, keep, reg", CONFIGS)
def test_fully_connected_net_gradients(normalization, keep, reg):
    rng = np.random.RandomState(2)
    N, D, H1, H2, C = 5, 6, 7, 8, 5
    X, y = rng.randn(N, D), rng.randint(C, size=N)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, normalization=normalization,
                              dropout_keep_ratio=keep, reg=reg, dtype=np.float64, seed=2)
    randomize_params(model, rng)
    errors = gradient_errors(model, X, y)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("hidden_dims", [[], [9], [4, 5, 6]])
def test_fully_connected_net_gradients_for_other_depths(hidden_dims):
    rng = np.random.RandomState(2)
    X, y = rng.randn(5, 6), rng.randint(5, size=5)
    model = FullyConnectedNet(hidden_dims, input_dim=6, num_classes=5, normalization="batchnorm",
                              reg=0.1, dtype=np.float64)
    randomize_params(model, rng)
    assert model.num_layers == len(hidden_dims) + 1
    errors = gradient_errors(model, X, y)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_catches_a_backward_pass_that_skips_the_relu(monkeypatch):
    """A wrong backward pass must fail the gradient threshold used above."""
    def backward_without_relu(dout, cache):
        affine_cache, _ = cache
        return affine_backward(dout, affine_cache)

    monkeypatch.setattr(fc_net, "affine_relu_backward", backward_without_relu)
    rng = np.random.RandomState(2)
    X, y = rng.randn(5, 6), rng.randint(5, size=5)
    model = FullyConnectedNet([7, 8], input_dim=6, num_classes=5, dtype=np.float64)
    randomize_params(model, rng)
    assert max(gradient_errors(model, X, y).values()) > 1e-3


def test_fully_connected_net_test_mode_uses_running_averages_and_leaves_them_alone():
    rng = np.random.RandomState(0)
    X, y = rng.randn(6, 5) * 3 + 2, rng.randint(3, size=6)
    model = FullyConnectedNet([4], input_dim=5, num_classes=3, normalization="batchnorm", dtype=np.float64)
    randomize_params(model, rng)
    model.loss(X, y)
    running_mean = model.norm_params[0]["running_mean"].copy()
    scores_full = model.loss(X)
    scores_single = model.loss(X[:1])
    # Test-time scores of one example do not depend on the rest of the batch ...
    assert np.allclose(scores_full[:1], scores_single)
    # ... and a test-time pass does not touch the running averages.
    assert np.array_equal(model.norm_params[0]["running_mean"], running_mean)
    assert model.norm_params[0]["mode"] == "test"
    model.loss(X, y)
    assert not np.array_equal(model.norm_params[0]["running_mean"], running_mean)


def test_fully_connected_net_dropout_is_off_at_test_time_and_seeded_when_asked():
    rng = np.random.RandomState(0)
    X, y = rng.randn(6, 5), rng.randint(3, size=6)
    unseeded = FullyConnectedNet([50], input_dim=5, num_classes=3, dropout_keep_ratio=0.5, dtype=np.float64)
    no_dropout = FullyConnectedNet([50], input_dim=5, num_classes=3, dtype=np.float64)
    no_dropout.params = {name: value.copy() for name, value in unseeded.params.items()}
    assert np.array_equal(unseeded.loss(X), no_dropout.loss(X))
    assert unseeded.loss(X, y)[0] != unseeded.loss(X, y)[0]

    seeded = FullyConnectedNet([50], input_dim=5, num_classes=3, dropout_keep_ratio=0.5, dtype=np.float64, seed=1)
    assert seeded.loss(X, y)[0] == seeded.loss(X, y)[0]


def test_fully_connected_net_records_its_constructor_arguments():
    model = FullyConnectedNet((np.int64(7), 8), input_dim=6, num_classes=5, dropout_keep_ratio=0.5,
                              normalization="layernorm", reg=0.1, weight_scale=0.2, dtype=np.float64, seed=4)
    assert model.init_args == {
        "hidden_dims": [7, 8], "input_dim": 6, "num_classes": 5, "dropout_keep_ratio": 0.5,
        "normalization": "layernorm", "reg": 0.1, "weight_scale": 0.2, "dtype": "float64", "seed": 4,
    }
    json.dumps(model.init_args)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"normalization": "groupnorm"}, "'groupnorm'"),
        ({"dropout_keep_ratio": 0}, "dropout_keep_ratio"),
        ({"dropout_keep_ratio": 1.5}, "dropout_keep_ratio"),
        ({"dropout_keep_ratio": -0.2}, "dropout_keep_ratio"),
        ({"hidden_dims": [10, 0]}, "hidden_dims[1]"),
        ({"hidden_dims": [10.5]}, "hidden_dims[0]"),
        ({"hidden_dims": 10}, "hidden_dims"),
        ({"dtype": np.int32}, "dtype"),
        ({"reg": -0.1}, "reg"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_fully_connected_net_rejects_bad_arguments(kwargs, fragment):
    arguments = {"hidden_dims": [10], "input_dim": 4, "num_classes": 3, **kwargs}
    with pytest.raises(ValueError, match="FullyConnectedNet") as info:
        FullyConnectedNet(**arguments)
    assert fragment in str(info.value)
