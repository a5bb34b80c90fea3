"""Damaged digits: the corruptions the robustness table (``python -m handwriting.robustness``) tests.

Three families, each corruption at one stated severity:

``article``  the Make-Your-Own-Neural-Network article's damaged digits: broken strokes, blur,
             chalk, a shaky hand (rows shifted by a sine wave), Gaussian and salt-and-pepper noise;
``mnist-c``  the 15 corruptions of MNIST-C (Mu & Gilmer, 2019), re-implemented here with NumPy and
             OpenCV at the severities its benchmark uses; some differ in detail (our fog is a
             cloud of our own at MNIST-C's mildest strength, glass blur takes each pixel from a
             random neighbour rather than swapping pairs, shear keeps the height), and each
             corruption's severity text says exactly what it does;
``stroke``   a wider and a narrower pen.

Every corruption takes uint8 images [N, H, W] (white ink on black, as MNIST stores them) and
returns uint8 images of the same shape. ``corrupt(images, name, seed)`` is deterministic: the same
images, name and seed give the same pixels (with the same OpenCV), because all randomness comes
from one NumPy generator seeded by (seed, name). The draws depend on how many images there are,
so the first 1,000 of 10,000 are damaged differently when damaged alone. No Paddle here.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

Images = np.ndarray  # uint8 [N, H, W], white ink (255) on black (0)
Apply = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # float [N, H, W] in [0, 1] -> same shape


@dataclass(frozen=True)
class Corruption:
    """One way to damage a digit: its family, its severity in words, and the function."""

    name: str
    family: str  # "article", "mnist-c" or "stroke"
    severity: str
    apply: Apply


CORRUPTIONS: dict[str, Corruption] = {}


def register(name: str, family: str, severity: str):
    """Add the decorated function to ``CORRUPTIONS`` under ``name`` (in registration order)."""

    def add(function: Apply) -> Apply:
        CORRUPTIONS[name] = Corruption(name, family, severity, function)
        return function

    return add


def corrupt(images: Images, name: str, seed: int = 0) -> Images:
    """uint8 images [N, H, W] -> the same images with corruption ``name``, uint8 [N, H, W].

    Deterministic in (images, name, seed); ``seed`` must not be negative.
    """
    if name not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    if seed < 0:
        raise ValueError(f"the corruptions' seed must not be negative, got {seed}")
    if images.dtype != np.uint8 or images.ndim != 3:
        raise TypeError(f"corrupt expects uint8 images [N, H, W], got {images.dtype} {images.shape}")
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    damaged = CORRUPTIONS[name].apply(images.astype(np.float32) / 255.0, rng)  # [N, H, W] in [0, 1]
    return np.clip(np.rint(damaged * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- helpers


def _each(images: np.ndarray, function) -> np.ndarray:
    """Apply ``function(index, image [H, W]) -> image [H, W]`` to every image; float32 [N, H, W]."""
    out = np.empty_like(images)
    for index, image in enumerate(images):
        out[index] = function(index, image)
    return out


def _about_centre(linear: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 2x2 linear map -> the 2x3 affine matrix that applies it keeping the frame's centre fixed."""
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    return np.hstack([linear, (centre - linear @ centre)[:, None]]).astype(np.float64)


