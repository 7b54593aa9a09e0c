"""`autograder formgrader OUT`: nbgrader's formgrader on a graded output folder.

    server = FormgraderServer(OutputPaths(out), "hw1", port=8890)
    server.url            # http://127.0.0.1:8890/formgrader/gradebook/hw1?token=...
    server.command()      # the `jupyter server` command line, started in OUT

Formgrader is a Jupyter server extension (installed with nbgrader). Started in OUT, with OUT
as the server's root and OUT made a course root (graded_course.py), it lists the
submissions of OUT's gradebook, shows the notebooks of OUT/autograded/, and saves the
scores and comments TAs enter into that gradebook, where `autograder export` and
`autograder feedback` read them. Regrading (`autograder grade` into the same OUT) keeps
them: records.record_in_gradebook never touches a manual score or comment.

With a PostgreSQL gradebook several formgrader servers (one per TA, or one shared) can
save at the same time, also while `autograder grade` runs; with SQLite, one at a time.
"""
from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from .course import nbgrader_env
from .graded_course import make_course_root, nbgrader_folder
from .records import OutputPaths

DEFAULT_PORT = 8890
LOCAL_ONLY = "127.0.0.1"


@dataclass(frozen=True)
class FormgraderServer:
    paths: OutputPaths
    assignment: str
    port: int = DEFAULT_PORT
    ip: str = LOCAL_ONLY
    token: str = field(default_factory=lambda: secrets.token_hex(24))

    @property
    def url(self) -> str:
        host = "localhost" if self.ip in (LOCAL_ONLY, "localhost") else self.ip
        return f"http://{host}:{self.port}/formgrader/gradebook/{self.assignment}?token={self.token}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "jupyter_server", "--no-browser",
            f"--ServerApp.ip={self.ip}", f"--ServerApp.port={self.port}",
            # Fail when the port is taken rather than move to another one: the URL printed
            # for the TAs must be the one the server listens on.
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.paths.root}",
            f"--IdentityProvider.token={self.token}",
            # The login cookie set when the TA opens the URL with its token must be sent with
            # formgrader's API calls too. Jupyter gives it the handler's base URL as path, and
            # formgrader's handlers strip the trailing "/" of theirs, so the browser would
            # scope it to /formgrader/gradebook only: every API call then redirects to the
            # login page and the pages stay at "Loading, please wait...".
            "--IdentityProvider.cookie_options=path=/",
            # Grading servers often run as root in a container; Jupyter refuses that by default.
            "--ServerApp.allow_root=True",
        ]

    def start(self, **popen) -> subprocess.Popen:
        """Start the server in OUT (it reads OUT/nbgrader_config.py), or, given --db, in a
        scratch folder whose config names that gradebook (graded_course.nbgrader_folder),
        removed with the returned process object; the caller stops the server."""
        make_course_root(self.paths, self.assignment)
        scratch = tempfile.TemporaryDirectory(prefix="autograder-formgrader-")
        process = subprocess.Popen(
            self.command(), cwd=nbgrader_folder(self.paths, Path(scratch.name)),
            env=nbgrader_env(self.paths.database.environment()), **popen)
        weakref.finalize(process, scratch.cleanup)
        return process


def serve(server: FormgraderServer, say=print) -> int:
    """Run the server until Ctrl-C; return its exit code."""
    say(f"Formgrader for {server.assignment} on {server.paths.root}")
    say(f"TAs open: {server.url}")
    say(f"Scores and comments are saved in {server.paths.database} as they are typed. "
        "Stop with Ctrl-C.")
    process = server.start()
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        return 0
