"""The gradebook in PostgreSQL (`autograder grade --db URL`), on a real server.

A throw-away PostgreSQL server from Debian's packages is started on loopback for this module
(tests/postgres_server.py) and stopped afterwards; each test gets a database of its own,
owned by a role that logs in with a password, as README tells instructors to set it up.

Fast (nothing is graded):
- what --db accepts, what OUT records (never a password), and the one-sentence errors for a
  URL of another kind, a missing driver, a server that cannot be reached, a wrong or
  missing password;
- TAs and the grader writing the same grades at the same time: nbgrader's real formgrader
  server (its HTTP API, as the browser calls it) against records.record_in_gradebook.

Slow: three trimmed submissions graded with 2 workers into SQLite (conftest's graded_class,
shared with test_ta_grading.py) and into PostgreSQL give identical grades.csv, scores.csv and
gradebooks; then the TA path on PostgreSQL
(formgrader's API while a student is regraded, import-scores, export, feedback), with the
password coming from ~/.pgpass (PGPASSFILE) only, gives the final grades SQLite gives.
"""
import csv
import html
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from nbgrader.api import Grade, Gradebook

from autograder.cli import main as autograder_main
from autograder.grading.course import nbgrader_env
from autograder.grading.formgrader import FormgraderServer
from autograder.grading.gradebook import GradebookDatabase, GradebookError, open_gradebook
from autograder.grading.graded_course import make_course_root
from autograder.grading.intake import read_download
from autograder.grading.records import OutputPaths, read_csv, record_in_gradebook
from autograder.grading.task import CellResult, GradingResult
from corpus.build_corpus import NOTEBOOK, REPO
from postgres_server import PostgresServer, PostgresUnavailable, free_port

PASSWORD = "Grader-Pw-7391"  # found nowhere in OUT, ever
ROLE = "grader"
# Set by `make test`, which installs the server first: there a missing one is a failure.
NEED_SERVER_ENV = "NNKIT_TESTS_NEED_POSTGRES"


@pytest.fixture(scope="module")
def postgres():
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as why:
        fail_or_skip = pytest.fail if os.environ.get(NEED_SERVER_ENV) == "1" else pytest.skip
        fail_or_skip(f"no PostgreSQL server: {why}")
    yield server
    server.stop()


@pytest.fixture
def database(postgres, request):
    """A new database for this test: the URL with its password, as an instructor may type it."""
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    return postgres.create_database(name, ROLE, PASSWORD)


def pgpass(folder: Path, postgres: PostgresServer) -> Path:
    """A ~/.pgpass file (libpq's own format), to point PGPASSFILE at."""
    path = folder / "pgpass"
    path.write_text(f"127.0.0.1:{postgres.port}:*:{ROLE}:{PASSWORD}\n")
    path.chmod(0o600)  # libpq ignores a password file others can read
    return path


def files_holding(root: Path, secret: str) -> list[str]:
    return [str(path) for path in root.rglob("*")
            if path.is_file() and secret.encode() in path.read_bytes()]


# --- URLs, what OUT records, and errors ------------------------------------------------------

def test_a_url_as_users_write_it_is_opened_with_the_pinned_driver():
    database = GradebookDatabase.parse(f"postgresql://{ROLE}:{PASSWORD}@db.example.edu/fcnet")
    assert str(database) == f"postgresql+psycopg://{ROLE}@db.example.edu/fcnet"
    assert database.environment() == {"PGPASSWORD": PASSWORD}
    assert str(GradebookDatabase.parse("postgres://ta@/fcnet?host=/var/run/postgresql")) == \
        "postgresql+psycopg://ta@/fcnet?host=%2Fvar%2Frun%2Fpostgresql"
    assert str(GradebookDatabase.parse("postgres+psycopg://ta@db/fcnet")) == \
        "postgresql+psycopg://ta@db/fcnet"  # "postgres" is no dialect SQLAlchemy 2 loads
    assert GradebookDatabase.parse("postgresql://ta@db/fcnet").environment() == {}


@pytest.mark.parametrize("text", ["mysql://ta:pw@db/fcnet", "sqlite:///gradebook.db", "fcnet"])
def test_a_url_of_another_kind_is_refused_in_one_sentence(text, tmp_path, capsys):
    assert autograder_main(["export", str(tmp_path), "--db", text]) == 1
    error = capsys.readouterr().err
    assert "is not a PostgreSQL URL: write postgresql://USER@HOST" in error
    assert "pw" not in error and error.count("\n") == 1


