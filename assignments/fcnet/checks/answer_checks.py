"""Hidden checks of the multiple-choice parts of the inline questions.

The notebook passes the student's answer (`answer=inline_q1_answer`); the key lives here
and nowhere in the released or autograded notebooks. Sets are compared as sets, single
choices as ints, exactly: no partial credit. A wrong answer is reported as wrong without
saying what the right one is. A question left unanswered (the variable not set, or set to
None or an empty set) says "not answered" and where to answer it; an answer the grader
cannot read without running the notebook says which form it needs.
"""
from autograder.checks.framework import check
from autograder.checks.notebook_values import Unreadable, ValueSource

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

# The notebook of each grade_id's prefix, whose solution cell <question>_answer sets the answer.
NOTEBOOKS = {"fc": "FullyConnectedNets.ipynb", "bn": "BatchNormalization.ipynb", "do": "Dropout.ipynb",
             "opt": "Optimizers.ipynb"}

# The examples of the answers' form in messages: no question's answer (a test keeps it so).
SET_EXAMPLE, OPTION_EXAMPLE = "{2, 4}", "3"


def _is_option(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_answer(ctx, key):
    question = ctx.grade_id.rsplit("_", 1)[0]          # "fc_q1"
    source = ctx.values_from
    variable = source.variables["answer"]               # "inline_q1_answer"
    form = (f"a set of option numbers written as a literal, like {SET_EXAMPLE}" if isinstance(key, set) else
            f"one option number written as a literal, like {OPTION_EXAMPLE}")
    answer = ctx.values.get("answer")
    if answer is None or answer == set():
        ctx.unanswered = True
        number = question.split("_q", 1)[1]
        ctx.fail(f"not answered: set {variable} in the answer cell of Inline Question {number} "
                 f"({source.cell} in {source.notebook}) to {form}, and run it")
        return
    if isinstance(answer, Unreadable):
        ctx.fail(f"{question}: {variable} must be {form}; the grader reads it from the answer cell without "
                 f"running anything, and cannot read `{answer.source}`")
        return
    if isinstance(key, set):
        if not isinstance(answer, set) or not all(_is_option(option) for option in answer):
            ctx.fail(f"{question}: {variable} must be {form}")
        elif answer != key:
            shown = "{" + ", ".join(str(option) for option in sorted(answer)) + "}"
            ctx.fail(f"{question}: the answer {shown} is not correct")
    elif not _is_option(answer):
        ctx.fail(f"{question}: {variable} must be {form}")
    elif answer != key:
        ctx.fail(f"{question}: the answer {answer} is not correct")


def _register(grade_id, key):
    question = grade_id.rsplit("_", 1)[0]               # "fc_q1", answered as inline_q1_answer in fc_q1_answer
    prefix, number = question.split("_")
    answered = ValueSource(NOTEBOOKS[prefix], f"{question}_answer", {"answer": f"inline_{number}_answer"})
    check(grade_id, f"multiple choice: the answer passed as answer= must equal the key "
                    f"({'a set' if isinstance(key, set) else 'one option'})",
          values_from=answered)(lambda ctx: _check_answer(ctx, key))


for _grade_id, _key in ANSWER_KEY.items():
    _register(_grade_id, _key)
