"""Deadlines: when each student's work was due, how late it came, and what that costs.

    policy = late_policy_from({"grace": "15 minutes", "penalty": "10% per day"})
    lateness = assess(handed_in, due, policy)        # Lateness(late_hours=27.0, penalty=0.2, ...)

The rules, set in the manifest's [late_policy] table (without one, nothing is charged):
- due: the manifest's due date, or the student's own one from --extensions;
- grace: a submission at most this long after its due date counts as on time;
- penalty: "P% per day" or "P% per hour": for every started day (hour) after the due date,
  P% of the points the submission earns are taken away, at most all of them; grades.csv's
  late_penalty is that share, and the final grade is earned points x (1 - late_penalty);
- cutoff: a submission more than this long after its due date scores 0 (late_penalty 1).

A hand-in time comes from the LMS (its file names, metadata or attempt files) or from the
instructor's --times file, never from a file's modification time: a download is always made
after the deadline. Without a time a submission is not marked late. When the LMS only says
that it was late (Canvas's LATE marker), the submission pays one period's penalty, the least
any late submission pays, and never the cut-off: --times gives the exact amount.
"""
from __future__ import annotations

import csv
import datetime as dt
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from dateutil import parser as date_parser
from dateutil.tz import tzoffset

UTC = dt.timezone.utc
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
_PERIODS = {"day": DAY, "hour": HOUR}
_UNITS = {"minute": dt.timedelta(minutes=1), "hour": HOUR, "day": DAY, "week": 7 * DAY}
_DURATION = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>minute|hour|day|week)s?")
_PENALTY = re.compile(r"(?P<percent>\d+(?:\.\d+)?)\s*%\s*per\s+(?P<period>day|hour)")
_POLICY_KEYS = ("grace", "penalty", "cutoff")
# Zone abbreviations LMSs write after times (Blackboard's attempt files, Moodle's worksheet).
# Only unambiguous ones, and the North American reading of CST; any other abbreviation is
# an error rather than a guess.
ZONE_ABBREVIATIONS = {name: tzoffset(name, round(hours * 3600)) for name, hours in {
    "UTC": 0, "GMT": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "EET": 2,
    "EEST": 3, "MSK": 3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "AWST": 8, "SGT": 8, "HKT": 8,
    "JST": 9, "KST": 9, "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12,
    "NZDT": 13}.items()}
TIME_UNKNOWN = "hand-in time unknown, so not marked late"


@dataclass(frozen=True)
class LatePolicy:
    grace: dt.timedelta = dt.timedelta(0)
    rate: float = 0.0               # share of the earned points taken per started period
    period: dt.timedelta = DAY
    cutoff: dt.timedelta | None = None  # after the due date: the submission scores 0

    @property
    def period_name(self) -> str:
        return "day" if self.period == DAY else "hour"

    def describe(self) -> str:
        """One sentence for students and the grading output."""
        parts = []
        if self.rate:
            parts.append(f"{_percent(self.rate)} of the points off per started "
                         f"{self.period_name} after the due date")
        if self.grace:
            parts.append(f"a grace period of {duration_text(self.grace)}")
        if self.cutoff is not None:
            parts.append(f"0 points when more than {duration_text(self.cutoff)} late")
        return "; ".join(parts) if parts else "no late penalty"


@dataclass(frozen=True)
class Lateness:
    """How late one submission was and what that costs (grades.csv's columns)."""
    due: dt.datetime                      # the student's due date (extension applied), UTC
    submitted_at: dt.datetime | None      # UTC; None: unknown
    late: bool | None                     # None: unknown
    late_hours: float | None              # hours after the due date; 0 on time; None: unknown
    penalty: float                        # share of the earned points taken away, 0..1
    note: str | None = None               # for the status, when there is something to say


