"""Check a built student release before it replaces release/<id>.

A release fails verification when
- any solution or hidden-test line of the instructor's source appears anywhere in it,
- any value a solution statement computes appears anywhere in it, spaces, quotes and `np.`
  ignored (a TODO saying `x_hat = x_centered / std` gives the solution away as surely as
  the solution line itself), be it in prose (comments, string literals, markdown) or in the
  code of a test cell (a check that computes its expected values with the solution's
  expressions hands them over),
- the code of a test cell computes a solution expression under other names
  (`w - lr * g / (np.sqrt(G) + eps)` for adagrad's update; see leaks.expression_shape),
- the TODO or docstring of a backward pass or a loss, or a message or comment of a test
  cell, gives a gradient a value (`dx = ...`) or says what it is made of (`dx is dout
  times the mask`),
- the handout addresses instructors (an HTML comment left in the release's README.md),
- any nbgrader marker (BEGIN SOLUTION, BEGIN HIDDEN TESTS, ...) is left in it,
- a notebook or student module named in the manifest is missing,
- a file of the instructor's working copy (data, saved model, cache) got into it,
- a module with solution regions is not a student module (autograde would replace the
  student's copy with the instructor's, and the student would not hand it in),
- a notebook's Colab FOLDERNAME differs from the manifest's colab_folder,
- one of its modules fails to import (each is imported in a fresh interpreter with only
  the release folder added to sys.path).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..manifest import Manifest
from .leaks import (code_lines, expression_shapes, gradients_in_messages, is_setting, normalize,
                    prose_line_numbers, spelled_out_gradients, statement_shapes, statement_values)
from .paths import DATASETS_SCRIPT, assignment_files, is_local_only

# nbgrader's region delimiters; the release must contain none of them.
REGION_KINDS = ("SOLUTION", "HIDDEN TESTS", "MARK SCHEME")
MARKERS = tuple(f"{edge} {kind}" for kind in REGION_KINDS for edge in ("BEGIN", "END"))
# Solution lines shorter than this (`else:`, `pass`, `dx = dout`) are too common to mean a leak.
MIN_SECRET_LENGTH = 10
_FOLDERNAME = re.compile(r"""^FOLDERNAME\s*=\s*["']([^"']*)["']""", re.MULTILINE)
IMPORT_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Problem:
    where: str    # file (and line or cell) in the release, or the source file at fault
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Chunk:
    """A file's text, or one cell's source or outputs when the file is a notebook."""
    file: str
    text: str
    cell: int | None = None       # 1-based cell number in a notebook
    part: str = ""                # "" for a cell's source, "output" for its outputs
    whole_solution: bool = False  # a solution cell without a region: nbgrader replaces it all
    markdown: bool = False        # a markdown cell: prose, never given code
    test_cell: bool = False       # a graded code cell that is not a solution: a check

    def where(self, line_number: int) -> str:
        if self.cell is None:
            return f"{self.file}:{line_number}"
        part = f" {self.part}" if self.part else ""
        return f"{self.file} cell {self.cell}{part} line {line_number}"

    def lines(self):
        return enumerate(self.text.splitlines(), start=1)

    def code(self) -> dict[int, str]:
        """The code of each line that has some, without its comments and string literals
        (markdown, outputs and other files have none)."""
        if self.markdown or self.part or not self.file.endswith((".py", ".ipynb")):
            return {}
        code = code_lines(self.text)
        if code is None:  # does not tokenize: count whole lines, comment lines aside
            prose = prose_line_numbers(self.text)
            code = {number: line for number, line in self.lines() if number not in prose}
        return code


def verify_release(release_dir: Path, source_dir: Path, manifest: Manifest) -> list[Problem]:
    """Every problem found in the release built from `source_dir`; empty when it is sound."""
    patterns = manifest.local_only_patterns
    source = [chunk for path in assignment_files(source_dir, patterns)
              for chunk in read_chunks(source_dir, path)]
    release = [chunk for path in assignment_files(release_dir, patterns)
               for chunk in read_chunks(release_dir, path)]
    source_prefix = f"source/{manifest.id}/"
    return [
        *_missing_files(release_dir, manifest),
        *_local_only_files(release_dir, patterns),
        *_unlisted_solution_modules(source, manifest),
        *_leftover_markers(release),
        *_leaked_solution_lines(release, secret_lines(source), source_prefix),
        *_leaked_solution_expressions(release, secret_expressions(source), source_prefix),
        *_renamed_solution_expressions(release, secret_shapes(source), source_prefix),
        *_spelled_out_gradients(release),
        *_handout_comments(release_dir),
        *_colab_folder_mismatches(release_dir, manifest),
        *_import_failures(release_dir, patterns),
    ]


def read_chunks(folder: Path, path: str) -> list[Chunk]:
    """The text of a file as chunks (one per notebook cell); nothing for binary files."""
    full_path = folder / path
    if path.endswith(".ipynb"):
        try:
            notebook = nbformat.read(full_path, as_version=4)
        except Exception:  # not a notebook after all: check its raw text
            return [Chunk(path, full_path.read_text(encoding="utf-8", errors="replace"))]
        chunks = []
        for number, cell in enumerate(notebook.cells, start=1):
            meta = cell.metadata.get("nbgrader", {})
            has_region = any(f"BEGIN {kind}" in cell.source for kind in REGION_KINDS)
            chunks.append(Chunk(path, cell.source, number,
                                whole_solution=bool(meta.get("solution")) and not has_region,
                                markdown=cell.cell_type == "markdown",
                                test_cell=(cell.cell_type == "code" and bool(meta.get("grade"))
                                           and not meta.get("solution"))))
            outputs = "\n".join(_output_text(output) for output in cell.get("outputs", []))
            if outputs:
                chunks.append(Chunk(path, outputs, number, part="output"))
        return chunks
    try:
        return [Chunk(path, full_path.read_text(encoding="utf-8"))]
    except UnicodeDecodeError:
        return []


def secret_lines(chunks: list[Chunk]) -> dict[str, str]:
    """Non-trivial lines of the solution and hidden-test regions, each with where it is from.

    A line that also appears (spaces, quotes and `np.` aside) in code the source gives
    students (see _public_code) is not a secret, so it never counts as a leak; nor is one
    keyword argument of a call spread over lines (`lr_decay=0.95,`), which only names a
    setting the notebook asks for. Prose (a TODO comment, a docstring, a message, markdown)
    or the code of a test cell that spells a solution line out does not make it public:
    that is the leak verification looks for.
    """
    candidates = {}
    for chunk in chunks:
        for number, line, hidden in _hidden_or_not(chunk):
            line = line.strip()
            if hidden and len(line) >= MIN_SECRET_LENGTH and not is_setting(line):
                candidates.setdefault(line, chunk.where(number))
    public_code = normalize(_public_code(chunks, test_cells=True))
    return {line: where for line, where in candidates.items() if normalize(line) not in public_code}


def secret_expressions(chunks: list[Chunk]) -> dict[str, str]:
    """The values the statements of the solution regions compute (see
    leaks.statement_values), normalized, each with where it is from; values that the given
    code of the source also computes are not secrets."""
    candidates = {}
    for chunk in chunks:
        region = []  # (line number, line) of the region being read
        for number, line, hidden in [*_hidden_or_not(chunk), (None, "", False)]:
            if hidden:
                region.append((number, line))
            elif region:
                for value, offset in statement_values("\n".join(line for _, line in region)):
                    candidates.setdefault(value, chunk.where(region[offset - 1][0]))
                region = []
    public_code = normalize(_public_code(chunks))
    return {value: where for value, where in candidates.items() if value not in public_code}


def secret_shapes(chunks: list[Chunk]) -> dict[str, str]:
    """The shapes (leaks.expression_shape) of the values solution statements compute, each
    with where it is from; shapes that the given code (test cells aside) also has are not
    secrets."""
    candidates = {}
    for chunk in chunks:
        for start, region in _solution_regions(chunk):
            for shape, offset in statement_shapes(region):
                candidates.setdefault(shape, chunk.where(start + offset - 1))
    public = {shape for chunk in chunks if not chunk.test_cell
              for shape, _ in expression_shapes("\n".join(
                  chunk.code().get(number, "") for number, _, hidden in _hidden_or_not(chunk)
                  if not hidden))}
    return {shape: where for shape, where in candidates.items() if shape not in public}


def _solution_regions(chunk: Chunk):
    """(first line number, code) of every solution or hidden-test region of a chunk."""
    region = []
    for number, line, hidden in [*_hidden_or_not(chunk), (None, "", False)]:
        if hidden:
            region.append((number, line))
        elif region:
            yield region[0][0], "\n".join(line for _, line in region)
            region = []


def _public_code(chunks: list[Chunk], test_cells: bool = False) -> str:
    """The code the source gives students: outside every region, without comments and string
    literals (leaks.code_lines). The code of test cells only with test_cells: a check may
    share a solution's line (`for name in ("W1", "W2"):`), but a check that computes its
    expected values with a solution's expressions (`m / (1 - beta1**t)`) hands them over."""
    lines = []
    for chunk in chunks:
        if chunk.test_cell and not test_cells:
            continue
        code = chunk.code()
        lines += [code[number].strip() for number, _, hidden in _hidden_or_not(chunk)
                  if not hidden and number in code]
    return "\n".join(lines)


