"""Probes: the code that exercises one part of nnkit, shared by both sides of a check.

A check runs the same probe twice on the same inputs: on the student's nnkit, in a
process of its own (see student_process.py), and on the reference nnkit, in the grader's
process. It then compares the two outputs with its own code (see framework.py).

    probe(nnkit, case, numeric) -> dict of arrays

- nnkit: a Package, which imports the modules of one nnkit on first use.
- case: dict of numpy arrays (scalars and strings as 0-d arrays), the inputs the grader drew.
- numeric: True on the student's side: also compute numeric gradients of the student's
  own forward pass, which tell whether the backward pass fits the forward pass.

A check of a network runs the student's fc_net with the grader's layers (see
Package(layer_channel=...) below and layer_server.py), so that a bug already charged in a
layer's cell is not charged again in every network cell.

This module runs inside the student's process, so it imports only numpy and the standard
library, never the rest of the autograder, and holds no reference code. A ProbeError
carries a message for the student (a function returned the wrong kind of value).
"""
import copy
import importlib
import inspect
import sys
import types
from dataclasses import dataclass

import numpy as np

# Where each student-facing function lives, for messages ("nnkit/layers.py").
MODULES = {
    "layers": "nnkit.layers",
    "layer_utils": "nnkit.layer_utils",
    "fc_net": "nnkit.classifiers.fc_net",
    "optim": "nnkit.optim",
    "solver": "nnkit.solver",
}
# Step of the centered differences: in float64 their error is ~1e-10 relative.
NUMERIC_STEP = 1e-5

PROBES = {}


class ProbeError(Exception):
    """Student code returned something the probe cannot use; the message says what."""


# --- the grader's layers, for the checks of networks --------------------------------------


@dataclass(frozen=True)
class LayerCall:
    """How a function of nnkit.layers is called, for serving it from the grader.

    - arguments: its parameters in order; "cache" is the cache of `forward`, a dictionary
      parameter is named by `param` (the layer reads it and may update it in place).
    - kind: "forward" returns (out, cache), "backward" (dout, cache) returns `returns`
      gradients (one: the array itself), "loss" returns (loss, dx).
    - optional: parameters that may be left out (the layer's own default applies).
    """
    arguments: tuple
    kind: str
    optional: tuple = ()
    param: str = ""
    returns: int = 1
    forward: str = ""


LAYER_CALLS = {
    "affine_forward": LayerCall(("x", "w", "b"), "forward"),
    "affine_backward": LayerCall(("dout", "cache"), "backward", returns=3, forward="affine_forward"),
    "relu_forward": LayerCall(("x",), "forward"),
    "relu_backward": LayerCall(("dout", "cache"), "backward", forward="relu_forward"),
    "leaky_relu_forward": LayerCall(("x", "alpha"), "forward", optional=("alpha",)),
    "leaky_relu_backward": LayerCall(("dout", "cache"), "backward", forward="leaky_relu_forward"),
    "batchnorm_forward": LayerCall(("x", "gamma", "beta", "bn_param"), "forward", param="bn_param"),
    "batchnorm_backward": LayerCall(("dout", "cache"), "backward", returns=3, forward="batchnorm_forward"),
    "batchnorm_backward_alt": LayerCall(("dout", "cache"), "backward", returns=3,
                                        forward="batchnorm_forward"),
    "layernorm_forward": LayerCall(("x", "gamma", "beta", "ln_param"), "forward", param="ln_param"),
    "layernorm_backward": LayerCall(("dout", "cache"), "backward", returns=3, forward="layernorm_forward"),
    "dropout_forward": LayerCall(("x", "dropout_param"), "forward", param="dropout_param"),
    "dropout_backward": LayerCall(("dout", "cache"), "backward", forward="dropout_forward"),
    "svm_loss": LayerCall(("x", "y"), "loss"),
    "softmax_loss": LayerCall(("x", "y"), "loss"),
}
# The entries of bn_param, ln_param and dropout_param a layer reads.
PARAM_KEYS = ("mode", "p", "seed", "eps", "momentum", "running_mean", "running_var")
_LEFT_OUT = inspect.Parameter.empty