def _warp(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Each image [H, W] moved by its own 2x3 affine matrix (output <- matrix <- input), bilinear, 0 outside."""
    height, width = images.shape[1:]
    return _each(
        images,
        lambda index, image: cv2.warpAffine(
            image, matrices[index], (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0
        ),
    )


def _signs(rng: np.random.Generator, count: int) -> np.ndarray:
    """count random signs, -1.0 or +1.0."""
    return rng.choice(np.array([-1.0, 1.0]), count)


def _soft_line(height: int, width: int, c0: float, r0: float, c1: float, r1: float, reach: float = 2.3):
    """A line from (column c0, row r0) to (c1, r1) as ink [H, W] in [0, 1]: full on the line, fading
    to nothing ``reach`` pixels above and below it, and nothing outside columns [c0, c1]."""
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    slope = (r1 - r0) / (c1 - c0)
    distance = np.clip(np.abs(rows - (slope * (columns - c0) + r0)), 0, reach - 1e-6)
    ink = np.clip(np.log(1 - distance / reach) + 1, 0, 1)
    ink[:, : int(np.floor(c0))] = 0
    ink[:, int(np.ceil(c1)) :] = 0
    return ink


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of one float image (the kernel reaches 3 sigma each way)."""
    size = 2 * int(np.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(image, (size, size), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)


def _fractal(rng: np.random.Generator, size: int, decay: float) -> np.ndarray:
    """Cloud-like noise [size, size] in [0, 1]: octaves of random values on 2x2, 4x4, ... grids,
    each resized smoothly to ``size`` and weighted 1/decay as much as the coarser one before it."""
    total, weight, cells = np.zeros((size, size), np.float32), 1.0, 2
    while cells <= size:
        grid = rng.random((cells, cells)).astype(np.float32)
        total += weight * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        weight /= decay
        cells *= 2
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


# ----------------------------------------------------------------------------- the article's


@register("broken", "article", "two gaps, each a 6 px cut 2 px wide through the ink at a random angle")
def broken(images, rng):
    def cut(index, image):
        ink_rows, ink_columns = np.nonzero(image > 0.5)
        out = image.copy()
        if len(ink_rows) == 0:
            return out
        for _ in range(2):
            pick = rng.integers(len(ink_rows))  # the gap passes through a pixel of the stroke
            y, x = float(ink_rows[pick]), float(ink_columns[pick])
            angle = rng.uniform(0, np.pi)
            dx, dy = 3 * np.cos(angle), 3 * np.sin(angle)  # a short cut: a gap, not a stroke erased
            cv2.line(out, (round(x - dx), round(y - dy)), (round(x + dx), round(y + dy)), 0.0, thickness=2)
        return out

    return _each(images, cut)


@register("blur", "article", "Gaussian blur, sigma 1.5 px")
def blur(images, rng):
    return _each(images, lambda index, image: _blur(image, 1.5))


@register("chalk", "article", "40% of the ink pixels lost, the rest at 50-100% strength")
def chalk(images, rng):
    kept = rng.random(images.shape) >= 0.4
    strength = rng.uniform(0.5, 1.0, images.shape)
    return images * kept * strength


@register("wavy", "article", "a shaky hand: rows shifted by 2 px * sin(row * 2pi/period + phase), period 8-16 rows")
def wavy(images, rng):
    count, height, width = images.shape
    period = rng.uniform(8, 16, count)
    phase = rng.uniform(0, 2 * np.pi, count)
    rows = np.arange(height, dtype=np.float32)
    columns = np.arange(width, dtype=np.float32)

    def shake(index, image):
        shift = 2.0 * np.sin(rows * 2 * np.pi / period[index] + phase[index])  # [H] pixels
        map_x = (columns[None, :] - shift[:, None]).astype(np.float32)
        map_y = np.repeat(rows[:, None], width, axis=1)
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)

    return _each(images, shake)


@register("gaussian-noise", "article", "additive Gaussian noise, sigma 0.3 of full scale")
def gaussian_noise(images, rng):
    return np.clip(images + rng.normal(0.0, 0.3, images.shape), 0, 1)


def _impulses(images, rng, share: float):
    """``share`` of the pixels set to white or black, half each."""
    draw = rng.random(images.shape)
    return np.where(draw < share / 2, 1.0, np.where(draw < share, 0.0, images))


@register("salt-pepper", "article", "5% of pixels set white, 5% set black")
def salt_pepper(images, rng):
    return _impulses(images, rng, 0.10)


# ----------------------------------------------------------------------------- MNIST-C's


@register("shot-noise", "mnist-c", "Poisson noise at 3 photons per full-scale pixel")
def shot_noise(images, rng):
    return np.clip(rng.poisson(images * 3.0) / 3.0, 0, 1)


@register("impulse-noise", "mnist-c", "17% of pixels set to black or white, half each")
def impulse_noise(images, rng):
    return _impulses(images, rng, 0.17)


@register("glass-blur", "mnist-c", "blur sigma 0.7, each pixel taken from a neighbour within 1 px (twice), blur again")
def glass_blur(images, rng):
    count, height, width = images.shape
    rows, columns = np.mgrid[0:height, 0:width]
    out = _each(images, lambda index, image: _blur(image, 0.7))
    for _ in range(2):
        source_rows = np.clip(rows + rng.integers(-1, 2, images.shape), 0, height - 1)  # [N, H, W]
        source_columns = np.clip(columns + rng.integers(-1, 2, images.shape), 0, width - 1)
        out = out[np.arange(count)[:, None, None], source_rows, source_columns]
    return _each(out, lambda index, image: _blur(image, 0.7))


@register("motion-blur", "mnist-c", "a one-sided streak 10 px long (sigma 3 px) at a random angle within 45 degrees")
def motion_blur(images, rng):
    angles = np.deg2rad(rng.uniform(-45, 45, len(images)))
    steps = np.arange(10, dtype=np.float32)
    weights = np.exp(-(steps**2) / (2 * 3.0**2))
    weights /= weights.sum()

    def streak(index, image):
        kernel = np.zeros((21, 21), np.float32)  # centred at (10, 10); the streak trails one way
        for step, weight in zip(steps, weights):
            x = int(round(10 + step * np.cos(angles[index])))
            y = int(round(10 + step * np.sin(angles[index])))
            kernel[y, x] += weight
        return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_CONSTANT)

    return _each(images, streak)


