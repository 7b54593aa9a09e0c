"""Hidden checks of nnkit/layers.py: every forward against the reference on fresh random
inputs of several shapes; every backward against the reference gradients and against the
numeric gradient of the student's own forward pass. Each function's own check is the one
place that judges whether it changes its inputs in place (framework.check_inputs_kept) and
reports an output off by a kept dimension ((1, D) for (D,)); the checks of networks run
with the grader's layers and charge neither again."""
import numpy as np

from autograder.checks.framework import check, matches, shapes

from .kept_inputs import check_inputs_kept

# Relative errors allowed (see framework.relative_error). Correct float64 code differs from
# the reference by ~1e-14; the numeric gradients are accurate to ~1e-9.
FORWARD = 1e-8
BACKWARD = 1e-7
NUMERIC = 1e-6
# Inputs of piecewise-linear layers stay this far from their kinks, so that the centered
# differences never straddle one.
KINK_MARGIN = 1e-2


def _away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return np.sign(x) * (np.abs(x) + KINK_MARGIN)


def _check_backward(ctx, function, names, cases, student, reference, inputs_of):
    """Compare every gradient with the reference and with the student's numeric gradient.

    A backward pass runs on the cache of the student's own forward pass. When that forward
    pass is wrong (its own check charges it) and the gradient is right for it (it matches
    the numeric gradient of the student's forward pass), the gradient is not charged again
    here, as the notebook's numeric check of the backward pass does not charge it either."""
    forward = function.replace("_backward_alt", "_forward").replace("_backward", "_forward")
    for case, mine, correct in zip(cases, student, reference):
        inputs = inputs_of(case)
        check_inputs_kept(ctx, function, mine, inputs)
        forward_wrong = not matches(mine["forward_out"], correct["forward_out"], FORWARD)
        for name in names:
            numeric = mine.get(f"numeric_{name}")
            if matches(mine[name], correct[name], BACKWARD):
                continue
            if forward_wrong and numeric is not None and matches(mine[name], numeric, NUMERIC):
                note = f"note: {function} is not charged for gradients that fit your {forward}, which its own check finds wrong"
                if note not in ctx.notes:
                    ctx.note(note)
                continue
            ctx.compare(f"{function}: {name}", mine[name], correct[name], BACKWARD, inputs)
            if numeric is not None:
                ctx.compare_numeric(f"{function}: {name}", mine[name], numeric, NUMERIC, inputs)


# --- affine -----------------------------------------------------------------------------


def _affine_case(rng, num_inputs, input_shape, output_dim):
    return {"x": rng.standard_normal((num_inputs, *input_shape)),
            "w": rng.standard_normal((int(np.prod(input_shape)), output_dim)),
            "b": rng.standard_normal(output_dim)}


@check("fc_affine_forward", "affine_forward: out against the reference for 2-D, 3-D and 4-D inputs",
       exercises=("nnkit/layers.py:affine_forward",))
def affine_forward(ctx):
    rng = ctx.rng
    cases = [_affine_case(rng, int(rng.integers(2, 9)), shape, int(rng.integers(2, 8)))
             for shape in [(int(rng.integers(3, 9)),), (2, 3, 4), (int(rng.integers(2, 5)), 5)]]
    cases.append(_affine_case(rng, 1, (3, 2, 2), 4))
    student = ctx.student("affine_forward", cases, "affine_forward")
    reference = ctx.reference("affine_forward", cases)
    for case, mine, correct in zip(cases, student, reference):
        ctx.compare("affine_forward: out", mine["out"], correct["out"], FORWARD, shapes(case, "x", "w", "b"))
        check_inputs_kept(ctx, "affine_forward", mine, shapes(case, "x", "w", "b"))


@check("fc_affine_backward", "affine_backward: dx, dw, db against the reference and the numeric gradient",
       exercises=("nnkit/layers.py:affine_forward", "nnkit/layers.py:affine_backward"))