class ReferenceCache:
    """The cache of one of the grader's layers. The grader keeps what is in it; only the
    matching backward function reads it."""
    __slots__ = ("handle", "layer")

    def __init__(self, handle, layer):
        self.handle, self.layer = handle, layer

    def __repr__(self):
        return f"<cache of {self.layer}, kept by the grader>"

    def __bool__(self):
        return True

    def _opaque(self, *args):
        raise TypeError(f"the network looked inside the cache of {self.layer}; this check runs your network "
                        f"with the grader's {self.layer}, whose cache only the matching backward function "
                        "reads: hand each cache on unchanged")

    __iter__ = __getitem__ = __len__ = _opaque


class Package:
    """The modules of one nnkit, imported on first use, so that a broken fc_net.py does
    not stop the checks of layers.py.

    With a layer_channel (student side, checks of networks), every function of
    nnkit.layers that the networks reach is replaced, before fc_net is imported, by a
    stand-in that sends its inputs to the grader and returns what the grader's layer
    computed (caches stay with the grader, as ReferenceCache handles). The student's
    layers.py is still imported (fc_net may use helpers of its own from it), but when it
    does not import at all the networks get a module holding only the stand-ins.
    """

    def __init__(self, layer_channel=None):
        self._channel = layer_channel
        self._replaced = None

    def function(self, module, name):
        if self._channel is not None and module != "layers":
            self._use_reference_layers()
        qualified = MODULES[module]
        found = getattr(importlib.import_module(qualified), name, None)
        if self._replaced:
            _replace_everywhere(self._replaced)
        if not callable(found):
            path = qualified.replace(".", "/") + ".py"
            raise ProbeError(f"{path} has no function or class named {name}")
        return found

    def _use_reference_layers(self):
        if self._replaced is not None:
            return
        package = importlib.import_module("nnkit")
        try:
            layers = importlib.import_module("nnkit.layers")
        except Exception:  # noqa: BLE001 - layers.py is charged in its own cells, not here
            layers = types.ModuleType("nnkit.layers", "stand-in: the submitted layers.py does not import")
            sys.modules["nnkit.layers"] = layers
            package.layers = layers
        self._replaced = {}
        for name, call in LAYER_CALLS.items():
            stand_in = _reference_layer(self._channel, name, call)
            original = getattr(layers, name, None)
            if original is not None:
                self._replaced[id(original)] = (original, stand_in)
            setattr(layers, name, stand_in)


def _replace_everywhere(replaced):
    """Swap the student's layer functions for the stand-ins wherever an nnkit module kept
    them before they were replaced: module attributes, and the items of the dictionaries,
    lists and tuples they hold (such as a table of activations), a few levels deep."""
    for module_name, module in list(sys.modules.items()):
        if module_name == "nnkit" or module_name.startswith("nnkit."):
            for attribute, value in list(vars(module).items()):
                if not attribute.startswith("__"):
                    setattr(module, attribute, _swapped(value, replaced))


def _swapped(value, replaced, depth=3):
    if id(value) in replaced and replaced[id(value)][0] is value:
        return replaced[id(value)][1]
    if depth == 0:
        return value
    if isinstance(value, dict):
        for key, item in list(value.items()):
            value[key] = _swapped(item, replaced, depth - 1)
    elif isinstance(value, list):
        value[:] = [_swapped(item, replaced, depth - 1) for item in value]
    elif type(value) is tuple:
        return tuple(_swapped(item, replaced, depth - 1) for item in value)
    return value


