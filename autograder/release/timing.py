"""How long the reference solution's notebook cells take, measured by `autograder release`.

    problems = stale_cell_times(course_root, manifest, release_dir)      # --check
    update_cell_times(course_root, manifest, release_dir, say)           # a release

Grading gives every cell a time limit derived from these measurements
(autograder/grading/time_limits.py), stored in assignments/<id>/cell_times.json. The
reference is what a student who did everything hands in: each release notebook with the
solutions filled in (grading/samples.py) next to the source modules, run in a temporary
copy with a plain kernel, the cells tagged slow skipped as grading skips them.

Each notebook's entry carries a fingerprint of what was measured (its cells and the
modules they run). A release measures again only the notebooks whose fingerprint changed,
so the file changes only with the assignment, and `--check` compares fingerprints, never
times, so it stays deterministic. Delete the file to measure everything again (e.g. on
the grading machine).
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

from nbclient import NotebookClient

from ..grading.course import data_folder, nbgrader_env
from ..grading.time_limits import (CellTimes, MeasuredCell, NotebookTimes, cell_times_path,
                                   source_digest)
from ..manifest import Manifest

CELL_TIMEOUT = 900  # seconds; the reference's cells need far less, this only stops a hang
_NOTE = ("Written by `autograder release {id}`: seconds each code cell of the reference "
         "solution took (cells tagged slow skipped), from which grading derives every cell's "
         "time limit (autograder/grading/time_limits.py). Delete it to measure again.")


class TimingError(RuntimeError):
    """The cells cannot be measured; the message says why and what to do."""


def stale_cell_times(course_root: Path, manifest: Manifest, release_dir: Path) -> list[str]:
    """The notebooks whose measured times do not match the assignment any more."""
    times = _stored(manifest)
    return [name for name in manifest.notebooks
            if (times.notebook(name) is None or times.notebook(name).fingerprint
                != fingerprint(course_root, manifest, release_dir, name))]


def update_cell_times(course_root: Path, manifest: Manifest, release_dir: Path, say=print) -> None:
    """Measure the notebooks whose times are missing or stale, and store them."""
    stale = stale_cell_times(course_root, manifest, release_dir)
    path = cell_times_path(manifest)
    if not stale:
        say(f"Cell times in {path.name}: up to date (the notebooks and modules are unchanged).")
        return
    data_dir = data_folder(course_root)
    if not all((data_dir / folder).is_dir() for folder in manifest.data.folders):
        raise TimingError(f"cannot measure the reference's cell times for {path}: no datasets "
                          f"in {data_dir}; run `make data`, then `autograder release {manifest.id}` "
                          "again (grading needs these times)")
    times = _stored(manifest).notebooks
    for name in stale:
        say(f"Measuring the reference solution's cell times in {name} ...")
        times[name] = measure(course_root, manifest, release_dir, name)
        say(f"  {len(times[name].cells)} code cells, {times[name].total:.1f} s in all")
    CellTimes(times).dump(path, _NOTE.format(id=manifest.id))
    say(f"Wrote {path.relative_to(course_root)}")


def measure(course_root: Path, manifest: Manifest, release_dir: Path, name: str) -> NotebookTimes:
    """Run the reference of one notebook and time each of its code cells."""
    from ..grading.preprocessors import SkipSlowCells
    notebook = _reference_notebook(course_root, manifest, release_dir, name)
    skip = SkipSlowCells()
    skip.preprocess(notebook, {})
    started = {}

    def start(cell, cell_index, **_):
        started[cell_index] = time.perf_counter()

    def executed(cell, cell_index, **_):
        started[cell_index] = time.perf_counter() - started[cell_index]

    with tempfile.TemporaryDirectory(prefix="cell-times-") as work:
        work = Path(work) / manifest.id
        shutil.copytree(course_root / "source" / manifest.id, work, ignore=shutil.ignore_patterns(
            "*.ipynb", *manifest.local_only_patterns))
        client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                allow_errors=True, on_cell_execute=start, on_cell_executed=executed,
                                resources={"metadata": {"path": str(work)}})
        client.execute(env=nbgrader_env({"NNKIT_DATA_DIR": str(data_folder(course_root))}))
    return NotebookTimes(fingerprint(course_root, manifest, release_dir, name), [
        MeasuredCell(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.get("id"),
                     source_digest(cell.source), round(started[index], 3))
        for index, cell in enumerate(notebook.cells) if index in started])


def fingerprint(course_root: Path, manifest: Manifest, release_dir: Path, name: str) -> str:
    """What the times of notebook `name` depend on: its reference cells, the modules."""
    digest = hashlib.sha256()
    for cell in _reference_notebook(course_root, manifest, release_dir, name).cells:
        digest.update(f"{cell.cell_type}\0{cell.get('id')}\0{cell.source}\0".encode())
        digest.update(" ".join(cell.metadata.get("tags", [])).encode())
    source = course_root / "source" / manifest.id
    for module in sorted(source.rglob("*.py")):
        if "__pycache__" not in module.parts:
            digest.update(module.relative_to(source).as_posix().encode() + module.read_bytes())
    return digest.hexdigest()[:16]


def _reference_notebook(course_root: Path, manifest: Manifest, release_dir: Path, name: str):
    from ..grading.samples import filled_notebook
    return filled_notebook(course_root / "source" / manifest.id / name, release_dir / name)


def _stored(manifest: Manifest) -> CellTimes:
    path = cell_times_path(manifest)
    return CellTimes.load(path) if path.is_file() else CellTimes({})
