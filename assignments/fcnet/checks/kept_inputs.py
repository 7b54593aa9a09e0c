"""Inputs changed in place: judged only in the check of the function that changed them.

Every probe records which array inputs the function it is about changed in place
("changed"); only that function's own check judges it, once. Which inputs a function must
leave alone, and why, is nnkit.gradient_check.KEPT_INPUTS: the table (and the message) the
notebooks' visible checks use too, read here from the reference nnkit, so that visible and
hidden checks agree. Changing any other input (a loss's scores, an upstream gradient, the x
of normalizations and dropout) costs nothing, because nothing in nnkit reads it again, and
is only pointed out in a note.
"""
from autograder.checks.framework import reference_package


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
