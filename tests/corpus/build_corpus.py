"""The corpus of broken and hostile submissions, generated from the reference sample.

    python tests/corpus/build_corpus.py OUT_DIR [--cache DIR]

writes one entry per case into OUT_DIR (a submissions folder for `autograder grade`) and
prints every case with what grading must report for it. tests/test_hostile_submissions.py
builds the corpus the same way and grades it.

Every entry is made from the reference submission (`samples.build_samples`), so the corpus
follows the assignment when it changes. To keep grading fast, every entry holds only
FullyConnectedNets.ipynb, the three student modules and best_model.npz: the `control` entry
is the reference trimmed that way, and every expectation is stated relative to it ("the
same per-cell scores as control, except these cells, which score 0 and say why").

A case is a function decorated with `@case(Expectation(...))`: it takes the `Context`
(the control's files, the blank release's, a marker unique to this build, ...) and returns
the files of its submission ({path in the zip: bytes}); its docstring says what it shows.
The edits are made with the shared helpers below: `edit_module` with `prepend_to`,
`replace_body` or `append_to_module` for a student module, `edit_notebook` with
`insert_after_imports`, `set_test_source` or `strip_metadata` for the notebook.
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import os
import random
import sys
import textwrap
import uuid
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from autograder.checks import checks_folder  # noqa: E402
from autograder.checks.assignment import load_checks  # noqa: E402
from autograder.grading.samples import Sample, build_samples, write_zip  # noqa: E402
from autograder.manifest import Manifest, load_manifest, manifest_path  # noqa: E402

MANIFEST = load_manifest(manifest_path(REPO, "fcnet"))
NOTEBOOK = "FullyConnectedNets.ipynb"
LAYERS, FC_NET, OPTIM = "nnkit/layers.py", "nnkit/classifiers/fc_net.py", "nnkit/optim.py"
KEPT = (NOTEBOOK, LAYERS, FC_NET, OPTIM, "best_model.npz")

# --name-pattern for the entries named with a hand-in time (<login>_<number>_<time>_<file>).
# Entries whose name does not match it keep their file stem as the student id.
NAME_PATTERN = r"(?P<student_id>[A-Za-z0-9]+)_\d+_(?P<timestamp>\d{8}T\d{6})_.*"
MARKER_PREFIX = "corpus-escape-"  # every file a hostile case tries to plant starts with this

# Status phrases the grader writes (asserted with `in`).
LATE, NEWEST = "late:", "newest of 2 submissions"
KERNEL_DIED, FLAGGED, TIMED_OUT = "kernel died", "flagged:", "timed out"
RECOVERED, NOT_RECOVERED = "recovered nbgrader metadata", "could not recover nbgrader metadata"
NOT_READABLE, UNSAFE_MEMBER = "not a readable notebook", "unsafe zip member"
HIDDEN_FAILED = "hidden check failed"


def _test_cells(notebook_path: Path) -> frozenset[str]:
    notebook = nbformat.read(notebook_path, as_version=4)
    return frozenset(cell.metadata.nbgrader["grade_id"] for cell in notebook.cells
                     if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
                     and not cell.metadata.nbgrader.get("solution"))


# Which test cells of FullyConnectedNets a broken function costs: its own cells, and the cell
# that evaluates the saved best model with the student's fc_net and layers. The cells of the
# networks check a network only with working layers (the hidden checks with the grader's
# layers, the visible parts after nnkit.gradient_check.failing_layers), and the overfitting
# cells rerun the student's settings with a correct implementation.
FC_TESTS = _test_cells(REPO / "release" / "fcnet" / NOTEBOOK)
NETWORK_CHECK_CELLS = frozenset({
    "fc_two_layer_scores", "fc_two_layer_loss", "fc_two_layer_grads", "fc_fcnet_loss_grads"})
NETWORK_CELLS = NETWORK_CHECK_CELLS | {
    "fc_overfit_three_layer_check", "fc_overfit_five_layer_check", "fc_best_model_saved"}
# What each test cell exercises, as its hidden check declares it.
EXERCISES = {grade_id: registered.exercises
             for grade_id, registered in load_checks(checks_folder(REPO, MANIFEST.id)).checks.items()}
USES_AFFINE_FORWARD = frozenset(g for g in FC_TESTS if "nnkit/layers.py:affine_forward" in EXERCISES[g])
USES_RELU_FORWARD = frozenset(g for g in FC_TESTS if "nnkit/layers.py:relu_forward" in EXERCISES[g])
TESTS_OF_LAYERS = frozenset(  # the cells whose subject is a function of layers.py
    g for g in FC_TESTS if all(work.startswith("nnkit/layers.py:") for work in EXERCISES[g]))
# The cells of code that imports layers.py (whether the grader zeroes them with a flagged
# layers.py is left open).
BUILT_ON_LAYERS = NETWORK_CELLS | {"fc_two_layer_init"}
# Hidden checks that call the student's affine_forward (the checks of networks run with the
# grader's layers, the overfit checks with the reference network).
HIDDEN_CHECKS_OF_AFFINE_FORWARD = frozenset({"fc_affine_forward", "fc_affine_backward"})


@dataclass(frozen=True)
class Expectation:
    """What grading must report for one student, relative to the control.

    Scores: every test cell scores as in the control, except the cells in `loses` (score 0)
    and in `may_lose` (either). The message of each lost cell in `why_cells` (default: all
    of `loses`) contains one of the phrases in `why`. Status: contains every phrase of
    `status_has`, none of `status_lacks`, and starts with `status_starts`.
    """
    status_has: tuple[str, ...] = ()
    status_lacks: tuple[str, ...] = ()
    status_starts: str = ""
    loses: frozenset[str] = frozenset()
    why: tuple[str, ...] = ()
    why_cells: frozenset[str] | None = None
    may_lose: frozenset[str] = frozenset()
    scores_like_control: bool = True  # False: only the status and lost cells are asserted
    graded: bool = True               # the student has rows in scores.csv
    # Other notebooks the entry hands in: each of their test cells scores full points, or 0
    # for those in `loses` (see test_hostile_submissions.test_other_notebooks).
    notebooks: tuple[str, ...] = ()

    def explained_cells(self) -> frozenset[str]:
        return self.loses if self.why_cells is None else self.why_cells

    def describe(self) -> str:
        parts = []
        if self.status_starts:
            parts.append(f"status starts {self.status_starts!r}")
        parts += [f"status has {phrase!r}" for phrase in self.status_has]
        parts += [f"status lacks {phrase!r}" for phrase in self.status_lacks]
        if not self.scores_like_control:
            parts.append("scores not compared")
        elif not self.loses:
            parts.append("scores as control")
        elif self.loses == FC_TESTS:
            parts.append("every test cell 0")
        else:
            parts.append("as control but 0: " + ", ".join(sorted(self.loses)))
        if self.why:
            parts.append(" or ".join(repr(phrase) for phrase in self.why) + " in messages"
                         + ("" if self.why_cells is None else
                            " of " + ", ".join(sorted(self.why_cells))))
        if self.may_lose:
            parts.append(f"{len(self.may_lose)} dependent cell(s) may lose")
        if self.notebooks:
            parts.append(f"also hands in {', '.join(self.notebooks)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Context:
    """What a case builds its submission from."""
    control: dict[str, bytes]   # the reference, trimmed to KEPT
    reference: dict[str, bytes] # the whole reference submission
    blank: dict[str, bytes]     # the release as students get it, trimmed the same way
    marker: str                 # MARKER_PREFIX + a uuid: names of files hostile code plants
    repo: Path
    manifest: Manifest


@dataclass(frozen=True)
class Case:
    name: str                          # the function's name
    build: Callable[[Context], dict[str, bytes]]
    expect: Expectation | None         # None: superseded by another entry of the student
    entry: str                         # file name in the submissions folder
    student_id: str                    # its row in grades.csv

    @property
    def shows(self) -> str:
        return " ".join((self.build.__doc__ or "").split())


CASES: list[Case] = []


def case(expect: Expectation | None, entry: str | None = None, student_id: str | None = None):
    """Register the decorated function as a case of the corpus."""
    def register(build):
        CASES.append(Case(build.__name__, build, expect, entry or f"{build.__name__}.zip",
                          student_id or build.__name__))
        return build
    return register


# --- helpers: one per kind of edit ---------------------------------------------------------

def edit_module(files: dict[str, bytes], module: str, edit: Callable[[str], str]) -> dict[str, bytes]:
    """The files with `module`'s text passed through `edit`."""
    return {**files, module: edit(files[module].decode()).encode()}


