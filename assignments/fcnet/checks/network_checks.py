"""Hidden checks of nnkit/classifiers/fc_net.py: TwoLayerNet and FullyConnectedNet.

Each check grades the network code alone: the student's fc_net.py runs with the grader's
layers (layer_server.py), so a bug in layers.py costs the cells of that layer and not
every network built on it, and a layers.py that does not even import costs no network
cell. Both sides build the network with the same arguments, then get the same parameters
(drawn here and passed in), so scores, losses, regularization, gradients, batchnorm
running averages and seeded dropout must agree with the reference. Initialization is
checked by its properties (names, shapes, zero biases, unit gammas, weight statistics)."""
import numpy as np

from autograder.checks.framework import check
from .layer_checks import BACKWARD, FORWARD
from .layer_server import ReferenceLayers

# With the same layers on both sides, a correct network differs from the reference only by
# its own rounding (~1e-14). It may differ by as much as its layers' checks let a layer
# differ (e.g. a loss of its own, written like an accepted softmax_loss), no more.
NETWORK = max(FORWARD, BACKWARD)


def _draw_params(rng, layer_sizes, normalization):
    """Parameters of a net with these layer sizes, scaled so that activations stay O(1)."""
    params = {}
    last = len(layer_sizes) - 1
    for layer in range(1, last + 1):
        fan_in, fan_out = layer_sizes[layer - 1], layer_sizes[layer]
        params[f"W{layer}"] = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        params[f"b{layer}"] = 0.1 * rng.standard_normal(fan_out)
        if normalization and layer < last:
            params[f"gamma{layer}"] = rng.uniform(0.5, 1.5, fan_out)
            params[f"beta{layer}"] = 0.1 * rng.standard_normal(fan_out)
    return params


def _data(rng, num_inputs, input_shape, num_classes):
    return rng.standard_normal((num_inputs, *input_shape)), rng.integers(num_classes, size=num_inputs)


def _with_params(case, params):
    case.update({f"param/{name}": value for name, value in params.items()})
    return case


def _initial(outputs):
    return {key[len("init/"):]: value for key, value in outputs.items() if key.startswith("init/")}


def _check_initialization(ctx, where, mine, correct, weight_scale, inputs, checked=lambda name: True):
    """Names as the reference's (the checks of loss() set the parameters by name); then, of
    the parameters `checked` selects, shapes, zero biases and betas, unit gammas, and weights
    with mean ~0 and standard deviation ~weight_scale. Returns False when the names differ."""
    mine, correct = _initial(mine), _initial(correct)
    if set(mine) != set(correct):
        ctx.fail(f"{where}: self.params has the keys {sorted(mine)}, but must have exactly {sorted(correct)} "
                 f"(for {inputs})")
        return False
    weights = []
    for name in sorted(filter(checked, correct)):
        value = np.asarray(mine[name])
        if value.shape != correct[name].shape:
            ctx.fail(f"{where}: params['{name}'] has shape {value.shape}, but must have shape "
                     f"{correct[name].shape} (for {inputs})")
        elif name.startswith(("b", "beta")) and np.any(value != 0):
            ctx.fail(f"{where}: params['{name}'] must start at zero (for {inputs})")
        elif name.startswith("gamma") and np.any(value != 1):
            ctx.fail(f"{where}: params['{name}'] must start at one (for {inputs})")
        elif name.startswith("W"):
            weights.append(value.ravel() / weight_scale)
    if weights:
        standardized = np.concatenate(weights)
        size = standardized.size
        std, mean = float(np.std(standardized)), float(np.mean(standardized))
        if abs(std - 1) > 0.05 + 5 / np.sqrt(2 * size) or abs(mean) > 5 / np.sqrt(size):
            ctx.fail(f"{where}: the initial weights have mean {mean * weight_scale:.1e} and standard deviation "
                     f"{std * weight_scale:.1e}, but must be drawn from a normal distribution with mean 0 and "
                     f"standard deviation weight_scale = {weight_scale:.0e} (for {inputs})")
    return True


