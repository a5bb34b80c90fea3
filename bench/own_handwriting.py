"""How well does infer.py read pictures made the way people make them? Thousands of them.

    python bench/own_handwriting.py              # table + bench/results/own_handwriting.{md,json,png}
    python bench/own_handwriting.py --per-digit 5 --kinds marker,chalk

The 14 pictures in work/ are a handful; this draws many more of each kind, all different: every
digit from our pen paths (``synthetic/pen.py``) with a randomly wobbled shape, slant, width,
size and pen, then made into the kind of picture people send — scans, fine pens on big photos,
markers, pencil, chalk, broken and blurred strokes, a shaky hand, noise, tilted pages, phone
photos of paper on a table, shadows across the page, ruled and squared paper, photos cropped
close to the digit, tablet canvases. Each picture goes through
the file format it would come in and ``infer.py``'s own path (read, prepare, the shipped model),
with ``--preprocess mnist`` and ``naive``. The misread ones are drawn into a PNG to look at.

These are our own pen paths — one way of writing each digit, varied — so the figures say how
robust the preprocessing is to the picture, more than how the model copes with other hands.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402
from synthetic.pen import draw, ink_slices, lighting, on_paper, to_uint8  # noqa: E402


def shape(rng: np.random.Generator) -> dict:
    """A random hand: how the digit's shape differs from the pen path."""
    return {
        "wobble": rng.uniform(0, 0.04),
        "slant": rng.uniform(-0.25, 0.25),
        "width": rng.uniform(0.5, 0.75),
        "shake": rng.choice([0.0, 0.002]),
    }


def photo_noise(grey: np.ndarray, rng: np.random.Generator, strength: float = 0.3) -> np.ndarray:
    return grey * lighting(grey.shape, rng, strength) + rng.normal(0, rng.uniform(2, 6), grey.shape)


# Each kind: (digit, rng) -> (picture array: grey, RGB or RGBA uint8, file suffix).
def felt_pen_scan(digit, rng):
    box = rng.uniform(120, 400)
    return to_uint8(on_paper(draw(digit, box, box * rng.uniform(0.04, 0.08), rng, **shape(rng)))), ".png"


def fine_pen_photo(digit, rng):
    box = rng.uniform(400, 1100)
    coverage = draw(digit, box, rng.uniform(2, 4), rng, **shape(rng))
    return to_uint8(photo_noise(on_paper(coverage, rng.uniform(190, 240), rng.uniform(20, 70)), rng)), ".jpg"


def marker(digit, rng):
    box = rng.uniform(150, 350)
    return to_uint8(on_paper(draw(digit, box, box * rng.uniform(0.12, 0.18), rng, **shape(rng)), 250, 10)), ".png"


def pencil(digit, rng):
    box = rng.uniform(150, 400)
    coverage = draw(digit, box, box * rng.uniform(0.025, 0.05), rng, **shape(rng))
    coverage = coverage * cv2.GaussianBlur((rng.random(coverage.shape) < 0.7).astype(np.float32), (0, 0), 0.7)
    return to_uint8(photo_noise(on_paper(coverage, rng.uniform(215, 240), rng.uniform(110, 160)), rng, 0.15)), ".jpg"


def chalk(digit, rng):
    box = rng.uniform(150, 350)
    coverage = draw(digit, box, box * rng.uniform(0.05, 0.09), rng, **shape(rng))
    grain = cv2.GaussianBlur((rng.random(coverage.shape) < rng.uniform(0.5, 0.8)).astype(np.float32), (0, 0), 0.8)
    board = rng.uniform(35, 80) + rng.normal(0, 6, coverage.shape)
    grey = board + (rng.uniform(180, 235) - board) * coverage * grain
    return to_uint8(np.stack([grey * 0.9, grey, grey * 0.92], axis=-1)), ".jpg"


def broken(digit, rng):
    box = rng.uniform(150, 350)
    coverage = draw(digit, box, box * rng.uniform(0.05, 0.08), rng, **shape(rng))
    side = coverage.shape[0]
    for _ in range(rng.integers(1, 4)):  # gaps rubbed across the strokes
        y = rng.uniform(0.25, 0.75) * side
        cv2.line(coverage, (0, round(y)), (side, round(y + rng.uniform(-0.2, 0.2) * side)), 0.0, round(box * 0.03))
    return to_uint8(on_paper(coverage)), ".png"


def blurred(digit, rng):
    box = rng.uniform(150, 350)
    coverage = draw(digit, box, box * rng.uniform(0.05, 0.08), rng, **shape(rng))
    coverage = cv2.GaussianBlur(coverage, (0, 0), box * rng.uniform(0.015, 0.04))
    return to_uint8(photo_noise(on_paper(coverage, 235, 40), rng, 0.1)), ".jpg"


