"""Probes: the code that exercises one part of nnkit, shared by both sides of a check.

A check runs the same probe twice on the same inputs: on the student's nnkit, in a
process of its own (see student_process.py), and on the reference nnkit, in the grader's
process. It then compares the two outputs with its own code (see framework.py).

    probe(nnkit, case, numeric) -> dict of arrays

- nnkit: a Package, which imports the modules of one nnkit on first use.
- case: dict of numpy arrays (scalars and strings as 0-d arrays), the inputs the grader drew.
- numeric: True on the student's side: also compute numeric gradients of the student's
  own forward pass, which tell whether the backward pass fits the forward pass.

This module runs inside the student's process, so it imports only numpy and the standard
library, never the rest of the autograder. A ProbeError carries a message for the student
(a function returned the wrong kind of value).
"""
import importlib

import numpy as np

# Where each student-facing function lives, for messages ("nnkit/layers.py").
MODULES = {
    "layers": "nnkit.layers",
    "layer_utils": "nnkit.layer_utils",
    "fc_net": "nnkit.classifiers.fc_net",
    "optim": "nnkit.optim",
}
# Step of the centered differences: in float64 their error is ~1e-10 relative.
NUMERIC_STEP = 1e-5

PROBES = {}


class ProbeError(Exception):
    """Student code returned something the probe cannot use; the message says what."""


class Package:
    """The modules of one nnkit, imported on first use, so that a broken fc_net.py does
    not stop the checks of layers.py."""

    def function(self, module, name):
        qualified = MODULES[module]
        found = getattr(importlib.import_module(qualified), name, None)
        if not callable(found):
            path = qualified.replace(".", "/") + ".py"
            raise ProbeError(f"{path} has no function or class named {name}")
        return found


def probe(function):
    PROBES[function.__name__] = function
    return function


# --- helpers ------------------------------------------------------------------------


def unpack(result, count, function, shape_of_result):
    """Check that a student function returned a tuple of `count` items and return it."""
    if not isinstance(result, (tuple, list)) or len(result) != count:
        got = type(result).__name__ if not isinstance(result, (tuple, list)) else f"{len(result)} values"
        raise ProbeError(f"{function} must return {shape_of_result}, but returned {got}")
    return result


def scalar(value, function, what):
    """A float from a 0-d result (a Python number or a 0-d / 1-element array)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ProbeError(f"{function}: {what} must be a number, got {type(value).__name__}") from None
    if array.size != 1:
        raise ProbeError(f"{function}: {what} must be a single number, got an array of shape {array.shape}")
    return float(array.reshape(()))


def copies(case, prefix):
    """{name: copy} for the case entries named prefix + name."""
    return {key[len(prefix):]: np.array(value) for key, value in case.items() if key.startswith(prefix)}


def numeric_gradient(f, x, dout):
    """Centered-difference gradient of sum(f(x) * dout) with respect to x (x is not changed).

    Returns None when f(x) does not have the shape of dout: a broken forward pass has its
    own check, and the check of the backward pass then compares with the reference only.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + NUMERIC_STEP
        plus = np.array(f(x.copy()), dtype=np.float64)
        x[index] = original - NUMERIC_STEP
        minus = np.array(f(x.copy()), dtype=np.float64)
        x[index] = original
        if plus.shape != np.shape(dout) or minus.shape != np.shape(dout):
            return None
        grad[index] = np.sum((plus - minus) * dout) / (2 * NUMERIC_STEP)
    return grad


def first(result, count, function, shape_of_result):
    """The first item of a tuple result, e.g. `out` of (out, cache)."""
    return unpack(result, count, function, shape_of_result)[0]


# --- layers ---------------------------------------------------------------------------


@probe
def affine_forward(nnkit, case, numeric):
    forward = nnkit.function("layers", "affine_forward")
    out = first(forward(case["x"].copy(), case["w"].copy(), case["b"].copy()), 2, "affine_forward", "(out, cache)")
    return {"out": out}


@probe
def affine_backward(nnkit, case, numeric):
    forward = nnkit.function("layers", "affine_forward")
    backward = nnkit.function("layers", "affine_backward")
    x, w, b, dout = case["x"], case["w"], case["b"], case["dout"]
    _, cache = unpack(forward(x.copy(), w.copy(), b.copy()), 2, "affine_forward", "(out, cache)")
    dx, dw, db = unpack(backward(dout.copy(), cache), 3, "affine_backward", "(dx, dw, db)")
    outputs = {"dx": dx, "dw": dw, "db": db}
    if numeric:
        out = lambda *args: first(forward(*args), 2, "affine_forward", "(out, cache)")
        outputs["numeric_dx"] = numeric_gradient(lambda v: out(v, w.copy(), b.copy()), x, dout)
        outputs["numeric_dw"] = numeric_gradient(lambda v: out(x.copy(), v, b.copy()), w, dout)
        outputs["numeric_db"] = numeric_gradient(lambda v: out(x.copy(), w.copy(), v), b, dout)
    return outputs