def edit_function(text: str, function: str, code: str, keep_body: bool) -> str:
    """Module text with `code` put at the start of `function`'s body (after its docstring):
    before the existing statements (keep_body) or instead of them."""
    node = next(node for node in ast.walk(ast.parse(text))
                if isinstance(node, ast.FunctionDef) and node.name == function)
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    lines = text.splitlines(keepends=True)
    first, last = body[0].lineno - 1, node.end_lineno
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    new = textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", indent)
    rest = lines[first:last] if keep_body else []
    return "".join(lines[:first]) + new + "".join(rest) + "".join(lines[last:])


def prepend_to(function: str, code: str) -> Callable[[str], str]:
    return lambda text: edit_function(text, function, code, keep_body=True)


def replace_body(function: str, code: str) -> Callable[[str], str]:
    return lambda text: edit_function(text, function, code, keep_body=False)


def append_to_module(code: str, **constants) -> Callable[[str], str]:
    """An edit adding import-time code, inside try/except so the module still imports;
    `constants` become module-level names the code can use."""
    assigned = "".join(f"{name} = {value!r}\n" for name, value in constants.items())
    block = textwrap.indent(assigned + textwrap.dedent(code).strip("\n") + "\n", "    ")
    return lambda text: f"{text.rstrip()}\n\n\ntry:\n{block}except Exception:\n    pass\n"


def edit_notebook(files: dict[str, bytes], edit: Callable[[nbformat.NotebookNode], None],
                  path: str = NOTEBOOK) -> dict[str, bytes]:
    """The files with the notebook changed in place by `edit`."""
    notebook = nbformat.reads(files[path].decode(), as_version=4)
    edit(notebook)
    return {**files, path: notebook_bytes(notebook)}