def _compare_outputs(ctx, cls, mine, correct, inputs, keys):
    """Compare the probe outputs named by `keys` (reference key -> description)."""
    for key, what in keys:
        if key not in mine:
            ctx.fail(f"{cls}: {what} is missing (for {inputs})")
        else:
            ctx.compare(f"{cls}: {what}", mine[key], correct[key], NETWORK, inputs)


def _compare_grads(ctx, cls, mine, correct, inputs, prefix="grad/", batch=""):
    expected = {key[len(prefix):] for key in correct if key.startswith(prefix)}
    given = {key[len(prefix):] for key in mine if key.startswith(prefix)}
    if given != expected:
        ctx.fail(f"{cls}.loss(X, y){batch}: grads has the keys {sorted(given)}, but must have one per "
                 f"parameter, {sorted(expected)} (for {inputs})")
    for name in sorted(expected & given):
        ctx.compare(f"{cls}.loss(X, y){batch}: grads['{name}']", mine[prefix + name], correct[prefix + name],
                    NETWORK, inputs)


def _none(name):
    return False


# --- TwoLayerNet ------------------------------------------------------------------------


def _two_layer_cases(rng, count, regs):
    cases = []
    for number in range(count):
        input_shape = [(int(rng.integers(4, 9)),), (2, 3)][number % 2]
        input_dim, hidden_dim, num_classes = int(np.prod(input_shape)), int(rng.integers(5, 12)), int(rng.integers(3, 7))
        X, y = _data(rng, int(rng.integers(3, 8)), input_shape, num_classes)
        case = {"dims": np.array([input_dim, hidden_dim, num_classes]), "weight_scale": np.float64(1e-3),
                "reg": np.float64(regs[number % len(regs)]), "X": X, "y": y}
        cases.append(_with_params(case, _draw_params(rng, [input_dim, hidden_dim, num_classes], None)))
    return cases


def _two_layer_inputs(case):
    input_dim, hidden_dim, num_classes = (int(v) for v in case["dims"])
    return (f"X of shape {case['X'].shape}, hidden_dim = {hidden_dim}, num_classes = {num_classes}, "
            f"reg = {float(case['reg']):.2f}")


@check("fc_two_layer_init", "TwoLayerNet.__init__: parameter names and shapes, zero biases, weight statistics",
       exercises=("nnkit/classifiers/fc_net.py:TwoLayerNet",))
def two_layer_init(ctx):
    rng = ctx.rng
    cases = []
    for _ in range(2):
        dims = np.array([int(rng.integers(20, 40)), int(rng.integers(30, 60)), int(rng.integers(5, 11))])
        cases.append({"dims": dims, "weight_scale": np.float64(10 ** rng.uniform(-3, -1)), "reg": np.float64(0)})
    student = ctx.student("two_layer_init", cases, "TwoLayerNet.__init__", served=ReferenceLayers())
    reference = ctx.reference("two_layer_init", cases)
    for case, mine, correct in zip(cases, student, reference):
        input_dim, hidden_dim, num_classes = (int(v) for v in case["dims"])
        _check_initialization(ctx, "TwoLayerNet.__init__", mine, correct, float(case["weight_scale"]),
                              f"input_dim = {input_dim}, hidden_dim = {hidden_dim}, num_classes = {num_classes}")


def _two_layer_cases_with_valid_params(ctx, probe, count, regs):
    """Run a TwoLayerNet probe on both sides; yield the cases whose parameter names are right."""
    cases = _two_layer_cases(ctx.rng, count, regs)
    student = ctx.student(probe, cases, "TwoLayerNet", served=ReferenceLayers())
    reference = ctx.reference(probe, cases)
    for case, mine, correct in zip(cases, student, reference):
        inputs = _two_layer_inputs(case)
        if _check_initialization(ctx, "TwoLayerNet.__init__", mine, correct, 1e-3, inputs, checked=_none):
            yield mine, correct, inputs


@check("fc_two_layer_scores", "TwoLayerNet.loss(X): scores against the reference for given parameters",
       exercises=("nnkit/classifiers/fc_net.py:TwoLayerNet",))
def two_layer_scores(ctx):
    for mine, correct, inputs in _two_layer_cases_with_valid_params(ctx, "two_layer_scores", 3, [0.0]):
        _compare_outputs(ctx, "TwoLayerNet.loss(X)", mine, correct, inputs, [("scores", "the scores")])


