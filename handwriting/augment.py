"""Training-time augmentation: new, plausible handwriting from the digits we have.

``affine``     every batch gets fresh random small rotations, scalings, shears and shifts,
               computed on the batch tensor (one ``affine_grid`` + ``grid_sample``), so it costs
               a few milliseconds a step and is reproducible from Paddle's seed.
``wave``       ``affine`` plus, on a share of the pictures (DAMAGED_SHARE, 15%), a sine-wave wobble
               (a shaky hand).
``distort``    ``wave`` plus, on the same share, an elastic warp, sometimes a wider, narrower or
               softer pen and sometimes sensor noise: all on the batch tensor, the geometry in one
               ``grid_sample``.
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


def affine_theta(
    count: int,
    height: int,
    width: int,
    degrees: float = 10.0,
    scale: float = 0.1,
    shear: float = 0.1,
    shift_pixels: float = 2.0,
) -> paddle.Tensor:
    """Random affine maps [count, 2, 3] for ``affine_grid``: rotate (±degrees), scale (1±scale),
    shear (±shear) and shift (±shift_pixels)."""

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
    return paddle.stack(
        [
            paddle.stack([cos, -sin + slant * cos, shift_x], axis=1),
            paddle.stack([sin, cos + slant * sin, shift_y], axis=1),
        ],
        axis=1,
    )  # [N, 2, 3]


def random_affine(images: paddle.Tensor, **ranges) -> paddle.Tensor:
    """Randomly rotate, scale, shear and shift each image [N, 1, H, W] (``affine_theta``'s ranges)."""
    count, _, height, width = images.shape
    return warp(images, affine_theta(count, height, width, **ranges))


# ``distort``'s and ``wave``'s ranges. Every picture gets ``affine``'s geometry; a share of them (the
# damaged ones) also gets the wave (and, in ``distort``, the elastic warp, and, independently, a pen
# change and noise with these chances). The other pictures stay as clean as ``affine`` leaves them:
# damaging every picture, half or a quarter of them cost clean accuracy; 15% (with a wider cnn and
# 24 epochs) kept 99.63% and nearly all the robustness (the runs compared in docs/inside.md).
DAMAGED_SHARE = 0.15
WAVE_PIXELS = 2.0  # a shaky hand: rows (and columns) shifted by up to this many pixels along a sine
WAVE_PERIODS = (8.0, 20.0)  # rows per wave
ELASTIC_PIXELS = 1.0  # a smooth random warp (4x4 control points) moving ink by about this much
PEN_CHANCE = 0.3  # of a damaged picture: a wider pen (3x3 dilation), a narrower one (half a 3x3
# erosion) or a soft one, a third of that chance each
PEN_BLUR_SIGMA = 1.0  # the soft pen (or an out-of-focus photo): a Gaussian blur of this sigma, in pixels
NOISE_CHANCE = 0.3  # of a damaged picture: Gaussian noise is added
NOISE_SIGMA = 0.3  # its sigma, drawn up to this share of full scale


def gaussian_kernel(sigma: float, size: int) -> paddle.Tensor:
    """A normalised 2-D Gaussian as a conv2d weight [1, 1, size, size]."""
    offsets = paddle.arange(size, dtype="float32") - (size - 1) / 2
    line = paddle.exp(-(offsets**2) / (2 * sigma**2))
    kernel = line[:, None] * line[None, :]
    return (kernel / kernel.sum()).reshape([1, 1, size, size])


def random_distort(
    images: paddle.Tensor,
    damaged_share: float = DAMAGED_SHARE,
    elastic_pixels: float = ELASTIC_PIXELS,
    pen_chance: float = PEN_CHANCE,
    noise_chance: float = NOISE_CHANCE,
) -> paddle.Tensor:
    """``affine`` plus, on ``damaged_share`` of the pictures, the ways real hands and pens differ: a
    sine-wave wobble of rows and columns, an elastic warp, sometimes a wider, narrower or softer pen
    and sometimes sensor noise. images [N, 1, H, W] in [-1, 1]. A part whose size or chance is 0 has
    no effect (its random numbers are still drawn, so every recipe consumes the seed alike).

    The geometry is one ``grid_sample``: the affine grid plus the wave and elastic offsets.
    """
    count, _, height, width = images.shape

    def uniform(shape, low, high):
        return paddle.rand(shape) * (high - low) + low

    grid = F.affine_grid(affine_theta(count, height, width), images.shape, align_corners=False)  # [N, H, W, 2]
    # The wave: each row slides sideways by A sin(2 pi row / period + phase), each column up and down
    # likewise, with its own A, period and phase per picture. Grid units: 2 / size per pixel.
    rows = paddle.arange(height, dtype="float32").reshape([1, height, 1])
    columns = paddle.arange(width, dtype="float32").reshape([1, 1, width])

    def wave(positions, size):
        amplitude = uniform([count, 1, 1], 0.0, WAVE_PIXELS) * (2 / size)
        period = uniform([count, 1, 1], *WAVE_PERIODS)
        phase = uniform([count, 1, 1], 0.0, 2 * math.pi)
        return amplitude * paddle.sin(positions * (2 * math.pi) / period + phase)

    shift_x = wave(rows, width).expand([count, height, width])  # [N, H, W]
    shift_y = wave(columns, height).expand([count, height, width])
    # The elastic warp: random offsets at 4x4 control points, smoothly interpolated to every pixel.
    control = paddle.randn([count, 2, 4, 4]) * (elastic_pixels * 2 / max(height, width))
    elastic = F.interpolate(control, size=[height, width], mode="bicubic", align_corners=True)  # [N, 2, H, W]
    damaged = (paddle.rand([count, 1, 1, 1]) < damaged_share).astype("float32")  # [N, 1, 1, 1]: 1 or 0
    offsets = (paddle.stack([shift_x, shift_y], axis=-1) + elastic.transpose([0, 2, 3, 1])) * damaged
    out = F.grid_sample(images + 1.0, grid + offsets, mode="bilinear", padding_mode="zeros", align_corners=False) - 1.0

    # The pen: max-pooling widens white ink on black; its negative on the negative narrows it.
    wider = F.max_pool2d(out, 3, stride=1, padding=1)
    narrower = (out - F.max_pool2d(-out, 3, stride=1, padding=1)) / 2
    softer = F.conv2d(F.pad(out + 1.0, [2, 2, 2, 2]), gaussian_kernel(PEN_BLUR_SIGMA, 5)) - 1.0  # 0 pads as background
    pen = paddle.where(damaged > 0, paddle.rand([count, 1, 1, 1]), paddle.ones([count, 1, 1, 1]))  # 1: no change
    out = paddle.where(
        pen < pen_chance / 3,
        wider,
        paddle.where(pen < 2 * pen_chance / 3, narrower, paddle.where(pen < pen_chance, softer, out)),
    )

    noisy = (paddle.rand([count, 1, 1, 1]) < noise_chance).astype("float32") * damaged
    sigma = uniform([count, 1, 1, 1], 0.0, 2 * NOISE_SIGMA)  # [-1, 1] spans 2 units
    noise = paddle.randn(out.shape) * sigma * noisy
    return paddle.clip(out + noise, -1.0, 1.0)


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


def random_wave(images: paddle.Tensor, damaged_share: float = DAMAGED_SHARE) -> paddle.Tensor:
    """``affine`` plus ``distort``'s sine-wave wobble on ``damaged_share`` of the pictures, nothing
    else. images [N, 1, H, W] in [-1, 1]."""
    return random_distort(images, damaged_share, elastic_pixels=0.0, pen_chance=0.0, noise_chance=0.0)


def recipe_settings(name: str) -> dict:
    """The ranges behind an --augment name that has some, for the checkpoint card: a recipe's name
    alone does not say what it did once these constants change."""
    if name not in ("wave", "distort"):
        return {}
    settings = {"damaged_share": DAMAGED_SHARE, "wave_pixels": WAVE_PIXELS, "wave_periods": list(WAVE_PERIODS)}
    if name == "distort":
        settings |= {
            "elastic_pixels": ELASTIC_PIXELS,
            "pen_chance": PEN_CHANCE,
            "pen_blur_sigma": PEN_BLUR_SIGMA,
            "noise_chance": NOISE_CHANCE,
            "noise_sigma": NOISE_SIGMA,
        }
    return settings


# The augmentations applied to every training batch, by --augment name.
BATCH_AUGMENTATIONS = {
    "affine": random_affine,
    "distort": random_distort,
    "wave": random_wave,
    "flip-shift": random_flip_shift,
}


def rotated_copies(split: SplitArrays, degrees: tuple[float, ...] = ROTATE10_DEGREES) -> SplitArrays:
    """The split followed by one copy turned by each angle in ``degrees`` (uint8, labels repeated).

    The turning is ``handwriting.rotation``'s, the NumPy trainer's too: one ``rotate10`` for both.
    """
    return SplitArrays(*with_rotated_copies(split.images, split.labels, degrees))
