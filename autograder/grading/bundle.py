"""The assignment bundle: everything a grading task needs besides the submission, built once
per run by the coordinator and shipped to each worker as bytes.

    bundle = build_bundle(course_root, manifest, scratch / "template")    # the coordinator
    folder = bundle.unpacked(cache)     # a worker: unpacked once into cache/<digest>/

The bundle is the scratch course template (course.make_course_template), a small course
root of its own: the course's grading settings, source/<id>/ (the reference nnkit the hidden
checks compare with), release/<id>/'s notebooks (what recover_metadata matches against),
assignments/<id>/ (the manifest and the reference's cell times) and the gradebook with the
assignment registered. So a worker needs the installed kit and this, never the checkout or
a shared filesystem; tasks name it by its digest.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..manifest import Manifest, load_manifest, manifest_path
from .course import make_course_template


@dataclass(frozen=True)
class AssignmentBundle:
    assignment: str
    archive: bytes   # an uncompressed tar of the template folder
    digest: str      # sha256 of archive: equal digests, equal bundles

    def unpacked(self, cache: Path) -> Path:
        """The bundle's folder in `cache` (cache/<digest>/), unpacked there if it is not yet.
        Several worker processes may share a cache: each unpacks into a folder of its own
        and renames it into place, so none ever reads a half-unpacked bundle."""
        folder = cache / self.digest
        if folder.is_dir():
            return folder
        cache.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{self.digest[:12]}-", dir=cache))
        try:
            with tarfile.open(fileobj=io.BytesIO(self.archive)) as archive:
                archive.extractall(partial, filter="data")
            os.rename(partial, folder)
        except OSError:
            if not folder.is_dir():  # not another process's rename winning the race
                raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return folder


def build_bundle(course_root: Path, manifest: Manifest, template: Path) -> AssignmentBundle:
    """Make the course template at `template` (a new folder) and pack it."""
    make_course_template(course_root, manifest, template)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(template, arcname=".")
    archive_bytes = buffer.getvalue()
    return AssignmentBundle(manifest.id, archive_bytes, hashlib.sha256(archive_bytes).hexdigest())


def bundled_manifest(folder: Path, assignment: str) -> Manifest:
    """The manifest as the bundle holds it (its cell times next to it)."""
    return load_manifest(manifest_path(folder, assignment))
