"""Hidden checks of the multiple-choice parts of the inline questions.

The notebook passes the student's answer (`answer=inline_q1_answer`); the key lives here
and nowhere in the released or autograded notebooks. Sets are compared as sets, single
choices as ints, exactly: no partial credit. A wrong answer is reported as wrong without
saying what the right one is.
"""
from .framework import check

# grade_id of the format-check cell -> the correct answer (a set of option numbers, or one int).
ANSWER_KEY = {
    "fc_q1_choice": {1, 2},
    "fc_q2_choice": 2,
    "fc_q3_choice": {1, 2},
    "fc_q4_choice": {1, 3},
    "bn_q1_choice": {1, 2},
    "bn_q2_choice": {1, 3},
    "bn_q3_choice": {2, 3},
    "do_q1_choice": 1,
    "do_q2_choice": {1, 2},
    "do_q3_choice": 1,
    "opt_q1_choice": {1, 5, 6},
}


def _is_option(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_answer(ctx, key):
    question = ctx.grade_id.rsplit("_", 1)[0]          # "fc_q1"
    variable = f"inline_{question.split('_', 1)[1]}_answer"  # "inline_q1_answer"
    if "answer" not in ctx.values:
        ctx.fail(f"{question}: no answer was given; set {variable} in the answer cell and run it")
        return
    answer = ctx.values["answer"]
    if isinstance(key, set):
        if not isinstance(answer, set) or not all(_is_option(option) for option in answer):
            ctx.fail(f"{question}: {variable} must be a Python set of option numbers (ints)")
        elif answer != key:
            shown = "{" + ", ".join(str(option) for option in sorted(answer)) + "}"
            ctx.fail(f"{question}: the answer {shown} is not correct")
    elif not _is_option(answer):
        ctx.fail(f"{question}: {variable} must be one option number (an int)")
    elif answer != key:
        ctx.fail(f"{question}: the answer {answer} is not correct")


def _register(grade_id, key):
    check(grade_id, f"multiple choice: the answer passed as answer= must equal the key "
                    f"({'a set' if isinstance(key, set) else 'one option'})",
          parameters=("answer",))(lambda ctx: _check_answer(ctx, key))


for _grade_id, _key in ANSWER_KEY.items():
    _register(_grade_id, _key)
