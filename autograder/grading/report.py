"""The grading report (OUT/report.md) and score histogram (OUT/score_histogram.png).

Built from grades.csv and scores.csv, so it always covers every student recorded in the
output folder, not only those graded in the last run.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict

from ..manifest import Manifest
from ..sandbox import Limit, SandboxStatus
from .records import OutputPaths, read_csv
from .task import FAILED


def write_report(paths: OutputPaths, manifest: Manifest, max_score: float,
                 isolation: SandboxStatus, limits: list[Limit]) -> None:
    grades = read_csv(paths.grades_csv)
    scores = read_csv(paths.scores_csv)
    graded = [row for row in grades if _graded(row)]
    _plot_histogram(paths, [float(row["score"]) for row in graded], max_score, manifest.id)

    lines = [
        f"# Grading report: {manifest.id} ({manifest.title})",
        "",
        f"Written by `autograder grade {manifest.id}` on "
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}. Scores are autograded points "
        f"out of {_number(max_score)}; written answers are graded by TAs in formgrader "
        "(gradebook.db) and are not included.",
        "",
        f"- Submissions: {len(grades)} ({len(graded)} graded, {len(grades) - len(graded)} "
        "could not be graded)",
        f"- Isolation: {isolation.description}" if isolation.confined else
        f"- **WARNING, no isolation: {isolation.description}.** See docs/SECURITY.md.",
    ]
    if graded:
        values = [float(row["score"]) for row in graded]
        lines.append(f"- Score of the graded ones: mean {statistics.mean(values):.1f}, median "
                     f"{_number(statistics.median(values))}, lowest {_number(min(values))}, "
                     f"highest {_number(max(values))}")
    lines += ["", f"![Score distribution]({paths.histogram.name})", ""]
    lines += _limits(limits) + _attention(grades, scores) + _per_question(graded, scores)
    lines += _score_table(grades)
    paths.report.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _limits(limits: list[Limit]) -> list[str]:
    lines = ["## Limits on student code", "",
             "In force: enforced by the operating system or the grader, whatever the student's "
             "code does.", "", "| Limit | In force | How (or why not) |", "|---|---|---|"]
    lines += [f"| {limit.name} | {'yes' if limit.in_force else '**no**'} | {_cell(limit.how)} |"
              for limit in limits]
    return lines + [""]


def _attention(grades, scores) -> list[str]:
    waiting = defaultdict(list)
    for row in scores:
        if row["score"] == "":
            waiting[row["student_id"]].append(row["grade_id"])
    rows = []
    for row in grades:
        reasons = []
        if row["status"] != "ok":
            reasons.append(row["status"])
        if _graded(row) and float(row["score"]) == 0:
            reasons.append("zero autograded points")
        if waiting[row["student_id"]]:
            reasons.append(f"test cells left for a TA: {', '.join(waiting[row['student_id']])}")
        if reasons:
            rows.append(f"| {row['student_id']} | {row['score']} | {_cell('; '.join(reasons))} |")
    if not rows:
        return ["## Needs attention", "", "Nothing: every submission was graded without a note.",
                ""]
    return ["## Needs attention", "", "| Student | Score | Why |", "|---|---:|---|", *rows, ""]


def _per_question(graded, scores) -> list[str]:
    graded_ids = {row["student_id"] for row in graded}
    cells = {}  # (notebook, grade_id) -> [max_score, full marks, scored]; insertion = order
    for row in scores:
        if row["student_id"] not in graded_ids or row["score"] == "":
            continue
        entry = cells.setdefault((row["notebook"], row["grade_id"]), [row["max_score"], 0, 0])
        entry[1] += float(row["score"]) >= float(row["max_score"])
        entry[2] += 1
    lines = ["## Per question", "",
             "Pass rate: the share of graded submissions with full points on the test cell.", "",
             "| Notebook | Test cell | Points | Pass rate |", "|---|---|---:|---:|"]
    for (notebook, grade_id), (points, full, scored) in cells.items():
        lines.append(f"| {notebook} | {grade_id} | {points} | {full / scored:.0%} ({full}/{scored}) |")
    return lines + [""]


def _score_table(grades) -> list[str]:
    lines = ["## Scores", "", "| Student | Score | Max | Status |", "|---|---:|---:|---|"]
    lines += [f"| {row['student_id']} | {row['score']} | {row['max_score']} | "
              f"{_cell(row['status'])} |" for row in grades]
    return lines + [""]


def _plot_histogram(paths: OutputPaths, values: list[float], max_score: float, assignment: str):
    import matplotlib
    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    bins = min(20, max(1, int(max_score)))
    axes.hist(values, bins=bins, range=(0, max_score), color="tab:blue", edgecolor="white")
    axes.set_xlim(0, max_score)
    axes.set_xlabel(f"autograded points (out of {_number(max_score)})")
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
        score = f"{_number(result.score)}/{_number(max_score)}" if result.graded else "-"
        lines.append(f"{result.student_id:<{width}}  {score:>11}  {result.status}")
    return lines


def _graded(row) -> bool:
    return not row["status"].startswith(FAILED)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _number(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"
