"""Compare a fresh build with the committed release/<id>, and install it there.

Local-only files in the committed folder (downloaded datasets, checkpoints, a student's
best_model.npz from trying the release out) are neither compared nor deleted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .paths import assignment_files, is_local_only


@dataclass(frozen=True)
class Differences:
    changed: list[str]   # in both, with different bytes
    missing: list[str]   # built, but not in the committed release
    stale: list[str]     # in the committed release, but no longer built

    def __bool__(self) -> bool:
        return bool(self.changed or self.missing or self.stale)

    def lines(self, installed: bool) -> list[str]:
        """One line per file, worded for after an install or for a check."""
        if installed:
            labels = ("changed: ", "added:   ", "removed: ")
        else:
            labels = ("differs from a fresh build:  ", "missing (new in the build):  ",
                      "stale (no longer built):     ")
        return ([f"{labels[0]}{path}" for path in self.changed]
                + [f"{labels[1]}{path}" for path in self.missing]
                + [f"{labels[2]}{path}" for path in self.stale])


def compare_trees(built: Path, committed: Path, patterns: tuple[str, ...]) -> Differences:
    built_files = assignment_files(built, ())
    committed_files = [path for path in _files(committed)
                       if path in built_files or not is_local_only(path, patterns)]
    return Differences(
        changed=[path for path in built_files if path in committed_files
                 and (built / path).read_bytes() != (committed / path).read_bytes()],
        missing=[path for path in built_files if path not in committed_files],
        stale=[path for path in committed_files if path not in built_files],
    )


def install_tree(built: Path, committed: Path, patterns: tuple[str, ...]) -> Differences:
    """Make `committed` match `built`, rewriting only files that changed."""
    differences = compare_trees(built, committed, patterns)
    for path in differences.stale:
        (committed / path).unlink()
    for path in differences.changed + differences.missing:
        (committed / path).parent.mkdir(parents=True, exist_ok=True)
        (committed / path).write_bytes((built / path).read_bytes())
    for folder in sorted(committed.rglob("*"), reverse=True):  # deepest first
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return differences


def _files(folder: Path) -> list[str]:
    return assignment_files(folder, ()) if folder.is_dir() else []