@register("shear", "mnist-c", "horizontal shear of 0.4 either way, about the centre (the height kept)")
def shear(images, rng):
    height, width = images.shape[1:]
    matrices = np.stack(
        [
            _about_centre(np.array([[1.0, amount], [0.0, 1.0]]), height, width)
            for amount in 0.4 * _signs(rng, len(images))
        ]
    )
    return _warp(images, matrices)


@register("scale", "mnist-c", "shrunk to 70% about the centre")
def scale(images, rng):
    height, width = images.shape[1:]
    matrix = _about_centre(np.eye(2) * 0.7, height, width)
    return _warp(images, np.repeat(matrix[None], len(images), axis=0))


@register("rotate", "mnist-c", "turned 0.4 rad (23 degrees) either way")
def rotate(images, rng):
    height, width = images.shape[1:]
    matrices = []
    for angle in 0.4 * _signs(rng, len(images)):
        cos, sin = np.cos(angle), np.sin(angle)
        matrices.append(_about_centre(np.array([[cos, -sin], [sin, cos]]), height, width))
    return _warp(images, np.stack(matrices))


@register("brightness", "mnist-c", "every pixel brighter by half of full scale")
def brightness(images, rng):
    return np.clip(images + 0.5, 0, 1)


@register("translate", "mnist-c", "moved 3 px across and 3 px down or up, each direction at random")
def translate(images, rng):
    signs = _signs(rng, 2 * len(images)).reshape(-1, 2) * 3.0
    matrices = np.stack([np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]) for dx, dy in signs])
    return _warp(images, matrices)


@register("stripe", "mnist-c", "the leftmost and rightmost quarter of columns inverted")
def stripe(images, rng):
    out = images.copy()
    quarter = images.shape[2] // 4
    out[:, :, :quarter] = 1 - out[:, :, :quarter]
    out[:, :, -quarter:] = 1 - out[:, :, -quarter:]
    return out


