"""Realistic LMS bulk downloads of one class, written by the tests.

    files = {"reference": {...}, "partial_adam": {...}, "blank": {...}}   # path -> bytes each
    write_canvas(folder, CLASS, files)      # or write_moodle, write_gradescope, write_blackboard
    bulk_zip(folder, zip_path)              # the same download as the one zip the LMS serves

CLASS is a dozen students as data: what each handed in (a sample's name; "broken" is an LMS
error page saved as the zip), when (every attempt, oldest first), how it was packed (the
collect_submission.py zip, loose files, or a zip of a folder deep inside other folders),
an extension granted outside the LMS, and whether the instructor's --times file lists
them. Each writer lays the class out as that LMS does (see autograder/grading/intake/ for
the formats): Canvas and Moodle keep only the last attempt (Canvas numbers a file uploaded
again "-1"), Gradescope lists earlier ones in its metadata's history, Blackboard's "all
attempts" download holds them all. Every file written gets the modification time
DOWNLOADED, after the deadline, as a real download has.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from autograder.manifest import load_manifest, manifest_path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))
DUE = MANIFEST.due
DOWNLOADED = DUE + dt.timedelta(days=20)   # when the instructor downloaded everything
BROKEN = "broken"                          # a sample that is an LMS error page, not a zip
ERROR_PAGE = b"<html><body>503 Service Unavailable</body></html>"
GRADESCOPE_ZONE = ZoneInfo("America/Los_Angeles")  # Gradescope writes times with an offset
BLACKBOARD_ZONE = ZoneInfo("America/New_York")     # the Blackboard server's local time
BLACKBOARD_ASSIGNMENT = "Homework 1"


@dataclass(frozen=True)
class Attempt:
    sample: str              # what was handed in: a sample's name, or BROKEN
    at: dt.datetime          # when


@dataclass(frozen=True)
class Student:
    key: str                           # a short handle, also the Blackboard username
    name: str                          # the display name, "Ada Lovelace"
    number: int                        # gives the other LMSs' ids
    attempts: tuple[Attempt, ...]      # oldest first
    packing: str = "zip"               # "zip", "loose" (each file on its own) or "nested"
    extension: dt.datetime | None = None  # own due date, granted outside the LMS
    in_times_file: bool = True         # listed in the instructor's --times file

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def canvas_id(self) -> str:
        return str(104200 + self.number)

    @property
    def canvas_name(self) -> str:   # Canvas's sortable name: "lovelaceada"
        first, last = self.name.split()
        return (last + first).lower()

    @property
    def moodle_id(self) -> str:
        return str(5300 + self.number)

    @property
    def sid(self) -> str:
        return f"2026{self.number:03d}"

    @property
    def email(self) -> str:
        return f"{self.key}@example.edu"

    def id_in(self, lms: str) -> str:
        """The student id each LMS's download carries (what grades.csv must say)."""
        return {"canvas": self.canvas_id, "moodle": self.moodle_id, "gradescope": self.sid,
                "blackboard": self.key}[lms]

    def name_in(self, lms: str) -> str:
        return self.canvas_name if lms == "canvas" else self.name


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> dt.datetime:
    """A moment relative to the due date."""
    return DUE + dt.timedelta(days=days, hours=hours, minutes=minutes)


