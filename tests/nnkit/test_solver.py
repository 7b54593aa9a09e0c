"""Tests for nnkit/solver.py, using a small softmax-regression model defined here."""
import pickle

import numpy as np
import pytest

from nnkit import optim
from nnkit.solver import Solver


class SoftmaxRegression:
    """A linear classifier with softmax loss: scores = X_flat @ W + b.

    Follows the model API the Solver expects: params, and loss(X, y=None) returning
    scores (N, C) without y, or (loss, grads) with y.
    """

    def __init__(self, num_features, num_classes, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {
            "W": 1e-2 * rng.standard_normal((num_features, num_classes)),
            "b": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        X_flat = X.reshape(X.shape[0], -1)
        scores = X_flat @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(X.shape[0])
        loss = -log_probs[rows, y].mean()
        dscores = np.exp(log_probs)
        dscores[rows, y] -= 1
        dscores /= X.shape[0]
        return loss, {"W": X_flat.T @ dscores, "b": dscores.sum(axis=0)}


class UnpicklableModel(SoftmaxRegression):
    def __getstate__(self):
        raise RuntimeError("this model refuses to be pickled")


class RecordingModel(SoftmaxRegression):
    """Remembers every batch it was asked to score at test time."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scored_batches = []

    def loss(self, X, y=None):
        if y is None:
            self.scored_batches.append(X.copy())
        return super().loss(X, y)


NUM_CLASSES = 3
NUM_FEATURES = 4


def make_data(num_train=300, num_val=90, seed=0):
    """Three well-separated Gaussian blobs in 4 dimensions, as (N, 2, 2) inputs so
    that the model has to flatten them."""
    rng = np.random.default_rng(seed)
    centers = 4.0 * rng.standard_normal((NUM_CLASSES, NUM_FEATURES))

    def sample(n):
        y = rng.integers(NUM_CLASSES, size=n)
        X = centers[y] + 0.5 * rng.standard_normal((n, NUM_FEATURES))
        return X.reshape(n, 2, 2), y

    X_train, y_train = sample(num_train)
    X_val, y_val = sample(num_val)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


@pytest.fixture(autouse=True)
def seeded_global_rng():
    """The Solver samples minibatches from numpy's global generator."""
    np.random.seed(0)


def make_solver(model=None, data=None, **options):
    options.setdefault("verbose", False)
    return Solver(
        model if model is not None else SoftmaxRegression(NUM_FEATURES, NUM_CLASSES),
        data if data is not None else make_data(),
        **options,
    )


def accuracy(model, X, y):
    return np.mean(np.argmax(model.loss(X), axis=1) == y)


LEARNING_RATES = {
    "sgd": 0.5,
    "sgd_momentum": 0.1,
    "nesterov_momentum": 0.1,
    "adagrad": 0.5,
    "rmsprop": 0.05,
    "adam": 0.05,
    "adabelief": 0.05,
}


@pytest.mark.parametrize("update_rule", LEARNING_RATES)
def test_training_reaches_high_accuracy(update_rule):
    data = make_data()
    model = SoftmaxRegression(NUM_FEATURES, NUM_CLASSES)
    assert accuracy(model, data["X_val"], data["y_val"]) < 0.8

    solver = make_solver(
        model, data, update_rule=update_rule,
        optim_config={"learning_rate": LEARNING_RATES[update_rule]},
        num_epochs=5, batch_size=30,
    )
    solver.train()

    assert solver.best_val_acc >= 0.95
    assert accuracy(model, data["X_val"], data["y_val"]) >= 0.95
    assert accuracy(model, data["X_train"], data["y_train"]) >= 0.95
    assert np.mean(solver.loss_history[-5:]) < solver.loss_history[0] / 4


def test_update_rule_can_be_a_function():
    data = make_data()
    model = SoftmaxRegression(NUM_FEATURES, NUM_CLASSES)
    solver = make_solver(
        model, data, update_rule=optim.sgd_momentum, optim_config={"learning_rate": 0.1},
        num_epochs=3,
    )
    solver.train()
    assert solver.best_val_acc >= 0.95
    assert solver.optim_configs["W"]["velocity"].shape == (NUM_FEATURES, NUM_CLASSES)


@pytest.mark.parametrize(
    "num_train, batch_size, iterations_per_epoch",
    [(300, 50, 6), (310, 50, 6), (40, 100, 1)],
)
def test_history_lengths(num_train, batch_size, iterations_per_epoch):
    num_epochs = 4
    solver = make_solver(
        data=make_data(num_train=num_train), num_epochs=num_epochs, batch_size=batch_size
    )
    solver.train()

    assert len(solver.loss_history) == num_epochs * iterations_per_epoch
    assert all(isinstance(loss, float) for loss in solver.loss_history)
    # One measurement before training, then one after each epoch.
    assert len(solver.train_acc_history) == num_epochs + 1
    assert len(solver.val_acc_history) == num_epochs + 1
    assert solver.epoch == num_epochs


def sgd_then_ascent(good_steps):
    """An update rule that descends for good_steps calls per parameter, then climbs
    the loss, so the last epochs are worse than the best one."""

    def rule(w, dw, config):
        config.setdefault("learning_rate", 0.5)
        config["calls"] = config.get("calls", 0) + 1
        direction = -1.0 if config["calls"] <= good_steps else 1.0
        return w + direction * config["learning_rate"] * dw, config

    return rule


def test_best_params_are_restored_at_the_end():
    data = make_data()
    model = SoftmaxRegression(NUM_FEATURES, NUM_CLASSES)
    # 10 steps per epoch: two epochs of descent, then four of ascent.
    solver = make_solver(
        model, data, update_rule=sgd_then_ascent(good_steps=20), num_epochs=6,
        batch_size=30,
    )
    solver.train()

    history = solver.val_acc_history
    assert solver.best_val_acc == max(history)
    assert history[-1] < solver.best_val_acc, "the test needs the last epoch to be worse"
    assert solver.best_val_acc >= 0.95
    assert model.params.keys() == solver.best_params.keys()
    for name in model.params:
        np.testing.assert_array_equal(model.params[name], solver.best_params[name])
        assert model.params[name] is not solver.best_params[name]
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc


def test_lr_decay_multiplies_learning_rate_after_each_epoch():
    learning_rates_seen = []

    def recording_sgd(w, dw, config):
        learning_rates_seen.append(config["learning_rate"])
        return optim.sgd(w, dw, config)

    user_config = {"learning_rate": 0.1}
    num_epochs, iterations_per_epoch, num_params = 3, 6, 2
    solver = make_solver(
        update_rule=recording_sgd, optim_config=user_config, lr_decay=0.5,
        num_epochs=num_epochs, batch_size=50,
    )
    solver.train()

    per_epoch = iterations_per_epoch * num_params
    for epoch in range(num_epochs):
        seen = learning_rates_seen[epoch * per_epoch : (epoch + 1) * per_epoch]
        assert seen == pytest.approx([0.1 * 0.5**epoch] * per_epoch)
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.1 * 0.5**num_epochs)
    assert user_config == {"learning_rate": 0.1}


def test_each_parameter_gets_its_own_optim_config():
    user_config = {"learning_rate": 0.1, "momentum": 0.8}
    solver = make_solver(update_rule="sgd_momentum", optim_config=user_config, num_epochs=1)
    solver.train()

    config_W, config_b = solver.optim_configs["W"], solver.optim_configs["b"]
    assert config_W is not config_b and config_W is not user_config
    assert config_W["velocity"].shape == (NUM_FEATURES, NUM_CLASSES)
    assert config_b["velocity"].shape == (NUM_CLASSES,)
    assert config_W["momentum"] == config_b["momentum"] == 0.8
    assert user_config == {"learning_rate": 0.1, "momentum": 0.8}


def test_step_updates_every_parameter_once():
    solver = make_solver(update_rule="sgd", optim_config={"learning_rate": 0.1})
    before = {name: value.copy() for name, value in solver.model.params.items()}
    solver._step()
    assert len(solver.loss_history) == 1
    for name in before:
        assert not np.array_equal(solver.model.params[name], before[name]), name


def test_missing_gradient_is_reported():
    class ForgetsBias(SoftmaxRegression):
        def loss(self, X, y=None):
            if y is None:
                return super().loss(X)
            loss, grads = super().loss(X, y)
            del grads["b"]
            return loss, grads

    solver = make_solver(model=ForgetsBias(NUM_FEATURES, NUM_CLASSES))
    with pytest.raises(KeyError, match="no gradient for b"):
        solver._step()


def test_check_accuracy_is_the_same_in_any_batch_size():
    data = make_data()
    model = SoftmaxRegression(NUM_FEATURES, NUM_CLASSES, seed=2)
    solver = make_solver(model, data)
    X, y = data["X_train"], data["y_train"]
    expected = accuracy(model, X, y)
    assert 0.05 < expected < 0.95  # an untrained model: some right, some wrong

    for batch_size in (1, 7, 100, 300, 1000):
        assert solver.check_accuracy(X, y, batch_size=batch_size) == expected


def test_check_accuracy_subsamples_without_replacement_in_batches():
    data = make_data()
    model = RecordingModel(NUM_FEATURES, NUM_CLASSES, seed=2)
    solver = make_solver(model, data)
    X, y = data["X_train"], data["y_train"]
    row_of = {X[i].tobytes(): i for i in range(len(X))}

    acc = solver.check_accuracy(X, y, num_samples=40, batch_size=15)

    assert [len(batch) for batch in model.scored_batches] == [15, 15, 10]
    rows = [row_of[x.tobytes()] for batch in model.scored_batches for x in batch]
    assert len(set(rows)) == 40
    assert acc == accuracy(model, X[rows], y[rows])

    model.scored_batches.clear()
    solver.check_accuracy(X, y, num_samples=5000)
    assert sum(len(batch) for batch in model.scored_batches) == len(X)


def test_num_train_and_val_samples_limit_accuracy_checks():
    data = make_data()
    model = RecordingModel(NUM_FEATURES, NUM_CLASSES)
    solver = make_solver(model, data, num_epochs=1, num_train_samples=50, num_val_samples=20)
    solver.train()
    # Before training and after the epoch: a train check then a val check each time.
    assert [sum(map(len, model.scored_batches))] == [2 * (50 + 20)]


def test_checkpoints_are_written_and_loadable(tmp_path):
    num_epochs, iterations_per_epoch = 3, 6
    solver = make_solver(
        update_rule="sgd_momentum", optim_config={"learning_rate": 0.1}, lr_decay=0.9,
        num_epochs=num_epochs, batch_size=50, num_train_samples=100,
        checkpoint_name=str(tmp_path / "run"),
    )
    solver.train()

    expected_files = {f"run_epoch_{epoch}.pkl" for epoch in range(1, num_epochs + 1)}
    assert {path.name for path in tmp_path.iterdir()} == expected_files

    for epoch in range(1, num_epochs + 1):
        with open(tmp_path / f"run_epoch_{epoch}.pkl", "rb") as f:
            checkpoint = pickle.load(f)
        assert set(checkpoint) == {
            "model", "update_rule", "lr_decay", "optim_config", "batch_size",
            "num_train_samples", "num_val_samples", "epoch", "loss_history",
            "train_acc_history", "val_acc_history",
        }
        assert checkpoint["epoch"] == epoch
        assert checkpoint["update_rule"] == "sgd_momentum"
        assert checkpoint["lr_decay"] == 0.9
        assert checkpoint["optim_config"] == {"learning_rate": 0.1}
        assert checkpoint["batch_size"] == 50
        assert checkpoint["num_train_samples"] == 100
        assert checkpoint["num_val_samples"] is None
        assert checkpoint["loss_history"] == solver.loss_history[: epoch * iterations_per_epoch]
        assert checkpoint["val_acc_history"] == solver.val_acc_history[: epoch + 1]
        assert checkpoint["train_acc_history"] == solver.train_acc_history[: epoch + 1]
        assert isinstance(checkpoint["model"], SoftmaxRegression)
        assert checkpoint["model"].loss(np.zeros((2, 2, 2))).shape == (2, NUM_CLASSES)


def test_failed_checkpoint_leaves_no_partial_file(tmp_path):
    existing = tmp_path / "run_epoch_1.pkl"
    existing.write_bytes(b"checkpoint from an earlier run")
    solver = make_solver(
        model=UnpicklableModel(NUM_FEATURES, NUM_CLASSES), num_epochs=2,
        checkpoint_name=str(tmp_path / "run"),
    )
    with pytest.raises(RuntimeError, match="refuses to be pickled"):
        solver.train()

    assert [path.name for path in tmp_path.iterdir()] == ["run_epoch_1.pkl"]
    assert existing.read_bytes() == b"checkpoint from an earlier run"


def test_unknown_option_is_a_type_error_listing_the_accepted_ones():
    with pytest.raises(TypeError) as excinfo:
        make_solver(learning_rate=1e-3)
    message = str(excinfo.value)
    assert "'learning_rate'" in message
    for option in ("update_rule", "optim_config", "lr_decay", "batch_size", "num_epochs",
                   "num_train_samples", "num_val_samples", "checkpoint_name",
                   "print_every", "verbose"):
        assert option in message


def test_unknown_update_rule_is_a_value_error_listing_the_available_ones():
    with pytest.raises(ValueError) as excinfo:
        make_solver(update_rule="adamw")
    message = str(excinfo.value)
    assert "'adamw'" in message
    for rule in LEARNING_RATES:
        assert rule in message


def test_missing_data_key_is_reported():
    data = make_data()
    del data["y_val"]
    with pytest.raises(ValueError, match="y_val"):
        make_solver(data=data)


def test_quiet_solver_prints_nothing(capsys):
    solver = make_solver(num_epochs=2, verbose=False, print_every=1)
    solver.train()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_verbose_solver_reports_progress(capsys):
    solver = make_solver(num_epochs=2, batch_size=50, verbose=True, print_every=5)
    solver.train()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("(Epoch 0 / 2) train acc: ")
    assert "(Iteration 1 / 12) loss: " in out
    assert "(Iteration 6 / 12) loss: " in out
    assert "(Iteration 11 / 12) loss: " in out
    assert "(Iteration 2 / 12)" not in out
    assert lines[-1].startswith("(Epoch 2 / 2) train acc: ")
    assert "; val_acc: " in lines[-1]