def noisy_scan(digit, rng):
    box = rng.uniform(120, 300)
    grey = on_paper(draw(digit, box, box * rng.uniform(0.05, 0.08), rng, **shape(rng)))
    grey = grey + rng.normal(0, rng.uniform(15, 35), grey.shape)
    dots = rng.random(grey.shape)
    grey[dots < 0.01], grey[dots > 0.99] = 0, 255
    return to_uint8(grey), ".png"


def tilted(digit, rng):
    box = rng.uniform(150, 350)
    grey = to_uint8(on_paper(draw(digit, box, box * rng.uniform(0.05, 0.08), rng, **shape(rng))))
    side = grey.shape[0]
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-20, 20), 1.0)
    return cv2.warpAffine(grey, turn, (side, side), flags=cv2.INTER_LINEAR, borderValue=245), ".png"


def paper_on_table(digit, rng):
    """A phone photo: a sheet of paper on a darker table, not filling the frame, uneven light."""
    box = rng.uniform(120, 260)
    coverage = draw(digit, box, box * rng.uniform(0.05, 0.08), rng, **shape(rng))
    side = coverage.shape[0]
    frame_height, frame_width = round(side * rng.uniform(1.4, 1.9)), round(side * rng.uniform(1.4, 1.9))
    sheet = np.zeros((frame_height, frame_width), np.float32)
    top, left = (frame_height - side) // 2, (frame_width - side) // 2
    corners = np.array([[left, top], [left + side, top], [left + side, top + side], [left, top + side]], np.float32)
    outward = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32)  # the sheet holds the digit ...
    corners += outward * rng.uniform(0.0, 0.35, corners.shape).astype(np.float32) * side  # ... askew
    cv2.fillConvexPoly(sheet, np.rint(corners).astype(np.int32), 1.0, lineType=cv2.LINE_AA)
    ink = np.zeros_like(sheet)
    ink[top : top + side, left : left + side] = coverage
    paper, table = rng.uniform(180, 235), rng.uniform(40, 110)
    grey = table + (paper - table) * sheet
    grey = grey - (grey - rng.uniform(20, 60)) * ink * sheet
    grey = photo_noise(grey, rng)
    return to_uint8(np.stack([grey * 1.05, grey, grey * 0.88], axis=-1)), ".jpg"


def cast_shadow(digit, rng):
    """A phone's or a hand's shadow across the page: a straight edge, hard or soft."""
    box = rng.uniform(150, 300)
    coverage = draw(digit, box, box * rng.uniform(0.04, 0.08), rng, **shape(rng))
    side = coverage.shape[0]
    rows, columns = np.mgrid[0:side, 0:side]
    angle, offset = rng.uniform(0, np.pi), rng.uniform(0.2, 0.8) * side
    shadow = ((np.cos(angle) * columns + np.sin(angle) * rows) > offset).astype(np.float32)
    shadow = cv2.GaussianBlur(shadow, (0, 0), rng.uniform(1, 15))
    grey = on_paper(coverage, rng.uniform(190, 235), rng.uniform(20, 60)) * (1 - rng.uniform(0.3, 0.5) * shadow)
    return to_uint8(grey + rng.normal(0, 3, grey.shape)), ".jpg"


def ruled_paper(digit, rng):
    box = rng.uniform(150, 350)
    coverage = draw(digit, box, box * rng.uniform(0.025, 0.05), rng, **shape(rng))
    side = coverage.shape[0]
    paper = np.ones((side, side, 3), np.float32) * [250, 248, 240]
    spacing = round(box * rng.uniform(0.2, 0.35))
    offset = rng.integers(0, spacing)
    for y in range(offset, side, spacing):
        paper[y : y + max(1, round(box * 0.008))] = (170, 200, 235)
    if rng.random() < 0.5:  # squared paper
        for x in range(offset, side, spacing):
            paper[:, x : x + max(1, round(box * 0.008))] = (170, 200, 235)
    pen = np.array([30.0, 50.0, 150.0]) if rng.random() < 0.5 else np.array([25.0, 25.0, 30.0])
    rgb = paper - (paper - pen) * coverage[..., None]
    rgb = rgb * lighting((side, side), rng, 0.15)[..., None] + rng.normal(0, 3, rgb.shape)
    return to_uint8(rgb), ".jpg"


def cropped_close(digit, rng):
    """A phone photo cropped to the digit, a few pixels of paper left or none: a thick pen fills it."""
    box = rng.uniform(150, 350)
    coverage = draw(digit, box, box * rng.uniform(0.06, 0.14), rng, **shape(rng))
    coverage = coverage[ink_slices(coverage, margin=round(box * rng.uniform(0.0, 0.06)))]
    grey = on_paper(coverage, rng.uniform(170, 235), rng.uniform(20, 80))
    return to_uint8(photo_noise(grey, rng, 0.1)), ".jpg"


def tablet(digit, rng):
    box = rng.uniform(150, 500)
    coverage = draw(digit, box, box * rng.uniform(0.03, 0.09), rng, **shape(rng))
    rgba = np.zeros((*coverage.shape, 4), np.uint8)
    rgba[..., :3] = 0 if rng.random() < 0.7 else 255
    rgba[..., 3] = to_uint8(coverage * 255)
    return rgba, ".png"


