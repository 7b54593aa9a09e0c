"""First-order update rules for training neural networks.

Every rule has the same interface:

    next_w, config = rule(w, dw, config=None)

Inputs:
- w: Array of any shape holding the current value of one parameter.
- dw: Array of the same shape as w holding the gradient of the loss with respect to w.
- config: Dictionary of hyperparameters (learning rate, momentum, ...) and of the state
  the rule carries from one step to the next (velocity, moving averages, step count).
  Pass None, or a dictionary holding only the hyperparameters you want to change: each
  rule fills in its defaults and creates its state on the first call.

Returns:
- next_w: Array of the same shape as w: the parameter after one update.
- config: The same dictionary that was passed in (a new one if None was passed), with
  the state updated. Pass it back on the next call for the same parameter.

A rule must not change w or dw in place: the caller still holds them after the call (the
checks fail a rule that does; nnkit.gradient_check.KEPT_INPUTS). The state in config
belongs to the rule: it may update those arrays in place or put new ones into config. The
Solver keeps one config per parameter, because the state of a rule (a velocity, a moving
average) belongs to a single parameter array.

Each rule is defined in the notebooks (FullyConnectedNets.ipynb for momentum, RMSProp and
Adam; Optimizers.ipynb for all of them) and in the paper named in its docstring.
"""
import numpy as np


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: next_w = w - learning_rate * dw.

    Inputs:
    - w: Array of any shape, the current parameter.
    - dw: Array of the same shape as w, the gradient of the loss with respect to w.
    - config: Dictionary or None. Keys:
      - learning_rate: Scalar step size. Default 1e-2.

    Returns a tuple of:
    - next_w: Array of the same shape as w.
    - config: The config dictionary (no state: sgd remembers nothing between steps).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)

    next_w = w - config["learning_rate"] * dw
    return next_w, config


def sgd_momentum(w, dw, config=None):
    """Stochastic gradient descent with momentum (Sutskever et al., 2013).

    The velocity is a decaying sum of past steps, so the update keeps moving along
    directions in which the gradient is consistent and damps directions in which it
    oscillates. It must not change w or dw in place: the caller still holds w and dw
    after the call.

    Inputs:
    - w: Array of any shape, the current parameter.
    - dw: Array of the same shape as w, the gradient of the loss with respect to w.
    - config: Dictionary or None. Keys:
      - learning_rate: Scalar step size. Default 1e-2.
      - momentum: Scalar in [0, 1); 0 turns this into plain sgd. Default 0.9.
      - velocity: Array of the same shape as w (state). Default zeros.

    Returns a tuple of:
    - next_w: Array of the same shape as w.
    - config: The config dictionary with "velocity" updated.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))

    # TODO: Implement the momentum update: set next_w, and store the new velocity in
    # config["velocity"].
    ### BEGIN SOLUTION
    velocity = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    next_w = w + velocity
    config["velocity"] = velocity
    ### END SOLUTION
    return next_w, config


def nesterov_momentum(w, dw, config=None):
    """Stochastic gradient descent with Nesterov momentum (Sutskever et al., 2013).

    Nesterov momentum evaluates the gradient at the look-ahead point, where the momentum
    is about to carry the parameter, rather than at the parameter itself. This version
    stores the look-ahead point as the parameter, so dw is already the gradient there and
    one forward/backward pass per step suffices (Optimizers.ipynb derives the update in
    this form). It must not change w or dw in place: the caller still holds w and dw
    after the call.

    Inputs:
    - w: Array of any shape, the current parameter.
    - dw: Array of the same shape as w, the gradient of the loss with respect to w.
    - config: Dictionary or None. Keys:
      - learning_rate: Scalar step size. Default 1e-2.
      - momentum: Scalar in [0, 1); 0 turns this into plain sgd. Default 0.9.
      - velocity: Array of the same shape as w (state). Default zeros.

    Returns a tuple of:
    - next_w: Array of the same shape as w.
    - config: The config dictionary with "velocity" updated.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))

    # TODO: Implement the Nesterov update in the look-ahead form of Optimizers.ipynb: set
    # next_w, and store the new velocity in config["velocity"].
    ### BEGIN SOLUTION
    velocity = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    next_w = w + config["momentum"] * velocity - config["learning_rate"] * dw
    config["velocity"] = velocity
    ### END SOLUTION
    return next_w, config


