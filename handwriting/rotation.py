"""Turning digits by a few degrees: the ``rotate10`` augmentation of both trainers, in NumPy alone.

The source articles trained on MNIST plus a copy of every digit turned by +10 degrees and one
turned by -10 degrees. The Paddle trainer (``train.py --augment rotate10``) and the NumPy one
(``python -m handwriting.scratch --augment rotate10``) both make those copies here, so the two
cannot drift apart. It is NumPy only because the ``scratch`` package must run without Paddle.
"""

from __future__ import annotations

import numpy as np

ROTATE10_DEGREES = (10.0, -10.0)  # the articles' copies: one turned each way

_BATCH = 5000  # images turned at a time: keeps the float64 working arrays near 100 MB for all of MNIST


def rotate(images: np.ndarray, degrees: float) -> np.ndarray:
    """uint8 [N, H, W] -> uint8 [N, H, W] turned by ``degrees`` about the centre, bilinear, 0 outside.

    A positive angle turns the digit anticlockwise as you look at it (a vertical stroke's top
    leans left). 0, the background, comes in where the corners leave the frame.
    """
    height, width = images.shape[1:]
    angle = np.deg2rad(degrees)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    # Where each output pixel comes from: the inverse rotation of its position. [H, W] each
    source_x = np.cos(angle) * (columns - cx) - np.sin(angle) * (rows - cy) + cx
    source_y = np.sin(angle) * (columns - cx) + np.cos(angle) * (rows - cy) + cy
    x0, y0 = np.floor(source_x).astype(int), np.floor(source_y).astype(int)
    fx, fy = source_x - x0, source_y - y0  # how far past the top-left neighbour, in [0, 1)
    turned = []
    for start in range(0, len(images), _BATCH):
        # One row/column of 0 before the picture and two after, so every neighbour index is valid.
        padded = np.pad(images[start : start + _BATCH].astype(np.float32), ((0, 0), (1, 2), (1, 2)))

        def at(y, x, padded=padded):  # [n, H, W]: the pixel at (y, x) of each picture, 0 outside it
            return padded[:, np.clip(y + 1, 0, height + 2), np.clip(x + 1, 0, width + 2)]

        out = (
            at(y0, x0) * (1 - fx) * (1 - fy)
            + at(y0, x0 + 1) * fx * (1 - fy)
            + at(y0 + 1, x0) * (1 - fx) * fy
            + at(y0 + 1, x0 + 1) * fx * fy
        )
        turned.append(np.clip(np.rint(out), 0, 255).astype(np.uint8))
    return np.concatenate(turned) if turned else images.copy()


def with_rotated_copies(
    images: np.ndarray, labels: np.ndarray, degrees: tuple[float, ...] = ROTATE10_DEGREES
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N, H, W] and labels [N] -> the same followed by one turned copy per angle:
    images [N * (1 + len(degrees)), H, W], labels repeated in the same order."""
    parts = [images] + [rotate(images, angle) for angle in degrees]
    return np.concatenate(parts), np.tile(labels, len(degrees) + 1)
