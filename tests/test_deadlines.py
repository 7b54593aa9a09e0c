"""Deadlines (autograder/grading/deadlines.py): the late policy, how late a submission is and
what it costs, and the files of times instructors pass. Fast."""
import dataclasses
import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from autograder.grading.deadlines import (LatePolicy, TimesFileError, assess, duration_text,
                                          late_policy_from, parse_time, read_student_times)
from autograder.manifest import ManifestError, load_manifest, manifest_path
from autograder.release.handout import generated_blocks

REPO = Path(__file__).resolve().parents[1]
DUE = dt.datetime(2026, 12, 18, 23, 59, tzinfo=dt.timezone.utc)
UTC = dt.timezone.utc
POLICY = late_policy_from({"grace": "15 minutes", "penalty": "10% per day", "cutoff": "7 days"})
HOURLY = late_policy_from({"penalty": "2% per hour"})


def after(**span) -> dt.datetime:
    return DUE + dt.timedelta(**span)


# --- the policy ---------------------------------------------------------------------------

def test_a_policy_reads_as_written():
    assert POLICY == LatePolicy(dt.timedelta(minutes=15), 0.1, dt.timedelta(days=1),
                                dt.timedelta(days=7))
    assert POLICY.describe() == ("10% of the points off per started day after the due date; a "
                                 "grace period of 15 min; 0 points when more than 7 days late")
    assert late_policy_from({}) == LatePolicy() and LatePolicy().describe() == "no late penalty"


@pytest.mark.parametrize("table, message", [
    ({"penalty": "10 percent daily"}, "'penalty' is '10 percent daily'; write e.g. \"10% per day\""),
    ({"penalty": "0% per day"}, "more than 0%"),
    ({"grace": "soon"}, "'grace' is 'soon'; write a duration"),
    ({"grace": "2 days", "cutoff": "1 day"}, "'cutoff' must be longer than 'grace'"),
    ({"deadline": "2026-12-20"}, "'deadline' is not a late policy key"),
])
def test_a_bad_policy_is_refused_saying_why(table, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        late_policy_from(table)


def test_the_manifest_names_a_bad_policy(tmp_path):
    folder = tmp_path / "fcnet"
    folder.mkdir()
    text = manifest_path(REPO, "fcnet").read_text()
    (folder / "manifest.toml").write_text(text + '\n[late_policy]\npenalty = "lots"\n')
    with pytest.raises(ManifestError, match=r"manifest.toml: key 'late_policy' is invalid: "
                                            r"'penalty' is 'lots'"):
        load_manifest(folder / "manifest.toml")


def test_the_shipped_manifest_sets_no_penalty():
    assert load_manifest(manifest_path(REPO, "fcnet")).late_policy == LatePolicy()


# --- how late, and what it costs ----------------------------------------------------------

# (handed in, policy, late, late_hours, penalty, a phrase of the note or None)
CASES = {
    "before the due date": (after(hours=-1), POLICY, False, 0.0, 0.0, None),
    "on the dot": (DUE, POLICY, False, 0.0, 0.0, None),
    "within the grace": (after(minutes=15), POLICY, False, 0.0, 0.0,
                         "15 min after the due date (2026-12-18 23:59 UTC), within the 15 min "
                         "grace period: on time"),
    "just after the grace": (after(minutes=16), POLICY, True, 0.27, 0.1,
                             "late: handed in 2026-12-19 00:15 UTC, 16 min after the due date "
                             "(2026-12-18 23:59 UTC): 1 started day(s) at 10% each, penalty 10%"),
    "a whole day": (after(days=1), POLICY, True, 24.0, 0.1, "1 started day(s)"),
    "a day and a minute": (after(days=1, minutes=1), POLICY, True, 24.02, 0.2, "penalty 20%"),
    "at the cut-off": (after(days=7), POLICY, True, 168.0, 0.7, "penalty 70%"),
    "past the cut-off": (after(days=7, minutes=1), POLICY, True, 168.02, 1.0,
                         "past the cut-off of 7 days: penalty 100%, the grade is 0"),
    "hourly, capped": (after(hours=80), HOURLY, True, 80.0, 1.0, "80 started hour(s) at 2% each, "
                                                                 "penalty 100%"),
    "no policy": (after(hours=3), LatePolicy(), True, 3.0, 0.0,
                  "3 h after the due date (2026-12-18 23:59 UTC); the manifest sets no late penalty"),
}


@pytest.mark.parametrize("case", CASES)
def test_lateness(case):
    handed_in, policy, late, hours, penalty, phrase = CASES[case]
    lateness = assess(handed_in, DUE, policy)
    assert (lateness.late, lateness.late_hours, lateness.penalty) == (late, hours, penalty)
    assert lateness.submitted_at == handed_in and lateness.due == DUE
    if phrase is None:
        assert lateness.note is None
    else:
        assert phrase in lateness.note


def test_an_unknown_time_is_never_late():
    lateness = assess(None, DUE, POLICY)
    assert (lateness.late, lateness.late_hours, lateness.penalty) == (None, None, 0.0)
    assert lateness.note == "hand-in time unknown, so not marked late"


def test_an_lms_late_marker_without_a_time_pays_one_period_never_the_cut_off():
    lateness = assess(None, DUE, POLICY, marked_late_by="Canvas")
    assert (lateness.late, lateness.late_hours, lateness.penalty) == (True, None, 0.1)
    assert lateness.note == ("late: Canvas marked it late but records no time, so it pays one "
                             "day's penalty, 10% (--times gives the exact amount)")
    assert assess(None, DUE, LatePolicy(), marked_late_by="Canvas").penalty == 0.0


def test_an_extension_moves_the_due_date():
    extended = after(days=3)
    on_time = assess(after(days=2), extended, POLICY, extended_from=DUE)
    assert (on_time.late, on_time.penalty, on_time.due) == (False, 0.0, extended)
    assert "before the student's extension to 2026-12-21 23:59 UTC: on time" in on_time.note
    late = assess(after(days=4), extended, POLICY, extended_from=DUE)
    assert (late.late, late.late_hours, late.penalty) == (True, 24.0, 0.1)
    assert "1 day after the extended due date (2026-12-21 23:59 UTC)" in late.note
    # The LMS's LATE was against its own due date: with an extension, unknown is not late.
    marked = assess(None, extended, POLICY, extended_from=DUE, marked_late_by="Canvas")
    assert (marked.late, marked.penalty) == (None, 0.0)


@pytest.mark.parametrize("span, text", [(dt.timedelta(seconds=10), "1 min"),
                                        (dt.timedelta(minutes=75), "1 h 15 min"),
                                        (dt.timedelta(days=2, hours=3), "2 days 3 h"),
                                        (dt.timedelta(days=1), "1 day")])
def test_durations_read_well(span, text):
    assert duration_text(span) == text


# --- times as people and LMSs write them --------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2026-12-18T23:59:00+01:00", dt.datetime(2026, 12, 18, 22, 59, tzinfo=UTC)),
    ("2026-12-18 23:59", dt.datetime(2026, 12, 18, 22, 59, tzinfo=UTC)),  # read in Berlin
    ("Friday, 18 December 2026, 11:45 PM", dt.datetime(2026, 12, 18, 22, 45, tzinfo=UTC)),
    ("Friday, December 18, 2026 6:59:00 PM EST", dt.datetime(2026, 12, 18, 23, 59, tzinfo=UTC)),
    ("Friday, 18 December 2026 23:59:00 o'clock GMT", dt.datetime(2026, 12, 18, 23, 59, tzinfo=UTC)),
    ("2026-12-18 15:59:00.123456000 -08:00", dt.datetime(2026, 12, 18, 23, 59, 0, 123456, tzinfo=UTC)),
])
def test_times_are_read_as_lmss_write_them(text, expected):
    assert parse_time(text, ZoneInfo("Europe/Berlin")) == expected


