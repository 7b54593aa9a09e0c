"""Shared test set-up: tests import the instructor's nnkit (source/fcnet/nnkit)."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT_SOURCE = REPO / "source" / "fcnet"
sys.path.insert(0, str(ASSIGNMENT_SOURCE))


@pytest.fixture(scope="session")
def datasets_dir():
    """The folder holding cifar-10-batches-py/ and mnist/ (built by `make data`)."""
    root = Path(os.environ.get("NNKIT_DATA_DIR", REPO / "datasets"))
    if not (root / "cifar-10-batches-py").is_dir():
        pytest.fail(
            f"CIFAR-10 not found under {root}: run `make data` "
            "(offline: NNKIT_DATA_SOURCE=/path/to/folder-or-tarball make data)"
        )
    return root
