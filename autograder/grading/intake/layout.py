"""What every reader of a download layout has in common.

A layout reader looks at the top level of a download (the folder an LMS's bulk download
unpacks to) and says which of its items make up whose submission:

    reading = Canvas().read(folder, timezone)
    reading.handins   # [Handin("123456", sources, name="doejane", marked_late=True), ...]
    reading.unread    # [Unread(path, "why this layout cannot read it"), ...]

Readers only look at names and at the small files the LMS adds (Gradescope's metadata,
Blackboard's attempt files); they never open a student's files. Every top-level item is
either used by a handin or listed as unread, so nothing is dropped without a word.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..submissions import JUNK, Source


class IntakeError(ValueError):
    """The download cannot be read as asked; the message names what and says why."""


@dataclass(frozen=True)
class Handin:
    """One submission, as the LMS recorded it."""
    student_id: str                          # the LMS's id of the student
    sources: tuple[Source, ...]              # the download's items, oldest upload first
    name: str = ""                           # the LMS's display name
    submitted_at: dt.datetime | None = None  # the hand-in time the LMS recorded, UTC
    marked_late: bool = False                # the LMS says late but records no time
    notes: tuple[str, ...] = ()
    problem: str | None = None               # why it cannot be graded

    @property
    def label(self) -> str:
        return ", ".join(source.path.name for source in self.sources) or self.student_id


@dataclass(frozen=True)
class Unread:
    path: Path    # a top-level item of the download
    why: str      # why the layout cannot read it, as the failed status says


@dataclass
class Reading:
    handins: list[Handin] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)


class Layout:
    """A reader of one download layout; subclasses set the class attributes and read()."""
    name: ClassVar[str]       # the --lms value
    title: ClassVar[str]      # for people: "Canvas"
    shape: ClassVar[str]      # what its entries look like, for messages
    times: ClassVar[str]      # what it records about hand-in times, for the run's output

    def read(self, folder: Path, timezone: dt.tzinfo) -> Reading:
        raise NotImplementedError

    def not_mine(self, path: Path) -> Unread:
        return Unread(path, f"not a {self.title} submission ({self.shape})")


def items(folder: Path) -> list[Path]:
    """The top-level items of a download, without hidden files and archivers' additions."""
    return sorted((path for path in folder.iterdir()
                   if not path.name.startswith(".") and path.name not in JUNK),
                  key=lambda path: path.name)
