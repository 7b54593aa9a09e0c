"""Where a batch stands: which entries are graded already, so that a run that was
interrupted (Ctrl-C, a crash, a reboot) continues where it stopped.

    progress = Progress(paths.progress, Regrade.asked(regrade_all, only))
    keys = {entry.student_id: entry_key(entry, lateness, grader_digest(...)) ...}
    plan = progress.plan(entries, keys, in_gradebook)   # what to grade; results of the rest
    ... for each result, once everything of it is in OUT: progress.save(result, key) ...
    progress.finished()

    OUT/progress/entries/<student>.json   one per graded entry, written last, atomically and
                                          synced: when it is there, the entry's rows,
                                          gradebook scores and files are all in OUT
    OUT/progress/unfinished_run.json      the run under way (removed when a run ends)

An entry is graded again when its record is missing, when its key differs (the
submission's files, its lateness, or the grader: source, settings, autograder code, time
limits), when its grading failed for a reason of the grader's (a crash, a worker that
died, hidden checks that could not run; a student's own failure is a result and stays),
when the gradebook has no submission of it, and when the run was asked to regrade it
(--regrade-all, --only) and has not done so yet: an interrupted forced run that is started
again with the same request continues too, it does not start over.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from ..checks import checks_folder
from ..manifest import Manifest
from .course import CONFIG_FILE
from .deadlines import Lateness
from .gradebook import open_gradebook
from .submissions import Entry
from .task import CellResult, GradingResult, Limits
from .time_limits import cell_times_path

RECORD_VERSION = 1
_CHUNK = 1 << 20
_AUTOGRADER = Path(__file__).resolve().parents[1]

# Why an entry is graded (again); the plan counts them.
NEW, CHANGED, GRADER_CHANGED, RETRIED, NOT_IN_GRADEBOOK, ASKED = (
    "not graded yet", "changed since (a new upload, its name or its lateness)",
    "graded by a different grader (its source, settings, code or time limits changed since)",
    "retried (its grading failed for a reason of the grader's, not the student's)",
    "missing from the gradebook", "asked for")


@dataclass(frozen=True)
class EntryKey:
    """What an entry's result depends on, as digests: equal keys, equal results."""
    submission: str  # the entry as the download holds it: its files, names and notes
    lateness: str    # its hand-in time, due date and what lateness costs
    grader: str      # everything that grades it (grader_digest)


@dataclass(frozen=True)
class Regrade:
    """The students a run must grade again even when their records are up to date."""
    everyone: bool = False
    students: tuple[str, ...] = ()   # sorted

    @classmethod
    def asked(cls, regrade_all: bool, only: list[str] | None) -> Regrade:
        """--regrade-all: everyone; --only: the students it names (whatever else is asked)."""
        if only is not None:
            return cls(students=tuple(sorted(set(only))))
        return cls(everyone=regrade_all)

    def covers(self, student_id: str) -> bool:
        return self.everyone or student_id in self.students

    def as_data(self) -> dict:
        return {"everyone": self.everyone, "students": list(self.students)}


@dataclass(frozen=True)
class Plan:
    to_grade: list[Entry]              # in the order given
    done: dict[str, GradingResult]     # student id: the recorded result of an entry kept
    reasons: Counter = field(default_factory=Counter)  # why the entries to_grade are graded
    continued: bool = False            # continues a run that did not finish

    def describe(self) -> list[str]:
        """What the run will do, in a sentence or two."""
        lines = []
        if self.continued:
            lines.append("Continuing the run that did not finish.")
        if self.done:
            lines.append(f"Skipping {len(self.done)} submission(s) graded before and unchanged "
                         "since (--regrade-all grades them again).")
        if self.to_grade and (self.done or set(self.reasons) - {NEW}):
            reasons = "; ".join(f"{count} {why}" for why, count in self.reasons.most_common())
            lines.append(f"Grading {len(self.to_grade)}: {reasons}.")
        return lines


class Progress:
    """The progress records of one output folder, for one run."""

    def __init__(self, folder: Path, regrade: Regrade = Regrade()):
        self.folder, self.regrade = folder, regrade
        self._entries = folder / "entries"
        unfinished = _read_json(self._run_file)
        self.continued = (unfinished is not None
                          and unfinished.get("regrade") == regrade.as_data())
        self.run = unfinished["run"] if self.continued else uuid.uuid4().hex

    @property
    def _run_file(self) -> Path:
        return self.folder / "unfinished_run.json"

    def plan(self, entries: list[Entry], keys: dict[str, EntryKey],
             in_gradebook: set[str]) -> Plan:
        """Which entries to grade and why; the recorded results of the others. Marks the run
        as under way (until finished())."""
        to_grade, done, reasons = [], {}, Counter()
        for entry in entries:
            record = _read_json(self._record_file(entry.student_id))
            why = self._why_grade(record, entry.student_id, keys[entry.student_id],
                                  entry.student_id in in_gradebook)
            if why is None:
                done[entry.student_id] = result_from_data(record["result"])
            else:
                to_grade.append(entry)
                reasons[why] += 1
        write_atomically(self._run_file, {"run": self.run, "regrade": self.regrade.as_data(),
                                          "started": _now()})
        return Plan(to_grade, done, reasons, self.continued)

    def _why_grade(self, record: dict | None, student_id: str, key: EntryKey,
                   in_gradebook: bool) -> str | None:
        if record is None or record.get("version") != RECORD_VERSION:
            return NEW
        if record["grader_fault"]:
            return RETRIED
        recorded = EntryKey(**record["key"])
        if recorded.grader != key.grader:
            return GRADER_CHANGED
        if recorded != key:
            return CHANGED
        if not in_gradebook:
            return NOT_IN_GRADEBOOK
        if self.regrade.covers(student_id) and record["run"] != self.run:
            return ASKED
        return None

    def save(self, result: GradingResult, key: EntryKey) -> None:
        """Record the result, durably: call once everything of it is in OUT."""
        write_atomically(self._record_file(result.student_id), {
            "version": RECORD_VERSION, "key": asdict(key), "run": self.run,
            "graded_at": _now(), "grader_fault": result.grader_fault,
            "result": result_data(result)})

    def graded_at(self, student_id: str) -> str | None:
        """When the entry's recorded result was graded (ISO 8601), None if never."""
        record = _read_json(self._record_file(student_id))
        return None if record is None else record["graded_at"]

    def finished(self) -> None:
        """The run ended: the next one starts afresh."""
        self._run_file.unlink(missing_ok=True)

    def _record_file(self, student_id: str) -> Path:
        return self._entries / f"{student_id}.json"


