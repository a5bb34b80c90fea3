"""Does the framing follow the dataset? Fashion-MNIST test pictures photographed again, read by infer.py.

    python bench/fashion_photos.py            # prints the figures, writes bench/results/fashion_photos.{md,json}
    python bench/fashion_photos.py --count 200 --seed 7

Fashion-MNIST's pictures are Zalando's product photos, trimmed to the garment, scaled so that the
longest side is 28 px, and negated (light garment on black). Here ``--count`` test pictures (chosen
at random by ``--seed``) are turned back into what a shop's photo looks like: dark garment on
near-white paper, 6-10x larger, off-centre, with sensor noise. The shipped ``models/fashion-cnn``
then reads each through ``infer.py``'s recipes: ``fill`` (the clean-up, then Fashion-MNIST's own
framing: what ``--preprocess auto`` picks from the model's card), ``mnist`` (the same clean-up,
then MNIST's 20 px box and centre of mass: the framing of the wrong dataset) and ``naive`` (squash
and invert). ``direct`` is the model on the test pictures themselves, the ceiling.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402

RECIPES = ("fill", "mnist", "naive")


def photographed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 [28, 28] Fashion-MNIST picture (light on black) -> uint8 grey photo [H, W]: dark on
    near-white paper, enlarged 6-10x, placed off-centre, with a little noise."""
    import cv2

    scale = rng.uniform(6, 10)
    side = round(28 * scale)
    garment = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    paper = rng.uniform(225, 250)
    height, width = side + int(rng.integers(60, 200)), side + int(rng.integers(60, 200))
    photo = np.full((height, width), paper, dtype=np.float32)
    top, left = int(rng.integers(10, height - side - 10)), int(rng.integers(10, width - side - 10))
    # the negated garment: paper where the picture is black, darker where it is light
    photo[top : top + side, left : left + side] = paper * (1 - garment / 255.0) + 10 * (garment / 255.0)
    photo += rng.normal(0, 3, photo.shape)
    return np.clip(np.rint(photo), 0, 255).astype(np.uint8)


def measure(images: np.ndarray, labels: np.ndarray, backend, count: int, seed: int) -> dict:
    """Photograph ``count`` test pictures again and read them with each recipe -> the figures."""
    from handwriting.preprocess import PREPROCESSORS, NoInkError

    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), count, replace=False)
    photos = [photographed(images[index], rng) for index in chosen]
    truth = labels[chosen]
    figures = {"direct": int((backend.probabilities(images[chosen]).argmax(axis=1) == truth).sum())}
    for recipe in RECIPES:
        frames, kept = [], []
        for index, photo in enumerate(photos):
            try:
                frames.append(PREPROCESSORS[recipe](photo))
                kept.append(index)
            except NoInkError:
                pass
        predicted = np.full(count, -1)
        if frames:
            predicted[kept] = backend.probabilities(np.stack(frames)).argmax(axis=1)
        figures[recipe] = int((predicted == truth).sum())
    return {"count": count, "seed": seed, "right": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="test pictures to photograph (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=2024, help="which pictures and how (default: %(default)s)")
    parser.add_argument("--model", default=str(ROOT / "models" / "fashion-cnn.pdparams"), help="a Fashion-MNIST model")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder for the figures")
    parser.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    args = parser.parse_args(argv)

    from handwriting.backends import PaddleBackend
    from handwriting.data import get_spec, load

    test = load(get_spec("fashion-mnist"), args.data_dir).splits["test"]
    backend = PaddleBackend(args.model)
    result = measure(test.images, test.labels, backend, args.count, args.seed)
    result["model"] = args.model if not args.model.startswith(str(ROOT)) else str(Path(args.model).relative_to(ROOT))
    result["machine"] = describe_machine()
    lines = [
        f"Fashion-MNIST test pictures photographed again (seed {args.seed}), read by {result['model']}:",
        "",
        "| how | right | of |",
        "|---|---:|---:|",
    ]
    names = {
        "direct": "the test pictures themselves (no photo)",
        "fill": "photo, `--preprocess auto` = fill (Fashion-MNIST's framing)",
        "mnist": "photo, `--preprocess mnist` (MNIST's framing)",
        "naive": "photo, `--preprocess naive`",
    }
    for key, name in names.items():
        right = result["right"][key]
        lines.append(f"| {name} | {right / args.count:.1%} | {args.count:,} |")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fashion_photos.md").write_text(text + "\n", encoding="utf-8")
    (out / "fashion_photos.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
