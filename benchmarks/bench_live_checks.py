"""What the hidden sections cost when an instructor runs the source notebooks (outside grading).

Each source notebook is executed with nbclient in a copy of source/fcnet, side by side in one
run, interleaved:
- bare: its hidden sections removed (the floor: the notebook's own work);
- live: as it is, each hidden section calling autograder.checks.run() of this checkout (one
  grader process per kernel, reused from cell to cell);
- baseline (with --baseline REF): as it is, with the kernel importing autograder from the
  git commit REF instead (e.g. the commit before the live grader, which started a grader
  process per hidden section).
The best time of each is printed with the hidden sections' share (setup - bare) and the
ratio baseline / live of the whole execution.

Run: .venv/bin/python benchmarks/bench_live_checks.py [--baseline REF] [--repeats N]
Needs the datasets (make data). About 5 minutes per repeat on 2 cores with a baseline.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.grading.course import data_folder  # noqa: E402
from autograder.manifest import load_manifest, manifest_path  # noqa: E402

HIDDEN_SECTION = re.compile(r"### BEGIN HIDDEN TESTS\n.*?\n### END HIDDEN TESTS\n?", re.S)


def execute(notebook_name, scratch, data_dir, hidden, autograder_from=None):
    """Seconds to execute a fresh copy of source/fcnet/NOTEBOOK_NAME top to bottom."""
    folder = scratch / "fcnet"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(REPO / "source" / "fcnet", folder, ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    notebook = nbformat.read(folder / notebook_name, as_version=4)
    if not hidden:
        for cell in notebook.cells:
            cell.source = HIDDEN_SECTION.sub("", cell.source)
    env = {**os.environ, "NNKIT_DATA_DIR": str(data_dir), "OPENBLAS_NUM_THREADS": "1"}
    if autograder_from is not None:
        env["PYTHONPATH"] = str(autograder_from)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    client.execute(env=env)
    return time.perf_counter() - start


def export(ref, folder):
    """The files of git commit `ref` of this repository, in `folder`."""
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    folder.mkdir()
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="REF", help="a git commit whose autograder to compare with")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--notebooks", nargs="*", help="default: every notebook of the assignment")
    args = parser.parse_args()
    notebooks = args.notebooks or load_manifest(manifest_path(REPO, "fcnet")).notebooks
    data_dir = data_folder(REPO)
    with tempfile.TemporaryDirectory(prefix="nnkit-bench-live-") as scratch:
        scratch = Path(scratch)
        setups = {"bare": {"hidden": False}, "live": {"hidden": True}}
        if args.baseline:
            baseline = export(args.baseline, scratch / "baseline")
            setups["baseline"] = {"hidden": True, "autograder_from": baseline}
        best = {}
        for _ in range(args.repeats):
            for notebook_name in notebooks:
                for setup, options in setups.items():
                    seconds = execute(notebook_name, scratch, data_dir, **options)
                    best[notebook_name, setup] = min(seconds, best.get((notebook_name, setup), seconds))
                    print(f"  {notebook_name:<26} {setup:<8} {seconds:6.1f} s", flush=True)
    print(f"\nbest of {args.repeats}, seconds (hidden sections' share: the setup minus bare):")
    print(f"{'notebook':<26} {'bare':>6} {'live':>6} {'share':>6}" +
          (f" {'baseline':>9} {'share':>6} {'ratio':>6}" if args.baseline else ""))
    rows = [*notebooks, "all"]
    for row in rows:
        cell = (lambda setup: sum(best[name, setup] for name in notebooks)) if row == "all" else \
            (lambda setup: best[row, setup])
        line = f"{row:<26} {cell('bare'):6.1f} {cell('live'):6.1f} {cell('live') - cell('bare'):6.1f}"
        if args.baseline:
            baseline_share = cell("baseline") - cell("bare")
            line += f" {cell('baseline'):9.1f} {baseline_share:6.1f} {cell('baseline') / cell('live'):5.2f}x"
        print(line)


if __name__ == "__main__":
    main()
