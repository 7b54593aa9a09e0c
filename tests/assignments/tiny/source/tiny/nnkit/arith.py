"""Two array functions: the whole of the tiny assignment's student work."""
import numpy as np


def double(x):
    """Twice x.

    Inputs:
    - x: A numpy array of any shape.

    Returns an array of the shape of x.
    """
    # TODO: Compute and return twice x.
    ### BEGIN SOLUTION
    return 2.0 * np.asarray(x)
    ### END SOLUTION


def square(x):
    """x times itself, elementwise.

    Inputs:
    - x: A numpy array of any shape.

    Returns an array of the shape of x.
    """
    # TODO: Compute and return the elementwise square of x.
    ### BEGIN SOLUTION
    return np.asarray(x) ** 2
    ### END SOLUTION
