"""Grading the written answers question by question, outside formgrader.

    page, sheet = write_answers_page(grades, paths, "fc_q1_explain")
    imported = import_scores(paths, Path("fc_q1_scores.csv"))

`autograder answers OUT --question ID` writes every student's answer to one question on one
HTML page (OUT/answers/<ID>.html), with the score and comment each already has, and a CSV
sheet to fill in beside it (OUT/answers/<ID>.csv: student_id, question, score, comment).

`autograder import-scores OUT FILE` reads such a CSV (any number of questions) and writes the
scores and comments into the gradebook (OUT/gradebook.db, or OUT's PostgreSQL database) as
formgrader would: the manual score and comment
of each answer. The whole file is checked first and nothing is written when any line is
wrong; each problem names the line (unknown student, unknown question, a score that is not a
number, negative or above the question's maximum, a student who did not hand in that
notebook, a student and question given twice). A row with an empty score changes only the
comment; an empty comment keeps the one there.

Answers are student text: rendered from Markdown, then cleaned of anything but formatting
tags, so a page never runs a student's script in a TA's browser.
"""
from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path

import bleach
import nbformat
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from .class_grades import ANSWER, ClassGrades, read_class_grades
from .export import number
from .gradebook import open_gradebook
from .records import OutputPaths

SHEET_FIELDS = ("student_id", "question", "score", "comment")
_FORMATTING_TAGS = {"p", "br", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote",
                    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th",
                    "td", "hr", "del", "sup", "sub"}


class AnswersError(ValueError):
    """A question or a scores file that cannot be used; the message says why (for a file,
    every problem, each with its line)."""


@dataclass(frozen=True)
class Imported:
    scores: int     # answers whose score was set
    comments: int   # answers whose comment was set


def write_answers_page(grades: ClassGrades, paths: OutputPaths, question: str) -> tuple[Path, Path]:
    """Write OUT/answers/<question>.html and .csv; return both paths."""
    cell = _answer_cell(grades, question)
    sections, sheet = [], [list(SHEET_FIELDS)]
    absent = []
    for student in grades.students:
        graded = next((c for c in student.cells if c.grade_id == question), None)
        if graded is None or not graded.handed_in:
            absent.append(student.student_id)
            continue
        source = _answer_source(paths, grades.assignment, student.student_id, cell.notebook,
                                question)
        score = "not graded yet" if graded.waiting else f"{number(graded.score)} / {number(cell.max_score)}"
        who = html.escape(student.student_id + (f" ({student.name})" if student.name else ""))
        comment = (f'<p class="comment">TA comment: {html.escape(graded.comment)}</p>'
                   if graded.comment else "")
        sections.append(f'<section id="{html.escape(student.student_id)}">\n'
                        f'<h2>{who} <span class="score">{score}</span></h2>\n'
                        f'<div class="answer">{_render(source)}</div>\n{comment}\n</section>')
        sheet.append([student.student_id, question,
                      "" if graded.waiting else number(graded.score), graded.comment])
    paths.answers.mkdir(exist_ok=True)
    page = paths.answers / f"{question}.html"
    page.write_text(_PAGE.format(
        title=html.escape(f"{grades.assignment}: {question} ({cell.notebook}), "
                          f"{number(cell.max_score)} points"),
        count=len(sections), sheet=html.escape(f"{question}.csv"),
        sections="\n".join(sections),
        absent=(f"<p>Did not hand in {html.escape(cell.notebook)}.ipynb (0 points): "
                f"{html.escape(', '.join(absent))}</p>" if absent else "")),
        encoding="utf-8")
    sheet_path = paths.answers / f"{question}.csv"
    with sheet_path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(sheet)
    return page, sheet_path