@register(
    "fog", "mnist-c", "our own cloud noise (not MNIST-C's plasma) at 1.5x the ink's strength, contrast scaled back"
)
def fog(images, rng):
    size = max(images.shape[1:])

    def cloud(index, image):
        peak = float(image.max())
        fogged = image + 1.5 * _fractal(rng, size, decay=1.4)[: image.shape[0], : image.shape[1]]
        return np.clip(fogged * peak / (peak + 1.5), 0, 1)

    return _each(images, cloud)


@register("spatter", "mnist-c", "dark grey (63/255) blots of mud over the picture")
def spatter(images, rng):
    def blots(index, image):
        liquid = _blur(rng.normal(0.65, 0.3, image.shape).astype(np.float32), 1.0)
        mask = _blur((liquid > 0.65).astype(np.float32), 1.5)
        mask[mask < 0.8] = 0
        return image * (1 - mask) + (63 / 255) * mask

    return _each(images, blots)


@register("dotted-line", "mnist-c", "a dotted line (2 px on, 2 px off) from the left edge to the right")
def dotted_line(images, rng):
    height, width = images.shape[1:]

    def dots(index, image):
        r0, r1 = rng.integers(0, height - 1, 2)
        line = _soft_line(height, width, 0, float(r0), width - 1, float(r1))
        line[:, (np.arange(width) // 2) % 2 == 1] = 0
        return np.clip(image + line, 0, 1)

    return _each(images, dots)


@register("zigzag", "mnist-c", "a zigzag (teeth 2 px long, 2 px high) across the picture")
def zigzag(images, rng):
    height, width = images.shape[1:]
    start, end = 2.0, width - 3.0

    def teeth(index, image):
        r0 = float(rng.integers(0, height - 1))
        r1 = r0 + float(rng.integers(-5, 5))
        angle = np.arctan((r1 - r0) / (end - start))
        length = (end - start) / np.cos(angle)
        # The corners along a flat line from (0, 0): up 2 px at 2 px along, down 2 px at 6, up at 10, ...
        along = np.concatenate([[0.0], np.arange(2.0, length, 4.0)])
        across = np.concatenate([[0.0], 2.0 * (-1.0) ** np.arange(len(along) - 1)])
        # ... then turned by ``angle`` and moved to start at (start, r0).
        columns = start + along * np.cos(angle) - across * np.sin(angle)
        rows = r0 + along * np.sin(angle) + across * np.cos(angle)
        out = image.copy()
        for c0, q0, c1, q1 in zip(columns[:-1], rows[:-1], columns[1:], rows[1:]):
            if abs(c1 - c0) > 1e-3:  # a vertical piece has no slope; its neighbours cover it
                ends = (c0, q0, c1, q1) if c0 < c1 else (c1, q1, c0, q0)  # left end first
                out = np.maximum(out, _soft_line(height, width, *ends, reach=1.5))
        return out

    return _each(images, teeth)


@register("canny-edges", "mnist-c", "only the outlines of the strokes (Canny edges after a sigma 1 blur)")
def canny_edges(images, rng):
    def outline(index, image):
        smooth = np.clip(np.rint(_blur(image, 1.0) * 255), 0, 255).astype(np.uint8)
        return cv2.Canny(smooth, 25, 50).astype(np.float32) / 255.0

    return _each(images, outline)


# ----------------------------------------------------------------------------- the pen


@register("thick", "stroke", "a pen 2 px wider (3x3 dilation)")
def thick(images, rng):
    kernel = np.ones((3, 3), np.uint8)
    return _each(images, lambda index, image: cv2.dilate(image, kernel))


@register("thin", "stroke", "a pen 1 px narrower (2x2 erosion, which also moves the digit half a pixel up-left)")
def thin(images, rng):
    kernel = np.ones((2, 2), np.uint8)
    return _each(images, lambda index, image: cv2.erode(image, kernel))


FAMILIES = ("article", "mnist-c", "stroke")
