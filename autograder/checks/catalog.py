"""Every hidden check, registered by importing the modules that define them.

    from autograder.checks.catalog import CHECKS   # grade_id -> framework.Check
"""
from . import answer_checks, layer_checks, model_checks, network_checks, optimizer_checks  # noqa: F401
from .framework import CHECKS

__all__ = ["CHECKS"]