def adagrad(w, dw, config=None):
    """AdaGrad (Duchi, Hazan and Singer, 2011): a per-element step size that shrinks with
    the sum of squared gradients.

    Elements with large past gradients take small steps and rarely updated elements
    take large ones. The sum only grows, so the steps keep getting smaller. It must not
    change w or dw in place: the caller still holds w and dw after the call.

    Inputs:
    - w: Array of any shape, the current parameter.
    - dw: Array of the same shape as w, the gradient of the loss with respect to w.
    - config: Dictionary or None. Keys:
      - learning_rate: Scalar step size. Default 1e-2.
      - epsilon: Small scalar that keeps the division finite. Default 1e-8.
      - cache: Array of the same shape as w, the sum of squared gradients so far
        (state). Default zeros.

    Returns a tuple of:
    - next_w: Array of the same shape as w.
    - config: The config dictionary with "cache" updated.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))

    # TODO: Implement the AdaGrad update: set next_w, and store the new sum in
    # config["cache"]. The sum includes this step's gradient before it is used, and
    # epsilon is added to its square root, not inside it.
    ### BEGIN SOLUTION
    cache = config["cache"] + dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    ### END SOLUTION
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp (Tieleman and Hinton, 2012): like AdaGrad, but with a moving average of
    squared gradients.

    Forgetting old gradients keeps the step size from shrinking towards zero. It must
    not change w or dw in place: the caller still holds w and dw after the call.

    Inputs:
    - w: Array of any shape, the current parameter.
    - dw: Array of the same shape as w, the gradient of the loss with respect to w.
    - config: Dictionary or None. Keys:
      - learning_rate: Scalar step size. Default 1e-2.
      - decay_rate: Scalar in [0, 1), how much of the old average is kept at each
        step. Default 0.99.
      - epsilon: Small scalar that keeps the division finite. Default 1e-8.
      - cache: Array of the same shape as w, the moving average of squared gradients
        (state). Default zeros.

    Returns a tuple of:
    - next_w: Array of the same shape as w.
    - config: The config dictionary with "cache" updated.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))

    # TODO: Implement the RMSProp update: set next_w, and store the new moving average in
    # config["cache"]. decay_rate is the weight of the old average; the
    # average includes this step's gradient before it is used, and epsilon is added to
    # its square root, not inside it.
    ### BEGIN SOLUTION
    rho = config["decay_rate"]
    cache = rho * config["cache"] + (1 - rho) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    ### END SOLUTION
    return next_w, config


def adam(w, dw, config=None):
    """Adam (Kingma and Ba, 2015): momentum on the gradient combined with RMSProp's
    per-element scaling.

    Both moving averages start at zero, so early on they underestimate the true
    moments; a bias correction that depends on the step count t removes that. It must
    not change w or dw in place: the caller still holds w and dw after the call.

    Inputs:
    - w: Array of any shape, the current parameter.
    - dw: Array of the same shape as w, the gradient of the loss with respect to w.
    - config: Dictionary or None. Keys:
      - learning_rate: Scalar step size. Default 1e-3.
      - beta1: Decay rate of the moving average of the gradient. Default 0.9.
      - beta2: Decay rate of the moving average of the squared gradient.
        Default 0.999.
      - epsilon: Small scalar that keeps the division finite. Default 1e-8.
      - m: Array of the same shape as w, moving average of the gradient (state).
        Default zeros.
      - v: Array of the same shape as w, moving average of the squared gradient
        (state). Default zeros.
      - t: Number of updates done so far (state). Default 0.

    Returns a tuple of:
    - next_w: Array of the same shape as w.
    - config: The config dictionary with "m", "v" and "t" updated.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)

    # TODO: Implement the Adam update: set next_w, and store the new state in config["m"],
    # config["v"] and config["t"]. Conventions the checks use: t counts the
    # updates including this one, so advance it BEFORE the bias correction; epsilon is
    # added to the square root of the corrected v, not inside it.
    ### BEGIN SOLUTION
    beta1, beta2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    m = beta1 * config["m"] + (1 - beta1) * dw
    v = beta2 * config["v"] + (1 - beta2) * dw**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config["m"], config["v"], config["t"] = m, v, t
    ### END SOLUTION
    return next_w, config


def adabelief(w, dw, config=None):
    """AdaBelief (Zhuang et al., 2020): Adam with the squared gradient replaced by the
    squared surprise.

    Adam scales the step by a moving average of the squared gradient. AdaBelief scales
    it by a moving average s of the squared difference between the gradient and its
    predicted value m: steps are large when the gradient agrees with its recent history
    and small when it does not. (The AdaBelief paper also adds epsilon to s at every
    step; this version, like Adam, adds epsilon only in the denominator.) It must not
    change w or dw in place: the caller still holds w and dw after the call.

    Inputs:
    - w: Array of any shape, the current parameter.
    - dw: Array of the same shape as w, the gradient of the loss with respect to w.
    - config: Dictionary or None. Keys:
      - learning_rate: Scalar step size. Default 1e-3.
      - beta1: Decay rate of the moving average of the gradient. Default 0.9.
      - beta2: Decay rate of the moving average s. Default 0.999.
      - epsilon: Small scalar that keeps the division finite. Default 1e-8.
      - m: Array of the same shape as w, moving average of the gradient (state).
        Default zeros.
      - s: Array of the same shape as w, moving average of the squared difference
        between the gradient and m (state). Default zeros.
      - t: Number of updates done so far (state). Default 0.

    Returns a tuple of:
    - next_w: Array of the same shape as w.
    - config: The config dictionary with "m", "s" and "t" updated.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("s", np.zeros_like(w))
    config.setdefault("t", 0)

    # TODO: Implement the AdaBelief update: set next_w, and store the new state in
    # config["m"], config["s"] and config["t"]. Conventions the checks use:
    # s compares the gradient with this step's m (already updated), t and epsilon as in
    # adam.
    ### BEGIN SOLUTION
    beta1, beta2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    m = beta1 * config["m"] + (1 - beta1) * dw
    s = beta2 * config["s"] + (1 - beta2) * (dw - m) ** 2
    m_hat = m / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(s_hat) + config["epsilon"])
    config["m"], config["s"], config["t"] = m, s, t
    ### END SOLUTION
    return next_w, config
