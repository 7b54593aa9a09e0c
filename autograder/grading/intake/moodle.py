"""Moodle's "Download all submissions": a folder per student and submission plugin.

    Jane Doe_12345_assignsubmission_file_/hw1_submission.zip     (or loose files, subfolders)
    Jane Doe_12345_assignsubmission_onlinetext_/onlinetext.html    the online text, if enabled
    Participant_12345_assignsubmission_file_/...                    blind marking
    Jane Doe_12345_assignsubmission_file_hw1_submission.zip       "download as folders" off

The number is the participant id Moodle gives the student in this assignment: the
"Identifier" ("Participant 12345") of its grading worksheet, so grades go back to the
right student. The full name comes first ("_" in it written as " "). Moodle's download
records no hand-in time; its grading worksheet does ("Last modified (submission)"), and
--times reads that worksheet as it is.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ..submissions import Source
from .layout import Handin, Layout, Reading, items

_NAME = re.compile(r"(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<rest>.*)")
_BLIND = "Participant"  # Moodle's English word for an anonymous student


class Moodle(Layout):
    name = "moodle"
    title = "Moodle"
    shape = "Full Name_participantid_assignsubmission_file_ folders"
    times = ("Moodle records no hand-in times in its download: give them with --times "
             "(its grading worksheet, as downloaded, will do)")

    def read(self, folder: Path, timezone: dt.tzinfo) -> Reading:
        reading = Reading()
        students = {}  # participant id -> {"name": ..., "files": [Source], "other": [path]}
        for path in items(folder):
            match = _NAME.fullmatch(path.name)
            # A folder's name ends with the plugin's "_"; a file's goes on with its own name.
            if match is None or bool(match["rest"]) == path.is_dir():
                reading.unread.append(self.not_mine(path))
                continue
            student = students.setdefault(match["id"], {"name": match["name"], "files": [],
                                                        "other": []})
            if match["plugin"] == "file":
                student["files"].append(Source(path, match["rest"]))
            else:
                student["other"].append(path)
        for participant, student in students.items():
            name = "" if student["name"] == _BLIND else student["name"]
            others = tuple(f"its {_plugin(path)} ({path.name}) is not graded"
                           for path in student["other"])
            if student["files"]:
                reading.handins.append(Handin(participant, tuple(student["files"]), name=name,
                                              notes=others))
            else:
                reading.handins.append(Handin(
                    participant, tuple(Source(path) for path in student["other"]), name=name,
                    problem=f"no file submission, only {_plugin(student['other'][0])}"))
        return reading


def _plugin(path: Path) -> str:
    plugin = _NAME.fullmatch(path.name)["plugin"]
    return "online text" if plugin == "onlinetext" else f"Moodle {plugin} submission"
