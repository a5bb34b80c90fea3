"""How many MNIST test digits does the shipped model read once they are re-drawn as people send them?

    python bench/redrawn.py              # prints the figures, writes bench/results/redrawn.{md,json}
    python bench/redrawn.py --count 200 --seed 7

The README's figure: ``--count`` MNIST test digits (chosen at random, without repeats, by
``--seed``) are each re-drawn by ``synthetic.redraw`` as a photo of a digit on paper — dark ink
on grey paper, 3-8x larger, off-centre, a wider pen, uneven light, sensor noise, JPEG — and read
by the shipped ``models/cnn`` after each of the two preprocessing recipes ``infer.py`` offers:
``--preprocess mnist`` (find the ink, frame it as MNIST was framed) and ``naive`` (squash the
whole picture to 28x28 and invert it). The labels are MNIST's, so every answer can be checked.

The set-up is deterministic: the same seed gives the same pictures and the same figures.
``tests/test_infer.py`` re-draws the first 100 of the digits recorded in bench/results/redrawn.json
with this bench's own ``redrawn_test_digits`` and ``read_all``, as a fast smoke check, and expects
the counts recorded for them (``first_100_right``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402
from synthetic.redraw import redraw  # noqa: E402

RECIPES = ("mnist", "naive")
SMOKE_COUNT = 100  # the first pictures, which tests/test_infer.py re-draws too


def redrawn_test_digits(images: np.ndarray, labels: np.ndarray, count: int, seed: int, first: int | None = None):
    """MNIST test split -> (chosen indices, photos: list of uint8 grey [H, W], labels) of ``count``
    digits chosen at random, or of only the ``first`` of them.

    The pictures are drawn in order from one generator, so the first n of them are the same
    whatever ``count`` is, as long as the chosen indices are: ``rng.choice`` depends on ``count``.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), count, replace=False)[:first]
    photos = [redraw(images[index], rng) for index in chosen]
    return chosen, photos, labels[chosen]


def read_all(photos: list[np.ndarray], recipe: str, backend) -> tuple[np.ndarray, int, float]:
    """Photos -> (predicted class per photo, -1 where the recipe found no handwriting; refused; seconds)."""
    from handwriting.preprocess import PREPROCESSORS, NoInkError

    prepare = PREPROCESSORS[recipe]
    start = time.perf_counter()
    frames, kept = [], []
    for index, photo in enumerate(photos):
        try:
            frames.append(prepare(photo))  # uint8 [28, 28], white ink on black
            kept.append(index)
        except NoInkError:
            pass  # counted as not read
    predicted = np.full(len(photos), -1)
    if frames:
        predicted[kept] = backend.probabilities(np.stack(frames)).argmax(axis=1)  # frames: [N, 28, 28]
    return predicted, len(photos) - len(kept), time.perf_counter() - start


