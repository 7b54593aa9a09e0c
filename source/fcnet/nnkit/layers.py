"""Layers of a fully-connected network, each as a forward and a backward function.

Every layer follows one pattern:

    out, cache = layer_forward(x, ...params)      # cache: whatever backward needs
    dx, ...dparams = layer_backward(dout, cache)  # dout: gradient of the loss w.r.t. out

The forward pass keeps in `cache` the values the backward pass needs, so the backward
pass never recomputes the forward one. Each gradient has the shape of the array it is
the gradient of. The two losses at the end of the file (svm_loss, softmax_loss) return
(loss, dx) directly, because they end the network.

Changing inputs in place: a forward pass must not change in place the inputs its cache
keeps for the backward pass (affine, ReLU and leaky ReLU keep theirs), nor gamma and beta,
which the network keeps among its parameters; each docstring says which inputs, and the
checks fail a function that changes one of them (nnkit.gradient_check.KEPT_INPUTS). Any
other input (x of the normalizations and dropout, an upstream gradient dout, a loss's
scores) may be changed in place: nothing reads it after the call. The arrays of the cache
a backward pass receives are what the forward pass kept, parameters among them: leave
them as they are.

Deriving the backward passes is the point of the assignment: the notebooks explain how
to check each one numerically and what the size of the error tells you.

N is the number of examples in the minibatch, D the number of input features of a
layer, M the number of its outputs and C the number of classes.
"""
import numpy as np


def affine_forward(x, w, b):
    """Forward pass of an affine (fully-connected) layer: out = x w + b.

    Each example x[i] of shape (d_1, ..., d_k) is flattened into a row of
    D = d_1 * ... * d_k numbers first, so images can be fed in directly.
    It must not change x, w or b in place: its cache keeps x, w and b for the backward pass.

    Inputs:
    - x: Array of shape (N, d_1, ..., d_k), a minibatch of N examples.
    - w: Weights, of shape (D, M).
    - b: Biases, of shape (M,).

    Returns a tuple of:
    - out: Array of shape (N, M).
    - cache: Tuple (x, w, b).
    """
    # TODO: Implement the affine forward pass: set out, of shape (N, M). Flatten each
    # example in the order x.reshape gives (row-major), so that row i of the flattened x
    # lines up with w.
    ### BEGIN SOLUTION
    x_rows = x.reshape(x.shape[0], -1)
    out = x_rows @ w + b
    ### END SOLUTION
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Backward pass of an affine layer.

    Changing dout in place is allowed: nothing reads it after the call. The arrays of the
    cache should stay as they are: w and b are the network's parameters.

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
    # TODO: Implement the affine backward pass: set dx, dw and db. dx has the shape of
    # the x that was passed to the forward pass, (N, d_1, ..., d_k), not (N, D).
    ### BEGIN SOLUTION
    x_rows = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x_rows.T @ dout
    db = dout.sum(axis=0)
    ### END SOLUTION
    return dx, dw, db


