"""What the limits did while a submission's notebooks ran, and where the time went: the
record ExecuteWithinLimits keeps.

    log = ExecutionLog(path, "FullyConnectedNets.ipynb")   # path None: kept in memory only
    log.add(TIMED_OUT, cell=11, reason="stuck in relu_forward (nnkit/layers.py, line 57)")
    log.timed_out      # a cell of this submission has timed out (in any notebook so far)
    log.spent(KERNEL_START, 0.6)   # seconds, added up over the notebooks
    status_notes(path) # ["timed out in FullyConnectedNets.ipynb cells 11, 13: stuck in ...", ...]
    read_seconds(path) # {"kernel start": 2.4, "cells": 9.1, "waiting for hidden checks": 0.3}

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
# Where the notebooks' time goes (the stages benchmarks/bench_grading.py prints).
KERNEL_START, CELLS, VERDICT_WAIT = "kernel start", "cells", "waiting for hidden checks"


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
        self.seconds = read_seconds(path)

    @property
    def timed_out(self) -> bool:
        return any(stop.kind == TIMED_OUT for stop in self.stops)

    def add(self, kind: str, cell: int, reason: str) -> None:
        self.stops.append(Stop(self.notebook, cell, kind, reason))
        self._write()  # at once: a backstop kill must not lose it

    def spent(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self._write()

    def _write(self) -> None:
        if self.path is not None:
            partial = Path(f"{self.path}.partial")
            partial.write_text(json.dumps({"stops": [asdict(stop) for stop in self.stops],
                                           "seconds": self.seconds}, indent=1), encoding="utf-8")
            os.replace(partial, self.path)


def _read(path: Path | None) -> dict:
    if path is None or not Path(path).is_file():
        return {"stops": [], "seconds": {}}
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_stops(path: Path | None) -> list[Stop]:
    return [Stop(**stop) for stop in _read(path)["stops"]]


def read_seconds(path: Path | None) -> dict[str, float]:
    """{stage: seconds} over the notebooks run so far (KERNEL_START, CELLS, VERDICT_WAIT)."""
    return dict(_read(path)["seconds"])


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
