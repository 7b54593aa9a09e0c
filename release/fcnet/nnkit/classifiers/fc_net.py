"""Fully-connected classifiers built from the layers in nnkit.layers.

Both networks keep their learnable parameters in the dictionary `params` (name -> array)
and compute everything in `loss`:

    scores = model.loss(X)           # test time: class scores, shape (N, C)
    loss, grads = model.loss(X, y)   # training: scalar loss, grads keyed like params

They do not train themselves: nnkit.solver.Solver updates `params` from `grads`.
Each network also records the arguments it was built with in `init_args`, a
dictionary of plain Python values, so that nnkit.model_io can save it and build it again.
"""
import numbers

import numpy as np

from ..layer_utils import (
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from ..layers import affine_backward, affine_forward, dropout_backward, dropout_forward, softmax_loss

NORMALIZATION_CHOICES = (None, "batchnorm", "layernorm")


def _positive_int(where, name, value):
    """Return value as an int, or raise a ValueError saying which argument is wrong."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _non_negative_float(where, name, value):
    """Return value as a float, or raise a ValueError saying which argument is wrong."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ValueError(f"{where}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _fully_connected_init_args(
    hidden_dims, input_dim, num_classes, dropout_keep_ratio, normalization, reg,
    weight_scale, dtype, seed,
):
    """Check the arguments of FullyConnectedNet and return them as plain Python values."""
    where = "FullyConnectedNet"
    if isinstance(hidden_dims, (str, bytes)) or not hasattr(hidden_dims, "__iter__"):
        raise ValueError(f"{where}: hidden_dims must be a list of integers, got {hidden_dims!r}")
    if normalization not in NORMALIZATION_CHOICES:
        raise ValueError(
            f"{where}: normalization must be one of {NORMALIZATION_CHOICES}, got {normalization!r}"
        )
    if (
        isinstance(dropout_keep_ratio, bool)
        or not isinstance(dropout_keep_ratio, numbers.Real)
        or not 0 < dropout_keep_ratio <= 1
    ):
        raise ValueError(
            f"{where}: dropout_keep_ratio is the probability of keeping a unit and must be in "
            f"(0, 1] (1 turns dropout off), got {dropout_keep_ratio!r}"
        )
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"{where}: dtype must be a floating-point type, got {np.dtype(dtype)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"{where}: seed must be an integer or None, got {seed!r}")
    return {
        "hidden_dims": [
            _positive_int(where, f"hidden_dims[{i}]", size) for i, size in enumerate(hidden_dims)
        ],
        "input_dim": _positive_int(where, "input_dim", input_dim),
        "num_classes": _positive_int(where, "num_classes", num_classes),
        "dropout_keep_ratio": float(dropout_keep_ratio),
        "normalization": normalization,
        "reg": _non_negative_float(where, "reg", reg),
        "weight_scale": _non_negative_float(where, "weight_scale", weight_scale),
        "dtype": np.dtype(dtype).name,
        "seed": None if seed is None else int(seed),
    }


class TwoLayerNet:
    """A two-layer fully-connected network: affine - relu - affine - softmax.

    With input dimension D, hidden dimension H and C classes, the parameters are
    - W1: first layer weights, of shape (D, H);  b1: first layer biases, of shape (H,)
    - W2: second layer weights, of shape (H, C); b2: second layer biases, of shape (C,)
    """

    def __init__(
        self,
        input_dim=3 * 32 * 32,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
    ):
        """Build the network with small random weights and zero biases.

        Inputs:
        - input_dim: Integer D, the size of one (flattened) input.
        - hidden_dim: Integer H, the size of the hidden layer.
        - num_classes: Integer C, the number of classes.
        - weight_scale: Standard deviation of the normal distribution the weights are
          drawn from.
        - reg: Strength of the L2 regularization.
        """
        where = "TwoLayerNet"
        self.init_args = {
            "input_dim": _positive_int(where, "input_dim", input_dim),
            "hidden_dim": _positive_int(where, "hidden_dim", hidden_dim),
            "num_classes": _positive_int(where, "num_classes", num_classes),
            "weight_scale": _non_negative_float(where, "weight_scale", weight_scale),
            "reg": _non_negative_float(where, "reg", reg),
        }
        self.reg = reg
        self.params = {}
        # TODO: Initialize the parameters of the class docstring in self.params, under the
        # keys 'W1', 'b1', 'W2', 'b2'. Weights: normally distributed with mean 0 and
        # standard deviation weight_scale, drawn from numpy's global generator (np.random),
        # W1 before W2, so that a seeded run gives the checks' numbers. Biases: zeros.
        # TODO: your code goes here, in place of the raise below.
        raise NotImplementedError("TwoLayerNet.__init__: implement this (see the TODO above)")

    def loss(self, X, y=None):
        """Compute the class scores, or the loss and its gradients, for a minibatch.

        Inputs:
        - X: Input data, of shape (N, d_1, ..., d_k) with d_1 * ... * d_k = D.
        - y: Labels, of shape (N,), with 0 <= y[i] < C; or None.

        Returns:
        - If y is None: scores, an array of shape (N, C) of class scores.
        - Otherwise a tuple (loss, grads): the scalar loss (softmax data loss plus
          regularization) and a dictionary with the same keys as self.params holding
          the gradient of the loss with respect to each parameter.

        It reads X, y and the arrays of self.params without changing them: the Solver, not
        loss, updates the parameters from grads.
        """
        # TODO: Implement the forward pass: set scores, the class scores of shape (N, C),
        # and keep what the backward pass needs (nnkit/layer_utils.py has an affine-ReLU
        # sandwich).
        # TODO: your code goes here, in place of the raise below.
        raise NotImplementedError("TwoLayerNet.loss: implement this (see the TODO above)")

        if y is None:
            return scores

        # TODO: Implement the loss and the backward pass. Set loss: the softmax loss of
        # the scores plus the L2 regularization, 0.5 * self.reg times the sum of the
        # squares of every entry of W1 and W2 (biases are not regularized). Set grads: a
        # dictionary with the keys of self.params, holding the gradient of loss with
        # respect to each parameter, of that parameter's shape.
        # TODO: your code goes here, in place of the raise below.
        raise NotImplementedError("TwoLayerNet.loss: implement this (see the TODO above)")
        return loss, grads


class FullyConnectedNet:
    """A fully-connected network with any number of hidden layers.

    For L = len(hidden_dims) + 1 layers the architecture is

        {affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax

    where normalization and dropout are optional. Layer l (counting from 1) has
    weights 'Wl' and biases 'bl'; with normalization, every hidden layer l also has a
    scale 'gammal' and a shift 'betal' (no normalization after the last affine layer).
    All parameters and all computations use the dtype given to the constructor.
    """

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        dropout_keep_ratio=1,
        normalization=None,
        reg=0.0,
        weight_scale=1e-2,
        dtype=np.float32,
        seed=None,
    ):
        """Build the network with small random weights and zero biases.

        Inputs:
        - hidden_dims: List of integers, the size of each hidden layer.
        - input_dim: Integer, the size of one (flattened) input.
        - num_classes: Integer, the number of classes.
        - dropout_keep_ratio: Probability of keeping each hidden unit in dropout, in
          (0, 1]. 1 means no dropout.
        - normalization: None, 'batchnorm' or 'layernorm'.
        - reg: Strength of the L2 regularization.
        - weight_scale: Standard deviation of the normal distribution the weights are
          drawn from.
        - dtype: Floating-point type of every parameter and computation. float32 is
          faster; use float64 for numeric gradient checks.
        - seed: If not None, dropout draws the same masks on every call (for gradient
          checks). It does not affect the initial weights, which come from np.random.
        """
        self.init_args = _fully_connected_init_args(
            hidden_dims, input_dim, num_classes, dropout_keep_ratio, normalization, reg,
            weight_scale, dtype, seed,
        )
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = np.dtype(dtype)
        self.params = {}
        # TODO: Initialize the parameters named in the class docstring in self.params, for
        # the layers l = 1 .. self.num_layers: layer l maps the size of layer l - 1 to the
        # size of layer l, from input_dim to num_classes. Weights as in TwoLayerNet
        # (normal, mean 0, standard deviation weight_scale, from np.random), drawn in layer
        # order; biases zeros; with normalization, every hidden layer's gamma ones and beta
        # zeros. Leave the dtype alone: it is applied below.
        # TODO: your code goes here, in place of the raise below.
        raise NotImplementedError("FullyConnectedNet.__init__: implement this (see the TODO above)")
        self.params = {name: value.astype(self.dtype) for name, value in self.params.items()}

        # Every dropout layer shares one parameter dictionary; its mode is set in loss().
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed

        # One dictionary per normalized hidden layer: norm_params[l - 1] is the bn_param
        # or ln_param of layer l. Batchnorm keeps its running averages in it.
        self.norm_params = []
        if normalization == "batchnorm":
            self.norm_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        elif normalization == "layernorm":
            self.norm_params = [{} for _ in range(self.num_layers - 1)]

    def loss(self, X, y=None):
        """Compute the class scores, or the loss and its gradients, for a minibatch.

        Inputs:
        - X: Input data, of shape (N, d_1, ..., d_k) with d_1 * ... * d_k = input_dim.
        - y: Labels, of shape (N,), with 0 <= y[i] < num_classes; or None.

        Returns:
        - If y is None: scores, an array of shape (N, C), computed in test mode (batch
          normalization uses its running averages, dropout is off).
        - Otherwise a tuple (loss, grads), computed in training mode: the scalar loss
          (softmax data loss plus regularization) and a dictionary with the same keys
          as self.params holding the gradient of the loss with respect to each one.

        It reads X, y and the arrays of self.params without changing them: the Solver, not
        loss, updates the parameters from grads.
        """
        X = np.asarray(X, dtype=self.dtype)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        if self.normalization == "batchnorm":
            for bn_param in self.norm_params:
                bn_param["mode"] = mode

        # TODO: Implement the forward pass through the architecture of the class docstring:
        # set scores, of shape (N, C), and keep what the backward pass needs. Hidden layer
        # l normalizes with gammal, betal and self.norm_params[l - 1] when
        # self.normalization is set, and applies dropout with self.dropout_param when
        # self.use_dropout is True (nnkit/layer_utils.py has the sandwiches).
        # TODO: your code goes here, in place of the raise below.
        raise NotImplementedError("FullyConnectedNet.loss: implement this (see the TODO above)")

        if y is None:
            return scores

        # TODO: Implement the loss and the backward pass. Set loss: the softmax loss of the
        # scores plus 0.5 * self.reg times the sum of the squares of every entry of every
        # weight matrix (biases, gammas and betas are not regularized). Set grads: a
        # dictionary with the keys of self.params, holding the gradient of loss with
        # respect to each parameter, of that parameter's shape.
        # TODO: your code goes here, in place of the raise below.
        raise NotImplementedError("FullyConnectedNet.loss: implement this (see the TODO above)")
        return loss, grads