def relu_forward(x):
    """Forward pass of a layer of rectified linear units: out = max(0, x), elementwise.

    It must not change x in place: its cache keeps x for the backward pass.

    Input:
    - x: Array of any shape.

    Returns a tuple of:
    - out: Array of the same shape as x.
    - cache: x.
    """
    # TODO: Implement the ReLU forward pass: set out, a new array (np.maximum helps).
    ### BEGIN SOLUTION
    out = np.maximum(0, x)
    ### END SOLUTION
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Backward pass of a ReLU layer.

    Changing dout in place is allowed: nothing reads it after the call.

    Input:
    - dout: Upstream gradient, of any shape.
    - cache: The input x of relu_forward, of the same shape as dout.

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout.
    """
    x = cache
    # TODO: Implement the ReLU backward pass: set dx. Where an input was exactly 0, the
    # checks expect the gradient that a negative input gets.
    ### BEGIN SOLUTION
    dx = dout * (x > 0)
    ### END SOLUTION
    return dx


def leaky_relu_forward(x, alpha=0.1):
    """Forward pass of a leaky ReLU layer: out = x where x > 0, alpha * x elsewhere.

    Unlike ReLU, a leaky ReLU still passes a small gradient for negative inputs, so a
    unit stuck on the negative side can recover. It must not change x in place: its
    cache keeps x for the backward pass.

    Inputs:
    - x: Array of any shape.
    - alpha: Slope for negative inputs, a small positive scalar.

    Returns a tuple of:
    - out: Array of the same shape as x.
    - cache: Tuple (x, alpha).
    """
    # TODO: Implement the leaky ReLU forward pass: set out, a new array (np.where helps).
    ### BEGIN SOLUTION
    out = np.where(x > 0, x, alpha * x)
    ### END SOLUTION
    cache = (x, alpha)
    return out, cache


def leaky_relu_backward(dout, cache):
    """Backward pass of a leaky ReLU layer.

    Changing dout in place is allowed: nothing reads it after the call.

    Inputs:
    - dout: Upstream gradient, of any shape.
    - cache: Tuple (x, alpha) from leaky_relu_forward.

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout.
    """
    x, alpha = cache
    # TODO: Implement the leaky ReLU backward pass: set dx. As in relu_backward, an input
    # of exactly 0 counts as negative.
    ### BEGIN SOLUTION
    dx = dout * np.where(x > 0, 1.0, alpha)
    ### END SOLUTION
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass of batch normalization (Ioffe and Szegedy, 2015).

    In training mode every feature (column) is normalized to zero mean and unit
    variance with the mean and the biased variance of the minibatch (eps added to the
    variance before its square root), then scaled by gamma and shifted by beta. The
    BatchNormalization notebook states it as formulas. The layer also keeps
    exponentially decaying running averages of the batch mean and variance: each
    training call keeps the fraction `momentum` of the old average and gives the rest
    of the weight to the statistic of the current batch. Test mode normalizes with the
    running averages instead, so that a prediction for one example does not depend on
    which other examples happen to be in its batch.

    It must not change gamma or beta in place: the network keeps gamma and beta among its
    parameters. Changing x in place is allowed (the cache does not keep it). Test mode
    must leave the running averages in bn_param as they are; training mode stores the
    updated ones in bn_param.

    Inputs:
    - x: Data of shape (N, D).
    - gamma: Scale parameter, of shape (D,).
    - beta: Shift parameter, of shape (D,).
    - bn_param: Dictionary with the keys
      - mode: 'train' or 'test'; required.
      - eps: Small constant added to the variance for numeric stability. Default 1e-5.
      - momentum: Weight of the old running averages at each update. Default 0.9.
      - running_mean, running_var: Arrays of shape (D,). Created as zeros on the first
        call and replaced in this dictionary by every call in training mode.

    Returns a tuple of:
    - out: Array of shape (N, D).
    - cache: In training mode the tuple (x_hat, gamma, x_centered, std), of shapes
      (N, D), (D,), (N, D), (D,): x normalized (before gamma and beta), gamma, x minus
      its batch mean, and the per-feature standard deviation with eps included (what
      x_centered is divided by). In test mode None (no backward pass).
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
        # TODO: Implement the training-mode forward pass with the statistics of this
        # batch, per feature (over axis 0; the biased variance, as np.var computes it).
        # Set out and cache (its four entries are described in the docstring), then set
        # running_mean and running_var to their updated values, with the momentum
        # convention of the docstring.
        ### BEGIN SOLUTION
        batch_mean = x.mean(axis=0)
        x_centered = x - batch_mean
        batch_var = np.mean(x_centered**2, axis=0)
        std = np.sqrt(batch_var + eps)
        x_hat = x_centered / std
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, x_centered, std)
        running_mean = momentum * running_mean + (1 - momentum) * batch_mean
        running_var = momentum * running_var + (1 - momentum) * batch_var
        ### END SOLUTION
    else:
        cache = None  # test mode has no backward pass
        # TODO: Implement the test-mode forward pass: set out, normalizing x with
        # running_mean and running_var instead of the statistics of this batch (eps
        # added to the variance, as in training), then applying gamma and beta. Test mode
        # leaves the running averages as they are.
        ### BEGIN SOLUTION
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        ### END SOLUTION

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Backward pass of batch normalization, node by node through its computation graph.

    The BatchNormalization notebook draws the graph of the forward pass; derive the
    gradient of each node on paper before writing code. Changing dout in place is
    allowed: nothing reads it after the call. The arrays of the cache should stay as they
    are: gamma is a parameter of the network.

    Inputs:
    - dout: Upstream gradient, of shape (N, D).
    - cache: Tuple (x_hat, gamma, x_centered, std) from batchnorm_forward in train mode.

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, D).
    - dgamma: Gradient with respect to gamma, of shape (D,).
    - dbeta: Gradient with respect to beta, of shape (D,).
    """
    x_hat, gamma, x_centered, std = cache
    # TODO: Implement the batch normalization backward pass by walking the computation
    # graph of the forward pass backwards, one node at a time, using only what the cache
    # holds. Set dx, dgamma and dbeta.
    ### BEGIN SOLUTION
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    dx_centered = dx_hat / std
    dstd = -np.sum(dx_hat * x_centered, axis=0) / std**2
    dvar = dstd / (2 * std)
    dx_centered += 2 * x_centered * dvar / N
    dx = dx_centered - dx_centered.mean(axis=0)
    ### END SOLUTION
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """Backward pass of batch normalization, simplified into one expression for dx.

    Working the chain rule of batchnorm_backward out on paper collapses it into a short
    expression (the BatchNormalization notebook guides the algebra). The results agree
    with batchnorm_backward to rounding error. Changing dout in place is allowed:
    nothing reads it after the call. The arrays of the cache should stay as they are:
    gamma is a parameter of the network.

    Inputs and outputs: the same as batchnorm_backward (it takes the same cache and
    ignores x_centered).
    """
    x_hat, gamma, _, std = cache
    # TODO: Implement the simplified backward pass: set dx, dgamma and dbeta, with dx
    # computed from the expression you derived on paper (one line of numpy; it needs only
    # dout, x_hat, gamma and std).
    ### BEGIN SOLUTION
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * np.mean(dx_hat * x_hat, axis=0)) / std
    ### END SOLUTION
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """Forward pass of layer normalization (Ba, Kiros and Hinton, 2016).

    Like batch normalization, but every example is normalized with the mean and
    (biased) variance of its own D features instead of the batch statistics of every
    feature; gamma and beta still act per feature. Training and test time therefore
    behave the same and there are no running averages. It must not change gamma or beta
    in place: the network keeps gamma and beta among its parameters. Changing x in place
    is allowed (the cache does not keep it).

    Inputs:
    - x: Data of shape (N, D).
    - gamma: Scale parameter, of shape (D,).
    - beta: Shift parameter, of shape (D,).
    - ln_param: Dictionary with the key
      - eps: Small constant added to the variance for numeric stability. Default 1e-5.

    Returns a tuple of:
    - out: Array of shape (N, D).
    - cache: Tuple (x_hat, gamma, std): x normalized (before gamma and beta), of shape
      (N, D); gamma, of shape (D,); and the standard deviation of each example with eps
      included, of shape (N, 1).
    """
    eps = ln_param.get("eps", 1e-5)
    # TODO: Implement the layer normalization forward pass, with the statistics of each
    # example over its features (axis 1; keepdims=True keeps them broadcastable against
    # x). Set out and cache as the docstring describes.
    ### BEGIN SOLUTION
    mean = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - mean) / std
    out = gamma * x_hat + beta
    cache = (x_hat, gamma, std)
    ### END SOLUTION
    return out, cache


