"""Sample submissions built from the repository, with the score each must get.

    samples = build_samples(course_root, manifest, cache_dir)   # reference, blank, partials
    write_zip(samples[0], folder / "reference.zip")            # as collect_submission.py does

- reference: what a student who completed everything hands in. The release notebooks with
  each solution cell (code and written answers) filled in from the source notebook, the
  source modules without their solution markers, and the artifacts the solution saves
  (made by running the source notebook's cells that save them; cached, as that trains).
  Must get every autograded point.
- blank: the release as students get it (no artifacts). Must get no autograded point.
- partials: the reference with ONE piece of work undone, i.e. back to its release version
  (a module function raising NotImplementedError, or a notebook solution cell). Each must
  lose exactly the test cells whose checks declare that they exercise it (partials()), and
  nothing else.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ..checks import checks_folder
from ..checks.assignment import load_checks
from ..manifest import Manifest
from ..release.strip import BEGIN_SOLUTION, END_SOLUTION, find_regions, strip_solutions
from .course import data_folder, nbgrader_env


@dataclass(frozen=True)
class Partial:
    name: str
    undoes: str               # "<module path>:<function>" or "<notebook>:<solution grade id>"
    loses: frozenset[str]     # grade ids of exactly the test cells this costs


def partials(course_root: Path, manifest: Manifest) -> tuple[Partial, ...]:
    """The manifest's partials, each losing the test cells whose hidden checks declare that
    they exercise the piece it undoes (framework.check's `exercises`). Work is charged in its
    own cells only: the cells of a network check the network with working layers, the
    overfitting cells rerun the student's settings with a correct implementation, and so on;
    the checks' declarations say so, and grading the samples (check.py) holds them to it."""
    checks = load_checks(checks_folder(course_root, manifest.id)).checks
    return tuple(Partial(f"partial_{undoes.partition(':')[2]}", undoes,
                         frozenset(grade_id for grade_id, registered in checks.items()
                                   if undoes in registered.exercises))
                 for undoes in manifest.partials)


ARTIFACT_CELL_TIMEOUT = 900  # seconds; the "train your best model" cells train for minutes


class SampleError(RuntimeError):
    """A sample cannot be built; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Sample:
    name: str                     # also the student id it is graded under
    files: dict[str, bytes]       # path in the submission -> content
    loses: frozenset[str] = frozenset()  # test cells that must score 0 (others: full points)
    loses_everything: bool = False
    undoes: str = ""              # a partial's undone piece of work (Partial.undoes)


def build_samples(course_root: Path, manifest: Manifest, cache_dir: Path,
                  partial_names: tuple[str, ...] | None = None, say=print) -> list[Sample]:
    """The reference, the blank release and the partials (all, or those named)."""
    source = course_root / "source" / manifest.id
    release = course_root / "release" / manifest.id
    if not release.is_dir():
        raise SampleError(f"{release} not found: run `autograder release {manifest.id}` first")
    reference = {
        **{name: _write_notebook(filled_notebook(source / name, release / name))
           for name in manifest.notebooks},
        **{module: _without_markers(_read(source / module)).encode()
           for module in manifest.student_modules},
        **artifacts(course_root, manifest, cache_dir, say),
    }
    blank = {path: (release / path).read_bytes()
             for path in manifest.notebooks + manifest.student_modules}
    samples = [Sample("reference", reference), Sample("blank", blank, loses_everything=True)]
    for partial in partials(course_root, manifest):
        if partial_names is None or partial.name in partial_names:
            samples.append(Sample(partial.name, _undo(reference, partial, source, release),
                                  partial.loses, undoes=partial.undoes))
    return samples


def write_zip(sample: Sample, path: Path) -> Path:
    """Write the sample as collect_submission.py would (paths inside the assignment folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(sample.files):
            # A fixed date: the same sample always gives the same bytes.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)),
                             sample.files[name], compress_type=zipfile.ZIP_DEFLATED)
    return path


def filled_notebook(source_path: Path, release_path: Path) -> nbformat.NotebookNode:
    """The release notebook with every solution cell's source taken from the source
    notebook, solution markers removed: what a student who did it all hands in."""
    source = nbformat.read(source_path, as_version=4)
    notebook = nbformat.read(release_path, as_version=4)
    if _grade_ids(source) != _grade_ids(notebook):
        raise SampleError(f"{release_path} is out of date with {source_path} (their graded "
                          "and solution cells differ); run `autograder release` first")
    solutions = {cell.metadata.nbgrader["grade_id"]: _without_markers(cell.source)
                 for cell in source.cells if cell.metadata.get("nbgrader", {}).get("solution")}
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solutions[cell.metadata.nbgrader["grade_id"]]
    return notebook


def _grade_ids(notebook) -> list[str]:
    return [cell.metadata.nbgrader["grade_id"] for cell in notebook.cells
            if "grade_id" in cell.metadata.get("nbgrader", {})]


def _undo(reference: dict[str, bytes], partial: Partial, source: Path,
          release: Path) -> dict[str, bytes]:
    path, _, name = partial.undoes.partition(":")
    files = dict(reference)
    if path.endswith(".ipynb"):
        notebook = nbformat.reads(reference[path].decode(), as_version=4)
        released = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source
                    for cell in nbformat.read(release / path, as_version=4).cells}
        cells = [cell for cell in notebook.cells
                 if cell.metadata.get("nbgrader", {}).get("grade_id") == name]
        if not cells or name not in released:
            raise SampleError(f"{partial.name}: no solution cell {name!r} in {path}")
        cells[0].source = released[name]
        files[path] = _write_notebook(notebook)
    else:
        files[path] = _reverted_module(_read(source / path), name, f"{source / path}").encode()
    return files


