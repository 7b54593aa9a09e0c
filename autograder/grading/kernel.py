"""The kernel nbgrader starts to run one submission's notebooks, confined to that submission.

    settings = kernel_for_submission(scratch, runtime, workdir, data_dir, verdicts_file, wait)
    run_nbgrader(["autograde", id, *settings.nbgrader_args], ..., nbgrader_env(settings.env))

writes a kernel spec into scratch/jupyter/kernels/ whose command starts ipykernel through
autograder.sandbox.confine: it may write only the folder the notebooks run in (nbgrader's
autograded/<student>/<id>/), its runtime folder and its IPython profile, and read the
datasets, the verdicts of the hidden checks and a copy of autograder/checks/__init__.py
(what hidden test cells import; the rest of the grader stays out of reach). A memory limit
turns a memory bomb into a MemoryError in the cell that set it off, and the profile's
start-up file (output_limit.py) caps what one cell may print.

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
from ..checks import VERDICTS_ENV, VERDICTS_WAIT_ENV
from .output_limit import OUTPUT_LIMIT_ENV

KERNEL_NAME = "nnkit-graded"
# Enough for the notebooks (CIFAR-10 as float64 plus a few copies), far below the machine.
KERNEL_MEMORY_BYTES = 8 * 2**30
# Characters one cell may write to stdout and to stderr; the rest is dropped, with a notice.
OUTPUT_LIMIT = 2_000_000
_OUTPUT_LIMIT_STARTUP = Path(__file__).with_name("output_limit.py")
# nbgrader_config.py gives a cell 180 s; a hidden test cell waits at most this for its verdict.
DEFAULT_VERDICT_WAIT = 120.0
_CHECKS_INIT = Path(__file__).resolve().parents[1] / "checks" / "__init__.py"


@dataclass(frozen=True)
class KernelSettings:
    env: dict[str, str]          # for the nbgrader process
    nbgrader_args: list[str]     # traitlets options for `nbgrader autograde`


def kernel_for_submission(scratch: Path, runtime: Path, workdir: Path, data_dir: Path,
                          verdicts_file: Path, verdict_wait: float) -> KernelSettings:
    """Write the kernel spec and what the kernel imports into `scratch`; return how to tell
    nbgrader to use them.

    - runtime: An empty folder for the connection file and sockets, with a short path (a
      Unix socket's path has at most 107 characters).
    - workdir: Where nbgrader will run the notebooks (it need not exist yet).
    - verdicts_file: Where the hidden checks' verdicts arrive; its folder is shown to the
      kernel (the file is replaced as verdicts arrive, so the file itself cannot be).
    - verdict_wait: Seconds a hidden test cell waits for its verdict (keep it below the
      cell timeout).
    """
    kernel_lib = scratch / "kernel_lib"
    spec_dir = scratch / "jupyter" / "kernels" / KERNEL_NAME
    ipython_dir = scratch / "ipython"
    profile = ipython_dir / "profile_default"
    for folder in (runtime, kernel_lib / "autograder" / "checks", spec_dir, profile / "startup"):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(_OUTPUT_LIMIT_STARTUP, profile / "startup" / "00-autograder-output-limit.py")
    (kernel_lib / "autograder" / "__init__.py").write_text(
        '"""What a graded kernel can import of the grader: the hidden checks\' run()."""\n')
    shutil.copy2(_CHECKS_INIT, kernel_lib / "autograder" / "checks" / "__init__.py")

    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    limited = ["prlimit", f"--as={KERNEL_MEMORY_BYTES}", "--"] if shutil.which("prlimit") else []
    # IPython insists on a writable profile folder (else it ignores it); it is this
    # submission's own, like the runtime folder.
    argv = limited + sandbox.confine(kernel, writable=[workdir, runtime, ipython_dir],
                                     readable=[data_dir, kernel_lib, verdicts_file.parent],
                                     cwd=workdir)
    env = {"PYTHONPATH": str(kernel_lib), "IPYTHONDIR": str(ipython_dir),
           OUTPUT_LIMIT_ENV: str(OUTPUT_LIMIT), VERDICTS_ENV: str(verdicts_file),
           VERDICTS_WAIT_ENV: str(verdict_wait), "NNKIT_DATA_DIR": str(data_dir),
           "PYTHONDONTWRITEBYTECODE": "1"}
    spec = {"argv": argv, "display_name": "nnkit (graded)", "language": "python",
            # Interrupts travel as messages: a signal to the sandbox would not reach ipykernel.
            "interrupt_mode": "message", "env": env}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")

    jupyter_path = os.pathsep.join(filter(None, [str(scratch / "jupyter"), os.environ.get("JUPYTER_PATH")]))
    return KernelSettings(
        # nbclient writes the connection file into TMPDIR, which the kernel must see.
        env={"JUPYTER_PATH": jupyter_path, "TMPDIR": str(runtime), "JUPYTER_RUNTIME_DIR": str(runtime)},
        nbgrader_args=[f"--Execute.kernel_name={KERNEL_NAME}", "--KernelManager.transport=ipc",
                       f"--KernelManager.ip={runtime / 'kernel'}",
                       f"--RequireHiddenVerdicts.verdicts_file={verdicts_file}"])
