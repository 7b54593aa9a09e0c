"""Classifiers built from nnkit layers: TwoLayerNet and FullyConnectedNet (see fc_net.py)."""
