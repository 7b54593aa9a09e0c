"""nnkit: a small numpy library for building and training fully-connected networks.

Import the pieces you need from their modules (nnkit.layers, nnkit.layer_utils,
nnkit.classifiers.fc_net, nnkit.optim, nnkit.solver, nnkit.gradient_check, ...).
This file imports nothing on purpose, so that an unfinished module never stops the
others from loading.
"""
