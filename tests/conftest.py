"""Shared test set-up: tests import the instructor's nnkit (source/fcnet/nnkit)."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT_SOURCE = REPO / "source" / "fcnet"
sys.path.insert(0, str(ASSIGNMENT_SOURCE))


# Set by `make test`: there, missing data is an error. Elsewhere (`make test-fast`, a bare
# pytest run) the tests that need data skip, saying how to get it.
NEED_DATA_ENV = "NNKIT_TESTS_NEED_DATA"


@pytest.fixture(scope="session")
def datasets_dir():
    """The folder holding cifar-10-batches-py/ and mnist/ (built by `make data`)."""
    root = Path(os.environ.get("NNKIT_DATA_DIR", REPO / "datasets"))
    if not (root / "cifar-10-batches-py").is_dir():
        reason = (f"needs CIFAR-10, which is not under {root}: run `make data` "
                  "(offline: NNKIT_DATA_SOURCE=/path/to/folder-or-tarball make data)")
        if os.environ.get(NEED_DATA_ENV) == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return root
