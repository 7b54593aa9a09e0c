"""Tests for the update rules in nnkit/optim.py.

Expected values come from an independent computation: a scalar loop over the array
elements (plain Python floats and math.sqrt) that spells out each rule's formula.
"""
import math

import numpy as np
import pytest

from nnkit import optim


# --- Scalar reference formulas: (w, dw, state, hyperparameters) -> (next_w, state) ---


def sgd_scalar(w, dw, state, learning_rate):
    return w - learning_rate * dw, {}


def sgd_momentum_scalar(w, dw, state, learning_rate, momentum):
    velocity = momentum * state["velocity"] - learning_rate * dw
    return w + velocity, {"velocity": velocity}


def nesterov_scalar(w, dw, state, learning_rate, momentum):
    old_velocity = state["velocity"]
    velocity = momentum * old_velocity - learning_rate * dw
    # The form from the classic lecture notes; optim.py documents the equivalent
    # w + mu * v_new - lr * dw, so this also checks that the two agree.
    return w - momentum * old_velocity + (1 + momentum) * velocity, {"velocity": velocity}


def adagrad_scalar(w, dw, state, learning_rate, epsilon):
    cache = state["cache"] + dw * dw
    return w - learning_rate * dw / (math.sqrt(cache) + epsilon), {"cache": cache}


def rmsprop_scalar(w, dw, state, learning_rate, decay_rate, epsilon):
    cache = decay_rate * state["cache"] + (1 - decay_rate) * dw * dw
    return w - learning_rate * dw / (math.sqrt(cache) + epsilon), {"cache": cache}


def adam_scalar(w, dw, state, learning_rate, beta1, beta2, epsilon):
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return w - learning_rate * m_hat / (math.sqrt(v_hat) + epsilon), {"m": m, "v": v, "t": t}


def adabelief_scalar(w, dw, state, learning_rate, beta1, beta2, epsilon):
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    s = beta2 * state["s"] + (1 - beta2) * (dw - m) * (dw - m)
    m_hat = m / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    return w - learning_rate * m_hat / (math.sqrt(s_hat) + epsilon), {"m": m, "s": s, "t": t}


