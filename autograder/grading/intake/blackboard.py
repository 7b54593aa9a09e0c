"""Blackboard Learn's "Assignment File Download" (Grade Centre): a flat folder of renamed files.

    Homework 1_jdoe_attempt_2026-12-18-23-10-05.txt                       the attempt's receipt
    Homework 1_jdoe_attempt_2026-12-18-23-10-05_hw1_submission.zip     each file of the attempt

Every file of an attempt is named assignment_username_attempt_time_originalname; the time is
the server's local time. The receipt holds, among other lines:

    Name: Jane Doe (jdoe)
    Date Submitted: Monday, December 18, 2026 11:10:05 PM EST
    Files:
        Original filename: hw1_submission.zip
        Filename: Homework 1_jdoe_attempt_2026-12-18-23-10-05_hw1_submission.zip

The student id is the Blackboard username (the "Username" column of its Grade Centre), the
hand-in time the receipt's "Date Submitted" when its zone is known, else the time in the
file names read in --timezone. With "all attempts" downloaded, each attempt is a submission
of its own and the newest is graded.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ..deadlines import UTC, parse_time
from ..submissions import Source
from .layout import Handin, Layout, Reading, items

_NAME = re.compile(r"(?P<prefix>.+)_attempt_(?P<stamp>\d{4}(?:-\d\d){5})"
                   r"(?:_(?P<original>.+)|(?P<receipt>\.txt))")
_PERSON = re.compile(r"^Name:\s*(?P<name>.*?)\s*\((?P<user>[^()\s]+)\)\s*$", re.M | re.I)
_SUBMITTED = re.compile(r"^Date Submitted:\s*(?P<date>.+?)\s*$", re.M | re.I)
_FILE = re.compile(r"^\s*Original filename:\s*(?P<original>.+?)\s*\n"
                   r"\s*Filename:\s*(?P<stored>.+?)\s*$", re.M | re.I)
_RECEIPT_BYTES = 1_000_000  # a receipt is a few lines; the student's comment is in it too


class Blackboard(Layout):
    name = "blackboard"
    title = "Blackboard"
    shape = "assignment_username_attempt_YYYY-MM-DD-HH-MM-SS_file and .txt receipts"
    times = "Blackboard records the time of every attempt (receipts and file names)"

    def read(self, folder: Path, timezone: dt.tzinfo) -> Reading:
        reading = Reading()
        attempts = {}  # (prefix, stamp) -> {"receipt": path | None, "files": [(path, original)]}
        for path in items(folder):
            match = _NAME.fullmatch(path.name)
            if match is None or path.is_dir():
                reading.unread.append(self.not_mine(path))
                continue
            attempt = attempts.setdefault((match["prefix"], match["stamp"]),
                                          {"receipt": None, "files": []})
            if match["receipt"]:
                attempt["receipt"] = path
            else:
                attempt["files"].append((path, match["original"]))
        for (prefix, stamp), attempt in attempts.items():
            reading.handins.append(_handin(prefix, stamp, attempt, timezone))
        return reading


def _handin(prefix: str, stamp: str, attempt: dict, timezone: dt.tzinfo) -> Handin:
    receipt = _receipt(attempt["receipt"])
    user = receipt.get("user", "")
    if not (user and prefix.endswith("_" + user)):  # usernames may hold "_"; receipts know
        user = prefix.rpartition("_")[2]
    notes = []
    submitted_at = None
    if "date" in receipt:
        try:
            submitted_at = parse_time(receipt["date"], timezone)
        except ValueError as error:
            notes.append(f"the receipt's date is not used ({error})")
    if submitted_at is None:
        submitted_at = dt.datetime.strptime(stamp, "%Y-%m-%d-%H-%M-%S").replace(
            tzinfo=timezone).astimezone(UTC)
    originals = receipt.get("originals", {})
    sources = tuple(Source(path, originals.get(path.name, original))
                    for path, original in attempt["files"])
    if not sources:  # named by its receipt in the status
        sources = (Source(attempt["receipt"]),)
    return Handin(user, sources, receipt.get("name", ""), submitted_at, notes=tuple(notes),
                  problem=None if attempt["files"] else
                  "a Blackboard attempt without a file (only its receipt)")


def _receipt(path: Path | None) -> dict:
    if path is None:
        return {}
    with path.open("rb") as file:
        text = file.read(_RECEIPT_BYTES).decode("utf-8-sig", errors="replace")
    found = {"originals": {match["stored"]: match["original"] for match in _FILE.finditer(text)}}
    if person := _PERSON.search(text):
        found.update(name=person["name"], user=person["user"])
    if submitted := _SUBMITTED.search(text):
        found["date"] = submitted["date"]
    return found