def notebook_bytes(notebook) -> bytes:
    return (nbformat.writes(notebook) + "\n").encode()


def cell_index(notebook, grade_id: str) -> int:
    return next(index for index, cell in enumerate(notebook.cells)
                if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def insert_after_imports(source: str) -> Callable:
    """An edit inserting an ordinary (ungraded) code cell right after the import cell."""
    def edit(notebook):
        imports = next(index for index, cell in enumerate(notebook.cells)
                       if cell.cell_type == "code" and "from nnkit.layers import" in cell.source)
        notebook.cells.insert(imports + 1, nbformat.v4.new_code_cell(textwrap.dedent(source)))
    return edit


def set_test_source(grade_id: str, make_source: Callable[[str], str]) -> Callable:
    def edit(notebook):
        cell = notebook.cells[cell_index(notebook, grade_id)]
        cell.source = make_source(cell.source)
    return edit


def strip_metadata(seed: str) -> Callable:
    """An edit emptying every cell's metadata and giving every cell a new id, as saving in
    Colab or VS Code can."""
    def edit(notebook):
        rng = random.Random(seed)
        for cell in notebook.cells:
            cell.metadata = nbformat.NotebookNode()
            cell.id = f"{rng.getrandbits(32):08x}"
    return edit


def without(files: dict[str, bytes], path: str) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name != path}


def public_input_of_affine_forward(notebook_data: bytes) -> dict:
    """x, w, b of the fc_affine_forward cell: its lines before it calls affine_forward."""
    notebook = nbformat.reads(notebook_data.decode(), as_version=4)
    source = notebook.cells[cell_index(notebook, "fc_affine_forward")].source
    setup = source.split("out, _ = affine_forward")[0]
    namespace = {"np": np}
    exec(setup, namespace)
    return {name: namespace[name] for name in ("x", "w", "b")}


def reference_function(files: dict[str, bytes], module: str, function: str):
    namespace = {}
    exec(compile(files[module].decode(), module, "exec"), namespace)
    return namespace[function]


# --- the cases --------------------------------------------------------------------------

@case(Expectation(status_starts="ok", status_lacks=(LATE, FLAGGED, KERNEL_DIED)))
def control(ctx):
    """The reference solution trimmed like every other entry: the baseline. Like every entry
    it is dated after the due date (as a download is), and it is not marked late."""
    return ctx.control


# 1. endless loops
@case(Expectation(loses=frozenset({"fc_rmsprop"}), why=(TIMED_OUT,)))
def infinite_loop_rmsprop(ctx):
    """rmsprop never returns: only the cell that calls it loses its points, as timed out."""
    return edit_module(ctx.control, OPTIM, prepend_to("rmsprop", "while True:\n    pass"))


# 2. a notebook cell that ends the kernel
@case(Expectation(status_has=(KERNEL_DIED,)))
def kernel_exits(ctx):
    """Three cells after the imports: sys.exit() (IPython catches it: just an error),
    os._exit(1) and a kill of the kernel's own process (signal 9). Each kernel death fails
    its cell only: the kernel is restarted, the cells above re-run, and every test cell is
    graded as in the control."""
    files = ctx.control
    for code in ("import os\nos.kill(os.getpid(), 9)", "import os\nos._exit(1)",
                 "import sys\nsys.exit()"):  # each goes right after the imports
        files = edit_notebook(files, insert_after_imports(code))
    return files


# 3. memory
@case(Expectation(loses=USES_RELU_FORWARD, why=("out of memory", "MemoryError"),
                  why_cells=frozenset({"fc_relu_forward", "fc_relu_backward"})))
def memory_bomb_relu_forward(ctx):
    """relu_forward first asks for 512 GiB: the cells that call it fail with a memory error,
    the others and the rest of the batch are graded as usual."""
    return edit_module(ctx.control, LAYERS,
                       prepend_to("relu_forward", "_bomb = np.ones(2**36)"))


# 4. edited test cells are restored
@case(Expectation())
def test_cells_edited(ctx):
    """Four test cells vandalised: fc_relu_forward's reduced to `pass`, every line of
    fc_relu_backward's commented out, fc_svm_loss's deleted (that cell only), and
    fc_affine_forward's pasted twice, metadata and all (new cell id). nbgrader restores the
    originals and grades each once: scores and max scores as control."""
    def duplicate(notebook):
        index = cell_index(notebook, "fc_affine_forward")
        copy = deepcopy(notebook.cells[index])
        copy.id = "duplicated-test-cell"
        notebook.cells.insert(index + 1, copy)

    edits = [set_test_source("fc_relu_forward", lambda _: "pass"),
             set_test_source("fc_relu_backward",
                             lambda source: textwrap.indent(source, "# ", lambda line: True)),
             lambda notebook: notebook.cells.pop(cell_index(notebook, "fc_svm_loss")),
             duplicate]
    files = ctx.control
    for edit in edits:
        files = edit_notebook(files, edit)
    return files


# 5. nbgrader metadata lost
@case(Expectation(status_has=(RECOVERED,)))
def metadata_stripped(ctx):
    """Every cell's metadata emptied and every id renewed (a Colab/VS Code save): the
    grader recovers which cell is which, and grades as control."""
    return edit_notebook(ctx.control, strip_metadata("metadata_stripped"))


