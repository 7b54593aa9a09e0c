"""One student's submission: where its files are in the download, and unpacking them safely.

    entry = Entry("123456", (Source(Path("dl/doejane_123456_789_hw1_submission.zip")),))
    unpacked = unpack(entry, manifest, target)      # only the files the manifest names
    handed_in = read_handed_in(entry, manifest)     # the same, as bytes a task carries
    unpacked = handed_in.write(target)              # ... wherever it runs

Which entries a download holds, and when each was handed in, is read by `intake` (one
reader per LMS layout). An entry's sources are the files and folders of the download that
make up one student's submission, oldest upload first: a zip (collect_submission.py's, or
any), a folder, or a loose file (a notebook or module uploaded on its own, under the name
the student gave it). A zip inside a folder is opened too: Moodle keeps the uploaded zip in
the student's folder.

Each file the manifest names is looked for in all the sources:
- at its own path (nnkit/layers.py in a zip or folder);
- below wrapping folders (hw1/nnkit/layers.py: a zipped or nested folder);
- by its file name, when no other file of the manifest has that name: a loose layers.py,
  or layers-1.py and layers (1).py, as LMSs number re-uploads and browsers repeated downloads.
Of several candidates, the one in the newest source wins; within a source, its own path
beats a nested one, which beats a name; then the least nested, then the highest copy
number. The notes say so when the candidates' contents differ.

Only those files are taken, each written to its own path under the target: nothing a
student adds can shadow a module the grader imports, and no member name decides where a
file is written. The download is only ever read.
"""
from __future__ import annotations

import datetime as dt
import re
import stat
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import nbformat

from ..manifest import Manifest

# A file of a submission larger than this is skipped (a zip bomb, or data that was never
# meant to be handed in); nbgrader's own copy limit is 100 MB too.
MAX_FILE_BYTES = 100 * 1024 * 1024
# Files archivers and file managers add, never a student's work.
JUNK = ("__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini")
# "layers-1.py" (an LMS's re-upload) and "layers (1).py" (a browser's repeated download).
_COPY_NUMBER = re.compile(r"(?P<stem>.+?)(?:-(?P<dash>\d+)| \((?P<paren>\d+)\))(?P<suffix>\.[^.]+)")


class SubmissionError(ValueError):
    """The submission cannot be read at all; the message says why."""


@dataclass(frozen=True)
class Source:
    path: Path        # a zip, folder or loose file in the download
    name: str = ""    # the name the student uploaded it under, without the LMS's additions

    @property
    def upload_name(self) -> str:
        return self.name or self.path.name


@dataclass(frozen=True)
class Entry:
    """One student's submission, as the download holds it."""
    student_id: str                           # safe for nbgrader, unique in the download
    sources: tuple[Source, ...] = ()          # oldest upload first
    name: str = ""                            # the LMS's display name of the student
    submitted: dt.datetime | None = None      # hand-in time the LMS recorded (UTC)
    marked_late_by: str | None = None         # an LMS that flagged it late without a time
    notes: tuple[str, ...] = ()               # e.g. which of several submissions is graded
    problem: str | None = None                # why it cannot be graded at all

    @property
    def label(self) -> str:
        """The download's names for it, e.g. "doejane_123456_789_hw1_submission.zip"."""
        names = [source.path.name for source in self.sources]
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@dataclass
class Unpacked:
    present: list[str] = field(default_factory=list)  # manifest paths found and written
    missing: list[str] = field(default_factory=list)  # manifest paths not in the submission
    notes: list[str] = field(default_factory=list)    # unsafe members, unreadable notebooks


@dataclass(frozen=True)
class HandedIn:
    """The files of a submission the manifest names, read from the download: what a grading
    task carries to the worker, which has no access to the download."""
    files: dict[str, bytes]           # manifest path: contents
    unpacked: Unpacked                # which were found, which are missing, and notes
    problem: str | None = None        # why nothing of it can be read

    def write(self, target: Path) -> Unpacked:
        """Write the files under target (created); raise SubmissionError for a problem."""
        if self.problem is not None:
            raise SubmissionError(self.problem)
        for path, data in self.files.items():
            destination = target / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
        target.mkdir(parents=True, exist_ok=True)
        return self.unpacked


def read_handed_in(entry: Entry, manifest: Manifest) -> HandedIn:
    """The handed-in files of `entry` (never raises: a problem is in the result)."""
    try:
        return _read_wanted(entry, manifest)
    except SubmissionError as error:
        return HandedIn({}, Unpacked(), str(error))


def unpack(entry: Entry, manifest: Manifest, target: Path) -> Unpacked:
    """Write the handed-in files of `entry` under target (created); raise SubmissionError
    when nothing of it can be read."""
    return _read_wanted(entry, manifest).write(target)


