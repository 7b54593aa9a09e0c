"""A throw-away PostgreSQL server from the distribution's packages, for tests and benchmarks.

    server = PostgresServer.start()           # PostgresUnavailable says why it cannot
    url = server.create_database("fcnet", role="grader", password="...")
    ...
    server.stop()                             # stops it and removes its folder

Its data folder and Unix socket live in a fresh temporary folder; it listens on 127.0.0.1 on a
free port, where every role logs in with its password (scram-sha-256), as on a real server.
The superuser `postgres` has none and logs in only over the socket, to create roles and
databases. initdb refuses to run as root, and the tests here and in CI run as root: the
server then runs as the `postgres` system user that Debian's postgresql package creates.
`make test` installs the package (scripts/install_postgres.sh).
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

SERVER_USER = "postgres"
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections


class PostgresUnavailable(RuntimeError):
    """No server can be started here; the message says why and how to get one."""


@dataclass
class PostgresServer:
    folder: Path      # data/, server.log and the Unix socket
    port: int
    bindir: Path      # initdb, pg_ctl, postgres
    run_as: tuple[str, ...]  # the command prefix that drops root, or ()

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = server_bindir()
        run_as = unprivileged_prefix()
        folder = Path(tempfile.mkdtemp(prefix="nnkit-postgres-"))
        if run_as:
            shutil.chown(folder, SERVER_USER, SERVER_USER)
        server = cls(folder, free_port(), bindir, run_as)
        try:
            server._run("initdb", "-D", str(server.data), "-U", "postgres", "--no-sync",
                        "--no-locale", "-E", "UTF8", "--auth-local=trust",
                        "--auth-host=scram-sha-256")
            server._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w",
                        "-t", str(START_TIMEOUT), "-o",
                        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder}", "start")
        except PostgresUnavailable:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return server

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def create_database(self, name: str, role: str, password: str) -> str:
        """A login role owning a new database (as README tells instructors to make them);
        the URL to reach it over TCP, with the password in it."""
        with self.superuser() as connection:
            exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                        (role,)).fetchone()
            connection.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(role),
                sql.Literal(password)))
            connection.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(role)))
        return f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{self.port}/{name}"

    def superuser(self) -> psycopg.Connection:
        return psycopg.connect(host=str(self.folder), port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        finished = subprocess.run([*self.run_as, str(self.bindir / program), *args],
                                  cwd=self.folder, capture_output=True, text=True)
        if finished.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
            raise PostgresUnavailable(f"{program} failed ({finished.returncode}): "
                                      f"{finished.stderr.strip()} {log}".strip())


def server_bindir() -> Path:
    """The folder of initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<v>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
    if versions:
        return versions[-1].parent
    raise PostgresUnavailable("PostgreSQL's server is not installed: run `make test` as root "
                              "(scripts/install_postgres.sh) or `sudo apt-get install postgresql`")


def unprivileged_prefix() -> tuple[str, ...]:
    """() when not root; as root, a prefix that runs a command as the `postgres` user."""
    if os.geteuid() != 0:
        return ()
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(f"running as root and there is no {SERVER_USER!r} user to run "
                                  "the server as (Debian's postgresql package creates it)") from None
    if shutil.which("runuser"):
        return ("runuser", "-u", SERVER_USER, "--")
    if shutil.which("setpriv"):
        return ("setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups")
    raise PostgresUnavailable("running as root and neither runuser nor setpriv is here to run "
                              f"the server as {SERVER_USER!r}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