KINDS = {
    "felt pen (scan)": felt_pen_scan,
    "fine pen (big photo)": fine_pen_photo,
    "fat marker": marker,
    "pencil": pencil,
    "chalk on a board": chalk,
    "broken strokes": broken,
    "blurred photo": blurred,
    "noisy scan": noisy_scan,
    "tilted page": tilted,
    "paper on a table (photo)": paper_on_table,
    "shadow across the page": cast_shadow,
    "ruled/squared paper": ruled_paper,
    "cropped close (photo)": cropped_close,
    "tablet canvas (alpha)": tablet,
}


def encode(picture: np.ndarray, suffix: str, rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(picture)
    if suffix == ".jpg":
        image.save(buffer, "JPEG", quality=int(rng.integers(60, 95)))
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-digit", type=int, default=10, help="pictures per digit and kind (default: 10)")
    parser.add_argument("--kinds", help=f"comma-separated subset of: {', '.join(KINDS)} (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()

    from handwriting.backends import PaddleBackend
    from handwriting.recognise import collect, recognise, start_workers
    from handwriting.runtime import quiet_paddle_import_warnings

    quiet_paddle_import_warnings()  # before PaddleBackend imports Paddle
    from handwriting.reports import plot_predictions

    chosen = args.kinds.split(",") if args.kinds else list(KINDS)
    unknown = [name for name in chosen if name not in KINDS]
    if unknown:
        parser.error(f"unknown kind(s) {', '.join(unknown)}; choose from: {', '.join(KINDS)}")
    kinds = {name: KINDS[name] for name in chosen}
    rng = np.random.default_rng(args.seed)
    pool = start_workers()
    backend = PaddleBackend(ROOT / "models" / "cnn.pdparams", device="cpu")
    table, misread = {}, []
    with pool, tempfile.TemporaryDirectory() as scratch:
        for name, make in kinds.items():
            folder = Path(scratch) / name.replace(" ", "_").replace("/", "-").replace(",", "")
            folder.mkdir()
            for digit in range(10):
                for copy in range(args.per_digit):
                    picture, suffix = make(digit, rng)
                    (folder / f"{digit}_{copy:03d}{suffix}").write_bytes(encode(picture, suffix, rng))
            items = collect([str(folder)])
            truth = [Path(item.path).name[0] for item in items]
            row = {}
            for preprocess in ("mnist", "naive"):
                start = time.perf_counter()
                results = list(recognise(items, backend, preprocess, pool=pool, keep_pictures=preprocess == "mnist"))
                seconds = time.perf_counter() - start
                right = sum(result.label == label for result, label in zip(results, truth))
                refused = sum(result.error is not None for result in results)
                row[preprocess] = {"accuracy": right / len(items), "refused": refused, "seconds": seconds}
                if preprocess == "mnist":
                    for result, label in zip(results, truth):
                        if result.label != label:
                            result.path = f"{name}: {label}"
                            misread.append(result)
            row["pictures"] = len(items)
            table[name] = row
            print(
                f"{name:26s} {len(items):5d} pictures: mnist {row['mnist']['accuracy']:7.2%} "
                f"({row['mnist']['refused']} refused)   naive {row['naive']['accuracy']:7.2%}"
            )

    total = sum(row["pictures"] for row in table.values())
    overall = {
        recipe: sum(row[recipe]["accuracy"] * row["pictures"] for row in table.values()) / total
        for recipe in ("mnist", "naive")
    }
    print(f"{'all':26s} {total:5d} pictures: mnist {overall['mnist']:7.2%}   naive {overall['naive']:7.2%}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = describe_machine()
    (out / "own_handwriting.json").write_text(
        json.dumps(
            {"per_digit": args.per_digit, "seed": args.seed, "kinds": table, "overall": overall, "machine": machine},
            indent=2,
        )
        + "\n"
    )
    lines = [
        "# Pictures made the way people make them (`bench/own_handwriting.py`)",
        "",
        f"{args.per_digit} pictures per digit and kind, each one different; shipped `models/cnn`; {machine}.",
        "",
        "| kind | pictures | `--preprocess mnist` | refused (no handwriting found) | `--preprocess naive` |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['pictures']} | {row['mnist']['accuracy']:.1%} | {row['mnist']['refused']} | "
            f"{row['naive']['accuracy']:.1%} |"
        )
    lines.append(f"| **all** | {total} | **{overall['mnist']:.1%}** | | {overall['naive']:.1%} |")
    (out / "own_handwriting.md").write_text("\n".join(lines) + "\n")
    misread_png = out / "own_handwriting_misread.png"
    if misread:
        plot_predictions(misread[:60], misread_png, "misread (kind: true digit)")
    else:
        misread_png.unlink(missing_ok=True)  # not a stale picture from an earlier run
    print(f"wrote {out / 'own_handwriting.md'} ({len(misread)} misread pictures drawn)")


if __name__ == "__main__":
    main()
