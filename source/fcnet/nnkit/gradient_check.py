"""Numeric gradients by centered differences, for checking analytic backward passes.

The centered difference (f(x + h) - f(x - h)) / (2h) has an error of order h**2, far
smaller than the one-sided (f(x + h) - f(x)) / h. Compare the numeric and the analytic
gradient with rel_error: in float64, errors around 1e-7 or below mean the backward pass
is right; 1e-4 or above almost always means a bug (unless the check straddles a kink
such as ReLU at 0).

Every function here evaluates f at perturbed copies of single entries of x in place and
puts the original value back, so x is unchanged when the function returns.

Two more helpers serve the notebooks' checks: failing_layers (which parts a network is
built from do not work yet) and check_inputs_kept (whether a function left alone the
inputs it must not change in place, KEPT_INPUTS).
"""
import contextlib
import copy
import inspect
import signal
import threading

import numpy as np


def rel_error(x, y):
    """Largest elementwise relative error between x and y.

    Inputs:
    - x, y: Arrays (or scalars) of the same shape.

    Returns:
    - Scalar max |x - y| / max(1e-8, |x| + |y|); the 1e-8 floor keeps entries that are
      both (nearly) zero from dividing by zero.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numeric gradient of a scalar function at x.

    Inputs:
    - f: Function taking an array shaped like x and returning a scalar. It may ignore its
      argument and read x through another reference (for example a model's params), as
      long as that reference is the same array object.
    - x: Array of any shape; modified in place during the check, restored afterwards.
    - verbose: If True, print every index and its numeric gradient.
    - h: Step of the centered difference.

    Returns:
    - grad: Array of the same shape as x, grad[i] ~ df/dx[i].
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        f_plus, f_minus = _evaluate_around(f, x, index, h)
        grad[index] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(index, grad[index])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of an array-valued function, contracted with an upstream gradient.

    For out = f(x) and an upstream gradient df = dL/dout, this returns dL/dx, which is
    what a layer's backward pass computes from dout.

    Inputs:
    - f: Function taking an array shaped like x and returning an array shaped like df.
    - x: Array of any shape; modified in place during the check, restored afterwards.
    - df: Array shaped like f(x), the upstream gradient.
    - h: Step of the centered difference.

    Returns:
    - grad: Array of the same shape as x, grad[i] = sum(df * d f(x) / dx[i]).
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        out_plus, out_minus = _evaluate_around(f, x, index, h)
        grad[index] = np.sum((out_plus - out_minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None):
    """Compare an analytic gradient with numeric ones at a few random entries of x.

    Useful when x is too large to check every entry. Prints one line per checked entry.

    Inputs:
    - f: Function taking an array shaped like x and returning a scalar.
    - x: Array of any shape; modified in place during the check, restored afterwards.
    - analytic_grad: Array shaped like x, the gradient to check.
    - num_checks: Number of random entries to check.
    - h: Step of the centered difference.
    - seed: Seed for choosing the entries; None draws them from numpy's global RNG.

    Returns:
    - errors: List of num_checks relative errors, in the order printed.
    """
    rng = np.random if seed is None else np.random.RandomState(seed)
    errors = []
    for _ in range(num_checks):
        index = tuple(rng.randint(size) for size in x.shape)
        f_plus, f_minus = _evaluate_around(f, x, index, h)
        numeric = float((f_plus - f_minus) / (2 * h))
        analytic = analytic_grad[index]
        error = rel_error(numeric, analytic)
        errors.append(error)
        print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {error:e}")
    return errors


def _evaluate_around(f, x, index, h):
    """f at x with x[index] moved up by h, then down by h; x is restored afterwards.

    The results are copied because f may return x itself (an identity layer) or a view.
    """
    original = x[index]
    x[index] = original + h
    f_plus = np.array(f(x), copy=True)
    x[index] = original - h
    f_minus = np.array(f(x), copy=True)
    x[index] = original
    return f_plus, f_minus


# How failing_layers calls each layer: forward(*inputs) -> (out, cache), backward(dout,
# cache) -> the gradients of the inputs, in order (the trailing dictionary excepted).
_LAYER_INPUTS = {
    "affine": lambda rng: [rng.randn(3, 2, 2), rng.randn(4, 5), rng.randn(5)],
    "relu": lambda rng: [np.sign(rng.randn(4, 5)) * (0.1 + np.abs(rng.randn(4, 5)))],
    "batchnorm": lambda rng: [rng.randn(5, 4) + 3, rng.randn(4), rng.randn(4), {"mode": "train"}],
    "layernorm": lambda rng: [rng.randn(4, 5) + 3, rng.randn(5), rng.randn(5), {}],
    "dropout": lambda rng: [rng.randn(4, 5), {"mode": "train", "p": 0.7, "seed": 1}],
}

# Every part is tried on a few dozen numbers and takes milliseconds. One still running after
# this long will not return (an endless loop), and the cell asking must not wait for it.
PART_SECONDS = 1.0


class _DidNotFinish(Exception):
    pass


@contextlib.contextmanager
def _at_most(seconds):
    """Stop the code inside with _DidNotFinish after `seconds`, where Python can: in the
    main thread, on systems with interval timers (Linux and macOS: Colab and Jupyter)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise _DidNotFinish

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def failing_layers(*names, threshold=1e-6):
    """Which of the parts of nnkit a network is built from do not work yet.

    The notebooks check a network only with parts that work, so that a bug in a layer
    costs that layer's own check and not, again, every network built on it.

    Inputs:
    - names: Any of "affine", "relu", "batchnorm", "layernorm", "dropout" (forward and
      backward pass), "softmax_loss", and "fully_connected" (FullyConnectedNet without
      normalization or dropout, with regularization: what the other options build on).
    - threshold: Largest relative error accepted between gradients and the numeric
      gradients of the matching forward pass or loss, on small random inputs.

    Returns:
    - problems: Dictionary mapping each failing name to a sentence saying what failed
      (an error, no result within PART_SECONDS, gradients that do not match, or for
      softmax_loss a loss that changes when every score is shifted by 1000); empty when
      all of them work.
    """
    from . import layers

    problems = {}
    global_state = np.random.get_state()  # FullyConnectedNet draws its weights from np.random
    for name in names:
        rng = np.random.RandomState(0)
        try:
            with _at_most(PART_SECONDS):
                if name == "softmax_loss":
                    problem = _loss_problem(layers, rng, threshold)
                elif name == "fully_connected":
                    problem = _network_problem(rng, threshold)
                else:
                    problem = _layer_problem(layers, name, rng, threshold)
        except _DidNotFinish:
            problem = f"{name}: did not finish within {PART_SECONDS:g} s (does it loop forever?)"
        except Exception as exception:  # noqa: BLE001 - whatever unfinished code does
            problem = f"{name}: {type(exception).__name__}: {exception}"
        if problem:
            problems[name] = problem
    np.random.set_state(global_state)
    return problems


