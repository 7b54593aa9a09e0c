"""An assignment's manifest (assignments/<id>/manifest.toml): the one place for its facts.

    manifest = load_manifest(manifest_path(course_root, "hw1"))
    manifest.notebooks        # ("FullyConnectedNets.ipynb", ...), in working order
    manifest.student_modules  # ("nnkit/layers.py", ...), the files students complete
    manifest.late_policy      # LatePolicy(...): grace, penalty, cut-off (none by default)
    manifest.data             # Data(...): the dataset folders the notebooks need, their cache
    manifest.partials         # ("nnkit/optim.py:adam", ...): work the sample partials undo

Every error names the manifest file and the key, and says what a valid value looks like.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .grading.deadlines import LatePolicy, late_policy_from

# Things a run of the notebooks or of the tools leaves in an assignment folder that never
# belong in a release (nbgrader globs, matched against a file's or folder's own name).
# Used for CourseDirectory.ignore in nbgrader_config.py and when comparing release trees.
LOCAL_ONLY_PATTERNS = (
    "datasets",              # downloaded data; the release gets datasets/get_datasets.sh only
    "__pycache__",
    "*.pyc",
    ".ipynb_checkpoints",
    ".pytest_cache",
    "*_epoch_*.pkl",         # Solver checkpoints
    "*_submission.zip",
)
# What nbgrader never copies from a folder into another (source -> release, submission ->
# autograded; CourseDirectory.ignore), and so what the hidden checks never see either.
NEVER_COPIED = (*LOCAL_ONLY_PATTERNS, "feedback")

_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
_KEYS = ("id", "title", "due", "colab_folder", "notebooks", "student_modules", "artifacts")
_OPTIONAL_KEYS = ("late_policy", "data", "samples")


class ManifestError(ValueError):
    """The manifest is missing, unreadable or has an invalid value."""


@dataclass(frozen=True)
class DataCache:
    loader: str   # the module that confirms or writes it: `python LOADER write-cache FOLDER`
    folder: str   # the dataset folder it caches


@dataclass(frozen=True)
class Data:
    folders: tuple[str, ...] = ()      # in the course's datasets/; the notebooks fail without them
    cache: DataCache | None = None     # the fast-load cache the reference was timed with


@dataclass(frozen=True)
class Manifest:
    path: Path                        # the manifest file itself
    id: str                           # nbgrader's assignment id, also the folder name
    title: str
    due: dt.datetime                  # timezone-aware
    colab_folder: str                 # folder under "My Drive" (FOLDERNAME in the notebooks)
    notebooks: tuple[str, ...]        # in the order students work through them
    student_modules: tuple[str, ...]  # modules students complete, handed in
    artifacts: tuple[str, ...]        # files the notebooks save, handed in
    late_policy: LatePolicy = LatePolicy()  # what handing in late costs (nothing by default)
    data: Data = Data()               # the datasets the notebooks load (none by default)
    partials: tuple[str, ...] = ()    # "<module>:<function>" or "<notebook>:<solution cell>":
                                      # each a sample submission with that piece undone

    @property
    def submission_zip(self) -> str:
        return f"{self.id}_submission.zip"

    @property
    def local_only_patterns(self) -> tuple[str, ...]:
        """Name globs of files that stay in a working copy and never go into a release."""
        return LOCAL_ONLY_PATTERNS + tuple(PurePosixPath(a).name for a in self.artifacts)

    def submission_facts(self) -> dict:
        """What collect_submission.py needs, as plain JSON-able values."""
        return {
            "id": self.id,
            "title": self.title,
            "due": self.due.isoformat(),
            "submission_zip": self.submission_zip,
            "notebooks": list(self.notebooks),
            "student_modules": list(self.student_modules),
            "artifacts": list(self.artifacts),
        }


def manifest_path(course_root: Path | str, assignment_id: str) -> Path:
    return Path(course_root) / "assignments" / assignment_id / "manifest.toml"


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate a manifest; raise ManifestError naming the file and key."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found (each assignment needs "
                            "assignments/<id>/manifest.toml)") from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: not valid TOML: {error}") from None

    def fail(key: str, problem: str):
        raise ManifestError(f"{path}: key '{key}' {problem}")

    unknown = sorted(set(data) - set(_KEYS) - set(_OPTIONAL_KEYS))
    if unknown:
        fail(unknown[0], "is not a manifest key (known keys: "
                         f"{', '.join(_KEYS + _OPTIONAL_KEYS)})")
    for key in _KEYS:
        if key not in data:
            fail(key, "is missing")

    for key in ("id", "title", "colab_folder"):
        if not isinstance(data[key], str) or not data[key].strip():
            fail(key, "must be a non-empty string")
    if not _ID_PATTERN.fullmatch(data["id"]):
        fail("id", f"must use only letters, digits, '_' and '-', got {data['id']!r}")
    if data["id"] != path.parent.name:
        fail("id", f"is {data['id']!r} but the manifest lives in folder "
                   f"{path.parent.name!r}; the two must match")

    notebooks = _relative_paths(data, "notebooks", ".ipynb", fail)
    for notebook in notebooks:
        if "/" in notebook:
            fail("notebooks", f"lists {notebook!r}: nbgrader only grades notebooks at the top "
                              "of the assignment folder")
    student_modules = _relative_paths(data, "student_modules", ".py", fail)
    artifacts = _relative_paths(data, "artifacts", "", fail, allow_empty=True)
    everything = notebooks + student_modules + artifacts
    repeated = sorted({p for p in everything if everything.count(p) > 1})
    if repeated:
        fail("notebooks/student_modules/artifacts", f"list {repeated[0]!r} more than once")

    return Manifest(
        path=path,
        id=data["id"],
        title=data["title"].strip(),
        due=_due_date(data["due"], fail),
        colab_folder=data["colab_folder"].strip().strip("/"),
        notebooks=notebooks,
        student_modules=student_modules,
        artifacts=artifacts,
        late_policy=_late_policy(data.get("late_policy", {}), fail),
        data=_data(data.get("data", {}), fail),
        partials=_partials(data.get("samples", {}), fail),
    )


def _data(table, fail) -> Data:
    if not isinstance(table, dict) or set(table) - {"folders", "cache"}:
        fail("data", "must be a table: [data] with folders and, optionally, cache")
    folders = table.get("folders", [])
    if not isinstance(folders, list) or not all(isinstance(f, str) and f and "/" not in f for f in folders):
        fail("data", "folders must be a list of folder names in datasets/, e.g. [\"cifar-10-batches-py\"]")
    cache = table.get("cache")
    if cache is None:
        return Data(tuple(folders))
    if (not isinstance(cache, dict) or set(cache) != {"loader", "folder"}
            or not all(isinstance(value, str) for value in cache.values())):
        fail("data", "cache must be a table { loader = \"<module path>\", folder = \"<one of folders>\" }")
    if cache["folder"] not in folders:
        fail("data", f"cache's folder {cache['folder']!r} is not one of folders")
    return Data(tuple(folders), DataCache(cache["loader"], cache["folder"]))


def _partials(table, fail) -> tuple[str, ...]:
    partials = table.get("partials", []) if isinstance(table, dict) else None
    if (not isinstance(partials, list) or set(table) - {"partials"}
            or not all(isinstance(p, str) and p.count(":") == 1 for p in partials)):
        fail("samples", "must be a table: [samples] with partials = [\"<module path>:<function>\" or "
                        "\"<notebook>:<solution cell grade_id>\", ...]")
    return tuple(partials)


def _relative_paths(data, key, suffix, fail, allow_empty=False) -> tuple[str, ...]:
    values = data[key]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        fail(key, "must be a list of strings")
    if not values and not allow_empty:
        fail(key, "must list at least one file")
    for value in values:
        parts = PurePosixPath(value).parts
        if (not parts or value.startswith(("/", "./")) or "\\" in value or ".." in parts
                or not value.endswith(suffix)):
            fail(key, f"lists {value!r}: use a path relative to the assignment folder, with '/' "
                      f"and no '..' or leading './'" + (f", ending in {suffix}" if suffix else ""))
    return tuple(values)


def _late_policy(table, fail) -> LatePolicy:
    if not isinstance(table, dict):
        fail("late_policy", "must be a table: [late_policy] with grace, penalty and cutoff")
    try:
        return late_policy_from(table)
    except ValueError as error:
        fail("late_policy", f"is invalid: {error}")


def _due_date(value, fail) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            fail("due", f"is {value!r}, not an ISO 8601 date-time")
    if not isinstance(value, dt.datetime):
        fail("due", "must be a date-time such as 2026-12-18T23:59:00+00:00")
    if value.tzinfo is None:
        fail("due", f"is {value.isoformat()} without a timezone; add one, e.g. +00:00")
    return value
