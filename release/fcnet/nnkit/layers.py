"""Layers of a fully-connected network, each as a forward and a backward function.

Every layer follows one pattern:

    out, cache = layer_forward(x, ...params)      # cache: whatever backward needs
    dx, ...dparams = layer_backward(dout, cache)  # dout = dL/dout, same shape as out

The forward pass keeps in `cache` the values the backward pass needs, so the backward
pass never recomputes the forward one. Each gradient has the shape of the array it is
the gradient of. The two losses at the end of the file (svm_loss, softmax_loss) return
(loss, dx) directly, because they end the network.

N is the number of examples in the minibatch, D the number of input features of a
layer, M the number of its outputs and C the number of classes.
"""
import numpy as np


def affine_forward(x, w, b):
    """Forward pass of an affine (fully-connected) layer: out = x w + b.

    Each example x[i] of shape (d_1, ..., d_k) is flattened into a row of
    D = d_1 * ... * d_k numbers first, so images can be fed in directly.

    Inputs:
    - x: Array of shape (N, d_1, ..., d_k), a minibatch of N examples.
    - w: Weights, of shape (D, M).
    - b: Biases, of shape (M,).

    Returns a tuple of:
    - out: Array of shape (N, M).
    - cache: Tuple (x, w, b).
    """
    # TODO: Reshape x into a matrix x_rows of shape (N, D) (one example per row), then set
    # out = x_rows @ w + b, which has shape (N, M).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("affine_forward: implement this (see the TODO above)")
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Backward pass of an affine layer.

    Inputs:
    - dout: Upstream gradient, of shape (N, M).
    - cache: Tuple (x, w, b) from affine_forward, with x of shape (N, d_1, ..., d_k),
      w of shape (D, M) and b of shape (M,).

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k).
    - dw: Gradient with respect to w, of shape (D, M).
    - db: Gradient with respect to b, of shape (M,).
    """
    x, w, b = cache
    # TODO: With x_rows = x reshaped to (N, D), as in the forward pass, set
    #   dx = dout @ w.T reshaped back to the shape of x,
    #   dw = x_rows.T @ dout,
    #   db = dout summed over the examples (axis 0), because b was added to every row.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("affine_backward: implement this (see the TODO above)")
    return dx, dw, db


def relu_forward(x):
    """Forward pass of a layer of rectified linear units: out = max(0, x).

    Input:
    - x: Array of any shape.

    Returns a tuple of:
    - out: Array of the same shape as x.
    - cache: x.
    """
    # TODO: Set out to x with every negative entry replaced by 0 (np.maximum helps).
    # Do not modify x in place: the cache keeps it for the backward pass.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("relu_forward: implement this (see the TODO above)")
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Backward pass of a ReLU layer.

    Input:
    - dout: Upstream gradient, of any shape.
    - cache: The input x of relu_forward, of the same shape as dout.

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout.
    """
    x = cache
    # TODO: The gradient passes through where x > 0 and is blocked elsewhere: set dx to
    # dout where x > 0 and to 0 where x <= 0.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("relu_backward: implement this (see the TODO above)")
    return dx


def leaky_relu_forward(x, alpha=0.1):
    """Forward pass of a leaky ReLU layer: out = x where x > 0, alpha * x elsewhere.

    Unlike ReLU, a leaky ReLU still passes a small gradient (alpha) for negative
    inputs, so a unit stuck on the negative side can recover.

    Inputs:
    - x: Array of any shape.
    - alpha: Slope for negative inputs, a small positive scalar.

    Returns a tuple of:
    - out: Array of the same shape as x.
    - cache: Tuple (x, alpha).
    """
    # TODO: Set out to x where x > 0 and to alpha * x elsewhere (np.where helps).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("leaky_relu_forward: implement this (see the TODO above)")
    cache = (x, alpha)
    return out, cache