def _layer_problem(layers, name, rng, threshold):
    forward, backward = getattr(layers, f"{name}_forward"), getattr(layers, f"{name}_backward")
    inputs = _LAYER_INPUTS[name](rng)
    arrays = [value for value in inputs if isinstance(value, np.ndarray)]
    rest = inputs[len(arrays):]
    out, cache = forward(*[array.copy() for array in arrays], *rest)
    dout = rng.randn(*np.shape(out))
    gradients = backward(dout.copy(), cache)
    gradients = gradients if isinstance(gradients, tuple) else (gradients,)
    errors = []
    for index, (array, gradient) in enumerate(zip(arrays, gradients)):
        def out_of(value, index=index):
            given = [value if number == index else other for number, other in enumerate(arrays)]
            return forward(*[item.copy() for item in given], *rest)[0]
        errors.append(rel_error(eval_numerical_gradient_array(out_of, array.copy(), dout), gradient))
    if not max(errors) < threshold:
        return (f"{name}_backward does not match the numeric gradient of {name}_forward "
                f"(relative error {max(errors):.1e})")
    return None


def _loss_problem(layers, rng, threshold):
    x, y = rng.randn(4, 5), rng.randint(5, size=4)
    loss, dx = layers.softmax_loss(x.copy(), y)
    shifted, _ = layers.softmax_loss(x + 1000, y)
    if not np.isfinite(shifted) or abs(shifted - loss) > 1e-6 * max(1.0, abs(loss)):
        return f"softmax_loss gives {shifted} for scores shifted by 1000, but {loss:.6f} for the same scores unshifted"
    error = rel_error(eval_numerical_gradient(lambda value: layers.softmax_loss(value.copy(), y)[0], x.copy(),
                                              verbose=False), dx)
    if not error < threshold:
        return f"softmax_loss: dx does not match the numeric gradient of the loss (relative error {error:.1e})"
    return None