def affine_backward(ctx):
    rng = ctx.rng
    cases = [_affine_case(rng, int(rng.integers(3, 7)), shape, int(rng.integers(3, 6)))
             for shape in [(int(rng.integers(3, 7)),), (2, 3, 2)]]
    cases.append(_affine_case(rng, 1, (4,), 3))
    for case in cases:
        case["dout"] = rng.standard_normal((case["x"].shape[0], case["w"].shape[1]))
    student = ctx.student("affine_backward", cases, "affine_backward")
    reference = ctx.reference("affine_backward", cases)
    _check_backward(ctx, "affine_backward", ("dx", "dw", "db"), cases, student, reference,
                    lambda case: shapes(case, "x", "w", "dout"))


# --- ReLU and leaky ReLU ----------------------------------------------------------------


@check("fc_relu_forward", "relu_forward: out against the reference; x left unchanged",
       exercises=("nnkit/layers.py:relu_forward",))
def relu_forward(ctx):
    cases = [{"x": _away_from_zero(ctx.rng, shape)} for shape in [(4, 6), (3, 2, 5), (7,)]]
    student = ctx.student("relu_forward", cases, "relu_forward")
    reference = ctx.reference("relu_forward", cases)
    for case, mine, correct in zip(cases, student, reference):
        ctx.compare("relu_forward: out", mine["out"], correct["out"], FORWARD, shapes(case, "x"))
        check_inputs_kept(ctx, "relu_forward", mine, shapes(case, "x"))


@check("fc_relu_backward", "relu_backward: dx against the reference and the numeric gradient",
       exercises=("nnkit/layers.py:relu_forward", "nnkit/layers.py:relu_backward"))
def relu_backward(ctx):
    cases = [{"x": _away_from_zero(ctx.rng, shape)} for shape in [(5, 6), (2, 3, 4)]]
    for case in cases:
        case["dout"] = ctx.rng.standard_normal(case["x"].shape)
    student = ctx.student("relu_backward", cases, "relu_backward")
    reference = ctx.reference("relu_backward", cases)
    _check_backward(ctx, "relu_backward", ("dx",), cases, student, reference, lambda case: shapes(case, "x"))


def _leaky_cases(rng, shapes_, with_dout):
    cases = []
    for number, shape in enumerate(shapes_):
        case = {"x": _away_from_zero(rng, shape)}
        if number > 0:  # the first case uses the default alpha
            case["alpha"] = np.float64(rng.uniform(0.01, 0.4))
        if with_dout:
            case["dout"] = rng.standard_normal(shape)
        cases.append(case)
    return cases


def _leaky_inputs(case):
    alpha = f"alpha = {float(case['alpha']):.3f}" if "alpha" in case else "the default alpha"
    return f"{shapes(case, 'x')}, {alpha}"


@check("fc_leaky_relu_forward", "leaky_relu_forward: out against the reference, default and random alpha",
       exercises=("nnkit/layers.py:leaky_relu_forward",))
def leaky_relu_forward(ctx):
    cases = _leaky_cases(ctx.rng, [(4, 5), (3, 2, 4), (6,)], with_dout=False)
    student = ctx.student("leaky_relu_forward", cases, "leaky_relu_forward")
    reference = ctx.reference("leaky_relu_forward", cases)
    for case, mine, correct in zip(cases, student, reference):
        ctx.compare("leaky_relu_forward: out", mine["out"], correct["out"], FORWARD, _leaky_inputs(case))
        check_inputs_kept(ctx, "leaky_relu_forward", mine, _leaky_inputs(case))


@check("fc_leaky_relu_backward", "leaky_relu_backward: dx against the reference and the numeric gradient",
       exercises=("nnkit/layers.py:leaky_relu_forward", "nnkit/layers.py:leaky_relu_backward"))
def leaky_relu_backward(ctx):
    cases = _leaky_cases(ctx.rng, [(5, 4), (2, 3, 3)], with_dout=True)
    student = ctx.student("leaky_relu_backward", cases, "leaky_relu_backward")
    reference = ctx.reference("leaky_relu_backward", cases)
    _check_backward(ctx, "leaky_relu_backward", ("dx",), cases, student, reference, _leaky_inputs)


