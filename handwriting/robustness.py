"""How well do models read damaged digits? Every test image under every corruption, scored.

    python -m handwriting.robustness models/cnn.pdparams                  # table -> runs/robustness.*
    python -m handwriting.robustness models/*.pdparams models/scratch.npz --out-dir bench/results
    python -m handwriting.robustness runs/cnn.pdparams --limit 1000 --only wavy,blur

Each model is scored on its own dataset's test split (the one its card names), clean and under
each corruption of ``handwriting.corruptions`` (the article's damaged digits, MNIST-C's 15, a wider
and a narrower pen), with the same seed for every model so they face the same pixels. It writes:

    <name>.md      a Markdown table per dataset: corruptions down, models across, clean and mean rows
    <name>.json    the same numbers, with each corruption's family and severity
    <name>.<dataset>.png   one test image under every corruption, captioned

The models read the corrupted 28x28 images directly (no picture clean-up): this measures the
network, not ``infer.py``'s preprocessing. The figures go to runs/ unless --out-dir says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handwriting.errors import UserError, counted, describe_os_error, run_at_the_edge
from handwriting.runtime import quiet_paddle_import_warnings

DEFAULT_OUT_DIR = "runs"  # never models/ or bench/results/ unless asked


@dataclass
class ModelScore:
    """One model's accuracy, clean and under each corruption."""

    path: str
    dataset: str
    clean: float
    corrupted: dict[str, float] = field(default_factory=dict)

    @property
    def mean_corrupted(self) -> float:
        return float(np.mean(list(self.corrupted.values())))


def open_model(path: str | Path, device: str = "cpu"):
    """A model ready to give probabilities, by its file: a train.py checkpoint run by Paddle (whose
    gradients back-query uses), a NumPy network or export (.npz), an ONNX or Paddle Inference export."""
    from handwriting.backends import make_backend

    kind = {".npz": "numpy", ".onnx": "onnx", ".paddle": "inference"}.get(Path(path).suffix, "paddle")
    return make_backend(kind, path, device=device)


