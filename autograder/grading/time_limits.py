"""How long a submission's code may run: limits that follow what the reference solution needs.

    times = CellTimes.load(cell_times_path(manifest))    # measured by `autograder release`
    limits = NotebookLimits(times.notebook("FullyConnectedNets.ipynb"))
    limits.cell(cell)          # seconds this cell may take
    limits.budget              # seconds all cells of this notebook may take together

`autograder release` runs the reference solution's notebooks (the release notebooks with
the solutions filled in, cells tagged slow skipped, as grading runs them) and stores how
long each code cell took in assignments/<id>/cell_times.json (release/timing.py). Grading
derives every time limit from those measurements:

- a cell may take CELL_MULTIPLE times what the reference needed for it, and at least
  CELL_FLOOR seconds (a cell the reference does not have, e.g. one the student added, gets
  the floor);
- once one cell of a submission has timed out, every later cell gets a tight limit: a
  function that never returns would otherwise get the full time again in every cell that
  calls it. The floor, which gives most cells hundreds of times what they need, drops to
  TIGHT_FLOOR; the multiple, the margin of the cells that do real work (loading the data,
  training), only to TIGHT_MULTIPLE, so that a slower grading machine still does not fail
  them;
- a notebook's cells together may take CELL_MULTIPLE times the reference's time for the
  whole notebook, and at least NOTEBOOK_FLOOR_CELLS times the floor: when that budget runs
  out, the cells left are recorded as not run, and the notebook is still saved and graded;
- in a kernel, a hidden test cell waits at most VERDICT_WAIT for its verdict (the grader
  has waited for it before running the cell; this only covers checks that ran out of time).

The grader's outside limit on `nbgrader autograde` (task.py) is only a backstop, computed
from these (`backstop`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

from ..manifest import Manifest

CELL_MULTIPLE = 10.0
CELL_FLOOR = 10.0
TIGHT_MULTIPLE = CELL_MULTIPLE / 2
TIGHT_FLOOR_SHARE = 1 / 3  # of the floor
NOTEBOOK_FLOOR_CELLS = 6
VERDICT_WAIT = TIGHT_FLOOR_SHARE * CELL_FLOOR / 2  # below the least time a cell gets by default
# What nbgrader may take besides running cells, per notebook: start kernels (one more per
# kernel death: ExecuteWithinLimits.max_restarts; with several graders sharing the cores a
# kernel can take well over nbgrader's 60 s to start: nbgrader_config.py's
# Execute.startup_timeout), read, save and grade it.
KERNEL_START = 180
NOTEBOOK_OVERHEAD = 60.0
CELL_TIMES_FILE = "cell_times.json"


def cell_times_path(manifest: Manifest) -> Path:
    """Where `autograder release` stores the reference's cell times: next to the manifest."""
    return manifest.path.parent / CELL_TIMES_FILE


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MeasuredCell:
    """One code cell of the reference, and the seconds it took."""
    grade_id: str | None   # nbgrader's, when the cell has one
    cell_id: str | None    # nbformat's cell id
    source: str            # source_digest of its source
    seconds: float


class NotebookTimes:
    """The measured cells of one notebook."""

    def __init__(self, fingerprint: str, cells: list[MeasuredCell]):
        self.fingerprint = fingerprint  # of what was measured (release/timing.py)
        self.cells = cells
        self._by_key = {}
        for cell in cells:  # the first match wins: grade id, then cell id, then source
            for key in (("grade", cell.grade_id), ("id", cell.cell_id), ("source", cell.source)):
                if key[1] is not None:
                    self._by_key.setdefault(key, cell.seconds)

    @property
    def total(self) -> float:
        return sum(cell.seconds for cell in self.cells)

    def seconds(self, cell: NotebookNode) -> float | None:
        """What the reference needed for this cell of a submission: matched by nbgrader
        grade id, else cell id, else identical source; None for a cell it does not have."""
        keys = [("grade", cell.metadata.get("nbgrader", {}).get("grade_id")),
                ("id", cell.get("id")), ("source", source_digest(cell.source))]
        return next((self._by_key[key] for key in keys if key in self._by_key), None)