def _hidden_or_not(chunk: Chunk):
    """(line number, line, hidden) for each line that is not a region marker."""
    inside = None
    for number, line in chunk.lines():
        begins = [kind for kind in REGION_KINDS if f"BEGIN {kind}" in line]
        if begins:
            inside = begins[0]
        elif inside and f"END {inside}" in line:
            inside = None
        else:
            yield number, line, chunk.whole_solution or inside is not None


def _missing_files(release_dir: Path, manifest: Manifest) -> list[Problem]:
    return [Problem(path, "listed in the manifest but missing from the release")
            for path in manifest.notebooks + manifest.student_modules
            if not (release_dir / path).is_file()]


def _local_only_files(release_dir: Path, patterns) -> list[Problem]:
    return [Problem(path, "a working-copy file (data, saved model, cache) got into the release; "
                          "CourseDirectory.ignore in nbgrader_config.py should exclude it")
            for path in assignment_files(release_dir, ())
            if is_local_only(path, patterns) and path != DATASETS_SCRIPT]


def _unlisted_solution_modules(source: list[Chunk], manifest: Manifest) -> list[Problem]:
    problems = []
    for chunk in source:
        if not chunk.file.endswith(".py"):
            continue
        where = f"source/{manifest.id}/{chunk.file}"
        has_regions = "BEGIN SOLUTION" in chunk.text
        if has_regions and chunk.file not in manifest.student_modules:
            problems.append(Problem(where, (
                f"has solution regions but is not in student_modules of {manifest.path}: "
                "students could not hand it in and autograde would grade the instructor's "
                "copy; add it there or move the solution out")))
        elif not has_regions and chunk.file in manifest.student_modules:
            problems.append(Problem(where, (
                f"is in student_modules of {manifest.path} but has no ### BEGIN SOLUTION "
                "region, so students have nothing to do in it")))
    return problems