@check("fc_two_layer_loss", "TwoLayerNet.loss(X, y): loss against the reference, with and without "
                            "regularization",
       exercises=("nnkit/classifiers/fc_net.py:TwoLayerNet",))
def two_layer_loss(ctx):
    regs = [0.0, float(ctx.rng.uniform(0.1, 3.0))]
    for mine, correct, inputs in _two_layer_cases_with_valid_params(ctx, "two_layer_loss", 4, regs):
        _compare_outputs(ctx, "TwoLayerNet.loss(X, y)", mine, correct, inputs, [("loss", "the loss")])


@check("fc_two_layer_grads", "TwoLayerNet.loss(X, y): every gradient against the reference, with and "
                             "without regularization",
       exercises=("nnkit/classifiers/fc_net.py:TwoLayerNet",))
def two_layer_grads(ctx):
    regs = [0.0, float(ctx.rng.uniform(0.1, 3.0))]
    for mine, correct, inputs in _two_layer_cases_with_valid_params(ctx, "two_layer_loss", 4, regs):
        _compare_grads(ctx, "TwoLayerNet", mine, correct, inputs)


# --- FullyConnectedNet ------------------------------------------------------------------


def _fc_case(rng, hidden_dims, input_shape, num_classes, reg, normalization="", keep_ratio=1.0,
             batches=1, num_inputs=None, weight_scale=5e-2):
    input_dim = int(np.prod(input_shape))
    num_inputs = num_inputs or int(rng.integers(4, 8))
    case = {"hidden_dims": np.array(hidden_dims, dtype=np.int64), "input_dim": np.int64(input_dim),
            "num_classes": np.int64(num_classes), "reg": np.float64(reg), "normalization": np.array(normalization),
            "keep_ratio": np.float64(keep_ratio), "weight_scale": np.float64(weight_scale),
            "batches": np.int64(batches)}
    if keep_ratio < 1:
        case["seed"] = np.int64(rng.integers(2**31))
    for batch in range(batches):
        case[f"X{batch}"], case[f"y{batch}"] = _data(rng, num_inputs, input_shape, num_classes)
    case["X_test"], _ = _data(rng, int(rng.integers(3, 7)), input_shape, num_classes)
    return _with_params(case, _draw_params(rng, [input_dim, *hidden_dims, num_classes], normalization))


def _fc_inputs(case):
    parts = [f"hidden_dims = {[int(v) for v in case['hidden_dims']]}", f"X of shape {case['X0'].shape}",
             f"reg = {float(case['reg']):.2f}"]
    if str(case["normalization"]):
        parts.append(f"normalization = '{case['normalization']}'")
    if float(case["keep_ratio"]) < 1:
        parts.append(f"dropout_keep_ratio = {float(case['keep_ratio']):.2f} with a seed")
    return ", ".join(parts)


def _check_fully_connected(ctx, cases, subject, initialized=lambda name: True):
    student = ctx.student("fully_connected_net", cases, subject, served=ReferenceLayers())
    reference = ctx.reference("fully_connected_net", cases)
    for case, mine, correct in zip(cases, student, reference):
        inputs = _fc_inputs(case)
        if not _check_initialization(ctx, "FullyConnectedNet.__init__", mine, correct,
                                     float(case["weight_scale"]), inputs, initialized):
            continue
        batches = int(case["batches"])
        keys = []
        if "scores_before" in correct:
            keys.append(("scores_before", "the test-time scores of loss(X)"))
        _compare_outputs(ctx, "FullyConnectedNet", mine, correct, inputs, keys)
        for batch in range(batches):
            label = f" (training batch {batch + 1} of {batches})" if batches > 1 else ""
            _compare_outputs(ctx, "FullyConnectedNet", mine, correct, inputs,
                             [(f"batch{batch}/loss", f"the loss of loss(X, y){label}")])
            _compare_grads(ctx, "FullyConnectedNet", mine, correct, inputs, f"batch{batch}/grad/", label)
        running = [key for key in correct if key.startswith("running_")]
        _compare_outputs(ctx, "FullyConnectedNet", mine, correct, inputs, [
            *[(key, f"norm_params[{int(key.split('/')[1]) - 1}]['{key.split('/')[0]}'] after "
                    f"{batches} training batch(es)") for key in sorted(running)],
            ("scores_after", "the test-time scores of loss(X) after training batches")])