CLASS = (
    Student("ada", "Ada Lovelace", 1, (Attempt("reference", at(days=-2)),)),
    Student("ben", "Ben Okafor", 2, (Attempt("partial_adam", at(hours=-3)),
                                     Attempt("reference", at(minutes=-10)))),   # resubmitted
    Student("cleo", "Cleo Park", 3, (Attempt("reference", at(minutes=10)),)),   # in the grace
    Student("dev", "Dev Patel", 4, (Attempt("reference", at(days=1, hours=3)),)),  # late
    Student("eve", "Eve Martin", 5, (Attempt("reference", at(hours=-3)),), packing="loose"),
    Student("finn", "Finn Murphy", 6, (Attempt("partial_adam", at(hours=-5)),)),
    Student("gus", "Gus Ramos", 7, (Attempt("reference", at(days=2)),),
            extension=at(days=3)),                                              # extended
    Student("hana", "Hana Sato", 8, (Attempt("reference", at(days=-1)),), packing="nested"),
    Student("ivy", "Ivy Chen", 9, (Attempt("blank", at(hours=-6)),), in_times_file=False),
    Student("jon", "Jon Berg", 10, (Attempt(BROKEN, at(hours=-1)),)),
    Student("kim", "Kim Novak", 11, (Attempt("reference", at(days=8)),)),        # past cut-off
    Student("lea", "Lea Roth", 12, (Attempt("reference", at(hours=5)),), in_times_file=False),
)


# --- what a student uploads --------------------------------------------------------------

def uploads(student: Student, attempt: Attempt, files: dict) -> list[tuple[str, bytes]]:
    """[(file name, content)] the student uploads for an attempt."""
    if attempt.sample == BROKEN:
        return [(MANIFEST.submission_zip, ERROR_PAGE)]
    handed_in = files[attempt.sample]
    if student.packing == "loose":
        return [(PurePosixPath(path).name, data) for path, data in sorted(handed_in.items())]
    if student.packing == "nested":
        handed_in = {f"Users/{student.key}/Desktop/{MANIFEST.id}/{path}": data
                     for path, data in handed_in.items()}
    return [(MANIFEST.submission_zip, zip_bytes(handed_in))]


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    return buffer.getvalue()


def canvas_late(student: Student) -> bool:
    """Canvas marks LATE against its own due date: extensions granted elsewhere do not count."""
    return student.last.at > DUE


# --- the layouts -------------------------------------------------------------------------

def write_canvas(folder: Path, students=CLASS, files: dict | None = None) -> Path:
    """Canvas's "Download Submissions": the last attempt's files of every student, named
    name[_LATE]_userid_fileid_filename; a name uploaded before gets "-1"."""
    file_id = 7_700_000
    for student in students:
        uploaded = {}  # file name -> times uploaded so far
        for attempt in student.attempts:
            names = []
            for name, data in uploads(student, attempt, files):
                count = uploaded.get(name, 0)
                uploaded[name] = count + 1
                stem, suffix = os.path.splitext(name)
                names.append((f"{stem}-{count}{suffix}" if count else name, data))
        prefix = "_".join([student.canvas_name, *(["LATE"] if canvas_late(student) else []),
                           student.canvas_id])
        for name, data in names:
            file_id += 1
            _write(folder / f"{prefix}_{file_id}_{name}", data)
    return _downloaded(folder)


def write_moodle(folder: Path, students=CLASS, files: dict | None = None) -> Path:
    """Moodle's "Download all submissions": a folder per student with the last attempt."""
    for student in students:
        student_folder = folder / f"{student.name}_{student.moodle_id}_assignsubmission_file_"
        for name, data in uploads(student, student.last, files):
            _write(student_folder / name, data)
    return _downloaded(folder)


def write_gradescope(folder: Path, students=CLASS, files: dict | None = None) -> Path:
    """Gradescope's "Export Submissions": assignment_<id>_export/ with submission_metadata.yml
    and a folder per active submission (uploaded zips unpacked)."""
    root = folder / "assignment_424242_export"
    records = []
    for student in students:
        ids = [f"{318_000_000 + student.number * 10 + number}"
               for number in range(len(student.attempts))]
        submission = root / f"submission_{ids[-1]}"
        for name, data in uploads(student, student.last, files):
            if name.endswith(".zip") and data != ERROR_PAGE:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for member in archive.namelist():
                        _write(submission / member, archive.read(member))
            else:
                _write(submission / name, data)
        history = "".join(f"  - :id: {old_id}\n    :created_at: {_ruby_time(old.at)}\n"
                          f"    :score: 0.0\n"
                          for old_id, old in zip(ids, student.attempts[:-1]))
        records.append(
            f"submission_{ids[-1]}:\n"
            f"  :submitters:\n"
            f"  - :name: {student.name}\n"
            f"    :sid: '{student.sid}'\n"
            f"    :email: {student.email}\n"
            f"  :created_at: {_ruby_time(student.last.at)}\n"
            f"  :score: 0.0\n"
            f"  :status: processed\n"
            f"  :results: {{}}\n"
            f"  :history:{' []' if not history else ''}\n{history}")
    _write(root / "submission_metadata.yml", "".join(records).encode())
    return _downloaded(folder)


