""""Sandwich" layers: common sequences of layers packed into one forward/backward pair.

Each sandwich chains the forward functions of nnkit.layers, keeps their caches
together, and runs the matching backward functions in reverse order.
"""
from .layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
)

# The normalizations affine_norm_relu_forward understands: name -> (forward, backward).
NORMALIZATIONS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward),
    "layernorm": (layernorm_forward, layernorm_backward),
}


def affine_relu_forward(x, w, b):
    """Affine layer followed by a ReLU.

    Inputs:
    - x: Input, of shape (N, d_1, ..., d_k).
    - w: Weights, of shape (D, M), with D = d_1 * ... * d_k.
    - b: Biases, of shape (M,).

    Returns a tuple of:
    - out: Output of the ReLU, of shape (N, M).
    - cache: Tuple (affine_cache, relu_cache) for affine_relu_backward.
    """
    scores, affine_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(scores)
    return out, (affine_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of affine_relu_forward.

    Inputs:
    - dout: Upstream gradient, of shape (N, M).
    - cache: Tuple (affine_cache, relu_cache) from affine_relu_forward.

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k).
    - dw: Gradient with respect to w, of shape (D, M).
    - db: Gradient with respect to b, of shape (M,).
    """
    affine_cache, relu_cache = cache
    dscores = relu_backward(dout, relu_cache)
    return affine_backward(dscores, affine_cache)


def affine_norm_relu_forward(x, w, b, gamma, beta, norm_param, normalization):
    """Affine layer, then batch or layer normalization, then a ReLU.

    Inputs:
    - x: Input, of shape (N, d_1, ..., d_k).
    - w: Weights, of shape (D, M), with D = d_1 * ... * d_k.
    - b: Biases, of shape (M,).
    - gamma, beta: Scale and shift of the normalization, each of shape (M,).
    - norm_param: The bn_param / ln_param dictionary passed to the normalization (for
      batchnorm it holds the mode and the running averages, and is updated in place).
    - normalization: 'batchnorm' or 'layernorm'.

    Returns a tuple of:
    - out: Output of the ReLU, of shape (N, M).
    - cache: Tuple (normalization, affine_cache, norm_cache, relu_cache) for
      affine_norm_relu_backward.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"affine_norm_relu_forward: normalization must be one of {sorted(NORMALIZATIONS)}, "
            f"got {normalization!r}"
        )
    norm_forward, _ = NORMALIZATIONS[normalization]
    scores, affine_cache = affine_forward(x, w, b)
    normalized, norm_cache = norm_forward(scores, gamma, beta, norm_param)
    out, relu_cache = relu_forward(normalized)
    return out, (normalization, affine_cache, norm_cache, relu_cache)


def affine_norm_relu_backward(dout, cache):
    """Backward pass of affine_norm_relu_forward (in training mode).

    Inputs:
    - dout: Upstream gradient, of shape (N, M).
    - cache: Tuple (normalization, affine_cache, norm_cache, relu_cache) from
      affine_norm_relu_forward.

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k).
    - dw: Gradient with respect to w, of shape (D, M).
    - db: Gradient with respect to b, of shape (M,).
    - dgamma, dbeta: Gradients with respect to gamma and beta, each of shape (M,).
    """
    normalization, affine_cache, norm_cache, relu_cache = cache
    _, norm_backward = NORMALIZATIONS[normalization]
    dnormalized = relu_backward(dout, relu_cache)
    dscores, dgamma, dbeta = norm_backward(dnormalized, norm_cache)
    dx, dw, db = affine_backward(dscores, affine_cache)
    return dx, dw, db, dgamma, dbeta
