"""The sandbox student code runs in (autograder/sandbox.py), proven by attempting what it
must prevent, with its default limits. Needs bubblewrap (`make setup` installs it); the
tests of the confinement proper are skipped where student code would run unconfined."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder import sandbox

REPO = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(not sandbox.status().confined, reason=sandbox.status().description)
SECRET = "a-database-password"


def run_confined(code, tmp_path, readable=(), exchange=(), env=None):
    """Run `code` under the sandbox's supervisor, in tmp_path/work (holding given.txt),
    with a secret in this process's environment; returns its stdout lines."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "given.txt").write_text("given")
    plan = sandbox.Plan(folder=str(work), env=env or {"PATH": "/usr/bin:/bin"},
                        memory_bytes=2**30, readable=[str(path) for path in readable],
                        exchange=[str(path) for path in exchange])
    command = sandbox.confine([sys.executable, "-c", textwrap.dedent(code)], plan)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "GRADER_DB_PASSWORD": SECRET})
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.splitlines()


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_bubblewrap_works_here():
    assert sandbox.status().confined, sandbox.status().description


@needs_bwrap
def test_the_repository_gradebooks_and_other_folders_are_invisible(tmp_path):
    (tmp_path / "other_student").mkdir()
    (tmp_path / "gradebook.db").write_text("scores")
    lines = run_confined(f"""
        import os
        for path in [{str(REPO / 'source' / 'fcnet' / 'nnkit' / 'layers.py')!r},
                     {str(REPO / 'autograder' / 'checks' / 'answer_checks.py')!r},
                     {str(tmp_path / 'gradebook.db')!r}, {str(tmp_path / 'other_student')!r}]:
            print(os.path.exists(path))
        try:
            import autograder
            print("imported")
        except ImportError:
            print("no autograder")
    """, tmp_path)
    assert lines == ["False"] * 4 + ["no autograder"]


@needs_bwrap
def test_its_folders_files_are_read_only_and_nothing_it_writes_reaches_the_disk(tmp_path):
    lines = run_confined(f"""
        for path in ["new.txt", "given.txt", {str(tmp_path / 'outside.txt')!r}, "/usr/evil.txt",
                     "/evil.txt", "/dev/evil"]:
            try:
                open(path, "w").write("x")
                print("wrote", path)
            except OSError as error:
                print("refused", path)
        print(open("new.txt").read(), open("given.txt").read())
    """, tmp_path)
    assert lines[0] == "wrote new.txt" and lines[1:2] == ["refused given.txt"]
    assert lines[3:6] == ["refused /usr/evil.txt", "refused /evil.txt", "refused /dev/evil"]
    assert lines[6] == "x given"
    assert sorted(path.name for path in (tmp_path / "work").iterdir()) == ["given.txt"]
    assert not (tmp_path / "outside.txt").exists() and not Path("/usr/evil.txt").exists()


def test_it_sees_only_the_environment_it_is_given(tmp_path):
    lines = run_confined("""
        import os
        print(sorted(os.environ))
        print(any("a-database-password" in value for value in os.environ.values()))
    """, tmp_path, env={"PATH": "/usr/bin:/bin", "NNKIT_DATA_DIR": "/data"})
    names = set(eval(lines[0]))
    assert {"PATH", "NNKIT_DATA_DIR", "HOME", "TMPDIR"} <= names and "GRADER_DB_PASSWORD" not in names
    assert names <= {"PATH", "NNKIT_DATA_DIR", "HOME", "TMPDIR", "PWD", "LC_CTYPE"}
    assert lines[1] == "False"


