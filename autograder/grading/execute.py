"""ExecuteWithinLimits: nbgrader's Execute step, within limits a submission cannot lift.

It replaces Execute in the autograde pipeline (preprocessors.autograde_pipeline) and
guarantees that a fault costs only what it touches:

- Time. Each cell gets its own limit and each notebook a budget, derived from the
  reference solution's measured times (time_limits.py). A cell over its limit is
  interrupted and fails with "timed out after N s", naming the function it was stuck in;
  from then on the cells of the submission get a tight limit. A cell that does not stop
  when interrupted gets a new kernel (as below). When the notebook's budget runs out, the
  cells left are not run, each saying why; the notebook is still saved and graded, so
  every score reached so far is kept.
- Kernel deaths (exit(), os._exit, a kill, a crash in native code): the cell fails saying
  so, a new kernel runs the cells above again (those that did not end a kernel or time
  out), and the notebook goes on, so every other cell is graded as if the cell had only
  raised an error. After `max_restarts` deaths, the cells left are not run.
- Output, capped as it arrives (output_cap.py).
- Hidden checks: before a test cell with a hidden check runs, the grader waits for that
  check's verdict (hidden.py computes it beside the notebooks), outside the cell's time:
  the cell's limit measures the student's code, not how far the checks have got.

It also keeps kernels from waiting for each other (SubmissionKernels): once a notebook's
kernel is ready, the kernel of the submission's next notebook starts beside it
(`notebooks`), on the core the running notebook leaves idle, and is handed over when that
notebook's turn comes; a notebook's kernel is asked to shut down when the notebook is done
and ends beside the next one, which does not wait for it.

What it stops is recorded in the submission's execution log (execution_log.py), which
task.py turns into the submission's status.
"""
from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Float, Integer, List, Unicode

from ..checks import VERDICTS_ENV, read_verdicts
from . import execution_log
from .execution_log import ExecutionLog
from .output_cap import CELL_LIMIT, CELLS_PER_NOTEBOOK, OutputCap
from .time_limits import CELL_FLOOR, CellTimes, NotebookLimits

# Error names of the outputs a stopped cell gets (nbgrader gives no points to a cell with
# an error output). CellTimeoutError is the name nbgrader itself gives a timeout.
TIMEOUT_ERROR, KERNEL_DIED_ERROR, NOT_RUN_ERROR = "CellTimeoutError", "KernelDied", "NotRun"
OUTPUT_LOST_ERROR = "OutputIncomplete"
# How long a kernel that did not finish a cell's output may take to answer a request
# before it counts as stuck.
RESPONSE_SECONDS = 10.0
# How a cell's run ended (ExecuteWithinLimits._run).
OK, TIMED_OUT, NO_ANSWER, OUTPUT_LOST, DIED = "ok", "timed out", "no answer", "output lost", "died"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A frame of an IPython traceback: "File /path/nnkit/layers.py:57, in relu_forward(x)" or
# "Cell In[5], line 2, in hang()".
_FRAME = re.compile(r"(?:File (?P<file>\S+?):|Cell In\[\d+\], line )(?P<line>\d+), in (?P<function>[\w.]+)")


