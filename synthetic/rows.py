"""Write rows of MNIST digits the way people write a number: a postcode, an amount.

``write_row`` lays real MNIST digits side by side with what makes reading a whole number hard:
uneven spacing, a baseline that wanders, digits of different sizes, one slant for the row (a
little different for each digit), sometimes two digits touching, sometimes a stroke broken in two.
``as_picture`` then turns the row's ink into a drawing app's black on white, or a phone photo of
paper (grey paper, uneven light, noise, JPEG). The labels are MNIST's, so every answer can be checked
(``bench/read_numbers.py``, ``tests/test_marks.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STYLES = ("drawing", "photo")
HEIGHT = 56  # px: a typical digit's height in the row (MNIST's 20 px box, about 2.8x)


@dataclass
class Row:
    ink: np.ndarray  # float32 [H, W] in [0, 1]: the row's ink, 1 = full stroke
    touching: int  # how many neighbouring pairs were written touching
    broken: int  # how many digits had a stroke broken in two


def write_row(digits: list[np.ndarray], rng: np.random.Generator, touching: float = 0.2, broken: float = 0.15) -> Row:
    """uint8 MNIST digits [28, 28] each (white on black) -> their row's ink.

    ``touching``: the chance that a digit is written against the one before it; ``broken``: the
    chance that one of its strokes has a gap.
    """
    import cv2

    slant = rng.uniform(-0.25, 0.25)  # the writer's: x shifts by this much per pixel up
    pieces, touches, breaks = [], 0, 0
    for digit in digits:
        rows, columns = np.nonzero(digit)
        crop = digit[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1].astype(np.float32) / 255.0
        scale = HEIGHT / 20 * rng.uniform(0.8, 1.2)
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC).clip(0, 1)
        shear = slant + rng.uniform(-0.08, 0.08)
        height, width = crop.shape
        grow = int(abs(shear) * height) + 1
        matrix = np.float32([[1, -shear, grow if shear > 0 else 0], [0, 1, 0]])
        crop = cv2.warpAffine(crop, matrix, (width + grow, height), flags=cv2.INTER_LINEAR)
        if rng.random() < broken:  # a gap across the strokes, 2-4 px, somewhere in the middle half
            breaks += 1
            row = int(rng.uniform(0.3, 0.7) * crop.shape[0])
            crop[row : row + int(rng.integers(2, 5))] = 0
        columns = np.flatnonzero(crop.max(axis=0) > 0.1)
        pieces.append(crop[:, columns[0] : columns[-1] + 1])

    canvas_height = int(HEIGHT * 2.2)
    canvas = np.zeros(
        (canvas_height, sum(piece.shape[1] for piece in pieces) + HEIGHT * len(pieces) + HEIGHT), np.float32
    )
    x, wander = HEIGHT // 2, rng.uniform(0, 2 * np.pi)
    baseline = int(HEIGHT * 1.6)
    for index, piece in enumerate(pieces):
        height, width = piece.shape
        if index and rng.random() < touching:
            touches += 1
            x -= int(rng.integers(2, 6))  # into the previous digit's last strokes
        elif index:
            x += int(rng.uniform(0.12, 0.5) * HEIGHT)
        bottom = baseline + int(0.06 * HEIGHT * np.sin(wander + index)) + int(rng.integers(-2, 3))
        top = max(0, bottom - height)
        region = canvas[top : top + height, x : x + width]
        np.maximum(region, piece[: region.shape[0]], out=region)
        x += width
    columns = np.flatnonzero(canvas.max(axis=0) > 0)
    canvas = canvas[:, max(0, columns[0] - HEIGHT // 2) : columns[-1] + HEIGHT // 2]
    return Row(canvas, touches, breaks)


def as_picture(ink: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """float ink [H, W] in [0, 1] -> uint8 grey picture: a ``drawing`` (black on white) or a ``photo``."""
    import cv2

    if style == "drawing":
        return np.round(255 * (1 - ink)).astype(np.uint8)
    if style != "photo":
        raise ValueError(f"unknown style {style!r}; choose one of {STYLES}")
    paper, dark = rng.uniform(150, 225), rng.uniform(20, 70)
    height, width = ink.shape
    light = np.linspace(rng.uniform(-30, 0), rng.uniform(0, 30), width, dtype=np.float32)[None, :]
    picture = paper + light - (paper - dark) * cv2.GaussianBlur(ink, (0, 0), 0.8)
    picture += rng.normal(0, rng.uniform(2, 7), (height, width))
    quality = int(rng.integers(40, 90))
    ok, encoded = cv2.imencode(".jpg", np.clip(picture, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
