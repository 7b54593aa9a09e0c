"""Numeric gradients of a layer's forward function, shared by the layer tests."""
from nnkit.gradient_check import eval_numerical_gradient_array


def numeric_grads(forward, inputs, dout):
    """Numeric gradient of sum(forward(*inputs)[0] * dout) with respect to every input."""
    grads = []
    for i, array in enumerate(inputs):
        def f(value, i=i):
            args = list(inputs)
            args[i] = value
            return forward(*args)[0]

        grads.append(eval_numerical_gradient_array(f, array.copy(), dout))
    return grads
