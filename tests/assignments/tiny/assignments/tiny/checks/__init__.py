"""The hidden checks of the tiny assignment."""
from . import arith_checks  # noqa: F401
