"""The kernel nbgrader starts to run one submission's notebooks, confined to that submission.

    settings = kernel_for_submission(scratch, runtime, workdir, data_dir, verdicts_file)
    run_nbgrader(["autograde", id, *settings.nbgrader_args], ..., nbgrader_env(settings.env))

writes a kernel spec into scratch/jupyter/kernels/ whose command starts ipykernel through
autograder.sandbox: from an empty environment plus the variables below; showing it the
folder the notebooks run in (nbgrader's autograded/<student>/<id>/: its files read-only,
room for new ones on a capped tmpfs), its runtime folder (the only folder it shares with
the grader; it also holds a copy of matplotlib's font list, see _font_list), and, read-only, the datasets, the verdicts of the hidden checks and a copy of
autograder/checks/__init__.py (what hidden test cells import; the rest of the grader
stays out of reach); with the sandbox's limits (memory, processes, disk). A memory bomb
becomes a MemoryError in the cell that set it off. Time limits and the output cap are
enforced outside the kernel (execute.py).

The kernel talks to nbgrader over Unix sockets in the runtime folder (ZeroMQ's ipc
transport): a sandboxed kernel has a network of its own, so nbgrader could not reach TCP
ports on it.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import sandbox
from ..checks import SINGLE_THREAD, VERDICTS_ENV, VERDICTS_WAIT_ENV
from .time_limits import VERDICT_WAIT

KERNEL_NAME = "nnkit-graded"
# Enough for the notebooks (CIFAR-10 as float64 plus a few copies), far below the machine.
KERNEL_MEMORY_BYTES = 8 * 2**30
_CHECKS_INIT = Path(__file__).resolve().parents[1] / "checks" / "__init__.py"


@dataclass(frozen=True)
class KernelSettings:
    env: dict[str, str]          # for the nbgrader process
    nbgrader_args: list[str]     # traitlets options for `nbgrader autograde`


def kernel_for_submission(scratch: Path, runtime: Path, workdir: Path, data_dir: Path,
                          verdicts_file: Path) -> KernelSettings:
    """Write the kernel spec and what the kernel imports into `scratch`; return how to tell
    nbgrader to use them.

    - runtime: An empty folder for the connection file and sockets, with a short path (a
      Unix socket's path has at most 107 characters).
    - workdir: Where nbgrader will run the notebooks (it exists when the kernel starts).
    - verdicts_file: Where the hidden checks' verdicts arrive; its folder is shown to the
      kernel (the file is replaced as verdicts arrive, so the file itself cannot be).
    """
    kernel_lib = scratch / "kernel_lib"
    spec_dir = scratch / "jupyter" / "kernels" / KERNEL_NAME
    matplotlib_dir = runtime / "matplotlib"
    for folder in (runtime, kernel_lib / "autograder" / "checks", spec_dir, matplotlib_dir):
        folder.mkdir(parents=True, exist_ok=True)
    font_list = _font_list()
    if font_list.is_file():
        shutil.copy2(font_list, matplotlib_dir / font_list.name)
    (kernel_lib / "autograder" / "__init__.py").write_text(
        '"""What a graded kernel can import of the grader: the hidden checks\' run()."""\n')
    shutil.copy2(_CHECKS_INIT, kernel_lib / "autograder" / "checks" / "__init__.py")

    # Everything the kernel's environment holds; nothing of the grader's passes.
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                    "/usr/bin", "/bin"]),
           "LANG": "C.UTF-8", "PYTHONPATH": str(kernel_lib), "PYTHONDONTWRITEBYTECODE": "1",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(matplotlib_dir),
           "NNKIT_DATA_DIR": str(data_dir),
           VERDICTS_ENV: str(verdicts_file), VERDICTS_WAIT_ENV: str(VERDICT_WAIT), **SINGLE_THREAD}
    plan = sandbox.Plan(folder=str(workdir), env=env, memory_bytes=KERNEL_MEMORY_BYTES,
                        readable=[str(data_dir), str(kernel_lib), str(verdicts_file.parent)],
                        exchange=[str(runtime)])
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": sandbox.confine(kernel, plan), "display_name": "nnkit (graded)",
            "language": "python",
            # Interrupts travel as messages: a signal to the sandbox would not reach ipykernel.
            "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")

    jupyter_path = os.pathsep.join(filter(None, [str(scratch / "jupyter"), os.environ.get("JUPYTER_PATH")]))
    return KernelSettings(
        # nbclient writes the connection file into TMPDIR, which the kernel must see. The
        # verdicts file is also where ExecuteWithinLimits and RequireHiddenVerdicts read
        # the verdicts.
        env={"JUPYTER_PATH": jupyter_path, "TMPDIR": str(runtime),
             "JUPYTER_RUNTIME_DIR": str(runtime), VERDICTS_ENV: str(verdicts_file)},
        nbgrader_args=[f"--Execute.kernel_name={KERNEL_NAME}", "--KernelManager.transport=ipc",
                       f"--KernelManager.ip={runtime / 'kernel'}"])


def _font_list() -> Path:
    """matplotlib's list of the machine's fonts, as the grader's own matplotlib keeps it.

    A kernel without one builds it while the notebook imports pyplot, which costs every
    notebook about half a second (more on a loaded machine) and, as fontconfig's settings
    are out of the sandbox's sight, printed "Fontconfig error: ..." into the first cell
    that imports pyplot, where students read it in their feedback. The fonts are the same
    inside the sandbox (it shows /usr), so the grader's list serves the kernel as it is.
    """
    import matplotlib
    from matplotlib import font_manager  # builds the list the first time on a machine

    return Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