def test_a_missing_driver_is_named(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "psycopg", None)  # as if not installed
    with pytest.raises(GradebookError, match=r"^cannot open the gradebook postgresql\+psycopg://"
                       r"ta@db/fcnet: its driver psycopg is not installed \(install the kit's"):
        GradebookDatabase.parse("postgresql://ta:secret@db/fcnet").holds_gradebook()


def test_a_server_that_cannot_be_reached_is_named_without_the_password(tmp_path, capsys):
    url = f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{free_port()}/fcnet"
    assert autograder_main(["export", str(tmp_path), "--db", url]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"autograder export: cannot use the gradebook postgresql+psycopg://"
                            f"{ROLE}@127.0.0.1:") and "Connection refused" in error
    assert PASSWORD not in error


def test_a_missing_password_says_where_it_must_come_from(database, postgres, tmp_path,
                                                         monkeypatch):
    for variable in ("PGPASSWORD", "PGPASSFILE", "PGSERVICEFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pgpass
    stored = str(GradebookDatabase.parse(database))
    with pytest.raises(GradebookError) as raised:
        GradebookDatabase.parse(stored).holds_gradebook()
    assert str(raised.value).startswith(f"cannot use the gradebook {stored}: ")
    assert "no password supplied; the password comes from PGPASSWORD, a ~/.pgpass line" in str(
        raised.value)
    monkeypatch.setenv("PGPASSFILE", str(pgpass(tmp_path, postgres)))
    assert GradebookDatabase.parse(stored).holds_gradebook() is False  # reached: empty


def test_out_records_the_database_without_its_password(database, tmp_path):
    paths = OutputPaths(tmp_path / "out", GradebookDatabase.parse(database))
    paths.root.mkdir()
    make_course_root(paths, "a1", paths.database)
    assert files_holding(paths.root, PASSWORD) == []
    recorded = OutputPaths(paths.root).database  # what every later command uses
    assert str(recorded) == recorded.connect_url == str(paths.database)
    make_course_root(OutputPaths(paths.root), "a1")  # TA commands rewrite it: it stays
    assert str(OutputPaths(paths.root).database) == str(paths.database)


def test_grading_into_a_folder_with_grades_elsewhere_is_refused(database, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "gradebook.db").write_bytes(b"")  # OUT graded before, into SQLite
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    assert autograder_main(["grade", "fcnet", "--submissions", str(submissions), "--out",
                            str(out), "--root", str(REPO), "--db", database]) == 1
    error = capsys.readouterr().err
    assert f"{out} keeps its grades in sqlite:///{out / 'gradebook.db'}, so grading it into" \
           " --db postgresql+psycopg://" in error and PASSWORD not in error


# --- TAs and the grader at the same time ------------------------------------------------------
# a1/nb: test cell t1 (6 points), written answer q1 (2 points); students s01..s12.

STUDENTS = [f"s{number:02d}" for number in range(1, 13)]


def result(student_id: str, t1: float) -> GradingResult:
    return GradingResult(student_id, student_id, "ok", cells=(
        CellResult("nb", "t1", "test", t1, 6.0), CellResult("nb", "q1", "answer", None, 2.0)))


def register_a1(paths: OutputPaths) -> None:
    with Gradebook(paths.db_url) as gradebook:
        gradebook.add_assignment("a1")
        gradebook.add_notebook("nb", "a1")
        gradebook.add_grade_cell("t1", "nb", "a1", max_score=6, cell_type="code")
        gradebook.add_grade_cell("q1", "nb", "a1", max_score=2, cell_type="markdown")
        gradebook.add_solution_cell("q1", "nb", "a1")


def test_a_student_id_too_long_for_the_gradebook_is_shortened_to_fit(database, tmp_path,
                                                                     monkeypatch):
    """PostgreSQL refuses an id longer than nbgrader's column (SQLite takes it), which would
    stop the batch at that student: the intake shortens it and says so."""
    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])  # nbgrader runs `alembic`
    download = tmp_path / "download"
    download.mkdir()
    for name in ("a" * 200, "a" * 250):  # one id once shortened: the second becomes -2
        (download / f"{name}.zip").write_bytes(b"")
    entries = read_download(download).entries
    assert [len(entry.student_id) for entry in entries] == [128, 128]
    assert sorted(entry.student_id[-2:] for entry in entries) == ["-2", "aa"]
    assert all("at most 128 characters" in entry.notes[0] for entry in entries)
    paths = OutputPaths(tmp_path / "out", GradebookDatabase.parse(database))
    register_a1(paths)
    record_in_gradebook(paths.db_url, "a1", [result(entry.student_id, 1) for entry in entries])
    assert [row(paths, ids(paths, entry.student_id).t1)[0] for entry in entries] == [1, 1]