def late_policy_from(table: dict) -> LatePolicy:
    """The policy of a manifest's [late_policy] table; ValueError naming the bad key."""
    unknown = sorted(set(table) - set(_POLICY_KEYS))
    if unknown:
        raise ValueError(f"'{unknown[0]}' is not a late policy key (known keys: "
                         f"{', '.join(_POLICY_KEYS)})")
    policy = {}
    for key in ("grace", "cutoff"):
        if key in table:
            policy[key] = parse_duration(table[key], key)
    if "penalty" in table:
        match = _PENALTY.fullmatch(str(table["penalty"]).strip())
        if not match or not 0 < float(match["percent"]) <= 100:
            raise ValueError(f"'penalty' is {table['penalty']!r}; write e.g. \"10% per day\" or "
                             "\"2% per hour\" (more than 0%, at most 100%)")
        policy["rate"] = float(match["percent"]) / 100
        policy["period"] = _PERIODS[match["period"]]
    if "cutoff" in policy and policy["cutoff"] <= policy.get("grace", dt.timedelta(0)):
        raise ValueError("'cutoff' must be longer than 'grace'")
    return LatePolicy(**policy)


def parse_duration(value, key: str) -> dt.timedelta:
    match = _DURATION.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f"'{key}' is {value!r}; write a duration such as \"15 minutes\", "
                         "\"2 hours\" or \"7 days\"")
    return float(match["amount"]) * _UNITS[match["unit"]]


def assess(submitted_at: dt.datetime | None, due: dt.datetime, policy: LatePolicy,
           extended_from: dt.datetime | None = None,
           marked_late_by: str | None = None) -> Lateness:
    """The lateness of a submission handed in at `submitted_at` (None: unknown) against its
    due date `due`; `extended_from`: the assignment's due date when `due` is the student's
    extension; `marked_late_by`: the LMS that flagged it late without recording a time."""
    due = due.astimezone(UTC)
    if submitted_at is None:
        return _without_time(due, policy, extended_from is not None, marked_late_by)
    submitted_at = submitted_at.astimezone(UTC)
    handed_in = f"handed in {_moment(submitted_at)}"
    late_by = submitted_at - due
    if late_by <= dt.timedelta(0):
        helped = extended_from is not None and submitted_at > extended_from
        return Lateness(due, submitted_at, False, 0.0, 0.0,
                        f"{handed_in}, after the due date but before the student's extension "
                        f"to {_moment(due)}: on time" if helped else None)
    which = "extended due date" if extended_from is not None else "due date"
    amount = f"{duration_text(late_by)} after the {which} ({_moment(due)})"
    if late_by <= policy.grace:
        return Lateness(due, submitted_at, False, 0.0, 0.0,
                        f"{handed_in}, {amount}, within the {duration_text(policy.grace)} grace "
                        "period: on time")
    hours = round(late_by / HOUR, 2)
    if policy.cutoff is not None and late_by > policy.cutoff:
        return Lateness(due, submitted_at, True, hours, 1.0,
                        f"late: {handed_in}, {amount}, past the cut-off of "
                        f"{duration_text(policy.cutoff)}: penalty 100%, the grade is 0")
    if not policy.rate:
        return Lateness(due, submitted_at, True, hours, 0.0,
                        f"late: {handed_in}, {amount}; the manifest sets no late penalty")
    periods = math.ceil(late_by / policy.period)
    penalty = round(min(1.0, periods * policy.rate), 6)
    return Lateness(due, submitted_at, True, hours, penalty,
                    f"late: {handed_in}, {amount}: {periods} started {policy.period_name}(s) at "
                    f"{_percent(policy.rate)} each, penalty {_percent(penalty)}")


def _without_time(due, policy, extended, marked_late_by) -> Lateness:
    if marked_late_by is None:
        return Lateness(due, None, None, None, 0.0, TIME_UNKNOWN)
    if extended:
        return Lateness(due, None, None, None, 0.0,
                        f"{marked_late_by} marked it late against its own due date, but the "
                        f"student has an extension to {_moment(due)} and no hand-in time is "
                        "known, so it is not marked late (--times gives the time)")
    flagged = f"late: {marked_late_by} marked it late but records no time"
    if not policy.rate:
        return Lateness(due, None, True, None, 0.0,
                        f"{flagged}; the manifest sets no late penalty")
    return Lateness(due, None, True, None, policy.rate,
                    f"{flagged}, so it pays one {policy.period_name}'s penalty, "
                    f"{_percent(policy.rate)} (--times gives the exact amount)")


