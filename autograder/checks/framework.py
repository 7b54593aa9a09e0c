"""The machinery every hidden check uses: the registry, the context a check runs in, the
reference nnkit, and the comparisons with their student-facing messages. The checks
themselves live with their assignment (assignments/<id>/checks/, loaded by assignment.py).

A check is a function of a Context, registered under the grade_id of the notebook cell it
grades:

    @check("fc_affine_forward", "affine_forward against the reference, 2-D and 4-D inputs",
           exercises=("nnkit/layers.py:affine_forward",))
    def affine_forward(ctx):
        cases = [...]                                     # fresh random inputs from ctx.rng
        student = ctx.student("affine_forward", cases, subject="affine_forward")
        reference = ctx.reference("affine_forward", cases)
        for case, mine, correct in zip(cases, student, reference):
            ctx.compare("affine_forward: out", mine["out"], correct["out"], 1e-8, shapes(case, "x", "w"))

Failures are collected (ctx.compare records and carries on) and reported together at the
end; ctx.student raises at once when the student's code cannot run. Messages name the
function, the property, the measured error and the threshold, and the input shapes; they
never show arrays or reference code.
"""
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import REFERENCE_DIR, REFERENCE_ENV
from .student_process import StudentCodeFailed, student_process

# At most this many failures are listed; the first ones are the ones to fix first.
MAX_REPORTED = 6

# The registry the checks being imported go to (assignment.load_checks sets it).
_registry = None


@dataclass(frozen=True)
class Check:
    grade_id: str
    description: str
    function: object
    values_from: object = None  # notebook_values.ValueSource: where the notebook sets its values
    exercises: tuple = ()      # the student's work the cell's grade rests on: "<module path>:<function>"
                               # or "<notebook>:<solution cell grade_id>"

    @property
    def parameters(self):
        """The keyword arguments the notebook passes, e.g. ("answer",)."""
        return tuple(self.values_from.variables) if self.values_from else ()


def check(grade_id, description, values_from=None, exercises=()):
    """Register a check function under grade_id (several ids may share one function).
    exercises: every piece of the student's work the graded cell runs (its visible part too),
    as "nnkit/layers.py:affine_forward" or "FullyConnectedNets.ipynb:fc_q1_answer": a piece
    undone costs exactly the cells that declare it (samples.py and the tests derive from it).
    values_from: a notebook_values.ValueSource, for a check of values the notebook sets (the
    cell that sets them is then exercised too)."""
    def register(function):
        if _registry is None:
            raise RuntimeError(f"{grade_id}: checks are registered by importing them with assignment.load_checks")
        if grade_id in _registry:
            raise ValueError(f"two checks for {grade_id}")
        exercised = tuple(exercises) + ((f"{values_from.notebook}:{values_from.cell}",) if values_from else ())
        _registry[grade_id] = Check(grade_id, description, function, values_from, exercised)
        return function
    return register


@contextmanager
def registering():
    """Collect the checks registered meanwhile into the dict it yields."""
    global _registry
    outer, _registry = _registry, {}
    try:
        yield _registry
    finally:
        _registry = outer


class CheckFailed(Exception):
    """The submission fails the check; str() is the student-facing message."""


class NotGradable(Exception):
    """The grader cannot run the check (missing data or reference): not the student's fault."""


def reference_package():
    """The assignment's probes.Package bound to the instructor's nnkit (source/<id>/nnkit)."""
    from .assignment import current_checks

    if REFERENCE_DIR is None:
        raise NotGradable(f"which assignment? set {REFERENCE_ENV} to its source folder (COURSE/source/<id>)")
    if not (REFERENCE_DIR / "nnkit" / "__init__.py").is_file():
        raise NotGradable(f"the reference nnkit is missing: {REFERENCE_DIR / 'nnkit'}")
    if str(REFERENCE_DIR) not in sys.path:
        sys.path.insert(0, str(REFERENCE_DIR))
    import nnkit

    if not Path(nnkit.__file__).resolve().is_relative_to(REFERENCE_DIR):
        raise NotGradable(f"imported nnkit from {nnkit.__file__}, expected the reference in {REFERENCE_DIR}")
    return current_checks().probes.Package()


