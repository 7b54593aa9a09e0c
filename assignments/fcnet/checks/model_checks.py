"""Hidden checks that need CIFAR-10: the small overfitting experiments and the saved best model.

- Overfitting: the notebook passes the student's weight_scale and learning_rate; the grader
  repeats the 50-image run of the notebook with the reference nnkit (same seed, same data),
  so the grade does not rest on a training history in the notebook's namespace.
- Best model: best_model.npz is read from the submission with the REFERENCE model_io (the
  student's arrays are trusted, never their code) and evaluated on the validation and test
  splits of the notebook. Nothing is retrained.

The splits are the ones nnkit.data_utils.get_CIFAR10_data() gives with its defaults (mean
of the first 49,000 training images subtracted). Computing that mean reads all of CIFAR-10,
so the few arrays the checks need are cached on disk, keyed by the data files' sizes and
modification times.
"""
import hashlib
import json
import math
import numbers
import os
import tempfile
from pathlib import Path

import numpy as np

from autograder.checks.framework import NotGradable, check, reference_package
from autograder.checks.notebook_values import Unreadable, ValueSource

NUM_TRAINING, NUM_VALIDATION, NUM_TEST = 49000, 1000, 1000  # get_CIFAR10_data's defaults
OVERFIT_IMAGES = 50
BEST_MODEL_FILE = "best_model.npz"
BEST_MODEL_TARGET = 0.50
MAX_MODEL_FILE_BYTES = 200 * 2**20
MAX_MODEL_PARAMETERS = 25_000_000
CACHE_ENV = "NNKIT_CHECK_CACHE"


# --- CIFAR-10, as the notebooks see it --------------------------------------------------


def _cache_dir():
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnkit-autograder"


def cifar10_splits():
    """{"X_train50", "y_train50", "X_val", "y_val", "X_test", "y_test"}: float64 images of
    shape (N, 3, 32, 32) with the training mean subtracted, int64 labels."""
    reference_package()  # puts the reference nnkit on sys.path
    from nnkit import data_utils

    try:
        folder = data_utils._locate(data_utils.CIFAR10_FOLDER, None, "CIFAR-10")
    except data_utils.DatasetNotFoundError as error:
        raise NotGradable(str(error)) from None
    files = [folder / name for name in [*data_utils.CIFAR10_TRAIN_BATCHES, data_utils.CIFAR10_TEST_BATCH]]
    fingerprint = hashlib.sha256(json.dumps(
        [str(folder.resolve())] + [[path.stat().st_size, path.stat().st_mtime_ns] for path in files if path.exists()]
    ).encode()).hexdigest()[:16]
    cache_file = _cache_dir() / f"cifar10-splits-{fingerprint}.npz"
    try:
        with np.load(cache_file, allow_pickle=False) as cached:
            raw = {key: cached[key] for key in cached.files}
    except (OSError, ValueError):
        raw = _read_splits(data_utils, folder)
        _write_cache(cache_file, raw)
    mean_image = raw["mean_image"]
    splits = {}
    for name in ("train50", "val", "test"):
        splits[f"X_{name}"] = raw[f"X_{name}"].astype(np.float64) - mean_image
        splits[f"y_{name}"] = raw[f"y_{name}"].astype(np.int64)
    return splits


def _read_splits(data_utils, folder):
    try:
        Xtr, Ytr, Xte, Yte = data_utils.load_CIFAR10(folder)
    except (data_utils.DatasetNotFoundError, data_utils.DatasetCorruptError) as error:
        raise NotGradable(str(error)) from None
    channels_first = lambda images: np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    # The pixel sums are integers below 2**53, so this mean is bit-identical to the float64
    # mean get_CIFAR10_data computes.
    mean_image = channels_first(Xtr[:NUM_TRAINING]).sum(axis=0, dtype=np.int64) / NUM_TRAINING
    return {
        "mean_image": mean_image,
        "X_train50": channels_first(Xtr[:OVERFIT_IMAGES]), "y_train50": Ytr[:OVERFIT_IMAGES],
        "X_val": channels_first(Xtr[NUM_TRAINING:NUM_TRAINING + NUM_VALIDATION]),
        "y_val": Ytr[NUM_TRAINING:NUM_TRAINING + NUM_VALIDATION],
        "X_test": channels_first(Xte[:NUM_TEST]), "y_test": Yte[:NUM_TEST],
    }


