"""How close the reference layers run to the bare numpy work they must do.

For each layer the benchmark times the reference forward+backward pass (nnkit.layers) and the
same arithmetic written as bare numpy expressions with no caches or Python structure (the
"floor": for affine that is its three matrix multiplies and a column sum). Both return their
outputs, so both pay the same memory allocation (on these VMs glibc hands freed 1 MB buffers
back to the kernel, and the page faults of re-allocating them can cost more than the
arithmetic; MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ change that). Both are measured
side by side in one run, interleaved, best of several repeats, and printed as a ratio.
Target: every ratio within 1.5x. It also times one Solver epoch on the 49,000 CIFAR-10
training images.

Run: make benchmark   (or .venv/bin/python benchmarks/bench_layers.py [--no-epoch])
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "source" / "fcnet"))

from nnkit import layers  # noqa: E402

BATCH, FEATURES, HIDDEN, CLASSES = 256, 3 * 32 * 32, 512, 10


def elapsed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def affine_pair(rng):
    x = rng.standard_normal((BATCH, FEATURES))
    w = rng.standard_normal((FEATURES, HIDDEN)) * 0.01
    b = np.zeros(HIDDEN)
    dout = rng.standard_normal((BATCH, HIDDEN))

    def reference():
        out, cache = layers.affine_forward(x, w, b)
        return out, layers.affine_backward(dout, cache)

    def floor():
        out = x @ w + b
        return out, (dout @ w.T, x.T @ dout, dout.sum(axis=0))

    return reference, floor


def relu_pair(rng):
    x = rng.standard_normal((BATCH, HIDDEN))
    dout = rng.standard_normal(x.shape)

    def reference():
        out, cache = layers.relu_forward(x)
        return out, layers.relu_backward(dout, cache)

    def floor():
        return np.maximum(x, 0), dout * (x > 0)

    return reference, floor


def softmax_pair(rng):
    scores = rng.standard_normal((BATCH, CLASSES))
    y = rng.integers(CLASSES, size=BATCH)

    def reference():
        return layers.softmax_loss(scores, y)

    def floor():
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        probs = exp / exp.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(BATCH), y]).mean()
        probs[np.arange(BATCH), y] -= 1
        return loss, probs / BATCH

    return reference, floor


def batchnorm_pair(rng):
    x = rng.standard_normal((BATCH, HIDDEN))
    gamma, beta = np.ones(HIDDEN), np.zeros(HIDDEN)
    dout = rng.standard_normal(x.shape)

    def reference():
        out, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
        return out, layers.batchnorm_backward_alt(dout, cache)

    def floor():
        x_centered = x - x.mean(axis=0)
        inv_std = 1.0 / np.sqrt(np.mean(x_centered**2, axis=0) + 1e-5)
        x_hat = x_centered * inv_std
        out = gamma * x_hat + beta
        dx_hat = dout * gamma
        dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) * inv_std
        return out, (dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0))

    return reference, floor


def time_layers(repeats):
    rng = np.random.default_rng(0)
    print(f"Layer forward+backward, batch {BATCH}, best of {repeats} (float64)")
    print(f"{'layer':<12}{'reference ms':>14}{'floor ms':>11}{'ratio':>8}")
    for name, make_pair in [("affine", affine_pair), ("relu", relu_pair),
                            ("softmax", softmax_pair), ("batchnorm", batchnorm_pair)]:
        reference, floor = make_pair(rng)
        reference(), floor()  # warm caches and allocator before timing
        ref_times, floor_times = [], []
        for _ in range(repeats):  # interleaved so machine noise hits both alike
            ref_times.append(elapsed(reference))
            floor_times.append(elapsed(floor))
        ref, flo = min(ref_times), min(floor_times)
        print(f"{name:<12}{ref * 1e3:>14.3f}{flo * 1e3:>11.3f}{ref / flo:>7.2f}x")


def time_solver_epoch():
    from nnkit.classifiers.fc_net import TwoLayerNet
    from nnkit.data_utils import get_CIFAR10_data
    from nnkit.solver import Solver

    data = get_CIFAR10_data()
    model = TwoLayerNet(hidden_dim=100, weight_scale=1e-3)
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 1e-3},
                    num_epochs=1, batch_size=100, verbose=False)
    start = time.perf_counter()
    solver.train()
    seconds = time.perf_counter() - start
    print(f"\nSolver: one epoch of TwoLayerNet(hidden 100) on {len(data['X_train'])} CIFAR-10 "
          f"images, batch 100: {seconds:.1f} s (val acc {solver.best_val_acc:.3f})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-epoch", action="store_true", help="skip the CIFAR-10 Solver epoch")
    args = parser.parse_args(argv)
    time_layers(args.repeats)
    if not args.no_epoch:
        time_solver_epoch()


if __name__ == "__main__":
    main()
