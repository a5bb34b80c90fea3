"""Training-time augmentation: new, plausible handwriting from the digits we have.

``affine``     every batch gets fresh random small rotations, scalings, shears and shifts,
               computed on the batch tensor (one ``affine_grid`` + ``grid_sample``), so it costs
               a few milliseconds a step and is reproducible from Paddle's seed.
``flip-shift`` every batch: each picture mirrored left-right with probability 1/2 and shifted by
               up to 2 pixels each way — for clothes (Fashion-MNIST), where a mirrored shoe is still
               a shoe; never for characters, where a mirrored ``b`` is a ``d``.
``rotate10``   the source articles' recipe: the training set plus a copy of every digit rotated
               by +10 degrees and one by -10 degrees (three times the data, fixed for the run);
               the turning itself is ``handwriting.rotation``'s, shared with the NumPy trainer.
"""

from __future__ import annotations

import math

import paddle
import paddle.nn.functional as F

from handwriting.data.store import SplitArrays
from handwriting.rotation import ROTATE10_DEGREES, with_rotated_copies


def warp(images: paddle.Tensor, theta: paddle.Tensor) -> paddle.Tensor:
    """Apply one affine map per image: ``images`` [N, 1, H, W] in [-1, 1], ``theta`` [N, 2, 3].

    ``grid_sample`` fills what comes in from outside the picture with 0, which in [-1, 1]
    would be grey; shifting to [0, 2] first makes the new border background (-1) instead.
    """
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    return F.grid_sample(images + 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1.0


def random_affine(
    images: paddle.Tensor,
    degrees: float = 10.0,
    scale: float = 0.1,
    shear: float = 0.1,
    shift_pixels: float = 2.0,
) -> paddle.Tensor:
    """Randomly rotate (±degrees), scale (1±scale), shear (±shear) and shift (±shift_pixels) each image."""
    count, _, height, width = images.shape

    def uniform(low, high):
        return paddle.rand([count]) * (high - low) + low

    angle = uniform(-degrees, degrees) * (math.pi / 180)
    zoom = uniform(1 - scale, 1 + scale)
    slant = uniform(-shear, shear)
    # affine_grid maps output coordinates in [-1, 1] to input coordinates, so a shift of
    # k pixels is 2k / size, and zooming in means sampling a smaller area (divide by zoom).
    shift_x = uniform(-shift_pixels, shift_pixels) * (2 / width)
    shift_y = uniform(-shift_pixels, shift_pixels) * (2 / height)
    cos, sin = paddle.cos(angle) / zoom, paddle.sin(angle) / zoom
    theta = paddle.stack(
        [
            paddle.stack([cos, -sin + slant * cos, shift_x], axis=1),
            paddle.stack([sin, cos + slant * sin, shift_y], axis=1),
        ],
        axis=1,
    )  # [N, 2, 3]
    return warp(images, theta)


def random_flip_shift(images: paddle.Tensor, shift_pixels: float = 2.0) -> paddle.Tensor:
    """Mirror each image left-right with probability 1/2 and shift it by up to ±shift_pixels each way."""
    count, _, height, width = images.shape
    mirror = paddle.where(paddle.rand([count]) < 0.5, paddle.full([count], -1.0), paddle.full([count], 1.0))
    shift_x = (paddle.rand([count]) * 2 - 1) * shift_pixels * (2 / width)
    shift_y = (paddle.rand([count]) * 2 - 1) * shift_pixels * (2 / height)
    zeros, ones = paddle.zeros([count]), paddle.ones([count])
    theta = paddle.stack(
        [paddle.stack([mirror, zeros, shift_x], axis=1), paddle.stack([zeros, ones, shift_y], axis=1)], axis=1
    )  # [N, 2, 3]
    return warp(images, theta)


# The augmentations applied to every training batch, by --augment name.
BATCH_AUGMENTATIONS = {"affine": random_affine, "flip-shift": random_flip_shift}


def rotated_copies(split: SplitArrays, degrees: tuple[float, ...] = ROTATE10_DEGREES) -> SplitArrays:
    """The split followed by one copy turned by each angle in ``degrees`` (uint8, labels repeated).

    The turning is ``handwriting.rotation``'s, the NumPy trainer's too: one ``rotate10`` for both.
    """
    return SplitArrays(*with_rotated_copies(split.images, split.labels, degrees))
