"""Give a submitted notebook back the nbgrader metadata an editor dropped.

Colab, VS Code and other editors may save a notebook with cell metadata removed or
rewritten and cell ids regenerated. nbgrader finds graded cells only by their metadata
(`metadata.nbgrader.grade_id`): without it a student's answers count for nothing and a
slow cell (`metadata.tags`) would run for minutes. So before nbgrader sees a notebook, its
cells are matched against the same notebook of the release:

1. cells whose text is unchanged (test cells, instructions, given code) are matched in
   order (difflib's longest matching blocks);
2. between two matched cells, unmatched cells (edited solutions, edited tests) are paired
   one by one when both sides have the same number of cells of each type there.

A cell paired with a release cell that has nbgrader metadata gets that metadata (and its
tags, if it has none) unless the notebook already has a cell with that grade_id. Graded
and answer cells of the release that stay unpaired (moved far, deleted, or the notebook is
empty) are put back as the release has them, after the cell paired with their nearest
predecessor, and named in a note: an answer written elsewhere then gets no points, but
every test runs. (nbgrader's add_missing_cells restores test cells too, but fails the whole
notebook when the cell it should follow is a missing answer cell.)
"""
from __future__ import annotations

import copy
import difflib
import uuid
from pathlib import Path

import nbformat


def recover_metadata(submitted: Path, release: Path) -> str | None:
    """Restore the nbgrader metadata of `submitted` (rewritten in place: it is the task's
    copy) from `release`; returns a note for the status when anything was done or failed."""
    notebook = nbformat.read(submitted, as_version=4)
    reference = nbformat.read(release, as_version=4)
    present = {_grade_id(cell) for cell in notebook.cells} - {None}
    wanted = {_grade_id(cell): index for index, cell in enumerate(reference.cells)}
    wanted.pop(None, None)
    if set(wanted) <= present:
        return None

    recovered, restored = [], {}  # restored: {submission index to follow: [cells]}
    pairs = _pair_cells(reference.cells, notebook.cells)
    for grade_id, index in wanted.items():
        if grade_id in present:
            continue
        target = pairs.get(index)
        if target is not None and _grade_id(notebook.cells[target]) is None:
            notebook.cells[target].metadata["nbgrader"] = dict(reference.cells[index].metadata["nbgrader"])
            recovered.append(grade_id)
            continue
        predecessor = max((pairs[earlier] for earlier in range(index) if earlier in pairs), default=-1)
        restored.setdefault(predecessor, []).append(_copy(reference.cells[index]))
    _copy_tags(reference.cells, notebook.cells, pairs)
    notebook.cells = [*restored.get(-1, []), *(cell for position, cell in enumerate(notebook.cells)
                                               for cell in [cell, *restored.get(position, [])])]
    nbformat.write(notebook, submitted)

    notes = []
    if recovered:
        notes.append(f"recovered nbgrader metadata of {len(recovered)} cell(s) of "
                     f"{submitted.name} from the release (an editor had removed it)")
    if restored:
        names = sorted(_grade_id(cell) for cells in restored.values() for cell in cells)
        notes.append(f"could not recover nbgrader metadata of {', '.join(names)} in "
                     f"{submitted.name} (cells moved, deleted or emptied): put back as released, "
                     "so answers written elsewhere get no points")
    return "; ".join(notes)


def _copy(cell):
    """A copy of a release cell with an id of its own (ids must be unique in a notebook)."""
    copied = copy.deepcopy(cell)
    copied["id"] = uuid.uuid4().hex[:8]
    return copied


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _key(cell) -> tuple[str, str]:
    lines = [line.rstrip() for line in cell.source.strip().splitlines()]
    return cell.cell_type, "\n".join(lines)


def _pair_cells(reference: list, cells: list) -> dict[int, int]:
    """{reference index: submission index} for the cells that correspond."""
    matcher = difflib.SequenceMatcher(None, [_key(c) for c in reference], [_key(c) for c in cells],
                                      autojunk=False)
    pairs = {}
    for tag, ref_start, ref_end, start, end in matcher.get_opcodes():
        if tag == "equal":
            pairs.update(zip(range(ref_start, ref_end), range(start, end)))
        elif tag == "replace" and _types(reference[ref_start:ref_end]) == _types(cells[start:end]):
            pairs.update(zip(range(ref_start, ref_end), range(start, end)))
    return pairs


def _types(cells: list) -> list[str]:
    return [cell.cell_type for cell in cells]


def _copy_tags(reference: list, cells: list, pairs: dict[int, int]) -> None:
    """Tags (e.g. "slow") of paired cells that lost theirs."""
    for index, target in pairs.items():
        tags = reference[index].metadata.get("tags")
        if tags and not cells[target].metadata.get("tags"):
            cells[target].metadata["tags"] = list(tags)