def _reference_layer(channel, name, call):
    """A function with the signature of nnkit.layers.<name> that has the grader compute it."""
    signature = inspect.Signature([
        inspect.Parameter(argument, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=None if argument in call.optional else _LEFT_OUT)
        for argument in call.arguments])

    def layer(*args, **kwargs):
        arguments = signature.bind(*args, **kwargs).arguments
        arrays = {}
        for argument, value in arguments.items():
            if argument == "cache":
                if not isinstance(value, ReferenceCache):
                    raise TypeError(f"{name} was given a cache that {call.forward} did not return; this check "
                                    f"runs your network with the grader's layers: hand on the cache of "
                                    f"{call.forward} unchanged")
                arrays["handle"] = np.array(value.handle)
            elif argument == call.param:
                if not isinstance(value, dict):
                    raise TypeError(f"{name}: {argument} must be a dictionary, got {type(value).__name__}")
                arrays.update({f"param/{key}": _plain_array(name, f"{argument}[{key!r}]", value[key])
                               for key in PARAM_KEYS if key in value})
            elif not (argument in call.optional and value is None):
                arrays[f"arg/{argument}"] = _plain_array(name, argument, value)
        reply = channel.call(name, arrays)
        if call.param:
            arguments[call.param].update({key[len("param/"):]: value for key, value in reply.items()
                                          if key.startswith("param/")})
        if call.kind == "forward":
            return reply["out"], ReferenceCache(int(reply["handle"]), name)
        if call.kind == "loss":
            return reply["loss"][()], reply["dx"]
        gradients = tuple(reply[f"grad/{number}"] for number in range(call.returns))
        return gradients if call.returns > 1 else gradients[0]

    layer.__name__ = layer.__qualname__ = name
    layer.__signature__ = signature
    layer.__doc__ = f"The grader's {name}, which this check runs your network with."
    return layer


def _plain_array(function, what, value):
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything the student's code passes
        array = None
    if array is None or array.dtype.kind not in "biufU":
        raise TypeError(f"{function}: {what} must be a number or a numpy array of numbers, "
                        f"got {type(value).__name__}")
    return array


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
# The first call of the function a probe is about records which of its array inputs it
# changed in place ("changed": names joined by commas); that function's own check judges it.


def tracked(function, inputs, *more):
    """function(*copies of the named inputs, *more), and the names of the inputs it changed
    in place, as a 0-d string array "x,w" ("" when none)."""
    given = [np.array(value) for _, value in inputs]
    result = function(*given, *more)
    changed = [name for (name, original), now in zip(inputs, given)
               if not np.array_equal(now, original, equal_nan=True)]
    return result, np.array(",".join(changed))


@probe
def affine_forward(nnkit, case, numeric):
    forward = nnkit.function("layers", "affine_forward")
    result, changed = tracked(forward, [("x", case["x"]), ("w", case["w"]), ("b", case["b"])])
    return {"out": first(result, 2, "affine_forward", "(out, cache)"), "changed": changed}


@probe
def affine_backward(nnkit, case, numeric):
    forward = nnkit.function("layers", "affine_forward")
    backward = nnkit.function("layers", "affine_backward")
    x, w, b, dout = case["x"], case["w"], case["b"], case["dout"]
    forward_out, cache = unpack(forward(x.copy(), w.copy(), b.copy()), 2, "affine_forward", "(out, cache)")
    result, changed = tracked(backward, [("dout", dout)], cache)
    dx, dw, db = unpack(result, 3, "affine_backward", "(dx, dw, db)")
    outputs = {"dx": dx, "dw": dw, "db": db, "changed": changed, "forward_out": forward_out}
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
    result, changed = tracked(nnkit.function("layers", "relu_forward"), [("x", case["x"])])
    return {"out": first(result, 2, "relu_forward", "(out, cache)"), "changed": changed}


