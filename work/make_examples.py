"""Draw the example pictures in work/ — our own "handwriting", made the way people make pictures.

    python work/make_examples.py            # rewrites work/example_*.{png,jpg}

Every digit is a pen path we wrote by hand (a few points per stroke, joined by a smooth
Catmull-Rom curve), drawn at a few hundred pixels with a pen of some width, then put through
what happens to real pictures: a felt pen on a white page, a fine pen, a fat marker, chalk on a
blackboard, a broken stroke, a blur, a shaky hand, a noisy scan, a tilted page, a phone photo on
grey paper, a drawing app's transparent canvas, blue ink on ruled paper, a photo stored sideways
with an EXIF orientation tag. None of it comes from MNIST. The name says the digit it shows.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent

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


def draw(digit: int, box: int, pen: float, rng: np.random.Generator, shake: float = 0.0, margin: float = 0.25):
    """Ink coverage float32 [S, S] in [0, 1] of ``digit`` drawn ``box`` px tall with a ``pen`` px pen.

    ``shake`` (fraction of the box) wobbles the hand with slow random drift, as a shaky hand does.
    """
    side = round(box * (1 + 2 * margin))
    scale = 8  # draw 8x larger and shrink: smooth, anti-aliased strokes of any width
    canvas = np.zeros((side * scale, side * scale), dtype=np.uint8)
    offset = np.array([(side - 0.62 * box) / 2, box * margin])  # the digits are about 0.62 as wide as tall
    for stroke in DIGITS[digit]:
        points = np.array(stroke, dtype=np.float64) * [0.62 * box, box] + offset
        curve = catmull_rom(points)
        if shake:
            drift = np.cumsum(rng.normal(0, shake * box, size=curve.shape), axis=0)
            drift = cv2.GaussianBlur(drift, (1, 0), sigmaX=0, sigmaY=6).reshape(curve.shape)
            curve = curve + drift - np.linspace(0, 1, len(curve))[:, None] * drift[-1]  # ends stay put
        path = np.rint(curve * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [path], False, 255, thickness=max(1, round(pen * scale)), lineType=cv2.LINE_AA)
    coverage = cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA)
    return coverage.astype(np.float32) / 255.0


def on_paper(coverage, paper=245.0, ink=25.0):
    """Dark ink on light paper: grey float32 [H, W]."""
    return paper - (paper - ink) * coverage


def finish(grey) -> np.ndarray:
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


def make_examples(rng: np.random.Generator) -> dict[str, Image.Image | tuple[Image.Image, dict]]:
    pictures: dict[str, Image.Image | tuple[Image.Image, dict]] = {}

    # 0: a felt pen on a white page, scanned.
    pictures["example_0.png"] = Image.fromarray(finish(on_paper(draw(0, 220, 14, rng))))

    # 1: a fine ballpoint on a large photo: 2.5 px strokes on a 900 px digit.
    coverage = draw(1, 900, 2.5, rng)
    pictures["example_1.png"] = Image.fromarray(finish(on_paper(coverage, 235, 60)))

    # 2: a fat marker.
    pictures["example_2.png"] = Image.fromarray(finish(on_paper(draw(2, 200, 34, rng), 250, 15)))

    # 3: chalk on a blackboard: light, grainy strokes with gaps, on dark green-grey.
    coverage = draw(3, 240, 16, rng)
    grain = (rng.random(coverage.shape) < 0.65).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.8)
    board = 55 + rng.normal(0, 6, coverage.shape)
    chalk = board + (225 - board) * coverage * grain
    rgb = np.stack([chalk * 0.9, chalk, chalk * 0.92], axis=-1)
    pictures["example_3.png"] = Image.fromarray(finish(rgb))

    # 4: deliberately broken strokes: two gaps rubbed out across the pen path.
    coverage = draw(4, 220, 13, rng)
    height, width = coverage.shape
    for y in (0.42, 0.72):
        cv2.line(coverage, (0, round(height * y)), (width, round(height * (y - 0.08))), 0.0, thickness=9)
    pictures["example_4.png"] = Image.fromarray(finish(on_paper(coverage)))

    # 5: blurred, as by a shaking camera that missed focus.
    coverage = cv2.GaussianBlur(draw(5, 220, 14, rng), (0, 0), 7)
    pictures["example_5.png"] = Image.fromarray(finish(on_paper(coverage, 240, 40)))

    # 6: a shaky hand.
    pictures["example_6.png"] = Image.fromarray(finish(on_paper(draw(6, 220, 12, rng, shake=0.004))))

    # 7: a noisy scan: grain everywhere and salt-and-pepper dots.
    grey = on_paper(draw(7, 200, 13, rng)) + rng.normal(0, 28, (300, 300))
    dots = rng.random(grey.shape)
    grey[dots < 0.01], grey[dots > 0.99] = 0, 255
    pictures["example_7.png"] = Image.fromarray(finish(grey))

    # 8: the page tilted by 18 degrees.
    grey = finish(on_paper(draw(8, 220, 13, rng)))
    height, width = grey.shape
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 18, 1.0)
    pictures["example_8.png"] = Image.fromarray(
        cv2.warpAffine(grey, turn, (width, height), flags=cv2.INTER_LINEAR, borderValue=245)
    )

    # 9: a phone photo: grey paper off-centre in the frame, uneven light and a shadow, a warm
    #    colour cast, sensor noise, JPEG.
    coverage = draw(9, 260, 15, rng)
    page = np.zeros((560, 420), dtype=np.float32)
    page[60 : 60 + coverage.shape[0], 120 : 120 + coverage.shape[1]] = coverage[:, : 420 - 120]
    grey = on_paper(page, 175, 45) * lighting(page.shape, rng) + rng.normal(0, 4, page.shape)
    rgb = np.stack([grey * 1.05, grey, grey * 0.9], axis=-1)
    pictures["example_9.jpg"] = Image.fromarray(finish(rgb))

    # More of the kinds people send: a tablet drawing app's transparent canvas (black strokes,
    # alpha only where drawn) ...
    coverage = draw(7, 300, 18, rng, shake=0.002)
    rgba = np.zeros((*coverage.shape, 4), dtype=np.uint8)
    rgba[..., 3] = finish(coverage * 255)
    pictures["example_7_tablet.png"] = Image.fromarray(rgba, "RGBA")

    # ... blue ballpoint on ruled notebook paper ...
    coverage = draw(2, 240, 6, rng, shake=0.002)
    height, width = coverage.shape
    paper = np.stack(
        [np.full((height, width), 250.0), np.full((height, width), 248.0), np.full((height, width), 240.0)], -1
    )
    for y in range(18, height, 36):
        paper[y : y + 2] = (170, 200, 235)  # pale blue rules
    pen = np.array([30.0, 50.0, 150.0])
    rgb = paper - (paper - pen) * coverage[..., None]
    pictures["example_2_ruled.png"] = Image.fromarray(finish(rgb))

    # ... and a phone photo stored sideways, with the EXIF tag that tells viewers to turn it.
    coverage = draw(4, 260, 14, rng)
    grey = on_paper(coverage, 200, 40) * lighting(coverage.shape, rng, 0.2) + rng.normal(0, 3, coverage.shape)
    sideways = np.rot90(finish(grey), k=1)  # as the sensor stored it: turned 90 degrees anticlockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    pictures["example_4_sideways.jpg"] = (Image.fromarray(np.ascontiguousarray(sideways)), {"exif": exif.tobytes()})
    return pictures


def main() -> None:
    rng = np.random.default_rng(2026)
    for name, picture in make_examples(rng).items():
        image, extra = picture if isinstance(picture, tuple) else (picture, {})
        buffer = io.BytesIO()
        if name.endswith(".jpg"):
            image.save(buffer, "JPEG", quality=85, **extra)
        else:
            image.save(buffer, "PNG", optimize=True, **extra)
        (HERE / name).write_bytes(buffer.getvalue())
        print(f"wrote work/{name} ({image.width}x{image.height}, {len(buffer.getvalue()):,} bytes)")


if __name__ == "__main__":
    main()