@pytest.mark.parametrize("text, message", [("2026-12-18", "has no time of day"),
                                           ("18:00 XYZT", "names a time zone this tool does not know"),
                                           ("soon, 12:00", "is not a date and time")])
def test_times_that_cannot_be_read_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_time(text, UTC)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_times_file_of_ours(tmp_path):
    path = write(tmp_path / "times.csv", "student_id,submitted_at\n123,2026-12-19T01:00:00Z\n"
                                         "124,2026-12-18 20:00\n125,\n")
    times = read_student_times(path, ("submitted_at",), ZoneInfo("America/New_York"), required=False)
    assert times == {"123": dt.datetime(2026, 12, 19, 1, tzinfo=UTC),
                     "124": dt.datetime(2026, 12, 19, 1, tzinfo=UTC)}


def test_moodles_grading_worksheet_is_a_times_file(tmp_path):
    path = write(tmp_path / "Grades-CS101-fcnet.csv", (
        "\ufeffIdentifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        'Participant 5301,Ada Lovelace,ada@example.edu,Submitted for grading,,99.00,Yes,'
        '"Wednesday, 16 December 2026, 11:59 PM",-,\n'
        "Participant 5302,Ben Okafor,ben@example.edu,No submission,,99.00,Yes,-,-,\n"))
    times = read_student_times(path, ("submitted_at", "Last modified (submission)"), UTC,
                               required=False)
    assert times == {"5301": dt.datetime(2026, 12, 16, 23, 59, tzinfo=UTC)}


@pytest.mark.parametrize("text, message", [
    ("id,when\n1,2026-12-18T10:00Z\n", "needs the columns student_id and due (found: id, when)"),
    ("student_id,due\n1,tomorrow 10:00\n", "extensions.csv, line 2: due 'tomorrow 10:00' is not a date"),
    ("student_id,due\n1,2026-12-20\n", "extensions.csv, line 2: due '2026-12-20' has no time of day"),
    ("student_id,due\n1,2026-12-20T10:00Z\n1,2026-12-21T10:00Z\n", "line 3: 1 is listed twice"),
    ("student_id,due\n1,\n", "line 2: no due for 1"),
])
def test_a_bad_extensions_file_names_the_file_and_line(tmp_path, text, message):
    path = write(tmp_path / "extensions.csv", text)
    with pytest.raises(TimesFileError, match=re.escape(message)):
        read_student_times(path, ("due",), UTC, required=True)


def test_a_missing_times_file_is_named(tmp_path):
    with pytest.raises(TimesFileError, match="times.csv does not exist"):
        read_student_times(tmp_path / "times.csv", ("submitted_at",), UTC, required=False)


def test_students_read_the_policy_in_their_handout_when_there_is_one():
    manifest = load_manifest(manifest_path(REPO, "fcnet"))
    with_policy = generated_blocks(dataclasses.replace(manifest, late_policy=POLICY), [], {})
    assert f"**Late:** {POLICY.describe()}  \n" in with_policy["summary"]
    assert "**Late:**" not in generated_blocks(manifest, [], {})["summary"]