def _read_wanted(entry: Entry, manifest: Manifest) -> HandedIn:
    if entry.problem is not None:
        raise SubmissionError(entry.problem)
    if not entry.sources:
        raise SubmissionError("no files")
    wanted = manifest.notebooks + manifest.student_modules + manifest.artifacts
    notes, failures = [], []
    with ExitStack() as open_zips:
        files = []
        for order, source in enumerate(entry.sources):
            files += _source_files(source, order, open_zips, notes, failures)
        if not files and failures:
            only = len(entry.sources) == 1 and failures[0][0] == entry.sources[0].path.name
            raise SubmissionError(failures[0][1] if only else
                                  f"{failures[0][0]} is {failures[0][1]}")
        notes += [f"skipped {origin}: {why}" for origin, why in failures]
        return _take_wanted(_choose(files, wanted, notes), notes, wanted)


@dataclass(frozen=True)
class _File:
    path: str                      # inside its source, e.g. "hw1/nnkit/layers.py"
    read: Callable[[], bytes]
    origin: str                    # the source's name in the download, for notes
    order: int                     # of its source: higher is newer

    @property
    def depth(self) -> int:
        return self.path.count("/")


def _source_files(source: Source, order: int, open_zips: ExitStack, notes: list[str],
                  failures: list[tuple[str, str]]) -> list[_File]:
    path, origin = source.path, source.path.name
    if path.is_symlink():
        notes.append(f"skipped symbolic link {origin!r}")
        return []
    if path.is_dir():
        files, skipped = _folder_files(path)
        notes += skipped
        found = []
        for relative, read in files.items():
            if relative.lower().endswith(".zip"):
                found += _zip_files(path / relative, f"{origin}/{relative}", order, open_zips,
                                    notes, failures)
            else:
                found.append(_File(relative, read, origin, order))
        return found
    if source.upload_name.lower().endswith(".zip"):
        return _zip_files(path, origin, order, open_zips, notes, failures)
    return [_File(source.upload_name, _file_reader(path), origin, order)]


def _zip_files(path: Path, origin: str, order: int, open_zips: ExitStack, notes: list[str],
               failures: list[tuple[str, str]]) -> list[_File]:
    try:
        archive = open_zips.enter_context(zipfile.ZipFile(path))
    except (zipfile.BadZipFile, OSError) as error:
        failures.append((origin, f"not a readable zip file ({error})"))
        return []
    members, skipped = _zip_members(archive)
    notes += skipped
    return [_File(member, read, origin, order) for member, read in members.items()]


def _choose(files: list[_File], wanted: tuple[str, ...], notes: list[str]) -> dict:
    """{manifest path: reader} of the file graded for each manifest path found."""
    names = [PurePosixPath(path).name for path in wanted]
    chosen = {}
    for path, name in zip(wanted, names):
        # (how well it matches: 2 own path, 1 below folders, 0 by name; the file)
        candidates = [(2 if file.path == path else 1 if file.path.endswith("/" + path) else 0,
                       file) for file in files
                      if file.path == path or file.path.endswith("/" + path)
                      or (names.count(name) == 1
                          and _without_copy_number(PurePosixPath(file.path).name) == name)]
        if not candidates:
            continue
        _, best = max(candidates, key=lambda candidate: (
            candidate[1].order, candidate[0], -candidate[1].depth,
            _copy_number(candidate[1].path), candidate[1].path))
        chosen[path] = best.read
        if len({_content(file) for _, file in candidates}) > 1:
            others = ", ".join(sorted(_where(file) for _, file in candidates if file is not best))
            notes.append(f"{path}: graded {_where(best)}, the newest of {len(candidates)} "
                         f"different copies (not {others})")
    return chosen


def _where(file: _File) -> str:
    return file.origin if file.path == file.origin else f"{file.path} in {file.origin}"


def _without_copy_number(name: str) -> str:
    match = _COPY_NUMBER.fullmatch(name)
    return match["stem"] + match["suffix"] if match else name


def _copy_number(path: str) -> int:
    match = _COPY_NUMBER.fullmatch(PurePosixPath(path).name)
    return int(match["dash"] or match["paren"]) if match else 0


def _content(file: _File) -> bytes | None:
    try:
        return file.read()
    except _Unreadable:
        return None


def _take_wanted(files: dict, notes: list[str], wanted: tuple[str, ...]) -> HandedIn:
    """Read each handed-in file of `files` ({manifest path: reader})."""
    unpacked, taken = Unpacked(notes=notes), {}
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
        taken[path] = data
        unpacked.present.append(path)
    return HandedIn(taken, unpacked)


class _Unreadable(Exception):
    """One file of a submission cannot be taken; the message says why."""


_TOO_LARGE = f"larger than {MAX_FILE_BYTES // 2**20} MB"


def _zip_members(archive: zipfile.ZipFile):
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
        if any(part in JUNK for part in parts):
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
        if any(part in JUNK for part in PurePosixPath(relative).parts):
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


def _is_notebook(data: bytes) -> bool:
    try:
        nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:  # any parse or schema failure means nbgrader cannot grade it either
        return False
    return True
