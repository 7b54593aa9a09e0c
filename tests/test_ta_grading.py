"""TAs grade the written answers of a really graded folder, end to end (slow).

Three trimmed submissions (FullyConnectedNets.ipynb, the modules, the model: see
tests/corpus/build_corpus.py) are graded with real nbgrader: alice (the reference), bob (the
reference with his own answer to fc_q1_explain) and carol (the blank release): conftest's
graded_class, of which this module changes a copy. Then, in the order an instructor's week
goes:

1. a TA opens formgrader (`autograder formgrader OUT`) in headless Chromium driven by
   Selenium, opens bob's submission, types a score and a comment for fc_q1_explain; bob's
   answer also carries a script, an onerror handler and a javascript: link, and a cell of
   his displays HTML with a script and JavaScript: none of it may run in the TA's browser
   or reach the feedback, and his words must stay;
2. bob is regraded (`grade --only bob` into the same OUT);
3. the other answers are graded question by question (`autograder answers` page, then
   `autograder import-scores`);
4. `autograder export` and `autograder feedback`.

Chromium and chromedriver are Debian's (`make test` installs them: scripts/install_browser.sh).
"""
import csv
import html
import re
import shutil
import socket
import tempfile
import time
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbgrader.api import Gradebook

from autograder.cli import main as autograder_main
from autograder.grading.course import nbgrader_env, run_nbgrader
from autograder.grading.formgrader import FormgraderServer
from autograder.grading.records import OutputPaths, read_csv
from corpus.build_corpus import NOTEBOOK, REPO

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
QUESTION, NOTEBOOK_ID = "fc_q1_explain", Path(NOTEBOOK).stem
TA_SCORE, TA_COMMENT = "1.5", "Right idea; say which activation saturates."
# The rest of the written answers of FullyConnectedNets, graded question by question.
OTHER_ANSWERS = ("fc_q2_explain", "fc_q3_explain", "fc_q4_explain")
AUTOGRADED_OF_REFERENCE = 36  # the test cells of FullyConnectedNets
SECRETS = ["ANSWER_KEY", "answer_checks", "ctx.compare", "reference_package", "REFERENCE_DIR",
           "student_process", "default_rng", "@check("]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, graded_class):
    tmp = tmp_path_factory.mktemp("ta")
    out = shutil.copytree(graded_class.out, tmp / "out")
    return SimpleNamespace(tmp=tmp, submissions=graded_class.submissions, paths=OutputPaths(out),
                           bob=graded_class.bob)


def grade(submissions: Path, out: Path, *options: str) -> int:
    return autograder_main(["grade", "fcnet", "--submissions", str(submissions), "--out",
                            str(out), "--workers", "2", "--root", str(REPO), *options])


def grade_of(paths: OutputPaths, student: str, grade_id: str = QUESTION):
    with Gradebook(paths.db_url) as gradebook:
        grade = gradebook.find_grade(grade_id, NOTEBOOK_ID, "fcnet", student)
        comment = gradebook.find_comment(grade_id, NOTEBOOK_ID, "fcnet", student)
        return grade.manual_score, comment.manual_comment


