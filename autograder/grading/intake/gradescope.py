"""Gradescope's "Export Submissions": submission_metadata.yml and a folder per submission.

    assignment_123_export/submission_metadata.yml
    assignment_123_export/submission_456789/...    the files as uploaded (a zip is unpacked)

submission_metadata.yml (written by Ruby, so its keys are symbols with a leading colon):

    submission_456789:
      :submitters:                 # several for a group submission
      - :name: Jane Doe
        :sid: '2026001'            # the student id of the roster; may be missing
        :email: jane@example.edu
      :created_at: 2026-12-18 22:10:05.123456000 -08:00
      :score: 10.0                 # Gradescope's own autograder, not used here
      :status: processed
      :history: [...]              # earlier submissions; only the active one is exported

The student id is the submitter's sid, else the email. Every submitter of a group
submission gets the submission graded under their own id.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from ..deadlines import UTC, parse_time
from ..submissions import Source
from .layout import Handin, IntakeError, Layout, Reading, Unread, items

METADATA = "submission_metadata.yml"
_NORMAL_STATUS = "processed"


class Gradescope(Layout):
    name = "gradescope"
    title = "Gradescope"
    shape = f"{METADATA} and a folder per submission"
    times = f"Gradescope records every hand-in time in {METADATA}"

    def read(self, folder: Path, timezone: dt.tzinfo) -> Reading:
        metadata_path = folder / METADATA
        if not metadata_path.is_file():
            return Reading(unread=[self.not_mine(path) for path in items(folder)])
        metadata = _load(metadata_path)
        reading = Reading()
        listed = set()
        for key, record in metadata.items():
            listed.add(str(key))
            reading.handins += self._handins(folder / str(key), record, metadata_path, timezone)
        reading.unread += [Unread(path, f"not listed in {METADATA}") for path in items(folder)
                           if path.name not in listed and path.name != METADATA]
        return reading

    def _handins(self, submission: Path, record, metadata_path: Path,
                 timezone: dt.tzinfo) -> list[Handin]:
        if not isinstance(record, dict):
            raise IntakeError(f"{metadata_path}: {submission.name} is not a mapping "
                                          "of :submitters:, :created_at:, ...")
        notes, problem = [], None
        status = record.get(":status")
        if status not in (None, _NORMAL_STATUS):
            notes.append(f"Gradescope's status of the submission: {status}")
        submitted_at = _time(record.get(":created_at"), submission.name, metadata_path, timezone)
        if not submission.is_dir():
            problem = f"listed in {METADATA}, but the download has no folder {submission.name}"
        submitters = record.get(":submitters") or []
        if not submitters:
            return [Handin(submission.name, (Source(submission),), submitted_at=submitted_at,
                           notes=(*notes, f"{METADATA} names no submitter: the id is the "
                                          "folder's name"), problem=problem)]
        people = [(_student_id(person), str(person.get(":name") or "")) for person in submitters]
        handins = []
        for student_id, name in people:
            group = [other for other, _ in people if other != student_id]
            group_note = (f"group submission {submission.name} with {', '.join(group)}",) \
                if group else ()
            handins.append(Handin(student_id or submission.name, (Source(submission),), name,
                                  submitted_at, notes=(*notes, *group_note), problem=problem))
        return handins


def _load(path: Path) -> dict:
    try:
        metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise IntakeError(f"{path} cannot be read as YAML ({error})") from None
    if not isinstance(metadata, dict):
        raise IntakeError(f"{path} holds no submissions (expected a mapping of "
                                      "submission folders)")
    return metadata


def _student_id(person) -> str:
    if not isinstance(person, dict):
        return ""
    return str(person.get(":sid") or person.get(":email") or "").strip()


def _time(value, submission: str, metadata_path: Path, timezone: dt.tzinfo) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # YAML timestamps load as datetimes
        return (value if value.tzinfo else value.replace(tzinfo=timezone)).astimezone(UTC)
    try:
        return parse_time(str(value), timezone)
    except ValueError as error:
        raise IntakeError(f"{metadata_path}: :created_at: of {submission}: "
                                      f"{error}") from None
