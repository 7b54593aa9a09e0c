"""A student's path through the release, played end to end.

A student who did everything: a copy of release/fcnet with the reference modules and the
notebooks' solution cells (code and answers) pasted in, as the grader's reference sample
builds them (autograder/grading/samples.py), runs every notebook top to bottom without an
error and saves it, and collect_submission.py then finds nothing unfinished. Cells tagged
"slow" (training runs, searches) are skipped, as grading skips them; the one artifact a slow
cell saves, best_model.npz, is the reference's (trained once and cached, as the grading
tests do).

The untouched release, for which collect_submission.py lists everything still to do, is
tested in tests/test_release.py.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.grading.samples import build_samples
from autograder.manifest import load_manifest, manifest_path

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "release" / "fcnet"
MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))
SKIPPED = "# (tagged slow: skipped, as grading skips it)"


def run_and_save(path: Path, datasets_dir: Path) -> None:
    """Run a notebook in its folder as a student would (slow cells skipped) and save it with
    its outputs; fails naming the cell if any cell raises."""
    notebook = nbformat.read(path, as_version=4)
    slow = {index: cell.source for index, cell in enumerate(notebook.cells)
            if "slow" in cell.metadata.get("tags", [])}
    for index in slow:
        notebook.cells[index].source = SKIPPED
    env = {**os.environ, "NNKIT_DATA_DIR": str(datasets_dir), "OPENBLAS_NUM_THREADS": "1"}
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    for index, source in slow.items():
        notebook.cells[index].source = source
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_a_student_who_did_everything_runs_every_notebook_and_is_told_it_is_complete(
        tmp_path, datasets_dir, request):
    cache = Path(request.config.cache.mkdir("grading-artifacts"))  # the trained best model
    reference = build_samples(REPO, MANIFEST, cache, partial_names=())[0]
    assert reference.name == "reference"
    folder = tmp_path / "fcnet"
    shutil.copytree(RELEASE, folder, ignore=shutil.ignore_patterns(*MANIFEST.local_only_patterns))
    for path, content in reference.files.items():
        (folder / path).write_bytes(content)

    for name in MANIFEST.notebooks:
        run_and_save(folder / name, datasets_dir)

    result = subprocess.run([sys.executable, "collect_submission.py"], cwd=folder,
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NNKIT_DATA_DIR": str(datasets_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing looks unfinished" in result.stdout, result.stdout
    assert "best_model.npz: validation accuracy 0." in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == (
        "Everything looks complete: hand in fcnet_submission.zip."), result.stdout
