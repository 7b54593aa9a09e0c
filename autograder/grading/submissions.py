"""Finding the submissions in a folder and unpacking one of them safely.

A submissions folder (an LMS download) holds one entry per student: a zip written by
collect_submission.py, or a folder. The student id is the entry's name without extension,
made safe for nbgrader (letters, digits, '_' and '-'):

    entries = find_entries(Path("downloads"))       # [Entry("alice", ...), ...], sorted
    unpacked = unpack(entry, manifest, target)      # only the files the manifest names

LMS downloads often name files with more than the id, and keep every resubmission, e.g.
Canvas's `alice_12345_20261201T101500_fcnet.zip`. A name pattern (like nbgrader's
ZipCollectApp.collect_file_pattern) is a regular expression with a `student_id` group and
optionally a `timestamp` group: entries whose name matches take their id (and submission
time) from it, others keep their stem. Of several entries with one id the newest is graded
(by the timestamp group, else by file modification time) and its notes say so.

Only the files students hand in (the manifest's notebooks, student modules and artifacts)
are taken from a submission, each written to its own path under the target: nothing a
student adds can shadow a module the grader imports, and no member name decides where a
file is written. The submissions folder is only ever read.
"""
from __future__ import annotations

import datetime as dt
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
from dateutil import parser as date_parser

from ..manifest import Manifest

# A file of a submission larger than this is skipped (a zip bomb, or data that was never
# meant to be handed in); nbgrader's own copy limit is 100 MB too.
MAX_FILE_BYTES = 100 * 1024 * 1024
_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]+")
# Files archivers and file managers add, never a student's work.
_JUNK = ("__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini")


class SubmissionError(ValueError):
    """The submission cannot be read at all; the message says why."""


@dataclass(frozen=True)
class Entry:
    student_id: str              # safe for nbgrader, unique in the folder
    path: Path                   # the zip file or folder
    notes: tuple[str, ...] = ()  # e.g. that the id was changed from the file name
    submitted: dt.datetime | None = None  # from the name pattern's timestamp, else None

    @property
    def submitted_at(self) -> dt.datetime:
        """When it was handed in: the name's timestamp, else the file's modification time
        (an LMS download keeps no upload time), in UTC."""
        if self.submitted is not None:
            return self.submitted
        return dt.datetime.fromtimestamp(self.path.stat().st_mtime, tz=dt.timezone.utc)


@dataclass
class Unpacked:
    present: list[str] = field(default_factory=list)  # manifest paths found and written
    missing: list[str] = field(default_factory=list)  # manifest paths not in the submission
    notes: list[str] = field(default_factory=list)    # unsafe members, unreadable notebooks


def find_entries(folder: Path, name_pattern: str | None = None) -> list[Entry]:
    """Every entry of a submissions folder (hidden files aside), one per student, sorted by
    student id. `name_pattern`: see the module docstring."""
    pattern = compile_name_pattern(name_pattern) if name_pattern else None
    candidates = {}  # student id as named -> [(path, timestamp)]
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.name in _JUNK:
            continue
        stem = path.name if path.is_dir() else path.stem
        match = pattern.fullmatch(path.name) if pattern else None
        student_id = match["student_id"] if match else stem
        timestamp = _timestamp(match) if match else None
        candidates.setdefault(student_id, []).append((path, timestamp))

    entries, taken = [], set()
    for named_id in sorted(candidates):
        versions = candidates[named_id]
        path, timestamp = max(versions, key=lambda version: _submitted(*version))
        notes = []
        if len(versions) > 1:
            others = ", ".join(sorted(other.name for other, _ in versions if other != path))
            notes.append(f"graded {path.name}, the newest of {len(versions)} submissions "
                         f"(ignored {others})")
        student_id = _UNSAFE_CHARACTERS.sub("_", named_id).strip("_") or "student"
        unique_id, number = student_id, 2
        while unique_id.lower() in taken:  # case-insensitively: ids become folder names
            unique_id, number = f"{student_id}-{number}", number + 1
        taken.add(unique_id.lower())
        if unique_id != named_id:
            why = "another entry has that id" if student_id == named_id else "the name is not a safe id"
            notes.insert(0, f"student id changed from {named_id!r} to {unique_id!r} ({why})")
        entries.append(Entry(unique_id, path, tuple(notes), timestamp))
    return sorted(entries, key=lambda entry: entry.student_id)


def compile_name_pattern(name_pattern: str) -> re.Pattern:
    """The compiled pattern; ValueError saying what is wrong with it."""
    try:
        pattern = re.compile(name_pattern)
    except re.error as error:
        raise ValueError(f"the name pattern {name_pattern!r} is not a regular expression ({error})") from None
    if "student_id" not in pattern.groupindex:
        raise ValueError(f"the name pattern {name_pattern!r} has no (?P<student_id>...) group")
    return pattern


