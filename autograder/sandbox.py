"""Where student code runs: a sandbox, with limits the student cannot lift from inside.

Two kinds of process run a student's code during grading: the notebook kernels that
nbgrader starts, and the process the hidden checks send their inputs to. Both are started
through `confine()`, which returns a command that runs this file as the sandbox's
supervisor, outside the sandbox and before any student code:

    python -I autograder/sandbox.py '<plan as JSON>' -- COMMAND ...

The supervisor
- sets the limits every process of the sandbox inherits and cannot raise again: address
  space (memory), the size of one file, no core dumps;
- caps the number of processes (and threads) of the sandbox: a pids cgroup of its own
  where the machine lets it make one (a hard cap; e.g. root with cgroup v1, or a delegated
  cgroup v2), else RLIMIT_NPROC for a grader that is not root (a hard cap on that user's
  processes, which the kernel does not enforce for root), else by counting them twice a
  second and ending the sandbox above the cap (not a hard cap: a fork bomb outruns it);
- starts COMMAND from an EMPTY environment plus the variables the plan names, in
  bubblewrap (`bwrap`, Debian package `bubblewrap`) when it works here:
  - no network (a network namespace of its own: only a loopback nothing listens on), its
    own pid, IPC and UTS namespaces, no capabilities, a read-only root;
  - the system, the Python installation and the virtual environment read-only, and of the
    rest of the machine only what the plan names: not this repository (reference
    solution, hidden checks, answer key), not the gradebook, not other students' folders;
  - its folder: the files there read-only, and room for new ones on a size-capped tmpfs
    (so nothing it writes reaches the grader's disk); /tmp and /dev/shm size-capped tmpfs;
  - the plan's exchange folders (shared read-write with the grader: the kernel's sockets,
    the checks' job files), whose size the supervisor watches;
- ends the whole sandbox when it ends, or when it is ended.

Without bubblewrap the command runs unconfined, with the same environment and limits
(its folder then is the real folder, watched like the exchange folders): `status()` says
so, the grader prints it and the report repeats it. `limits()` says which limits are in
force here, and how. docs/SECURITY.md has the threat model.

This file uses only the standard library (and psutil where it must count processes), so
that it runs as a script with `python -I`.
"""
from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Set to "0" to grade without bubblewrap even where it works (e.g. to compare speed).
SANDBOX_ENV = "NNKIT_SANDBOX"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Single files of /etc that programs read at start-up (dynamic linker cache, time zone).
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd",
                 "/etc/group")

# What the student code of ONE submission may use at a time, all its sandboxes together:
# its notebook kernel (one at a time) and the student side of its hidden checks.
SANDBOXES_PER_SUBMISSION = 2
SUBMISSION_DISK_BYTES = 1 * 2**30
SUBMISSION_TASKS = 128  # processes and threads (a kernel alone runs about 10 threads)
# ...split evenly between its sandboxes, and within a sandbox between the places it can
# write: its folder, /tmp, /dev/shm and the exchange folders.
SANDBOX_DISK_BYTES = SUBMISSION_DISK_BYTES // SANDBOXES_PER_SUBMISSION
WRITABLE_PLACES = 4
PLACE_BYTES = SANDBOX_DISK_BYTES // WRITABLE_PLACES
FILE_BYTES = PLACE_BYTES  # no single file can be larger than the place it is written in
SANDBOX_TASKS = SUBMISSION_TASKS // SANDBOXES_PER_SUBMISSION
# How often the supervisor measures what it watches (exchange folders; processes where no
# hard cap is available).
WATCH_SECONDS = 0.25
_CGROUP_PREFIX = "nnkit-sandbox-"


@dataclass(frozen=True)
class SandboxStatus:
    confined: bool
    description: str     # one line for logs and the report


@dataclass(frozen=True)
class Plan:
    """How to start one sandboxed process (what confine() hands the supervisor)."""
    folder: str                # its working folder (see the module docstring)
    env: dict[str, str]        # its whole environment, besides HOME and TMPDIR
    memory_bytes: int          # address space of each of its processes
    readable: list[str] = field(default_factory=list)  # files or folders shown read-only
    exchange: list[str] = field(default_factory=list)  # folders shared read-write (watched)
    bwrap: str = ""            # bubblewrap's path; "": unconfined (confine() sets it)