@pytest.fixture(scope="module")
def shared(postgres, tmp_path_factory):
    """A PostgreSQL-backed OUT for a1 with every student graded once (t1 = 6), and
    nbgrader's formgrader serving it; the password only in PGPASSFILE. Each test below
    works on students of its own."""
    tmp = tmp_path_factory.mktemp("shared")
    database = postgres.create_database("shared", ROLE, PASSWORD)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", nbgrader_env()["PATH"])  # nbgrader runs `alembic`
        patch.setenv("PGPASSFILE", str(pgpass(tmp, postgres)))
        paths = OutputPaths(tmp / "out")
        paths.root.mkdir()
        make_course_root(paths, "a1", GradebookDatabase.parse(database))
        register_a1(paths)
        record_in_gradebook(paths.db_url, "a1", [result(student, 6) for student in STUDENTS])
        server = FormgraderServer(paths, "a1", port=free_port())
        log = (tmp / "formgrader.log").open("w")
        process = server.start(stdout=log, stderr=log)
        try:
            wait_for(server, process)
            yield SimpleNamespace(paths=paths, server=server, log=tmp / "formgrader.log")
        finally:
            process.terminate()
            process.wait(timeout=60)
            log.close()


def wait_for(server: FormgraderServer, process, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            api(server, "GET", "/api/status")
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"formgrader did not start (exit code {process.poll()})")