class ExecuteWithinLimits(Execute):
    """Execute, with per-cell time limits, a time budget, surviving kernel deaths and an
    output cap (see the module docstring)."""

    cell_times = Dict(
        value_trait=Unicode(), key_trait=Unicode(),
        help="{assignment id: the cell_times.json `autograder release` measured}. A notebook "
             "without measurements gives every cell the floor.",
    ).tag(config=True)

    hidden_checks = Dict(
        value_trait=Unicode(), key_trait=Unicode(),
        help="{assignment id: the folder of its hidden checks}: a test cell with one waits for "
             "its verdict (when grading gives $NNKIT_HIDDEN_VERDICTS).",
    ).tag(config=True)

    cell_floor = Float(
        CELL_FLOOR, help="The least time, in seconds, any cell gets (a share of it once a cell "
                         "of the submission has timed out: time_limits.py).",
    ).tag(config=True)

    max_restarts = Integer(
        3, help="New kernels a notebook may get; after that the cells left are not run.",
    ).tag(config=True)

    output_limit = Integer(
        CELL_LIMIT, help="Characters one cell's outputs may hold (a notebook's: "
                         f"{CELLS_PER_NOTEBOOK} times that).",
    ).tag(config=True)

    log_file = Unicode(
        "", help="The submission's execution log (execution_log.py), shared by its notebooks; "
                 "empty: kept in memory for one notebook.",
    ).tag(config=True)

    verdict_wait = Float(
        1800.0, help="Seconds to wait at most for a hidden check's verdict before its cell runs "
                     f"(the verdicts file is ${VERDICTS_ENV}; without one, nothing is waited for).",
    ).tag(config=True)

    notebooks = Dict(
        value_trait=List(Unicode()), key_trait=Unicode(),
        help="{assignment id: its notebooks}. Once a notebook's kernel is ready, the kernel of "
             "the next notebook not yet run starts beside it. An assignment not listed starts "
             "each notebook's kernel when the notebook begins.",
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        info = (resources or {}).get("nbgrader", {})
        notebook = f"{info.get('notebook', 'notebook')}.ipynb"
        self._later = KERNELS.begin(notebook, self.notebooks.get(info.get("assignment", ""), ()))
        self._log = ExecutionLog(Path(self.log_file) if self.log_file else None, notebook)
        times_file = self.cell_times.get(info.get("assignment", ""))
        times = CellTimes.load(Path(times_file)).notebook(notebook) if times_file else None
        self._limits = NotebookLimits(times, self.cell_floor, tight=self._log.timed_out)
        self._spent = 0.0          # seconds this notebook's cells have run, replays included
        self._stopped = ""         # why the cells left are not run (then they are not)
        self._not_again = set()    # cells not to run again in a new kernel: they died or hung
        self._deaths = 0
        self._asked_to_exit = False  # the cell just run called exit()
        self._cap = OutputCap(self.output_limit)
        checks = self.hidden_checks.get(info.get("assignment", ""))
        self._checked = (_hidden_check_ids(Path(checks)) if checks and os.environ.get(VERDICTS_ENV)
                         else frozenset())
        self._kernel_starting = time.monotonic()  # the kernel starts before the first cell
        if km is not None:  # the caller's, to end
            return super().preprocess(nb, resources, km)
        key = self._kernel_key(resources)
        km = KERNELS.take(key) or self._start_kernel(key)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            KERNELS.retire(self.km, self.kc)

    def preprocess_cell(self, cell, resources, index):
        if self._kernel_starting is not None:
            self._log.spent(execution_log.KERNEL_START, time.monotonic() - self._kernel_starting)
            self._kernel_starting = None
            if self._later:
                KERNELS.start_ahead(self._kernel_key(resources), self._start_kernel, self.log)
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if not self._stopped and self._spent >= self._limits.budget:
            self._stopped = self._budget_ran_out()
        if self._stopped:
            cell.outputs = [_error(NOT_RUN_ERROR, f"not run: {self._stopped}")]
            self._log.add(execution_log.NOT_RUN, index + 1, self._stopped)
            return cell, self.resources
        self._wait_for_verdict(cell)
        by_budget = self._set_limit(cell)
        self._cap.start_cell()
        outcome = self._run(cell, index, resources)
        if outcome in (TIMED_OUT, NO_ANSWER):
            self._after_timeout(cell, index, by_budget,
                                stuck=outcome == NO_ANSWER and not self._responsive())
        elif outcome == OUTPUT_LOST:
            self._after_lost_output(cell, index)
        elif outcome == DIED:
            self._after_death(cell, index)
        elif self._cap.cut:
            self._log.add(execution_log.OUTPUT_CUT, index + 1,
                          f"more than {self.output_limit:,} characters")
        return cell, self.resources

    # --- running a cell ----------------------------------------------------------------------

    def _set_limit(self, cell) -> bool:
        """Set the cell's time limit (its own, or what is left of the budget); returns
        whether the budget set it."""
        limit, left = self._limits.cell(cell), self._limits.budget - self._spent
        by_budget = left < limit
        seconds = max(1, math.ceil(min(limit, left)))
        message = (f"stopped after {seconds} s: this notebook's time budget of "
                   f"{self._limits.budget:.0f} s ran out" if by_budget else
                   f"timed out after {seconds} s ({self._limits.rule()})")
        self.timeout = seconds
        self.error_on_timeout = {"ename": TIMEOUT_ERROR, "evalue": message,
                                 "traceback": [f"{TIMEOUT_ERROR}: {message}"]}
        return by_budget

    def _run(self, cell, index, resources) -> str:
        """Execute the cell; returns how it ended: OK, TIMED_OUT (interrupted at its limit),
        NO_ANSWER (interrupted, and not idle again in time: maybe stuck), OUTPUT_LOST (done
        in time, but not all of its output arrived) or DIED (exit(), too: ipykernel ends
        itself a moment after it)."""
        started = time.monotonic()
        self._asked_to_exit = False
        try:
            super().preprocess_cell(cell, resources, index)
            if self._asked_to_exit:
                return DIED
            return TIMED_OUT if _has_error(cell, TIMEOUT_ERROR) else OK
        except DeadKernelError:
            return DIED
        except CellTimeoutError:
            return NO_ANSWER if time.monotonic() - started >= self.timeout else OUTPUT_LOST
        finally:
            self._spent += time.monotonic() - started
            self._log.spent(execution_log.CELLS, time.monotonic() - started)

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        payloads = kwargs["execute_reply"]["content"].get("payload", [])
        self._asked_to_exit = any(payload.get("source") == "ask_exit"
                                  and not payload.get("keepkernel") for payload in payloads)

    def _after_timeout(self, cell, index, by_budget, stuck):
        """Record a cell that ran out of time; a kernel still stuck in it is replaced."""
        where = _where_stuck(cell.outputs, self.resources)
        cell.outputs = [output for output in cell.outputs
                        if output.get("ename") not in ("KeyboardInterrupt", TIMEOUT_ERROR)]
        message = self.error_on_timeout["evalue"] + (f", stuck in {where}" if where else "")
        if stuck:
            message += ("; it did not stop when interrupted, so the cells above ran again in a "
                        "new kernel")
        cell.outputs.append(_error(TIMEOUT_ERROR, message))
        self._log.add(execution_log.TIMED_OUT, index + 1, f"stuck in {where}" if where else "")
        self._not_again.add(index)
        self._limits.tight = True
        if by_budget:
            self._stopped = self._budget_ran_out()
        if stuck:
            self._restart_and_replay(index)

    def _budget_ran_out(self) -> str:
        return f"this notebook's time budget of {self._limits.budget:.0f} s ran out"

    def _after_lost_output(self, cell, index):
        """A cell whose end came, but not all of its output, in time: what did not arrive
        could be an error, so it fails."""
        message = (f"its output did not all arrive within {self.iopub_timeout} s of its end; "
                   "does it print a flood?")
        cell.outputs.append(_error(OUTPUT_LOST_ERROR, message))
        self._log.add(execution_log.OUTPUT_CUT, index + 1, "its output did not all arrive")
        if not self._responsive():
            self._restart_and_replay(index)

    def _after_death(self, cell, index):
        self.log.warning("The kernel died in cell %d; starting a new one", index)
        cell.outputs.append(_error(KERNEL_DIED_ERROR, (
            "the kernel stopped while running this cell (exit(), os._exit, a kill, a crash or "
            "running out of memory); the cells above ran again in a new kernel and the "
            "notebook went on")))
        self._log.add(execution_log.KERNEL_DIED, index + 1, "the notebook went on in a new kernel")
        self._count_death()
        self._not_again.add(index)
        self._restart_and_replay(index)

    def _count_death(self):
        self._deaths += 1
        if self._deaths > self.max_restarts:
            self._stopped = f"the kernel died {self._deaths} times in the cells above"

    def _restart_and_replay(self, index):
        """A new kernel that has run again the cells above `index`, except those that
        ended a kernel or hung. The notebook keeps the outputs of their first run: each
        runs as a copy. A copy that ends its kernel (or hangs in it) is left out from then
        on, and the replay starts over in a new kernel."""
        while not self._stopped:
            self._new_kernel()
            failed = self._replay(index)
            if failed is None:
                return
            self._not_again.add(failed)
            self._count_death()

    def _replay(self, index) -> int | None:
        """Run copies of the cells above `index`; the number of one that left the kernel
        dead or stuck, else None."""
        for number, original in enumerate(self.nb.cells[:index]):
            if (original.cell_type != "code" or number in self._not_again
                    or self._spent >= self._limits.budget):
                continue
            copy = NotebookNode(cell_type="code", source=original.source, outputs=[],
                                metadata=original.metadata, execution_count=None)
            self._set_limit(copy)
            self._cap.start_cell(discarding=True)
            outcome = self._run(copy, number, self.resources)
            self.nb.cells[number] = original  # nbclient put the copy in its place
            if outcome == TIMED_OUT:
                self._not_again.add(number)
            elif outcome == DIED or (outcome in (NO_ANSWER, OUTPUT_LOST) and not self._responsive()):
                return number
        return None

    def _kernel_key(self, resources) -> tuple[str, str]:
        """What a kernel started ahead must share with this notebook's: its spec and folder."""
        return self.kernel_name, str((resources or {}).get("metadata", {}).get("path") or "")

    def _start_kernel(self, key):
        """A new kernel manager whose kernel nbclient's own code started (its options and
        history settings), in the folder of `key`; the kernel is not waited for."""
        running, self.km = self.km, self.kernel_manager_class(kernel_name=self.kernel_name,
                                                              config=self.config)
        try:
            run_sync(self.async_start_new_kernel)(cwd=key[1] or None)
            return self.km
        finally:
            self.km = running

    def _new_kernel(self):
        started = time.monotonic()
        run_sync(self.km.restart_kernel)(now=True)
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
        self._log.spent(execution_log.KERNEL_START, time.monotonic() - started)

    def _responsive(self) -> bool:
        """Whether the kernel runs code now: a cell stuck after an interrupt keeps it from
        running an empty one (ipykernel answers other requests from another thread)."""
        request = self.kc.execute("", silent=True, store_history=False)
        deadline = time.monotonic() + RESPONSE_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = run_sync(self.kc.shell_channel.get_msg)(timeout=left)
            except Exception:  # noqa: BLE001 - queue.Empty: no answer in time
                return False
            if reply["parent_header"].get("msg_id") == request:
                return True
        return False

    def _wait_for_verdict(self, cell):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in self._checked:
            started = time.monotonic()
            read_verdicts(os.environ[VERDICTS_ENV], until=[grade_id], wait_seconds=self.verdict_wait)
            self._log.spent(execution_log.VERDICT_WAIT, time.monotonic() - started)

    # --- output, as nbclient receives it ----------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        keep, notice = self._cap.admit(msg)
        out = super().output(outs, msg, display_id, cell_index) if keep else None
        if notice is not None:
            outs.append(notice)
        return out


class SubmissionKernels:
    """The kernels of one submission's notebooks, beyond the one running: the kernel started
    ahead for the next notebook, and those of finished notebooks, which were asked to shut
    down and end on their own. (nbgrader builds a new ExecuteWithinLimits for every
    notebook, so what lasts from one notebook to the next lives here, in the process that
    autogrades one submission: nbgrader_steps.py calls finish() after autograde.)"""

    def __init__(self):
        self._run = set()     # the notebooks that have begun in this process
        self._key = None      # (kernel name, folder) of the kernel started ahead
        self._ahead = None
        self._retired = []

    def begin(self, notebook: str, notebooks) -> bool:
        """Note that `notebook` begins; whether one of `notebooks` is still to run after it."""
        self._run.add(notebook)
        return bool(set(notebooks) - self._run)

    def start_ahead(self, key, start_kernel, log) -> None:
        """Start the kernel ahead with start_kernel(key), which returns its kernel manager,
        unless there is one. If it fails, the next notebook starts its own (and says why)."""
        if self._ahead is None:
            try:
                self._ahead, self._key = start_kernel(key), key
            except Exception:  # noqa: BLE001 - costs the next notebook a wait, nothing else
                log.warning("Could not start the next notebook's kernel ahead", exc_info=True)

    def take(self, key):
        """The kernel started ahead, if it suits `key` (a kernel spec and folder); otherwise
        None, and one that does not suit is ended."""
        km, self._ahead = self._ahead, None
        if km is not None and self._key != key:
            self.retire(km, None)
            km = None
        return km

    def retire(self, km, kc) -> None:
        """Ask a finished notebook's kernel to shut down, without waiting for it to end."""
        if kc is not None:
            kc.stop_channels()
        if km is not None and km.has_kernel:
            run_sync(km.request_shutdown)()
            self._retired.append(km)

    def finish(self) -> None:
        """The submission's notebooks are done: retire a kernel started ahead that none took
        (one was not handed in, or autograde stopped early), wait for every retired kernel to
        end (forcing those that do not) and clean up after them; then start afresh."""
        self.retire(self._ahead, None)
        for km in self._retired:
            run_sync(km.finish_shutdown)()
            run_sync(km.cleanup_resources)()
        self._run, self._ahead, self._retired = set(), None, []


KERNELS = SubmissionKernels()


def _hidden_check_ids(folder: Path) -> frozenset[str]:
    from ..checks.assignment import load_checks  # the checks themselves: only when grading with them
    return frozenset(load_checks(folder).checks)


def _where_stuck(outputs, resources) -> str:
    """"relu_forward (nnkit/layers.py, line 57)": the innermost frame of the traceback the
    interrupt left, or "" when there is none."""
    folder = Path((resources or {}).get("metadata", {}).get("path") or ".").resolve()
    for output in outputs:
        if output.get("ename") == "KeyboardInterrupt":
            frames = list(_FRAME.finditer(_ANSI.sub("", "\n".join(output.get("traceback", [])))))
            if frames:
                frame = frames[-1]
                if frame["file"] is None:
                    return f"{frame['function']} (defined in the notebook, line {frame['line']})"
                path = Path(frame["file"])
                shown = (path.relative_to(folder).as_posix() if path.is_relative_to(folder)
                         else path.name)
                return f"{frame['function']} ({shown}, line {frame['line']})"
    return ""


def _has_error(cell, name: str) -> bool:
    return any(output.get("ename") == name for output in cell.get("outputs", []))


def _error(name: str, value: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=value,
                        traceback=[f"{name}: {value}"])