@dataclass(frozen=True)
class Limit:
    name: str          # "processes", "disk", "environment", "time", ...
    in_force: bool     # enforced by the operating system, whatever the student's code does
    how: str           # how, or why not, in a few words


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
    with tempfile.TemporaryDirectory(prefix="nnkit-sandbox-probe-") as folder:
        plan = Plan(folder, {}, 2**30)  # the arguments grading will use, with nothing to run
        try:
            probe = subprocess.run(_bwrap_args(bwrap, plan) + [sys.executable, "-c", "pass"],
                                   capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return SandboxStatus(False, f"bubblewrap does not start here ({error}): student "
                                        "code runs unconfined")
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return SandboxStatus(False, f"bubblewrap does not work here ({reason}): student code "
                                    "runs unconfined")
    return SandboxStatus(True, f"student code runs in a bubblewrap sandbox ({bwrap}): no "
                               "network, read-only system, writes only to its own capped "
                               "space, an empty environment")


def confine(command: list[str], plan: Plan) -> list[str]:
    """The argv that runs `command` (its program on a path the sandbox shows, e.g.
    sys.executable) under the supervisor, as `plan` says."""
    plan = Plan(**{**asdict(plan), "bwrap": shutil.which("bwrap") if status().confined else ""})
    return [sys.executable, "-I", str(Path(__file__).resolve()),
            json.dumps(asdict(plan), separators=(",", ":")), "--", *command]


@functools.cache
def limits() -> tuple[Limit, ...]:
    """The limits on student code in force on this machine (for the grader's report)."""
    cap = _process_cap()
    processes = {
        "cgroup": Limit("processes", True, f"at most {SANDBOX_TASKS} processes and threads per "
                        "sandbox (a pids cgroup of its own)"),
        "rlimit": Limit("processes", True, f"RLIMIT_NPROC: the grader's user may run at most "
                        f"{SANDBOX_TASKS} more processes and threads per sandbox"),
        "watch": Limit("processes", False, f"no pids cgroup can be made here and the grader "
                       f"runs as root (which RLIMIT_NPROC does not bind): the supervisor ends "
                       f"a sandbox above {SANDBOX_TASKS} processes and threads, but a fork bomb "
                       "can outrun it between two counts"),
    }[cap]
    place, file = f"{PLACE_BYTES // 2**20} MiB", f"{FILE_BYTES // 2**20} MiB"
    if not status().confined:
        disk = Limit("disk", False, f"without bubblewrap, the supervisor watches the folders "
                     f"student code writes ({_watched_bytes(False) // 2**20} MiB) and ends it "
                     f"above that, and files are at most {file}")
    elif not _caps_tmpfs(shutil.which("bwrap")):
        disk = Limit("disk", False, f"this bubblewrap cannot cap a tmpfs (--size needs 0.7 or "
                     f"later): its folder, /tmp and /dev/shm are memory without a cap, only "
                     f"files are at most {file}")
    else:
        disk = Limit("disk", True, f"{place} each for its folder, /tmp and /dev/shm (size-capped "
                     f"tmpfs), files of at most {file}; the exchange folders shared with the "
                     f"grader are watched ({place} in all)")
    return (
        processes, disk,
        Limit("environment", True, "student code starts from an empty environment plus the "
              "variables it needs"),
    )


# --- the supervisor (this file run as a script) ---------------------------------------------

def supervise(argv: list[str]) -> int:
    """Run the command after "--" as the plan (argv[0], JSON) says; returns its exit code."""
    plan = Plan(**json.loads(argv[0]))
    command = argv[argv.index("--") + 1:]
    _end_with_parent()
    for kind, value in ((resource.RLIMIT_AS, plan.memory_bytes),
                        (resource.RLIMIT_FSIZE, FILE_BYTES), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(kind, (value, value))
    cgroup = _join_new_cgroup()
    counted = cgroup is None and os.getuid() == 0  # root: RLIMIT_NPROC would not bind
    if cgroup is None and not counted:
        allowed = _tasks_of_user(os.getuid()) + SANDBOX_TASKS
        resource.setrlimit(resource.RLIMIT_NPROC, (allowed, allowed))
    # Unconfined, HOME and TMPDIR are a folder of their own, in the first exchange folder
    # where there is one: its owner removes it even when this process is killed.
    home = None if plan.bwrap else tempfile.mkdtemp(prefix="nnkit-home-",
                                                    dir=(plan.exchange or [None])[0])
    watched = [Path(path) for path in plan.exchange]
    if home is not None:
        watched += [Path(plan.folder)] + ([] if plan.exchange else [Path(home)])
    watched_cap = _watched_bytes(confined=home is None)
    baseline = sum(_disk_use(path) for path in watched)
    if home is None:
        argv_, env, cwd = _bwrap_args(plan.bwrap, plan) + command, {}, None
    else:
        argv_, env, cwd = command, {**plan.env, "HOME": home, "TMPDIR": home}, plan.folder
    child = subprocess.Popen(argv_, env=env, cwd=cwd)
    stop = lambda *_: _kill_sandbox(child, cgroup)  # noqa: E731
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        while child.poll() is None:
            time.sleep(WATCH_SECONDS)
            written = sum(_disk_use(path) for path in watched) - baseline
            if written > watched_cap:
                _say(f"wrote {written // 2**20} MiB where at most {watched_cap // 2**20} MiB "
                     "may be written: stopped")
                _kill_sandbox(child, cgroup)
            elif counted and _tasks_of_tree(child.pid) > SANDBOX_TASKS:
                _say(f"started more than {SANDBOX_TASKS} processes and threads: stopped")
                _kill_sandbox(child, cgroup)
    finally:
        _kill_sandbox(child, cgroup)
        child.wait()
        _remove_cgroup(cgroup)
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


def _watched_bytes(confined: bool) -> int:
    """What the supervisor lets a sandbox write where it watches instead of capping: the
    exchange folders' share, and unconfined also that of its folder and its HOME."""
    return PLACE_BYTES * (1 if confined else WRITABLE_PLACES - 1)


def _bwrap_args(bwrap: str, plan: Plan) -> list[str]:
    capped = ["--size", str(PLACE_BYTES)] if _caps_tmpfs(bwrap) else []
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--clearenv", "--proc", "/proc", "--dev", "/dev",
            *capped, "--tmpfs", "/dev/shm", *capped, "--tmpfs", "/tmp", "--dir", "/tmp/home"]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _SYSTEM_FILES:
        if os.path.isfile(path):
            args += ["--ro-bind", path, path]
    for path in [*python_dirs(), *plan.readable]:
        args += ["--ro-bind", str(path), str(path)]
    args += [*capped, "--tmpfs", plan.folder]
    for entry in sorted(os.listdir(plan.folder)):
        path = os.path.join(plan.folder, entry)
        args += ["--ro-bind", path, path]
    for path in plan.exchange:
        args += ["--bind", path, path]
    # HOME not /tmp itself: IPython would then show every path under /tmp as "~/...".
    for name, value in {**plan.env, "HOME": "/tmp/home", "TMPDIR": "/tmp"}.items():
        args += ["--setenv", name, value]
    return args + ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", plan.folder]


def _end_with_parent() -> None:
    """Get SIGTERM (and so end the sandbox) when the process that started this one ends."""
    parent = os.getppid()
    try:
        import ctypes
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the grader ends sandboxes itself
        return
    if os.getppid() != parent:  # it ended before the request took effect
        sys.exit(1)


@functools.cache
def _caps_tmpfs(bwrap: str) -> bool:
    """Whether this bubblewrap can cap a tmpfs's size (--size: bubblewrap 0.7 and later)."""
    try:
        shown = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in shown.stdout + shown.stderr


@functools.cache
def _process_cap() -> str:
    """How the number of processes can be capped here: "cgroup", "rlimit" or "watch"."""
    cgroup = _join_new_cgroup(probe=True)
    if cgroup is not None:
        _remove_cgroup(cgroup)
        return "cgroup"
    return "rlimit" if os.getuid() != 0 else "watch"


def _pids_cgroup_parent() -> Path | None:
    """The folder of this process's cgroup in the hierarchy with the pids controller."""
    try:
        memberships = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for mount in mounts:
        fields = mount.split()
        separator = fields.index("-")
        root, point, fstype, options = fields[3], fields[4], fields[separator + 1], fields[-1]
        if fstype == "cgroup" and "pids" in options.split(","):
            wanted = lambda line: "pids" in line.split(":")[1].split(",")  # noqa: E731
        elif fstype == "cgroup2":
            wanted = lambda line: line.startswith("0::")  # noqa: E731
        else:
            continue
        for line in memberships:
            if wanted(line):
                inside = os.path.relpath(line.split(":", 2)[2], root)
                folder = Path(point) / ("" if inside == "." else inside)
                controls = folder / "cgroup.subtree_control"
                if fstype == "cgroup2" and "pids" not in _read(controls).split():
                    continue
                return folder
    return None


def _join_new_cgroup(probe: bool = False) -> Path | None:
    """A new pids cgroup capped at SANDBOX_TASKS, joined by this process (unless probe);
    None where none can be made."""
    parent = _pids_cgroup_parent()
    if parent is None:
        return None
    for stale in parent.glob(f"{_CGROUP_PREFIX}*"):  # left empty by supervisors killed
        try:                                         # (rmdir fails on a cgroup in use)
            stale.rmdir()
        except OSError:
            pass
    cgroup = parent / f"{_CGROUP_PREFIX}{os.getpid()}"
    try:
        cgroup.mkdir(exist_ok=True)
        (cgroup / "pids.max").write_text(str(SANDBOX_TASKS))
        if not probe:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        _remove_cgroup(cgroup)
        return None
    return cgroup


def _remove_cgroup(cgroup: Path | None) -> None:
    """End what is left in the cgroup and remove it (this process moves out first)."""
    if cgroup is None or not cgroup.is_dir():
        return
    try:
        (cgroup.parent / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        pass
    for _ in range(50):
        _kill_members(cgroup)
        try:
            cgroup.rmdir()
            return
        except OSError:
            time.sleep(0.05)


def _kill_sandbox(child: subprocess.Popen, cgroup: Path | None) -> None:
    """End the sandbox: bubblewrap (whose death ends everything in it) or, unconfined, the
    process tree, and whatever is in the cgroup. (Only signals: it runs in signal handlers.)"""
    for process in [*_tree(child.pid), child.pid]:
        try:
            os.kill(process, signal.SIGKILL)
        except OSError:
            pass
    if cgroup is not None:
        _kill_members(cgroup)


def _kill_members(cgroup: Path) -> None:
    for pid in map(int, _read(cgroup / "cgroup.procs").split()):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _tree(pid: int) -> list[int]:
    try:
        import psutil
        return [process.pid for process in psutil.Process(pid).children(recursive=True)]
    except Exception:  # noqa: BLE001 - gone already, or psutil missing: nothing to list
        return []


def _tasks_of_tree(pid: int) -> int:
    import psutil
    total = 0
    try:
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in family:
        try:
            total += process.num_threads()
        except psutil.NoSuchProcess:
            pass
    return total


def _tasks_of_user(uid: int) -> int:
    """Processes and threads of `uid` now (what RLIMIT_NPROC counts)."""
    total = 0
    for status_file in Path("/proc").glob("[0-9]*/status"):
        fields = dict(line.split(":", 1) for line in _read(status_file).splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            total += int(fields.get("Threads", "1"))
    return total


def _disk_use(path: Path) -> int:
    """Bytes of disk the files under `path` take (sparse files count what they use)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


def _read(path: Path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _say(message: str) -> None:
    print(f"[nnkit sandbox] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1:]))
