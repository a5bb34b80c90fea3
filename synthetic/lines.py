"""Whole lines of digits and what they say: the data the line reader (``handwriting.lines``) learns from.

Each line is 1 to 8 MNIST *training* digits written by ``synthetic.rows.write_row`` (uneven spacing,
a wandering baseline, sizes and slants that vary, broken strokes), with touching pairs more often and
overlapping more than ``bench/read_numbers.py`` writes them (the reader should not learn the bench's
one way of touching). The ink is then made thicker or thinner, and sometimes hard-edged, as cleaning a
photo leaves it, and cut out by ``handwriting.preprocess.line.line_image``, exactly as a person's line
is before it is read. Nothing here knows the bench's photo styles.

    python -m synthetic.lines ~/.cache/paddle/dataset/lines     # lines_train.npz, lines_test.npz
    python -m handwriting.train_lines ~/.cache/paddle/dataset/lines --out models --name lines

The test split is made from MNIST *test* digits, so the reader's test figure is for digits it never saw.
The files are written by ``handwriting.train_lines.packed``, which says what they hold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from synthetic.chunks import made_in_chunks, mnist_or_exit
from synthetic.rows import write_row

SPLITS = {"train": 300_000, "test": 10_000}  # lines per split
LENGTHS = (1, 8)  # digits a line, both included
TOUCHING = (0.1, 0.4)  # the chance that a digit touches the one before, drawn for each line
OVERLAP_UP_TO = (4, 11)  # touching digits overlap 1 px up to this many (drawn for each line; 56 px digits)


def thickened_or_thinned(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float ink [H, W] in [0, 1] -> uint8 ink, its strokes sometimes thicker or thinner, sometimes
    hard-edged, as the clean-up of photos of pens and pencils leaves them."""
    import cv2

    ink = np.round(255 * ink).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    chance = rng.random()
    if chance < 0.25:
        ink = cv2.dilate(ink, kernel, iterations=int(rng.integers(1, 3)))
    elif chance < 0.45:
        ink = cv2.erode(ink, kernel)
    if rng.random() < 0.3:
        ink = np.where(ink > rng.uniform(40, 160), 255, 0).astype(np.uint8)
    return ink


def examples(images: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator):
    """MNIST digits [N, 28, 28] and their labels [N] -> ``count`` lines (uint8 [LINE_HEIGHT, w] each)
    and the digits each one shows, as text."""
    from handwriting.preprocess.line import MAX_WIDTH, line_image

    lines, texts = [], []
    while len(lines) < count:
        chosen = rng.choice(len(images), int(rng.integers(LENGTHS[0], LENGTHS[1] + 1)), replace=False)
        overlap = (1, int(rng.integers(*OVERLAP_UP_TO)))
        row = write_row([images[i] for i in chosen], rng, touching=rng.uniform(*TOUCHING), overlap=overlap)
        line, _, _ = line_image(thickened_or_thinned(row.ink, rng))
        if line.shape[1] <= MAX_WIDTH:
            lines.append(line)
            texts.append("".join(str(int(labels[i])) for i in chosen))
    return lines, texts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder for lines_train.npz and lines_test.npz")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    parser.add_argument("--data-dir", metavar="DIR", help="where MNIST is (default: as handwriting.data)")
    args = parser.parse_args(argv)

    from handwriting.atomic import write_bytes
    from handwriting.train_lines import packed

    mnist_or_exit(args.data_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, made in made_in_chunks(examples, SPLITS, args.data_dir, args.seed):
        lines, texts = [line for m in made for line in m[0]], [text for m in made for text in m[1]]
        write_bytes(out / f"lines_{split}.npz", packed(lines, texts))
        print(f"wrote {len(lines)} {split} lines to {out / f'lines_{split}.npz'}", file=sys.stderr)


if __name__ == "__main__":
    main()
