"""Learn from your misreads: does fine-tuning on 20 misread pictures fix them without forgetting?

    python bench/finetune.py            # prints the figures, writes bench/results/finetune.{md,json}

The pictures a person would collect: MNIST *training* digits re-drawn as photos of paper by
``synthetic.redraw`` (dark ink, off-centre, uneven light, JPEG), read through ``infer.py``'s own
preprocessing by the shipped model, keeping the first ``--count`` it misreads. Their labels are
MNIST's. ``train.py --finetune`` then learns them (with replay of MNIST's training set), and the
bench reports, before and after:

- how many of those pictures are read right (the goal: at least 18 of 20);
- a second photo of each of the same digits (another re-draw, never trained on): does it
  generalise to the person's next picture of that digit, or only remember the photo?
- MNIST test accuracy (the goal: down by at most 0.1 point).

Picture ``i`` is ``redraw(train_images[index], default_rng([seed, index]))``, so any of them can be
re-made from its index alone: ``tests/test_finetune.py`` re-makes the recorded ones and checks the
fine-tune again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402
from synthetic.redraw import redraw  # noqa: E402

SEED = 12
SECOND_PHOTO = 1_000_003  # added to the seed for the held-out second photo of each digit


def photo_of(images: np.ndarray, index: int, seed: int) -> np.ndarray:
    """The re-drawn photo of MNIST training digit ``index`` for ``seed``: grey uint8 [H, W]."""
    return redraw(images[index], np.random.default_rng([seed, int(index)]))


def find_misread(images, labels, backend, count: int, seed: int, framing: str = "mnist") -> list[int]:
    """Training indices (in a seeded random order) whose photo ``backend`` misreads, the first ``count``."""
    from handwriting.preprocess import PREPROCESSORS, NoInkError

    prepare = PREPROCESSORS[framing]
    order = np.random.default_rng(seed).permutation(len(labels))
    found: list[int] = []
    for start in range(0, len(order), 256):
        chunk, frames = [], []
        for index in order[start : start + 256]:
            try:
                frames.append(prepare(photo_of(images, index, seed)))
                chunk.append(int(index))
            except NoInkError:
                continue  # infer.py would say "no handwriting found": not a misread to learn from
        predicted = backend.probabilities(np.stack(frames)).argmax(axis=1)
        found += [index for index, answer in zip(chunk, predicted) if answer != labels[index]]
        if len(found) >= count:
            return found[:count]
    raise RuntimeError(f"only {len(found)} misread photos in the whole training set")


def write_pictures(images, labels, indices: list[int], seed: int, folder: Path) -> None:
    """Each photo as ``<label>_<index>.png`` in ``folder`` (the label-in-the-name layout --pictures reads)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for index in indices:
        cv2.imwrite(str(folder / f"{labels[index]}_{index}.png"), photo_of(images, index, seed))


def read_right(backend, folder: Path) -> int:
    """How many pictures in ``folder`` (named ``<label>_*.png``) ``backend`` reads as their label."""
    from handwriting.finetune import find_labelled, prepare_labelled

    mine = prepare_labelled(find_labelled(folder, backend.classes), backend.framing)
    return int((backend.probabilities(mine.frames).argmax(axis=1) == mine.labels).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "cnn.pdparams"), help="(default: models/cnn.pdparams)")
    parser.add_argument("--count", type=int, default=20, help="misread pictures to learn (default: 20)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"(default: {SEED})")
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning steps (default: train.py's)")
    parser.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default: train.py's)")
    parser.add_argument("--batch-size", type=int, default=None, help="fine-tuning batch (default: train.py's)")
    parser.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()

    from handwriting.backends import PaddleBackend
    from handwriting.data import get_spec, load
    from handwriting.finetune import DEFAULT_BATCH, DEFAULT_LR, DEFAULT_STEPS, finetune
    from handwriting.runtime import quiet_paddle_import_warnings, use_all_cores

    quiet_paddle_import_warnings()
    use_all_cores()
    train = load(get_spec("mnist"), args.data_dir, download=False, log=lambda message: None).splits["train"]
    backend = PaddleBackend(args.model, device="cpu")
    indices = find_misread(train.images, train.labels, backend, args.count, args.seed, backend.framing)
    print(f"{len(indices)} misread photos of MNIST training digits: {indices}")
    with tempfile.TemporaryDirectory() as scratch:
        mine, second = Path(scratch) / "mine", Path(scratch) / "second"
        write_pictures(train.images, train.labels, indices, args.seed, mine)
        write_pictures(train.images, train.labels, indices, args.seed + SECOND_PHOTO, second)
        second_before = read_right(backend, second)
        card, weights = finetune(
            args.model,
            mine,
            out=Path(scratch) / "runs",
            steps=args.steps or DEFAULT_STEPS,
            lr=args.lr or DEFAULT_LR,
            batch_size=args.batch_size or DEFAULT_BATCH,
            data_dir=args.data_dir,
        )
        second_after = read_right(PaddleBackend(weights, device="cpu"), second)
    tuned = card["finetune"]
    results = {
        "model": os.path.relpath(args.model, ROOT),
        "seed": args.seed,
        "indices": indices,
        "labels": [int(train.labels[index]) for index in indices],
        **{key: tuned[key] for key in ("count", "steps", "lr", "batch_size", "picture_share", "seconds")},
        "read_right_before": tuned["read_right_before"],
        "read_right_after": tuned["read_right_after"],
        "second_photo_right_before": second_before,
        "second_photo_right_after": second_after,
        "test_accuracy_before": tuned["test_accuracy_before"],
        "test_accuracy_after": tuned["test_accuracy_after"],
        "machine": describe_machine(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "finetune.json").write_text(json.dumps(results, indent=2) + "\n")
    count = results["count"]
    lines = [
        "# Learning from your misreads (`bench/finetune.py`)",
        "",
        f"{count} photos of MNIST training digits that `{results['model']}` misreads (seed {args.seed}), learned by "
        f"`train.py --finetune` in {results['steps']} steps (batch {results['batch_size']}, a quarter of it the "
        f"photos, the rest MNIST replay; lr {results['lr']}; {results['seconds']:.0f} s); {results['machine']}.",
        "",
        "| | before | after |",
        "|---|---:|---:|",
        f"| the {count} photos, read right | {results['read_right_before']} | **{results['read_right_after']}** |",
        f"| a second photo of each digit (not trained on) | {second_before} | {second_after} |",
        f"| MNIST test accuracy | {results['test_accuracy_before']:.2%} | **{results['test_accuracy_after']:.2%}** |",
    ]
    (out / "finetune.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[4:]))
    print(f"wrote {out / 'finetune.md'}")


if __name__ == "__main__":
    main()