def _leftover_markers(release: list[Chunk]) -> list[Problem]:
    return [Problem(chunk.where(number), f"nbgrader marker left in the release: {line.strip()!r}")
            for chunk in release for number, line in chunk.lines()
            if any(marker in line for marker in MARKERS)]


def _leaked_solution_lines(release: list[Chunk], secrets: dict[str, str],
                           source_prefix: str) -> list[Problem]:
    problems = []
    for chunk in release:
        for number, line in chunk.lines():
            leaked = next((secret for secret in secrets if secret in line), None)
            if leaked is not None:
                problems.append(Problem(chunk.where(number), "contains solution text (from "
                                        f"{source_prefix}{secrets[leaked]}): {leaked!r}"))
    return problems


def _leaked_solution_expressions(release: list[Chunk], secrets: dict[str, str],
                                 source_prefix: str) -> list[Problem]:
    problems = []
    for chunk in release:
        numbered = [(number, normalize(line)) for number, line in chunk.lines()]
        text = "".join(line for _, line in numbered)
        for secret, origin in secrets.items():
            offset = text.find(secret)
            if offset < 0:
                continue
            for number, line in numbered:  # the line where the expression starts
                if offset < len(line):
                    break
                offset -= len(line)
            problems.append(Problem(chunk.where(number), (
                f"spells out a solution expression (from {source_prefix}{origin}; spaces, "
                f"quotes and np. ignored): {secret!r}. Say what to compute, not how.")))
    return problems