def write_blackboard(folder: Path, students=CLASS, files: dict | None = None) -> Path:
    """Blackboard's "Assignment File Download" with all attempts: per attempt a receipt and
    its files, named assignment_username_attempt_time[_file], in the server's local time."""
    for student in students:
        for attempt in student.attempts:
            local = attempt.at.astimezone(BLACKBOARD_ZONE)
            prefix = f"{BLACKBOARD_ASSIGNMENT}_{student.key}_attempt_{local:%Y-%m-%d-%H-%M-%S}"
            listed = []
            for name, data in uploads(student, attempt, files):
                _write(folder / f"{prefix}_{name}", data)
                listed.append(f"\tOriginal filename: {name}\n\tFilename: {prefix}_{name}\n")
            receipt = (f"Name: {student.name} ({student.key})\n"
                       f"Assignment: {BLACKBOARD_ASSIGNMENT}\n"
                       f"Date Submitted: {local:%A, %B %d, %Y %I:%M:%S %p} {local.tzname()}\n"
                       "Current Grade: Needs Grading\n\n"
                       "Submission Field:\nThere is no student submission text data for this "
                       "assignment.\n\nComments:\nThere are no student comments for this "
                       "assignment.\n\nFiles:\n" + "".join(listed))
            _write(folder / f"{prefix}.txt", receipt.encode())
    return _downloaded(folder)


WRITERS = {"canvas": write_canvas, "moodle": write_moodle, "gradescope": write_gradescope,
           "blackboard": write_blackboard}


def recorded_time(student: Student, lms: str) -> dt.datetime | None:
    """The hand-in time the LMS's download records for the student's last attempt."""
    return student.last.at if lms in ("gradescope", "blackboard") else None


def bulk_zip(folder: Path, path: Path) -> Path:
    """The download as the one zip the LMS serves (its members dated as downloaded)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(folder.rglob("*")):
            if member.is_file():
                info = zipfile.ZipInfo(member.relative_to(folder).as_posix(),
                                       DOWNLOADED.timetuple()[:6])
                archive.writestr(info, member.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    _touch(path)
    return path


def times_csv(path: Path, students=CLASS, lms: str = "canvas") -> Path:
    """The instructor's --times file: the students it lists and their last hand-in time."""
    rows = [f"{student.id_in(lms)},{student.last.at.isoformat()}\n"
            for student in students if student.in_times_file]
    path.write_text("student_id,submitted_at\n" + "".join(rows), encoding="utf-8")
    return path


def extensions_csv(path: Path, students=CLASS, lms: str = "canvas") -> Path:
    rows = [f"{student.id_in(lms)},{student.extension.isoformat()}\n"
            for student in students if student.extension is not None]
    path.write_text("student_id,due\n" + "".join(rows), encoding="utf-8")
    return path


def _ruby_time(moment: dt.datetime) -> str:
    """As Ruby's YAML writes a Time: 2026-12-18 15:59:00.000000000 -08:00."""
    local = moment.astimezone(GRADESCOPE_ZONE)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond:06d}000 {offset[:3]}:{offset[3:]}"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _touch(path: Path) -> None:
    stamp = DOWNLOADED.timestamp()
    os.utime(path, (stamp, stamp))


def _downloaded(folder: Path) -> Path:
    """Every file and folder dated as downloaded: after the deadline."""
    for path in [*folder.rglob("*"), folder]:
        _touch(path)
    return folder
