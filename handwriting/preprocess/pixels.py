"""MNIST's frame and the model's input scale: what every other stage aims at.

MNIST pixels are uint8 with white ink (255) on black (0), in a 28x28 frame. The models see them
as float32 in [-1, 1], ink at +1 and background at -1. ``normalize`` is that scaling, the one
place both training data and a user's picture go through.

This module imports NumPy only: the training-data loader and the NumPy-only ``scratch`` net
import it, and they must not need OpenCV or Pillow.
"""

from __future__ import annotations

import numpy as np

MNIST_SIZE = 28  # the frame

# The scaling in words, for run cards and checkpoints: every writer quotes this one string.
NORMALISATION = "uint8 white-on-black pixels -> x / 127.5 - 1 (float32 in [-1, 1])"

# All 256 possible pixel values mapped once; indexing this table is faster than doing
# the arithmetic on every batch and gives bit-identical results everywhere.
_PIXEL_TO_INPUT = (np.arange(256, dtype=np.float64) / 127.5 - 1.0).astype(np.float32)  # [256]


def normalize(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels of any shape (white ink on black) -> float32 of the same shape in [-1, 1]."""
    if pixels.dtype != np.uint8:
        raise TypeError(f"normalize expects uint8 pixels, got {pixels.dtype}")
    return np.take(_PIXEL_TO_INPUT, pixels)  # a table lookup; np.take is ~4x faster than [pixels]