def _renamed_solution_expressions(release: list[Chunk], secrets: dict[str, str],
                                  source_prefix: str) -> list[Problem]:
    problems = []
    for chunk in release:
        if not chunk.test_cell:
            continue
        for shape, number in expression_shapes(chunk.text):
            if shape in secrets:
                problems.append(Problem(chunk.where(number), (
                    f"computes a solution expression under other names (from {source_prefix}"
                    f"{secrets[shape]}; names renamed in order: {shape!r}). Compare with values "
                    "computed once from the reference (scripts/expected_values.py) instead.")))
    return problems


def _spelled_out_gradients(release: list[Chunk]) -> list[Problem]:
    in_modules = [Problem(chunk.where(number), (
                      f"the TODO or docstring of {function} gives a gradient a value: {said!r}. "
                      "State what to hand back (names, shapes), never the gradient itself."))
                  for chunk in release if chunk.file.endswith(".py")
                  for number, function, said in spelled_out_gradients(chunk.text)]
    in_checks = [Problem(chunk.where(number), (
                     f"a message or comment of this check spells out a gradient: {said!r}. Say what "
                     "was measured and where to look, never the gradient itself."))
                 for chunk in release if chunk.test_cell
                 for number, said in gradients_in_messages(chunk.text)]
    return in_modules + in_checks


def _handout_comments(release_dir: Path) -> list[Problem]:
    handout = release_dir / "README.md"
    if not handout.is_file():
        return [Problem("README.md", "the handout is missing from the release")]
    return [Problem(f"README.md:{number}", "an HTML comment (meant for instructors) is left in "
                                           "the student handout")
            for number, line in enumerate(handout.read_text(encoding="utf-8").splitlines(), 1)
            if "<!--" in line]


def _colab_folder_mismatches(release_dir: Path, manifest: Manifest) -> list[Problem]:
    problems = []
    for name in manifest.notebooks:
        path = release_dir / name
        if not path.is_file():
            continue  # reported as missing
        notebook = nbformat.read(path, as_version=4)
        code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        folders = _FOLDERNAME.findall(code)
        if not folders:
            problems.append(Problem(name, "no FOLDERNAME = \"...\" line for Colab; the first "
                                          f"code cell should set it to {manifest.colab_folder!r}"))
        elif any(folder.strip("/") != manifest.colab_folder for folder in folders):
            problems.append(Problem(name, f"FOLDERNAME is {folders[0]!r} but colab_folder in "
                                          f"{manifest.path} is {manifest.colab_folder!r}"))
    return problems


def _import_failures(release_dir: Path, patterns) -> list[Problem]:
    modules = [path for path in assignment_files(release_dir, patterns) if path.endswith(".py")]
    # Each import is a separate interpreter, mostly waiting on disk and numpy: run a few at once.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        problems = pool.map(lambda path: _import_problem(release_dir, path), modules)
    return [problem for problem in problems if problem is not None]


def _import_problem(release_dir: Path, path: str) -> Problem | None:
    module = path[: -len(".py")].replace("/", ".").removesuffix(".__init__")
    # -I: ignore PYTHONPATH and the current folder, so only the release's code is found;
    # -B: write no __pycache__ into the release.
    program = ("import importlib, sys; sys.path.insert(0, sys.argv[1]); "
               "print(importlib.import_module(sys.argv[2]).__file__)")
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-B", "-c", program, str(release_dir), module],
            capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"},
            timeout=IMPORT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return Problem(path, f"importing {module} took over {IMPORT_TIMEOUT_SECONDS} s "
                             "(work at import time?)")
    if result.returncode != 0:
        return Problem(_failing_line(result.stderr, release_dir, path),
                       f"importing {module} fails: {_last_line(result.stderr)}")
    if Path(result.stdout.strip()).resolve() != (release_dir / path).resolve():
        return Problem(path, f"importing {module} loaded {result.stdout.strip()} instead of "
                             "the release's file")
    return None


def _failing_line(stderr: str, release_dir: Path, path: str) -> str:
    """The deepest 'file:line' of the traceback inside the release, else the module's path."""
    frames = re.findall(r'File "([^"]+)", line (\d+)', stderr)
    root = str(release_dir.resolve())
    inside = [(file, line) for file, line in frames if str(Path(file).resolve()).startswith(root)]
    if not inside:
        return path
    file, line = inside[-1]
    return f"{Path(file).resolve().relative_to(root).as_posix()}:{line}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no error message)"


def _output_text(output) -> str:
    if "text" in output:
        return output["text"]
    return "\n".join(str(value) for key, value in output.get("data", {}).items()
                     if key.startswith("text/"))
