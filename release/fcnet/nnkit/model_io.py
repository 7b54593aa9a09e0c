"""Save a trained network to one .npz file and load it back, without retraining.

    save_model(best_model, "best_model.npz")
    model = load_model("best_model.npz")
    scores = model.loss(X_test)          # the same scores as best_model.loss(X_test)

The file holds plain arrays only (it loads with allow_pickle=False, so opening a file
from someone else cannot run their code):
- "nnkit_model": a JSON string {"format", "version", "class", "init_args"}, where
  init_args are the arguments that rebuild the network's architecture;
- "params/<name>": every entry of model.params ("params/W1", "params/gamma1", ...);
- "running_mean/<l>", "running_var/<l>": the batch normalization running averages of
  hidden layer l of a FullyConnectedNet, when it has them.
"""
import json
from pathlib import Path

import numpy as np

from .classifiers.fc_net import FullyConnectedNet, TwoLayerNet

FORMAT = "nnkit-model"
VERSION = 1
METADATA_KEY = "nnkit_model"
MODEL_CLASSES = {cls.__name__: cls for cls in (TwoLayerNet, FullyConnectedNet)}
RUNNING_STATS = ("running_mean", "running_var")


class ModelFileError(ValueError):
    """A file that should hold an nnkit model cannot be read as one."""


def save_model(model, path):
    """Save a TwoLayerNet or FullyConnectedNet to a .npz file.

    Inputs:
    - model: The network to save.
    - path: Where to write; ".npz" is appended if the name does not end with it.
      Parent folders are created. An existing file is replaced.

    Returns:
    - The Path of the written file.
    """
    class_name = type(model).__name__
    # Compare names, not classes: Jupyter's autoreload can replace the class objects.
    if class_name not in MODEL_CLASSES or not hasattr(model, "init_args"):
        raise TypeError(
            f"save_model: can only save {' or '.join(MODEL_CLASSES)} models, got {class_name}"
        )
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")

    # reg is a public attribute that notebooks change after construction.
    init_args = dict(model.init_args, reg=float(model.reg))
    metadata = {"format": FORMAT, "version": VERSION, "class": class_name, "init_args": init_args}
    arrays = {f"params/{name}": value for name, value in model.params.items()}
    for layer, norm_param in enumerate(getattr(model, "norm_params", []), start=1):
        for stat in RUNNING_STATS:
            if stat in norm_param:
                arrays[f"{stat}/{layer}"] = norm_param[stat]

    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{METADATA_KEY: np.array(json.dumps(metadata))}, **arrays)
    return path


def load_model(path):
    """Load a network saved with save_model.

    Inputs:
    - path: The .npz file written by save_model (".npz" may be left out).

    Returns:
    - A TwoLayerNet or FullyConnectedNet with the saved parameters and running averages,
      giving the same test-time scores as the saved model.

    Raises FileNotFoundError if there is no such file and ModelFileError (a ValueError)
    if the file is not an nnkit model or its contents do not fit together.
    """
    path = Path(path)
    if not path.is_file() and path.suffix != ".npz" and path.with_name(path.name + ".npz").is_file():
        path = path.with_name(path.name + ".npz")
    if not path.is_file():
        raise FileNotFoundError(
            f"load_model: no model file at {path}. Save one with "
            f"nnkit.model_io.save_model(model, {str(path)!r}) first."
        )

    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as error:  # np.load raises many different types for foreign files
        raise ModelFileError(
            f"load_model: {path} is not an nnkit model file (it is not a readable .npz "
            "archive); write model files with nnkit.model_io.save_model"
        ) from error
    if METADATA_KEY not in arrays:
        raise ModelFileError(
            f"load_model: {path} is not an nnkit model file (no '{METADATA_KEY}' entry); "
            "write model files with nnkit.model_io.save_model"
        )

    metadata = _read_metadata(path, arrays.pop(METADATA_KEY))
    model = _build(path, metadata)
    _restore_arrays(path, model, arrays)
    return model


def _read_metadata(path, raw):
    """Parse and check the JSON description stored in the file."""
    try:
        metadata = json.loads(str(raw))
    except ValueError as error:
        raise ModelFileError(f"load_model: {path} has an unreadable description: {error}") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"load_model: {path} is not an nnkit model file (wrong format tag)")
    if metadata.get("version") != VERSION:
        raise ModelFileError(
            f"load_model: {path} has model file version {metadata.get('version')!r}; "
            f"this nnkit reads version {VERSION}"
        )
    if metadata.get("class") not in MODEL_CLASSES:
        raise ModelFileError(
            f"load_model: {path} holds an unknown model class {metadata.get('class')!r}; "
            f"expected one of {sorted(MODEL_CLASSES)}"
        )
    if not isinstance(metadata.get("init_args"), dict):
        raise ModelFileError(f"load_model: {path} has no constructor arguments (init_args)")
    return metadata


def _build(path, metadata):
    """Rebuild the network from its constructor arguments, leaving np.random untouched."""
    cls = MODEL_CLASSES[metadata["class"]]
    # The constructor draws random initial weights; keep the caller's random sequence.
    rng_state = np.random.get_state()
    try:
        return cls(**metadata["init_args"])
    except (TypeError, ValueError) as error:
        raise ModelFileError(
            f"load_model: {path} has constructor arguments {cls.__name__} does not accept: {error}"
        ) from error
    finally:
        np.random.set_state(rng_state)


def _restore_arrays(path, model, arrays):
    """Copy the saved arrays into the model after checking names and shapes."""
    expected = {f"params/{name}": value.shape for name, value in model.params.items()}
    if getattr(model, "normalization", None) == "batchnorm":
        for layer in range(1, model.num_layers):
            size = model.params[f"gamma{layer}"].shape
            expected.update({f"{stat}/{layer}": size for stat in RUNNING_STATS})

    unexpected = sorted(set(arrays) - set(expected))
    missing = sorted(key for key in expected if key.startswith("params/") and key not in arrays)
    if unexpected or missing:
        raise ModelFileError(
            f"load_model: {path} does not match the {type(model).__name__} it describes: "
            f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}"
        )
    for key, value in arrays.items():
        if value.shape != expected[key]:
            raise ModelFileError(
                f"load_model: {path}: entry {key!r} has shape {value.shape}, "
                f"the model needs {expected[key]}"
            )

    for name in model.params:
        model.params[name] = arrays[f"params/{name}"].astype(model.params[name].dtype)
    for layer, norm_param in enumerate(getattr(model, "norm_params", []), start=1):
        for stat in RUNNING_STATS:
            if f"{stat}/{layer}" in arrays:
                norm_param[stat] = arrays[f"{stat}/{layer}"].astype(model.dtype)