def measure(images: np.ndarray, labels: np.ndarray, backend, count: int, seed: int) -> dict:
    """Re-draw ``count`` of the test digits and read them after each recipe, printing the figures
    -> {"recipes": per recipe, "misread_mnist": [...], "photo_sides": [min, max] px, "drawing_seconds"}."""
    start = time.perf_counter()
    chosen, photos, truth = redrawn_test_digits(images, labels, count, seed)
    drawing_seconds = time.perf_counter() - start
    sizes = np.array([photo.shape for photo in photos])  # [count, 2]: height, width
    sides = [int(sizes.min()), int(sizes.max())]
    print(
        f"{count} MNIST test digits (seed {seed}) re-drawn in {drawing_seconds:.1f} s, {sides[0]}-{sides[1]} px a side"
    )

    recipes, misread = {}, []
    smoke = min(SMOKE_COUNT, count)
    for recipe in RECIPES:
        predicted, refused, seconds = read_all(photos, recipe, backend)
        right = predicted == truth
        recipes[recipe] = {
            "right": int(right.sum()),
            "accuracy": float(right.mean()),
            "refused": refused,
            f"first_{smoke}_right": int(right[:smoke].sum()),
            # The share of each digit read correctly; None for a digit not drawn (a small --count).
            "per_digit": {
                str(digit): float(right[truth == digit].mean()) if (truth == digit).any() else None
                for digit in range(10)
            },
            "most_common_answer": int(np.bincount(predicted[predicted >= 0], minlength=10).argmax()),
            "seconds": seconds,
        }
        if recipe == "mnist":
            misread = [
                {"test_index": int(chosen[index]), "label": int(truth[index]), "read": int(predicted[index])}
                for index in np.flatnonzero(~right)
            ]
        print(
            f"--preprocess {recipe:5s}: {right.sum():4d} of {count} read correctly ({right.mean():.1%}), "
            f"{refused} refused; first {smoke}: {right[:smoke].sum()}; {seconds:.1f} s"
        )
    for row in misread:
        print(f"  misread (mnist): test digit {row['test_index']:5d}, a {row['label']}, read as {row['read']}")
    return {
        "recipes": recipes,
        "misread_mnist": misread,
        "photo_sides": sides,
        "drawing_seconds": drawing_seconds,
    }


def write_report(results: dict, out: Path) -> None:
    """``results`` (``measure``'s, with count, seed, model and machine) -> out/redrawn.json and a table in .md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "redrawn.json").write_text(json.dumps(results, indent=2) + "\n")
    count, (smallest, largest) = results["count"], results["photo_sides"]
    lines = [
        "# MNIST test digits re-drawn as photos (`bench/redrawn.py`)",
        "",
        f"{count} MNIST test digits (seed {results['seed']}), each re-drawn by `synthetic.redraw` as a photo "
        f"({smallest}-{largest} px a side, JPEG); `{results['model']}`; {results['machine']}.",
        "",
        "The last ten columns: the share of each digit read correctly.",
        "",
        "| recipe | read correctly | accuracy | refused (no handwriting found) | most common answer | "
        + " | ".join(f"{digit}s" for digit in range(10))
        + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * 10,
    ]
    for recipe, row in results["recipes"].items():
        per_digit = " | ".join(
            "–" if share is None else f"{share:.1%}" for share in (row["per_digit"][str(digit)] for digit in range(10))
        )
        lines.append(
            f"| `--preprocess {recipe}` | {row['right']} of {count} | **{row['accuracy']:.1%}** | "
            f"{row['refused']} | {row['most_common_answer']} | {per_digit} |"
        )
    misread = results["misread_mnist"]
    lines += ["", "Misread with `--preprocess mnist` (MNIST test index: label -> read):", ""]
    lines += [f"- {row['test_index']}: {row['label']} -> {row['read']}" for row in misread] or ["- none"]
    (out / "redrawn.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'redrawn.md'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="MNIST test digits to re-draw (default: 1000)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default: 2024)")
    parser.add_argument(
        "--model", default=str(ROOT / "models" / "cnn.pdparams"), help="checkpoint (default: models/cnn.pdparams)"
    )
    parser.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()
    if not 1 <= args.count <= 10_000:
        parser.error("--count must be from 1 to 10000 (the MNIST test split)")

    from handwriting.backends import PaddleBackend
    from handwriting.data import get_spec, load
    from handwriting.errors import UserError
    from handwriting.runtime import quiet_paddle_import_warnings

    quiet_paddle_import_warnings()  # before PaddleBackend imports Paddle

    try:
        test = load(get_spec("mnist"), args.data_dir, download=False, log=lambda message: None).splits["test"]
        backend = PaddleBackend(args.model, device="cpu")
    except UserError as error:
        sys.exit(f"error: {error}")

    figures = measure(test.images, test.labels, backend, args.count, args.seed)
    results = {"count": args.count, "seed": args.seed, "model": os.path.relpath(args.model, ROOT), **figures}
    write_report({**results, "machine": describe_machine()}, Path(args.out))


if __name__ == "__main__":
    main()