def _write_cache(cache_file, arrays):
    """Write atomically; a cache that cannot be written only costs time."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_file.parent, suffix=".npz", delete=False) as partial:
            np.savez(partial, **arrays)
        os.replace(partial.name, cache_file)
    except OSError:
        pass


# --- overfitting 50 images --------------------------------------------------------------
# The student's settings: {check parameter: the notebook's variable}, set in the cell above the check.
OVERFIT_VARIABLES = {"weight_scale": "weight_scale", "learning_rate": "learning_rate"}


def _positive_number(ctx, name):
    value = ctx.values.get(name)
    where = ctx.values_from.cell
    if value is None:
        ctx.fail(f"{name} is not set: set it to a positive number in the cell {where} (the one above) and run it")
        return None
    if isinstance(value, Unreadable):
        ctx.fail(f"{name} must be a positive number written as a literal (like 1e-2, or arithmetic on "
                 f"numbers, like 2 * 1e-3); the grader reads it from the cell {where} without running "
                 f"anything, and cannot read `{value.source}`")
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        ctx.fail(f"{name} must be a positive number, got {value!r}; set it in the cell {where} and run it")
        return None
    return float(value)


def _overfit(ctx, label, hidden_dims):
    weight_scale, learning_rate = _positive_number(ctx, "weight_scale"), _positive_number(ctx, "learning_rate")
    if weight_scale is None or learning_rate is None:
        return
    splits = cifar10_splits()
    from nnkit.classifiers.fc_net import FullyConnectedNet
    from nnkit.solver import Solver

    # As in the notebook: seed, model, Solver. The validation images do not influence the
    # training accuracy (they are all used, no random subset), so a few stand in for them.
    np.random.seed(0)
    model = FullyConnectedNet(hidden_dims, weight_scale=weight_scale, dtype=np.float64)
    data = {"X_train": splits["X_train50"], "y_train": splits["y_train50"],
            "X_val": splits["X_val"][:10], "y_val": splits["y_val"][:10]}
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": learning_rate},
                    num_epochs=20, batch_size=25, verbose=False)
    with np.errstate(all="ignore"):  # a diverging run is a result, not an error
        solver.train()
    accuracy = solver.train_acc_history[-1]
    settings = f"weight_scale = {weight_scale:g} and learning_rate = {learning_rate:g}"
    if accuracy < 1.0:
        ctx.fail(f"with {settings} the {label} reaches a training accuracy of {accuracy:.2f} after 20 epochs "
                 "on the 50 images when the grader trains it with a correct implementation; it must reach "
                 "1.00. Choose values that reach 1.00 reliably, not just in your run")
    else:
        ctx.note(f"{label}: {settings} reach training accuracy 1.00 (retrained by the grader)")


@check("fc_overfit_three_layer_check", "the student's weight_scale and learning_rate make the three-layer "
                                       "net reach 100% training accuracy on 50 images (rerun with the reference)",
       values_from=ValueSource("FullyConnectedNets.ipynb", "fc_overfit_three_layer", OVERFIT_VARIABLES))
def overfit_three_layer(ctx):
    _overfit(ctx, "three-layer net", [100, 100])


@check("fc_overfit_five_layer_check", "the student's weight_scale and learning_rate make the five-layer "
                                      "net reach 100% training accuracy on 50 images (rerun with the reference)",
       values_from=ValueSource("FullyConnectedNets.ipynb", "fc_overfit_five_layer", OVERFIT_VARIABLES))
def overfit_five_layer(ctx):
    _overfit(ctx, "five-layer net", [100, 100, 100, 100])


# --- the saved best model ---------------------------------------------------------------


def _parameter_count(init_args):
    """Number of weights the constructor arguments ask for (None if they make no sense)."""
    try:
        if "hidden_dims" in init_args:
            sizes = [init_args["input_dim"], *init_args["hidden_dims"], init_args["num_classes"]]
        else:
            sizes = [init_args["input_dim"], init_args["hidden_dim"], init_args["num_classes"]]
        sizes = [int(size) for size in sizes]
    except (KeyError, TypeError, ValueError):
        return None
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


@check("fc_best_model_saved", f"best_model.npz loads with the reference model_io and reaches >= "
                              f"{BEST_MODEL_TARGET:.2f} validation accuracy on CIFAR-10 (test accuracy reported)",
       # the visible part evaluates the model with the student's network and layers
       exercises=("FullyConnectedNets.ipynb:fc_best_model", "nnkit/classifiers/fc_net.py:FullyConnectedNet",
                  "nnkit/layers.py:affine_forward", "nnkit/layers.py:relu_forward"))
def best_model(ctx):
    path = ctx.submission / BEST_MODEL_FILE
    if not path.is_file():
        ctx.fail(f"{BEST_MODEL_FILE} is not in the submission: train best_model, run the cell that saves it "
                 f"with save_model(best_model, \"{BEST_MODEL_FILE}\"), and hand the file in")
        return
    if path.stat().st_size > MAX_MODEL_FILE_BYTES:
        ctx.fail(f"{BEST_MODEL_FILE} is larger than {MAX_MODEL_FILE_BYTES // 2**20} MiB; save a smaller model")
        return
    reference_package()
    from nnkit import model_io

    # Look at the architecture before building it: the constructor allocates every weight.
    try:
        with np.load(path, allow_pickle=False) as archive:
            metadata = json.loads(str(archive[model_io.METADATA_KEY]))
        count = _parameter_count(metadata["init_args"])
    except Exception:  # noqa: BLE001 - load_model below explains what is wrong with the file
        count = None
    if count is not None and count > MAX_MODEL_PARAMETERS:
        ctx.fail(f"{BEST_MODEL_FILE} describes a network with {count:,} weights; at most "
                 f"{MAX_MODEL_PARAMETERS:,} are accepted")
        return
    try:
        model = model_io.load_model(path)
    except (model_io.ModelFileError, OSError, ValueError) as error:
        ctx.fail(f"{BEST_MODEL_FILE} cannot be loaded: {str(error).replace(str(path), BEST_MODEL_FILE)}. "
                 f"Save the model again with save_model(best_model, \"{BEST_MODEL_FILE}\")")
        return
    init_args = model.init_args
    if init_args.get("input_dim") != 3 * 32 * 32 or init_args.get("num_classes") != 10:
        ctx.fail(f"the model in {BEST_MODEL_FILE} takes inputs of size {init_args.get('input_dim')} and predicts "
                 f"{init_args.get('num_classes')} classes; CIFAR-10 needs input_dim = 3072 and num_classes = 10")
        return

    splits = cifar10_splits()
    accuracy = {}
    with np.errstate(all="ignore"):
        for split in ("val", "test"):
            scores = model.loss(splits[f"X_{split}"])
            accuracy[split] = float(np.mean(np.argmax(scores, axis=1) == splits[f"y_{split}"]))
    summary = (f"validation accuracy {accuracy['val']:.3f} (target: at least {BEST_MODEL_TARGET:.2f}), "
               f"test accuracy {accuracy['test']:.3f}")
    if accuracy["val"] < BEST_MODEL_TARGET:
        ctx.fail(f"the model in {BEST_MODEL_FILE} reaches {summary}; train a better one and save it again")
    else:
        ctx.note(f"{BEST_MODEL_FILE}: {summary}")
