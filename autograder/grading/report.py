"""The grading report (OUT/report.md) and score histogram (OUT/score_histogram.png).

    write_report(paths, read_class_grades(paths), "autograder grade hw1", title="...")

Built from the whole output folder (class_grades.py: grades.csv and the gradebook), so it
covers every student recorded there, not only those graded in the last run, and the written
answers as far as TAs have graded them. `autograder grade` writes it, `autograder export`
rewrites it after TA grading. Whether student code ran sandboxed, and which limits were in
force, are saved by the grading run (OUT/isolation.json) and repeated in every report.
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import asdict

from ..sandbox import Limit, SandboxStatus
from .class_grades import ANSWER, ClassGrades, StudentGrade
from .deadlines import TIME_UNKNOWN
from .export import number
from .records import OutputPaths


def save_isolation(paths: OutputPaths, isolation: SandboxStatus, limits: list[Limit]) -> None:
    """Record whether student code ran sandboxed, and under which limits, for every later
    report (export rewrites it without grading)."""
    paths.isolation.write_text(json.dumps({"sandbox": asdict(isolation),
                                           "limits": [asdict(limit) for limit in limits]},
                                          indent=1) + "\n", encoding="utf-8")


def _saved_isolation(paths: OutputPaths) -> tuple[SandboxStatus, list[Limit]] | None:
    if not paths.isolation.is_file():
        return None
    saved = json.loads(paths.isolation.read_text(encoding="utf-8"))
    return SandboxStatus(**saved["sandbox"]), [Limit(**limit) for limit in saved["limits"]]


def write_report(paths: OutputPaths, grades: ClassGrades, written_by: str,
                 title: str | None = None) -> None:
    graded = [student for student in grades.students if student.graded]
    tests_max = sum(cell.max_score for cell in grades.cells if cell.kind != ANSWER)
    _plot_histogram(paths, [student.autograded for student in graded], tests_max,
                    grades.assignment)
    answers_to_grade = sum(1 for student in graded for cell in student.cells
                           if cell.kind == ANSWER and cell.waiting)
    answers_handed_in = sum(1 for student in graded for cell in student.cells
                            if cell.kind == ANSWER and cell.handed_in)
    final = [student for student in graded if student.final is not None]
    lines = [
        f"# Grading report: {grades.assignment}" + (f" ({title})" if title else ""),
        "",
        f"Written by `{written_by}` on {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}. "
        f"The assignment is worth {number(grades.max_score)} points: {number(tests_max)} "
        f"autograded and {number(grades.max_score - tests_max)} for written answers graded by "
        "TAs (formgrader or `autograder import-scores`); the final grade is (autograded + "
        "written) x (1 - late penalty).",
        "",
        f"- Submissions: {len(grades.students)} ({len(graded)} graded, "
        f"{len(grades.students) - len(graded)} could not be graded)",
        f"- Written answers: {answers_handed_in - answers_to_grade} of {answers_handed_in} "
        f"handed in are graded; {answers_to_grade} wait for a TA",
        f"- Final grades: {len(final)} of {len(graded)} graded submissions (the others wait "
        "for a TA); `autograder export` writes them for the LMS",
        _isolation_line(paths),
    ]
    if graded:
        values = [student.autograded for student in graded]
        lines.append(f"- Autograded points: mean {statistics.mean(values):.1f}, median "
                     f"{number(statistics.median(values))}, lowest {number(min(values))}, "
                     f"highest {number(max(values))} (out of {number(tests_max)})")
    if final:
        values = [student.final for student in final]
        lines.append(f"- Final grades: mean {statistics.mean(values):.1f}, median "
                     f"{number(statistics.median(values))}, lowest {number(min(values))}, "
                     f"highest {number(max(values))} (out of {number(grades.max_score)})")
    lines += ["", f"![Score distribution]({paths.histogram.name})", ""]
    lines += _limits(paths) + _attention(grades) + _per_question(grades) + _score_table(grades)
    paths.report.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _isolation_line(paths: OutputPaths) -> str:
    saved = _saved_isolation(paths)
    if saved is None:
        return "- Isolation: unknown (no record of the grading run in this folder)"
    isolation, _ = saved
    if isolation.confined:
        return f"- Isolation: {isolation.description}"
    return f"- **WARNING, no isolation: {isolation.description}.** See docs/SECURITY.md."


def _limits(paths: OutputPaths) -> list[str]:
    saved = _saved_isolation(paths)
    if saved is None:
        return []
    lines = ["## Limits on student code", "",
             "In force: enforced by the operating system or the grader, whatever the student's "
             "code does.", "", "| Limit | In force | How (or why not) |", "|---|---|---|"]
    lines += [f"| {limit.name} | {'yes' if limit.in_force else '**no**'} | {_cell(limit.how)} |"
              for limit in saved[1]]
    return lines + [""]


def attention_reasons(student: StudentGrade) -> list[str]:
    """Why a person should look at this student: the status when it is not plain "ok"
    (failed, flagged, late, missing files...), a late penalty, no autograded point."""
    # A plain folder of zips records no hand-in time: nothing for a person to do about it.
    reasons = [] if student.status in ("ok", f"ok, but: {TIME_UNKNOWN}") else [student.status]
    if student.late_penalty:
        reasons.append(f"late penalty {student.late_penalty:.0%}")
    if student.graded and student.autograded == 0:
        reasons.append("zero autograded points")
    return reasons


def _attention(grades: ClassGrades) -> list[str]:
    rows = [f"| {student.student_id} | {number(student.autograded)} | "
            f"{_cell('; '.join(reasons))} |"
            for student in grades.students if (reasons := attention_reasons(student))]
    lines = ["## Needs attention", ""]
    lines += (["| Student | Autograded | Why |", "|---|---:|---|", *rows] if rows else
              ["Nothing: every submission was graded without a note."])
    # Right after grading every student waits for TAs: kept apart from the table above, so
    # that it still shows who needs a person for anything else.
    waiting = [student for student in grades.students if student.graded and student.waiting]
    lines += ["", "### Written answers not graded yet", ""]
    lines += ([f"- {student.student_id}: {', '.join(cell.grade_id for cell in student.waiting)}"
               for student in waiting] if waiting else ["None: every answer has a score."])
    return lines + [""]


def _per_question(grades: ClassGrades) -> list[str]:
    lines = ["## Per question", "",
             "Pass rate: the share of graded submissions with full points on the cell; for a "
             "written answer, of the answers a TA has graded so far (an untouched answer "
             "scores 0 by itself).", "",
             "| Notebook | Cell | Kind | Points | Pass rate | Graded |",
             "|---|---|---|---:|---:|---:|"]
    graded = [student for student in grades.students if student.graded]
    for cell in grades.cells:
        mine = [c for student in graded for c in student.cells if c.grade_id == cell.grade_id]
        scored = [c for c in mine if not c.waiting]
        full = sum(c.score >= c.max_score for c in scored)
        rate = f"{full / len(scored):.0%} ({full}/{len(scored)})" if scored else "not graded yet"
        kind = "written" if cell.kind == ANSWER else "autograded"
        lines.append(f"| {cell.notebook} | {cell.grade_id} | {kind} | {number(cell.max_score)} "
                     f"| {rate} | {len(scored)}/{len(mine)} |")
    return lines + [""]


def _score_table(grades: ClassGrades) -> list[str]:
    lines = ["## Scores", "",
             f"Out of {number(grades.max_score)}. Final is empty until every answer is graded.", "",
             "| Student | Autograded | Written | Late penalty | Final | Status |",
             "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {s.student_id} | {number(s.autograded)} | {number(s.written)} | "
              f"{s.late_penalty:.0%} | {number(s.final)} | {_cell(s.status if s.complete else s.state)} |"
              for s in grades.students]
    return lines + [""]


def _plot_histogram(paths: OutputPaths, values: list[float], max_score: float, assignment: str):
    import matplotlib
    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    bins = min(20, max(1, int(max_score)))
    axes.hist(values, bins=bins, range=(0, max_score), color="tab:blue", edgecolor="white")
    axes.set_xlim(0, max_score)
    axes.set_xlabel(f"autograded points (out of {number(max_score)})")
    axes.set_ylabel("submissions")
    axes.set_title(f"{assignment}: autograded scores of {len(values)} graded submission(s)")
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    figure.savefig(paths.histogram, dpi=100)
    plt.close(figure)


def summary_table(results, max_score: float) -> list[str]:
    """Plain-text score table for the terminal, one line per result."""
    width = max([len("student"), *(len(result.student_id) for result in results)])
    lines = [f"{'student':<{width}}  {'score':>11}  status", f"{'-' * width}  {'-' * 11}  ------"]
    for result in results:
        score = f"{number(result.score)}/{number(max_score)}" if result.graded else "-"
        lines.append(f"{result.student_id:<{width}}  {score:>11}  {result.status}")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