def _activation_backward(nnkit, case, numeric, name, more=()):
    forward = nnkit.function("layers", f"{name}_forward")
    backward = nnkit.function("layers", f"{name}_backward")
    x, dout = case["x"], case["dout"]
    forward_out, cache = unpack(forward(x.copy(), *more), 2, f"{name}_forward", "(out, cache)")
    dx, changed = tracked(backward, [("dout", dout)], cache)
    outputs = {"dx": dx, "changed": changed, "forward_out": forward_out}
    if numeric:
        outputs["numeric_dx"] = numeric_gradient(
            lambda v: first(forward(v, *more), 2, f"{name}_forward", "(out, cache)"), x, dout)
    return outputs


@probe
def relu_backward(nnkit, case, numeric):
    return _activation_backward(nnkit, case, numeric, "relu")


@probe
def leaky_relu_forward(nnkit, case, numeric):
    forward = nnkit.function("layers", "leaky_relu_forward")
    result, changed = tracked(forward, [("x", case["x"])], *_alpha_args(case))
    return {"out": first(result, 2, "leaky_relu_forward", "(out, cache)"), "changed": changed}


@probe
def leaky_relu_backward(nnkit, case, numeric):
    return _activation_backward(nnkit, case, numeric, "leaky_relu", _alpha_args(case))


def _loss_probe(nnkit, case, numeric, name):
    loss_function = nnkit.function("layers", name)
    x, y = case["x"], case["y"]
    result, changed = tracked(loss_function, [("x", x), ("y", y)])
    loss, dx = unpack(result, 2, name, "(loss, dx)")
    outputs = {"loss": scalar(loss, name, "loss"), "dx": dx, "changed": changed}
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


def _norm_inputs(case, x_key="x"):
    return [("x", case[x_key]), ("gamma", case["gamma"]), ("beta", case["beta"])]


@probe
def batchnorm_forward_train(nnkit, case, numeric):
    """Several training steps with one bn_param: outputs and running averages of each."""
    forward = nnkit.function("layers", "batchnorm_forward")
    bn_param = _norm_param(case, "train")
    outputs = {}
    for step in range(int(case["steps"])):
        result, changed = tracked(forward, _norm_inputs(case, f"x{step}"), bn_param)
        outputs[f"out{step}"] = first(result, 2, "batchnorm_forward", "(out, cache)")
        outputs.setdefault("changed", changed)
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
    forward_out, cache = unpack(forward(x.copy(), gamma.copy(), beta.copy(), _norm_param(case, mode)),
                                2, forward_name, "(out, cache)")
    result, changed = tracked(backward, [("dout", dout)], cache)
    dx, dgamma, dbeta = unpack(result, 3, backward_name, "(dx, dgamma, dbeta)")
    outputs = {"dx": dx, "dgamma": dgamma, "dbeta": dbeta, "changed": changed, "forward_out": forward_out}
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
    result, changed = tracked(forward, _norm_inputs(case), _norm_param(case))
    return {"out": first(result, 2, "layernorm_forward", "(out, cache)"), "changed": changed}


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
    if "global_seed" in case:  # unseeded calls draw from np.random: make them repeatable
        np.random.seed(int(case["global_seed"]))
    result, changed = tracked(forward, [("x", case["x"])], _dropout_param(case))
    out = first(result, 2, "dropout_forward", "(out, cache)")
    return {"out": out, "out_dtype": np.array(np.asarray(out).dtype.str), "changed": changed}


@probe
def dropout_backward(nnkit, case, numeric):
    forward = nnkit.function("layers", "dropout_forward")
    backward = nnkit.function("layers", "dropout_backward")
    x, dout = case["x"], case["dout"]
    forward_out, cache = unpack(forward(x.copy(), _dropout_param(case)), 2, "dropout_forward", "(out, cache)")
    dx, changed = tracked(backward, [("dout", dout)], cache)
    outputs = {"dx": dx, "changed": changed, "forward_out": forward_out}
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


def _rule_config(case):
    config = {key: float(value) for key, value in copies(case, "hyper/").items()}
    config.update({key: value for key, value in copies(case, "state/").items()})
    if "state_t" in case:
        config["t"] = int(case["state_t"])
    return config


