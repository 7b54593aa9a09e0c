"""Intake: an LMS's bulk download, read as it is, to one entry per student.

    intake = read_download(Path("downloads"))                  # the layout is detected
    intake = read_download(Path("downloads"), lms="moodle")    # or chosen
    intake.entries   # [Entry("123456", sources, name="doejane", marked_late_by="Canvas"), ...]
    intake.reason    # "Canvas: 14 of 15 entries are named name[_LATE]_userid_fileid_filename ..."

One reader per layout (canvas.py, moodle.py, gradescope.py, blackboard.py, plain.py), all
with the interface of layout.Layout, registered in LAYOUTS. Without --lms, detect() tries
every LMS's reader (on the folder, and inside a lone folder it holds, as unzipping often
adds one) and takes the one that reads most of the entries, if it reads more than half;
otherwise the download is plain (one zip or folder per student). Entries the layout cannot
read become entries that fail with the reason, so every item of the download has a row.
A layout or pattern that reads none of them is an IntakeError naming a few.

Of several submissions of one student (Blackboard attempts, names with timestamps) the
newest is graded. Ids are the LMS's, made safe for nbgrader and folder names (letters,
digits and _ - . @), and unique. A bulk zip of any layout is unpacked first (open_download).
"""
from __future__ import annotations

import datetime as dt
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nbgrader.api import Student

from ..submissions import JUNK, Entry, Source
from .blackboard import Blackboard
from .canvas import Canvas
from .gradescope import Gradescope
from .layout import Handin, IntakeError, Layout, Reading, Unread, items
from .moodle import Moodle
from .plain import NamePattern, Plain, compile_name_pattern, examples

__all__ = ["LAYOUTS", "Intake", "IntakeError", "compile_name_pattern", "detect",
           "open_download", "read_download"]

LMS_LAYOUTS: tuple[Layout, ...] = (Canvas(), Moodle(), Gradescope(), Blackboard())
LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (*LMS_LAYOUTS, Plain())}
# A member of a bulk download larger than this is not unpacked (and reported): one
# student's upload, which may hold several files of up to submissions.MAX_FILE_BYTES.
MAX_BULK_MEMBER_BYTES = 2 * 1024**3
_UNSAFE_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_.@-]+")
# The gradebook's column for student ids holds this many characters: PostgreSQL refuses a
# longer id (SQLite never checks), which would stop the batch at that student.
MAX_ID_LENGTH = Student.__table__.c.id.type.length


@dataclass(frozen=True)
class Intake:
    entries: list[Entry]      # one per student, sorted by id
    layout: Layout
    reason: str               # which layout, and why, for the instructor


def read_download(folder: Path, lms: str | None = None, name_pattern: str | None = None,
                  timezone: dt.tzinfo = dt.timezone.utc,
                  skipped: tuple[Unread, ...] = ()) -> Intake:
    """Read `folder` with the layout `lms` names, the `name_pattern`, or the one detected.
    `skipped`: items of a bulk zip that were not unpacked (they get failed entries too);
    `timezone`: for times an LMS records without one."""
    if not items(folder) and not skipped:
        raise IntakeError(f"{folder} holds no submissions")
    if name_pattern is not None:
        layout = NamePattern(name_pattern)
        root, reading = folder, layout.read(folder, timezone)
        reason = f"names read with --name-pattern: {_fit(folder, reading)}"
    elif lms is not None:
        if lms not in LAYOUTS:
            raise IntakeError(f"--lms {lms!r} is not a known layout (known: {', '.join(LAYOUTS)})")
        layout = LAYOUTS[lms]
        root, reading = _best_root(layout, folder, timezone)
        reason = f"the {layout.title} layout (--lms): {_fit(root, reading)}"
    else:
        layout, root, reading, reason = detect(folder, timezone)
    if not reading.handins:
        unread = [item.path for item in reading.unread]
        raise IntakeError(f"none of the {len(unread)} entries of {folder} is a {layout.title} "
                          f"submission ({layout.shape}), e.g. {examples(unread)}")
    if root != folder:
        reason += f", inside {root.name}/"
    return Intake(entries_from(reading.handins, [*reading.unread, *skipped], layout), layout,
                  f"{reason}. {layout.times[0].upper()}{layout.times[1:]}.")


def detect(folder: Path, timezone: dt.tzinfo) -> tuple[Layout, Path, Reading, str]:
    """The layout of the download, where it starts, its reading, and why it was chosen."""
    tried = []  # (share read, count read, total, layout, root, reading)
    for layout in LMS_LAYOUTS:
        for root in _roots(folder):
            reading = layout.read(root, timezone)
            total = len(items(root))
            read = total - len(reading.unread)
            tried.append((read / total if total else 0.0, read, total, layout, root, reading))
    share, read, total, layout, root, reading = max(tried, key=lambda attempt: attempt[:2])
    if share > 0.5:
        return (layout, root, reading,
                f"detected the {layout.title} layout, {layout.shape}: {_fit(root, reading)}")
    plain = LAYOUTS["plain"]
    closest = (f"; the closest, {layout.title}, reads {read} of {total}" if read else "")
    return (plain, folder, plain.read(folder, timezone),
            f"no LMS layout fits (Canvas, Moodle, Gradescope, Blackboard){closest}, so "
            f"{plain.shape}")


