"""The two checks of the tiny assignment: each function against the reference."""
from autograder.checks.framework import check, shapes


def _against_reference(ctx, function):
    cases = [{"x": ctx.rng.standard_normal(shape)} for shape in [(5,), (3, 4)]]
    student = ctx.student(function, cases, subject=function)
    for case, mine, correct in zip(cases, student, ctx.reference(function, cases)):
        ctx.compare(f"{function}: out", mine["out"], correct["out"], 1e-12, shapes(case, "x"))


@check("tiny_double", "double: out against the reference", exercises=("nnkit/arith.py:double",))
def double(ctx):
    _against_reference(ctx, "double")


@check("tiny_square", "square: out against the reference", exercises=("nnkit/arith.py:square",))
def square(ctx):
    _against_reference(ctx, "square")
