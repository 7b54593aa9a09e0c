"""The machinery every hidden check uses: the registry, the context a check runs in, the
reference nnkit, and the comparisons with their student-facing messages.

A check is a function of a Context, registered under the grade_id of the notebook cell it
grades:

    @check("fc_affine_forward", "affine_forward against the reference, 2-D and 4-D inputs")
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import REFERENCE_DIR, probes
from .student_process import StudentCodeFailed, student_process

# At most this many failures are listed; the first ones are the ones to fix first.
MAX_REPORTED = 6

CHECKS = {}


@dataclass(frozen=True)
class Check:
    grade_id: str
    description: str
    function: object
    parameters: tuple = ()     # keyword arguments the notebook passes, e.g. ("answer",)


def check(grade_id, description, parameters=()):
    """Register a check function under grade_id (several ids may share one function)."""
    def register(function):
        if grade_id in CHECKS:
            raise ValueError(f"two checks for {grade_id}")
        CHECKS[grade_id] = Check(grade_id, description, function, tuple(parameters))
        return function
    return register


class CheckFailed(Exception):
    """The submission fails the check; str() is the student-facing message."""


class NotGradable(Exception):
    """The grader cannot run the check (missing data or reference): not the student's fault."""


def reference_package():
    """probes.Package bound to the instructor's nnkit (source/fcnet/nnkit)."""
    if not (REFERENCE_DIR / "nnkit" / "layers.py").is_file():
        raise NotGradable(f"the reference nnkit is missing: {REFERENCE_DIR / 'nnkit'}")
    if str(REFERENCE_DIR) not in sys.path:
        sys.path.insert(0, str(REFERENCE_DIR))
    import nnkit

    if not Path(nnkit.__file__).resolve().is_relative_to(REFERENCE_DIR):
        raise NotGradable(f"imported nnkit from {nnkit.__file__}, expected the reference in {REFERENCE_DIR}")
    return probes.Package()


@dataclass
class Context:
    """What a check gets: its inputs, a random generator, and ways to run probes."""
    grade_id: str
    submission: Path
    seed: int
    values: dict = field(default_factory=dict)
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

    def student(self, probe_name, cases, subject, reference_layers=False):
        """Outputs of the probe on the student's nnkit (raises CheckFailed if it cannot run).
        With reference_layers, the student's network runs with the grader's layers instead
        of its own layers.py (see layer_server.py)."""
        from .layer_server import ReferenceLayers

        layers = ReferenceLayers() if reference_layers else None
        try:
            outputs, modules = student_process(self.submission).run_probe(probe_name, cases, subject, layers)
        except StudentCodeFailed as error:
            self.modules.update(error.modules)
            raise CheckFailed(str(error)) from None
        self.modules.update(modules)
        return outputs

    def reference(self, probe_name, cases):
        package = reference_package()
        return [_as_arrays(probes.PROBES[probe_name](package, _copy_case(case), False)) for case in cases]

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


# --- inputs changed in place ---------------------------------------------------------------
# Every probe records which array inputs the function it is about changed in place
# ("changed"); only that function's own check judges it, once. Which inputs a function must
# leave alone, and why, is nnkit.gradient_check.KEPT_INPUTS: the table (and the message) the
# notebooks' visible checks use too, read here from the reference nnkit, so that visible and
# hidden checks agree. Changing any other input (a loss's scores, an upstream gradient, the x
# of normalizations and dropout) costs nothing, because nothing in nnkit reads it again, and
# is only pointed out in a note.


def in_place_rules():
    """The reference's nnkit.gradient_check, which holds KEPT_INPUTS and the message."""
    reference_package()
    import nnkit.gradient_check

    return nnkit.gradient_check


def check_inputs_kept(ctx, function, outputs, inputs):
    """Fail or note the inputs `function` changed in place, as its probe recorded them in
    outputs["changed"], at most once per check. Returns False when the check fails."""
    changed = [name for name in str(outputs.get("changed", "")).split(",") if name]
    if not changed or function in ctx.inputs_reported:
        return True
    ctx.inputs_reported.add(function)
    rules = in_place_rules()
    kept, _ = rules.KEPT_INPUTS.get(function, ((), None))
    for name in changed:
        if name in kept:
            ctx.fail(rules.changed_in_place_message(function, name, inputs))
            return False
    names = " and ".join(changed)
    ctx.note(f"note: {function} changed its input {names} in place. No points are taken for it, since nothing "
             f"in nnkit reads {names} after the call, but a caller that does (a numeric gradient check, "
             "for one) would see the changed values")
    return True


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