def import_scores(paths: OutputPaths, scores_csv: Path, assignment: str | None = None) -> Imported:
    """Check every line of scores_csv, then write them all, or raise AnswersError and
    write nothing."""
    grades = read_class_grades(paths, assignment)
    rows = _read_sheet(scores_csv)
    students = {student.student_id: student for student in grades.students if student.cells}
    problems, seen, updates = [], {}, []
    for line, row in rows:
        where = f"{scores_csv}, line {line}"
        student_id, question = row["student_id"].strip(), row["question"].strip()
        score_text, comment = row["score"].strip(), (row.get("comment") or "").strip()
        student = students.get(student_id)
        cell = grades.cell(question)
        if student is None:
            problems.append(f"{where}: unknown student {student_id!r} (no graded submission "
                            "in the gradebook)")
        if cell is None or cell.kind != ANSWER:
            kind = "an autograded test cell" if cell else "not a question of " + grades.assignment
            problems.append(f"{where}: {question!r} is {kind}; the written answers are "
                            f"{', '.join(grades.answer_ids)}")
        score = _score(score_text, cell, where, problems) if cell and cell.kind == ANSWER else None
        if student is None or cell is None or cell.kind != ANSWER:
            continue
        if (student_id, question) in seen:
            problems.append(f"{where}: {student_id} and {question} are already on line "
                            f"{seen[student_id, question]}")
            continue
        seen[student_id, question] = line
        handed_in = next(c.handed_in for c in student.cells if c.grade_id == question)
        if not handed_in:
            problems.append(f"{where}: {student_id} did not hand in {cell.notebook}.ipynb, so "
                            f"{question} has no answer to grade (it scores 0)")
            continue
        updates.append((student_id, cell.notebook, question, score, comment))
    if problems:
        raise AnswersError(f"{len(problems)} problem(s), nothing was imported:\n  "
                           + "\n  ".join(problems))

    with open_gradebook(paths.db_url) as gradebook:
        for student_id, notebook, question, score, comment in updates:
            if score is not None:
                grade = gradebook.find_grade(question, notebook, grades.assignment, student_id)
                grade.manual_score = score
                grade.needs_manual_grade = False
            if comment:
                gradebook.find_comment(question, notebook, grades.assignment,
                                       student_id).manual_comment = comment
        gradebook.db.commit()
    return Imported(sum(u[3] is not None for u in updates), sum(bool(u[4]) for u in updates))


def _answer_cell(grades: ClassGrades, question: str):
    cell = grades.cell(question)
    if cell is None or cell.kind != ANSWER:
        raise AnswersError(f"{question!r} is not a written answer of {grades.assignment}; "
                           f"they are {', '.join(grades.answer_ids)}")
    return cell


def _answer_source(paths: OutputPaths, assignment: str, student_id: str, notebook: str,
                   question: str) -> str:
    path = paths.autograded / student_id / assignment / f"{notebook}.ipynb"
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == question:
            return cell.source
    return ""  # cannot happen for an autograded notebook: nbgrader restores graded cells


def _render(markdown: str) -> str:
    if not markdown.strip():
        return "<p><em>(empty)</em></p>"
    return bleach.clean(markdown2html_mistune(markdown), tags=_FORMATTING_TAGS,
                        attributes={}, strip=True)


def _read_sheet(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark
    except FileNotFoundError:
        raise AnswersError(f"{path} not found") from None
    except UnicodeDecodeError:
        raise AnswersError(f"{path} is not UTF-8 text: save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [name for name in SHEET_FIELDS[:3] if name not in (reader.fieldnames or [])]
    if missing:
        raise AnswersError(f"{path}, line 1: the header lacks {', '.join(missing)} (expected "
                           f"{','.join(SHEET_FIELDS)})")
    rows, first_line = [], reader.line_num + 1
    for row in reader:  # a quoted comment may span lines: report where its row starts
        if any((value or "").strip() for value in row.values() if isinstance(value, str)):
            rows.append((first_line, {key: row.get(key) or "" for key in SHEET_FIELDS}))
        first_line = reader.line_num + 1
    return rows


def _score(text: str, cell, where: str, problems: list[str]) -> float | None:
    if not text:
        return None
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    if math.isnan(score) or math.isinf(score):
        problems.append(f"{where}: score {text!r} is not a number")
    elif score < 0:
        problems.append(f"{where}: score {text} is negative")
    elif score > cell.max_score:
        problems.append(f"{where}: score {text} is above the maximum {number(cell.max_score)} "
                        f"of {cell.grade_id}")
    else:
        return score
    return None


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.45; }}
section {{ border-top: 1px solid #ccc; padding: 0.5em 0; }}
.score {{ font-weight: normal; font-size: 0.8em; color: #555; margin-left: 1em; }}
.comment {{ color: #064; }}
</style></head><body>
<h1>{title}</h1>
<p>{count} answer(s). Grade them in <code>{sheet}</code> beside this page (student_id,
question, score, comment), then run <code>autograder import-scores OUT {sheet}</code>.</p>
{sections}
{absent}
</body></html>
"""
