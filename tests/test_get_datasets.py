"""Run datasets/get_datasets.sh for real, from a copy in tmp_path/datasets/.

Sources are built from the datasets_dir fixture with symlinks (the script copies through
them), so each test copies CIFAR-10 only once. Only copies laid out like a student's
(nnkit/data_utils.py next to datasets/) write the 1.3 GB fast-load cache. Every run puts stand-ins for curl and wget
first on PATH that log their arguments: tests with a local source assert the log stays
empty, and the download test uses a stand-in that serves files from a local folder.
"""
import filecmp
import hashlib
import importlib.util
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "datasets" / "get_datasets.sh"
DATA_UTILS = REPO / "source" / "fcnet" / "nnkit" / "data_utils.py"
BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
MNIST_TEST_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
MNIST_TRAIN_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
OFFICIAL_DATA_BATCH_1_MD5 = "c99cafc152244af753f735de768cd75f"

OFFLINE_NETWORK = """#!/bin/sh
echo "$0 $*" >> "{log}"
exit 7
"""
# Serves URLs from a local folder by file name; refuses the first MNIST mirror, so the
# script has to fall back to the second.
LOCAL_NETWORK = """#!/bin/sh
echo "$0 $*" >> "{log}"
out=""; url=""
while [ $# -gt 0 ]; do
  case "$1" in -o | -O) out="$2"; shift 2 ;; http*) url="$1"; shift ;; *) shift ;; esac
done
case "$url" in *ossci-datasets*) exit 22 ;; esac
[ -f "{served}/$(basename "$url")" ] || exit 22
cp "{served}/$(basename "$url")" "$out"
"""


