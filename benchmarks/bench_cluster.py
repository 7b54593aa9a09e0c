"""Grading on a Dask cluster against the local process pool, side by side in one run.

The same batch (the sample submissions trimmed as tests/corpus trims them: the first
notebook, the modules and the model; topped up with copies of the reference to --batch) is
graded with 1 local worker, 2 local workers and a Dask cluster of 2 workers (a real
`dask scheduler` and two `dask worker` processes on loopback: tests/dask_cluster.py).
Printed: each mode's wall-clock seconds and throughput (submissions per minute), and the
per-submission overhead of Dask against the local pool of the same size: the extra
wall-clock seconds per submission, and the extra seconds inside each task. All three runs'
grades.csv and scores.csv must be equal.

Also what the self-contained task costs every run, local ones included: packing the
assignment bundle, unpacking it in a worker, reading a submission's files in the coordinator.

Run: .venv/bin/python benchmarks/bench_cluster.py [--batch 16]   (needs `make data`)
"""
import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from autograder.grading.batch import grade_folder  # noqa: E402
from autograder.grading.bundle import build_bundle  # noqa: E402
from autograder.grading.intake import read_download  # noqa: E402
from autograder.grading.records import read_csv  # noqa: E402
from autograder.grading.samples import Sample, build_samples, write_zip  # noqa: E402
from autograder.grading.submissions import read_handed_in  # noqa: E402
from autograder.manifest import load_manifest, manifest_path  # noqa: E402
from corpus.build_corpus import KEPT  # noqa: E402
from dask_cluster import DaskCluster  # noqa: E402


RANDOM_SEED = re.compile(r" \(random inputs: seed \d+\)")


def quiet(*args, **kwargs):
    pass


def graded(out: Path) -> tuple:
    """grades.csv and scores.csv, without the checks' random seeds (fresh in every run)."""
    scores = [{**row, "message": RANDOM_SEED.sub("", row["message"])}
              for row in read_csv(out / "scores.csv")]
    return read_csv(out / "grades.csv"), scores


def timed_run(submissions: Path, out: Path, manifest, **how) -> tuple[float, list]:
    started = time.perf_counter()
    result = grade_folder(REPO, manifest, submissions, out, say=quiet, **how)
    return time.perf_counter() - started, result.results


def one_off_costs(manifest, submissions: Path, work: Path) -> None:
    started = time.perf_counter()
    bundle = build_bundle(REPO, manifest, work / "template")
    built = time.perf_counter() - started
    started = time.perf_counter()
    bundle.unpacked(work / "cache")
    unpacked = time.perf_counter() - started
    entries = read_download(submissions, None, None, manifest.due.tzinfo).entries
    started = time.perf_counter()
    for entry in entries:
        read_handed_in(entry, manifest)
    reading = (time.perf_counter() - started) / len(entries)
    print(f"bundle: {len(bundle.archive) / 2**20:.1f} MB; course template + tar {built:.2f} s "
          f"once per run; unpacked in {unpacked * 1000:.0f} ms once per worker; a submission's "
          f"files read in {reading * 1000:.0f} ms in the coordinator")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    manifest = load_manifest(manifest_path(REPO, "fcnet"))
    samples = build_samples(REPO, manifest, REPO / "out" / "cache", say=quiet)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as work:
        work = Path(work)
        submissions = work / "submissions"
        for number in range(args.batch):
            sample = samples[number] if number < len(samples) else samples[0]
            files = {path: data for path, data in sample.files.items() if path in KEPT}
            write_zip(Sample(sample.name, files), submissions / f"s{number:02d}_{sample.name}.zip")
        one_off_costs(manifest, submissions, work / "one-off")

        cluster = DaskCluster.start(workers=2)
        try:
            modes = {"local, 1 worker": {"workers": 1}, "local, 2 workers": {"workers": 2},
                     "Dask, 2 workers": {"cluster": cluster.address}}
            runs = {name: timed_run(submissions, work / f"out-{number}", manifest, **how)
                    for number, (name, how) in enumerate(modes.items())}
        finally:
            cluster.stop()
        outs = [graded(work / f"out-{number}") for number in range(len(modes))]

    print(f"\n{args.batch} submissions (trimmed samples), 2 shared cores:")
    print(f"{'mode':<18} {'seconds':>8} {'per minute':>11} {'task s (median)':>16}")
    for name, (seconds, results) in runs.items():
        print(f"{name:<18} {seconds:8.1f} {args.batch / seconds * 60:11.2f} "
              f"{statistics.median(r.seconds for r in results):16.1f}")
    (local, local_results), (dask, dask_results) = runs["local, 2 workers"], runs["Dask, 2 workers"]
    task_extra = (statistics.mean(r.seconds for r in dask_results)
                  - statistics.mean(r.seconds for r in local_results))
    print(f"Dask against the local pool (2 workers each): {(dask - local) / args.batch:+.2f} s "
          f"wall-clock per submission ({dask / local:.3f}x), {task_extra:+.2f} s inside each task")
    print("grades.csv and scores.csv of the three modes: " +
          ("equal" if all(out == outs[0] for out in outs) else "DIFFERENT"))


if __name__ == "__main__":
    main()
