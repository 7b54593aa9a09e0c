"""A long batch interrupted part-way continues where it stopped (slow).

`autograder grade` runs as a real command on three submissions with 2 workers (trimmed
like the hostile corpus to FullyConnectedNets.ipynb and the modules: ada hands in the
reference's modules with the blank notebook, ben and cy the blank release). As soon as
the first entry is recorded, the test presses Ctrl-C (SIGINT to the command's whole process
group, as a terminal does) while the third entry is being graded. The command must stop
everything it started and say in one sentence how far it got; a TA then scores a written
answer of a student graded before the interruption, and the same command runs again: it
grades only the rest, every entry ends up graded exactly once, the CSV files hold one row
per student (and per student and cell), and the TA's score is still there.
"""
import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from nbgrader.api import Gradebook

from autograder.cli import main as autograder_main
from autograder.grading.records import OutputPaths, read_csv
from autograder.grading.samples import Sample, write_zip
from corpus.build_corpus import KEPT, MANIFEST, NOTEBOOK, REPO

pytestmark = pytest.mark.slow

QUESTION, NOTEBOOK_ID = "fc_q1_explain", Path(NOTEBOOK).stem
TA_SCORE, TA_COMMENT = "1.5", "Names the saturating activation."
SENTENCE = re.compile(r"Graded (\d+) of 3 submission\(s\) before the run was interrupted; run the "
                      r"same command again to grade the remaining (\d+)\.")
GRADED_LINE = re.compile(r"^  (\w+): [\d.]+ points in \d+ s", re.MULTILINE)


def write_class(folder: Path) -> None:
    release, source = REPO / "release" / "fcnet", REPO / "source" / "fcnet"
    blank = {path: (release / path).read_bytes() for path in KEPT if (release / path).is_file()}
    # The instructor's modules as they are (the solution markers are comments).
    modules = {path: (source / path).read_bytes() for path in MANIFEST.student_modules
               if path in KEPT}
    for student, files in {"ada": {**blank, **modules}, "ben": blank, "cy": blank}.items():
        write_zip(Sample(student, files), folder / f"{student}.zip")


def processes_under(folder: Path) -> list[str]:
    """Processes whose command line, working folder or environment mention `folder`."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        try:
            seen = " ".join([*(process.info["cmdline"] or []), str(process.info["cwd"]),
                             *process.environ().values()])
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if str(folder) in seen:
            found.append(f"{process.pid}: {' '.join((process.info['cmdline'] or [])[:6])}")
    return found


def still_running_under(folder: Path, grace: float = 10.0) -> list[str]:
    """processes_under(folder) that have not ended `grace` seconds after the command did:
    the multiprocessing resource tracker the command started ends by itself once it reads
    that the command is gone, a moment later."""
    deadline = time.monotonic() + grace
    while (found := processes_under(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def records_of(paths: OutputPaths) -> dict[str, str]:
    """Each graded student's progress record (it says when the entry was graded)."""
    return {record.stem: record.read_text() for record in (paths.progress / "entries").glob("*.json")}


def test_an_interrupted_batch_run_again_grades_every_entry_once(tmp_path, datasets_dir):
    write_class(tmp_path / "submissions")
    paths = OutputPaths(tmp_path / "out")
    # Every scratch folder of the run (and so every process it starts) is below this one.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    command = [sys.executable, "-m", "autograder", "grade", "fcnet", "--submissions",
               str(tmp_path / "submissions"), "--out", str(paths.root), "--workers", "2",
               "--root", str(REPO)]
    env = {**os.environ, "TMPDIR": str(scratch)}

    # --- 1. Ctrl-C once the first entry is recorded ---------------------------------------
    with (tmp_path / "first.out").open("w") as out, (tmp_path / "first.err").open("w") as err:
        first = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err,
                                 start_new_session=True)
        while first.poll() is None and not records_of(paths):
            time.sleep(0.2)
        assert first.poll() is None, (tmp_path / "first.err").read_text()
        os.killpg(first.pid, signal.SIGINT)
        first.wait()
    first_out, first_err = (tmp_path / "first.out").read_text(), (tmp_path / "first.err").read_text()
    assert first.returncode == 130, first_err
    interrupted = SENTENCE.search(first_err)
    assert interrupted, first_err
    assert "Traceback" not in first_err
    graded_first = records_of(paths)
    assert int(interrupted[1]) == len(graded_first) in (1, 2)
    assert int(interrupted[2]) == 3 - len(graded_first)
    assert not still_running_under(scratch), "left running after the interruption"

    # --- 2. a TA scores a written answer of a student graded before the interruption ------
    student = sorted(graded_first)[0]
    sheet = tmp_path / "scores.csv"
    with sheet.open("w", newline="") as file:
        csv.writer(file).writerows([("student_id", "question", "score", "comment"),
                                    (student, QUESTION, TA_SCORE, TA_COMMENT)])
    assert autograder_main(["import-scores", str(paths.root), str(sheet)]) == 0
    rows_first = [row for row in read_csv(paths.scores_csv) if row["student_id"] in graded_first]

    # --- 3. the same command again --------------------------------------------------------
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert (f"Skipping {len(graded_first)} submission(s) graded before and unchanged since"
            in second.stdout)
    graded_lines = Counter(GRADED_LINE.findall(first_out) + GRADED_LINE.findall(second.stdout))
    assert graded_lines == {"ada": 1, "ben": 1, "cy": 1}
    records = records_of(paths)
    assert sorted(records) == ["ada", "ben", "cy"]
    assert {student: records[student] for student in graded_first} == graded_first
    assert not (paths.progress / "unfinished_run.json").exists()

    grades = read_csv(paths.grades_csv)
    assert sorted(row["student_id"] for row in grades) == ["ada", "ben", "cy"]
    scores = read_csv(paths.scores_csv)
    cells = Counter((row["student_id"], row["grade_id"]) for row in scores)
    assert set(cells.values()) == {1}
    assert len(cells) == 3 * len({grade_id for _, grade_id in cells})
    assert [row for row in scores if row["student_id"] in graded_first] == rows_first
    by_id = {row["student_id"]: row for row in grades}
    assert float(by_id["ada"]["score"]) > 0 and by_id["ben"]["score"] == by_id["cy"]["score"] == "0"

    with Gradebook(paths.db_url) as gradebook:
        grade = gradebook.find_grade(QUESTION, NOTEBOOK_ID, "fcnet", student)
        comment = gradebook.find_comment(QUESTION, NOTEBOOK_ID, "fcnet", student)
        assert (grade.manual_score, comment.manual_comment) == (float(TA_SCORE), TA_COMMENT)
        assert {submission.student_id for submission in
                gradebook.find_assignment("fcnet").submissions} == {"ada", "ben", "cy"}