def _fit(root: Path, reading: Reading) -> str:
    """"14 of 15 entries fit it; 1 not, listed as failed (README.txt)"."""
    total = len(items(root))
    text = f"{total - len(reading.unread)} of {total} entries fit it"
    if reading.unread:
        text += (f"; {len(reading.unread)} not, each listed as failed "
                 f"({examples([item.path for item in reading.unread])})")
    return text


def _roots(folder: Path) -> list[Path]:
    """The folder, and the lone folder inside it if that is all it holds."""
    inside = items(folder)
    return [folder] + (inside if len(inside) == 1 and inside[0].is_dir() else [])


def _best_root(layout: Layout, folder: Path, timezone: dt.tzinfo) -> tuple[Path, Reading]:
    readings = [(root, layout.read(root, timezone)) for root in _roots(folder)]
    return next(((root, reading) for root, reading in readings if reading.handins), readings[0])


def entries_from(handins: list[Handin], unread: list[Unread], layout: Layout) -> list[Entry]:
    """One entry per student (the newest of their submissions), and a failing one per item
    that could not be read; ids made safe and unique."""
    by_student = {}
    for handin in handins:
        by_student.setdefault(handin.student_id, []).append(handin)
    named = []  # (id as the LMS names it, Entry with that id)
    for student_id, versions in by_student.items():
        chosen, notes = _newest(versions)
        named.append((student_id, Entry(
            student_id, chosen.sources, chosen.name, chosen.submitted_at,
            layout.title if chosen.marked_late else None, (*notes, *chosen.notes),
            chosen.problem)))
    for item in unread:
        named.append((_stem(item.path), Entry(_stem(item.path), (Source(item.path),),
                                              problem=item.why)))
    return _with_unique_ids(named)


def _newest(versions: list[Handin]) -> tuple[Handin, list[str]]:
    if len(versions) == 1:
        return versions[0], []
    timed = all(version.submitted_at is not None for version in versions)
    chosen = (max(versions, key=lambda version: version.submitted_at) if timed
              else max(versions, key=lambda version: version.label))
    others = ", ".join(sorted(version.label for version in versions if version is not chosen))
    how = "the newest" if timed else "the last by name (no hand-in times tell which is newest)"
    return chosen, [f"graded {chosen.label}, {how} of {len(versions)} submissions "
                    f"(ignored {others})"]


def _with_unique_ids(named: list[tuple[str, Entry]]) -> list[Entry]:
    entries, taken = [], set()
    for named_id, entry in sorted(named, key=lambda pair: pair[0]):
        safe = (_UNSAFE_ID_CHARACTERS.sub("_", named_id).strip("._") or "student")[:MAX_ID_LENGTH]
        unique, number = safe, 2
        while unique.lower() in taken:  # case-insensitively: ids become folder names
            suffix = f"-{number}"
            unique, number = safe[:MAX_ID_LENGTH - len(suffix)] + suffix, number + 1
        taken.add(unique.lower())
        notes = entry.notes
        if unique != named_id:
            why = ("another entry has that id" if safe == named_id else
                   f"it is not a safe id: letters, digits and _.@- only, at most {MAX_ID_LENGTH} "
                   "characters")
            notes = (f"student id changed from {named_id!r} to {unique!r} ({why})", *notes)
        entries.append(Entry(unique, entry.sources, entry.name, entry.submitted,
                             entry.marked_late_by, notes, entry.problem))
    return sorted(entries, key=lambda entry: entry.student_id)


def _stem(path: Path) -> str:
    return path.name if path.is_dir() or not path.suffix else path.stem


# --- a bulk zip ---------------------------------------------------------------------------

@dataclass
class Download:
    folder: Path                                             # what to read
    skipped: list[Unread] = field(default_factory=list)      # bulk zip members not unpacked


def open_download(path: Path, scratch: Path) -> Download:
    """The download at `path`: a folder as it is, or a bulk zip unpacked into `scratch`
    (members with unsafe names, links and members too large are reported, not unpacked)."""
    if path.is_dir():
        return Download(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise IntakeError(f"{path} is neither a folder nor a readable zip file ({error})") from None
    download = Download(scratch)
    scratch.mkdir(parents=True)
    with archive:
        for info in archive.infolist():
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if info.is_dir() or not parts or any(part in JUNK for part in parts):
                continue
            why = _unsafe(info, name, parts)
            if why:
                download.skipped.append(Unread(scratch / PurePosixPath(name).name, why))
                continue
            target = scratch.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as member, target.open("wb") as copy:
                shutil.copyfileobj(member, copy)
    return download


def _unsafe(info: zipfile.ZipInfo, name: str, parts: tuple[str, ...]) -> str | None:
    if name.startswith("/") or re.match(r"[A-Za-z]:", name) or ".." in parts:
        return f"an unsafe path in the bulk zip ({info.filename!r}), not unpacked"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"a symbolic link in the bulk zip ({info.filename!r}), not unpacked"
    if info.file_size > MAX_BULK_MEMBER_BYTES:
        return (f"larger than {MAX_BULK_MEMBER_BYTES // 2**30} GB in the bulk zip, "
                "not unpacked")
    return None
