"""Loaders for CIFAR-10 and MNIST, read from their official on-disk formats.

Where the data is looked for, first match wins:
  1. the folder passed as an argument (cifar10_dir / mnist_dir / root);
  2. if the environment variable NNKIT_DATA_DIR is set: $NNKIT_DATA_DIR/cifar-10-batches-py
     and $NNKIT_DATA_DIR/mnist (and nowhere else);
  3. datasets/cifar-10-batches-py and datasets/mnist in the folder above the nnkit package,
     or in any folder further up (the assignment's datasets/ folder, or a course repository's
     top-level datasets/).

Get the data by running `bash datasets/get_datasets.sh` in the assignment folder.

Errors:
- DatasetNotFoundError (a FileNotFoundError): the data is not where it was looked for.
- DatasetCorruptError (a ValueError): a file is truncated or not in the expected format.
Both messages name the paths involved and the command that fetches the data.
"""
import gzip
import os
import pickle
import zlib
from pathlib import Path

import numpy as np

DATA_DIR_ENV = "NNKIT_DATA_DIR"
CIFAR10_FOLDER = "cifar-10-batches-py"
MNIST_FOLDER = "mnist"
FETCH_SCRIPT = "datasets/get_datasets.sh"
CIFAR10_TRAIN_BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
CIFAR10_TEST_BATCH = "test_batch"
MNIST_PREFIXES = {"train": "train", "test": "t10k"}

_PACKAGE_DIR = Path(__file__).resolve().parent


class DatasetNotFoundError(FileNotFoundError):
    """The dataset (or one of its files) is not where the loader looked."""


class DatasetCorruptError(ValueError):
    """A dataset file is truncated or not in its official format."""


def _fetch_instructions():
    """One line telling the user how to fetch the data, naming the folder to run it in."""
    for folder in _PACKAGE_DIR.parents:
        if (folder / FETCH_SCRIPT).is_file():
            return f"Fetch it with: cd '{folder}' && bash {FETCH_SCRIPT}"
    return f"Fetch it with: bash {FETCH_SCRIPT} (run in the assignment folder)"


def _locate(folder_name, explicit_dir, dataset):
    """Return the first existing data folder among the places described in the module docstring.

    Inputs:
    - folder_name: CIFAR10_FOLDER or MNIST_FOLDER.
    - explicit_dir: Folder given by the caller, or None to search.
    - dataset: Human-readable dataset name for the error message.

    Returns: Path of the folder.
    Raises DatasetNotFoundError listing every place looked at.
    """
    if explicit_dir is not None:
        candidates = [Path(explicit_dir).expanduser()]
    elif os.environ.get(DATA_DIR_ENV):
        candidates = [Path(os.environ[DATA_DIR_ENV]).expanduser() / folder_name]
    else:
        candidates = [folder / "datasets" / folder_name for folder in _PACKAGE_DIR.parents]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = "\n".join(f"  {candidate}" for candidate in candidates)
    raise DatasetNotFoundError(
        f"{dataset} not found. Looked in:\n{looked}\n{_fetch_instructions()}\n"
        f"(Without internet, add NNKIT_DATA_SOURCE=/path/to/local/copy before bash; "
        f"or set {DATA_DIR_ENV} to a folder holding {folder_name}/.)"
    )


def _corrupt(path, problem):
    return DatasetCorruptError(
        f"{path} is truncated or corrupt: {problem}.\n"
        f"{_fetch_instructions()} (it checks the files and replaces damaged ones)"
    )


