"""Loaders for CIFAR-10 and MNIST, read from their official on-disk formats.

Where the data is looked for, first match wins:
  1. the folder passed as an argument (cifar10_dir / mnist_dir / root);
  2. if the environment variable NNKIT_DATA_DIR is set: $NNKIT_DATA_DIR/cifar-10-batches-py
     and $NNKIT_DATA_DIR/mnist (and nowhere else);
  3. datasets/cifar-10-batches-py and datasets/mnist in the folder above the nnkit package,
     or in any folder further up (the assignment's datasets/ folder, or a course repository's
     top-level datasets/).

Get the data by running `bash datasets/get_datasets.sh` in the assignment folder.

Fast loading: that script also writes a cache of what get_CIFAR10_data() returns with its
default arguments (the float64 arrays, about 1.3 GB; see cifar10_cache_dir() for where).
get_CIFAR10_data() then maps those files instead of unpickling and converting the batches:
the data is ready in milliseconds, pages are read from disk only when used (a slice costs
only its own images) and are shared by every process on the machine. A cache is used only
if it was written by this very file from the batches now on disk (their sizes and
modification and change times, recorded when it was written) and its files pass a size and
sampled checksum test; otherwise the batches are read as usual, with the same result.

Errors:
- DatasetNotFoundError (a FileNotFoundError): the data is not where it was looked for.
- DatasetCorruptError (a ValueError): a file is truncated or not in the expected format.
Both messages name the paths involved and the command that fetches the data.
"""
import argparse
import functools
import gzip
import hashlib
import inspect
import json
import os
import pickle
import shutil
import sys
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
CIFAR10_CACHE_FOLDER = "cifar-10-cache"
CACHE_MANIFEST = "cache.json"
# Colab mounts Google Drive here; a cache on Drive would cost quota and a slow read per start.
COLAB_DRIVE = Path("/content/drive")
# The sampled checksum of a cache file: this many evenly spaced blocks of this size.
SAMPLE_BLOCKS, SAMPLE_BLOCK_BYTES = 16, 64 * 1024
# Left free on the disk after writing a cache.
CACHE_DISK_HEADROOM_BYTES = 256 * 2**20

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
    Images are channel-first; labels are in 0..9. With the default split the arrays are
    mapped from the data step's cache when it is valid (see the module docstring); they are
    writable either way, and changing them never changes the files.
    """
    folder = _locate(CIFAR10_FOLDER, cifar10_dir, "CIFAR-10")
    split = {"num_training": num_training, "num_validation": num_validation, "num_test": num_test,
             "subtract_mean": subtract_mean}
    cached = _open_cifar10_cache(folder, split)
    if cached is not None:
        return cached
    return _split_cifar10(folder, **split)


def _split_cifar10(folder, num_training, num_validation, num_test, subtract_mean):
    """get_CIFAR10_data computed from the batches in `folder`."""
    Xtr, Ytr, Xte, Yte = load_CIFAR10(folder)
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


# --- The fast-load cache of get_CIFAR10_data() ----------------------------------------------


def cifar10_cache_dir(cifar10_dir):
    """Where the cache of the CIFAR-10 batches in cifar10_dir is written and looked for.

    Next to the batches folder (datasets/cifar-10-cache), except when the batches are on
    Google Drive in Colab: then on the Colab machine's local disk,
    ~/.cache/nnkit/cifar-10-<hash of the batches folder's path> (or under $XDG_CACHE_HOME),
    so the cache costs no Drive quota and no Drive read. Colab machines start empty, so
    the data step rebuilds it once per session.
    """
    folder = Path(cifar10_dir).expanduser().absolute()
    resolved = folder.resolve()
    if COLAB_DRIVE in resolved.parents:
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        key = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
        return user_cache / "nnkit" / f"cifar-10-{key}"
    return folder.parent / CIFAR10_CACHE_FOLDER


@functools.cache
def _this_file_digest():
    """sha256 of this file: a cache written by another version of the loader is not used."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _cache_source(folder, split):
    """What a cache of `folder` for `split` is made from; recorded in, and compared with, its
    manifest. A batch is known by its size, modification and change times: replacing or
    rewriting a file sets its change time, which no copying tool can set back."""
    batches = {}
    for name in [*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH]:
        stat = (folder / name).stat()
        batches[name] = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
    return {"loader_sha256": _this_file_digest(), "split": split, "batches": batches}