def accuracy_of(backend, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of uint8 images [N, 28, 28] that ``backend`` reads as their label."""
    right = 0
    for start in range(0, len(images), batch_size):
        predicted = backend.probabilities(images[start : start + batch_size]).argmax(axis=1)
        right += int((predicted == labels[start : start + batch_size]).sum())
    return right / len(images)


def corrupted_test_sets(images: np.ndarray, names: list[str], seed: int) -> dict[str, np.ndarray]:
    """{corruption name: the test images under it}; computed once, shared by every model."""
    from tqdm import tqdm

    from handwriting.corruptions import corrupt

    return {name: corrupt(images, name, seed) for name in tqdm(names, desc="corrupting", leave=False, disable=None)}


def score(paths: list[str], names: list[str], limit: int | None, seed: int, data_dir: str | None, log=print):
    """Score each model in ``paths`` -> (scores, {dataset: (clean images, {name: corrupted})})."""
    from handwriting.data.store import load_for_card

    sets: dict[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = {}
    scores = []
    for path in paths:
        backend = open_model(path)
        data = load_for_card(backend.card, path, data_dir, default="mnist")
        test = data.splits["test"]
        if data.spec.name not in sets:
            images, labels = test.images[:limit], test.labels[:limit]
            log(
                f"{data.spec.name}: {len(images):,} test images under {counted(len(names), 'corruption')} (seed {seed})"
            )
            sets[data.spec.name] = (images, labels, corrupted_test_sets(images, names, seed))
        images, labels, corrupted = sets[data.spec.name]
        result = ModelScore(str(path), data.spec.name, accuracy_of(backend, images, labels))
        for name, damaged in corrupted.items():
            result.corrupted[name] = accuracy_of(backend, damaged, labels)
        log(f"{path}: clean {result.clean:.2%}, mean corrupted {result.mean_corrupted:.2%}")
        scores.append(result)
    return scores, sets


def markdown(scores: list[ModelScore], names: list[str]) -> str:
    """The tables: one per dataset, corruptions down and models across."""
    from handwriting.corruptions import CORRUPTIONS

    lines = []
    for dataset in dict.fromkeys(score.dataset for score in scores):
        group = [score for score in scores if score.dataset == dataset]
        lines += [f"### {dataset}", "", "| corruption | family | " + " | ".join(f"`{s.path}`" for s in group) + " |"]
        lines.append("|---|---|" + "---:|" * len(group))
        lines.append("| **clean** | | " + " | ".join(f"**{s.clean:.2%}**" for s in group) + " |")
        for name in names:
            cells = " | ".join(f"{s.corrupted[name]:.2%}" for s in group)
            lines.append(f"| {name} | {CORRUPTIONS[name].family} | {cells} |")
        lines.append("| **mean corrupted** | | " + " | ".join(f"**{s.mean_corrupted:.2%}**" for s in group) + " |")
        lines.append("")
    lines.append("Severities:")
    lines.append("")
    lines += [f"- `{name}` ({CORRUPTIONS[name].family}): {CORRUPTIONS[name].severity}" for name in names]
    return "\n".join(lines) + "\n"


def example_gallery(images: np.ndarray, corrupted: dict[str, np.ndarray], index: int, path: Path, title: str) -> None:
    """Test image ``index`` clean and under each corruption, captioned, as a PNG."""
    from handwriting.reports import plot_gallery

    pictures = np.stack([images[index]] + [damaged[index] for damaged in corrupted.values()])
    plot_gallery(pictures, ["clean", *corrupted], path, title, columns=8)


def write_report(
    scores, sets, names, out_dir: Path, name: str, seed: int, limit: int | None, example: int
) -> list[Path]:
    """The .md, .json and one .png per dataset; returns their paths."""
    from handwriting.atomic import write_bytes
    from handwriting.corruptions import CORRUPTIONS

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{name}.md", out_dir / f"{name}.json"]
    header = (
        f"# Robustness: accuracy on damaged test images\n\n"
        f"`python -m handwriting.robustness {' '.join(s.path for s in scores)}` "
        f"(seed {seed}{'' if limit is None else f', first {limit:,} test images'}). "
        "Each model reads the corrupted 28x28 images directly.\n\n"
    )
    write_bytes(written[0], (header + markdown(scores, names)).encode())
    report = {
        "seed": seed,
        "limit": limit,
        "corruptions": {n: {"family": CORRUPTIONS[n].family, "severity": CORRUPTIONS[n].severity} for n in names},
        "models": [
            {
                "path": s.path,
                "dataset": s.dataset,
                "clean": s.clean,
                "mean_corrupted": s.mean_corrupted,
                "corrupted": s.corrupted,
            }
            for s in scores
        ],
    }
    write_bytes(written[1], (json.dumps(report, indent=2) + "\n").encode())
    for dataset, (images, _labels, corrupted) in sets.items():
        picture = out_dir / f"{name}.{dataset}.png"
        shown = min(example, len(images) - 1)  # a dataset with fewer test images shows its last
        example_gallery(images, corrupted, shown, picture, f"{dataset} test image {shown}, damaged")
        written.append(picture)
    return written


def parse_names(text: str | None) -> list[str]:
    """--only's comma-separated corruption names (all of them when not given), checked."""
    from handwriting.corruptions import CORRUPTIONS

    if not text:
        return list(CORRUPTIONS)
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in CORRUPTIONS]
    if not names:
        raise UserError(f"--only {text!r} names no corruption; choose from {', '.join(CORRUPTIONS)}")
    if unknown:
        raise UserError(f"--only: unknown corruption {', '.join(unknown)}; choose from {', '.join(CORRUPTIONS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    quiet_paddle_import_warnings()
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.robustness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="checkpoints (.pdparams) or NumPy networks (.npz)")
    parser.add_argument("--only", metavar="A,B", help="only these corruptions, comma-separated (default: all)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N test images (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="the corruptions' random seed (default: %(default)s)")
    parser.add_argument("--example", type=int, default=0, help="which test image the PNG shows (default: %(default)s)")
    parser.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    parser.add_argument(
        "--out-dir", default=DEFAULT_OUT_DIR, metavar="DIR", help="where the files go (default: %(default)s)"
    )
    parser.add_argument("--name", default="robustness", help="the files' name (default: %(default)s)")
    args = parser.parse_args(argv)

    def work() -> None:
        from handwriting.backquery import check_model_file
        from handwriting.runtime import use_all_cores

        if args.limit is not None and args.limit < 1:
            raise UserError(f"--limit must be at least 1, got {args.limit}")
        if args.seed < 0 or args.example < 0 or (args.limit is not None and args.example >= args.limit):
            raise UserError(
                f"--seed must be at least 0 and --example a test image's index, got {args.seed}, {args.example}"
            )
        names = parse_names(args.only)
        for path in args.models:
            check_model_file(path)
        use_all_cores()
        scores, sets = score(args.models, names, args.limit, args.seed, args.data_dir)
        try:
            written = write_report(
                scores, sets, names, Path(args.out_dir), args.name, args.seed, args.limit, args.example
            )
        except OSError as error:
            raise UserError(
                f"cannot write into {args.out_dir}: {describe_os_error(error)}; choose another --out-dir"
            ) from None
        print(markdown(scores, names).split("\nSeverities:")[0])
        print("wrote " + ", ".join(str(path) for path in written))

    return run_at_the_edge(work, interrupted="interrupted")


if __name__ == "__main__":
    sys.exit(main())
