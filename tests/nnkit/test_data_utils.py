"""Tests for nnkit/data_utils.py and nnkit/vis_utils.py.

The loaders read the real files from the datasets_dir fixture (filled by
datasets/get_datasets.sh). Damaged files are written into tmp_path from one real file.
The search-path tests import a copy of data_utils.py placed in a temporary folder tree,
so they see exactly what a student's release/fcnet/nnkit/data_utils.py would see.

The fast-load cache tests write one real cache (1.3 GB) for the module, next to a folder of
links to the real batches, and give each test its own copy made of hard links, whose files
a test replaces (never edits in place) to damage them.
"""
import gzip
import hashlib
import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nnkit import data_utils
from nnkit.data_utils import (
    DatasetCorruptError,
    DatasetNotFoundError,
    get_CIFAR10_data,
    load_CIFAR10,
    load_CIFAR_batch,
    load_mnist,
)
from nnkit.vis_utils import first_layer_images, show_net_weights, visualize_grid

REPO = Path(__file__).resolve().parents[2]
FETCH = "bash datasets/get_datasets.sh"
BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
SPLIT_KEYS = ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
MNIST_TEST_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
MNIST_TRAIN_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


@pytest.fixture(scope="module")
def cifar_dir(datasets_dir):
    return datasets_dir / "cifar-10-batches-py"


@pytest.fixture(scope="module")
def cifar_raw(cifar_dir):
    return load_CIFAR10(cifar_dir)


@pytest.fixture(scope="module")
def cifar_split(cifar_dir):
    return get_CIFAR10_data(cifar10_dir=cifar_dir)


@pytest.fixture(scope="module")
def uncached_dir(tmp_path_factory, cifar_dir):
    """A cifar-10-batches-py folder of links to the real batches, with no cache next to it."""
    return link_batches(tmp_path_factory.mktemp("uncached") / "cifar-10-batches-py", cifar_dir)


@pytest.fixture(scope="module")
def reference_split(uncached_dir):
    """get_CIFAR10_data() read from the batches: what the cache must reproduce bit for bit."""
    data = get_CIFAR10_data(cifar10_dir=uncached_dir)
    assert not any(is_mapped(array) for array in data.values())
    return data


@pytest.fixture(scope="module")
def written_cache(tmp_path_factory, cifar_dir):
    """The batches folder of a real cache written by write_cifar10_cache (removed at the end)."""
    folder = link_batches(tmp_path_factory.mktemp("cached") / "cifar-10-batches-py", cifar_dir)
    cache_dir, written = data_utils.write_cifar10_cache(folder)
    assert written and cache_dir == folder.parent / "cifar-10-cache"
    yield folder
    shutil.rmtree(cache_dir)


@pytest.fixture
def cached_dir(tmp_path, written_cache, cifar_dir):
    """A batches folder of this test's own, next to a hard-linked copy of the written cache."""
    folder = link_batches(tmp_path / "cifar-10-batches-py", cifar_dir)
    copy_cache(written_cache.parent / "cifar-10-cache", tmp_path / "cifar-10-cache")
    return folder


def link_batches(folder, cifar_dir):
    folder.mkdir(parents=True)
    for name in BATCHES:
        (folder / name).symlink_to(cifar_dir / name)
    return folder


def copy_cache(cache_dir, target):
    target.mkdir(parents=True)
    for path in cache_dir.iterdir():
        os.link(path, target / path.name)


def replace_file(path, content=b"", size=None):
    """Give `path` new content without touching the file it may share with other links."""
    path.unlink()
    path.write_bytes(content)
    if size is not None:
        os.truncate(path, size)  # a sparse file of zeros


def is_mapped(array):
    return isinstance(array.base, np.memmap)


def assert_bit_identical(data, reference):
    assert list(data) == list(reference)
    for key in reference:
        assert type(data[key]) is np.ndarray, key
        assert data[key].dtype == reference[key].dtype and data[key].shape == reference[key].shape, key
        assert data[key].flags.c_contiguous and data[key].flags.writeable, key
        as_bits = f"u{reference[key].itemsize}"  # compares bit patterns, without copies
        assert np.array_equal(data[key].view(as_bits), reference[key].view(as_bits)), key