@case(Expectation(status_has=(NOT_RECOVERED,), scores_like_control=False))
def metadata_stripped_and_reordered(ctx):
    """Metadata stripped and solution cells removed (fc_q1_answer, fc_overfit_five_layer)
    and swapped (fc_q2_answer with fc_q3_answer): some cells cannot be recovered, and the
    status says so."""
    def edit(notebook):
        q2, q3 = cell_index(notebook, "fc_q2_answer"), cell_index(notebook, "fc_q3_answer")
        notebook.cells[q2], notebook.cells[q3] = notebook.cells[q3], notebook.cells[q2]
        for grade_id in ("fc_q1_answer", "fc_overfit_five_layer"):
            notebook.cells.pop(cell_index(notebook, grade_id))
        strip_metadata("metadata_stripped_and_reordered")(notebook)
    return edit_notebook(ctx.control, edit)


# 6. broken notebooks and zips
@case(Expectation(status_starts="ok", status_has=(NOT_READABLE,), loses=FC_TESTS))
def notebook_not_json(ctx):
    """FullyConnectedNets.ipynb is not JSON: graded as missing (every cell 0), not a crash,
    and the other notebook handed in (Dropout.ipynb) is graded."""
    return {**ctx.control, NOTEBOOK: b'{"cells": [ oops', "Dropout.ipynb": ctx.reference["Dropout.ipynb"]}


@case(Expectation(status_starts="ok", loses=FC_TESTS))
def notebook_empty(ctx):
    """A valid notebook with no cells: nbgrader restores the test cells, which fail without
    the set-up cells (every cell 0), but the submission is graded normally."""
    def empty(notebook):
        notebook.cells = []
    return edit_notebook(ctx.control, empty)


@case(Expectation(status_has=("none of the assignment's notebooks is in it",),
                  loses=FC_TESTS, scores_like_control=False, graded=False))
def notebook_missing(ctx):
    """Modules and model only, no notebook at all: a row saying so, no crash (nbgrader
    cannot grade a submission without notebooks)."""
    return without(ctx.control, NOTEBOOK)


@case(Expectation(status_starts="ok"))
def wrapped_in_folder(ctx):
    """Everything under one extra top-level folder (the folder was zipped): as control."""
    return {f"fcnet/{path}": data for path, data in ctx.control.items()}


@case(Expectation(status_has=(UNSAFE_MEMBER,)))
def zip_slip(ctx):
    """Members ../escape.txt and ../../<marker>.py: skipped and reported, written nowhere;
    the rest grades as control."""
    return {**ctx.control, "../escape.txt": b"escaped\n",
            f"../../{ctx.marker}.py": b"print('escaped')\n"}


# 7. tampering with the kernel's namespace
@case(Expectation(loses=USES_AFFINE_FORWARD | NETWORK_CHECK_CELLS, why=(HIDDEN_FAILED,),
                  why_cells=HIDDEN_CHECKS_OF_AFFINE_FORWARD))
def namespace_tampering(ctx):
    """layers.py's affine_forward is not done; a notebook cell makes rel_error always 0,
    np.allclose always true, swaps in a correct affine_forward in the notebook only,
    disables autograder.checks.run and overwrites the hidden checks' verdicts file with
    passes: the hidden checks still fail what uses affine_forward. (The networks' cells
    fail too, in the notebook: nnkit.layers looks finished to them, but fc_net imported
    the unfinished affine_forward before the swap.)"""
    files = edit_module(ctx.control, LAYERS, replace_body(
        "affine_forward", 'raise NotImplementedError("affine_forward: not implemented yet")'))
    return edit_notebook(files, insert_after_imports(f"""\
        import numpy as np
        import nnkit.layers
        rel_error = lambda x, y: 0.0
        np.allclose = lambda *args, **kwargs: True

        def affine_forward(x, w, b):  # correct, but only in the notebook's namespace
            return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)

        nnkit.layers.affine_forward = affine_forward
        import autograder.checks
        autograder.checks.run = lambda *args, **kwargs: None
        import json, os
        passed = {{"status": "passed", "message": "", "notes": [], "modules": []}}
        try:  # read-only in the sandbox; without one, the grader's copy in memory decides
            with open(os.environ["NNKIT_HIDDEN_VERDICTS"], "w") as forged:
                json.dump({{"complete": True, "verdicts": dict.fromkeys({sorted(FC_TESTS)!r}, passed)}}, forged)
        except OSError:
            pass
        """))


# 8. hard-coded answers
@case(Expectation(loses=USES_AFFINE_FORWARD, why=(HIDDEN_FAILED,),
                  why_cells=frozenset({"fc_affine_forward"})))
def hard_coded_affine_forward(ctx):
    """affine_forward returns the expected output for the notebook's public input and zeros
    for any other: the visible test passes, the hidden check fails it."""
    public = public_input_of_affine_forward(ctx.control[NOTEBOOK])
    out = reference_function(ctx.control, LAYERS, "affine_forward")(**public)[0]
    return edit_module(ctx.control, LAYERS, replace_body("affine_forward", f"""\
        if x.shape == {public['x'].shape!r} and w.shape == {public['w'].shape!r}:
            out = np.array({out.tolist()!r})
        else:
            out = np.zeros((x.shape[0], w.shape[1]))
        cache = (x, w, b)
        return out, cache
        """))


