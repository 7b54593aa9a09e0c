"""Where a graded folder's gradebook lives, and opening it: SQLite in OUT by default, or a
PostgreSQL database (`autograder grade --db URL`) that several TAs grade in at once.

    database = GradebookDatabase.parse("postgresql://grader@db.example.edu/hw1")
    str(database)              # postgresql+psycopg://grader@db.example.edu/hw1
    with open_gradebook(database.connect_url) as gradebook:
        ...                    # nbgrader's own Gradebook (nbgrader.api)

The URL is nbgrader's (an SQLAlchemy URL). `postgresql://...`, as users write it, is opened
with psycopg 3, the driver the kit pins (requirements.lock), and recorded as
`postgresql+psycopg://...` so that nbgrader's own processes (formgrader, generate_feedback)
use the same driver.

Passwords are never written down. OUT records the URL without one, and libpq finds it the
way it always does: PGPASSWORD, a line of ~/.pgpass (or PGPASSFILE), or a service file
(`postgresql://?service=NAME`, ~/.pg_service.conf); over a Unix socket with peer
authentication none is needed. A password written into --db serves that one command: this
process connects with it, and the nbgrader processes it starts get it as PGPASSWORD.

Anything that keeps the gradebook from being used (no server, a wrong password, no such
database, a driver that is not installed, a URL of another kind) is a GradebookError: one
sentence naming the URL, never its password.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy
from nbgrader.api import Gradebook
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SAWarning
from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

URL_FORM = "postgresql://USER@HOST[:PORT]/DATABASE"
# What libpq says when a password is wrong or missing, and other messages worth a hint.
_HINTS = (
    (("password authentication failed", "no password supplied"),
     "the password comes from PGPASSWORD, a ~/.pgpass line or a service file, never from "
     "OUT (see README, 'A PostgreSQL gradebook')"),
    (("does not exist",), "create the role and database first (see README, 'A PostgreSQL "
                          "gradebook')"),
    (("Connection refused", "could not translate host name", "timeout expired"),
     "check the host and port, and that the server accepts connections from this machine"),
    (("permission denied",), "the role needs to own the database (createdb --owner ROLE)"),
)


class GradebookError(ValueError):
    """The gradebook cannot be used; the message is one sentence naming its URL."""


@dataclass(frozen=True)
class GradebookDatabase:
    """A gradebook's database. connect_url is what SQLAlchemy opens: it holds a password
    only when one was given on this command's line; str() never does."""
    connect_url: str

    @classmethod
    def parse(cls, text: str) -> GradebookDatabase:
        """A PostgreSQL URL as a user writes it (--db); GradebookError when it is not one."""
        try:
            url = make_url(text.strip())
        except ArgumentError:
            url = None
        if url is None or url.get_backend_name() not in ("postgresql", "postgres"):
            raise GradebookError(
                f"--db {_shown(text)!r} is not a PostgreSQL URL: write {URL_FORM} (without --db "
                "the gradebook is SQLite, OUT/gradebook.db)")
        driver = url.get_driver_name() if "+" in url.drivername else "psycopg"
        url = url.set(drivername=f"postgresql+{driver}")  # "postgres" is no SQLAlchemy name
        return cls(url.render_as_string(hide_password=False))

    @classmethod
    def sqlite(cls, path: Path) -> GradebookDatabase:
        return cls(f"sqlite:///{path.resolve()}")

    @property
    def url(self) -> URL:
        return make_url(self.connect_url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def password(self) -> str | None:
        return self.url.password

    def environment(self) -> dict[str, str]:
        """For the nbgrader processes a command starts, which get the URL without password."""
        return {"PGPASSWORD": self.password} if self.password else {}

    def holds_gradebook(self) -> bool:
        """Whether nbgrader has created its tables here (GradebookError: cannot connect)."""
        if self.is_sqlite:
            return Path(self.url.database).is_file()
        with _database_errors(str(self)):
            engine = _opened(sqlalchemy.create_engine, self.connect_url)
            try:
                return sqlalchemy.inspect(engine).has_table("assignment")
            finally:
                engine.dispose()

    def __str__(self) -> str:
        return _without_password(self.url)


@contextmanager
def open_gradebook(connect_url: str):
    """nbgrader's Gradebook at connect_url, closed afterwards; every database failure, on
    opening or while in use, becomes a GradebookError naming the URL."""
    with _database_errors(_without_password(make_url(connect_url))):
        with _opened(Gradebook, connect_url) as gradebook, warnings.catch_warnings():
            # add_submission builds the rows before adding them to the session, which
            # SQLAlchemy warns about for every submission; the rows are saved correctly.
            warnings.filterwarnings("ignore", "Object of type .* not in session", SAWarning)
            yield gradebook


def recorded_database(config: Path) -> GradebookDatabase | None:
    """The database OUT/nbgrader_config.py sets (c.CourseDirectory.db_url), read as nbgrader
    reads it; None when it sets none (the gradebook is then OUT/gradebook.db)."""
    try:
        loaded = PyFileConfigLoader(config.name, path=str(config.parent)).load_config()
    except ConfigFileNotFound:
        return None
    except Exception as error:  # the file runs as Python: anything can go wrong
        raise GradebookError(f"{config} cannot be read ({type(error).__name__}: {error}), so "
                             "the gradebook it names is unknown; fix or delete it") from None
    url = loaded.get("CourseDirectory", {}).get("db_url")
    return GradebookDatabase(url) if url else None


def _opened(open_with, connect_url: str):
    """open_with(connect_url); a driver that cannot be loaded is a GradebookError."""
    try:
        return open_with(connect_url)
    except ModuleNotFoundError as error:  # create_engine imports the driver
        remedy = ("install the kit's pinned packages: pip install -r requirements.lock"
                  if error.name == "psycopg" else
                  f"write {URL_FORM} for the kit's driver, psycopg 3")
        raise GradebookError(
            f"cannot open the gradebook {_without_password(make_url(connect_url))}: its "
            f"driver {error.name} is not installed ({remedy})") from None
    except NoSuchModuleError:
        raise GradebookError(
            f"cannot open the gradebook {_without_password(make_url(connect_url))}: "
            f"SQLAlchemy knows no such driver; write {URL_FORM}") from None


@contextmanager
def _database_errors(shown: str):
    """Any database failure inside the block, as a GradebookError naming `shown`."""
    try:
        yield
    except DBAPIError as error:
        raise GradebookError(f"cannot use the gradebook {shown}: {_reason(error)}") from None


def _reason(error: DBAPIError) -> str:
    """The driver's first line (e.g. libpq's), with a hint when one helps."""
    lines = [line.strip() for line in str(error.orig).splitlines() if line.strip()]
    reason = lines[0] if lines else type(error.orig).__name__
    reason = reason.removeprefix("connection failed: ").rstrip(".")
    for phrases, hint in _HINTS:
        if any(phrase in reason for phrase in phrases):
            return f"{reason}; {hint}"
    return reason


def _without_password(url: URL) -> str:
    return URL.create(url.drivername, url.username, None, url.host, url.port, url.database,
                      url.query).render_as_string(hide_password=False)


def _shown(text: str) -> str:
    """A --db that is no PostgreSQL URL, as it may be shown: without a password."""
    head, at, tail = text.rpartition("@")
    if not at or "://" not in head:
        return text
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{tail}"