def layernorm_backward(dout, cache):
    """Backward pass of layer normalization.

    Derive it as you derived batch normalization's, minding which axis each statistic
    and each parameter runs over. Changing dout in place is allowed: nothing reads it
    after the call. The arrays of the cache should stay as they are: gamma is a parameter
    of the network.

    Inputs:
    - dout: Upstream gradient, of shape (N, D).
    - cache: Tuple (x_hat, gamma, std) from layernorm_forward.

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, D).
    - dgamma: Gradient with respect to gamma, of shape (D,).
    - dbeta: Gradient with respect to beta, of shape (D,).
    """
    x_hat, gamma, std = cache
    # TODO: Implement the layer normalization backward pass: set dx, dgamma and dbeta.
    ### BEGIN SOLUTION
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    dx = (
        dx_hat
        - dx_hat.mean(axis=1, keepdims=True)
        - x_hat * np.mean(dx_hat * x_hat, axis=1, keepdims=True)
    ) / std
    ### END SOLUTION
    return dx, dgamma, dbeta


# The generator of seeded dropout masks, seeded again at every call. Each call would draw
# the same numbers from a new np.random.RandomState(seed), but building one first gathers
# entropy from the system (about 0.3 ms), and a numeric gradient check of a network with
# dropout runs its forward pass thousands of times.
_SEEDED_MASKS = np.random.RandomState()