def _network_problem(rng, threshold):
    from .classifiers.fc_net import FullyConnectedNet

    X, y = rng.randn(3, 5), rng.randint(3, size=3)
    model = FullyConnectedNet([4, 3], input_dim=5, num_classes=3, reg=3.14, weight_scale=0.5, dtype=np.float64)
    model.params = {name: rng.randn(*np.shape(value)) for name, value in model.params.items()}
    _, grads = model.loss(X.copy(), y.copy())
    errors = {name: rel_error(eval_numerical_gradient(lambda _: model.loss(X.copy(), y.copy())[0], value,
                                                      verbose=False), grads[name])
              for name, value in model.params.items()}
    worst = max(errors, key=errors.get)
    if not errors[worst] < threshold:
        return (f"FullyConnectedNet (no normalization, reg = 3.14): grads['{worst}'] does not match the numeric "
                f"gradient of its loss (relative error {errors[worst]:.1e})")
    return None


# --- inputs a function must leave as they were ------------------------------------------
# Why an input must still hold its values after the call. The notebooks' checks and the
# hidden checks (autograder/checks/framework.py) read this one table and fail a function
# that changes one of these inputs in place, with the same message. Changing any other
# input in place costs nothing, because nothing in nnkit reads it after the call.
CACHED = "its cache keeps {names} for the backward pass"
PARAMETERS = "the network keeps {names} among its parameters"
CALLER_OWNS = "the caller still holds {names} after the call"

KEPT_INPUTS = {
    "affine_forward": (("x", "w", "b"), CACHED),
    "relu_forward": (("x",), CACHED),
    "leaky_relu_forward": (("x",), CACHED),
    "batchnorm_forward": (("gamma", "beta"), PARAMETERS),
    "layernorm_forward": (("gamma", "beta"), PARAMETERS),
    **{rule: (("w", "dw"), CALLER_OWNS) for rule in
       ("sgd_momentum", "nesterov_momentum", "adagrad", "rmsprop", "adam", "adabelief")},
}


def changed_in_place_message(function, name, inputs=""):
    """What a check says when `function` (a name in KEPT_INPUTS) changed its input `name`
    in place; `inputs`, when given, describes the inputs it was called with."""
    _, reason = KEPT_INPUTS[function]
    called_with = f" (for {inputs})" if inputs else ""
    return (f"{function} changed its input {name} in place{called_with}, but "
            f"{reason.format(names=name)}: compute new arrays instead (not {name} -= ..., "
            f"{name}[...] = ... or out={name})")


def check_inputs_kept(function, *args, **kwargs):
    """Call function on copies of the given arguments and fail when it changed in place
    an input that KEPT_INPUTS says it must leave alone (as its docstring says too).

    Inputs:
    - function: One of the functions named in KEPT_INPUTS, e.g. nnkit.layers.affine_forward.
    - args, kwargs: Its arguments, as you would pass them; they are copied, never changed.

    Returns:
    - What function returned.

    Raises an AssertionError with the message of the hidden check when a kept input changed.
    """
    kept, _ = KEPT_INPUTS[function.__name__]
    signature = inspect.signature(function)
    given = signature.bind(*args, **kwargs).arguments
    call = signature.bind(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    result = function(*call.args, **call.kwargs)
    for name in kept:
        if name in given and not np.array_equal(call.arguments[name], given[name], equal_nan=True):
            raise AssertionError(changed_in_place_message(function.__name__, name))
    return result