def _alpha_args(case):
    """Leaky ReLU's alpha: absent from the case means "use the default"."""
    return (float(case["alpha"]),) if "alpha" in case else ()


@probe
def relu_forward(nnkit, case, numeric):
    x = case["x"].copy()
    out = first(nnkit.function("layers", "relu_forward")(x), 2, "relu_forward", "(out, cache)")
    return {"out": out, "x_after": x}


@probe
def relu_backward(nnkit, case, numeric):
    forward = nnkit.function("layers", "relu_forward")
    backward = nnkit.function("layers", "relu_backward")
    x, dout = case["x"], case["dout"]
    _, cache = unpack(forward(x.copy()), 2, "relu_forward", "(out, cache)")
    outputs = {"dx": backward(dout.copy(), cache)}
    if numeric:
        outputs["numeric_dx"] = numeric_gradient(
            lambda v: first(forward(v), 2, "relu_forward", "(out, cache)"), x, dout)
    return outputs


@probe
def leaky_relu_forward(nnkit, case, numeric):
    x = case["x"].copy()
    forward = nnkit.function("layers", "leaky_relu_forward")
    out = first(forward(x, *_alpha_args(case)), 2, "leaky_relu_forward", "(out, cache)")
    return {"out": out, "x_after": x}


@probe
def leaky_relu_backward(nnkit, case, numeric):
    forward = nnkit.function("layers", "leaky_relu_forward")
    backward = nnkit.function("layers", "leaky_relu_backward")
    x, dout, alpha = case["x"], case["dout"], _alpha_args(case)
    _, cache = unpack(forward(x.copy(), *alpha), 2, "leaky_relu_forward", "(out, cache)")
    outputs = {"dx": backward(dout.copy(), cache)}
    if numeric:
        outputs["numeric_dx"] = numeric_gradient(
            lambda v: first(forward(v, *alpha), 2, "leaky_relu_forward", "(out, cache)"), x, dout)
    return outputs


def _loss_probe(nnkit, case, numeric, name):
    loss_function = nnkit.function("layers", name)
    x, y = case["x"], case["y"]
    loss, dx = unpack(loss_function(x.copy(), y.copy()), 2, name, "(loss, dx)")
    outputs = {"loss": scalar(loss, name, "loss"), "dx": dx}
    if numeric:
        just_loss = lambda v: scalar(first(loss_function(v, y.copy()), 2, name, "(loss, dx)"), name, "loss")
        outputs["numeric_dx"] = numeric_gradient(just_loss, x, np.float64(1.0))
    return outputs


@probe
def svm_loss(nnkit, case, numeric):
    return _loss_probe(nnkit, case, numeric, "svm_loss")


@probe
def softmax_loss(nnkit, case, numeric):
    return _loss_probe(nnkit, case, numeric, "softmax_loss")


def _norm_param(case, mode=None):
    """A fresh bn_param / ln_param from the case entries eps, momentum, running_*."""
    param = {} if mode is None else {"mode": mode}
    for key in ("eps", "momentum"):
        if key in case:
            param[key] = float(case[key])
    for key in ("running_mean", "running_var"):
        if key in case:
            param[key] = case[key].copy()
    return param


@probe
def batchnorm_forward_train(nnkit, case, numeric):
    """Several training steps with one bn_param: outputs and running averages of each."""
    forward = nnkit.function("layers", "batchnorm_forward")
    bn_param = _norm_param(case, "train")
    outputs = {}
    for step in range(int(case["steps"])):
        out = first(forward(case[f"x{step}"].copy(), case["gamma"].copy(), case["beta"].copy(), bn_param),
                    2, "batchnorm_forward", "(out, cache)")
        outputs[f"out{step}"] = out
        for key in ("running_mean", "running_var"):
            if key not in bn_param:
                raise ProbeError(f"batchnorm_forward (train): bn_param['{key}'] is missing after the call")
            outputs[f"{key}{step}"] = np.array(bn_param[key])
    return outputs


