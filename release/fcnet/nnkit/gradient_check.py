"""Numeric gradients by centered differences, for checking analytic backward passes.

The centered difference (f(x + h) - f(x - h)) / (2h) has an error of order h**2, far
smaller than the one-sided (f(x + h) - f(x)) / h. Compare the numeric and the analytic
gradient with rel_error: in float64, errors around 1e-7 or below mean the backward pass
is right; 1e-4 or above almost always means a bug (unless the check straddles a kink
such as ReLU at 0).

Every function here evaluates f at perturbed copies of single entries of x in place and
puts the original value back, so x is unchanged when the function returns.
"""
import numpy as np


def rel_error(x, y):
    """Largest elementwise relative error between x and y.

    Inputs:
    - x, y: Arrays (or scalars) of the same shape.

    Returns:
    - Scalar max |x - y| / max(1e-8, |x| + |y|); the 1e-8 floor keeps entries that are
      both (nearly) zero from dividing by zero.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numeric gradient of a scalar function at x.

    Inputs:
    - f: Function taking an array shaped like x and returning a scalar. It may ignore its
      argument and read x through another reference (for example a model's params), as
      long as that reference is the same array object.
    - x: Array of any shape; modified in place during the check, restored afterwards.
    - verbose: If True, print every index and its numeric gradient.
    - h: Step of the centered difference.

    Returns:
    - grad: Array of the same shape as x, grad[i] ~ df/dx[i].
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        f_plus, f_minus = _evaluate_around(f, x, index, h)
        grad[index] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(index, grad[index])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of an array-valued function, contracted with an upstream gradient.

    For out = f(x) and an upstream gradient df = dL/dout, this returns dL/dx, which is
    what a layer's backward pass computes from dout.

    Inputs:
    - f: Function taking an array shaped like x and returning an array shaped like df.
    - x: Array of any shape; modified in place during the check, restored afterwards.
    - df: Array shaped like f(x), the upstream gradient.
    - h: Step of the centered difference.

    Returns:
    - grad: Array of the same shape as x, grad[i] = sum(df * d f(x) / dx[i]).
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        out_plus, out_minus = _evaluate_around(f, x, index, h)
        grad[index] = np.sum((out_plus - out_minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None):
    """Compare an analytic gradient with numeric ones at a few random entries of x.

    Useful when x is too large to check every entry. Prints one line per checked entry.

    Inputs:
    - f: Function taking an array shaped like x and returning a scalar.
    - x: Array of any shape; modified in place during the check, restored afterwards.
    - analytic_grad: Array shaped like x, the gradient to check.
    - num_checks: Number of random entries to check.
    - h: Step of the centered difference.
    - seed: Seed for choosing the entries; None draws them from numpy's global RNG.

    Returns:
    - errors: List of num_checks relative errors, in the order printed.
    """
    rng = np.random if seed is None else np.random.RandomState(seed)
    errors = []
    for _ in range(num_checks):
        index = tuple(rng.randint(size) for size in x.shape)
        f_plus, f_minus = _evaluate_around(f, x, index, h)
        numeric = float((f_plus - f_minus) / (2 * h))
        analytic = analytic_grad[index]
        error = rel_error(numeric, analytic)
        errors.append(error)
        print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {error:e}")
    return errors


def _evaluate_around(f, x, index, h):
    """f at x with x[index] moved up by h, then down by h; x is restored afterwards.

    The results are copied because f may return x itself (an identity layer) or a view.
    """
    original = x[index]
    x[index] = original + h
    f_plus = np.array(f(x), copy=True)
    x[index] = original - h
    f_minus = np.array(f(x), copy=True)
    x[index] = original
    return f_plus, f_minus