def api(server: FormgraderServer, method: str, path: str, body: dict | None = None):
    """A call to the server's API, as formgrader's pages make them (the token in a header)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def ids(paths: OutputPaths, student: str) -> SimpleNamespace:
    with open_gradebook(paths.db_url) as gradebook:
        return SimpleNamespace(
            t1=gradebook.find_grade("t1", "nb", "a1", student).id,
            q1=gradebook.find_grade("q1", "nb", "a1", student).id,
            q1_comment=gradebook.find_comment("q1", "nb", "a1", student).id)


def row(paths: OutputPaths, grade_id: str) -> tuple:
    with open_gradebook(paths.db_url) as gradebook:
        grade = gradebook.db.get(Grade, grade_id)
        return grade.auto_score, grade.manual_score, grade.needs_manual_grade


def comment(paths: OutputPaths, comment_id: str) -> str | None:
    with open_gradebook(paths.db_url) as gradebook:
        return gradebook.find_comment_by_id(comment_id).manual_comment


def test_formgrader_saving_after_a_regrade_keeps_the_new_automatic_score(shared):
    """Formgrader keeps the grades it has shown in memory; a regrade changes them
    underneath; the TA's save then must write the TA's score and nothing older."""
    s01 = ids(shared.paths, "s01")
    assert api(shared.server, "GET", f"/formgrader/api/grade/{s01.t1}")["auto_score"] == 6
    record_in_gradebook(shared.paths.db_url, "a1", [result("s01", 3)])  # the regrade
    api(shared.server, "PUT", f"/formgrader/api/grade/{s01.t1}", {"manual_score": 5})
    api(shared.server, "PUT", f"/formgrader/api/comment/{s01.q1_comment}",
        {"manual_comment": "Overrode t1: the check was too strict."})
    assert row(shared.paths, s01.t1)[:2] == (3, 5)
    assert comment(shared.paths, s01.q1_comment) == "Overrode t1: the check was too strict."


def test_a_regrade_waiting_for_a_tas_save_keeps_it_and_flags_the_cell_for_review(
        shared, postgres):
    """The TA's save holds the row when the grader comes to write it: the grader waits,
    then writes its automatic score beside the TA's, and (as nbgrader does for a regraded
    cell a TA scored) flags it for review, judged on the row as the TA left it."""
    s02 = ids(shared.paths, "s02")
    url = GradebookDatabase.parse(shared.paths.db_url).url
    with psycopg.connect(host="127.0.0.1", port=url.port, user=ROLE, dbname=url.database,
                         password=PASSWORD) as ta:  # formgrader's UPDATE, before its commit
        ta.execute("UPDATE grade SET manual_score = 4, needs_manual_grade = false "
                   "WHERE id = %s", (s02.t1,))
        grader = threading.Thread(target=record_in_gradebook,
                                  args=(shared.paths.db_url, "a1", [result("s02", 2)]))
        grader.start()
        with postgres.superuser() as observer:
            assert wait_until(lambda: observer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                "wait_event_type = 'Lock'", (url.database,)).fetchone()[0] == 1)
        ta.commit()
    grader.join(timeout=60)
    assert row(shared.paths, s02.t1) == (2, 4, True)


def test_db_given_to_one_command_is_used_by_it_alone(shared, postgres, tmp_path):
    """A TA reaching the database another way (say, an SSH tunnel) passes --db: formgrader
    and the commands use it; OUT keeps recording its own."""
    other = GradebookDatabase.parse(postgres.create_database("other", ROLE, PASSWORD))
    register_a1(OutputPaths(tmp_path, other))
    record_in_gradebook(other.connect_url, "a1", [result("zoe", 1)])
    server = FormgraderServer(OutputPaths(shared.paths.root, other), "a1", port=free_port())
    process = server.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(server, process)
        listed = api(server, "GET", "/formgrader/api/submissions/a1")
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert [(submission["student"], submission["score"]) for submission in listed] == [("zoe", 1)]
    assert ids(OutputPaths(shared.paths.root, other), "zoe").t1  # zoe is in the other one only
    assert str(OutputPaths(shared.paths.root).database) == str(shared.paths.database)


def test_tas_and_a_regrade_writing_at_once_lose_nothing(shared):
    """The grader regrades students over and over while a TA saves a score and a comment
    for each one's answer through formgrader, at the same time."""
    students = {student: ids(shared.paths, student) for student in STUDENTS[2:]}
    ta_done, rounds = threading.Event(), []

    def regrade():
        while not ta_done.is_set() and len(rounds) < 200:
            auto = float(len(rounds) % 7)
            record_in_gradebook(shared.paths.db_url, "a1",
                                [result(student, auto) for student in students])
            rounds.append(auto)

    grader = threading.Thread(target=regrade)
    grader.start()
    try:
        for sweep in range(3):
            for number, (student, cell) in enumerate(students.items()):
                api(shared.server, "PUT", f"/formgrader/api/grade/{cell.q1}",
                    {"manual_score": (number + sweep) % 3 * 0.5})
                api(shared.server, "PUT", f"/formgrader/api/comment/{cell.q1_comment}",
                    {"manual_comment": f"{student}, sweep {sweep}"})
    finally:
        ta_done.set()
        grader.join(timeout=120)
    assert len(rounds) >= 2, "the regrades did not overlap the TA's saves"
    for number, (student, cell) in enumerate(students.items()):
        assert row(shared.paths, cell.q1)[1] == (number + 2) % 3 * 0.5
        assert comment(shared.paths, cell.q1_comment) == f"{student}, sweep 2"
        assert row(shared.paths, cell.t1)[0] == rounds[-1]
    assert "Traceback" not in shared.log.read_text()


def wait_until(condition, limit: float = 60) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# --- slow: a real batch, into SQLite and into PostgreSQL ----------------------------------------
# conftest's graded_class (graded into SQLite once per run, a copy here): alice and bob (the
# reference), carol (the blank release: regraded while a TA grades, the quickest to grade).

QUESTION, NOTEBOOK_ID = "fc_q1_explain", Path(NOTEBOOK).stem
TA_SCORE, TA_COMMENT = 1.5, "Say which activation saturates."
STUDENTS_GRADED = ("alice", "bob", "carol")


def grade(submissions: Path, out: Path, *options: str) -> int:
    return autograder_main(["grade", "fcnet", "--submissions", str(submissions), "--out",
                            str(out), "--workers", "2", "--root", str(REPO), *options])