@needs_bwrap
def test_each_place_it_can_write_holds_at_most_its_share_of_the_disk(tmp_path):
    limit = next(limit for limit in sandbox.limits() if limit.name == "disk")
    if not limit.in_force:
        pytest.skip(f"no disk cap here: {limit.how}")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    lines = run_confined(f"""
        import os
        for place in [".", "/tmp", "/dev/shm", {str(exchange)!r}]:
            written = 0
            try:
                with open(os.path.join(place, "fill.bin"), "wb") as file:
                    for _ in range(1024):
                        file.write(bytes(2**20))
                        written += 1
            except OSError as error:
                pass
            print(written)
            os.remove(os.path.join(place, "fill.bin"))
    """, tmp_path, exchange=[exchange])
    assert [int(line) for line in lines] == [sandbox.PLACE_BYTES // 2**20] * 4


def test_many_small_files_in_a_shared_folder_end_the_sandbox(tmp_path):
    """The folders shared with the grader are watched, not capped: writing beyond their
    share ends the sandbox (within a watch interval)."""
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    plan = sandbox.Plan(folder=str(tmp_path), env={}, memory_bytes=2**30, exchange=[str(exchange)])
    code = ("import itertools\nfor number in itertools.count():\n"
            f"    open({str(exchange)!r} + f'/{{number}}.bin', 'wb').write(bytes(2**20))")
    finished = subprocess.run(sandbox.confine([sys.executable, "-c", code], plan),
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0 and "may be written: stopped" in finished.stderr
    written = len(list(exchange.iterdir()))
    assert written > sandbox.PLACE_BYTES // 2**20 and list(exchange.iterdir()) and (
        len(list(exchange.iterdir())) == written)  # nothing writes there any more


def test_processes_are_capped(tmp_path):
    lines = run_confined("""
        import subprocess
        started = []
        try:
            for _ in range(400):
                started.append(subprocess.Popen(["sleep", "60"]))
        except OSError:
            pass
        print(len(started))
        for process in started:
            process.kill()
            process.wait()
    """, tmp_path)
    limit = next(limit for limit in sandbox.limits() if limit.name == "processes")
    if limit.in_force:
        assert 0 < int(lines[0]) < sandbox.SANDBOX_TASKS
    else:  # counted by the supervisor: it ends the sandbox instead
        pytest.skip(f"no hard process cap here: {limit.how}")


def test_memory_is_capped_without_prlimit(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nowhere")  # no prlimit, nor anything else, to be found
    lines = run_confined("""
        try:
            block = bytearray(2 * 2**30)
            print("allocated")
        except MemoryError:
            print("MemoryError")
    """, tmp_path)
    assert lines == ["MemoryError"]


def test_the_supervisor_leaves_no_cgroup_or_process_behind(tmp_path):
    code = "import subprocess; subprocess.Popen(['sleep', '61'], start_new_session=True)"
    plan = sandbox.Plan(folder=str(tmp_path), env={"PATH": "/usr/bin:/bin"}, memory_bytes=2**30)
    supervisor = subprocess.Popen(sandbox.confine([sys.executable, "-c", code], plan))
    assert supervisor.wait(timeout=120) == 0
    assert [process for process in _processes() if "sleep 61" in process] == []
    parent = sandbox._pids_cgroup_parent()
    if parent is not None:
        assert not (parent / f"nnkit-sandbox-{supervisor.pid}").exists()


def _processes():
    return [" ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0"))
            for pid in os.listdir("/proc") if pid.isdigit() and Path(f"/proc/{pid}/cmdline").exists()]


@needs_bwrap
def test_there_is_no_network(tmp_path):
    lines = run_confined("""
        import socket
        for host, port in [("1.1.1.1", 80), ("127.0.0.1", 22), ("pypi.org", 443)]:
            try:
                socket.create_connection((host, port), timeout=3).close()
                print("connected", host)
            except OSError:
                print("refused", host)
    """, tmp_path)
    assert lines == ["refused 1.1.1.1", "refused 127.0.0.1", "refused pypi.org"]


@needs_bwrap
def test_readable_folders_are_read_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.npy").write_text("data")
    lines = run_confined(f"""
        print(open({str(data / 'x.npy')!r}).read())
        try:
            open({str(data / 'x.npy')!r}, "w")
        except OSError:
            print("read-only")
    """, tmp_path, readable=[data])
    assert lines == ["data", "read-only"]


def test_the_limits_in_force_are_named():
    names = [limit.name for limit in sandbox.limits()]
    assert names == ["processes", "disk", "environment"]
    assert all(limit.how for limit in sandbox.limits())
