"""One character, or two touching? A dataset to teach a model the difference.

A model trained on single characters reads two touching ones as one, and confidently: a "94" is a 4
at 99.99%. ``handwriting.preprocess.marks`` must decide whether a wide mark is two characters, so
``models/touching`` is trained on what it will be asked about: MNIST *training* digits written as
``synthetic.rows`` writes them (slant, size, broken strokes), alone (class 0) or two of them touching
(class 1), each framed as MNIST frames a character. It is written as a CSV dataset, which
``train.py --dataset csv:DIR/touching`` reads:

    python -m synthetic.touching data/touching      # touching_{train,test}.csv, touching_classes.txt
    python train.py --dataset csv:data/touching/touching --recipe fast --name touching --out models

The test split is made from MNIST *test* digits, so the figure train.py prints is for digits the
model never saw.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from synthetic.rows import write_row

CLASSES = ("one", "two touching")
SPLITS = {"train": 60_000, "test": 10_000}  # examples per split, half of each class


def examples(images: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits [N, 28, 28] -> ``count`` framed marks uint8 [count, 28, 28] and their classes
    [count]: alone (0) or two touching (1), in a random order."""
    from handwriting.preprocess.frame import frame_mnist

    frames, labels = [], []
    for index in range(count):
        two = index % 2
        chosen = rng.choice(len(images), 1 + two, replace=False)
        row = write_row([images[i] for i in chosen], rng, touching=1.0)
        frames.append(frame_mnist(np.round(255 * row.ink).astype(np.uint8)))
        labels.append(two)
    order = rng.permutation(count)
    return np.stack(frames)[order], np.array(labels)[order]


def write_csv(path: Path, frames: np.ndarray, labels: np.ndarray) -> None:
    """``label,p0,...,p783`` a line, as ``handwriting.data.csvfiles`` reads, written atomically (by
    the writer of ``python -m handwriting.data export --csv``)."""
    from handwriting.data import DatasetSpec, SplitArrays
    from handwriting.data.csvfiles import write_split

    spec = DatasetSpec(name="touching", title="one character or two touching", classes=CLASSES, splits={})
    write_split(path, SplitArrays(frames, labels.astype(np.int64)), spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder for touching_train.csv, touching_test.csv and touching_classes.txt")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    parser.add_argument("--data-dir", metavar="DIR", help="where MNIST is (default: as handwriting.data)")
    args = parser.parse_args(argv)

    from handwriting.data import get_spec, load
    from handwriting.errors import UserError

    try:
        mnist = load(get_spec("mnist"), args.data_dir)
    except UserError as error:
        sys.exit(f"error: {error}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for number, (split, count) in enumerate(SPLITS.items()):
        frames, labels = examples(mnist.splits[split].images, count, np.random.default_rng([args.seed, number]))
        write_csv(out / f"touching_{split}.csv", frames, labels)
        print(f"wrote {count} {split} examples to {out / f'touching_{split}.csv'}", file=sys.stderr)
    (out / "touching_classes.txt").write_text("\n".join(CLASSES) + "\n")


if __name__ == "__main__":
    main()