# 9. reaching for the answer key or the reference solution
@case(Expectation(status_has=(FLAGGED,), loses=TESTS_OF_LAYERS, may_lose=BUILT_ON_LAYERS))
def flagged_imports_answer_key(ctx):
    """layers.py (otherwise correct) tries to import the hidden checks' answer key at import
    time: flagged, and the cells of layers.py score 0."""
    return edit_module(ctx.control, LAYERS, append_to_module(
        "import autograder.checks.answer_checks as _answer_key"))


@case(Expectation(status_has=(FLAGGED,), loses=TESTS_OF_LAYERS, may_lose=BUILT_ON_LAYERS))
def flagged_execs_reference(ctx):
    """layers.py is the blank release plus code that reads and execs the instructor's
    source/fcnet/nnkit/layers.py from the grading machine: flagged, its cells score 0."""
    reference = ctx.repo / "source" / "fcnet" / "nnkit" / "layers.py"
    files = {**ctx.control, LAYERS: ctx.blank[LAYERS]}
    return edit_module(files, LAYERS, append_to_module(
        "exec(compile(open(_reference).read(), _reference, 'exec'))",
        _reference=str(reference)))


# 10. huge output
@case(Expectation(status_starts="ok"))
def huge_output(ctx):
    """A cell prints 300 MB: graded as control, and the autograded notebook stays small."""
    return edit_notebook(ctx.control, insert_after_imports(
        'for _ in range(3000):\n    print("x" * 100_000)'))


# 11. late
@case(Expectation(status_has=(LATE,)), student_id="late",
      entry=f"late_1_{MANIFEST.due + dt.timedelta(days=3):%Y%m%dT%H%M%S}_fcnet.zip")
def late(ctx):
    """The control, named with a hand-in time 3 days after the due date: marked late, scores
    as control."""
    return ctx.control


# 12. attacks at import time, from a student module
ATTACK_PREAMBLE = """\
import os, pathlib
_here = pathlib.Path.cwd().resolve()
# This folder and those above it, but never /, /tmp or a folder right below /tmp: the code
# must not touch anything of the machine outside the test's own folders, even unconfined.
_above = [folder for folder in [_here, *_here.parents][:12] if len(folder.parts) >= 4]

def _glob(folder, pattern):
    try:
        return list(folder.glob(pattern)) if folder in _above else []
    except Exception:
        return []

"""


# Looks for gradebook.db and any *.db above its folder (the scratch course's, OUT's), sets
# every score to 1000 and adds a table named after the marker: no effect.
ATTACK_GRADEBOOK = """\
import sqlite3
_found = set()
for _folder in _above:
    for _pattern in ("*.db", "*/" + "".join(_db_name), "*/*/" + "".join(_db_name)):
        _found.update(_glob(_folder, _pattern))
for _db in sorted(_found):
    try:
        with sqlite3.connect(str(_db), timeout=1) as _connection:
            _connection.execute(f'CREATE TABLE IF NOT EXISTS "{_marker}" (x)')
            _connection.execute("UPDATE grade SET auto_score = 1000")
    except Exception:
        pass
"""


# Writes a marker file into every sibling student folder (../../*/ and their fcnet/) and into
# every autograded/*/fcnet/ it can find above: none appears.
ATTACK_OTHER_STUDENTS = """\
_targets = set()
for _folder in _glob(_here.parents[1], "*"):
    _targets.update([_folder, _folder / "fcnet"])
for _folder in _above:
    _targets.update(_glob(_folder, "*/autograded/*/fcnet"))
    _targets.update(_glob(_folder, "autograded/*/fcnet"))
for _folder in _targets:
    if _folder.is_dir() and _folder.resolve() != _here:
        try:
            (_folder / f"{_marker}-other-student.txt").write_text("planted\\n")
        except Exception:
            pass
"""


# Writes /tmp/<marker>-tmp.txt and a marker file at the top of the course repository (whose
# path it knows): neither appears.
ATTACK_TMP_AND_REPO = """\
for _path in (f"/tmp/{_marker}-tmp.txt", os.path.join(*_repo_parts, f"{_marker}-repo.txt")):
    try:
        with open(_path, "w") as _file:
            _file.write("planted\\n")
    except Exception:
        pass
"""


# Connects to 1.1.1.1:80 and to 127.0.0.1 ports; on success leaves a marker file in its own
# folder (which ends up in OUT/autograded): none appears.
ATTACK_NETWORK = """\
import socket
for _address in [("1.1.1.1", 80), ("127.0.0.1", 22), ("127.0.0.1", 80),
                 ("127.0.0.1", 8888), ("127.0.0.1", 5432)]:
    try:
        with socket.create_connection(_address, timeout=1):
            pass
        (_here / f"{_marker}-network-{_address[0]}-{_address[1]}.txt").write_text("connected\\n")
    except Exception:
        pass
"""


