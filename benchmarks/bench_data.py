"""How long a notebook waits for its data, and what that costs in memory: CIFAR-10 read from
the batches (as before the fast-load cache) against the cache the data step writes.

Every measurement is a fresh Python process, like a new kernel: numpy and nnkit are imported
first (untimed), then `get_CIFAR10_data()` is timed. The variants, interleaved round by round:
- batches: a folder of links to the same batch files with no cache next to it, the path every
  notebook took before the cache (and takes when the cache is missing or stale);
- cache: the datasets folder, with the cache `make data` wrote;
- uint8: the alternative that was measured and not chosen: a uint8 copy of the images in
  (N, 3, 32, 32) layout, converted to float64 minus the mean image at every load.
For each: seconds to load (median, min-max), then peak RSS and anonymous memory (what cannot
be shared with other processes) after loading, after using a 500-image slice and the
validation set (as BatchNormalization and Dropout do), and after reading all of X_train (as
training on it does), with the seconds that first full read takes (a mapped array is read
from the page cache as it is touched). Then several processes at once (a grading machine runs several kernels)
each load and read all of X_train: the sum of their PSS (shared pages split between them) is
the memory they really take together. Last, load_mnist for the MNIST files present.

Run: make benchmark-data   (or .venv/bin/python benchmarks/bench_data.py [--rounds 5] [--kernels 2])
Needs the datasets (make data); writes the cache first if it is missing or stale.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "source" / "fcnet"
sys.path.insert(0, str(SOURCE))

from nnkit import data_utils  # noqa: E402

SLICE = 500
VARIANTS = ("batches", "cache", "uint8")

# Runs in a fresh process: python -c CHILD SOURCE VARIANT FOLDER [hold]
CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from nnkit.data_utils import get_CIFAR10_data

def field(path, name):
    return int(open(path).read().split("\n" + name + ":")[1].split()[0]) * 1024

def memory():
    # VmHWM, not ru_maxrss: that one starts at the RSS of the parent this process was forked from.
    return {"peak_rss": field("/proc/self/status", "VmHWM"),
            "anonymous": field("/proc/self/smaps_rollup", "Anonymous")}

def load_uint8(folder):
    images, test_images = np.load(folder + "/train.npy", mmap_mode="r"), np.load(folder + "/test.npy", mmap_mode="r")
    mean_image = np.load(folder + "/mean.npy")
    data = {}
    for split, X, y in [("train", images[:49000], "y_train"), ("val", images[49000:], "y_val"), ("test", test_images, "y_test")]:
        data["X_" + split] = np.subtract(X, mean_image)  # float64: uint8 minus float64
        data["y_" + split] = np.load(f"{folder}/{y}.npy")
    return data

variant, folder = sys.argv[2], sys.argv[3]
start = time.perf_counter()
data = load_uint8(folder) if variant == "uint8" else get_CIFAR10_data(cifar10_dir=folder)
result = {"seconds": time.perf_counter() - start, "loaded": memory()}
float(data["X_train"][:SLICE].sum() + data["X_val"].sum())
result["slice"] = memory()
start = time.perf_counter()
float(data["X_train"].sum())
result["read_all_seconds"] = time.perf_counter() - start
result["all"] = memory()
print(json.dumps(result), flush=True)
if sys.argv[4:] == ["hold"]:
    sys.stdin.readline()
""".replace("SLICE", str(SLICE))

MNIST_CHILD = r"""
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from nnkit.data_utils import load_mnist
start = time.perf_counter()
load_mnist(sys.argv[2], mnist_dir=sys.argv[3])
print(time.perf_counter() - start)
"""


def child(variant, folder, hold=False):
    command = [sys.executable, "-c", CHILD, str(SOURCE), variant, str(folder)] + (["hold"] if hold else [])
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def measure(variant, folder):
    process = child(variant, folder)
    out, _ = process.communicate()
    if process.returncode != 0:
        sys.exit(f"the {variant} process failed")
    return json.loads(out)


def together(variant, folder, kernels):
    """Sum of the PSS of `kernels` processes holding the data at once, after reading all of it."""
    processes = [child(variant, folder, hold=True) for _ in range(kernels)]
    for process in processes:
        json.loads(process.stdout.readline())  # loaded and read: now holding it
    total = 0
    for process in processes:
        rollup = Path(f"/proc/{process.pid}/smaps_rollup").read_text()
        total += int(rollup.split("\nPss:")[1].split()[0]) * 1024
    for process in processes:
        process.communicate("\n")
    return total