def load_CIFAR_batch(filename):
    """Load one batch file of the official CIFAR-10 python version.

    Inputs:
    - filename: Path of a batch (data_batch_1 ... data_batch_5 or test_batch). Each holds a
      pickled dict whose 'data' is an (N, 3072) uint8 array, one image per row stored as
      1024 red, then 1024 green, then 1024 blue values, and whose 'labels' lists N class
      indices in 0..9 (N = 10000 in the official files).

    Returns a tuple of:
    - X: uint8 array of shape (N, 32, 32, 3), raw pixel values (height, width, channel).
    - y: int64 array of shape (N,), labels in 0..9.
    """
    path = Path(filename)
    if not path.is_file():
        raise DatasetNotFoundError(f"CIFAR-10 batch {path} does not exist.\n{_fetch_instructions()}")
    try:
        with open(path, "rb") as f:
            # latin1 also decodes the Python 2 pickles of the official download.
            batch = pickle.load(f, encoding="latin1")
        data, labels = batch["data"], np.asarray(batch["labels"], dtype=np.int64)
    except Exception as exc:  # any failure to unpickle means the file is damaged
        raise _corrupt(path, f"it cannot be read as a CIFAR-10 batch ({type(exc).__name__}: {exc})") from exc
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        raise _corrupt(path, f"'data' should be rows of 3072 uint8 values, found {getattr(data, 'shape', type(data))}")
    if labels.shape != (data.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise _corrupt(path, f"'labels' should hold {data.shape[0]} values in 0..9")
    X = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(X), labels


def load_CIFAR10(root=None):
    """Load all of CIFAR-10.

    Inputs:
    - root: The cifar-10-batches-py folder; None searches the places listed in the module
      docstring.

    Returns a tuple of:
    - Xtr: uint8 array of shape (50000, 32, 32, 3), the training images.
    - Ytr: int64 array of shape (50000,), their labels in 0..9.
    - Xte: uint8 array of shape (10000, 32, 32, 3), the test images.
    - Yte: int64 array of shape (10000,), their labels.
    The images are raw uint8 pixels: convert them to float before arithmetic that could wrap.
    """
    folder = _locate(CIFAR10_FOLDER, root, "CIFAR-10")
    train = [load_CIFAR_batch(folder / name) for name in CIFAR10_TRAIN_BATCHES]
    Xtr = np.concatenate([X for X, _ in train])
    Ytr = np.concatenate([y for _, y in train])
    Xte, Yte = load_CIFAR_batch(folder / CIFAR10_TEST_BATCH)
    return Xtr, Ytr, Xte, Yte


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000, subtract_mean=True,
                     cifar10_dir=None):
    """Load CIFAR-10 and split it the standard way, ready for the fully-connected nets.

    Inputs:
    - num_training: Number of training images: the first num_training of the 50000.
    - num_validation: Number of validation images: the ones right after the training split.
    - num_test: Number of test images: the first num_test of the 10000.
    - subtract_mean: If True, subtract the mean training image from all three splits.
    - cifar10_dir: The cifar-10-batches-py folder; None searches (see the module docstring).

    Returns a dict with, in this order:
    - 'X_train': float64 array of shape (num_training, 3, 32, 32); 'y_train': int64 (num_training,)
    - 'X_val': float64 (num_validation, 3, 32, 32); 'y_val': int64 (num_validation,)
    - 'X_test': float64 (num_test, 3, 32, 32); 'y_test': int64 (num_test,)
    Images are channel-first; labels are in 0..9.
    """
    Xtr, Ytr, Xte, Yte = load_CIFAR10(cifar10_dir)
    if min(num_training, num_validation, num_test) < 0:
        raise ValueError("get_CIFAR10_data: num_training, num_validation and num_test must be >= 0")
    if num_training + num_validation > len(Xtr):
        raise ValueError(f"get_CIFAR10_data: num_training + num_validation = {num_training + num_validation} "
                         f"exceeds the {len(Xtr)} training images")
    if num_test > len(Xte):
        raise ValueError(f"get_CIFAR10_data: num_test = {num_test} exceeds the {len(Xte)} test images")
    split_end = num_training + num_validation
    splits = {
        "train": (Xtr[:num_training], Ytr[:num_training]),
        "val": (Xtr[num_training:split_end], Ytr[num_training:split_end]),
        "test": (Xte[:num_test], Yte[:num_test]),
    }
    data = {}
    for split, (X, y) in splits.items():
        data[f"X_{split}"] = np.ascontiguousarray(X.transpose(0, 3, 1, 2), dtype=np.float64)
        data[f"y_{split}"] = y.copy()
    if subtract_mean and num_training > 0:
        mean_image = data["X_train"].mean(axis=0)
        for split in splits:
            data[f"X_{split}"] -= mean_image
    return data


def _read_idx(path, magic, num_dims):
    """Read one gzipped idx file of unsigned bytes (MNIST's format).

    Inputs:
    - path: Path of the .gz file.
    - magic: Expected magic number (2051 for images, 2049 for labels).
    - num_dims: Number of dimensions the header declares (3 for images, 1 for labels).

    Returns: uint8 array with the shape the header declares.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupt(path, f"not a complete gzip file ({exc})") from exc
    header_size = 4 + 4 * num_dims
    if len(raw) < header_size or int.from_bytes(raw[:4], "big") != magic:
        raise _corrupt(path, f"it does not start with the idx magic number {magic}")
    shape = tuple(int.from_bytes(raw[i:i + 4], "big") for i in range(4, header_size, 4))
    body = raw[header_size:]
    if len(body) != np.prod(shape):
        raise _corrupt(path, f"the header declares shape {shape} but {len(body)} bytes of data follow")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


def load_mnist(kind="train", mnist_dir=None):
    """Load the MNIST training or test set from the official idx .gz files.

    Inputs:
    - kind: 'train' (60000 images, files train-*-ubyte.gz) or 'test' (10000 images,
      files t10k-*-ubyte.gz).
    - mnist_dir: Folder holding the .gz files; None searches for a datasets/mnist folder
      (see the module docstring).

    Returns a tuple of:
    - X: uint8 array of shape (N, 28, 28), raw pixel values (0 = background).
    - y: int64 array of shape (N,), digits 0..9.
    """
    if kind not in MNIST_PREFIXES:
        raise ValueError(f"load_mnist: kind must be 'train' or 'test', got {kind!r}")
    folder = _locate(MNIST_FOLDER, mnist_dir, "MNIST")
    prefix = MNIST_PREFIXES[kind]
    images_path = folder / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = folder / f"{prefix}-labels-idx1-ubyte.gz"
    missing = [path for path in (images_path, labels_path) if not path.is_file()]
    if missing:
        listed = "\n".join(f"  {path}" for path in missing)
        offline_note = "\n(Offline copies often hold only the test files: the training files need a download.)"
        raise DatasetNotFoundError(
            f"MNIST {kind} files missing:\n{listed}\n{_fetch_instructions()}" + (offline_note if kind == "train" else "")
        )
    X = _read_idx(images_path, magic=2051, num_dims=3)
    y = _read_idx(labels_path, magic=2049, num_dims=1).astype(np.int64)
    if len(X) != len(y) or y.max(initial=0) > 9:
        raise _corrupt(labels_path, f"expected {len(X)} labels in 0..9 to match {images_path.name}")
    return X, y
