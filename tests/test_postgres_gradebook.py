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

Slow: three trimmed submissions graded with 2 workers into SQLite and into PostgreSQL give
identical grades.csv, scores.csv and gradebooks; then the TA path on PostgreSQL
(formgrader's API while the students are regraded, import-scores, export, feedback), with
the password coming from ~/.pgpass (PGPASSFILE) only.
"""
import csv
import json
import os
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
from autograder.grading.records import OutputPaths, read_csv, record_in_gradebook
from autograder.grading.samples import Sample, build_samples, write_zip
from autograder.grading.task import CellResult, GradingResult
from corpus.build_corpus import KEPT, MANIFEST, NOTEBOOK, REPO
from postgres_server import PostgresServer, PostgresUnavailable, free_port

PASSWORD = "Grader-Pw-7391"  # found nowhere in OUT, ever
ROLE = "grader"


@pytest.fixture(scope="module")
def postgres():
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as why:
        # CI installs the server (make test): there a missing one is a failure.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"no PostgreSQL server: {why}")
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
        with Gradebook(paths.db_url) as gradebook:
            gradebook.add_assignment("a1")
            gradebook.add_notebook("nb", "a1")
            gradebook.add_grade_cell("t1", "nb", "a1", max_score=6, cell_type="code")
            gradebook.add_grade_cell("q1", "nb", "a1", max_score=2, cell_type="markdown")
            gradebook.add_solution_cell("q1", "nb", "a1")
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
