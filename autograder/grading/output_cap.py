"""Caps what a notebook's cells may output, as the grader receives it (outside the kernel).

ExecuteWithinLimits passes every output message of a cell through `OutputCap.admit` before
it reaches the notebook: once a cell's outputs hold `cell_limit` characters (or the
notebook's `notebook_limit`), standard output and display data are dropped after a notice.
What decides a grade is always kept: errors, the first part of what goes to standard error
(nbgrader gives no points to a cell that writes there) and of a cell's result (which can
hold partial credit). Without a cap, a print loop fills the autograded notebook, the
feedback page and the gradebook. The kernel cannot lift this one: it is not in the kernel.
"""
from __future__ import annotations

import json

from nbformat import NotebookNode

CELL_LIMIT = 2_000_000                 # characters of output per cell...
CELLS_PER_NOTEBOOK = 5                 # ...and per notebook, this many cells' worth
NOTEBOOK_LIMIT = CELLS_PER_NOTEBOOK * CELL_LIMIT
KEPT_WHEN_FULL = 2_000                 # of stderr or a cell's result once the cap is reached


class OutputCap:
    def __init__(self, cell_limit: int = CELL_LIMIT):
        self.cell_limit = cell_limit
        self.notebook_limit = CELLS_PER_NOTEBOOK * cell_limit
        self.notebook_used = 0
        self.cell_used = 0
        self.cut = False          # this cell lost output
        self.discarding = False   # outputs go nowhere (a cell re-run after a kernel death)
        self._kept_when_full = set()

    def start_cell(self, discarding: bool = False) -> None:
        self.cell_used, self.cut, self.discarding = 0, False, discarding
        self._kept_when_full = set()

    def admit(self, msg: dict) -> tuple[bool, NotebookNode | None]:
        """(keep the message, a notice to show after it); may shorten the message."""
        if self.discarding:
            return False, None
        kind, content = msg["msg_type"], msg["content"]
        if kind == "error":
            return True, None
        size = len(content["text"]) if kind == "stream" else len(json.dumps(content.get("data", {})))
        room = max(0, min(self.cell_limit - self.cell_used, self.notebook_limit - self.notebook_used))
        if size <= room:
            self._use(size)
            return True, None
        grading = "stderr" if kind == "stream" and content["name"] == "stderr" else (
            kind if kind == "execute_result" else None)
        keep = room > 0 and kind == "stream"
        if grading and grading not in self._kept_when_full:  # the first after the cap is kept
            self._kept_when_full.add(grading)
            keep, room = True, max(room, KEPT_WHEN_FULL)
        if kind == "stream":
            content["text"] = content["text"][:room]
        elif keep:
            content["data"] = {"text/plain": content.get("data", {}).get("text/plain", "")[:room]}
        self._use(room)
        notice = None
        if not self.cut:
            self.cut = True
            notice = NotebookNode(output_type="stream", name="stdout", text=(
                f"\n[autograder: output cut: a cell may show {self.cell_limit:,} characters "
                f"and a notebook {self.notebook_limit:,}; the rest of this cell's output was "
                "dropped]\n"))
        return keep, notice

    def _use(self, size: int) -> None:
        self.cell_used += size
        self.notebook_used += size
