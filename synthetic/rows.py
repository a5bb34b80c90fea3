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

from synthetic.pen import lighting, on_paper, to_uint8

STYLES = ("drawing", "photo", "pencil", "ruled paper", "shadow")
HEIGHT = 56  # px: a typical digit's height in the row (MNIST's 20 px box, about 2.8x)


@dataclass
class Row:
    ink: np.ndarray  # float32 [H, W] in [0, 1]: the row's ink, 1 = full stroke
    touching: int  # how many neighbouring pairs were written touching
    broken: int  # how many digits had a stroke broken in two
    spans: list  # (left, right) of each digit's ink, in the row's columns


def write_row(
    digits: list[np.ndarray],
    rng: np.random.Generator,
    touching: float = 0.2,
    broken: float = 0.15,
    overlap: tuple[int, int] = (2, 6),
) -> Row:
    """uint8 MNIST digits [28, 28] each (white on black) -> their row's ink.

    ``touching``: the chance that a digit is written against the one before it, ``overlap`` px
    (from, up to but not including) into it; ``broken``: the chance that one of its strokes has a gap.
    """
    import cv2

    slant = rng.uniform(-0.25, 0.25)  # the writer's: x shifts by this much per pixel up
    pieces, spans, touches, breaks = [], [], 0, 0
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
            x -= int(rng.integers(*overlap))  # into the previous digit's last strokes
        elif index:
            x += int(rng.uniform(0.12, 0.5) * HEIGHT)
        bottom = baseline + int(0.06 * HEIGHT * np.sin(wander + index)) + int(rng.integers(-2, 3))
        top = max(0, bottom - height)
        spans.append((x, x + width))
        region = canvas[top : top + height, x : x + width]
        np.maximum(region, piece[: region.shape[0]], out=region)
        x += width
    columns = np.flatnonzero(canvas.max(axis=0) > 0)
    start = max(0, columns[0] - HEIGHT // 2)
    canvas = canvas[:, start : columns[-1] + HEIGHT // 2]
    return Row(canvas, touches, breaks, [(left - start, right - start) for left, right in spans])


def pen_digits(text: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Digits of ``text`` from our own pen paths (``synthetic.pen``), each uint8 white on black like
    an MNIST digit, for ``write_row``: rows the tests can read without MNIST."""
    from synthetic.pen import draw

    return [to_uint8(255 * draw(int(digit), 20, 2.2, rng, width=rng.uniform(0.55, 0.7))) for digit in text]


def as_picture(ink: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """float ink [H, W] in [0, 1] -> uint8 grey picture in one of ``STYLES``, the kinds of picture
    the single-character benches use: a drawing app's black on white, or a photo of paper (grey
    paper and uneven light, a faint pencil, ruled paper, a shadow across the page), JPEG-compressed."""
    import cv2

    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {STYLES}")
    if style == "drawing":
        return to_uint8(255 * (1 - ink))
    scale = rng.uniform(0.6, 1.6)  # the same row photographed nearer or further
    ink = cv2.resize(ink, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    margin = [int(rng.uniform(0.1, 0.5) * ink.shape[0]) for _ in range(4)]  # more paper round the row
    ink = cv2.copyMakeBorder(ink, *margin, cv2.BORDER_CONSTANT, value=0)
    height, width = ink.shape
    if style == "photo":  # as synthetic.redraw: grey paper, light falling off, sensor noise
        grey = on_paper(cv2.GaussianBlur(ink, (0, 0), 0.8), rng.uniform(150, 235), rng.uniform(10, 90))
        grey = grey * lighting(ink.shape, rng, rng.uniform(0.1, 0.4)) + rng.normal(0, rng.uniform(2, 6), ink.shape)
    elif style == "pencil":  # grey, grainy strokes on white paper
        grain = cv2.GaussianBlur((rng.random(ink.shape) < 0.7).astype(np.float32), (0, 0), 0.7)
        grey = on_paper(ink * grain, rng.uniform(215, 240), rng.uniform(100, 150))
        grey = grey * lighting(ink.shape, rng, 0.15) + rng.normal(0, rng.uniform(2, 5), ink.shape)
    elif style == "ruled paper":  # blue lines every so often, the row written on one
        grey = np.full(ink.shape, 248.0, np.float32)
        spacing = int(rng.uniform(0.5, 0.9) * height)
        for y in range(int(rng.integers(0, spacing)), height, spacing):
            grey[y : y + max(1, height // 80)] = 200
        grey = grey - (grey - rng.uniform(20, 60)) * ink
        grey = grey * lighting(ink.shape, rng, 0.15) + rng.normal(0, 3, ink.shape)
    else:  # "shadow": a hand's or a phone's shadow across part of the page, hard or soft
        rows, columns = np.mgrid[0:height, 0:width]
        angle, offset = rng.uniform(0, np.pi), rng.uniform(0.3, 0.7)
        across = np.cos(angle) * columns / width + np.sin(angle) * rows / height
        edge = offset * (abs(np.cos(angle)) + abs(np.sin(angle)))
        shadow = cv2.GaussianBlur((across > edge).astype(np.float32), (0, 0), rng.uniform(1, 12))
        grey = on_paper(ink, rng.uniform(190, 235), rng.uniform(20, 60)) * (1 - rng.uniform(0.3, 0.5) * shadow)
        grey = grey + rng.normal(0, 3, ink.shape)
    ok, encoded = cv2.imencode(".jpg", to_uint8(grey), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 91))])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
