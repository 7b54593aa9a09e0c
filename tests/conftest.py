"""Shared test set-up: tests import the instructor's nnkit (source/fcnet/nnkit)."""
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT_SOURCE = REPO / "source" / "fcnet"
sys.path.insert(0, str(ASSIGNMENT_SOURCE))


# Set by `make test`: there, missing data is an error. Elsewhere (`make test-fast`, a bare
# pytest run) the tests that need data skip, saying how to get it.
NEED_DATA_ENV = "NNKIT_TESTS_NEED_DATA"


@pytest.fixture(scope="session")
def datasets_dir():
    """The folder holding cifar-10-batches-py/ and mnist/ (built by `make data`)."""
    root = Path(os.environ.get("NNKIT_DATA_DIR", REPO / "datasets"))
    if not (root / "cifar-10-batches-py").is_dir():
        reason = (f"needs CIFAR-10, which is not under {root}: run `make data` "
                  "(offline: NNKIT_DATA_SOURCE=/path/to/folder-or-tarball make data)")
        if os.environ.get(NEED_DATA_ENV) == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return root


# bob's own answer to fc_q1_explain; alice's is the reference's.
BOB_ANSWER = "Bob thinks **saturation** kills the gradient."
# Each would set window.pwned in the browser of whoever looks at bob's notebook: bob's answer
# ends with them, and a cell of his after it displays the other two.
BOB_HOSTILE = ("<script>window.pwned = 'script'</script> "
               "<img src=x onerror=\"window.pwned = 'onerror'\"> "
               "[more](javascript:window.pwned='link')")
# Built at run time, so only the outputs (never the code) hold a working payload.
BOB_DISPLAYS = """from IPython.display import HTML, Javascript, display
tag = "scr" + "ipt"
display(HTML(f"<b>Bob's own table</b><{tag}>window.pwned = 'html output'</{tag}>"))
display(Javascript("window.pwned" + " = 'javascript output'"))"""


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory, request, datasets_dir):
    """Three trimmed submissions (FullyConnectedNets.ipynb, the modules, the model: see
    tests/corpus/build_corpus.py), graded once with real nbgrader into SQLite with 2 workers:
    alice (the reference), bob (the reference with his own answer to fc_q1_explain, ending in
    HTML that would run in a browser, and a cell displaying more) and carol (the blank
    release). `submissions` is the download, `out` the graded folder, which is
    never changed: a module that changes one works on its own copy (OUT may be copied).
    Shared by the modules that grade this class, so that it is graded once per run."""
    import nbformat

    from autograder.cli import main as autograder_main
    from autograder.grading.samples import Sample, build_samples, write_zip
    from corpus.build_corpus import KEPT, MANIFEST, NOTEBOOK

    def with_answer(files: dict[str, bytes], grade_id: str, text: str,
                    code_after: str) -> dict[str, bytes]:
        """The answer to grade_id replaced by text, and a cell of code_after added below it."""
        notebook = nbformat.reads(files[NOTEBOOK].decode(), as_version=4)
        index, cell = next((index, cell) for index, cell in enumerate(notebook.cells)
                           if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        cell.source = text
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(code_after))
        return {**files, NOTEBOOK: nbformat.writes(notebook).encode()}

    tmp = tmp_path_factory.mktemp("graded-class")
    cache = Path(request.config.cache.mkdir("grading-artifacts"))  # the trained best model
    samples = {sample.name: sample for sample in
               build_samples(REPO, MANIFEST, cache, partial_names=(), say=lambda *_: None)}
    trim = lambda files: {path: files[path] for path in KEPT if path in files}  # noqa: E731
    submissions = {"alice": trim(samples["reference"].files),
                   "bob": with_answer(trim(samples["reference"].files), "fc_q1_explain",
                                      f"{BOB_ANSWER} {BOB_HOSTILE}", BOB_DISPLAYS),
                   "carol": trim(samples["blank"].files)}
    for name, files in submissions.items():
        write_zip(Sample(name, files), tmp / "submissions" / f"{name}.zip")
    assert autograder_main(["grade", "fcnet", "--submissions", str(tmp / "submissions"),
                            "--out", str(tmp / "out"), "--workers", "2",
                            "--root", str(REPO)]) == 0
    return SimpleNamespace(submissions=tmp / "submissions", out=tmp / "out",
                           students=tuple(submissions),
                           bob=SimpleNamespace(answer=BOB_ANSWER, hostile=BOB_HOSTILE,
                                               displays=BOB_DISPLAYS))