def _timestamp(match: re.Match) -> dt.datetime | None:
    text = match.groupdict().get("timestamp")
    if not text:
        return None
    try:
        moment = date_parser.parse(text)
    except (ValueError, OverflowError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def _submitted(path: Path, timestamp: dt.datetime | None) -> dt.datetime:
    return timestamp or dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc)


def unpack(entry: Entry, manifest: Manifest, target: Path) -> Unpacked:
    """Write the handed-in files of `entry` under target (created); raise SubmissionError
    when the entry is neither a readable zip nor a folder."""
    if entry.path.is_dir() and not entry.path.is_symlink():
        return _write_wanted(*_folder_files(entry.path), manifest, target)
    if entry.path.suffix.lower() != ".zip" or not entry.path.is_file():
        raise SubmissionError("neither a .zip file nor a folder")
    try:
        archive = zipfile.ZipFile(entry.path)
    except (zipfile.BadZipFile, OSError) as error:
        raise SubmissionError(f"not a readable zip file ({error})") from None
    with archive:
        return _write_wanted(*_zip_files(archive), manifest, target)


def _write_wanted(files: dict, notes: list[str], manifest: Manifest, target: Path) -> Unpacked:
    """Write each handed-in file of `files` ({path: reader}) to its manifest path."""
    wanted = manifest.notebooks + manifest.student_modules + manifest.artifacts
    files = _without_wrapper_folder(files, wanted)
    unpacked = Unpacked(notes=notes)
    target.mkdir(parents=True, exist_ok=True)
    for path in wanted:
        if path not in files:
            unpacked.missing.append(path)
            continue
        try:
            data = files[path]()
        except _Unreadable as problem:
            unpacked.notes.append(f"{path} skipped: {problem}")
            unpacked.missing.append(path)
            continue
        if path.endswith(".ipynb") and not _is_notebook(data):
            unpacked.notes.append(f"{path} is not a readable notebook: graded as missing")
            unpacked.missing.append(path)
            continue
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        unpacked.present.append(path)
    return unpacked


class _Unreadable(Exception):
    """One file of a submission cannot be taken; the message says why."""


_TOO_LARGE = f"larger than {MAX_FILE_BYTES // 2**20} MB"


def _zip_files(archive: zipfile.ZipFile):
    """{member path: reader} of a zip's regular files, and notes on the members skipped."""
    files, notes = {}, []
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = info.filename.replace("\\", "/")  # some Windows archivers write backslashes
        parts = PurePosixPath(name).parts
        if name.startswith("/") or re.match(r"[A-Za-z]:", name) or ".." in parts:
            notes.append(f"skipped unsafe zip member {info.filename!r}")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            notes.append(f"skipped symbolic link {info.filename!r}")
            continue
        if any(part in _JUNK for part in parts):
            continue
        files[PurePosixPath(*parts).as_posix()] = _zip_reader(archive, info)
    return files, notes


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    def read() -> bytes:
        if info.file_size > MAX_FILE_BYTES:
            raise _Unreadable(_TOO_LARGE)
        try:
            with archive.open(info) as member:
                data = member.read(MAX_FILE_BYTES + 1)  # the header's size can lie
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
            # damaged, encrypted, or an unsupported compression method
            raise _Unreadable(f"cannot be read from the zip ({error})") from None
        if len(data) > MAX_FILE_BYTES:
            raise _Unreadable(_TOO_LARGE)
        return data
    return read


def _folder_files(folder: Path):
    files, notes = {}, []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if any(part in _JUNK for part in PurePosixPath(relative).parts):
            continue
        if path.is_symlink():
            notes.append(f"skipped symbolic link {relative!r}")
        elif path.is_file():
            files[relative] = _file_reader(path)
    return files, notes


def _file_reader(path: Path):
    def read() -> bytes:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise _Unreadable(_TOO_LARGE)
        return path.read_bytes()
    return read


def _without_wrapper_folder(files: dict, wanted: tuple[str, ...]) -> dict:
    """Drop one top-level folder that holds everything (a student zipped the folder itself
    instead of running collect_submission.py)."""
    if any(path in files for path in wanted):
        return files
    tops = {PurePosixPath(path).parts[0] for path in files}
    if len(tops) != 1 or not all("/" in path for path in files):
        return files
    (top,) = tops
    return {path[len(top) + 1:]: reader for path, reader in files.items()}


def _is_notebook(data: bytes) -> bool:
    try:
        nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:  # any parse or schema failure means nbgrader cannot grade it either
        return False
    return True
