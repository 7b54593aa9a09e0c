"""Tests of the sandwich layers in nnkit.layer_utils."""
import numpy as np
import pytest

from numeric_helpers import numeric_grads
from nnkit.gradient_check import rel_error
from nnkit.layer_utils import (
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from nnkit.layers import affine_forward, batchnorm_forward, layernorm_forward


def test_affine_relu_matches_numeric_gradients():
    np.random.seed(231)
    x = np.random.randn(2, 3, 4)
    w = np.random.randn(12, 10)
    b = np.random.randn(10)
    dout = np.random.randn(2, 10)
    out, cache = affine_relu_forward(x, w, b)
    assert np.array_equal(out, np.maximum(0, affine_forward(x, w, b)[0]))
    dx, dw, db = affine_relu_backward(dout, cache)
    dx_num, dw_num, db_num = numeric_grads(affine_relu_forward, [x, w, b], dout)
    assert rel_error(dx_num, dx) < 1e-9
    assert rel_error(dw_num, dw) < 1e-9
    assert rel_error(db_num, db) < 1e-9


@pytest.fixture
def sandwich_case():
    np.random.seed(231)
    x = np.random.randn(4, 2, 3)
    w = np.random.randn(6, 5)
    b = np.random.randn(5)
    gamma = np.random.randn(5)
    beta = np.random.randn(5)
    dout = np.random.randn(4, 5)
    return x, w, b, gamma, beta, dout


@pytest.mark.parametrize(
    "normalization, norm_forward", [("batchnorm", batchnorm_forward), ("layernorm", layernorm_forward)]
)
def test_affine_norm_relu_forward_chains_the_three_layers(sandwich_case, normalization, norm_forward):
    x, w, b, gamma, beta, _ = sandwich_case
    out, _ = affine_norm_relu_forward(x, w, b, gamma, beta, {"mode": "train"}, normalization)
    scores, _ = affine_forward(x, w, b)
    expected = np.maximum(0, norm_forward(scores, gamma, beta, {"mode": "train"})[0])
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_affine_norm_relu_matches_numeric_gradients(sandwich_case, normalization):
    x, w, b, gamma, beta, dout = sandwich_case
    norm_param = {"mode": "train"} if normalization == "batchnorm" else {}

    def forward(x, w, b, gamma, beta):
        return affine_norm_relu_forward(x, w, b, gamma, beta, norm_param, normalization)

    _, cache = forward(x, w, b, gamma, beta)
    dx, dw, db, dgamma, dbeta = affine_norm_relu_backward(dout, cache)
    dx_num, dw_num, db_num, dgamma_num, dbeta_num = numeric_grads(forward, [x, w, b, gamma, beta], dout)
    assert rel_error(dx_num, dx) < 1e-7
    assert rel_error(dw_num, dw) < 1e-7
    assert rel_error(dgamma_num, dgamma) < 1e-7
    assert rel_error(dbeta_num, dbeta) < 1e-7
    if normalization == "batchnorm":
        # Batchnorm subtracts the batch mean, so the affine bias cannot change the output:
        # both gradients are zero up to rounding, where a relative error means nothing.
        assert np.abs(db).max() < 1e-10 and np.abs(db_num).max() < 1e-8
    else:
        assert rel_error(db_num, db) < 1e-7


def test_affine_norm_relu_updates_the_batchnorm_running_averages(sandwich_case):
    x, w, b, gamma, beta, _ = sandwich_case
    bn_param = {"mode": "train"}
    affine_norm_relu_forward(x, w, b, gamma, beta, bn_param, "batchnorm")
    scores, _ = affine_forward(x, w, b)
    assert np.allclose(bn_param["running_mean"], 0.1 * scores.mean(axis=0))


@pytest.mark.parametrize("normalization", ["groupnorm", None, "BatchNorm"])
def test_affine_norm_relu_rejects_unknown_normalizations(sandwich_case, normalization):
    x, w, b, gamma, beta, _ = sandwich_case
    with pytest.raises(ValueError, match="normalization") as info:
        affine_norm_relu_forward(x, w, b, gamma, beta, {"mode": "train"}, normalization)
    assert repr(normalization) in str(info.value)
    assert "'batchnorm'" in str(info.value) and "'layernorm'" in str(info.value)