def _reverted_module(text: str, function: str, filename: str) -> str:
    """The solved module, except `function`, which gets its release (TODO + raise) version."""
    regions = find_regions(text, filename)
    if not any(region.name == function for region in regions):
        names = sorted({region.name for region in regions})
        raise SampleError(f"{filename}: no solution region in {function!r} "
                          f"(regions are in: {', '.join(names)})")
    keep = {line for region in regions if region.name == function
            for line in (region.begin_line, region.end_line)}
    lines = [line for number, line in enumerate(text.splitlines(keepends=True), start=1)
             if number in keep or not _is_marker(line)]
    stripped, _ = strip_solutions("".join(lines), filename)
    return stripped


def _without_markers(text: str) -> str:
    """Solution code as a student would write it: the marker lines removed."""
    return "".join(line for line in text.splitlines(keepends=True) if not _is_marker(line))


def _is_marker(line: str) -> bool:
    return BEGIN_SOLUTION in line or END_SOLUTION in line


def artifacts(course_root: Path, manifest: Manifest, cache_dir: Path, say=print) -> dict[str, bytes]:
    """{artifact path: content} made by the source notebooks' reference solution, cached in
    cache_dir under a key of everything that went into making them."""
    source = course_root / "source" / manifest.id
    made = {}
    for notebook_name in manifest.notebooks:
        notebook = nbformat.read(source / notebook_name, as_version=4)
        wanted = [artifact for artifact in manifest.artifacts
                  if any(_saves(cell, artifact) for cell in notebook.cells)]
        if not wanted:
            continue
        cells = _cells_making(notebook, wanted)
        key = _cache_key(source, cells)
        folder = cache_dir / key
        if not all((folder / artifact).is_file() for artifact in wanted):
            say(f"Making {', '.join(wanted)} with the reference solution of {notebook_name} "
                "(trains a network; cached for next time) ...")
            _run_cells(course_root, source, notebook_name, cells, wanted, folder)
        made.update({artifact: (folder / artifact).read_bytes() for artifact in wanted})
    missing = sorted(set(manifest.artifacts) - set(made))
    if missing:
        raise SampleError(f"no solution cell of the source notebooks saves {missing[0]}")
    return made


def _saves(cell, artifact: str) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return (cell.cell_type == "code" and bool(meta.get("solution"))
            and Path(artifact).name in cell.source)


def _cells_making(notebook, artifacts_wanted: list[str]) -> list:
    """The set-up cells (code before the first graded or solution cell, not tagged slow)
    and the solution cells that save the artifacts."""
    first_nbgrader = next(index for index, cell in enumerate(notebook.cells)
                          if cell.metadata.get("nbgrader"))
    setup = [cell for cell in notebook.cells[:first_nbgrader]
             if cell.cell_type == "code" and "slow" not in cell.metadata.get("tags", [])]
    saving = [cell for cell in notebook.cells
              if any(_saves(cell, artifact) for artifact in artifacts_wanted)]
    return setup + saving


def _cache_key(source: Path, cells) -> str:
    digest = hashlib.sha256()
    for cell in cells:
        digest.update(cell.source.encode())
    for module in sorted(source.rglob("*.py")):
        if "__pycache__" not in module.parts:
            digest.update(module.relative_to(source).as_posix().encode())
            digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def _run_cells(course_root: Path, source: Path, notebook_name: str, cells, wanted: list[str],
               folder: Path) -> None:
    """Run `cells` in a copy of the source folder and keep the artifacts they save."""
    trimmed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell.source)
                                              for cell in cells])
    with tempfile.TemporaryDirectory(prefix="sample-artifacts-") as work:
        work = Path(work) / source.name
        shutil.copytree(source, work, ignore=shutil.ignore_patterns(
            "*.ipynb", "datasets", "__pycache__", *wanted))
        env = nbgrader_env({"NNKIT_DATA_DIR": str(data_folder(course_root))})
        client = NotebookClient(trimmed, timeout=ARTIFACT_CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(work)}})
        try:
            client.execute(env=env)
        except CellExecutionError as error:
            raise SampleError(f"the reference cells of {notebook_name} that save "
                              f"{', '.join(wanted)} fail: {error.ename}: {error.evalue}") from None
        folder.mkdir(parents=True, exist_ok=True)
        for artifact in wanted:
            if not (work / artifact).is_file():
                raise SampleError(f"the reference cells of {notebook_name} ran but did not "
                                  f"save {artifact}")
            shutil.copy2(work / artifact, folder / artifact)


def _write_notebook(notebook) -> bytes:
    return (nbformat.writes(notebook) + "\n").encode()


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")