def duration_text(span: dt.timedelta) -> str:
    """"2 days 3 h", "3 h 5 min", "12 min"."""
    minutes = max(1, round(span / dt.timedelta(minutes=1)))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    return f"{hours} h" + (f" {minutes} min" if minutes else "") if hours else f"{minutes} min"


def iso_utc(moment: dt.datetime | None) -> str:
    """ISO 8601 in UTC, e.g. 2026-12-18T23:59:00Z ("" for None), as grades.csv writes it."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(moment: dt.datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


# --- times written by people and LMSs ----------------------------------------------------------

def parse_time(text: str, timezone: dt.tzinfo) -> dt.datetime:
    """A date and time as LMSs and spreadsheets write them ("2026-12-18T23:59:00+01:00",
    "Friday, 18 December 2026, 11:45 PM", "Monday, December 18, 2026 11:10:05 PM EST"), in
    UTC; without a zone it is read in `timezone`. ValueError when it is not one, has no time
    of day, or names a zone abbreviation that is not in ZONE_ABBREVIATIONS."""
    cleaned = text.replace("o'clock", "").strip()
    if not re.search(r"\d:\d\d|T\d{4}|\d{8}T\d{6}", cleaned):
        raise ValueError(f"{text!r} has no time of day")
    with warnings.catch_warnings():
        warnings.simplefilter("error", date_parser.UnknownTimezoneWarning)
        try:
            moment = date_parser.parse(cleaned, tzinfos=ZONE_ABBREVIATIONS)
        except date_parser.UnknownTimezoneWarning as unknown:
            raise ValueError(f"{text!r} names a time zone this tool does not know "
                             f"({unknown}); write the time with an offset such as +01:00") from None
        except (ValueError, OverflowError):
            raise ValueError(f"{text!r} is not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    return moment.astimezone(UTC)


class TimesFileError(ValueError):
    """A --times or --extensions file cannot be used; the message names the file and line."""


# The columns a file of times may use: ours, and those of Moodle's grading worksheet
# ("Identifier" is "Participant 12345"; "Last modified (submission)" is "-" when none).
_ID_COLUMNS = ("student_id", "Identifier")
_NO_TIME = ("", "-")


def read_student_times(path: Path, time_columns: tuple[str, ...], timezone: dt.tzinfo,
                       required: bool) -> dict[str, dt.datetime]:
    """{student id: time} from a CSV file with a student_id column and one of
    `time_columns`; rows without a time are skipped unless `required`."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            rows = list(csv.DictReader(file))
            header = rows[0].keys() if rows else []
    except FileNotFoundError:
        raise TimesFileError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TimesFileError(f"{path} cannot be read as a CSV file ({error})") from None
    id_column = next((name for name in _ID_COLUMNS if name in header), None)
    time_column = next((name for name in time_columns if name in header), None)
    if id_column is None or time_column is None:
        raise TimesFileError(f"{path} needs the columns {_ID_COLUMNS[0]} and {time_columns[0]} "
                             f"(found: {', '.join(header) or 'no rows'})")
    times = {}
    for line, row in enumerate(rows, start=2):
        student = (row[id_column] or "").strip().removeprefix("Participant ").strip()
        text = (row[time_column] or "").strip()
        if not student or text in _NO_TIME:
            if required and student:
                raise TimesFileError(f"{path}, line {line}: no {time_column} for {student}")
            continue
        if student in times:
            raise TimesFileError(f"{path}, line {line}: {student} is listed twice")
        try:
            times[student] = parse_time(text, timezone)
        except ValueError as error:
            raise TimesFileError(f"{path}, line {line}: {time_column} {error}") from None
    return times