class CellTimes:
    """The reference's measured cell times of every notebook of an assignment."""

    def __init__(self, notebooks: dict[str, NotebookTimes]):
        self.notebooks = notebooks

    def notebook(self, name: str) -> NotebookTimes | None:
        return self.notebooks.get(name)

    @classmethod
    def load(cls, path: Path) -> CellTimes:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls({name: NotebookTimes(entry["fingerprint"],
                                        [MeasuredCell(**cell) for cell in entry["cells"]])
                    for name, entry in data["notebooks"].items()})

    def dump(self, path: Path, note: str) -> None:
        """JSON with one line per cell (readable diffs when a notebook changes)."""
        notebooks = [f'  {json.dumps(name)}: {{"fingerprint": {json.dumps(times.fingerprint)}, '
                     '"cells": [\n' + ",\n".join(f"   {json.dumps(cell.__dict__)}"
                                                for cell in times.cells) + "\n  ]}"
                     for name, times in sorted(self.notebooks.items())]
        Path(path).write_text(f'{{"_note": {json.dumps(note)},\n "notebooks": {{\n'
                              + ",\n".join(notebooks) + "\n }\n}\n", encoding="utf-8")


class NotebookLimits:
    """The time limits of one notebook's cells (see the module docstring)."""

    def __init__(self, times: NotebookTimes | None, floor: float = CELL_FLOOR,
                 tight: bool = False):
        self.times = times
        self.floor = floor
        self.tight = tight  # a cell of this submission has timed out already

    def cell(self, cell: NotebookNode) -> float:
        reference = self.times.seconds(cell) if self.times else None
        return max(self.least, self.multiple * (reference or 0.0))

    @property
    def least(self) -> float:
        return self.floor * TIGHT_FLOOR_SHARE if self.tight else self.floor

    @property
    def multiple(self) -> float:
        return TIGHT_MULTIPLE if self.tight else CELL_MULTIPLE

    @property
    def budget(self) -> float:
        return notebook_budget(self.times, self.floor)

    def rule(self) -> str:
        """How a cell's limit comes about, for the student: "10x the reference solution's
        time for this cell, at least 10 s"."""
        rule = (f"{self.multiple:g}x the reference solution's time for this cell, at least "
                f"{self.least:.3g} s")
        return f"{rule}, since an earlier cell timed out" if self.tight else rule


def notebook_budget(times: NotebookTimes | None, floor: float = CELL_FLOOR) -> float:
    return max(NOTEBOOK_FLOOR_CELLS * floor, CELL_MULTIPLE * (times.total if times else 0.0))


def backstop(times: CellTimes, notebooks: list[str], checks_budget: float,
             max_restarts: int, floor: float = CELL_FLOOR) -> float:
    """Seconds after which the grader kills `nbgrader autograde` from outside: every
    notebook's budget, its kernel starts and overhead, and the hidden checks' whole
    budget (a cell waits for its verdict outside its own time)."""
    per_notebook = [notebook_budget(times.notebook(name), floor)
                    + KERNEL_START * (1 + max_restarts) + NOTEBOOK_OVERHEAD
                    for name in notebooks]
    return sum(per_notebook) + checks_budget


def describe(floor: float = CELL_FLOOR) -> str:
    """The time limits in one sentence, for the report."""
    return (f"each cell {CELL_MULTIPLE:g}x the reference solution's time for it (at least "
            f"{floor:g} s), each notebook {CELL_MULTIPLE:g}x the reference's time for the "
            f"notebook (at least {NOTEBOOK_FLOOR_CELLS * floor:g} s); after a cell has "
            f"timed out, later cells {TIGHT_MULTIPLE:g}x (at least {floor * TIGHT_FLOOR_SHARE:.3g} s)")
