"""Draw the example pictures in work/ — our own "handwriting", made the way people make pictures.

    python work/make_examples.py            # rewrites work/example_*.{png,jpg} and work/number_*.jpg

Every digit is a pen path we wrote by hand (``synthetic/pen.py``: a few points per stroke,
joined by a smooth curve), drawn at a few hundred pixels with a pen of some width, then put through
what happens to real pictures: a felt pen on a white page, a fine pen, a fat marker, chalk on a
blackboard, a broken stroke, a blur, a shaky hand, a noisy scan, a tilted page, a phone photo on
grey paper, a drawing app's transparent canvas, blue ink on ruled paper, a photo stored sideways
with an EXIF orientation tag, a photo cropped right up to the strokes. None of it comes from
MNIST. The name says the digit it shows (``number_205921.jpg``: the digits of a whole number).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script from anywhere: find the handwriting package

from synthetic.pen import draw, ink_slices, lighting, on_paper, to_uint8  # noqa: E402
from synthetic.rows import as_picture, pen_digits, write_row  # noqa: E402


def make_examples(rng: np.random.Generator) -> dict[str, Image.Image | tuple[Image.Image, dict]]:
    pictures: dict[str, Image.Image | tuple[Image.Image, dict]] = {}

    # 0: a felt pen on a white page, scanned.
    pictures["example_0.png"] = Image.fromarray(to_uint8(on_paper(draw(0, 220, 14, rng))))

    # 1: a fine ballpoint on a large photo: 2.5 px strokes on a 900 px digit.
    coverage = draw(1, 900, 2.5, rng)
    pictures["example_1.png"] = Image.fromarray(to_uint8(on_paper(coverage, 235, 60)))

    # 2: a fat marker.
    pictures["example_2.png"] = Image.fromarray(to_uint8(on_paper(draw(2, 200, 34, rng), 250, 15)))

    # 3: chalk on a blackboard: light, grainy strokes with gaps, on dark green-grey.
    coverage = draw(3, 240, 16, rng)
    grain = (rng.random(coverage.shape) < 0.65).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.8)
    board = 55 + rng.normal(0, 6, coverage.shape)
    chalk = board + (225 - board) * coverage * grain
    rgb = np.stack([chalk * 0.9, chalk, chalk * 0.92], axis=-1)
    pictures["example_3.png"] = Image.fromarray(to_uint8(rgb))

    # 4: deliberately broken strokes: two gaps rubbed out across the pen path.
    coverage = draw(4, 220, 13, rng)
    height, width = coverage.shape
    for y in (0.42, 0.72):
        cv2.line(coverage, (0, round(height * y)), (width, round(height * (y - 0.08))), 0.0, thickness=9)
    pictures["example_4.png"] = Image.fromarray(to_uint8(on_paper(coverage)))

    # 5: blurred, as by a shaking camera that missed focus.
    coverage = cv2.GaussianBlur(draw(5, 220, 14, rng), (0, 0), 7)
    pictures["example_5.png"] = Image.fromarray(to_uint8(on_paper(coverage, 240, 40)))

    # 6: a shaky hand.
    pictures["example_6.png"] = Image.fromarray(to_uint8(on_paper(draw(6, 220, 12, rng, shake=0.004))))

    # 7: a noisy scan: grain everywhere and salt-and-pepper dots.
    grey = on_paper(draw(7, 200, 13, rng)) + rng.normal(0, 28, (300, 300))
    dots = rng.random(grey.shape)
    grey[dots < 0.01], grey[dots > 0.99] = 0, 255
    pictures["example_7.png"] = Image.fromarray(to_uint8(grey))

    # 8: the page tilted by 18 degrees.
    grey = to_uint8(on_paper(draw(8, 220, 13, rng)))
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
    pictures["example_9.jpg"] = Image.fromarray(to_uint8(rgb))

    # More of the kinds people send: a tablet drawing app's transparent canvas (black strokes,
    # alpha only where drawn) ...
    coverage = draw(7, 300, 18, rng, shake=0.002)
    rgba = np.zeros((*coverage.shape, 4), dtype=np.uint8)
    rgba[..., 3] = to_uint8(coverage * 255)
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
    pictures["example_2_ruled.png"] = Image.fromarray(to_uint8(rgb))

    # ... and a phone photo stored sideways, with the EXIF tag that tells viewers to turn it.
    coverage = draw(4, 260, 14, rng)
    grey = on_paper(coverage, 200, 40) * lighting(coverage.shape, rng, 0.2) + rng.normal(0, 3, coverage.shape)
    sideways = np.rot90(to_uint8(grey), k=1)  # as the sensor stored it: turned 90 degrees anticlockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    pictures["example_4_sideways.jpg"] = (Image.fromarray(np.ascontiguousarray(sideways)), {"exif": exif.tobytes()})

    # ... and a photo cropped right up to a thick pen's strokes: almost no paper left round them.
    coverage = draw(5, 240, 28, rng)
    coverage = coverage[ink_slices(coverage, margin=2)]
    grey = on_paper(coverage, 195, 45) * lighting(coverage.shape, rng, 0.1) + rng.normal(0, 3, coverage.shape)
    pictures["example_5_cropped.jpg"] = Image.fromarray(to_uint8(grey))

    # A whole number: a postcode written in a row (two of its digits touching), photographed on grey
    # paper. Its own generator, so the single digits above stay as they were.
    number = np.random.default_rng(205921)
    row = write_row(pen_digits("205921", number), number, touching=0.35, broken=0.0)
    pictures["number_205921.jpg"] = Image.fromarray(as_picture(row.ink, "photo", number))
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
