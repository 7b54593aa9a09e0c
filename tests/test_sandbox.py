"""The sandbox student code runs in (autograder/sandbox.py), proven by attempting what it
must prevent. Needs bubblewrap (`make setup` installs it); skipped where it is not installed."""
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder import sandbox

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def run_confined(code, tmp_path, readable=()):
    """Run `code` in the sandbox, with tmp_path/work writable; returns its stdout lines."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    command = sandbox.confine([sys.executable, "-c", textwrap.dedent(code)], writable=[work],
                              readable=readable, cwd=work)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.splitlines()


def test_bubblewrap_works_here():
    assert sandbox.status().confined, sandbox.status().description


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


def test_only_the_named_folders_are_writable(tmp_path):
    outside = tmp_path / "outside.txt"  # next to the writable folder, but not in it
    lines = run_confined(f"""
        for path in ["result.txt", {str(outside)!r}, "/usr/evil.txt"]:
            try:
                open(path, "w").write("x")
                print("wrote", path)
            except OSError as error:
                print("refused", path)
    """, tmp_path)
    # Writes outside the named folders land in the sandbox's private /tmp or are refused.
    assert lines[0] == "wrote result.txt" and lines[2] == "refused /usr/evil.txt"
    assert (tmp_path / "work" / "result.txt").is_file()
    assert not outside.exists() and not Path("/usr/evil.txt").exists()


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