# rule name -> (scalar formula, documented defaults, non-default hyperparameters,
#               array state keys, scalar state keys)
RULES = {
    "sgd": (sgd_scalar, {"learning_rate": 1e-2}, {"learning_rate": 0.3}, [], []),
    "sgd_momentum": (
        sgd_momentum_scalar,
        {"learning_rate": 1e-2, "momentum": 0.9},
        {"learning_rate": 0.05, "momentum": 0.5},
        ["velocity"],
        [],
    ),
    "nesterov_momentum": (
        nesterov_scalar,
        {"learning_rate": 1e-2, "momentum": 0.9},
        {"learning_rate": 0.05, "momentum": 0.5},
        ["velocity"],
        [],
    ),
    "adagrad": (
        adagrad_scalar,
        {"learning_rate": 1e-2, "epsilon": 1e-8},
        {"learning_rate": 0.05, "epsilon": 1e-3},
        ["cache"],
        [],
    ),
    "rmsprop": (
        rmsprop_scalar,
        {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
        {"learning_rate": 0.05, "decay_rate": 0.8, "epsilon": 1e-3},
        ["cache"],
        [],
    ),
    "adam": (
        adam_scalar,
        {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
        {"learning_rate": 0.05, "beta1": 0.7, "beta2": 0.9, "epsilon": 1e-3},
        ["m", "v"],
        ["t"],
    ),
    "adabelief": (
        adabelief_scalar,
        {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
        {"learning_rate": 0.05, "beta1": 0.7, "beta2": 0.9, "epsilon": 1e-3},
        ["m", "s"],
        ["t"],
    ),
}
STATEFUL_RULES = [name for name, spec in RULES.items() if spec[3]]
NUM_STEPS = 4


def scalar_steps(scalar_rule, w, gradients, hyperparameters, array_keys, scalar_keys):
    """Run the scalar formula element by element over several steps, starting from
    zero state. Returns one (w, state) pair per step, as arrays."""
    shape = w.shape
    weights = [float(x) for x in w.ravel()]
    states = [
        {**{key: 0.0 for key in array_keys}, **{key: 0 for key in scalar_keys}}
        for _ in weights
    ]
    history = []
    for dw in gradients:
        for i, g in enumerate(dw.ravel()):
            weights[i], states[i] = scalar_rule(
                weights[i], float(g), states[i], **hyperparameters
            )
        state = {key: np.array([s[key] for s in states]).reshape(shape) for key in array_keys}
        state.update({key: states[0][key] for key in scalar_keys})
        history.append((np.array(weights).reshape(shape), state))
    return history


def make_problem(seed=0, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape)
    gradients = [rng.standard_normal(shape) for _ in range(NUM_STEPS)]
    return w, gradients


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("use_defaults", [False, True], ids=["given", "defaults"])
def test_rule_matches_formula_over_several_steps(name, use_defaults):
    scalar_rule, defaults, custom, array_keys, scalar_keys = RULES[name]
    rule = getattr(optim, name)
    hyperparameters = defaults if use_defaults else custom
    w, gradients = make_problem()
    expected = scalar_steps(scalar_rule, w, gradients, hyperparameters, array_keys, scalar_keys)

    config = None if use_defaults else dict(custom)
    for step, (dw, (expected_w, expected_state)) in enumerate(zip(gradients, expected)):
        w, config = rule(w, dw, config)
        assert w.shape == dw.shape
        np.testing.assert_allclose(w, expected_w, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")
        for key in array_keys:
            np.testing.assert_allclose(
                config[key], expected_state[key], rtol=1e-12, atol=1e-14,
                err_msg=f"config[{key!r}] after step {step}",
            )
        for key in scalar_keys:
            assert config[key] == expected_state[key]
    for key, value in hyperparameters.items():
        assert config[key] == value


@pytest.mark.parametrize("name", RULES)
def test_defaults_are_filled_in_and_given_values_kept(name):
    _, defaults, custom, array_keys, scalar_keys = RULES[name]
    rule = getattr(optim, name)
    w, (dw, *_) = make_problem()

    _, config = rule(w, dw)
    assert {key: config[key] for key in defaults} == defaults
    assert set(config) == set(defaults) | set(array_keys) | set(scalar_keys)

    only_lr = {"learning_rate": 0.123}
    _, config = rule(w, dw, only_lr)
    assert config["learning_rate"] == 0.123
    for key, value in defaults.items():
        if key != "learning_rate":
            assert config[key] == value


@pytest.mark.parametrize("name", RULES)
def test_config_is_returned_and_inputs_are_not_modified(name):
    _, _, custom, array_keys, _ = RULES[name]
    rule = getattr(optim, name)
    w, gradients = make_problem(seed=1)
    config = dict(custom)
    for dw in gradients:
        w_before, dw_before = w.copy(), dw.copy()
        next_w, returned = rule(w, dw, config)
        assert returned is config
        np.testing.assert_array_equal(w, w_before)
        np.testing.assert_array_equal(dw, dw_before)
        for key in array_keys:
            for array in (w, dw, next_w):
                assert not np.shares_memory(config[key], array), key
        w = next_w


@pytest.mark.parametrize("name", STATEFUL_RULES)
def test_state_given_by_the_caller_is_not_updated_in_place(name):
    _, _, custom, array_keys, _ = RULES[name]
    rule = getattr(optim, name)
    w, (dw, *_) = make_problem(seed=2)
    given_state = {key: np.full_like(w, 0.5) for key in array_keys}
    config = {**custom, **given_state}
    rule(w, dw, config)
    for key in array_keys:
        np.testing.assert_array_equal(given_state[key], np.full_like(w, 0.5))
        assert config[key] is not given_state[key]


@pytest.mark.parametrize("name", STATEFUL_RULES)
def test_each_config_keeps_its_own_state(name):
    """Two parameters updated in turn, each with its own config, must evolve exactly
    as if each had been updated alone."""
    rule = getattr(optim, name)
    _, _, custom, _, _ = RULES[name]
    w_a, grads_a = make_problem(seed=3, shape=(2, 3))
    w_b, grads_b = make_problem(seed=4, shape=(4,))

    alone_a, config_a = w_a, dict(custom)
    for dw in grads_a:
        alone_a, config_a = rule(alone_a, dw, config_a)

    config_a, config_b = dict(custom), dict(custom)
    for dw_a, dw_b in zip(grads_a, grads_b):
        w_a, config_a = rule(w_a, dw_a, config_a)
        w_b, config_b = rule(w_b, dw_b, config_b)
    np.testing.assert_array_equal(w_a, alone_a)


# --- The notebook's check inputs (5 x 5 arrays built with linspace) ---

N, D = 5, 5
NOTEBOOK_W = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
NOTEBOOK_DW = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)


def elementwise(formula, *arrays):
    """Apply a scalar formula to matching elements of several (N, D) arrays; returns
    a tuple of arrays, one per output of the formula."""
    rows = [formula(*(float(a) for a in values)) for values in zip(*(x.ravel() for x in arrays))]
    return tuple(np.array(column).reshape(N, D) for column in zip(*rows))


def test_sgd_momentum_on_notebook_inputs():
    velocity = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    next_w, config = optim.sgd_momentum(
        NOTEBOOK_W, NOTEBOOK_DW, {"learning_rate": 1e-3, "velocity": velocity}
    )

    # First element by hand: v = 0.9 * 0.6 - 1e-3 * (-0.6) = 0.5406; w = -0.4 + 0.5406.
    assert abs(next_w[0, 0] - 0.1406) < 1e-12
    assert abs(config["velocity"][0, 0] - 0.5406) < 1e-12
    expected_velocity, expected_next_w = elementwise(
        lambda w, dw, v: (0.9 * v - 1e-3 * dw, w + 0.9 * v - 1e-3 * dw),
        NOTEBOOK_W, NOTEBOOK_DW, velocity,
    )
    assert np.max(np.abs(next_w - expected_next_w)) < 1e-8
    assert np.max(np.abs(config["velocity"] - expected_velocity)) < 1e-8


def test_rmsprop_on_notebook_inputs():
    cache = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    next_w, config = optim.rmsprop(
        NOTEBOOK_W, NOTEBOOK_DW, {"learning_rate": 1e-2, "cache": cache}
    )

    # First element by hand: cache = 0.99 * 0.6 + 0.01 * 0.36 = 0.5976.
    assert abs(config["cache"][0, 0] - 0.5976) < 1e-12
    assert abs(next_w[0, 0] - (-0.4 + 1e-2 * 0.6 / (math.sqrt(0.5976) + 1e-8))) < 1e-12

    def formula(w, dw, c):
        new_cache = 0.99 * c + 0.01 * dw * dw
        return new_cache, w - 1e-2 * dw / (math.sqrt(new_cache) + 1e-8)

    expected_cache, expected_next_w = elementwise(formula, NOTEBOOK_W, NOTEBOOK_DW, cache)
    assert np.max(np.abs(next_w - expected_next_w)) < 1e-8
    assert np.max(np.abs(config["cache"] - expected_cache)) < 1e-8


def test_adam_on_notebook_inputs():
    m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    next_w, config = optim.adam(
        NOTEBOOK_W, NOTEBOOK_DW, {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
    )

    # t advances to 6 before the bias correction. First element by hand:
    # m = 0.9 * 0.6 + 0.1 * (-0.6) = 0.48; v = 0.999 * 0.7 + 0.001 * 0.36 = 0.69966.
    assert config["t"] == 6
    assert abs(config["m"][0, 0] - 0.48) < 1e-12
    assert abs(config["v"][0, 0] - 0.69966) < 1e-12
    step = 1e-2 * (0.48 / (1 - 0.9**6)) / (math.sqrt(0.69966 / (1 - 0.999**6)) + 1e-8)
    assert abs(next_w[0, 0] - (-0.4 - step)) < 1e-12

    def formula(w, dw, m0, v0):
        m1 = 0.9 * m0 + 0.1 * dw
        v1 = 0.999 * v0 + 0.001 * dw * dw
        m_hat, v_hat = m1 / (1 - 0.9**6), v1 / (1 - 0.999**6)
        return m1, v1, w - 1e-2 * m_hat / (math.sqrt(v_hat) + 1e-8)

    expected_m, expected_v, expected_next_w = elementwise(formula, NOTEBOOK_W, NOTEBOOK_DW, m, v)
    assert np.max(np.abs(next_w - expected_next_w)) < 1e-8
    assert np.max(np.abs(config["m"] - expected_m)) < 1e-8
    assert np.max(np.abs(config["v"] - expected_v)) < 1e-8