def gradebook_contents(paths: OutputPaths) -> dict:
    """Everything a gradebook says about the assignment and each student's cells."""
    with open_gradebook(paths.db_url) as gradebook:
        assignment = gradebook.find_assignment("fcnet")
        cells = sorted((notebook.name, cell.name, cell.max_score, cell.cell_type)
                       for notebook in assignment.notebooks for cell in notebook.grade_cells)
        grades = sorted(
            (submission.student.id, notebook.name, grade.name, grade.auto_score,
             grade.manual_score, grade.extra_credit, grade.needs_manual_grade)
            for submission in assignment.submissions for notebook in submission.notebooks
            for grade in notebook.grades)
        comments = sorted(
            (submission.student.id, notebook.name, comment.name, comment.auto_comment,
             comment.manual_comment)
            for submission in assignment.submissions for notebook in submission.notebooks
            for comment in notebook.comments)
    return {"cells": cells, "grades": grades, "comments": comments}


@pytest.fixture(scope="module")
def batch(postgres, tmp_path_factory, graded_class):
    """The same batch graded into SQLite (graded_class) and into PostgreSQL (--db with the
    password in it: the way it must not be kept); from then on the password is in PGPASSFILE
    only."""
    tmp = tmp_path_factory.mktemp("batch")
    submissions = graded_class.submissions
    assert graded_class.students == STUDENTS_GRADED
    url = postgres.create_database("fcnet", ROLE, PASSWORD)
    shutil.copytree(graded_class.out, tmp / "sqlite")
    assert grade(submissions, tmp / "postgres", "--db", url) == 0
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("PGPASSWORD", "PGSERVICEFILE"):
            patch.delenv(variable, raising=False)
        patch.setenv("PGPASSFILE", str(pgpass(tmp, postgres)))
        sqlite, postgres = OutputPaths(tmp / "sqlite"), OutputPaths(tmp / "postgres")
        yield SimpleNamespace(tmp=tmp, submissions=submissions, url=url, sqlite=sqlite,
                              postgres=postgres, contents={
                                  "sqlite": gradebook_contents(sqlite),
                                  "postgres": gradebook_contents(postgres)})


def without_seeds(text: str) -> str:
    """The hidden checks draw fresh random inputs every run and name their seed."""
    return re.sub(r"seed \d+", "seed <drawn>", text)


@pytest.mark.slow
def test_postgres_and_sqlite_give_identical_grades(batch):
    for name in ("grades.csv", "scores.csv"):
        assert without_seeds((batch.postgres.root / name).read_text()) == \
            without_seeds((batch.sqlite.root / name).read_text())
    scores = {row["student_id"]: row["score"] for row in read_csv(batch.postgres.grades_csv)}
    assert scores == {"alice": "36", "bob": "36", "carol": "0"}


@pytest.mark.slow
def test_postgres_and_sqlite_gradebooks_hold_the_same_grades(batch):
    assert batch.contents["postgres"] == batch.contents["sqlite"]
    assert {student for student, *_ in batch.contents["postgres"]["grades"]} == set(
        STUDENTS_GRADED)


@pytest.mark.slow
def test_the_postgres_folder_names_its_database_and_holds_no_password(batch):
    assert not batch.postgres.gradebook.exists()
    assert f"c.CourseDirectory.db_url = '{GradebookDatabase.parse(batch.url)}'" in \
        batch.postgres.nbgrader_config.read_text()
    assert files_holding(batch.postgres.root, PASSWORD) == []


