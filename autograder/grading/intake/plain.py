"""Downloads without an LMS's naming: one zip or folder per student, or names a pattern reads.

    alice.zip   bob/   carol_submission.zip         Plain: the name (without .zip) is the id

    alice_12345_20261201T101500_hw1.zip           NamePattern, e.g. with
        (?P<student_id>[^_]+)_\\d+_(?P<timestamp>\\d{8}T\\d{6})_(?P<filename>.*)

A name pattern is a regular expression (like nbgrader's ZipCollectApp.collect_file_pattern)
with a student_id group and optionally timestamp (the hand-in time), name (the display name)
and filename (the uploaded file's own name, for loose files) groups. Items it matches with
the same id and timestamp make one submission; zips and folders it does not match keep
their name as the id, and the status says so.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ..deadlines import parse_time
from ..submissions import Source
from .layout import Handin, IntakeError, Layout, Reading, Unread, items

NOT_A_SUBMISSION = "neither a .zip file nor a folder"


class Plain(Layout):
    name = "plain"
    title = "plain"
    shape = "one .zip file or folder per student, named by the student id"
    times = ("plain folders record no hand-in times: give them with --times (or name them "
             "with --name-pattern's timestamp group)")

    def read(self, folder: Path, timezone: dt.tzinfo) -> Reading:
        reading = Reading()
        for path in items(folder):
            if _is_submission(path):
                reading.handins.append(Handin(_stem(path), (Source(path),)))
            else:
                reading.unread.append(Unread(path, NOT_A_SUBMISSION))
        return reading


class NamePattern(Layout):
    name = "pattern"
    title = "--name-pattern"
    times = "hand-in times come from the pattern's timestamp group"

    def __init__(self, pattern: str):
        self.pattern = compile_name_pattern(pattern)

    @property
    def shape(self) -> str:
        return f"names matching {self.pattern.pattern}"

    def read(self, folder: Path, timezone: dt.tzinfo) -> Reading:
        reading = Reading()
        matched = {}  # (student id, timestamp text) -> Handin
        for path in items(folder):
            match = self.pattern.fullmatch(path.name)
            if match is None:
                if _is_submission(path):
                    reading.handins.append(Handin(_stem(path), (Source(path),), notes=(
                        "its name does not match --name-pattern, so the id is the name",)))
                else:
                    reading.unread.append(Unread(path, "its name does not match --name-pattern "
                                                       f"and it is {NOT_A_SUBMISSION}"))
                continue
            groups = match.groupdict()
            key = (match["student_id"], groups.get("timestamp"))
            source = Source(path, groups.get("filename") or "")
            if key in matched:
                handin = matched[key]
                matched[key] = Handin(handin.student_id, handin.sources + (source,), handin.name,
                                      handin.submitted_at, notes=handin.notes)
                continue
            submitted_at, notes = None, ()
            if groups.get("timestamp"):
                try:
                    submitted_at = parse_time(groups["timestamp"], timezone)
                except ValueError as error:
                    notes = (f"its timestamp is not used: {error}",)
            matched[key] = Handin(match["student_id"], (source,), groups.get("name") or "",
                                  submitted_at, notes=notes)
        if not matched:
            raise IntakeError(f"--name-pattern {self.pattern.pattern!r} matches none of the "
                              f"{len(items(folder))} entries of {folder} (e.g. "
                              f"{examples(items(folder))})")
        reading.handins += matched.values()
        return reading


def compile_name_pattern(name_pattern: str) -> re.Pattern:
    """The compiled pattern; IntakeError saying what is wrong with it."""
    try:
        pattern = re.compile(name_pattern)
    except re.error as error:
        raise IntakeError(f"the name pattern {name_pattern!r} is not a regular expression "
                          f"({error})") from None
    if "student_id" not in pattern.groupindex:
        raise IntakeError(f"the name pattern {name_pattern!r} has no (?P<student_id>...) group")
    return pattern


def examples(paths: list[Path], count: int = 3) -> str:
    """"a.zip, b, c.txt and 9 more"."""
    names = [path.name for path in paths]
    more = len(names) - count
    return ", ".join(names[:count]) + (f" and {more} more" if more > 0 else "")


def _is_submission(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() == ".zip"


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem
