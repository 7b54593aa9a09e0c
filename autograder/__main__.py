"""`python -m autograder ...` does what the `autograder` command does."""
import sys

from .cli import main

sys.exit(main())
