"""Hidden checks of nnkit/optim.py: each update rule over several steps, feeding back the
config it returns (as the Solver does), from fresh and from given state, with random and
with default hyperparameters. The step it takes (next_w - w) and its state after every
step must agree with the reference, and the rule must not change w or dw in place.

Steps are compared rather than weights because a step is what an update rule computes:
a wrong rule is off by a sizeable fraction of its step, which can be far below the size of
w. The tolerance on steps leaves room for where epsilon enters (Adam's "efficient" form
puts it after the bias correction; see _gradient)."""
import numpy as np

from .framework import check

STEPS = 4
# Relative errors allowed: of the steps (see above) and of the state, which has no epsilon.
STEP = 1e-4
STATE = 1e-8

# rule -> (its state entries in config, hyperparameters with their random ranges)
RULES = {
    "sgd_momentum": (("velocity",), {"learning_rate": (1e-3, 1e-1), "momentum": (0.5, 0.95)}),
    "nesterov_momentum": (("velocity",), {"learning_rate": (1e-3, 1e-1), "momentum": (0.5, 0.95)}),
    "adagrad": (("cache",), {"learning_rate": (1e-3, 1e-1)}),
    "rmsprop": (("cache",), {"learning_rate": (1e-3, 1e-1), "decay_rate": (0.8, 0.999)}),
    "adam": (("m", "v", "t"), {"learning_rate": (1e-3, 1e-1), "beta1": (0.7, 0.95), "beta2": (0.9, 0.999)}),
    "adabelief": (("m", "s", "t"), {"learning_rate": (1e-3, 1e-1), "beta1": (0.7, 0.95), "beta2": (0.9, 0.999)}),
}


def _gradient(rng, shape):
    """Gradients of either sign whose sizes range over two orders of magnitude, none below
    ~1e-2: Adam's efficient form acts as if epsilon were 1e-8 / sqrt(1 - beta2) = 3e-7 in
    its first step, which then changes a step by < 3e-5 of its size."""
    size = (np.abs(rng.standard_normal(shape)) + 0.3) * 10 ** rng.uniform(-1.5, 0, shape)
    return rng.choice([-1.0, 1.0], shape) * size


def _cases(rng, rule):
    state_keys, ranges = RULES[rule]
    cases = []
    for kind in ("fresh state", "given state", "default hyperparameters"):
        shape = [(4, 6), (3, 2, 5), (7,)][len(cases)]
        case = {"rule": np.array(rule), "state_keys": np.array(",".join(state_keys)),
                "steps": np.int64(STEPS), "w": rng.standard_normal(shape)}
        case.update({f"dw{step}": _gradient(rng, shape) for step in range(STEPS)})
        if kind != "default hyperparameters":
            case.update({f"hyper/{key}": np.float64(rng.uniform(*bounds)) for key, bounds in ranges.items()})
        if kind == "given state":
            for key in state_keys:
                if key == "t":
                    case["state_t"] = np.int64(rng.integers(1, 20))
                elif key == "cache" or key in ("v", "s"):
                    case[f"state/{key}"] = rng.uniform(0.01, 1.0, shape)
                else:
                    case[f"state/{key}"] = 0.3 * rng.standard_normal(shape)
        case["kind"] = np.array(kind)
        cases.append(case)
    return cases


def _inputs(case):
    hypers = ", ".join(f"{key[len('hyper/'):]} = {float(value):.3g}" for key, value in case.items()
                       if key.startswith("hyper/"))
    return f"w of shape {case['w'].shape}, {case['kind']}" + (f", {hypers}" if hypers else "")


def _check_rule(ctx, rule):
    cases = _cases(ctx.rng, rule)
    student = ctx.student("update_rule", cases, rule)
    reference = ctx.reference("update_rule", cases)
    state_keys, _ = RULES[rule]
    for case, mine, correct in zip(cases, student, reference):
        inputs = _inputs(case)
        my_w, correct_w = case["w"], case["w"]
        for step in range(STEPS):
            where = f"{inputs}, step {step + 1} of {STEPS}"
            if mine[f"changed_w{step}"] or mine[f"changed_dw{step}"]:
                changed = "w" if mine[f"changed_w{step}"] else "dw"
                ctx.fail(f"{rule} changed its input {changed} in place ({where}); build new arrays "
                         "(next_w = w - ..., not w -= ...)")
                return
            ok = np.shape(mine[f"w{step}"]) == np.shape(my_w)
            if not ok:
                ctx.fail(f"{rule}: next_w has shape {np.shape(mine[f'w{step}'])}, but must have the shape of w ({where})")
            else:
                ok = ctx.compare(f"{rule}: the step next_w - w", mine[f"w{step}"] - my_w,
                                 correct[f"w{step}"] - correct_w, STEP, where)
            my_w, correct_w = mine[f"w{step}"], correct[f"w{step}"]
            for key in state_keys:
                name = f"state{step}/{key}"
                if name not in mine:
                    ctx.fail(f"{rule}: config['{key}'] is missing after the update ({where}); store the "
                             "new state in config for the next call")
                    ok = False
                elif key == "t":
                    if float(mine[name]) != float(correct[name]):
                        ctx.fail(f"{rule}: config['t'] is {float(mine[name]):g} after the update, but must "
                                 f"count the updates ({where})")
                        ok = False
                else:
                    ok &= ctx.compare(f"{rule}: config['{key}']", mine[name], correct[name], STATE, where)
            if not ok:
                break  # later steps only repeat the first error


def _register(grade_id, rule):
    state = ", ".join(RULES[rule][0])
    check(grade_id, f"{rule}: next_w and its state ({state}) over {STEPS} steps against the reference, "
                    "from fresh and given state; w and dw not changed in place")(lambda ctx: _check_rule(ctx, rule))


for _grade_id, _rule in [
    ("fc_sgd_momentum", "sgd_momentum"), ("fc_rmsprop", "rmsprop"), ("fc_adam", "adam"),
    ("opt_sgd_momentum", "sgd_momentum"), ("opt_nesterov_momentum", "nesterov_momentum"),
    ("opt_adagrad", "adagrad"), ("opt_rmsprop", "rmsprop"), ("opt_adam", "adam"),
    ("opt_adabelief", "adabelief"),
]:
    _register(_grade_id, _rule)