@case(Expectation(status_starts="ok"))
def attacks(ctx):
    """layers.py runs four attacks when it is imported (in the hidden checks' student
    process and in the kernel), each in a try block of its own: on the gradebooks, on other
    students' folders, on /tmp and the repository, and on the network. None succeeds (no
    marker file appears anywhere, no score changes) and it is graded as the control. The
    code spells no name the grader's static scan looks for (autograder/grading/flags.py:
    "gradebook", the repository's path, ...): this case tests the confinement of student
    code, case 9 tests the scan."""
    files = ctx.control
    for code in (ATTACK_GRADEBOOK, ATTACK_OTHER_STUDENTS, ATTACK_TMP_AND_REPO, ATTACK_NETWORK):
        files = edit_module(files, LAYERS, append_to_module(
            ATTACK_PREAMBLE + code, _marker=ctx.marker, _repo_parts=list(ctx.repo.parts),
            _db_name=["grade", "book.db"]))
    return files


# 13. two submissions of one student, named by the LMS
@case(None, entry="alice_12345_20261201T101500_fcnet.zip", student_id="alice")
def alice_first(ctx):
    """alice's first submission (the control): superseded by her second."""
    return ctx.control


@case(Expectation(status_has=(NEWEST,), loses=frozenset({"fc_adam"})),
      entry="alice_12345_20261202T091500_fcnet.zip", student_id="alice")
def alice_second(ctx):
    """alice's second submission, the control with adam undone: the newest is graded, so
    fc_adam scores 0."""
    return edit_module(ctx.control, OPTIM, replace_body(
        "adam", 'raise NotImplementedError("adam: not implemented yet")'))


# --- fair grading: a mistake is charged once, in the cell of the function it is in ---------
# Habits of real students of this assignment, each graded exactly as control except the
# cells listed. In brackets, what the same bug cost before the checks of networks ran with
# the grader's layers, the Optimizers notebook's rule cells checked the rule in the Solver,
# and the visible cells handed functions copies.

BN_NOTEBOOK, OPT_NOTEBOOK = "BatchNormalization.ipynb", "Optimizers.ipynb"
BATCHNORM_LAYER_CELLS = frozenset({"bn_forward_train", "bn_backward", "bn_backward_alt"})


def _replace(old: str, new: str, count: int = 1, total: int | None = None) -> Callable[[str], str]:
    """An edit replacing the first `count` occurrences of `old` in a module's code (comments
    do not count), which must have `total` of them (default: count)."""
    def edit(text):
        lines = text.splitlines(keepends=True)
        code = [number for number, line in enumerate(lines) if old in line and not line.lstrip().startswith("#")]
        assert len(code) == (total or count), f"{old!r} occurs {len(code)} times in code"
        for number in code[:count]:
            lines[number] = lines[number].replace(old, new)
        return "".join(lines)
    return edit


def _with_notebook(ctx, name: str) -> dict[str, bytes]:
    return {**ctx.control, name: ctx.reference[name]}


@case(Expectation(status_starts="ok"))
def habit_softmax_shifts_in_place(ctx):
    """softmax_loss shifts its scores in place (logits = x; logits -= max), which is correct:
    the visible cell hands it copies and the hidden check notes it. Scores as control
    [before: fc_softmax_loss 0, the visible numeric gradient perturbed the shifted x]."""
    return edit_module(ctx.control, LAYERS, _replace(
        "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x\n    shifted -= x.max(axis=1, keepdims=True)"))


@case(Expectation(loses=frozenset({"fc_affine_backward"}), why=("affine_backward: dw is wrong",)))
def habit_transposed_dw(ctx):
    """affine_backward returns dw transposed (reshaped to w's shape): only its own cell
    loses [before: also fc_two_layer_grads, fc_fcnet_loss_grads and both overfitting cells,
    and in BatchNormalization and Dropout their three network cells]."""
    return edit_module(ctx.control, LAYERS, _replace("dw = x_rows.T @ dout", "dw = (dout.T @ x_rows).reshape(w.shape)"))


@case(Expectation(loses=frozenset({"fc_adam"}), why=("adam: the step next_w - w is wrong",),
                  notebooks=(OPT_NOTEBOOK,)))
def habit_adam_without_bias_correction(ctx):
    """adam leaves out the bias correction: fc_adam loses, opt_adam (adam inside the Solver,
    compared with the student's own adam) does not [before: both]."""
    files = edit_module(_with_notebook(ctx, OPT_NOTEBOOK), OPTIM, _replace("m_hat = m / (1 - beta1**t)", "m_hat = m", total=2))  # adam's, then adabelief's
    return edit_module(files, OPTIM, _replace("v_hat = v / (1 - beta2**t)", "v_hat = v"))


@case(Expectation(loses=BATCHNORM_LAYER_CELLS, why=("a kept dimension?",),
                  why_cells=frozenset({"bn_forward_train"}), notebooks=(BN_NOTEBOOK,)))
