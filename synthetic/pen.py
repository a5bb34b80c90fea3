"""Our own handwriting: digits drawn from pen paths we wrote, for examples, tests and benches.

Each digit is a few points per stroke (written by hand, in a unit box), joined by a smooth
Catmull-Rom curve and drawn with an anti-aliased pen of any width. ``draw`` can also make the
hand less steady (``shake``), the shape less regular (``wobble``), slanted and narrower or wider,
so a bench can draw thousands of different-looking digits. Nothing here comes from MNIST.
"""

from __future__ import annotations

import cv2
import numpy as np

# Pen paths: strokes of (x, y) points in a unit box, x to the right and y down.
DIGITS: dict[int, list[list[tuple[float, float]]]] = {
    0: [
        [
            (0.5, 0.04),
            (0.22, 0.2),
            (0.14, 0.55),
            (0.3, 0.9),
            (0.6, 0.96),
            (0.83, 0.7),
            (0.84, 0.3),
            (0.62, 0.06),
            (0.45, 0.08),
        ]
    ],
    1: [[(0.35, 0.22), (0.58, 0.03), (0.56, 0.5), (0.54, 0.97)]],
    2: [
        [
            (0.18, 0.28),
            (0.35, 0.06),
            (0.65, 0.05),
            (0.8, 0.28),
            (0.62, 0.55),
            (0.35, 0.78),
            (0.14, 0.95),
            (0.5, 0.92),
            (0.88, 0.94),
        ]
    ],
    3: [
        [
            (0.18, 0.14),
            (0.45, 0.02),
            (0.75, 0.1),
            (0.76, 0.3),
            (0.45, 0.47),
            (0.8, 0.6),
            (0.82, 0.84),
            (0.5, 0.97),
            (0.15, 0.86),
        ]
    ],
    4: [[(0.3, 0.04), (0.22, 0.35), (0.14, 0.6), (0.5, 0.6), (0.88, 0.58)], [(0.68, 0.08), (0.67, 0.5), (0.66, 0.97)]],
    5: [
        [(0.82, 0.05), (0.5, 0.06), (0.25, 0.06)],
        [(0.26, 0.06), (0.21, 0.45), (0.55, 0.38), (0.82, 0.56), (0.8, 0.84), (0.5, 0.97), (0.15, 0.86)],
    ],
    6: [
        [
            (0.72, 0.04),
            (0.45, 0.22),
            (0.24, 0.5),
            (0.2, 0.78),
            (0.42, 0.97),
            (0.72, 0.9),
            (0.78, 0.66),
            (0.5, 0.52),
            (0.24, 0.68),
        ]
    ],
    7: [[(0.14, 0.1), (0.5, 0.08), (0.86, 0.07), (0.62, 0.5), (0.44, 0.96)]],
    8: [
        [
            (0.74, 0.14),
            (0.5, 0.03),
            (0.25, 0.14),
            (0.3, 0.38),
            (0.68, 0.58),
            (0.76, 0.83),
            (0.5, 0.97),
            (0.24, 0.84),
            (0.3, 0.6),
            (0.68, 0.38),
            (0.76, 0.16),
            (0.62, 0.05),
        ]
    ],
    9: [
        [(0.76, 0.22), (0.52, 0.04), (0.25, 0.16), (0.26, 0.42), (0.55, 0.47), (0.77, 0.26)],
        [(0.77, 0.2), (0.72, 0.6), (0.68, 0.97)],
    ],
}


def catmull_rom(points: np.ndarray, samples_per_segment: int = 40) -> np.ndarray:
    """A smooth curve through ``points`` [K, 2] -> [M, 2] (centripetal-free, uniform Catmull-Rom)."""
    padded = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    t = np.linspace(0, 1, samples_per_segment, endpoint=False)[:, None]
    curve = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        curve.append(
            0.5
            * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    curve.append(points[-1:])
    return np.vstack(curve)


def draw(
    digit: int,
    box: float,
    pen: float,
    rng: np.random.Generator,
    shake: float = 0.0,
    wobble: float = 0.0,
    slant: float = 0.0,
    width: float = 0.62,
    margin: float = 0.25,
) -> np.ndarray:
    """Ink coverage float32 [S, S] in [0, 1] of ``digit`` drawn ``box`` px tall with a ``pen`` px pen.

    ``shake`` (fraction of the box) wobbles the hand with slow random drift, as a shaky hand does;
    ``wobble`` moves each of the path's points by up to that fraction of the box; ``slant`` leans
    the digit (a shear, in fractions of its height: 0.2 leans the top 20% of the height to the
    right); ``width`` is the digit's width as a fraction of its height.
    """
    side = round(box * (1 + 2 * margin + abs(slant)))
    scale = max(1, min(8, 2400 // side))  # draw up to 8x larger and shrink: smooth strokes of any width
    canvas = np.zeros((side * scale, side * scale), dtype=np.uint8)
    offset = np.array([(side - width * box) / 2, (side - box) / 2])
    for stroke in DIGITS[digit]:
        points = np.array(stroke, dtype=np.float64)
        if wobble:
            points = points + rng.uniform(-wobble, wobble, points.shape)
        points[:, 0] += slant * (0.5 - points[:, 1])  # lean: the top moves right, the bottom left
        points = points * [width * box, box] + offset
        curve = catmull_rom(points)
        if shake:
            drift = np.cumsum(rng.normal(0, shake * box, size=curve.shape), axis=0)
            drift = cv2.GaussianBlur(drift, (1, 0), sigmaX=0, sigmaY=6).reshape(curve.shape)
            curve = curve + drift - np.linspace(0, 1, len(curve))[:, None] * drift[-1]  # ends stay put
        path = np.rint(curve * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [path], False, 255, thickness=max(1, round(pen * scale)), lineType=cv2.LINE_AA)
    coverage = cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA)
    return coverage.astype(np.float32) / 255.0


def ink_slices(coverage, margin: int = 0) -> tuple[slice, slice]:
    """The rows and columns of ``coverage`` [H, W] that hold the ink (over half strength), grown
    by ``margin`` px each way within the picture: ``picture[ink_slices(coverage)]`` crops to the digit."""
    rows, columns = np.nonzero(coverage > 0.5)
    return (
        slice(max(0, rows.min() - margin), rows.max() + 1 + margin),
        slice(max(0, columns.min() - margin), columns.max() + 1 + margin),
    )


def on_paper(coverage, paper=245.0, ink=25.0):
    """Dark ink on light paper: grey float32 [H, W]."""
    return paper - (paper - ink) * coverage


def to_uint8(grey) -> np.ndarray:
    """Grey (or colour) float values of any shape -> uint8 pixels, rounded and clipped to 0..255."""
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def lighting(shape, rng, strength=0.3):
    """A smooth lighting field around 1.0: a gradient plus a soft shadow blob."""
    height, width = shape
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    field = 1 + strength * ((np.cos(angle) * columns / width + np.sin(angle) * rows / height) - 0.5)
    centre = rng.uniform(0, 1, 2) * [width, height]
    shadow = np.exp(-(((columns - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * (0.3 * width) ** 2)))
    return field * (1 - 0.25 * shadow)
