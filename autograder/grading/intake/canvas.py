"""Canvas's "Download Submissions": one file per uploaded file, all in one folder.

    doejane_123456_7890123_hw1_submission.zip        name_userid_fileid_originalname
    doejane_LATE_123456_7890124_layers.py              LATE: Canvas counted it late
    LATE_anon_Xy12z_7890125_hw1_submission-1.zip     anonymous grading; "-1": re-uploaded
    doejane_123456_text.html                           a text entry (_link.html: a URL)

Canvas writes the student's sortable name in lower case without spaces or punctuation,
"LATE" when the submission came after the student's due date in Canvas, the Canvas user
id (the "ID" column of its gradebook export, so grades go back to the right student), the
id of the uploaded file (a later upload has a higher one), and the file's name. Only the
newest attempt is in the download; a file uploaded again under the same name gets "-1",
"-2" in Canvas. A student's files (a zip, or loose notebooks and modules) make one
submission. Canvas records no hand-in time in the download.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ..submissions import Source
from .layout import Handin, Layout, Reading, items

_NAME = re.compile(
    r"(?:(?P<name>\w*?)_)??(?:(?P<late>LATE)_)?(?P<user>\d+|anon_[A-Za-z0-9]+)"
    r"(?:_(?P<file_id>\d+)_(?P<original>.+)|_(?P<online>text|link)\.html)")


class Canvas(Layout):
    name = "canvas"
    title = "Canvas"
    shape = "name[_LATE]_userid_fileid_filename"
    times = ("Canvas records no hand-in times in its download, only LATE: give them with "
             "--times for exact lateness")

    def read(self, folder: Path, timezone: dt.tzinfo) -> Reading:
        reading = Reading()
        uploads = {}  # user id -> [(file id, path, original name, name, late)]
        online = {}   # user id -> [(path, name, late)]
        for path in items(folder):
            match = _NAME.fullmatch(path.name)
            if match is None or path.is_dir():
                reading.unread.append(self.not_mine(path))
            elif match["online"]:
                online.setdefault(match["user"], []).append(
                    (path, match["name"] or "", bool(match["late"])))
            else:
                uploads.setdefault(match["user"], []).append(
                    (int(match["file_id"]), path, match["original"], match["name"] or "",
                     bool(match["late"])))
        for user, files in uploads.items():
            files.sort()  # by file id: oldest upload first
            notes = tuple(f"its {_kind(path)} entry ({path.name}) is not graded"
                          for path, *_ in online.get(user, ()))
            reading.handins.append(Handin(
                user, tuple(Source(path, original) for _, path, original, _, _ in files),
                name=files[0][3], marked_late=any(late for *_, late in files), notes=notes))
        for user in online.keys() - uploads.keys():
            path, name, late = online[user][0]
            reading.handins.append(Handin(
                user, tuple(Source(path) for path, *_ in online[user]), name=name,
                marked_late=late, problem=f"a Canvas {_kind(path)} entry, not a file upload"))
        return reading


def _kind(path: Path) -> str:
    return "text" if path.name.endswith("_text.html") else "link"