def habit_batchnorm_keepdims(ctx):
    """batchnorm keeps the batch dimension (keepdims=True: statistics, running averages,
    dgamma and dbeta of shape (1, D)): the three batchnorm layer cells lose, saying "a kept
    dimension?", no network cell does [before: bn_fcnet_batchnorm too]."""
    files = _with_notebook(ctx, BN_NOTEBOOK)
    for old, new, count in [
            ("batch_mean = x.mean(axis=0)", "batch_mean = x.mean(axis=0, keepdims=True)", 1),
            ("batch_var = np.mean(x_centered**2, axis=0)", "batch_var = np.mean(x_centered**2, axis=0, keepdims=True)", 1),
            # both batchnorm backward passes (layernorm's, third, keeps its own)
            ("dbeta = dout.sum(axis=0)", "dbeta = dout.sum(axis=0, keepdims=True)", 2),
            ("dgamma = np.sum(dout * x_hat, axis=0)", "dgamma = np.sum(dout * x_hat, axis=0, keepdims=True)", 2)]:
        files = edit_module(files, LAYERS, _replace(old, new, count, total=3 if count == 2 else None))
    return files


@case(Expectation(loses=frozenset({"bn_forward_test"}), why=("batchnorm_forward (test): out is wrong",),
                  notebooks=(BN_NOTEBOOK,)))
def habit_eps_outside_the_square_root(ctx):
    """batchnorm's test mode adds eps outside the square root, sqrt(running_var) + eps: not
    accepted (it matters for small variances), and charged once, with a message that says
    what was measured [before: bn_fcnet_batchnorm too, and the visible message blamed the
    batch statistics]."""
    return edit_module(_with_notebook(ctx, BN_NOTEBOOK), LAYERS, _replace(
        "np.sqrt(running_var + eps)", "(np.sqrt(running_var) + eps)"))


@case(Expectation(loses=frozenset({"fc_q1_choice"}),
                  why=("not answered: set inline_q1_answer in the answer cell of Inline Question 1",)))
def habit_question_not_answered(ctx):
    """Inline question 1 left as released: "not answered: set inline_q1_answer in ...", a
    failed check, not a grader error [before: "hidden check could not run: cannot check
    this outside the notebook ..."]."""
    released = nbformat.reads(ctx.blank[NOTEBOOK].decode(), as_version=4)
    source = released.cells[cell_index(released, "fc_q1_answer")].source

    def unanswer(notebook):
        notebook.cells[cell_index(notebook, "fc_q1_answer")].source = source
    return edit_notebook(ctx.control, unanswer)


# --- Faults in execution: a fault costs only what it touches, within limits the student
# cannot lift. Graded with the default limits of `autograder grade`.

# A secret in the grader's environment (tests/test_hostile_submissions.py sets it to
# grader_secret(marker)); student code must never see it.
GRADER_SECRET_NAME = "NNKIT_CORPUS_DATABASE_PASSWORD"
STARTED_PROCESSES = "started processes:"   # printed by starts_400_processes
DISK_FILLED = "wrote MiB:"                 # printed by fills_3_gb_of_disk, per place
FILLER_PREFIX = "filler"                   # the files fills_3_gb_of_disk writes


def grader_secret(marker: str) -> str:
    return f"password-{marker}"


def insert_after_test(grade_id: str, source: str) -> Callable:
    """An edit inserting an ordinary code cell right after the test cell `grade_id`."""
    def edit(notebook):
        notebook.cells.insert(cell_index(notebook, grade_id) + 1,
                              nbformat.v4.new_code_cell(textwrap.dedent(source)))
    return edit


@case(Expectation(loses=USES_RELU_FORWARD, why=(TIMED_OUT,), status_has=(TIMED_OUT,),
                  why_cells=USES_RELU_FORWARD - {"fc_overfit_three_layer_check",
                                                 "fc_overfit_five_layer_check"}))
def endless_loop_relu_forward(ctx):
    """relu_forward never returns. Only the cells (and hidden checks) that call it lose their
    points, as timed out (the overfitting checks, because the training they check timed
    out); every other score is kept, and the time the submission costs is bounded: after
    the first timeout, later cells get a tight limit."""
    return edit_module(ctx.control, LAYERS, prepend_to("relu_forward", "while True:\n    pass"))


@case(Expectation(loses=frozenset({"fc_adam"}), why=(TIMED_OUT,), status_has=(TIMED_OUT,)))
def endless_loop_ignoring_interrupts(ctx):
    """adam loops forever and swallows the interrupt that ends a timed-out cell: the kernel
    is replaced, the cells above re-run, and only fc_adam loses its points."""
    return edit_module(ctx.control, OPTIM, prepend_to("adam", """\
        while True:
            try:
                while True:
                    pass
            except KeyboardInterrupt:
                pass"""))


@case(Expectation(status_has=(KERNEL_DIED,)))
def kernel_dies_between_graded_cells(ctx):
    """os._exit(1) in a cell right after fc_two_layer_grads (13 test cells above it) and
    exit() in a cell after fc_rmsprop: the graded cells above each death keep their scores,
    the cells after it run in a new kernel; every test cell scores as in the control."""
    files = edit_notebook(ctx.control, insert_after_test("fc_two_layer_grads",
                                                         "import os\nos._exit(1)"))
    return edit_notebook(files, insert_after_test("fc_rmsprop", "exit()"))