# --- losses -----------------------------------------------------------------------------


def _scores_and_labels(rng, num_inputs, num_classes, scale, offset=0.0):
    return {"x": offset + scale * rng.standard_normal((num_inputs, num_classes)),
            "y": rng.integers(num_classes, size=num_inputs)}


def _svm_case(rng, num_inputs, num_classes):
    """Scores whose hinge margins all stay away from 0, the loss's kink."""
    while True:
        case = _scores_and_labels(rng, num_inputs, num_classes, scale=1.0)
        rows = np.arange(num_inputs)
        margins = case["x"] - case["x"][rows, case["y"]][:, None] + 1
        margins[rows, case["y"]] = 1.0
        if np.all(np.abs(margins) > KINK_MARGIN):
            return case


def _check_loss(ctx, function, cases, student, reference):
    for case, mine, correct in zip(cases, student, reference):
        inputs = f"{shapes(case, 'x')}, scores around {float(np.mean(case['x'])):.0f}"
        check_inputs_kept(ctx, function, mine, inputs)
        ctx.compare(f"{function}: loss", mine["loss"], correct["loss"], FORWARD, inputs)
        if ctx.compare(f"{function}: dx", mine["dx"], correct["dx"], BACKWARD, inputs) or "numeric_dx" not in mine:
            continue
        ctx.compare_numeric(f"{function}: dx", mine["dx"], mine["numeric_dx"], NUMERIC, inputs)


@check("fc_svm_loss", "svm_loss: loss and dx against the reference, dx against the numeric gradient",
       exercises=("nnkit/layers.py:svm_loss",))
def svm_loss(ctx):
    rng = ctx.rng
    cases = [_svm_case(rng, n, c) for n, c in [(int(rng.integers(6, 12)), 10), (5, 3), (1, 4)]]
    student = ctx.student("svm_loss", cases, "svm_loss")
    reference = ctx.reference("svm_loss", cases)
    _check_loss(ctx, "svm_loss", cases, student, reference)


@check("fc_softmax_loss", "softmax_loss: loss and dx against the reference (also for scores near 1000), "
                          "dx against the numeric gradient",
       exercises=("nnkit/layers.py:softmax_loss",))
def softmax_loss(ctx):
    rng = ctx.rng
    cases = [_scores_and_labels(rng, n, c, scale=2.0) for n, c in [(int(rng.integers(6, 12)), 10), (5, 3), (1, 4)]]
    # exp(1000) overflows: only a loss that shifts the scores first gets this right.
    cases.append(_scores_and_labels(rng, 4, 6, scale=2.0, offset=1000.0))
    student = ctx.student("softmax_loss", cases, "softmax_loss")
    reference = ctx.reference("softmax_loss", cases)
    _check_loss(ctx, "softmax_loss", cases, student, reference)


# --- batch normalization ----------------------------------------------------------------


def _features(rng, num_inputs, num_features):
    """Features with very different means and scales, like pre-activations of a layer."""
    means = rng.uniform(-10, 10, num_features)
    scales = np.exp(rng.uniform(np.log(0.1), np.log(10), num_features))
    return means + scales * rng.standard_normal((num_inputs, num_features))


def _scale_shift(rng, case, num_features):
    case["gamma"] = rng.uniform(0.5, 2.0, num_features) * rng.choice([-1, 1], num_features)
    case["beta"] = rng.standard_normal(num_features)
    return case


@check("bn_forward_train", "batchnorm_forward (train): out and running averages over three steps, "
                           "against the reference, with and without given momentum, eps and running averages",
       exercises=("nnkit/layers.py:batchnorm_forward",))