@pytest.fixture(scope="module")
def ta_graded(batch):
    """Both folders get the same TA work. On PostgreSQL, the TA scores fc_q1_explain in
    formgrader while carol is regraded; on SQLite, the same scores are imported. Then both
    import the same sheet for the remaining written answers, and export."""
    paths = batch.postgres
    server = FormgraderServer(paths, "fcnet", port=free_port())
    log = (batch.tmp / "formgrader.log").open("w")
    process = server.start(stdout=log, stderr=log)
    saves, listed, regraded = [], {}, []
    try:
        wait_for(server, process)
        listed = {s["student"]: s for s in api(server, "GET", "/formgrader/api/submissions/fcnet")}
        regrade = threading.Thread(target=lambda: regraded.append(grade(
            batch.submissions, paths.root, "--only", "carol")))
        regrade.start()
        grades = {student: ids_of(paths, student) for student in STUDENTS_GRADED}
        # The TA keeps saving while the regrade runs (a bounded number of times).
        while (regrade.is_alive() or not saves) and len(saves) < 5000:
            for student, cell in grades.items():
                api(server, "PUT", f"/formgrader/api/grade/{cell.grade}",
                    {"manual_score": TA_SCORE})
                api(server, "PUT", f"/formgrader/api/comment/{cell.comment}",
                    {"manual_comment": f"{TA_COMMENT} ({student}, save {len(saves)})"})
            saves.append(time.monotonic())
        regrade.join()
        assert regraded == [0]
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
    comments = {student: f"{TA_COMMENT} ({student}, save {len(saves) - 1})"
                for student in STUDENTS_GRADED}
    sheet = batch.tmp / "sheet.csv"
    with sheet.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["student_id", "question", "score", "comment"])
        for student, text in comments.items():
            writer.writerow([student, QUESTION, TA_SCORE, text])
    assert autograder_main(["import-scores", str(batch.sqlite.root), str(sheet)]) == 0
    rest = batch.tmp / "rest.csv"
    with rest.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["student_id", "question", "score", "comment"])
        for question in ("fc_q2_explain", "fc_q3_explain", "fc_q4_explain"):
            writer.writerow(["alice", question, "2", "Complete."])
    for folder in (batch.postgres, batch.sqlite):
        assert autograder_main(["import-scores", str(folder.root), str(rest)]) == 0
        assert autograder_main(["export", str(folder.root)]) == 0
    return SimpleNamespace(listed=listed, saves=len(saves), comments=comments,
                           log=batch.tmp / "formgrader.log")


def ids_of(paths: OutputPaths, student: str) -> SimpleNamespace:
    with open_gradebook(paths.db_url) as gradebook:
        return SimpleNamespace(
            grade=gradebook.find_grade(QUESTION, NOTEBOOK_ID, "fcnet", student).id,
            comment=gradebook.find_comment(QUESTION, NOTEBOOK_ID, "fcnet", student).id)


@pytest.mark.slow
def test_formgrader_lists_the_postgres_folders_submissions(ta_graded):
    assert sorted(ta_graded.listed) == list(STUDENTS_GRADED)
    assert ta_graded.listed["carol"]["score"] == 0
    assert "Traceback" not in ta_graded.log.read_text()


@pytest.mark.slow
def test_a_regrade_while_a_ta_grades_in_formgrader_keeps_every_save(batch, ta_graded):
    assert ta_graded.saves >= 2  # the TA saved again and again while carol was regraded
    for student, text in ta_graded.comments.items():
        with open_gradebook(batch.postgres.db_url) as gradebook:
            grade = gradebook.find_grade(QUESTION, NOTEBOOK_ID, "fcnet", student)
            saved = gradebook.find_comment(QUESTION, NOTEBOOK_ID, "fcnet", student)
            assert (grade.manual_score, saved.manual_comment) == (TA_SCORE, text)
    # and the regrade's own results: the same as the first time
    assert batch.postgres.grades_csv.read_text() == batch.sqlite.grades_csv.read_text()


@pytest.mark.slow
def test_final_grades_from_postgres_equal_those_from_sqlite(batch, ta_graded):
    final = {row["student_id"]: row for row in read_csv(batch.postgres.final_grades_csv)}
    assert final == {row["student_id"]: row for row in read_csv(batch.sqlite.final_grades_csv)}
    assert final["alice"]["written"] == f"{TA_SCORE + 6:g}" and final["alice"]["state"] == "final"
    assert final["carol"]["written"] == f"{TA_SCORE:g}"
    for name in ("canvas_import.csv",):
        assert (batch.postgres.root / name).read_text() == (batch.sqlite.root / name).read_text()


@pytest.mark.slow
def test_feedback_from_postgres_shows_the_tas_score_and_comment(batch, ta_graded):
    assert autograder_main(["feedback", str(batch.postgres.root)]) == 0
    page = (batch.postgres.feedback / "carol" / "fcnet" / f"{NOTEBOOK_ID}.html").read_text()
    assert ta_graded.comments["carol"] in html.unescape(page)
    assert sorted(path.name for path in batch.postgres.handback.iterdir()) == [
        f"{student}.zip" for student in STUDENTS_GRADED]