@case(Expectation(loses=frozenset({"fc_svm_loss"}), why=(HIDDEN_FAILED,)))
def prints_grader_environment(ctx):
    """A cell prints os.environ, and svm_loss raises an error naming every variable whose
    name looks secret (so the hidden check's message would carry it): the grader's secret
    appears nowhere in OUT. Only fc_svm_loss is lost."""
    files = edit_notebook(ctx.control, insert_after_imports(
        "import os\nprint(dict(os.environ))"))
    return edit_module(files, LAYERS, prepend_to("svm_loss", """\
        import os
        secrets = {name: value for name, value in os.environ.items()
                   if any(word in name for word in ("PASSWORD", "TOKEN", "SECRET"))}
        raise RuntimeError(f"environment secrets: {secrets}")"""))


@case(Expectation(status_has=(KERNEL_DIED,)))
def lifts_output_cap_then_prints_200_mb(ctx):
    """Deletes every IPython start-up file it can find, ends the kernel (the cells above are
    re-run in a new one), then prints 200 MB: the output is cut all the same; the autograded
    notebook and the feedback page stay small, and it grades as the control."""
    files = edit_notebook(ctx.control, insert_after_imports(
        'for _ in range(2000):\n    print("x" * 100_000)'))
    files = edit_notebook(files, insert_after_imports("import os\nos._exit(1)"))
    return edit_notebook(files, insert_after_imports("""\
        import glob, os
        for folder in {os.environ.get("IPYTHONDIR", ""), os.path.expanduser("~/.ipython")}:
            for path in glob.glob(os.path.join(folder, "profile_*", "startup", "*")):
                try:
                    os.remove(path)
                except OSError:
                    pass
        """))


@case(Expectation(status_starts="ok"))
def fills_3_gb_of_disk(ctx):
    """A cell writes 3 GB into the assignment folder, then 3 GB into /tmp, 1 MiB at a time,
    and prints how much it wrote: each stops at the sandbox's disk cap, none of it reaches
    OUT, and it grades as the control."""
    return edit_notebook(ctx.control, insert_after_imports(f"""\
        import os, tempfile
        for folder in (".", tempfile.gettempdir()):
            written = 0
            try:
                with open(os.path.join(folder, "{FILLER_PREFIX}-{ctx.marker}.bin"), "wb") as file:
                    for _ in range(3 * 1024):
                        file.write(b"\\0" * 2**20)
                        written += 1
            except OSError as error:
                print("stopped:", error)
            print("{DISK_FILLED}", folder, written)
        """))


@case(Expectation(status_starts="ok"))
def starts_400_processes(ctx):
    """A cell starts 400 processes that sleep, prints how many started, and ends them: the
    process cap stops it well before, and it grades as the control."""
    return edit_notebook(ctx.control, insert_after_imports(f"""\
        import subprocess
        started = []
        try:
            for _ in range(400):
                started.append(subprocess.Popen(["sleep", "120"]))
        except OSError as error:
            print("stopped:", error)
        print("{STARTED_PROCESSES}", len(started))
        for process in started:
            process.kill()
            process.wait()
        """))


# --- building -----------------------------------------------------------------------------

@dataclass
class Corpus:
    folder: Path
    marker: str
    cases: list[Case] = field(default_factory=list)

    def expected(self) -> list[Case]:
        return [case_ for case_ in self.cases if case_.expect is not None]


def build_corpus(folder: Path, cache_dir: Path, course_root: Path = REPO,
                 manifest: Manifest = MANIFEST, say=print) -> Corpus:
    """Write every case into `folder` (created; must not hold entries already)."""
    samples = {sample.name: sample for sample in
               build_samples(course_root, manifest, cache_dir, partial_names=(), say=say)}
    trim = lambda files: {path: files[path] for path in KEPT if path in files}  # noqa: E731
    context = Context(trim(samples["reference"].files), samples["reference"].files,
                      trim(samples["blank"].files),
                      f"{MARKER_PREFIX}{uuid.uuid4().hex}", course_root, manifest)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(folder, context.marker)
    downloaded = (manifest.due + dt.timedelta(days=10)).timestamp()  # after the deadline
    for case_ in CASES:
        path = write_zip(Sample(case_.name, case_.build(context)), folder / case_.entry)
        os.utime(path, (downloaded, downloaded))
        corpus.cases.append(case_)
    return corpus


def table(corpus: Corpus) -> list[str]:
    """One line per case (entry, student id, expectation), then what it shows."""
    width = max(len(case_.entry) for case_ in corpus.cases)
    lines = [f"{'entry':<{width}}  {'student id':<32}  expectation"]
    for case_ in corpus.cases:
        expectation = (case_.expect.describe() if case_.expect else
                       "superseded by the student's newer entry")
        lines.append(f"{case_.entry:<{width}}  {case_.student_id:<32}  {expectation}")
        lines += textwrap.wrap(case_.shows, 100, initial_indent=" " * 6,
                               subsequent_indent=" " * 6)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, metavar="OUT_DIR", help="folder for the entries")
    parser.add_argument("--cache", type=Path, default=REPO / "out" / "cache", metavar="DIR",
                        help="where the reference's trained model is cached (default: %(default)s)")
    args = parser.parse_args(argv)
    corpus = build_corpus(args.out, args.cache)
    print(f"Wrote {len(corpus.cases)} entries to {args.out} (marker {corpus.marker}); grade "
          f"with --name-pattern '{NAME_PATTERN}'\n")
    for line in table(corpus):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