@dataclass
class Context:
    """What a check gets: its inputs, a random generator, and ways to run probes."""
    grade_id: str
    submission: Path
    seed: int
    values: dict = field(default_factory=dict)
    values_from: object = None  # where the notebook sets them (the check's declaration)
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    modules: set = field(default_factory=set)   # the submission's files the probes imported
    inputs_reported: set = field(default_factory=set)  # functions whose changed inputs were judged
    unanswered: bool = False    # failed because the notebook does not set the value at all
    _rng: object = None

    @property
    def rng(self):
        """The generator of this run's random inputs (seeded by self.seed)."""
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng

    @property
    def used_random_inputs(self):
        return self._rng is not None

    # --- running probes ---

    def student(self, probe_name, cases, subject, served=None):
        """Outputs of the probe on the student's nnkit (raises CheckFailed if it cannot run).
        served: what answers the calls the probe makes back to the grader while it runs
        (an object with serve(job, request), see student_process.py), e.g. the grader's
        layers that the student's network runs with instead of its own."""
        try:
            outputs, modules = student_process(self.submission).run_probe(probe_name, cases, subject, served)
        except StudentCodeFailed as error:
            self.modules.update(error.modules)
            raise CheckFailed(str(error)) from None
        self.modules.update(modules)
        return outputs

    def reference(self, probe_name, cases):
        from .assignment import current_checks

        package = reference_package()
        probe = current_checks().probes.PROBES[probe_name]
        return [_as_arrays(probe(package, _copy_case(case), False)) for case in cases]

    # --- verdicts ---

    def fail(self, message):
        self.failures.append(message)

    def note(self, message):
        """A line printed when the check passes (e.g. a measured accuracy)."""
        self.notes.append(message)

    def compare(self, what, actual, expected, threshold, inputs="", detail=None):
        """Record a failure unless `actual` matches `expected` (same shape, finite, relative
        error below threshold). Returns True when it matches. detail(actual, expected), when
        given, adds a measured fact to the message of wrong values (never a guessed cause)."""
        suffix = f" (for {inputs})" if inputs else ""
        if actual is None:
            self.fail(f"{what} is missing{suffix}")
            return False
        actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if actual.shape != expected.shape:
            kept = ": a kept dimension?" if _same_but_ones(actual.shape, expected.shape) else ""
            self.fail(f"{what} has shape {actual.shape} but must be {expected.shape}{kept}{suffix}")
            return False
        if not np.all(np.isfinite(actual)):
            self.fail(f"{what} contains NaN or inf{suffix}")
            return False
        error = relative_error(actual, expected)
        if error > threshold:
            more = f"; {detail(actual, expected)}" if detail else ""
            self.fail(f"{what} is wrong{suffix}: relative error {error:.1e}, must be below {threshold:.0e}{more}")
            return False
        return True

    def compare_numeric(self, what, analytic, numeric, threshold, inputs=""):
        """Like compare, against the numeric gradient of the student's own forward pass."""
        suffix = f" (for {inputs})" if inputs else ""
        analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
        if analytic.shape != numeric.shape or not np.all(np.isfinite(analytic)):
            return False  # already reported by compare()
        error = relative_error(analytic, numeric)
        if error > threshold:
            self.fail(f"{what} does not match the numeric gradient of your own forward pass{suffix}: "
                      f"relative error {error:.1e}, must be below {threshold:.0e}")
            return False
        return True

    def raise_failures(self):
        if self.failures:
            listed = self.failures[:MAX_REPORTED]
            more = len(self.failures) - len(listed)
            lines = [f"- {message}" for message in listed]
            if more:
                lines.append(f"- ... and {more} more problem(s) of the same check")
            raise CheckFailed("\n".join(lines))


def matches(actual, expected, threshold):
    """Whether `actual` matches `expected` as Context.compare would accept it, recording nothing."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return (actual.shape == expected.shape and bool(np.all(np.isfinite(actual)))
            and relative_error(actual, expected) <= threshold)


def _same_but_ones(shape, other):
    """(1, 4) and (4,): the same sizes once dimensions of size 1 are dropped."""
    return [size for size in shape if size != 1] == [size for size in other if size != 1]


def relative_error(actual, expected, floor=1e-7):
    """Largest difference relative to the size of the correct values:
    max |actual - expected| / max(max |expected|, floor). The floor keeps arrays that
    should be zero (e.g. the gradient of a bias followed by batchnorm) from dividing
    rounding noise by rounding noise."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(expected))), floor)
    return float(np.max(np.abs(actual - expected)) / scale)


def shapes(case, *names):
    """'x of shape (7, 3, 4), w of shape (12, 5)' for messages."""
    return ", ".join(f"{name} of shape {tuple(np.shape(case[name]))}" for name in names)


def _copy_case(case):
    return {key: np.array(value) for key, value in case.items()}


def _as_arrays(outputs):
    """Reference outputs in the form the student's come back in (see student_runner)."""
    converted = {}
    for key, value in outputs.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "USb":
            converted[key] = value
        else:
            converted[key] = np.asarray(value, dtype=np.float64)
    return converted