def batchnorm_forward_train(ctx):
    rng = ctx.rng
    cases = []
    for number, (num_inputs, num_features) in enumerate([(int(rng.integers(6, 12)), 4), (20, 3), (5, 6)]):
        case = {f"x{step}": _features(rng, num_inputs, num_features) for step in range(3)}
        case["steps"] = np.int64(3)
        _scale_shift(rng, case, num_features)
        if number != 1:  # case 1 relies on the defaults
            case["momentum"] = np.float64(rng.uniform(0.5, 0.95))
            case["eps"] = np.float64(10 ** rng.uniform(-4, -2))
        if number == 2:
            case["running_mean"] = rng.standard_normal(num_features)
            case["running_var"] = rng.uniform(0.5, 2.0, num_features)
        cases.append(case)
    student = ctx.student("batchnorm_forward_train", cases, "batchnorm_forward")
    reference = ctx.reference("batchnorm_forward_train", cases)
    for case, mine, correct in zip(cases, student, reference):
        inputs = f"x of shape {case['x0'].shape}, " + (
            f"momentum = {float(case['momentum']):.2f}, eps = {float(case['eps']):.0e}" if "momentum" in case
            else "default momentum and eps")
        check_inputs_kept(ctx, "batchnorm_forward", mine, inputs)
        for step in range(3):
            where = f"{inputs}, training step {step + 1}"
            ctx.compare("batchnorm_forward (train): out", mine[f"out{step}"], correct[f"out{step}"], FORWARD, where)
            for key in ("running_mean", "running_var"):
                ctx.compare(f"batchnorm_forward (train): bn_param['{key}']", mine[f"{key}{step}"],
                            correct[f"{key}{step}"], FORWARD, where)


@check("bn_forward_test", "batchnorm_forward (test): out from the running averages against the reference; "
                          "running averages left unchanged",
       exercises=("nnkit/layers.py:batchnorm_forward",))
def batchnorm_forward_test(ctx):
    rng = ctx.rng
    cases = []
    for num_inputs, num_features in [(int(rng.integers(5, 12)), 4), (1, 5), (30, 3)]:
        case = _scale_shift(rng, {"x": _features(rng, num_inputs, num_features)}, num_features)
        case["running_mean"] = rng.uniform(-10, 10, num_features)
        case["running_var"] = np.exp(rng.uniform(np.log(0.01), np.log(100), num_features))
        case["eps"] = np.float64(10 ** rng.uniform(-4, -2))
        cases.append(case)
    student = ctx.student("batchnorm_forward_test", cases, "batchnorm_forward")
    reference = ctx.reference("batchnorm_forward_test", cases)
    for case, mine, correct in zip(cases, student, reference):
        variances = case["running_var"]
        inputs = (f"{shapes(case, 'x')}, eps = {float(case['eps']):.0e}, running_var from "
                  f"{variances.min():.1e} to {variances.max():.1e}")

        def worst_feature(actual, expected, variances=variances):
            errors = np.max(np.abs(actual - expected), axis=0) / max(float(np.max(np.abs(expected))), 1e-7)
            return f"the error is largest in the feature whose running_var is {variances[np.argmax(errors)]:.1e}"

        # The checks do not accept eps outside the square root, (x - mean) / (sqrt(var) + eps):
        # it differs from training mode's normalization by about eps / sqrt(var) relative,
        # negligible for large variances but not for nearly constant features (var = 1e-2 and
        # eps = 1e-2: 28%), whose test-time outputs would then disagree with what training
        # taught the next layer. Hence running variances down to 1e-2 here; the networks'
        # checks run with the grader's layers and do not charge it again.
        ctx.compare("batchnorm_forward (test): out", mine["out"], correct["out"], FORWARD, inputs, worst_feature)
        for key in ("running_mean", "running_var"):
            if not np.array_equal(mine[key], case[key]):
                ctx.fail(f"batchnorm_forward (test) changed bn_param['{key}'] (for {inputs}); "
                         "test mode must only read the running averages")


def _norm_backward_cases(rng, sizes):
    cases = []
    for num_inputs, num_features in sizes:
        case = {"x": 5 * rng.standard_normal((num_inputs, num_features)) + rng.uniform(-12, 12)}
        _scale_shift(rng, case, num_features)
        case["dout"] = rng.standard_normal((num_inputs, num_features))
        case["eps"] = np.float64(10 ** rng.uniform(-5, -3))
        cases.append(case)
    return cases


