"""How well whole numbers are read: rows of 3-6 MNIST test digits, found, cut apart and read.

    python bench/read_numbers.py                    # 300 rows per style; writes bench/results/read_numbers.{md,json}
    python bench/read_numbers.py --rows 50 --seed 3

Each row is written by ``synthetic.rows`` from MNIST *test* digits (never training digits): uneven
spacing, a wandering baseline, sizes and slants that vary, touching pairs and broken strokes, as a
drawing app's black on white and as a photo of paper. Each picture goes through the single-character
clean-up (``recipes.ink_of``), ``marks.find_marks`` (with the model's confidence choosing where
touching digits are cut), MNIST's framing of each mark, and the shipped cnn (its ONNX export).
Reported per style: exact-string accuracy (every digit right, none missing, none extra) and
per-digit accuracy (digits read right at their place, over all digits written).

(Not bench/numbers.py: run as a script, that name would stand in for Python's own ``numbers`` module.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402
from synthetic.rows import STYLES, as_picture, write_row  # noqa: E402

LENGTHS = (3, 6)  # digits a row, both included


def read_number(grey: np.ndarray, backend) -> tuple[str, list[float]]:
    """uint8 grey picture -> (the digits read, each one's confidence)."""
    from handwriting.preprocess.frame import frame_mnist
    from handwriting.preprocess.marks import find_marks
    from handwriting.preprocess.recipes import ink_of

    def confidences(crops: list) -> list[float]:
        return backend.probabilities(np.stack([frame_mnist(crop) for crop in crops])).max(axis=1).tolist()

    marks = find_marks(ink_of(grey), score=confidences)
    if not marks:
        return "", []
    probabilities = backend.probabilities(np.stack([frame_mnist(mark.ink) for mark in marks]))
    text = "".join(backend.classes[index] for index in probabilities.argmax(axis=1))
    return text, probabilities.max(axis=1).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300, help="rows per style (default: 300)")
    parser.add_argument("--seed", type=int, default=0, help="which digits and how they are written (default: 0)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()

    from handwriting.backends import make_backend
    from handwriting.data import get_spec, load

    test = load(get_spec("mnist"), log=lambda message: None).splits["test"]
    backend = make_backend("auto")
    results = {}
    for style in STYLES:
        rng = np.random.default_rng([args.seed, STYLES.index(style)])
        exact = digits_right = digits_written = touching = broken = 0
        misread = []
        for _ in range(args.rows):
            length = int(rng.integers(LENGTHS[0], LENGTHS[1] + 1))
            chosen = rng.choice(len(test.labels), length, replace=False)
            truth = "".join(str(int(label)) for label in test.labels[chosen])
            row = write_row([test.images[index] for index in chosen], rng)
            touching, broken = touching + row.touching, broken + row.broken
            text, _ = read_number(as_picture(row.ink, style, rng), backend)
            exact += text == truth
            digits_written += len(truth)
            digits_right += sum(a == b for a, b in zip(text, truth)) if len(text) == len(truth) else 0
            if text != truth and len(misread) < 20:
                misread.append({"written": truth, "read": text})
        results[style] = {
            "rows": args.rows,
            "exact": exact / args.rows,
            "per_digit": digits_right / digits_written,
            "touching_pairs": touching,
            "broken_digits": broken,
            "misread": misread,
        }
        print(f"{style}: exact {exact / args.rows:.1%}, per digit {digits_right / digits_written:.1%}", flush=True)

    machine = describe_machine()
    rows = [
        f"| {style} | {numbers['rows']} | {numbers['exact']:.1%} | {numbers['per_digit']:.1%} | "
        f"{numbers['touching_pairs']} | {numbers['broken_digits']} |"
        for style, numbers in results.items()
    ]
    report = "\n".join(
        [
            "# Reading whole numbers: rows of 3-6 MNIST test digits",
            "",
            f"Machine: {machine}; seed {args.seed}; model: the shipped cnn ({backend.name}). A digit counts as "
            "right only when the whole row was cut into as many marks as it has digits.",
            "",
            "| style | rows | exact string | per digit | touching pairs | broken digits |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "read_numbers.md").write_text(report)
    (out / "read_numbers.json").write_text(json.dumps({"machine": machine, "seed": args.seed, "results": results}, indent=2))


if __name__ == "__main__":
    main()