def import_copy_of_data_utils(assignment_dir):
    """Copy data_utils.py to ASSIGNMENT_DIR/nnkit/ and import that copy."""
    package = assignment_dir / "nnkit"
    package.mkdir(parents=True)
    shutil.copy(data_utils.__file__, package / "data_utils.py")
    spec = importlib.util.spec_from_file_location("data_utils_copy", package / "data_utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_prefix(src, dst, num_bytes):
    """Write the first num_bytes of src to dst: a file cut short by an interrupted copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as f:
        dst.write_bytes(f.read(num_bytes))


# --- CIFAR-10 on the real files ---


def test_cifar_batch_rows_become_height_width_channel_images(cifar_dir):
    path = cifar_dir / "data_batch_1"
    X, y = load_CIFAR_batch(path)
    assert X.shape == (10000, 32, 32, 3) and X.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.int64
    with open(path, "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    # A row holds the red plane, then the green one, then the blue one, each 32x32 row-major.
    row = raw["data"][123]
    np.testing.assert_array_equal(X[123, :, :, 0], row[:1024].reshape(32, 32))
    np.testing.assert_array_equal(X[123, :, :, 1], row[1024:2048].reshape(32, 32))
    np.testing.assert_array_equal(X[123, :, :, 2], row[2048:].reshape(32, 32))
    np.testing.assert_array_equal(y, raw["labels"])


def test_load_cifar10_has_every_image_and_balanced_classes(cifar_raw):
    Xtr, Ytr, Xte, Yte = cifar_raw
    assert Xtr.shape == (50000, 32, 32, 3) and Xtr.dtype == np.uint8
    assert Xte.shape == (10000, 32, 32, 3) and Xte.dtype == np.uint8
    assert Ytr.dtype == np.int64 and Yte.dtype == np.int64
    assert np.bincount(Ytr, minlength=10).tolist() == [5000] * 10
    assert np.bincount(Yte, minlength=10).tolist() == [1000] * 10


def test_standard_split_is_channel_first_and_mean_subtracted(cifar_split, cifar_raw):
    Xtr, Ytr, Xte, Yte = cifar_raw
    assert list(cifar_split) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    for split, size in [("train", 49000), ("val", 1000), ("test", 1000)]:
        assert cifar_split[f"X_{split}"].shape == (size, 3, 32, 32)
        assert cifar_split[f"X_{split}"].dtype == np.float64
        assert cifar_split[f"y_{split}"].shape == (size,)
    mean_image = Xtr[:49000].mean(axis=0).transpose(2, 0, 1)
    assert np.abs(cifar_split["X_train"].mean(axis=0)).max() < 1e-9
    np.testing.assert_allclose(cifar_split["X_train"][:5], Xtr[:5].transpose(0, 3, 1, 2) - mean_image, atol=1e-9)
    # Validation = the 1000 training images right after the training split; test = the first 1000.
    np.testing.assert_allclose(cifar_split["X_val"], Xtr[49000:].transpose(0, 3, 1, 2) - mean_image, atol=1e-9)
    np.testing.assert_allclose(cifar_split["X_test"], Xte[:1000].transpose(0, 3, 1, 2) - mean_image, atol=1e-9)
    np.testing.assert_array_equal(cifar_split["y_train"], Ytr[:49000])
    np.testing.assert_array_equal(cifar_split["y_val"], Ytr[49000:])
    np.testing.assert_array_equal(cifar_split["y_test"], Yte[:1000])


def test_split_without_mean_subtraction_keeps_raw_pixels(cifar_dir, cifar_raw):
    Xtr, Ytr, Xte, Yte = cifar_raw
    data = get_CIFAR10_data(num_training=50, num_validation=20, num_test=30, subtract_mean=False,
                            cifar10_dir=cifar_dir)
    np.testing.assert_array_equal(data["X_train"], Xtr[:50].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data["X_val"], Xtr[50:70].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data["X_test"], Xte[:30].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data["y_val"], Ytr[50:70])


def test_split_larger_than_the_dataset_is_rejected(cifar_dir):
    with pytest.raises(ValueError, match="exceeds the 50000 training images"):
        get_CIFAR10_data(num_training=49500, num_validation=1000, cifar10_dir=cifar_dir)


# --- The fast-load cache ---


def test_cached_split_is_bit_identical_to_the_batches_and_mapped(written_cache, reference_split, capsys):
    data = get_CIFAR10_data(cifar10_dir=written_cache)
    assert all(is_mapped(array) for array in data.values())
    assert_bit_identical(data, reference_split)
    assert capsys.readouterr().out == ""


def test_changing_cached_arrays_stays_in_this_process(cached_dir, reference_split):
    cache_dir = cached_dir.parent / "cifar-10-cache"
    stamps = {path.name: path.stat().st_mtime_ns for path in cache_dir.iterdir()}
    data = get_CIFAR10_data(cifar10_dir=cached_dir)
    data["X_train"] -= 1.0
    data["X_train"][7] = 0.0
    data["y_val"][:] = 3
    again = get_CIFAR10_data(cifar10_dir=cached_dir)
    assert is_mapped(again["X_train"])
    assert again["X_train"][:10].tobytes() == reference_split["X_train"][:10].tobytes()
    assert again["y_val"].tobytes() == reference_split["y_val"].tobytes()
    assert {path.name: path.stat().st_mtime_ns for path in cache_dir.iterdir()} == stamps


def test_other_splits_are_read_from_the_batches(written_cache, cifar_raw):
    data = get_CIFAR10_data(num_training=50, num_validation=20, num_test=30, cifar10_dir=written_cache)
    assert not any(is_mapped(array) for array in data.values())
    Xtr, _, _, _ = cifar_raw
    np.testing.assert_array_equal(data["X_train"][:3] + Xtr[:50].transpose(0, 3, 1, 2).mean(axis=0),
                                  Xtr[:3].transpose(0, 3, 1, 2))


def test_writing_again_keeps_a_valid_cache(written_cache):
    cache_dir = written_cache.parent / "cifar-10-cache"
    stamps = {path.name: path.stat().st_mtime_ns for path in cache_dir.iterdir()}
    assert data_utils.write_cifar10_cache(written_cache) == (cache_dir, False)
    assert {path.name: path.stat().st_mtime_ns for path in cache_dir.iterdir()} == stamps


def _batch_replaced(folder, cache_dir):
    # Another data_batch_2 (here: data_batch_3's file), as a fresh download or copy would be.
    target = (folder / "data_batch_3").resolve()
    (folder / "data_batch_2").unlink()
    (folder / "data_batch_2").symlink_to(target)


def _batch_edited_keeping_its_time(folder, cache_dir):
    # One pixel changed and the modification time set back (as rsync -t or tar would):
    # same size, same time; only the change time tells.
    original = (folder / "data_batch_2").resolve()
    content = bytearray(original.read_bytes())
    content[len(content) // 2] ^= 0xFF  # in the middle of the pixel data
    (folder / "data_batch_2").unlink()
    (folder / "data_batch_2").write_bytes(bytes(content))
    os.utime(folder / "data_batch_2", ns=(original.stat().st_atime_ns, original.stat().st_mtime_ns))


def _written_by_another_loader(folder, cache_dir):
    manifest = json.loads((cache_dir / "cache.json").read_text())
    manifest["source"]["loader_sha256"] = hashlib.sha256(b"an older data_utils.py").hexdigest()
    replace_file(cache_dir / "cache.json", json.dumps(manifest).encode())


def _other_split(folder, cache_dir):
    manifest = json.loads((cache_dir / "cache.json").read_text())
    manifest["source"]["split"]["subtract_mean"] = False
    replace_file(cache_dir / "cache.json", json.dumps(manifest).encode())


def _array_truncated(folder, cache_dir):
    path = cache_dir / "X_val.npy"
    replace_file(path, path.read_bytes()[:1_000_000])


def _array_zeroed(folder, cache_dir):
    # A valid header followed by zeros, as a sync tool's placeholder of the right size.
    path = cache_dir / "X_train.npy"
    with open(path, "rb") as f:
        header = f.read(128)
    replace_file(path, header, size=path.stat().st_size)


def _arrays_swapped(folder, cache_dir):
    # Same sizes, different content: only the checksums can tell.
    val, test = (cache_dir / "X_val.npy").read_bytes(), (cache_dir / "X_test.npy").read_bytes()
    replace_file(cache_dir / "X_val.npy", test)
    replace_file(cache_dir / "X_test.npy", val)


def _array_missing(folder, cache_dir):
    (cache_dir / "y_test.npy").unlink()


def _manifest_missing(folder, cache_dir):  # what an interrupted copy of the folder leaves
    (cache_dir / "cache.json").unlink()


def _manifest_garbled(folder, cache_dir):
    replace_file(cache_dir / "cache.json", b'{"source": {"loader_sha256": ')


def _no_cache(folder, cache_dir):
    shutil.rmtree(cache_dir)


@pytest.mark.parametrize("damage", [
    _batch_replaced, _batch_edited_keeping_its_time, _written_by_another_loader, _other_split, _array_truncated, _array_zeroed,
    _arrays_swapped, _array_missing, _manifest_missing, _manifest_garbled, _no_cache,
], ids=lambda damage: damage.__name__.strip("_"))
def test_a_cache_that_does_not_match_is_not_used(cached_dir, reference_split, cifar_dir, damage, capsys):
    damage(cached_dir, cached_dir.parent / "cifar-10-cache")
    data = get_CIFAR10_data(cifar10_dir=cached_dir)
    assert not any(is_mapped(array) for array in data.values())
    assert capsys.readouterr() == ("", "")  # quietly, as if there had never been a cache
    if damage is _batch_replaced:
        _, labels = load_CIFAR_batch(cifar_dir / "data_batch_3")
        np.testing.assert_array_equal(data["y_train"][10000:20000], labels)
    elif damage is _batch_edited_keeping_its_time:
        assert not np.array_equal(data["X_train"][10000:20000], reference_split["X_train"][10000:20000])
    else:
        assert_bit_identical(data, reference_split)


def test_writing_replaces_a_stale_cache(cached_dir, reference_split):
    cache_dir = cached_dir.parent / "cifar-10-cache"
    _array_truncated(cached_dir, cache_dir)
    (cached_dir.parent / ".cifar-10-cache.partial-99999").mkdir()  # left by a killed writer
    assert data_utils.write_cifar10_cache(cached_dir) == (cache_dir, True)
    assert sorted(path.name for path in cached_dir.parent.iterdir()) == ["cifar-10-batches-py", "cifar-10-cache"]
    data = get_CIFAR10_data(cifar10_dir=cached_dir)
    assert all(is_mapped(array) for array in data.values())
    assert_bit_identical(data, reference_split)
    assert data_utils.remove_cifar10_cache(cached_dir) and not cache_dir.exists()


def test_in_colab_the_cache_of_data_on_drive_lives_on_the_local_disk(tmp_path, monkeypatch, written_cache,
                                                                   cifar_dir, reference_split):
    drive, local = tmp_path / "drive", tmp_path / "vm-cache"
    monkeypatch.setattr(data_utils, "COLAB_DRIVE", drive)
    monkeypatch.setenv("XDG_CACHE_HOME", str(local))
    mine = link_batches(drive / "MyDrive" / "nnkit" / "fcnet" / "datasets" / "cifar-10-batches-py", cifar_dir)
    other = drive / "MyDrive" / "fcnet-copy" / "datasets" / "cifar-10-batches-py"
    cache_dir = data_utils.cifar10_cache_dir(mine)
    assert cache_dir.parent == local / "nnkit" and cache_dir != data_utils.cifar10_cache_dir(other)
    assert data_utils.cifar10_cache_dir(written_cache) == written_cache.parent / "cifar-10-cache"

    copy_cache(written_cache.parent / "cifar-10-cache", cache_dir)
    data = get_CIFAR10_data(cifar10_dir=mine)
    assert all(is_mapped(array) for array in data.values())
    assert_bit_identical(data, reference_split)
    assert sorted(path.name for path in mine.parent.iterdir()) == ["cifar-10-batches-py"]


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_a_read_only_datasets_folder_is_read_through_its_cache(tmp_path, written_cache, cifar_dir, reference_split):
    """As in a grading kernel: the datasets folder is mounted read-only (bubblewrap)."""
    from autograder import sandbox
    from autograder.grading.kernel import KERNEL_MEMORY_BYTES

    assert sandbox.status().confined, sandbox.status().description
    shown = tmp_path / "shown"
    cached = link_batches(shown / "cached" / "cifar-10-batches-py", cifar_dir)
    copy_cache(written_cache.parent / "cifar-10-cache", shown / "cached" / "cifar-10-cache")
    uncached = link_batches(shown / "uncached" / "cifar-10-batches-py", cifar_dir)
    work = tmp_path / "work"
    work.mkdir()
    code = textwrap.dedent(f"""
        import hashlib, json
        from nnkit import data_utils
        digests = lambda data: {{key: hashlib.sha256(array.tobytes()).hexdigest() for key, array in data.items()}}
        data = data_utils.get_CIFAR10_data(cifar10_dir={str(cached)!r})
        mapped = isinstance(data["X_train"].base, data_utils.np.memmap)
        before = digests(data)
        data["X_train"] *= 2.0
        del data
        write_status = data_utils._main(["write-cache", {str(uncached)!r}])
        fallback = data_utils.get_CIFAR10_data(cifar10_dir={str(uncached)!r})
        print(json.dumps({{"mapped": mapped, "cached": before, "write_status": write_status,
                          "fallback": digests(fallback)}}))
    """)
    # As in a grading kernel: the datasets read-only, an address-space cap that the mapped
    # cache must fit in.
    plan = sandbox.Plan(folder=str(work), env={"PATH": "/usr/bin:/bin",
                                               "PYTHONPATH": str(REPO / "source" / "fcnet")},
                        memory_bytes=KERNEL_MEMORY_BYTES,
                        readable=[str(shown), str(cifar_dir.resolve()), str(REPO / "source" / "fcnet")])
    command = sandbox.confine([sys.executable, "-c", code], plan)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout.splitlines()[-1])
    expected = {key: hashlib.sha256(array.tobytes()).hexdigest() for key, array in reference_split.items()}
    assert result == {"mapped": True, "cached": expected, "write_status": 1, "fallback": expected}
    assert "could not write the fast-load cache" in finished.stderr and "Read-only" in finished.stderr
    assert sorted(path.name for path in uncached.parent.iterdir()) == ["cifar-10-batches-py"]
    assert get_CIFAR10_data(cifar10_dir=cached)["X_train"][:5].tobytes() == reference_split["X_train"][:5].tobytes()


# --- Where the data is looked for ---


def test_search_finds_the_assignment_datasets_folder(tmp_path, datasets_dir, monkeypatch):
    monkeypatch.delenv("NNKIT_DATA_DIR", raising=False)
    assignment = tmp_path / "My Drive" / "release" / "fcnet"
    module = import_copy_of_data_utils(assignment)
    (assignment / "datasets").mkdir()
    (assignment / "datasets" / "mnist").symlink_to(datasets_dir / "mnist")
    X, y = module.load_mnist("test")
    assert X.shape == (10000, 28, 28)


def test_missing_data_names_every_place_looked_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.delenv("NNKIT_DATA_DIR", raising=False)
    assignment = tmp_path / "course" / "fcnet"
    module = import_copy_of_data_utils(assignment)
    (assignment / "datasets").mkdir()
    (assignment / "datasets" / "get_datasets.sh").write_text("# stands in for the real script\n")
    with pytest.raises(module.DatasetNotFoundError) as info:
        module.load_CIFAR10()
    message = str(info.value)
    for folder in (assignment, assignment.parent, tmp_path, Path("/")):
        assert str(folder / "datasets" / "cifar-10-batches-py") in message
    assert f"cd '{assignment}' && {FETCH}" in message
    assert isinstance(info.value, FileNotFoundError)


def test_data_dir_environment_variable_is_the_only_place_searched(tmp_path, datasets_dir, monkeypatch):
    monkeypatch.setenv("NNKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("test")
    assert str(tmp_path / "mnist") in str(info.value) and FETCH in str(info.value)
    monkeypatch.setenv("NNKIT_DATA_DIR", str(datasets_dir))
    X, _ = load_mnist("test")
    assert X.shape == (10000, 28, 28)


# --- Damaged CIFAR-10 files ---


@pytest.mark.parametrize("kept", [100, 15_000_000, -1], ids=["header-only", "half", "last-byte-missing"])
def test_truncated_cifar_batch_gives_a_clear_error(tmp_path, cifar_dir, kept):
    source = cifar_dir / "data_batch_1"
    damaged = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    write_prefix(source, damaged, kept if kept > 0 else source.stat().st_size + kept)
    for load in (lambda: load_CIFAR_batch(damaged), lambda: load_CIFAR10(damaged.parent)):
        with pytest.raises(DatasetCorruptError) as info:
            load()
        assert str(damaged) in str(info.value) and FETCH in str(info.value)


@pytest.mark.parametrize("content, problem", [
    (b"this is not a pickle", "cannot be read"),
    (pickle.dumps({"data": np.zeros((10, 100), np.uint8), "labels": [0] * 10}), "3072"),
    (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [3, 10]}), "0..9"),
])
def test_batch_with_wrong_content_is_rejected(tmp_path, content, problem):
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(DatasetCorruptError, match=problem) as info:
        load_CIFAR_batch(path)
    assert str(path) in str(info.value)


def test_folder_missing_a_batch_names_it(tmp_path, cifar_dir):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").symlink_to(cifar_dir / "data_batch_1")
    with pytest.raises(DatasetNotFoundError) as info:
        load_CIFAR10(folder)
    assert str(folder / "data_batch_2") in str(info.value) and FETCH in str(info.value)


# --- MNIST ---


def test_load_mnist_reads_the_official_test_set(datasets_dir):
    X, y = load_mnist("test", mnist_dir=datasets_dir / "mnist")
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.int64
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first digits of the test set
    assert np.bincount(y).min() > 800 and y.max() == 9
    assert X.min() == 0 and X.max() == 255
    assert X.flags.writeable  # a read-only view of the file buffer would surprise students


def test_missing_mnist_training_files_are_named(tmp_path, datasets_dir):
    for name in MNIST_TEST_FILES:
        (tmp_path / name).symlink_to(datasets_dir / "mnist" / name)
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("train", mnist_dir=tmp_path)
    for name in MNIST_TRAIN_FILES:
        assert str(tmp_path / name) in str(info.value)
    assert FETCH in str(info.value)


def test_truncated_or_malformed_mnist_file_gives_a_clear_error(tmp_path, datasets_dir):
    (tmp_path / MNIST_TEST_FILES[1]).symlink_to(datasets_dir / "mnist" / MNIST_TEST_FILES[1])
    images = tmp_path / MNIST_TEST_FILES[0]
    write_prefix(datasets_dir / "mnist" / MNIST_TEST_FILES[0], images, 800_000)
    with pytest.raises(DatasetCorruptError, match="gzip") as info:
        load_mnist("test", mnist_dir=tmp_path)
    assert str(images) in str(info.value) and FETCH in str(info.value)

    header = (2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (10000, 28, 28))
    images.write_bytes(gzip.compress(header + bytes(1000)))  # complete gzip, idx body cut short
    with pytest.raises(DatasetCorruptError, match="bytes of data follow"):
        load_mnist("test", mnist_dir=tmp_path)

    images.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(100)))  # a labels header
    with pytest.raises(DatasetCorruptError, match="magic number 2051"):
        load_mnist("test", mnist_dir=tmp_path)


def test_load_mnist_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("validation")


# --- vis_utils ---


def test_visualize_grid_tiles_and_rescales_each_image():
    rng = np.random.RandomState(0)
    Xs = rng.uniform(-3, 7, size=(5, 4, 3, 2))
    grid = visualize_grid(Xs, ubound=255.0, padding=1)
    assert grid.shape == (3 * 4 + 2, 3 * 3 + 2, 2)  # 5 images need a 3x3 grid
    for i, image in enumerate(Xs):
        top, left = (i // 3) * 5, (i % 3) * 4
        expected = 255.0 * (image - image.min()) / (image.max() - image.min())
        np.testing.assert_allclose(grid[top:top + 4, left:left + 3], expected)
    assert not grid[4].any() and not grid[:, 3].any()  # padding rows and columns stay blank
    assert not grid[5:9, 8:11].any() and not grid[10:, :].any()  # tiles 5..8 are unused
    assert visualize_grid(Xs, ubound=1.0, padding=0).max() == pytest.approx(1.0)


def test_visualize_grid_constant_image_is_a_blank_tile():
    grid = visualize_grid(np.full((1, 2, 2, 3), 4.0))
    assert grid.shape == (2, 2, 3) and not grid.any()


def test_first_layer_images_undo_the_input_flattening():
    rng = np.random.RandomState(1)
    for C, H, W in [(3, 32, 32), (1, 28, 28)]:
        images = rng.randn(7, H, W, C)
        # An affine layer sees each (C, H, W) input flattened row-major; column j of W1
        # matching image j is what a unit tuned to that image would hold.
        W1 = images.transpose(0, 3, 1, 2).reshape(7, -1).T
        np.testing.assert_array_equal(first_layer_images(W1, (C, H, W)), images)


def test_show_net_weights_draws_the_grid():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = SimpleNamespace(params={"W1": np.random.RandomState(2).randn(3072, 10)})
    fig, ax = plt.subplots()
    show_net_weights(model, ax=ax)
    side = 4 * 32 + 3 * 3  # 10 filters in a 4x4 grid with padding 3
    assert ax.images[0].get_array().shape == (side, side, 3)
    plt.close(fig)