def dropout_forward(x, dropout_param):
    """Forward pass of inverted dropout (Srivastava et al., 2014).

    In training mode every entry of x is kept with probability p and zeroed otherwise;
    kept entries are divided by p, so the expected value of every output equals its
    input. That is what makes test mode a plain identity. Changing x in place is allowed
    (the cache does not keep it).

    Inputs:
    - x: Array of any shape.
    - dropout_param: Dictionary with the keys
      - p: Probability of KEEPING each entry, in (0, 1].
      - mode: 'train' (apply dropout) or 'test' (return x unchanged).
      - seed: Optional. If given, the mask is drawn from a np.random.RandomState seeded
        with it, so the same seed gives the same mask (needed for gradient checks) and
        numpy's global random state is left alone. Without it, the mask is drawn from
        np.random.

    Returns a tuple of:
    - out: Array of the same shape and dtype as x.
    - cache: In training mode the mask, the array (of x's shape and dtype) that x was
      multiplied by: 1 / p where an entry was kept, 0 where it was dropped. None in
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
    rng = np.random
    if "seed" in dropout_param:
        rng = _SEEDED_MASKS
        rng.seed(dropout_param["seed"])

    # TODO: Implement the dropout forward pass in both modes: set out and mask (the cache
    # described in the docstring). In 'train' mode draw the random numbers with a single
    # call rng.rand(*x.shape) and keep an entry where its number is below p, so that a
    # seed gives the masks the checks expect. In 'test' mode mask is None.
    ### BEGIN SOLUTION
    if mode == "train":
        mask = (rng.rand(*x.shape) < p).astype(x.dtype) / p
        out = x * mask
    else:
        mask = None
        out = x
    ### END SOLUTION
    cache = mask
    return out, cache


def dropout_backward(dout, cache):
    """Backward pass of inverted dropout.

    Changing dout in place is allowed: nothing reads it after the call.

    Inputs:
    - dout: Upstream gradient, of any shape.
    - cache: The mask from dropout_forward (None if it ran in test mode).

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout.
    """
    mask = cache
    # TODO: Implement the dropout backward pass: set dx, for both modes (in test mode the
    # forward pass returned x unchanged).
    ### BEGIN SOLUTION
    dx = dout if mask is None else dout * mask
    ### END SOLUTION
    return dx


def svm_loss(x, y):
    """Multiclass SVM (hinge) loss and its gradient, averaged over the minibatch.

    For example i with correct class y[i], loss_i = sum over j != y[i] of
    max(0, x[i, j] - x[i, y[i]] + 1). Changing x or y in place is allowed: nothing reads
    them after the call.

    Inputs:
    - x: Scores, of shape (N, C); x[i, j] is the score of class j for example i.
    - y: Labels, of shape (N,), with 0 <= y[i] < C.

    Returns a tuple of:
    - loss: Scalar, the mean of loss_i over the N examples.
    - dx: Gradient of loss with respect to x, of shape (N, C).
    """
    # TODO: Implement the SVM loss: set loss and dx. A margin of exactly 0 counts as not
    # violated (it contributes no gradient).
    ### BEGIN SOLUTION
    N = x.shape[0]
    rows = np.arange(N)
    margins = np.maximum(0, x - x[rows, y][:, np.newaxis] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)
    positive[rows, y] = -positive.sum(axis=1)
    dx = positive / N
    ### END SOLUTION
    return loss, dx


def softmax_loss(x, y):
    """Softmax (cross-entropy) loss and its gradient, averaged over the minibatch.

    Changing x or y in place is allowed: nothing reads them after the call.

    Inputs:
    - x: Scores, of shape (N, C); x[i, j] is the score of class j for example i.
    - y: Labels, of shape (N,), with 0 <= y[i] < C.

    Returns a tuple of:
    - loss: Scalar, the mean over the examples of -log(softmax(x[i])[y[i]]).
    - dx: Gradient of loss with respect to x, of shape (N, C).
    """
    # TODO: Implement the softmax loss: set loss and dx. It must stay finite for scores
    # of any size (np.exp overflows above about 709); subtracting a constant from a row
    # of scores does not change its softmax.
    ### BEGIN SOLUTION
    N = x.shape[0]
    rows = np.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].mean()
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= N
    ### END SOLUTION
    return loss, dx
