"""Re-draw MNIST digits the way people send pictures of their own handwriting.

A person's picture of a digit is dark ink on light paper, larger than 28x28, not centred,
written with a pen of some other width, lit unevenly, and saved as a JPEG. ``redraw`` does all
of that to an MNIST digit, so we can measure how much of MNIST accuracy survives the trip
through ``infer.py``'s preprocessing — with labels we trust (tests and ``bench/``).
"""

from __future__ import annotations

import numpy as np


def redraw(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 MNIST digit [28, 28] (white on black) -> uint8 grey picture [H, W] as a person's photo.

    Randomised by ``rng``: 3-8x larger, a pen 0-60% wider, placed anywhere on a page 1.2-2x the
    digit's size, dark ink on grey paper, a lighting gradient, sensor noise, JPEG quality 40-90.
    """
    import cv2

    scale = rng.uniform(3, 8)
    side = round(28 * scale)
    ink = cv2.resize(digit.astype(np.float32) / 255.0, (side, side), interpolation=cv2.INTER_CUBIC)
    ink = np.clip(ink, 0.0, 1.0)
    thicker = round(rng.uniform(0, 0.6) * 2.4 * scale)  # MNIST strokes are ~2.4 px wide at 28x28
    if thicker >= 1:
        ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thicker + 1, thicker + 1)))

    page_height, page_width = (round(side * rng.uniform(1.2, 2.0)) for _ in range(2))
    top = rng.integers(0, page_height - side + 1)
    left = rng.integers(0, page_width - side + 1)
    coverage = np.zeros((page_height, page_width), dtype=np.float32)
    coverage[top : top + side, left : left + side] = ink

    paper, pen = rng.uniform(150, 235), rng.uniform(10, 90)
    page = paper - (paper - pen) * coverage
    # Light falling off across the page in a random direction, up to +-20% of the paper's brightness.
    rows, columns = np.mgrid[0:page_height, 0:page_width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * columns / page_width + np.sin(angle) * rows / page_height) - 0.5
    page = page * (1 + rng.uniform(0.1, 0.4) * ramp)
    page = page + rng.normal(0, rng.uniform(2, 6), page.shape)
    picture = np.clip(np.rint(page), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
    assert ok
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
