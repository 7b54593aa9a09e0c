"""The datasets' fast-load cache, made sure of before a grading run starts.

The cells' time limits follow the reference solution's own times (time_limits.py), measured
with the cache the data step writes (`make data`): a kernel maps CIFAR-10 in milliseconds.
Without the cache (datasets copied from another machine without it, or fetched by an older
version of the kit) every notebook reads the batches instead, for seconds, and on a loaded
machine the cell that loads the data could run out of time in every submission. So a
grading run first asks the assignment's own loader to confirm the cache (milliseconds), or
to write it once, and refuses to start when it cannot.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..manifest import Manifest


class DataCacheError(RuntimeError):
    """The cache could not be confirmed or written; the message says why and what to do."""


def ensure_data_cache(course_root: Path, manifest: Manifest, data_dir: Path, say=print) -> None:
    """Confirm or write the fast-load cache the manifest names ([data] cache: its loader in
    source/<id>/ and the folder of data_dir it caches); an assignment without one has none
    to make sure of."""
    cache = manifest.data.cache
    if cache is None:
        return
    loader = course_root / "source" / manifest.id / cache.loader
    done = subprocess.run([sys.executable, str(loader), "write-cache", str(data_dir / cache.folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DataCacheError(
            f"{done.stderr.strip() or done.stdout.strip()} (from {loader}). The cells' time "
            f"limits assume the notebooks load the data from this cache: make it writable or "
            f"free space, then run `make data`, which writes it")
    say(done.stdout.strip())