# --- 1. formgrader in a browser --------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make setup` as root, or "
                    "`sudo apt-get install chromium chromium-driver`")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="formgrader-test-chromium-")
    # A fresh profile, and nothing that reaches out: on a closed network Chromium's
    # background services otherwise retry connections without end.
    for argument in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile}", "--window-size=1400,1000"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def formgraded(graded, browser):
    """A TA grades bob's fc_q1_explain in formgrader, clicking through as a person would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    paths = graded.paths
    with Gradebook(paths.db_url) as gradebook:
        bob = gradebook.find_submission_notebook(NOTEBOOK_ID, "fcnet", "bob").id
    server = FormgraderServer(paths, "fcnet", port=free_port())
    log = (graded.tmp / "formgrader.log").open("w")
    process = server.start(stdout=log, stderr=log)
    try:
        wait_for_server(server, process)
        wait = WebDriverWait(browser, 60)
        browser.get(server.url)  # the URL `autograder formgrader` prints
        wait.until(shown.element_to_be_clickable((By.LINK_TEXT, NOTEBOOK_ID))).click()
        # The list is anonymised ("Submission #2"): open bob's by its link.
        wait.until(shown.element_to_be_clickable(
            (By.CSS_SELECTOR, f"a[href*='/formgrader/submissions/{bob}']"))).click()
        score = wait.until(shown.visibility_of_element_located((By.ID, QUESTION)))
        pwned = browser.execute_script("return window.pwned === undefined ? null : window.pwned")
        answer_shown = "Bob thinks saturation kills the gradient." in browser.find_element(
            By.TAG_NAME, "body").text
        score.clear()
        score.send_keys(TA_SCORE)
        comment = browser.find_element(By.ID, f"{QUESTION}-comment")
        comment.send_keys(TA_COMMENT)  # leaving the score field saves it
        comment.send_keys(Keys.TAB)    # and leaving the comment saves that
        saved = wait_until(lambda: grade_of(paths, "bob") == (float(TA_SCORE), TA_COMMENT))
        browser.save_screenshot(str(graded.tmp / "formgrader.png"))
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
    return SimpleNamespace(saved=saved, log=graded.tmp / "formgrader.log", pwned=pwned,
                           answer_shown=answer_shown)


def wait_for_server(server: FormgraderServer, process, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/status?token={server.token}")
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"formgrader did not start (exit code {process.poll()})")


def wait_until(condition, limit: float = 60) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def test_formgrader_runs_on_the_graded_folder_without_editing_config(graded, formgraded):
    assert (graded.paths.root / "nbgrader_config.py").is_file()
    assert (graded.paths.root / "source" / "fcnet").is_dir()
    assert "Traceback" not in formgraded.log.read_text()


def test_a_score_and_comment_typed_in_formgrader_land_in_the_gradebook(graded, formgraded):
    assert formgraded.saved, f"not saved; gradebook has {grade_of(graded.paths, 'bob')}"


class Runnable(HTMLParser):
    """What in a page would run or load when a browser shows it: script bodies, attribute
    values (handlers, URLs, styles), style sheets."""

    def __init__(self, page: str):
        super().__init__()
        self.parts, self._tag = [], None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self._tag = tag
        self.parts.extend(f"<{tag} {name}={value}>" for name, value in attrs if value)

    def handle_endtag(self, tag):
        self._tag = None

    def handle_data(self, data):
        if self._tag in ("script", "style"):
            self.parts.append(f"<{self._tag}>{data}")


def pwned(page: str) -> list[str]:
    return [part for part in Runnable(page).parts if "pwned" in part]


def test_the_students_scripts_do_not_run_in_formgrader_and_his_answer_is_shown(formgraded):
    assert formgraded.pwned is None
    assert formgraded.answer_shown


def test_the_autograded_copy_keeps_the_answer_and_nothing_that_runs(graded):
    copy = nbformat.read(graded.paths.autograded / "bob" / "fcnet" / NOTEBOOK, as_version=4)
    answer = next(cell for cell in copy.cells
                  if cell.metadata.get("nbgrader", {}).get("grade_id") == QUESTION)
    shown = markdown2html_mistune(answer.source)
    assert "Bob thinks <strong>saturation</strong> kills the gradient." in shown
    assert pwned(shown) == [] and "javascript:" not in shown
    displays = next(cell for cell in copy.cells if cell.source == graded.bob.displays)
    assert [sorted(output.data) for output in displays.outputs] == [["text/plain"]] * 2
    with zipfile.ZipFile(graded.submissions / "bob.zip") as handed_in:  # never rewritten
        submitted = nbformat.reads(handed_in.read(NOTEBOOK).decode(), as_version=4)
    assert f"{graded.bob.answer} {graded.bob.hostile}" in [cell.source for cell in submitted.cells]


# --- 2. regrading keeps the TA's work ------------------------------------------------------------

@pytest.fixture(scope="module")
def regraded(graded, formgraded):
    before = {row["student_id"]: row for row in read_csv(graded.paths.grades_csv)}
    scores_before = read_csv(graded.paths.scores_csv)
    assert grade(graded.submissions, graded.paths.root, "--only", "bob") == 0
    return SimpleNamespace(before=before, scores_before=scores_before)


def test_regrading_a_student_keeps_the_ta_score_and_comment(graded, regraded):
    assert grade_of(graded.paths, "bob") == (float(TA_SCORE), TA_COMMENT)


def test_regrading_chosen_students_keeps_everyone_else(graded, regraded):
    rows = {row["student_id"]: row for row in read_csv(graded.paths.grades_csv)}
    assert sorted(rows) == ["alice", "bob", "carol"]
    assert rows["alice"] == regraded.before["alice"] and rows["carol"] == regraded.before["carol"]
    assert rows["bob"]["score"] == regraded.before["bob"]["score"] == str(AUTOGRADED_OF_REFERENCE)
    others = [row for row in read_csv(graded.paths.scores_csv) if row["student_id"] != "bob"]
    assert others == [row for row in regraded.scores_before if row["student_id"] != "bob"]


# --- 3. question by question ------------------------------------------------------------------

@pytest.fixture(scope="module")
def answers_page(graded, regraded):
    assert autograder_main(["answers", str(graded.paths.root), "--question", QUESTION]) == 0
    return graded.paths.answers / f"{QUESTION}.html", graded.paths.answers / f"{QUESTION}.csv"


def test_answers_page_holds_every_students_answer_to_the_question(graded, answers_page):
    page, sheet = answers_page
    text = page.read_text()
    assert "Bob thinks <strong>saturation</strong> kills the gradient" in text
    reference = nbformat.read(REPO / "source" / "fcnet" / NOTEBOOK, as_version=4)
    alice_words = next(cell.source for cell in reference.cells if cell.metadata.get(
        "nbgrader", {}).get("grade_id") == QUESTION).split("### BEGIN SOLUTION")[1].split()[:3]
    assert " ".join(alice_words) in html.unescape(text)
    assert text.count("<section") == 3 and f"{TA_SCORE} / 2" in text and TA_COMMENT in text
    with sheet.open(newline="") as file:
        assert [row[:3] for row in csv.reader(file)] == [
            ["student_id", "question", "score"], ["alice", QUESTION, ""],
            ["bob", QUESTION, TA_SCORE], ["carol", QUESTION, "0"]]


@pytest.fixture(scope="module")
def exported(graded, regraded, answers_page):
    paths = graded.paths
    assert autograder_main(["export", str(paths.root)]) == 0
    incomplete = {row["student_id"]: row for row in read_csv(paths.final_grades_csv)}
    sheet = graded.tmp / "scores.csv"
    with sheet.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["student_id", "question", "score", "comment"])
        writer.writerow(["alice", QUESTION, "2", "Complete."])
        for question in OTHER_ANSWERS:
            writer.writerow(["alice", question, "2", ""])
            writer.writerow(["bob", question, "1", "Half."])
    assert autograder_main(["import-scores", str(paths.root), str(sheet)]) == 0
    assert autograder_main(["export", str(paths.root), "--canvas-column", "FC nets (77)"]) == 0
    return SimpleNamespace(incomplete=incomplete,
                           final={row["student_id"]: row for row in read_csv(paths.final_grades_csv)})


def test_a_student_with_ungraded_answers_is_exported_as_incomplete(exported):
    alice = exported.incomplete["alice"]
    assert alice["final"] == "" and alice["state"].startswith("incomplete: 4 cell(s)")
    assert exported.incomplete["bob"]["state"].startswith("incomplete: 3 cell(s)")
    assert exported.incomplete["carol"]["final"] == "0"  # every answer left blank: 0 by itself


def test_export_adds_the_ta_points_to_the_autograded_ones(graded, exported):
    final = exported.final
    assert {student: row["state"] for student, row in final.items()} == dict.fromkeys(
        ["alice", "bob", "carol"], "final")
    assert final["alice"]["final"] == str(AUTOGRADED_OF_REFERENCE + 8)
    assert final["bob"]["written"] == "4.5"
    assert final["bob"]["final"] == f"{AUTOGRADED_OF_REFERENCE + 4.5:g}"
    assert final["bob"]["max_score"] == "99"
    with graded.paths.canvas_csv.open(newline="") as file:
        canvas = list(csv.reader(file))
    assert canvas[0][-1] == "FC nets (77)" and canvas[1][-1] == "99"
    assert ["bob", "bob", "", "", "", "40.5"] in canvas


def test_report_shows_written_answers_once_graded(graded, exported):
    report = graded.paths.report.read_text()
    assert f"| {NOTEBOOK_ID} | {QUESTION} | written | 2 | 33% (1/3) | 3/3 |" in report
    assert "- Written answers: 12 of 12 handed in are graded; 0 wait for a TA" in report
    attention = report.split("## Needs attention")[1].split("## Per question")[0]
    assert "| carol | 0 |" in attention and "zero autograded points" in attention
    assert "None: every answer has a score." in attention


# --- 4. feedback to hand back -------------------------------------------------------------------

@pytest.fixture(scope="module")
def feedback(graded, exported):
    assert autograder_main(["feedback", str(graded.paths.root)]) == 0
    return graded.paths


def page_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_feedback_shows_the_tas_scores_and_comments(feedback):
    text = page_text(feedback.feedback / "bob" / "fcnet" / f"{NOTEBOOK_ID}.html")
    assert TA_COMMENT in text and "Half." in text
    assert re.search(r"Score:\s*1\.5\s*/\s*2", text)
    with zipfile.ZipFile(feedback.handback / "bob.zip") as archive:
        assert archive.namelist() == [f"fcnet/{NOTEBOOK_ID}.html"]
    assert sorted(path.name for path in feedback.handback.iterdir()) == [
        "alice.zip", "bob.zip", "carol.zip"]


def test_feedback_runs_none_of_the_students_scripts_and_keeps_his_answer(feedback):
    page = (feedback.feedback / "bob" / "fcnet" / f"{NOTEBOOK_ID}.html").read_text()
    assert pwned(page) == []
    assert "Bob thinks <strong>saturation</strong> kills the gradient." in page


def test_feedback_never_reveals_hidden_tests(feedback):
    for page in (feedback.feedback / "carol" / "fcnet").glob("*.html"):
        text = page_text(page)
        assert "autograder.checks.run(" in text
        assert [secret for secret in SECRETS if secret in text] == []
    assert sorted(p.name for p in (feedback.feedback / "bob" / "fcnet").iterdir()) == [
        f"{NOTEBOOK_ID}.html"]


def test_feedback_pages_are_nbconverts_pages(feedback, tmp_path):
    """The pages `autograder feedback` writes (feedback_page.py's exporter) are the pages
    nbgrader writes with nbconvert's own HTMLExporter, up to how BeautifulSoup writes HTML
    back, images' alt text included."""
    theirs = tmp_path / "nbconvert"
    finished = run_nbgrader(
        ["generate_feedback", "fcnet", "--force", f"--CourseDirectory.feedback_directory={theirs}",
         "--GenerateFeedback.exporter_class=nbconvert.exporters.HTMLExporter"],
        feedback.root, 600, nbgrader_env(feedback.database.environment()))
    assert finished.returncode == 0, finished.log
    pages = sorted(page.relative_to(feedback.feedback)
                   for page in feedback.feedback.glob("*/fcnet/*.html"))
    assert len(pages) == 3
    for page in pages:
        ours = (feedback.feedback / page).read_text()
        assert str(BeautifulSoup(ours, features="html.parser")) == (theirs / page).read_text()
    plots = (feedback.feedback / "alice" / "fcnet" / f"{NOTEBOOK_ID}.html").read_text()
    assert plots.count('alt="No description has been provided for this image"') == 2