def _sampled_crc32(path):
    """crc32 of SAMPLE_BLOCKS evenly spaced blocks of the file (all of it when it is small):
    a few milliseconds even for a gigabyte, and catches truncation, zero-filled or swapped files."""
    size = path.stat().st_size
    checksum = 0
    with open(path, "rb") as f:
        if size <= SAMPLE_BLOCKS * SAMPLE_BLOCK_BYTES:
            return zlib.crc32(f.read())
        last_start = size - SAMPLE_BLOCK_BYTES
        for block in range(SAMPLE_BLOCKS):
            f.seek(block * last_start // (SAMPLE_BLOCKS - 1))
            checksum = zlib.crc32(f.read(SAMPLE_BLOCK_BYTES), checksum)
    return checksum


def _open_cifar10_cache(folder, split):
    """get_CIFAR10_data's dict mapped from the cache of `folder`, or None when there is no
    valid cache for `split` of the batches now in `folder` (the caller then reads them)."""
    cache_dir = cifar10_cache_dir(folder)
    try:
        manifest = json.loads((cache_dir / CACHE_MANIFEST).read_text(encoding="utf-8"))
        if manifest["source"] != _cache_source(folder, split):
            return None
        data = {}
        for name, size, checksum in manifest["arrays"]:
            path = cache_dir / f"{name}.npy"
            if path.stat().st_size != size or _sampled_crc32(path) != checksum:
                return None
            # Copy-on-write: writable, private to this process, read-only files are fine.
            data[name] = np.asarray(np.load(path, mmap_mode="c", allow_pickle=False))
        return data
    except Exception:  # a missing, stale or damaged cache only means reading the batches
        return None


def write_cifar10_cache(cifar10_dir=None):
    """Write the cache get_CIFAR10_data() maps, for its default arguments (run by the data step).

    Inputs:
    - cifar10_dir: The cifar-10-batches-py folder; None searches (see the module docstring).

    Returns a tuple of:
    - cache_dir: Path of the cache (see cifar10_cache_dir).
    - written: False when a valid cache was already there (nothing is rewritten).
    Raises DatasetNotFoundError / DatasetCorruptError for the batches, OSError when the
    cache cannot be written (no space, read-only folder); a failed write leaves no cache.
    """
    folder = _locate(CIFAR10_FOLDER, cifar10_dir, "CIFAR-10")
    # The split the notebooks load: get_CIFAR10_data's defaults.
    defaults = inspect.signature(get_CIFAR10_data).parameters
    split = {name: defaults[name].default for name in ("num_training", "num_validation", "num_test", "subtract_mean")}
    cache_dir = cifar10_cache_dir(folder)
    if _open_cifar10_cache(folder, split) is not None:
        return cache_dir, False
    remove_cifar10_cache(folder)
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    # Made first, so that a folder we cannot write is known before the batches are read.
    partial = cache_dir.parent / f"{_partial_prefix(cache_dir)}{os.getpid()}"
    partial.mkdir()  # with the usual permissions (a temporary folder's would hide it from others)
    try:
        source = _cache_source(folder, split)
        data = _split_cifar10(folder, **split)
        if _cache_source(folder, split) != source:
            raise OSError(f"the batches in {folder} changed while the cache was being written; run again")
        needed = sum(array.nbytes for array in data.values())
        free = shutil.disk_usage(partial).free
        if free < needed + CACHE_DISK_HEADROOM_BYTES:
            raise OSError(f"it needs {_gigabytes(needed)} and only {_gigabytes(free)} is free on the disk of {partial.parent}")
        arrays = []
        for name, array in data.items():
            np.save(partial / f"{name}.npy", array, allow_pickle=False)
            arrays.append([name, (partial / f"{name}.npy").stat().st_size, _sampled_crc32(partial / f"{name}.npy")])
        # The manifest last: a folder without it is never taken for a cache.
        (partial / CACHE_MANIFEST).write_text(json.dumps({"source": source, "arrays": arrays}, indent=1),
                                              encoding="utf-8")
        os.replace(partial, cache_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return cache_dir, True


def remove_cifar10_cache(cifar10_dir):
    """Delete the cache of the batches in cifar10_dir (and any half-written one); return
    whether there was one."""
    cache_dir = cifar10_cache_dir(cifar10_dir)
    existed = cache_dir.exists()
    if existed:
        shutil.rmtree(cache_dir)
    for partial in cache_dir.parent.glob(f"{_partial_prefix(cache_dir)}*"):
        shutil.rmtree(partial, ignore_errors=True)
    return existed


def _partial_prefix(cache_dir):
    return f".{cache_dir.name}.partial-"


def _gigabytes(num_bytes):
    return f"{num_bytes / 1e9:.1f} GB"


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


def _main(argv=None):
    """The command line datasets/get_datasets.sh runs: python nnkit/data_utils.py --help."""
    parser = argparse.ArgumentParser(
        prog="data_utils.py", description="Write or remove the fast-load cache of get_CIFAR10_data().")
    parser.add_argument("action", choices=["write-cache", "remove-cache"])
    parser.add_argument("cifar10_dir", help="the cifar-10-batches-py folder")
    args = parser.parse_args(argv)
    folder = Path(args.cifar10_dir)
    if args.action == "remove-cache":
        if remove_cifar10_cache(folder):
            print(f"CIFAR-10: removed the fast-load cache {cifar10_cache_dir(folder)}.")
        return 0
    try:
        cache_dir, written = write_cifar10_cache(folder)
    except (OSError, ValueError) as error:  # DatasetNotFoundError and DatasetCorruptError included
        print(f"could not write the fast-load cache {cifar10_cache_dir(folder)}: {error}", file=sys.stderr)
        return 1
    if written:
        size = sum(path.stat().st_size for path in cache_dir.iterdir())
        print(f"CIFAR-10: fast-load cache written to {cache_dir} ({_gigabytes(size)}).")
    else:
        print(f"CIFAR-10: fast-load cache in {cache_dir} is up to date; nothing to do.")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
