"""What the limits did while a submission's notebooks ran: the record ExecuteWithinLimits keeps.

    log = ExecutionLog(path, "FullyConnectedNets.ipynb")   # path None: kept in memory only
    log.add(TIMED_OUT, cell=11, reason="stuck in relu_forward (nnkit/layers.py, line 57)")
    log.timed_out      # a cell of this submission has timed out (in any notebook so far)
    status_notes(path) # ["timed out in FullyConnectedNets.ipynb cells 11, 13: stuck in ...", ...]

One JSON file per submission, in the grading task's scratch folder (out of the kernel's
reach): each notebook's run reads it (a function that hung in one notebook gets a tight
limit in the next) and adds to it, and task.py turns it into the submission's status.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path

# The kinds of stop, as the status names them.
TIMED_OUT = "timed out"
KERNEL_DIED = "kernel died"
NOT_RUN = "not run"
OUTPUT_CUT = "output cut"


@dataclass(frozen=True)
class Stop:
    notebook: str   # "FullyConnectedNets.ipynb"
    cell: int       # position in the notebook, from 1
    kind: str       # one of the kinds above
    reason: str     # what the student should know, e.g. "stuck in relu_forward (nnkit/layers.py, line 57)"


class ExecutionLog:
    def __init__(self, path: Path | None, notebook: str):
        self.path = path
        self.notebook = notebook
        self.stops = read_stops(path)

    @property
    def timed_out(self) -> bool:
        return any(stop.kind == TIMED_OUT for stop in self.stops)

    def add(self, kind: str, cell: int, reason: str) -> None:
        self.stops.append(Stop(self.notebook, cell, kind, reason))
        if self.path is not None:  # written at once: a backstop kill must not lose it
            partial = Path(f"{self.path}.partial")
            partial.write_text(json.dumps([asdict(stop) for stop in self.stops], indent=1),
                               encoding="utf-8")
            os.replace(partial, self.path)


def read_stops(path: Path | None) -> list[Stop]:
    if path is None or not Path(path).is_file():
        return []
    return [Stop(**stop) for stop in json.loads(Path(path).read_text(encoding="utf-8"))]


def status_notes(path: Path | None) -> list[str]:
    """One note per kind of stop, notebook and reason, in the order they happened:
    "timed out in FullyConnectedNets.ipynb cells 11, 13: stuck in relu_forward (...)"."""
    notes = []
    for (kind, notebook, reason), stops in groupby(read_stops(path),
                                                   lambda stop: (stop.kind, stop.notebook, stop.reason)):
        cells = [stop.cell for stop in stops]
        where = f"{notebook} cell{'s' if len(cells) > 1 else ''} {_ranges(cells)}"
        notes.append(f"{kind} in {where}" + (f": {reason}" if reason else ""))
    return notes


def _ranges(numbers: list[int]) -> str:
    """"3, 5-9, 12" for [3, 5, 6, 7, 8, 9, 12]."""
    parts, start = [], None
    for index, number in enumerate(numbers):
        if start is None:
            start = number
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            parts.append(str(start) if start == number else f"{start}-{number}")
            start = None
    return ", ".join(parts)
