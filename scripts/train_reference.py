"""Train the reference networks on CIFAR-10 and print their accuracies.

These are the recipes behind the targets students are given: a tuned two-layer net reaches
at least 48% validation accuracy, the best fully-connected net at least 50%. The test suite
(tests/test_training_targets.py) trains the same recipes and asserts the targets.

Run: make main   (or .venv/bin/python scripts/train_reference.py)
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "source" / "fcnet"))

from nnkit.classifiers.fc_net import FullyConnectedNet, TwoLayerNet  # noqa: E402
from nnkit.data_utils import get_CIFAR10_data  # noqa: E402
from nnkit.solver import Solver  # noqa: E402

TWO_LAYER_TARGET = 0.48
BEST_MODEL_TARGET = 0.50


def train_two_layer_net(data, verbose=False):
    """The recipe of FullyConnectedNets.ipynb's tuning cell (plain SGD: students have no
    other update rule yet at that point)."""
    np.random.seed(0)
    model = TwoLayerNet(hidden_dim=100, weight_scale=1e-3, reg=0.1)
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 2e-3},
                    lr_decay=0.8, num_epochs=8, batch_size=200, verbose=verbose)
    solver.train()
    return model, solver


def train_best_fc_net(data, verbose=False):
    """The recipe of FullyConnectedNets.ipynb's "train your best model" cell."""
    np.random.seed(0)
    model = FullyConnectedNet([200, 100], weight_scale=5e-3, reg=0.01)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 5e-4},
                    lr_decay=0.8, num_epochs=8, batch_size=200, verbose=verbose)
    solver.train()
    return model, solver


def accuracy(model, X, y):
    return float(np.mean(np.argmax(model.loss(X), axis=1) == y))


def main():
    data = get_CIFAR10_data()
    for name, train, target in [("two-layer net", train_two_layer_net, TWO_LAYER_TARGET),
                                ("best fully-connected net", train_best_fc_net, BEST_MODEL_TARGET)]:
        start = time.perf_counter()
        model, _ = train(data)
        val = accuracy(model, data["X_val"], data["y_val"])
        test = accuracy(model, data["X_test"], data["y_test"])
        verdict = "meets" if val >= target else "MISSES"
        print(f"{name}: validation {val:.1%}, test {test:.1%} "
              f"({verdict} the {target:.0%} target; {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
