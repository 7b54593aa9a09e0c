"""Pictures of images and of first-layer weights."""
import math

import numpy as np


def visualize_grid(Xs, ubound=255.0, padding=1):
    """Tile a batch of images into one image, each rescaled on its own to [0, ubound].

    Inputs:
    - Xs: Array of shape (N, H, W, C), N >= 1.
    - ubound: Upper end of the output range; 255.0 suits imshow(grid.astype('uint8')).
    - padding: Number of blank (zero) pixels between neighbouring tiles.

    Returns:
    - grid: float64 array of shape (G*H + (G-1)*padding, G*W + (G-1)*padding, C) with
      G = ceil(sqrt(N)); tile i sits in row i // G, column i % G, unused tiles stay zero.
      An image whose pixels are all equal becomes an all-zero tile.
    """
    N, H, W, C = Xs.shape
    if N == 0:
        raise ValueError("visualize_grid: Xs holds no images")
    grid_size = math.ceil(math.sqrt(N))
    grid = np.zeros((grid_size * H + (grid_size - 1) * padding,
                     grid_size * W + (grid_size - 1) * padding, C))
    for i, image in enumerate(Xs):
        low, high = image.min(), image.max()
        top = (i // grid_size) * (H + padding)
        left = (i % grid_size) * (W + padding)
        if high > low:
            grid[top:top + H, left:left + W] = ubound * (image - low) / (high - low)
    return grid


def first_layer_images(W1, image_shape=(3, 32, 32)):
    """Turn each hidden unit's input weights back into the image layout they act on.

    Inputs:
    - W1: Array of shape (D, M), first-layer weights of a fully-connected net whose inputs
      are images of image_shape = (C, H, W) flattened row-major, so D = C * H * W.
    - image_shape: (C, H, W) of the input images; (3, 32, 32) for CIFAR-10, (1, 28, 28)
      for MNIST.

    Returns:
    - Array of shape (M, H, W, C): one image per hidden unit, ready for visualize_grid.
    """
    num_hidden = W1.shape[1]
    return W1.T.reshape(num_hidden, *image_shape).transpose(0, 2, 3, 1)


def show_net_weights(model, image_shape=(3, 32, 32), padding=3, ax=None):
    """Draw a model's first-layer weights as a grid of images.

    Inputs:
    - model: Anything with model.params['W1'] of shape (C * H * W, M), e.g. TwoLayerNet.
    - image_shape: (C, H, W) of the input images.
    - padding: Pixels between tiles.
    - ax: matplotlib Axes to draw on; None uses the current one.

    Returns: The Axes drawn on.
    """
    import matplotlib.pyplot as plt  # only this helper needs matplotlib

    grid = visualize_grid(first_layer_images(model.params["W1"], image_shape), padding=padding)
    ax = ax if ax is not None else plt.gca()
    # imshow wants (H, W) for one channel and (H, W, 3) for colour.
    ax.imshow(grid.squeeze(axis=2) if grid.shape[2] == 1 else grid.astype("uint8"), cmap="gray")
    ax.axis("off")
    return ax
