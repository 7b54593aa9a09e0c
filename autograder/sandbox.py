"""Where student code runs: a bubblewrap sandbox when the machine has one.

Two kinds of process run a student's code during grading: the notebook kernels that
nbgrader starts, and the process the hidden checks send their inputs to. Both are started
through `confine()`, which wraps the command in bubblewrap (`bwrap`, Debian package
`bubblewrap`) when it works here:

- no network (a network namespace of its own: only a loopback that nothing listens on);
- the system, the Python installation and the virtual environment read-only, and nothing
  else of the machine: not this repository (reference solution, hidden checks, answer
  key), not the gradebook, not other students' folders;
- read-write only the folders the caller names (that submission's scratch folders), a
  private /tmp, and HOME pointing there;
- its own process tree, ended with the process that started it.

Without bubblewrap the command runs unconfined: `status()` says so, the grader prints it
and the report repeats it. Results are still written only by the grading process, after
the student's processes have ended (see autograder/grading). docs/SECURITY.md has the
threat model.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Set to "0" to grade without bubblewrap even where it works (e.g. to compare speed).
SANDBOX_ENV = "NNKIT_SANDBOX"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Single files of /etc that programs read at start-up (dynamic linker cache, time zone).
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd",
                 "/etc/group")


@dataclass(frozen=True)
class SandboxStatus:
    confined: bool
    description: str     # one line for logs and the report


def python_dirs() -> list[Path]:
    """Folders holding the interpreter and the installed packages of this environment."""
    dirs = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
            Path(sys.executable).resolve().parent.parent}
    return sorted(dirs)


@functools.cache
def status() -> SandboxStatus:
    """Whether student code will be confined on this machine, and why not if it is not."""
    if os.environ.get(SANDBOX_ENV, "1") == "0":
        return SandboxStatus(False, f"sandbox switched off ({SANDBOX_ENV}=0): student code "
                                    "runs with the grader's rights")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxStatus(False, "bubblewrap (bwrap) is not installed: student code runs "
                                    "with the grader's rights and network access")
    try:
        probe = subprocess.run(_bwrap_args(bwrap, [], [], Path("/"), {}) + [sys.executable, "-c", "pass"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return SandboxStatus(False, f"bubblewrap does not start here ({error}): student code "
                                    "runs unconfined")
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return SandboxStatus(False, f"bubblewrap does not work here ({reason}): student code "
                                    "runs unconfined")
    return SandboxStatus(True, f"student code runs in a bubblewrap sandbox ({bwrap}): no "
                               "network, read-only system, writes only to its own folder")


def confine(command: list[str], *, writable=(), readable=(), cwd: Path,
            env: dict[str, str] | None = None) -> list[str]:
    """`command`, wrapped so that it runs in the sandbox (when status().confined).

    Inputs:
    - command: The argv to run (its program must be on a path the sandbox shows, e.g.
      sys.executable).
    - writable: Folders the process may write (shown at the same path).
    - readable: Files or folders it may read (same path), besides the system and Python.
    - cwd: Its working folder (must be among the two above).
    - env: Variables to set inside (the rest of the environment passes through).
    Returns the argv to start instead of `command`.
    """
    if not status().confined:
        return list(command)
    return _bwrap_args(shutil.which("bwrap"), writable, readable, cwd, env or {}) + list(command)


def _bwrap_args(bwrap, writable, readable, cwd, env) -> list[str]:
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
            "--setenv", "MPLCONFIGDIR", "/tmp",
            # ipykernel ends itself when this process is not its parent, which in a pid
            # namespace it never is; --die-with-parent ends it instead.
            "--unsetenv", "JPY_PARENT_PID"]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _SYSTEM_FILES:
        if os.path.isfile(path):
            args += ["--ro-bind", path, path]
    for path in [*python_dirs(), *readable]:
        args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        args += ["--bind", str(path), str(path)]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args + ["--chdir", str(cwd)]