def submitted_students(db_url: str, assignment: str) -> set[str]:
    """The students with a submission of the assignment in the gradebook."""
    with open_gradebook(db_url) as gradebook:
        return {submission.student_id
                for submission in gradebook.find_assignment(assignment).submissions}


# --- keys -------------------------------------------------------------------------------------

def entry_key(entry: Entry, lateness: Lateness, grader: str) -> EntryKey:
    submission = hashlib.sha256()
    _add(submission, entry.name, entry.problem or "", *entry.notes)
    for source in entry.sources:
        _add(submission, source.path.name, source.upload_name)
        files = ([source.path] if source.path.is_file() else
                 sorted(path for path in source.path.rglob("*") if path.is_file()))
        for path in files:
            _add(submission, path.relative_to(source.path).as_posix() if path != source.path else "")
            _add_file(submission, path)
    return EntryKey(submission.hexdigest(),
                    hashlib.sha256(repr(lateness).encode()).hexdigest(), grader)


def grader_digest(course_root: Path, manifest: Manifest, limits: Limits) -> str:
    """A digest of everything that decides a grade besides the submission: the assignment's
    source and release notebooks, the course's nbgrader settings, the manifest and measured
    cell times, its hidden checks, the autograder's code, and the time limits."""
    source = course_root / "source" / manifest.id
    release = course_root / "release" / manifest.id
    files = {f"source/{path.relative_to(source).as_posix()}": path
             for path in sorted(source.rglob("*")) if path.is_file() and not any(
                 fnmatch(part, pattern) for part in path.relative_to(source).parts
                 for pattern in manifest.local_only_patterns)}
    files |= {f"release/{name}": release / name for name in manifest.notebooks}
    files |= {name: path for name, path in (("settings", course_root / CONFIG_FILE),
                                            ("manifest", manifest.path),
                                            ("cell times", cell_times_path(manifest)))}
    files |= {f"autograder/{path.relative_to(_AUTOGRADER).as_posix()}": path
              for path in sorted(_AUTOGRADER.rglob("*.py"))}
    checks = checks_folder(course_root, manifest.id)
    files |= {f"checks/{path.relative_to(checks).as_posix()}": path for path in sorted(checks.rglob("*.py"))}
    digest = hashlib.sha256()
    _add(digest, repr(limits))
    for name, path in files.items():
        _add(digest, name)
        if path.is_file():
            _add_file(digest, path)
    return digest.hexdigest()


def _add(digest, *texts: str) -> None:
    for text in texts:
        digest.update(text.encode() + b"\0")


def _add_file(digest, path: Path) -> None:
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    digest.update(b"\0")


# --- results as data --------------------------------------------------------------------------

def result_data(result: GradingResult) -> dict:
    """The result as JSON-able data (without its scratch files, which are gone by then)."""
    lateness = result.lateness
    return {"student_id": result.student_id, "entry_name": result.entry_name,
            "status": result.status, "cells": [asdict(cell) for cell in result.cells],
            "timestamp": result.timestamp, "seconds": result.seconds, "name": result.name,
            "grader_fault": result.grader_fault,
            "lateness": None if lateness is None else {
                **asdict(lateness), "due": lateness.due.isoformat(),
                "submitted_at": _iso(lateness.submitted_at)}}


def result_from_data(data: dict) -> GradingResult:
    lateness = data["lateness"]
    if lateness is not None:
        lateness = Lateness(**{**lateness, "due": dt.datetime.fromisoformat(lateness["due"]),
                               "submitted_at": _moment(lateness["submitted_at"])})
    return GradingResult(data["student_id"], data["entry_name"], data["status"],
                         tuple(CellResult(**cell) for cell in data["cells"]), data["timestamp"],
                         seconds=data["seconds"], name=data["name"], lateness=lateness,
                         grader_fault=data["grader_fault"])


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


# --- files ------------------------------------------------------------------------------------

def write_atomically(path: Path, data: dict) -> None:
    """Write JSON so that a crash or power cut leaves the old file or the new one, whole:
    a new file, synced, renamed over the old one, and the folder synced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _read_json(path: Path) -> dict | None:
    """The file's data; None when it is missing or unreadable (then it counts as not there)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
