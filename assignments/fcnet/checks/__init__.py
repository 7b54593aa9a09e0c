"""The hidden checks of fcnet, one per autograded notebook cell (its grade_id), registered
by importing the modules that define them (autograder/checks/assignment.py loads this
package; autograder/checks/framework.py is what they are written with)."""
from . import answer_checks, layer_checks, model_checks, network_checks, optimizer_checks  # noqa: F401