def leaky_relu_backward(dout, cache):
    """Backward pass of a leaky ReLU layer.

    Inputs:
    - dout: Upstream gradient, of any shape.
    - cache: Tuple (x, alpha) from leaky_relu_forward.

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout.
    """
    x, alpha = cache
    # TODO: The local slope is 1 where x > 0 and alpha elsewhere: set dx to dout times
    # that slope.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("leaky_relu_backward: implement this (see the TODO above)")
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass of batch normalization.

    In training mode every feature is normalized with the mean and the (biased)
    variance of the minibatch, x_hat = (x - mean) / sqrt(var + eps), and then scaled
    and shifted: out = gamma * x_hat + beta. The layer also keeps exponentially
    decaying running averages of the batch statistics,

        running_mean = momentum * running_mean + (1 - momentum) * batch_mean
        running_var  = momentum * running_var  + (1 - momentum) * batch_var

    and test mode normalizes with these instead, so that a prediction for one example
    does not depend on which other examples happen to be in its batch.

    Inputs:
    - x: Data of shape (N, D).
    - gamma: Scale parameter, of shape (D,).
    - beta: Shift parameter, of shape (D,).
    - bn_param: Dictionary with the keys
      - mode: 'train' or 'test'; required.
      - eps: Small constant added to the variance for numeric stability. Default 1e-5.
      - momentum: Decay of the running averages. Default 0.9.
      - running_mean, running_var: Arrays of shape (D,). Created as zeros on the first
        call and updated in this dictionary by every call in training mode.

    Returns a tuple of:
    - out: Array of shape (N, D).
    - cache: In training mode the tuple (x_hat, gamma, x_centered, std) of intermediate
      values of shape (N, D), (D,), (N, D), (D,); in test mode None (no backward pass).
    """
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(
            f"batchnorm_forward: bn_param['mode'] must be 'train' or 'test', got {mode!r}"
        )
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        # TODO: Compute the per-feature statistics of the batch (over axis 0):
        #   batch_mean,  x_centered = x - batch_mean,
        #   batch_var = mean of x_centered**2 (the biased variance, as np.var computes it),
        #   std = sqrt(batch_var + eps),  x_hat = x_centered / std,  out = gamma * x_hat + beta,
        #   cache = (x_hat, gamma, x_centered, std).
        # Then update running_mean and running_var with the momentum formula of the
        # docstring.
        # TODO: your code goes here, in place of the raise below.
        raise NotImplementedError("batchnorm_forward: implement this (see the TODO above)")
    else:
        cache = None  # test mode has no backward pass
        # TODO: Normalize x with running_mean and running_var (plus eps, as in training),
        # then scale by gamma and shift by beta. Set out.
        # TODO: your code goes here, in place of the raise below.
        raise NotImplementedError("batchnorm_forward: implement this (see the TODO above)")

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Backward pass of batch normalization, node by node through its computation graph.

    The forward pass computed, for every feature,
        mean -> x_centered = x - mean -> var = mean(x_centered**2)
             -> std = sqrt(var + eps) -> x_hat = x_centered / std
             -> out = gamma * x_hat + beta.
    Walk this graph backwards, one node at a time.

    Inputs:
    - dout: Upstream gradient, of shape (N, D).
    - cache: Tuple (x_hat, gamma, x_centered, std) from batchnorm_forward in train mode.

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, D).
    - dgamma: Gradient with respect to gamma, of shape (D,).
    - dbeta: Gradient with respect to beta, of shape (D,).
    """
    x_hat, gamma, x_centered, std = cache
    # TODO: Set dbeta (sum of dout over axis 0) and dgamma (sum of dout * x_hat over
    # axis 0). Then walk the graph of the docstring backwards from dx_hat = dout * gamma:
    #   x_hat = x_centered / std   -> the gradient of x_centered (direct path) and of std,
    #   std = sqrt(var + eps)      -> the gradient of var,
    #   var = mean(x_centered**2)  -> add this second path to the gradient of x_centered,
    #   x_centered = x - mean      -> dx = dx_centered minus its mean over the batch.
    # Set dx.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("batchnorm_backward: implement this (see the TODO above)")
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """Backward pass of batch normalization, as one simplified closed-form expression.

    Working the chain rule of batchnorm_backward out on paper collapses it to
        dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / std
    with dx_hat = dout * gamma and the means taken over the batch (axis 0).

    Inputs and outputs: the same as batchnorm_backward (it takes the same cache and
    ignores x_centered).
    """
    x_hat, gamma, _, std = cache
    # TODO: Set dbeta and dgamma as in batchnorm_backward, then dx with the formula in
    # the docstring (one line).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("batchnorm_backward_alt: implement this (see the TODO above)")
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """Forward pass of layer normalization.

    Like batch normalization, but every example is normalized with the mean and
    (biased) variance of its own D features instead of the batch statistics of every
    feature. Training and test time therefore behave the same and there are no
    running averages.

    Inputs:
    - x: Data of shape (N, D).
    - gamma: Scale parameter, of shape (D,).
    - beta: Shift parameter, of shape (D,).
    - ln_param: Dictionary with the key
      - eps: Small constant added to the variance for numeric stability. Default 1e-5.

    Returns a tuple of:
    - out: Array of shape (N, D).
    - cache: Tuple (x_hat, gamma, std) with x_hat of shape (N, D), gamma of shape (D,)
      and std of shape (N, 1).
    """
    eps = ln_param.get("eps", 1e-5)
    # TODO: As in batchnorm training mode but with statistics over the features of each
    # example (axis 1, keepdims=True so they broadcast against x): set
    #   std = sqrt(var + eps), x_hat = (x - mean) / std, out = gamma * x_hat + beta,
    #   cache = (x_hat, gamma, std).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("layernorm_forward: implement this (see the TODO above)")
    return out, cache