@probe
def batchnorm_forward_test(nnkit, case, numeric):
    forward = nnkit.function("layers", "batchnorm_forward")
    bn_param = _norm_param(case, "test")
    out = first(forward(case["x"].copy(), case["gamma"].copy(), case["beta"].copy(), bn_param),
                2, "batchnorm_forward", "(out, cache)")
    return {"out": out, "running_mean": np.array(bn_param.get("running_mean")),
            "running_var": np.array(bn_param.get("running_var"))}


def _norm_backward_probe(nnkit, case, numeric, forward_name, backward_name, mode):
    forward = nnkit.function("layers", forward_name)
    backward = nnkit.function("layers", backward_name)
    x, gamma, beta, dout = case["x"], case["gamma"], case["beta"], case["dout"]
    _, cache = unpack(forward(x.copy(), gamma.copy(), beta.copy(), _norm_param(case, mode)),
                      2, forward_name, "(out, cache)")
    dx, dgamma, dbeta = unpack(backward(dout.copy(), cache), 3, backward_name, "(dx, dgamma, dbeta)")
    outputs = {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    if numeric:
        def out(x_, gamma_, beta_):
            return first(forward(x_, gamma_, beta_, _norm_param(case, mode)), 2, forward_name, "(out, cache)")
        outputs["numeric_dx"] = numeric_gradient(lambda v: out(v, gamma.copy(), beta.copy()), x, dout)
        outputs["numeric_dgamma"] = numeric_gradient(lambda v: out(x.copy(), v, beta.copy()), gamma, dout)
        outputs["numeric_dbeta"] = numeric_gradient(lambda v: out(x.copy(), gamma.copy(), v), beta, dout)
    return outputs


@probe
def batchnorm_backward(nnkit, case, numeric):
    return _norm_backward_probe(nnkit, case, numeric, "batchnorm_forward", "batchnorm_backward", "train")


@probe
def batchnorm_backward_alt(nnkit, case, numeric):
    return _norm_backward_probe(nnkit, case, numeric, "batchnorm_forward", "batchnorm_backward_alt", "train")


@probe
def layernorm_forward(nnkit, case, numeric):
    forward = nnkit.function("layers", "layernorm_forward")
    out = first(forward(case["x"].copy(), case["gamma"].copy(), case["beta"].copy(), _norm_param(case)),
                2, "layernorm_forward", "(out, cache)")
    return {"out": out}


@probe
def layernorm_backward(nnkit, case, numeric):
    return _norm_backward_probe(nnkit, case, numeric, "layernorm_forward", "layernorm_backward", None)


def _dropout_param(case):
    param = {"mode": str(case["mode"]), "p": float(case["p"])}
    if "seed" in case:
        param["seed"] = int(case["seed"])
    return param


@probe
def dropout_forward(nnkit, case, numeric):
    forward = nnkit.function("layers", "dropout_forward")
    x = case["x"].copy()
    if "global_seed" in case:  # unseeded calls draw from np.random: make them repeatable
        np.random.seed(int(case["global_seed"]))
    out = first(forward(x, _dropout_param(case)), 2, "dropout_forward", "(out, cache)")
    return {"out": out, "out_dtype": np.array(np.asarray(out).dtype.str)}


@probe
def dropout_backward(nnkit, case, numeric):
    forward = nnkit.function("layers", "dropout_forward")
    backward = nnkit.function("layers", "dropout_backward")
    x, dout = case["x"], case["dout"]
    _, cache = unpack(forward(x.copy(), _dropout_param(case)), 2, "dropout_forward", "(out, cache)")
    outputs = {"dx": backward(dout.copy(), cache)}
    if numeric:
        outputs["numeric_dx"] = numeric_gradient(
            lambda v: first(forward(v, _dropout_param(case)), 2, "dropout_forward", "(out, cache)"), x, dout)
    return outputs


# --- networks -------------------------------------------------------------------------


def _two_layer_net(nnkit, case):
    TwoLayerNet = nnkit.function("fc_net", "TwoLayerNet")
    input_dim, hidden_dim, num_classes = (int(v) for v in case["dims"])
    return TwoLayerNet(input_dim=input_dim, hidden_dim=hidden_dim, num_classes=num_classes,
                       weight_scale=float(case["weight_scale"]), reg=float(case["reg"]))


def _fully_connected_net(nnkit, case):
    FullyConnectedNet = nnkit.function("fc_net", "FullyConnectedNet")
    normalization = str(case["normalization"]) or None
    return FullyConnectedNet(
        [int(v) for v in case["hidden_dims"]], input_dim=int(case["input_dim"]),
        num_classes=int(case["num_classes"]), dropout_keep_ratio=float(case["keep_ratio"]),
        normalization=normalization, reg=float(case["reg"]),
        weight_scale=float(case["weight_scale"]), dtype=np.float64,
        seed=int(case["seed"]) if "seed" in case else None)


def _params_of(model, where):
    params = getattr(model, "params", None)
    if not isinstance(params, dict):
        raise ProbeError(f"{where}: self.params must be a dictionary, got {type(params).__name__}")
    return params


def _initial_params(model, where):
    return {f"init/{name}": np.array(value) for name, value in _params_of(model, where).items()}


def _set_params(model, case, where):
    """Put the grader's parameters into the model (names the model lacks are added)."""
    params = _params_of(model, where)
    for name, value in copies(case, "param/").items():
        params[name] = value


def _grads(result, where):
    loss, grads = unpack(result, 2, where, "(loss, grads) when y is given")
    if not isinstance(grads, dict):
        raise ProbeError(f"{where} must return grads as a dictionary, got {type(grads).__name__}")
    outputs = {"loss": scalar(loss, where, "the loss")}
    outputs.update({f"grad/{name}": value for name, value in grads.items()})
    return outputs


@probe
def two_layer_init(nnkit, case, numeric):
    return _initial_params(_two_layer_net(nnkit, case), "TwoLayerNet.__init__")


@probe
def two_layer_scores(nnkit, case, numeric):
    model = _two_layer_net(nnkit, case)
    outputs = _initial_params(model, "TwoLayerNet.__init__")
    _set_params(model, case, "TwoLayerNet.__init__")
    outputs["scores"] = model.loss(case["X"].copy())
    return outputs


@probe
def two_layer_loss(nnkit, case, numeric):
    model = _two_layer_net(nnkit, case)
    outputs = _initial_params(model, "TwoLayerNet.__init__")
    _set_params(model, case, "TwoLayerNet.__init__")
    outputs.update(_grads(model.loss(case["X"].copy(), case["y"].copy()), "TwoLayerNet.loss"))
    return outputs


@probe
def fully_connected_net(nnkit, case, numeric):
    """Build a net, take its initial parameters, then with the grader's parameters:
    test-time scores (unless batchnorm, whose running averages start empty), the loss and
    gradients of each training batch, the running averages, and test-time scores again."""
    model = _fully_connected_net(nnkit, case)
    outputs = _initial_params(model, "FullyConnectedNet.__init__")
    _set_params(model, case, "FullyConnectedNet.__init__")
    X_test = case["X_test"]
    if str(case["normalization"]) != "batchnorm":
        outputs["scores_before"] = model.loss(X_test.copy())
    for batch in range(int(case["batches"])):
        result = _grads(model.loss(case[f"X{batch}"].copy(), case[f"y{batch}"].copy()), "FullyConnectedNet.loss")
        outputs.update({f"batch{batch}/{key}": value for key, value in result.items()})
    for layer, norm_param in enumerate(getattr(model, "norm_params", None) or [], start=1):
        for key in ("running_mean", "running_var"):
            if isinstance(norm_param, dict) and key in norm_param:
                outputs[f"{key}/{layer}"] = np.array(norm_param[key])
    outputs["scores_after"] = model.loss(X_test.copy())
    return outputs


# --- update rules ---------------------------------------------------------------------


@probe
def update_rule(nnkit, case, numeric):
    """Several updates of one parameter, feeding each returned config into the next call,
    as the Solver does. Records the weights and the rule's state after every step, and
    whether the rule changed its inputs in place."""
    name = str(case["rule"])
    rule = nnkit.function("optim", name)
    config = {key: float(value) for key, value in copies(case, "hyper/").items()}
    config.update({key: value for key, value in copies(case, "state/").items()})
    if "state_t" in case:
        config["t"] = int(case["state_t"])
    w = case["w"].copy()
    outputs = {}
    for step in range(int(case["steps"])):
        w_given, dw_given = w.copy(), case[f"dw{step}"].copy()
        result = rule(w_given, dw_given, config)
        next_w, config = unpack(result, 2, name, "(next_w, config)")
        if not isinstance(config, dict):
            raise ProbeError(f"{name} must return its config dictionary, got {type(config).__name__}")
        outputs[f"w{step}"] = np.array(next_w)
        outputs[f"changed_w{step}"] = np.array(not np.array_equal(w_given, w))
        outputs[f"changed_dw{step}"] = np.array(not np.array_equal(dw_given, case[f"dw{step}"]))
        for key in str(case["state_keys"]).split(","):
            if key in config:
                outputs[f"state{step}/{key}"] = np.array(config[key], dtype=np.float64)
        w = np.array(next_w, dtype=np.float64)
    return outputs
