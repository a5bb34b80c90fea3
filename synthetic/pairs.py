"""One digit, or two touching digits, and which: a dataset for the model that helps read numbers.

A model trained on single digits reads two touching ones as one, and confidently: a "94" is a 4 at
99.99%. ``handwriting.preprocess.marks`` must decide whether a wide mark is two digits and where to
cut it, so ``models/pairs`` is trained on what it will be asked about: MNIST *training* digits
written as ``synthetic.rows`` writes them (size, slant, broken strokes), alone (classes "0" to "9")
or two of them touching (classes "00" to "99"), each framed as MNIST frames a character. The pairs
overlap by 1 to 9 px at the rows' 56 px digit height, more spread than the 2 to 5 px
``bench/read_numbers.py`` writes, so the model does not learn the bench's one way of touching. It
is written as a CSV dataset, which ``train.py --dataset csv:DIR/pairs`` reads:

    python -m synthetic.pairs data/pairs        # pairs_{train,test}.csv, pairs_classes.txt
    python train.py --dataset csv:data/pairs/pairs --recipe fast --epochs 8 --name pairs --out models

The test split is made from MNIST *test* digits, so the figure train.py prints is for digits the
model never saw.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from synthetic.chunks import made_in_chunks, mnist_or_exit
from synthetic.rows import write_row

DIGIT_NAMES = tuple(str(digit) for digit in range(10))
CLASSES = DIGIT_NAMES + tuple(first + second for first in DIGIT_NAMES for second in DIGIT_NAMES)  # "0".."9", "00".."99"
SPLITS = {"train": 400_000, "test": 40_000}  # examples per split, half of them pairs
# px the second digit is written into the first (synthetic.rows.write_row): at 1 px the two may just
# miss each other, and the model also learns two digits close together as a pair
OVERLAP = (1, 10)


def examples(images: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator):
    """MNIST digits [N, 28, 28] and their labels [N] -> ``count`` framed marks uint8 [count, 28, 28]
    and their classes [count] (indices into ``CLASSES``): every other one a pair."""
    from handwriting.preprocess.frame import frame_mnist

    frames, classes = [], []
    for index in range(count):
        two = index % 2
        chosen = rng.choice(len(images), 1 + two, replace=False)
        row = write_row([images[i] for i in chosen], rng, touching=1.0, overlap=OVERLAP)
        frames.append(frame_mnist(np.round(255 * row.ink).astype(np.uint8)))
        digits = [int(labels[i]) for i in chosen]
        classes.append(digits[0] if not two else len(DIGIT_NAMES) + 10 * digits[0] + digits[1])
    return np.stack(frames), np.array(classes, np.int64)


def write_csv(path: Path, frames: np.ndarray, labels: np.ndarray) -> None:
    """``label,p0,...,p783`` a line, as ``handwriting.data.csvfiles`` reads, written atomically (by
    the writer of ``python -m handwriting.data export --csv``)."""
    from handwriting.data import DatasetSpec, SplitArrays
    from handwriting.data.csvfiles import write_split

    spec = DatasetSpec(name="pairs", title="one digit or two touching", classes=CLASSES, splits={})
    write_split(path, SplitArrays(frames, labels), spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder for pairs_train.csv, pairs_test.csv and pairs_classes.txt")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    parser.add_argument("--data-dir", metavar="DIR", help="where MNIST is (default: as handwriting.data)")
    args = parser.parse_args(argv)

    from handwriting.atomic import write_bytes

    mnist_or_exit(args.data_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, made in made_in_chunks(examples, SPLITS, args.data_dir, args.seed):
        frames, labels = np.concatenate([m[0] for m in made]), np.concatenate([m[1] for m in made])
        write_csv(out / f"pairs_{split}.csv", frames, labels)
        print(f"wrote {len(labels)} {split} examples to {out / f'pairs_{split}.csv'}", file=sys.stderr)
    write_bytes(out / "pairs_classes.txt", ("\n".join(CLASSES) + "\n").encode())


if __name__ == "__main__":
    main()