def _norm_backward_check(ctx, probe, function, sizes):
    cases = _norm_backward_cases(ctx.rng, sizes)
    student = ctx.student(probe, cases, function)
    reference = ctx.reference(probe, cases)
    _check_backward(ctx, function, ("dx", "dgamma", "dbeta"), cases, student, reference,
                    lambda case: shapes(case, "x"))


@check("bn_backward", "batchnorm_backward: dx, dgamma, dbeta against the reference and the numeric gradient",
       exercises=("nnkit/layers.py:batchnorm_forward", "nnkit/layers.py:batchnorm_backward"))
def batchnorm_backward(ctx):
    _norm_backward_check(ctx, "batchnorm_backward", "batchnorm_backward",
                         [(4, 5), (int(ctx.rng.integers(6, 10)), 3), (3, 2)])


@check("bn_backward_alt", "batchnorm_backward_alt: dx, dgamma, dbeta against the reference and the numeric gradient",
       exercises=("nnkit/layers.py:batchnorm_forward", "nnkit/layers.py:batchnorm_backward_alt"))
def batchnorm_backward_alt(ctx):
    _norm_backward_check(ctx, "batchnorm_backward_alt", "batchnorm_backward_alt",
                         [(4, 5), (int(ctx.rng.integers(6, 10)), 3), (3, 2)])


# --- layer normalization ----------------------------------------------------------------


@check("bn_layernorm_forward", "layernorm_forward: out against the reference, several shapes and eps",
       exercises=("nnkit/layers.py:layernorm_forward",))
def layernorm_forward(ctx):
    rng = ctx.rng
    cases = []
    for num_inputs, num_features in [(int(rng.integers(3, 8)), 6), (4, 3), (1, 5)]:
        # Every example gets its own mean and scale: normalizing over the wrong axis shows.
        x = rng.uniform(-10, 10, (num_inputs, 1)) + np.exp(rng.uniform(-1, 2, (num_inputs, 1))) * \
            rng.standard_normal((num_inputs, num_features))
        case = _scale_shift(rng, {"x": x}, num_features)
        case["eps"] = np.float64(10 ** rng.uniform(-4, -2))
        cases.append(case)
    student = ctx.student("layernorm_forward", cases, "layernorm_forward")
    reference = ctx.reference("layernorm_forward", cases)
    for case, mine, correct in zip(cases, student, reference):
        inputs = f"{shapes(case, 'x')}, eps = {float(case['eps']):.0e}"
        ctx.compare("layernorm_forward: out", mine["out"], correct["out"], FORWARD, inputs)
        check_inputs_kept(ctx, "layernorm_forward", mine, inputs)


@check("bn_layernorm_backward", "layernorm_backward: dx, dgamma, dbeta against the reference and the numeric gradient",
       exercises=("nnkit/layers.py:layernorm_forward", "nnkit/layers.py:layernorm_backward"))
def layernorm_backward(ctx):
    _norm_backward_check(ctx, "layernorm_backward", "layernorm_backward",
                         [(4, 5), (int(ctx.rng.integers(2, 6)), 7), (1, 3)])


# --- dropout ----------------------------------------------------------------------------


@check("do_forward", "dropout_forward: seeded masks against the reference (float64 and float32), "
                     "keep rate and 1/p scaling of unseeded masks, test mode is the identity",
       exercises=("nnkit/layers.py:dropout_forward",))