def layernorm_backward(dout, cache):
    """Backward pass of layer normalization.

    Inputs:
    - dout: Upstream gradient, of shape (N, D).
    - cache: Tuple (x_hat, gamma, std) from layernorm_forward.

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, D).
    - dgamma: Gradient with respect to gamma, of shape (D,).
    - dbeta: Gradient with respect to beta, of shape (D,).
    """
    x_hat, gamma, std = cache
    # TODO: gamma and beta still act per feature, so dgamma and dbeta are sums over the
    # examples (axis 0), as in batch normalization. For dx use the closed form of
    # batchnorm_backward_alt with dx_hat = dout * gamma, but take the means over the
    # features of each example (axis 1, keepdims=True).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("layernorm_backward: implement this (see the TODO above)")
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """Forward pass of inverted dropout.

    In training mode every entry of x is kept with probability p and zeroed otherwise;
    kept entries are divided by p, so the expected value of every output equals its
    input. That is what makes test mode a plain identity.

    Inputs:
    - x: Array of any shape.
    - dropout_param: Dictionary with the keys
      - p: Probability of KEEPING each entry, in (0, 1].
      - mode: 'train' (apply dropout) or 'test' (return x unchanged).
      - seed: Optional. If given, the mask is drawn from np.random.RandomState(seed),
        so the same seed gives the same mask (needed for gradient checks) and numpy's
        global random state is left alone. Without it, the mask is drawn from np.random.

    Returns a tuple of:
    - out: Array of the same shape and dtype as x.
    - cache: The mask that multiplied x (same shape as x) in training mode; None in
      test mode.
    """
    p, mode = dropout_param.get("p"), dropout_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(
            f"dropout_forward: dropout_param['mode'] must be 'train' or 'test', got {mode!r}"
        )
    if p is None or not 0 < p <= 1:
        raise ValueError(
            f"dropout_forward: dropout_param['p'] is the keep probability and must be in "
            f"(0, 1], got {p!r}"
        )
    rng = np.random.RandomState(dropout_param["seed"]) if "seed" in dropout_param else np.random

    # TODO: In 'train' mode, build mask: entries that rng.rand(*x.shape) puts below p
    # become 1 / p, the others 0 (cast to x.dtype), and set out = x * mask.
    # In 'test' mode set out = x and mask = None.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("dropout_forward: implement this (see the TODO above)")
    cache = mask
    return out, cache


def dropout_backward(dout, cache):
    """Backward pass of inverted dropout.

    Inputs:
    - dout: Upstream gradient, of any shape.
    - cache: The mask from dropout_forward (None if it ran in test mode).

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout.
    """
    mask = cache
    # TODO: Set dx = dout * mask, or dx = dout when mask is None (test mode).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("dropout_backward: implement this (see the TODO above)")
    return dx


def svm_loss(x, y):
    """Multiclass SVM (hinge) loss and its gradient, averaged over the minibatch.

    For example i with correct class y[i], loss_i = sum over j != y[i] of
    max(0, x[i, j] - x[i, y[i]] + 1).

    Inputs:
    - x: Scores, of shape (N, C); x[i, j] is the score of class j for example i.
    - y: Labels, of shape (N,), with 0 <= y[i] < C.

    Returns a tuple of:
    - loss: Scalar, the mean of loss_i over the N examples.
    - dx: Gradient of loss with respect to x, of shape (N, C).
    """
    # TODO: Compute margins = max(0, x - correct_scores + 1) with correct_scores =
    # x[i, y[i]] as a column, zero the margins of the correct classes, and set loss to
    # their sum divided by N. For dx: every positive margin contributes +1 to its own
    # entry and -1 to the entry of the correct class of its row; divide by N as well.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("svm_loss: implement this (see the TODO above)")
    return loss, dx


def softmax_loss(x, y):
    """Softmax (cross-entropy) loss and its gradient, averaged over the minibatch.

    Inputs:
    - x: Scores, of shape (N, C); x[i, j] is the score of class j for example i.
    - y: Labels, of shape (N,), with 0 <= y[i] < C.

    Returns a tuple of:
    - loss: Scalar, the mean over the examples of -log(softmax(x[i])[y[i]]).
    - dx: Gradient of loss with respect to x, of shape (N, C).
    """
    # TODO: Subtract each row's maximum from x first: the softmax does not change, and
    # np.exp can no longer overflow. From the shifted scores compute log_probs (the log
    # of the softmax, via the log of the row sums of exp) and set loss to the mean of
    # -log_probs[i, y[i]]. The gradient is (probs - one_hot(y)) / N; set dx.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("softmax_loss: implement this (see the TODO above)")
    return loss, dx
