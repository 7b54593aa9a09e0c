"""The handout README: blocks generated from the manifest and the notebooks' grading metadata.

The handout (assignments/<id>/README.md) is written by hand except for blocks like

    <!-- BEGIN GENERATED points: autograder release rewrites this block -->
    ...
    <!-- END GENERATED points -->

whose content the release command regenerates, so the due date and the points never
drift from the manifest and the notebooks. The release's copy (student_handout) has no
HTML comments at all: those markers and any note to instructors stay in the source.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..grading.deadlines import LatePolicy
from ..manifest import Manifest

_BLOCK = re.compile(
    r"(?P<begin><!-- BEGIN GENERATED (?P<name>[\w-]+)[^\n]*-->\n)"
    r"(?P<body>.*?)"
    r"(?P<end><!-- END GENERATED (?P=name) -->)",
    re.DOTALL,
)

# An HTML comment, with the line break after it when it ends its line.
_HTML_COMMENT = re.compile(r"<!--.*?-->[ \t]*\n?", re.DOTALL)


class HandoutError(ValueError):
    """The handout's generated blocks are missing or malformed; the message names the file."""


@dataclass(frozen=True)
class NotebookPoints:
    notebook: str
    auto: float    # autograded test cells
    manual: float  # answers a TA grades (and nbgrader task cells)


def notebook_points(notebook_path: Path) -> NotebookPoints:
    """Sum the points of a notebook's graded cells, split as nbgrader's formgrader splits them."""
    notebook = nbformat.read(notebook_path, as_version=4)
    auto = manual = 0.0
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        points = float(meta.get("points", 0) or 0)
        if meta.get("task") or (meta.get("grade") and meta.get("solution")):
            manual += points
        elif meta.get("grade"):
            auto += points
    return NotebookPoints(notebook_path.name, auto, manual)


def generated_blocks(manifest: Manifest, points: list[NotebookPoints],
                     todo: dict[str, list[str]]) -> dict[str, str]:
    """The content of each generated block, by block name.

    todo maps each student module to the functions students complete in it, in file order.
    """
    due = f"{manifest.due:%Y-%m-%d %H:%M} {_utc_offset(manifest)}"
    lines = [f"# {manifest.title}\n", f"**Due:** {due}  "]
    if manifest.late_policy != LatePolicy():
        lines.append(f"**Late:** {manifest.late_policy.describe()}  ")
    lines += [f"**Hand in:** `{manifest.submission_zip}`, made by `python collect_submission.py`  ",
              f"**Colab folder:** `My Drive/{manifest.colab_folder}`"]
    summary = "\n".join(lines) + "\n"
    todo_list = "".join(f"- `{module}`: {', '.join(f'`{name}`' for name in names)}\n"
                        for module, names in todo.items())
    return {"summary": summary, "todo": todo_list, "points": _points_table(points)}


def student_handout(text: str) -> str:
    """The handout as the release ships it: every HTML comment (notes for instructors, the
    generated blocks' markers) removed, so a student reading the raw file sees only what
    is meant for them."""
    without = _HTML_COMMENT.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", without).lstrip("\n")


def fill_blocks(text: str, blocks: dict[str, str], filename: str) -> str:
    """Replace the body of every generated block named in `blocks`; all must be present."""
    found = set()

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in blocks:
            raise HandoutError(f"{filename}: unknown generated block '{name}' "
                               f"(known: {', '.join(sorted(blocks))})")
        found.add(name)
        return match["begin"] + blocks[name] + match["end"]

    filled = _BLOCK.sub(replace, text)
    missing = sorted(set(blocks) - found)
    if missing:
        raise HandoutError(
            f"{filename}: no generated block '{missing[0]}'; add the two lines\n"
            f"<!-- BEGIN GENERATED {missing[0]}: autograder release rewrites this block -->\n"
            f"<!-- END GENERATED {missing[0]} -->\nwhere it should go")
    return filled


def _points_table(points: list[NotebookPoints]) -> str:
    rows = ["| Notebook | Autograded | Graded by a TA | Total |", "|---|---:|---:|---:|"]
    for entry in points:
        rows.append(f"| {entry.notebook} | {_number(entry.auto)} | {_number(entry.manual)} "
                    f"| {_number(entry.auto + entry.manual)} |")
    auto = sum(entry.auto for entry in points)
    manual = sum(entry.manual for entry in points)
    rows.append(f"| **Total** | **{_number(auto)}** | **{_number(manual)}** "
                f"| **{_number(auto + manual)}** |")
    return "\n".join(rows) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _utc_offset(manifest: Manifest) -> str:
    offset = manifest.due.strftime("%z")  # e.g. +0000
    return "UTC" if offset == "+0000" else f"UTC{offset[:3]}:{offset[3:]}"
