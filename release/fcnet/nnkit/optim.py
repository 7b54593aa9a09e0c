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

The rules never modify w or dw in place, and state arrays never share memory with w or
dw. The Solver keeps one config per parameter, because the state of a rule (a velocity,
a moving average) belongs to a single parameter array.
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
    """Stochastic gradient descent with momentum.

    The velocity is a decaying sum of past steps, so the update keeps moving along
    directions in which the gradient is consistent and damps directions in which it
    oscillates.

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

    # TODO: Implement the momentum update. With mu = config["momentum"],
    # lr = config["learning_rate"] and v = config["velocity"], compute
    #     v_new  = mu * v - lr * dw
    #     next_w = w + v_new
    # and store v_new in config["velocity"]. Build new arrays (no in-place updates
    # such as `w += ...`): the caller still owns w, dw and the old velocity.
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("sgd_momentum: implement this (see the TODO above)")
    return next_w, config


def nesterov_momentum(w, dw, config=None):
    """Stochastic gradient descent with Nesterov momentum, in its lookahead-free form.

    Nesterov momentum evaluates the gradient at the lookahead point w + mu * v rather
    than at w. Storing the lookahead point itself as the parameter removes the need for
    a second forward/backward pass: dw is then already the lookahead gradient, and the
    update becomes (mu = momentum, lr = learning_rate, v = velocity)

        v_new  = mu * v - lr * dw
        next_w = w + mu * v_new - lr * dw

    which is the same as next_w = w - mu * v + (1 + mu) * v_new.

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

    # TODO: Implement the Nesterov update. With mu = config["momentum"],
    # lr = config["learning_rate"] and v = config["velocity"], compute
    #     v_new  = mu * v - lr * dw
    #     next_w = w + mu * v_new - lr * dw
    # and store v_new in config["velocity"]. Build new arrays (no in-place updates).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("nesterov_momentum: implement this (see the TODO above)")
    return next_w, config


def adagrad(w, dw, config=None):
    """AdaGrad: a per-element step size that shrinks with the sum of squared gradients.

    Elements with large past gradients take small steps and rarely updated elements
    take large ones. The sum only grows, so the steps keep getting smaller.

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

    # TODO: Implement the AdaGrad update. With lr = config["learning_rate"],
    # eps = config["epsilon"] and cache = config["cache"], compute
    #     cache_new = cache + dw**2
    #     next_w    = w - lr * dw / (sqrt(cache_new) + eps)
    # and store cache_new in config["cache"]. Build new arrays (no in-place updates).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("adagrad: implement this (see the TODO above)")
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp: like AdaGrad, but with a moving average of squared gradients.

    Forgetting old gradients keeps the step size from shrinking towards zero.

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

    # TODO: Implement the RMSProp update. With lr = config["learning_rate"],
    # rho = config["decay_rate"], eps = config["epsilon"] and cache = config["cache"],
    # compute
    #     cache_new = rho * cache + (1 - rho) * dw**2
    #     next_w    = w - lr * dw / (sqrt(cache_new) + eps)
    # and store cache_new in config["cache"]. Build new arrays (no in-place updates).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("rmsprop: implement this (see the TODO above)")
    return next_w, config


def adam(w, dw, config=None):
    """Adam: momentum on the gradient combined with RMSProp's per-element scaling.

    Both moving averages start at zero, so early on they underestimate the true
    moments; dividing by (1 - beta**t) removes that bias.

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

    # TODO: Implement the Adam update. With lr = config["learning_rate"],
    # b1 = config["beta1"], b2 = config["beta2"], eps = config["epsilon"], and the
    # state m = config["m"], v = config["v"], t = config["t"], compute
    #     t_new  = t + 1                       (advance t BEFORE the bias correction)
    #     m_new  = b1 * m + (1 - b1) * dw
    #     v_new  = b2 * v + (1 - b2) * dw**2
    #     m_hat  = m_new / (1 - b1**t_new)
    #     v_hat  = v_new / (1 - b2**t_new)
    #     next_w = w - lr * m_hat / (sqrt(v_hat) + eps)
    # and store m_new, v_new, t_new in config["m"], config["v"], config["t"].
    # Build new arrays (no in-place updates).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("adam: implement this (see the TODO above)")
    return next_w, config


def adabelief(w, dw, config=None):
    """AdaBelief: Adam with the squared gradient replaced by the squared surprise.

    Adam scales the step by the moving average of dw**2. AdaBelief scales it by the
    moving average s of (dw - m)**2, how far the gradient lands from its predicted
    value m: steps are large when the gradient agrees with its recent history and
    small when it does not. (The AdaBelief paper also adds epsilon to s at every step;
    this version, like Adam, adds epsilon only in the denominator.)

    Inputs:
    - w: Array of any shape, the current parameter.
    - dw: Array of the same shape as w, the gradient of the loss with respect to w.
    - config: Dictionary or None. Keys:
      - learning_rate: Scalar step size. Default 1e-3.
      - beta1: Decay rate of the moving average of the gradient. Default 0.9.
      - beta2: Decay rate of the moving average of (dw - m)**2. Default 0.999.
      - epsilon: Small scalar that keeps the division finite. Default 1e-8.
      - m: Array of the same shape as w, moving average of the gradient (state).
        Default zeros.
      - s: Array of the same shape as w, moving average of (dw - m)**2 (state).
        Default zeros.
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

    # TODO: Implement the AdaBelief update. With lr = config["learning_rate"],
    # b1 = config["beta1"], b2 = config["beta2"], eps = config["epsilon"], and the
    # state m = config["m"], s = config["s"], t = config["t"], compute
    #     t_new  = t + 1                       (advance t BEFORE the bias correction)
    #     m_new  = b1 * m + (1 - b1) * dw
    #     s_new  = b2 * s + (1 - b2) * (dw - m_new)**2     (note: the NEW m)
    #     m_hat  = m_new / (1 - b1**t_new)
    #     s_hat  = s_new / (1 - b2**t_new)
    #     next_w = w - lr * m_hat / (sqrt(s_hat) + eps)
    # and store m_new, s_new, t_new in config["m"], config["s"], config["t"].
    # Build new arrays (no in-place updates).
    # TODO: your code goes here, in place of the raise below.
    raise NotImplementedError("adabelief: implement this (see the TODO above)")
    return next_w, config