def dropout_forward(ctx):
    rng = ctx.rng
    seeded = [
        {"x": rng.standard_normal((20, 30)) + 2, "p": np.float64(rng.uniform(0.2, 0.9))},
        {"x": (rng.standard_normal((4, 5, 6)) + 2).astype(np.float32), "p": np.float64(rng.uniform(0.2, 0.9))},
    ]
    for case in seeded:
        case.update(mode=np.array("train"), seed=np.int64(rng.integers(2**31)))
    test_mode = {"x": rng.standard_normal((6, 7)), "p": np.float64(rng.uniform(0.2, 0.9)), "mode": np.array("test")}
    unseeded = {"x": rng.standard_normal((300, 300)) + 10, "p": np.float64(rng.uniform(0.2, 0.9)),
                "mode": np.array("train"), "global_seed": np.int64(rng.integers(2**31))}
    cases = [*seeded, test_mode, unseeded]
    student = ctx.student("dropout_forward", cases, "dropout_forward")
    reference = ctx.reference("dropout_forward", cases)

    for case, mine, correct in zip(seeded, student, reference):
        inputs = f"{shapes(case, 'x')} ({case['x'].dtype}), p = {float(case['p']):.2f}, with a seed"
        check_inputs_kept(ctx, "dropout_forward", mine, inputs)
        if str(mine["out_dtype"]) != str(correct["out_dtype"]):
            ctx.fail(f"dropout_forward (train): out has dtype {np.dtype(str(mine['out_dtype']))}, but must keep "
                     f"the dtype of x (for {inputs}); cast the mask to x.dtype")
        if np.shape(mine["out"]) == np.shape(correct["out"]) and \
                not np.array_equal(mine["out"] == 0, correct["out"] == 0):
            ctx.fail(f"dropout_forward (train): with a seed, the kept entries are not those of the mask "
                     f"rng.rand(*x.shape) < p drawn from the seeded rng (for {inputs}); the same seed "
                     "must give the same mask")
        else:
            threshold = FORWARD if case["x"].dtype == np.float64 else 1e-6
            ctx.compare("dropout_forward (train): out", mine["out"], correct["out"], threshold, inputs)

    mine = student[2]
    if np.shape(mine["out"]) != test_mode["x"].shape or not np.array_equal(mine["out"], test_mode["x"]):
        ctx.fail(f"dropout_forward (test): out must be x unchanged (for {shapes(test_mode, 'x')})")

    mine, p = student[3], float(unseeded["p"])
    inputs = f"{shapes(unseeded, 'x')}, p = {p:.2f}, no seed"
    out, x = np.asarray(mine["out"]), unseeded["x"]
    if out.shape != x.shape:
        ctx.fail(f"dropout_forward (train): out has shape {out.shape}, but must have the shape of x (for {inputs})")
        return
    dropped = float(np.mean(out == 0))
    if abs(dropped - (1 - p)) > 0.01:
        ctx.fail(f"dropout_forward (train): {dropped:.3f} of the entries are zero, but about 1 - p = {1 - p:.3f} "
                 f"must be (for {inputs}); p is the probability of KEEPING an entry")
    kept = out != 0
    scaling_error = float(np.max(np.abs(out[kept] * p / x[kept] - 1))) if kept.any() else 0.0
    if scaling_error > 1e-9:
        ctx.fail(f"dropout_forward (train): kept entries must equal x / p (for {inputs}): they are off "
                 f"by a relative {scaling_error:.1e}")


@check("do_backward", "dropout_backward: dx against the reference and the numeric gradient (train), "
                      "dx = dout in test mode",
       exercises=("nnkit/layers.py:dropout_forward", "nnkit/layers.py:dropout_backward"))
def dropout_backward(ctx):
    rng = ctx.rng
    cases = []
    for shape, mode in [((6, 7), "train"), ((3, 4, 5), "train"), ((5, 4), "test")]:
        case = {"x": rng.standard_normal(shape) + 5, "dout": rng.standard_normal(shape),
                "p": np.float64(rng.uniform(0.2, 0.9)), "mode": np.array(mode)}
        if mode == "train":
            case["seed"] = np.int64(rng.integers(2**31))
        cases.append(case)
    student = ctx.student("dropout_backward", cases, "dropout_backward")
    reference = ctx.reference("dropout_backward", cases)
    _check_backward(ctx, "dropout_backward", ("dx",), cases, student, reference,
                    lambda case: f"{shapes(case, 'x')}, p = {float(case['p']):.2f}, {case['mode']} mode")
