"""Probes of the tiny assignment: run on the student's nnkit in the sandbox and on the
reference in the grader (autograder/checks/assignment.py), so numpy and the standard
library only."""
import importlib

import numpy as np

PROBES = {}


class ProbeError(Exception):
    """Student code returned something the probe cannot use; the message says what."""


class Package:
    """The nnkit on sys.path; the grader serves nothing to this assignment's probes."""

    def __init__(self, channel=None):
        self._channel = channel

    def function(self, name):
        return getattr(importlib.import_module("nnkit.arith"), name)


def probe(function):
    PROBES[function.__name__] = function
    return function


@probe
def double(nnkit, case, numeric):
    return {"out": nnkit.function("double")(np.array(case["x"]))}


@probe
def square(nnkit, case, numeric):
    return {"out": nnkit.function("square")(np.array(case["x"]))}
