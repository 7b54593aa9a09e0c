"""A second, tiny assignment (tests/assignments/tiny: one notebook, one student module, two
checks in assignments/tiny/checks/) is released and graded by the commands instructors run,
in a course root of its own: nothing in the grading machinery belongs to fcnet."""
import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = Path(__file__).resolve().parent / "assignments" / "tiny"
pytestmark = pytest.mark.slow  # a real release and grading run: about 30 s


def autograder(*args, cwd):
    """`python -m autograder ...` as an instructor runs it, with the kit's own environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NNKIT_")}
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A throw-away course root: the kit's settings and data script, and the tiny assignment."""
    root = tmp_path_factory.mktemp("tiny-course")
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "datasets").mkdir()
    shutil.copy2(REPO / "datasets" / "get_datasets.sh", root / "datasets" / "get_datasets.sh")
    shutil.copytree(TINY, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    released = autograder("release", "tiny", "--root", str(root), cwd=root)
    assert released.returncode == 0, released.stdout + released.stderr
    return root


def test_the_release_holds_no_hidden_test_and_no_solution(course):
    release = course / "release" / "tiny"
    assert sorted(path.relative_to(release).as_posix() for path in release.rglob("*") if path.is_file()
                  and "__pycache__" not in path.parts) == [
        "README.md", "Tiny.ipynb", "assignment.json", "datasets/get_datasets.sh",
        "nnkit/__init__.py", "nnkit/arith.py"]
    notebook = (release / "Tiny.ipynb").read_text()
    assert "HIDDEN TESTS" not in notebook and "autograder.checks.run" not in notebook
    module = (release / "nnkit" / "arith.py").read_text()
    assert "2.0 * np.asarray(x)" not in module and "np.asarray(x) ** 2" not in module
    assert 'raise NotImplementedError("double' in module
    assert not any(path.name == "checks" for path in release.rglob("*"))
    checked = autograder("release", "tiny", "--root", str(course), "--check", cwd=course)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def submission_zip(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def test_a_correct_and_a_blank_submission_are_graded_by_the_same_command(course, tmp_path):
    source, release = course / "source" / "tiny", course / "release" / "tiny"
    solved = (source / "nnkit" / "arith.py").read_text().replace("    ### BEGIN SOLUTION\n", "").replace(
        "    ### END SOLUTION\n", "")
    half = solved.replace("return np.asarray(x) ** 2", "return np.asarray(x) * 2")  # square is wrong
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    notebook = (release / "Tiny.ipynb").read_bytes()
    submission_zip(submissions / "correct.zip", {"Tiny.ipynb": notebook, "nnkit/arith.py": solved})
    submission_zip(submissions / "half.zip", {"Tiny.ipynb": notebook, "nnkit/arith.py": half})
    submission_zip(submissions / "blank.zip", {"Tiny.ipynb": notebook,
                                               "nnkit/arith.py": (release / "nnkit" / "arith.py").read_bytes()})
    out = tmp_path / "out"
    graded = autograder("grade", "tiny", "--root", str(course), "--submissions", str(submissions),
                        "--out", str(out), "--lms", "plain", cwd=course)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    with (out / "scores.csv").open() as file:
        scores = {(row["student_id"], row["grade_id"]): float(row["score"]) for row in csv.DictReader(file)}
    assert scores == {("correct", "tiny_double"): 1.0, ("correct", "tiny_square"): 1.0,
                      ("half", "tiny_double"): 1.0, ("half", "tiny_square"): 0.0,
                      ("blank", "tiny_double"): 0.0, ("blank", "tiny_square"): 0.0}
    feedback = "".join(page.read_text() for page in (out / "feedback").rglob("*.html"))
    assert "_against_reference" not in feedback and "ctx.compare" not in feedback
