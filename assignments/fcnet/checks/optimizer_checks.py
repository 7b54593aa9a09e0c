"""Hidden checks of nnkit/optim.py. Every cell checks a property of its own, so that a bug
in a rule costs one cell:

- the rule itself (the cell of the notebook that introduces it: fc_sgd_momentum,
  fc_rmsprop and fc_adam in FullyConnectedNets, the other rules in Optimizers): the rule
  over several steps, feeding back the config it returns (as the Solver does), from fresh
  and from given state, with random and with default hyperparameters. The step it takes
  (next_w - w) and its state after every step must agree with the reference, and the rule
  must not change w or dw in place;
- the rule inside the Solver (opt_sgd_momentum, opt_rmsprop and opt_adam, the Optimizers
  notebook's cells of the rules FullyConnectedNets introduced): the Solver, driving a
  stand-in model with two parameters and decaying the learning rate, must reach exactly
  what the student's own rule gives when called by hand with one config per parameter.
  The rule is compared with itself, never with the reference, so a wrong formula is not
  charged here again; what fails is a rule whose result depends on more than its config
  (state kept elsewhere, shared between parameters) or that does not run in the Solver.

Steps are compared rather than weights because a step is what an update rule computes:
a wrong rule is off by a sizeable fraction of its step, which can be far below the size of
w. The tolerance on steps leaves room for where epsilon enters (Adam's "efficient" form
puts it after the bias correction; see _gradient)."""
import numpy as np

from autograder.checks.framework import check, relative_error

from .kept_inputs import check_inputs_kept

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
        if not check_inputs_kept(ctx, rule, mine, inputs):
            return
        my_w, correct_w = case["w"], case["w"]
        for step in range(STEPS):
            where = f"{inputs}, step {step + 1} of {STEPS}"
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


# --- the rule inside the Solver -----------------------------------------------------------

# The stand-in model's sizes and the Solver's settings: 3 epochs of 3 updates, so that the
# learning rate decays twice.
SOLVER_DATA, SOLVER_BATCH, SOLVER_EPOCHS, LR_DECAY = (6, 4, 3), 2, 3, 0.5
# The Solver and the hand-made loop run the same arithmetic: they agree to the last bit,
# up to the order of additions.
SAME = 1e-12


def _solver_case(rng, rule):
    _, ranges = RULES[rule]
    (num_inputs, input_dim, num_classes), case = SOLVER_DATA, {"rule": np.array(rule)}
    for name, shape in (("W", (input_dim, num_classes)), ("b", (num_classes,))):
        case[name] = rng.standard_normal(shape)
        case[f"{name}_target"] = rng.standard_normal(shape)
        case[f"{name}_curvature"] = np.exp(rng.uniform(-1, 1, shape))
    case.update({f"hyper/{key}": np.float64(rng.uniform(*bounds)) for key, bounds in ranges.items()})
    case.update(X=rng.standard_normal((num_inputs, input_dim)), y=rng.integers(num_classes, size=num_inputs),
                lr_decay=np.float64(LR_DECAY), batch_size=np.int64(SOLVER_BATCH), epochs=np.int64(SOLVER_EPOCHS))
    return case


def _check_in_solver(ctx, rule):
    case = _solver_case(ctx.rng, rule)
    [mine] = ctx.student("update_rule_in_solver", [case], f"{rule} in the Solver")
    updates = sorted({int(key.split("/")[0][len("solver"):]) for key in mine if key.startswith("solver")})
    if not updates:
        ctx.fail(f"the Solver made no update with update_rule='{rule}'")
    hypers = ", ".join(f"{key[len('hyper/'):]} = {float(value):.3g}" for key, value in case.items()
                       if key.startswith("hyper/"))
    for update in updates:
        for name in ("W", "b"):
            in_solver, by_hand = mine[f"solver{update}/{name}"], mine[f"by_hand{update}/{name}"]
            if np.shape(in_solver) == np.shape(by_hand) and np.array_equal(in_solver, by_hand, equal_nan=True):
                continue  # the same to the last bit, NaNs included (a wrong formula is charged elsewhere)
            same_shape = np.shape(in_solver) == np.shape(by_hand)
            error = relative_error(in_solver, by_hand) if same_shape else np.inf
            if same_shape and error <= SAME:
                continue
            difference = (f"relative error {error:.1e}, must be below {SAME:.0e}" if same_shape else
                          f"shape {np.shape(in_solver)} instead of {np.shape(by_hand)}")
            ctx.fail(f"{rule} in the Solver: after {update} update(s), params['{name}'] (of shape "
                     f"{case[name].shape}; {hypers}, lr_decay = {LR_DECAY}) differs from what {rule} gives "
                     f"when you call it yourself with one config per parameter and the learning rate "
                     f"decayed as the Solver does ({difference}): in the Solver, {rule} must depend only "
                     "on the config it is given")
            return


def _register(grade_id, rule):
    state = ", ".join(RULES[rule][0])
    check(grade_id, f"{rule}: next_w and its state ({state}) over {STEPS} steps against the reference, "
                    "from fresh and given state; w and dw not changed in place",
          exercises=(f"nnkit/optim.py:{rule}",))(lambda ctx: _check_rule(ctx, rule))


def _register_in_solver(grade_id, rule):
    check(grade_id, f"{rule} inside the Solver (two parameters, learning-rate decay): the same parameters as "
                    f"{rule} called by hand with one config per parameter",
          exercises=(f"nnkit/optim.py:{rule}",))(lambda ctx: _check_in_solver(ctx, rule))


for _grade_id, _rule in [
    ("fc_sgd_momentum", "sgd_momentum"), ("fc_rmsprop", "rmsprop"), ("fc_adam", "adam"),
    ("opt_nesterov_momentum", "nesterov_momentum"), ("opt_adagrad", "adagrad"), ("opt_adabelief", "adabelief"),
]:
    _register(_grade_id, _rule)
for _grade_id, _rule in [("opt_sgd_momentum", "sgd_momentum"), ("opt_rmsprop", "rmsprop"), ("opt_adam", "adam")]:
    _register_in_solver(_grade_id, _rule)