class ScriptCopy:
    """get_datasets.sh copied into ROOT/datasets/, run with stand-ins for curl and wget;
    with_nnkit adds ROOT/nnkit/data_utils.py, as in a student's copy of the assignment."""

    def __init__(self, root, network=OFFLINE_NETWORK, served=None, with_nnkit=False):
        self.dir = root / "datasets"
        self.dir.mkdir(parents=True)
        (self.dir / SCRIPT.name).write_bytes(SCRIPT.read_bytes())
        if with_nnkit:
            (root / "nnkit").mkdir()
            (root / "nnkit" / DATA_UTILS.name).write_bytes(DATA_UTILS.read_bytes())
        self.network_log = root / "network.log"
        self.bin = root / "bin"
        self.bin.mkdir()
        for tool in ("curl", "wget"):
            stand_in = self.bin / tool
            stand_in.write_text(network.format(log=self.network_log, served=served))
            stand_in.chmod(0o755)

    def run(self, *args, source=None):
        env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "PYTHON": sys.executable}
        env.pop("NNKIT_DATA_SOURCE", None)
        if source is not None:
            env["NNKIT_DATA_SOURCE"] = str(source)
        result = subprocess.run(["bash", str(self.dir / SCRIPT.name), *args], env=env,
                                capture_output=True, text=True, timeout=300)
        result.output = result.stdout + result.stderr
        return result

    def network_calls(self):
        return self.network_log.read_text() if self.network_log.exists() else ""

    def leftovers(self):
        return sorted(path.name for path in self.dir.glob(".*"))

    def data_utils(self):
        """The copy's own nnkit/data_utils.py, imported as a notebook there would."""
        spec = importlib.util.spec_from_file_location("copied_data_utils", self.dir.parent / "nnkit" / DATA_UTILS.name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


@pytest.fixture
def script(tmp_path):
    return ScriptCopy(tmp_path / "My Drive" / "kit")  # a space, as in Colab's Drive paths


@pytest.fixture
def source_folder(tmp_path, datasets_dir):
    """A local source like the offline copy: CIFAR-10 batches and the MNIST test files only."""
    source = tmp_path / "source"
    (source / "mnist").mkdir(parents=True)
    (source / "cifar-10-batches-py").symlink_to(datasets_dir / "cifar-10-batches-py")
    for name in MNIST_TEST_FILES:
        (source / "mnist" / name).symlink_to(datasets_dir / "mnist" / name)
    return source


@pytest.fixture(scope="module")
def cifar_tarball(tmp_path_factory, datasets_dir):
    """cifar-10-python.tar.gz with the same layout as the official one (stored uncompressed
    inside the gzip stream, which keeps building it fast)."""
    tarball = tmp_path_factory.mktemp("tarball") / "cifar-10-python.tar.gz"
    with tarfile.open(tarball, "w:gz", compresslevel=0) as tar:
        tar.add(datasets_dir / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return tarball


def is_official(datasets_dir):
    data = (datasets_dir / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    return hashlib.md5(data).hexdigest() == OFFICIAL_DATA_BATCH_1_MD5


def assert_same_batches(installed, original):
    for name in BATCHES:
        assert filecmp.cmp(installed / name, original / name, shallow=False), name


def test_help_and_usage_errors(script):
    result = script.run("--help")
    assert result.returncode == 0
    for topic in ("--from", "NNKIT_DATA_SOURCE", "cifar-10-python.tar.gz", "structural check", "Exit status",
                  "Fast loading", "cifar-10-cache/", "Google Drive", "--no-cache"):
        assert topic in result.stdout
    assert script.run("--bogus").returncode == 2
    assert script.run("--from").returncode == 2
    assert script.network_calls() == ""


def test_folder_source_installs_then_rerun_is_a_no_op_and_damage_is_repaired(tmp_path, source_folder, datasets_dir):
    script = ScriptCopy(tmp_path / "My Drive" / "kit", with_nnkit=True)
    installed = script.dir / "cifar-10-batches-py"
    cache = script.dir / "cifar-10-cache"
    first = script.run(source=source_folder)
    assert first.returncode == 0, first.output
    assert_same_batches(installed, datasets_dir / "cifar-10-batches-py")
    for name in MNIST_TEST_FILES:
        assert filecmp.cmp(script.dir / "mnist" / name, datasets_dir / "mnist" / name, shallow=False)
    assert ("official files, checksums match" if is_official(datasets_dir) else "NOT the official files") in first.output
    assert "WARNING" in first.stderr and all(name in first.stderr for name in MNIST_TRAIN_FILES)
    assert f"fast-load cache written to {cache}" in first.stdout
    assert_cache_used(script)

    stamps = {path: path.stat().st_mtime_ns for path in script.dir.rglob("*")}
    again = script.run("--from", str(source_folder))
    assert again.returncode == 0, again.output
    assert "CIFAR-10: already in" in again.stdout and "MNIST: already in" in again.stdout
    assert f"fast-load cache in {cache} is up to date" in again.stdout
    assert again.stdout.count("nothing to do") == 3
    assert {path: path.stat().st_mtime_ns for path in script.dir.rglob("*")} == stamps

    damaged = installed / "data_batch_3"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    repair = script.run("--from", str(source_folder))
    assert repair.returncode == 0, repair.output
    assert "data_batch_3" in repair.stderr and "damaged" in repair.stderr
    assert_same_batches(installed, datasets_dir / "cifar-10-batches-py")
    assert f"fast-load cache written to {cache}" in repair.stdout  # the old one was stale
    assert_cache_used(script)
    assert script.network_calls() == "" and script.leftovers() == []

    # Without a source only the missing MNIST files are downloaded; a mirror that cannot be
    # reached is tried once, not once per file.
    offline = script.run("--no-cache")
    assert offline.returncode == 0, offline.output
    assert "could not download MNIST" in offline.stderr
    calls = script.network_calls().splitlines()
    assert len(calls) == 2 and all(MNIST_TRAIN_FILES[0] in call for call in calls)
    assert f"removed the fast-load cache {cache}" in offline.stdout and not cache.exists()
    assert script.leftovers() == []


def assert_cache_used(script):
    """The copy's own loader maps the cache, and gets what the batches give."""
    data_utils = script.data_utils()
    folder = script.dir / "cifar-10-batches-py"
    data = data_utils.get_CIFAR10_data(cifar10_dir=folder)
    assert all(isinstance(array.base, data_utils.np.memmap) for array in data.values())
    Xtr, Ytr, _, _ = data_utils.load_CIFAR10(folder)
    assert (data["y_train"] == Ytr[:49000]).all() and (data["y_val"] == Ytr[49000:]).all()
    mean_image = Xtr[:49000].transpose(0, 3, 1, 2).sum(axis=0, dtype="int64") / 49000
    assert (data["X_val"] == Xtr[49000:].transpose(0, 3, 1, 2) - mean_image).all()


def test_without_nnkit_next_to_it_no_cache_is_written(script, source_folder):
    result = script.run(source=source_folder)
    assert result.returncode == 0, result.output
    assert "no fast-load cache: nnkit/data_utils.py, which writes it, is not next to" in result.stdout
    assert sorted(path.name for path in script.dir.iterdir()) == ["cifar-10-batches-py", "get_datasets.sh", "mnist"]


def test_a_cache_that_cannot_be_written_does_not_fail_the_data_step(tmp_path, source_folder):
    script = ScriptCopy(tmp_path / "kit", with_nnkit=True)
    (script.dir / "cifar-10-cache").write_text("a file where the cache folder should go")
    result = script.run(source=source_folder)
    assert result.returncode == 0, result.output
    assert "could not write the fast-load cache" in result.stderr
    assert "the notebooks will read the batches instead" in result.stdout
    assert "Done: data is in" in result.stdout
    data = script.data_utils().get_CIFAR10_data(num_test=10, cifar10_dir=script.dir / "cifar-10-batches-py")
    assert data["X_test"].shape == (10, 3, 32, 32)
    assert script.leftovers() == []


def test_tarball_source(script, cifar_tarball, datasets_dir):
    result = script.run("--from", str(cifar_tarball))
    assert result.returncode == 0, result.output
    assert f"{cifar_tarball} is NOT the official tarball" in result.stdout
    assert "passed the structural check" in result.stdout
    assert_same_batches(script.dir / "cifar-10-batches-py", datasets_dir / "cifar-10-batches-py")
    assert all(name in result.stderr for name in MNIST_TEST_FILES + MNIST_TRAIN_FILES)
    assert cifar_tarball.is_file()
    assert script.network_calls() == "" and script.leftovers() == []


def test_corrupt_source_files_are_rejected(script, tmp_path, datasets_dir):
    source = tmp_path / "broken-source"
    for name in BATCHES:
        (source / "cifar-10-batches-py").mkdir(parents=True, exist_ok=True)
        original = datasets_dir / "cifar-10-batches-py" / name
        if name == "data_batch_1":
            (source / "cifar-10-batches-py" / name).write_bytes(original.read_bytes()[:15_000_000])
        else:
            (source / "cifar-10-batches-py" / name).symlink_to(original)
    (source / "mnist").mkdir()
    images = (datasets_dir / "mnist" / MNIST_TEST_FILES[0]).read_bytes()
    (source / "mnist" / MNIST_TEST_FILES[0]).write_bytes(images[: len(images) // 2])
    (source / "mnist" / MNIST_TEST_FILES[1]).symlink_to(datasets_dir / "mnist" / MNIST_TEST_FILES[1])

    result = script.run("--from", str(source))
    assert result.returncode == 1
    assert "data_batch_1: not a readable CIFAR-10 batch" in result.stderr
    assert f"CIFAR-10 in {source / 'cifar-10-batches-py'} is corrupt" in result.stderr
    assert f"{source / 'mnist' / MNIST_TEST_FILES[0]} is corrupt" in result.stderr
    assert not (script.dir / "cifar-10-batches-py").exists()
    assert sorted(path.name for path in (script.dir / "mnist").iterdir()) == [MNIST_TEST_FILES[1]]
    assert script.network_calls() == "" and script.leftovers() == []


def test_truncated_tarball_is_rejected(script, tmp_path, cifar_tarball):
    truncated = tmp_path / "cifar-10-python.tar.gz"
    with open(cifar_tarball, "rb") as f:
        truncated.write_bytes(f.read(20_000_000))
    result = script.run(source=truncated)
    assert result.returncode == 1
    assert f"{truncated} is corrupt" in result.stderr
    assert not (script.dir / "cifar-10-batches-py").exists()
    assert script.network_calls() == "" and script.leftovers() == []


def test_from_flag_wins_over_the_environment_and_must_exist(script, source_folder, tmp_path):
    missing = tmp_path / "no-such-copy"
    result = script.run("--from", str(missing), source=source_folder)
    assert result.returncode == 1
    assert f"local source {missing} does not exist" in result.stderr
    assert not (script.dir / "cifar-10-batches-py").exists()
    assert script.network_calls() == ""


def test_downloads_are_checked_against_the_official_checksums(tmp_path, cifar_tarball, datasets_dir):
    served = tmp_path / "served"
    served.mkdir()
    (served / cifar_tarball.name).symlink_to(cifar_tarball)  # a rebuilt copy: wrong checksum
    for name in MNIST_TEST_FILES:  # the official files: right checksum
        (served / name).symlink_to(datasets_dir / "mnist" / name)
    script = ScriptCopy(tmp_path / "My Drive" / "kit", network=LOCAL_NETWORK, served=served)

    result = script.run()
    assert result.returncode == 1
    assert "downloaded cifar-10-python.tar.gz is corrupt" in result.stderr
    assert not (script.dir / "cifar-10-batches-py").exists()
    for name in MNIST_TEST_FILES:
        assert filecmp.cmp(script.dir / "mnist" / name, datasets_dir / "mnist" / name, shallow=False)
    assert all(name in result.stderr for name in MNIST_TRAIN_FILES)
    calls = script.network_calls()
    assert "ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz" in calls
    assert "yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz" in calls
    assert script.leftovers() == []