def _next(result, name):
    next_w, config = unpack(result, 2, name, "(next_w, config)")
    if not isinstance(config, dict):
        raise ProbeError(f"{name} must return its config dictionary, got {type(config).__name__}")
    return next_w, config


@probe
def update_rule(nnkit, case, numeric):
    """Several updates of one parameter, feeding each returned config into the next call,
    as the Solver does. Records the weights and the rule's state after every step, and
    which of w and dw the rule changed in place."""
    name = str(case["rule"])
    rule = nnkit.function("optim", name)
    config = _rule_config(case)
    w = case["w"].copy()
    outputs = {"changed": np.array("")}
    for step in range(int(case["steps"])):
        result, changed = tracked(rule, [("w", w), ("dw", case[f"dw{step}"])], config)
        next_w, config = _next(result, name)
        if str(changed) and not str(outputs["changed"]):
            outputs["changed"] = changed
        outputs[f"w{step}"] = np.array(next_w)
        for key in str(case["state_keys"]).split(","):
            if key in config:
                outputs[f"state{step}/{key}"] = np.array(config[key], dtype=np.float64)
        w = np.array(next_w, dtype=np.float64)
    return outputs


class _Bowl:
    """A stand-in model for the Solver: parameters W (D, C) and b (C,), and a loss that is a
    bowl around a target in each parameter, whatever the data (so every parameter's
    gradient depends on that parameter only). Test-time scores are X W + b. Records the
    parameters at every training call, i.e. before every update."""

    def __init__(self, case):
        self.params = {"W": case["W"].copy(), "b": case["b"].copy()}
        self.target = {"W": case["W_target"], "b": case["b_target"]}
        self.curvature = {"W": case["W_curvature"], "b": case["b_curvature"]}
        self.seen = []

    def gradient(self, name, value):
        return self.curvature[name] * (value - self.target[name])

    def loss(self, X, y=None):
        if y is None:
            return X.reshape(len(X), -1) @ self.params["W"] + self.params["b"]
        self.seen.append({name: np.array(value) for name, value in self.params.items()})
        loss = sum(0.5 * np.sum(self.curvature[name] * (value - self.target[name]) ** 2)
                   for name, value in self.params.items())
        return loss, {name: self.gradient(name, value) for name, value in self.params.items()}


@probe
def update_rule_in_solver(nnkit, case, numeric):
    """The rule (by name) driving the Solver on a _Bowl, with learning-rate decay; then the
    same updates made by calling the rule by hand, one config per parameter. Records the
    parameters after every update both ways, for the check to compare."""
    name = str(case["rule"])
    Solver = nnkit.function("solver", "Solver")
    rule = nnkit.function("optim", name)
    optim_config = {key: float(value) for key, value in copies(case, "hyper/").items()}
    model = _Bowl(case)
    data = {"X_train": case["X"], "y_train": case["y"], "X_val": case["X"], "y_val": case["y"]}
    solver = Solver(model, data, update_rule=name, optim_config=copy.deepcopy(optim_config),
                    lr_decay=float(case["lr_decay"]), batch_size=int(case["batch_size"]),
                    num_epochs=int(case["epochs"]), verbose=False)
    solver.train()
    steps_per_epoch = max(len(case["X"]) // int(case["batch_size"]), 1)
    outputs = {}
    for name_of_param, start in (("W", case["W"]), ("b", case["b"])):
        w, config = start.copy(), copy.deepcopy(optim_config)
        for step in range(1, len(model.seen)):
            if (step - 1) > 0 and (step - 1) % steps_per_epoch == 0:
                config["learning_rate"] *= float(case["lr_decay"])
            w, config = _next(rule(w, model.gradient(name_of_param, w), config), name)
            outputs[f"by_hand{step}/{name_of_param}"] = np.array(w)
            outputs[f"solver{step}/{name_of_param}"] = model.seen[step][name_of_param]
    return outputs
