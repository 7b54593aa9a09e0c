"""An assignment's hidden checks: loaded from the folder they live in, next to the rest of
the assignment (checks_folder: assignments/<id>/checks/ of the course or of the assignment
bundle a grading task gets).

    checks = load_checks(folder)      # AssignmentChecks: .checks {grade_id: framework.Check}, .probes
    checks.module("answer_checks")    # one of its modules, as the grader imported it
    checks = current_checks()         # this grader process's assignment (autograder.checks.CHECKS_DIR)

The folder is a Python package. Its __init__.py imports the modules that register checks
(framework.check); its probes.py holds the code that exercises the student's modules
(PROBES, ProbeError, Package). probes.py runs on both sides of a check: imported here for
the reference, and copied alone into the student's sandboxed process (student_process.py),
so it imports only numpy and the standard library and holds no reference code or answers.
"""
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from . import CHECKS_DIR, REFERENCE_ENV
from . import framework

PROBES_FILE = "probes.py"


@dataclass(frozen=True)
class AssignmentChecks:
    folder: Path
    checks: dict        # {grade_id: framework.Check}
    probes: ModuleType  # the folder's probes.py, as the grader imported it

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.probes.__package__}.{name}")

    @property
    def probes_file(self) -> Path:
        return self.folder / PROBES_FILE


_loaded = {}


def load_checks(folder) -> AssignmentChecks:
    """The checks registered by the package in `folder` (imported once per process)."""
    folder = Path(folder).resolve()
    if folder not in _loaded:
        if not (folder / "__init__.py").is_file() or not (folder / PROBES_FILE).is_file():
            raise framework.NotGradable(f"no hidden checks in {folder} (a package with {PROBES_FILE} is expected)")
        # A name of its own per folder: two assignments (or a course and a bundle) can be
        # loaded side by side without sharing modules.
        name = f"assignment_checks_{len(_loaded)}_{folder.parent.name}"
        spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        with framework.registering() as checks:
            spec.loader.exec_module(package)
        _loaded[folder] = AssignmentChecks(folder, checks, importlib.import_module(f"{name}.probes"))
    return _loaded[folder]


def current_checks() -> AssignmentChecks:
    """The checks of the assignment this grader process grades (see autograder.checks)."""
    if CHECKS_DIR is None:
        raise framework.NotGradable(f"which assignment? set {REFERENCE_ENV} to its source folder (COURSE/source/<id>)")
    return load_checks(CHECKS_DIR)