@check("fc_fcnet_loss_grads", "FullyConnectedNet without normalization or dropout: initialization, "
                              "scores, loss and every gradient against the reference, 1 to 3 hidden "
                              "layers, with and without regularization",
       exercises=("nnkit/classifiers/fc_net.py:FullyConnectedNet",))
def fully_connected(ctx):
    rng = ctx.rng
    size = lambda: int(rng.integers(5, 12))
    cases = [
        _fc_case(rng, [size()], (int(rng.integers(4, 9)),), int(rng.integers(3, 7)), 0.0),
        _fc_case(rng, [size(), size()], (int(rng.integers(4, 9)),), int(rng.integers(3, 7)), rng.uniform(0.1, 3)),
        _fc_case(rng, [size(), size(), size()], (2, 3), int(rng.integers(3, 7)), rng.uniform(0.1, 3)),
        # Larger, for the statistics of the initial weights.
        _fc_case(rng, [40, 30], (50,), 10, 0.0, weight_scale=10 ** rng.uniform(-3, -1)),
    ]
    _check_fully_connected(ctx, cases, "FullyConnectedNet")


# The checks of normalization and dropout grade what the option adds to the network: no
# regularization, and of the initialization only the gammas and betas (the rest is
# fc_fcnet_loss_grads's), so that a bug of the plain network is not charged in them again.
def _normalization_parameter(name):
    return name.startswith(("gamma", "beta"))


@check("bn_fcnet_batchnorm", "FullyConnectedNet with batchnorm: gammas and betas, losses and gradients "
                             "of two training batches, running averages, test-time scores, against the "
                             "reference, without regularization",
       exercises=("nnkit/classifiers/fc_net.py:FullyConnectedNet",))
def fully_connected_batchnorm(ctx):
    rng = ctx.rng
    size = lambda: int(rng.integers(5, 12))
    cases = [
        _fc_case(rng, [size(), size()], (int(rng.integers(4, 9)),), int(rng.integers(3, 7)), 0.0,
                 normalization="batchnorm", batches=2),
        _fc_case(rng, [size()], (2, 3), int(rng.integers(3, 7)), 0.0, normalization="batchnorm", batches=2),
    ]
    _check_fully_connected(ctx, cases, "FullyConnectedNet with batchnorm", _normalization_parameter)


@check("bn_fcnet_layernorm", "FullyConnectedNet with layernorm: gammas and betas, scores, loss and "
                             "gradients against the reference, without regularization",
       exercises=("nnkit/classifiers/fc_net.py:FullyConnectedNet",))
def fully_connected_layernorm(ctx):
    rng = ctx.rng
    size = lambda: int(rng.integers(5, 12))
    cases = [
        _fc_case(rng, [size(), size()], (int(rng.integers(4, 9)),), int(rng.integers(3, 7)), 0.0,
                 normalization="layernorm"),
        _fc_case(rng, [size()], (2, 3), int(rng.integers(3, 7)), 0.0, normalization="layernorm"),
    ]
    _check_fully_connected(ctx, cases, "FullyConnectedNet with layernorm", _normalization_parameter)


@check("do_fcnet_dropout", "FullyConnectedNet with seeded dropout: loss and gradients (train mode) and "
                           "scores (test mode, no dropout) against the reference, without regularization",
       exercises=("nnkit/classifiers/fc_net.py:FullyConnectedNet",))
def fully_connected_dropout(ctx):
    rng = ctx.rng
    size = lambda: int(rng.integers(6, 14))
    cases = [
        _fc_case(rng, [size(), size()], (int(rng.integers(4, 9)),), int(rng.integers(3, 7)), 0.0,
                 keep_ratio=rng.uniform(0.3, 0.9), batches=2),
        _fc_case(rng, [size()], (2, 3), int(rng.integers(3, 7)), 0.0, keep_ratio=rng.uniform(0.3, 0.9)),
    ]
    _check_fully_connected(ctx, cases, "FullyConnectedNet with dropout", _none)
