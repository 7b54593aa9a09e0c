"""The accuracy targets students are given are reachable by the reference solution.

These train real networks on the full CIFAR-10 training split (minutes, not seconds), so
they are marked slow; CI runs them.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nnkit.classifiers.fc_net import FullyConnectedNet
from nnkit.data_utils import get_CIFAR10_data
from nnkit.solver import Solver

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_reference.py"
spec = importlib.util.spec_from_file_location("train_reference", SCRIPT)
train_reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_reference)


@pytest.fixture(scope="module")
def cifar(datasets_dir):
    return get_CIFAR10_data(cifar10_dir=datasets_dir / "cifar-10-batches-py")


@pytest.mark.slow
def test_tuned_two_layer_net_reaches_the_48_percent_target(cifar):
    model, solver = train_reference.train_two_layer_net(cifar)
    val = train_reference.accuracy(model, cifar["X_val"], cifar["y_val"])
    assert val >= train_reference.TWO_LAYER_TARGET, f"validation accuracy {val:.3f}"


@pytest.mark.slow
def test_best_fully_connected_net_reaches_the_50_percent_target(cifar):
    model, solver = train_reference.train_best_fc_net(cifar)
    val = train_reference.accuracy(model, cifar["X_val"], cifar["y_val"])
    assert val >= train_reference.BEST_MODEL_TARGET, f"validation accuracy {val:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("hidden_dims, weight_scale, learning_rate", [
    ([100, 100], 3e-2, 3e-3),
    ([100, 100, 100, 100], 1e-1, 1e-3),
])
def test_deep_nets_overfit_fifty_images(cifar, hidden_dims, weight_scale, learning_rate):
    small = {
        "X_train": cifar["X_train"][:50], "y_train": cifar["y_train"][:50],
        "X_val": cifar["X_val"], "y_val": cifar["y_val"],
    }
    np.random.seed(231)
    model = FullyConnectedNet(hidden_dims, weight_scale=weight_scale, dtype=np.float64)
    solver = Solver(model, small, update_rule="sgd", optim_config={"learning_rate": learning_rate},
                    num_epochs=20, batch_size=25, verbose=False)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