def batches_only_folder(cifar_dir, scratch):
    """A CIFAR-10 folder in scratch of links to cifar_dir's batches, without their cache."""
    folder = scratch / data_utils.CIFAR10_FOLDER
    folder.mkdir(parents=True)
    for name in [*data_utils.CIFAR10_TRAIN_BATCHES, data_utils.CIFAR10_TEST_BATCH]:
        (folder / name).symlink_to((cifar_dir / name).resolve())
    return folder


def write_uint8_variant(cifar_dir, folder):
    Xtr, Ytr, Xte, Yte = data_utils.load_CIFAR10(cifar_dir)
    channels_first = lambda images: np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    np.save(folder / "train.npy", channels_first(Xtr[:50000]))
    np.save(folder / "test.npy", channels_first(Xte[:1000]))
    # An exact mean: the pixel sums are integers, as float64 sums of them are.
    np.save(folder / "mean.npy", channels_first(Xtr[:49000]).sum(axis=0, dtype=np.int64) / 49000)
    for name, labels in [("y_train", Ytr[:49000]), ("y_val", Ytr[49000:]), ("y_test", Yte[:1000])]:
        np.save(folder / f"{name}.npy", labels)


def megabytes(num_bytes):
    return f"{num_bytes / 2**20:,.0f} MB"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per variant")
    parser.add_argument("--kernels", type=int, default=2, help="processes holding the data at once")
    args = parser.parse_args(argv)

    datasets = Path(os.environ.get(data_utils.DATA_DIR_ENV) or REPO / "datasets")
    cifar_dir = datasets / data_utils.CIFAR10_FOLDER
    cache_dir, written = data_utils.write_cifar10_cache(cifar_dir)
    print(f"Cache: {cache_dir} ({'written now' if written else 'up to date'})")

    with tempfile.TemporaryDirectory(prefix="bench-data-") as scratch:
        batches_only = batches_only_folder(cifar_dir, Path(scratch) / "batches")
        uint8 = Path(scratch) / "uint8"
        uint8.mkdir()
        write_uint8_variant(cifar_dir, uint8)
        folders = {"batches": batches_only, "cache": cifar_dir, "uint8": uint8}

        results = {variant: [] for variant in VARIANTS}
        for round_index in range(args.rounds):
            order = VARIANTS[round_index % 3:] + VARIANTS[:round_index % 3]
            for variant in order:
                results[variant].append(measure(variant, folders[variant]))

        print(f"\nget_CIFAR10_data() in a fresh process, {args.rounds} rounds (peak RSS / anonymous memory):")
        print(f"{'variant':<9} {'load seconds':<20} {'after loading':<22} {f'{SLICE} images + val':<22} "
              f"{'all of X_train':<22} first full read (s)")
        medians = {}
        for variant in VARIANTS:
            runs = results[variant]
            seconds = [run["seconds"] for run in runs]
            medians[variant] = statistics.median(seconds)
            memory = [" / ".join(megabytes(max(run[stage][field] for run in runs)) for field in ("peak_rss", "anonymous"))
                      for stage in ("loaded", "slice", "all")]
            timing = f"{medians[variant]:.3f} ({min(seconds):.3f}-{max(seconds):.3f})"
            read_all = statistics.median(run["read_all_seconds"] for run in runs)
            print(f"{variant:<9} {timing:<20} {memory[0]:<22} {memory[1]:<22} {memory[2]:<22} {read_all:.3f}")
        print(f"batches / cache: {medians['batches'] / medians['cache']:.0f}x;  "
              f"uint8 / cache: {medians['uint8'] / medians['cache']:.0f}x")

        print(f"\n{args.kernels} processes at once, each having read all of X_train (sum of PSS):")
        for variant in ("batches", "cache"):
            print(f"{variant:<9} {megabytes(together(variant, folders[variant], args.kernels))}")

    mnist_dir = datasets / data_utils.MNIST_FOLDER
    print("\nload_mnist() in a fresh process (median seconds; no cache: it is small):")
    for kind, prefix in data_utils.MNIST_PREFIXES.items():
        if not (mnist_dir / f"{prefix}-images-idx3-ubyte.gz").is_file():
            print(f"{kind:<9} files not present")
            continue
        seconds = [float(subprocess.run([sys.executable, "-c", MNIST_CHILD, str(SOURCE), kind, str(mnist_dir)],
                                        capture_output=True, text=True, check=True).stdout)
                   for _ in range(args.rounds)]
        print(f"{kind:<9} {statistics.median(seconds):.3f}")


if __name__ == "__main__":
    main()
