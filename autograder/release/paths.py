"""Walking an assignment folder the way nbgrader does, skipping local-only files."""
from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

# The one file of the datasets/ folder a release ships (the folder itself is local-only).
DATASETS_SCRIPT = "datasets/get_datasets.sh"


def is_local_only(relative_path: str, patterns: tuple[str, ...]) -> bool:
    """Whether a path (relative, with '/') has a file or folder name matching a pattern."""
    return any(fnmatch(part, pattern)
               for part in PurePosixPath(relative_path).parts for pattern in patterns)


def assignment_files(folder: Path, patterns: tuple[str, ...]) -> list[str]:
    """Relative paths (with '/', sorted) of the files under `folder`, minus local-only ones."""
    files = (path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return sorted(path for path in files if not is_local_only(path, patterns))
