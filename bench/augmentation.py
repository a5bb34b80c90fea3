"""What augmentation buys: clean and corrupted test accuracy, with and without it.

    python bench/augmentation.py --part article   # the article's net, ±10° copies, an angle sweep (~30 min)
    python bench/augmentation.py --part cnn       # the cnn under five recipes, same steps each (~25 min)
    python bench/augmentation.py --picture        # only the picture of one digit and its augmented copies

Two questions, each a part (run them one after the other or side by side; each writes its own
bench/results/augmentation_<part>.json, and bench/results/augmentation.md is rebuilt from both):

``article``  Make Your Own Neural Network's set-up exactly — 784-200-10 sigmoid net without biases,
             squared error, plain SGD at 0.1, one digit at a time, inputs 0.01-1 — trained by the NumPy
             network with and without the ±10° copies, for 1 and 10 epochs, and an angle sweep
             (±5° to ±30° copies, 1 epoch). The article reports 0.954 -> 0.9669 for one epoch.
``cnn``      the shipped cnn's network and optimiser, trained for the same number of steps (three
             epochs of MNIST; rotate10's three-times-larger set gets one) under ``none``, ``rotate10``,
             ``affine``, ``wave`` and ``distort``; each scored on the clean test set and on the robustness
             table's corruptions (``handwriting.robustness``).

Every run is seeded: the same command gives the same figures on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

from bench.machine import describe_machine  # noqa: E402

ARTICLE_ANGLES = (5, 10, 15, 20, 25, 30)
CNN_RECIPES = ("none", "rotate10", "affine", "wave", "distort")
CNN_EPOCHS = 3  # of MNIST; rotate10's set is three times larger, so it gets one: the same steps
# The corruptions some recipe imitates in training: the wave (``wave`` and ``distort``), ``distort``'s
# pens and noise, and the geometry all three share. No recipe imitates the others, and their mean says
# whether robustness carries over to damage nothing taught.
GEOMETRY = "`affine`, `wave` and `distort` (in part)"
IMITATED = {
    "wavy": "`wave` and `distort`",
    **{name: "`distort`" for name in ("blur", "gaussian-noise", "shot-noise", "thick", "thin")},
    **{name: GEOMETRY for name in ("rotate", "shear", "scale", "translate")},
}


def untaught_mean(corrupted: dict[str, float]) -> float:
    """Mean accuracy over the corruptions no recipe imitates."""
    return float(np.mean([value for name, value in corrupted.items() if name not in IMITATED]))


def load_mnist(data_dir: str | None):
    from handwriting.data import get_spec, load

    return load(get_spec("mnist"), data_dir, download=False, log=lambda message: None)


# ----------------------------------------------------------------------------- the article's set-up


def article_config(epochs: int):
    """Make Your Own Neural Network's training, as ``handwriting.scratch`` spells it."""
    from handwriting.scratch.train import ScratchConfig

    return ScratchConfig(
        hidden=(200,),
        activation="sigmoid",
        loss="squared-error",
        optimizer="sgd",
        lr=0.1,
        lr_decay=1.0,
        epochs=epochs,
        batch_size=1,
        augment="none",  # the copies are made here, for any angle
        inputs="0.01-to-1",
        init="article",
        bias=False,
    )


def run_article(data_dir: str | None, log=print) -> list[dict]:
    """One row per run: angle (0 = no copies), epochs, test accuracy, seconds."""
    from handwriting.rotation import with_rotated_copies
    from handwriting.scratch.train import fit

    data = load_mnist(data_dir)
    train, test = data.splits["train"], data.splits["test"]
    plan = [(0, 1), (10, 1), (0, 10), (10, 10)] + [(angle, 1) for angle in ARTICLE_ANGLES if angle != 10]
    rows = []
    for angle, epochs in plan:
        images, labels = (
            with_rotated_copies(train.images, train.labels, (float(angle), -float(angle)))
            if angle
            else (train.images, train.labels)
        )
        started = time.perf_counter()
        _, history = fit(article_config(epochs), (images, labels), (test.images, test.labels))
        row = {
            "angle": angle,
            "epochs": epochs,
            "train_images": int(len(labels)),
            "test_accuracy": history[-1]["test_accuracy"],
            "per_epoch": [record["test_accuracy"] for record in history],
            "seconds": time.perf_counter() - started,
        }
        log(f"article net, copies ±{angle}°, {epochs} epoch(s): {row['test_accuracy']:.2%} ({row['seconds']:.0f} s)")
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- the cnn's recipes


def run_cnn(data_dir: str | None, log=print) -> list[dict]:
    """One row per recipe: clean and corrupted accuracy after the same number of steps."""
    from handwriting.config import TrainConfig
    from handwriting.corruptions import CORRUPTIONS
    from handwriting.engine import fit
    from handwriting.robustness import score

    data = load_mnist(data_dir)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for recipe in CNN_RECIPES:
            epochs = 1 if recipe == "rotate10" else CNN_EPOCHS
            config = TrainConfig(augment=recipe, epochs=epochs, out=scratch, name=f"cnn-{recipe}", data_dir=data_dir)
            started = time.perf_counter()
            card = fit(config, data=data, log=lambda line: None)
            seconds = time.perf_counter() - started
            checkpoint = str(Path(scratch) / f"cnn-{recipe}.pdparams")
            scores, _ = score([checkpoint], list(CORRUPTIONS), None, 0, data_dir, log=lambda line: None)
            result = scores[0]
            rows.append(
                {
                    "recipe": recipe,
                    "epochs": epochs,
                    "steps": len(card["epochs"]) * -(-card["dataset"]["train"] // config.batch_size),
                    "clean": result.clean,
                    "mean_corrupted": result.mean_corrupted,
                    "corrupted": result.corrupted,
                    "seconds": seconds,
                }
            )
            log(
                f"cnn, --augment {recipe}: clean {result.clean:.2%}, mean corrupted {result.mean_corrupted:.2%} "
                f"({seconds:.0f} s)"
            )
    return rows


# ----------------------------------------------------------------------------- the picture


def draw_picture(data_dir: str | None, out: Path, index: int = 0, copies: int = 8) -> None:
    """MNIST training digit ``index`` beside its augmented copies under each recipe, as a PNG."""
    import paddle

    from handwriting.augment import DAMAGED_SHARE, random_affine, random_distort, random_wave
    from handwriting.preprocess import normalize
    from handwriting.reports import plot_gallery
    from handwriting.rotation import rotate

    digit = load_mnist(data_dir).splits["train"].images[index]
    pictures = [digit, rotate(digit[None], 10.0)[0], rotate(digit[None], -10.0)[0]]
    captions = ["the digit", "rotate10: +10°", "rotate10: -10°"]
    pictures += [None] * (copies - 3)
    captions += [""] * (copies - 3)
    paddle.seed(0)
    batch = paddle.to_tensor(normalize(np.repeat(digit[None], copies, axis=0))[:, None])
    # Training damages DAMAGED_SHARE of the pictures; here every copy is, to show what the damage is.
    recipes = {"affine": random_affine, "wave": random_wave, "distort": random_distort}
    for caption, augment in recipes.items():
        options = {} if augment is random_affine else {"damaged_share": 1.0}
        made = ((augment(batch, **options).numpy()[:, 0] + 1) * 127.5).round().astype(np.uint8)
        pictures += list(made)
        captions += [caption] * copies
    plot_gallery(
        pictures,
        captions,
        out,
        "a training digit and what each --augment makes of it (rotate10: fixed copies; the others: new each time;\n"
        f"wave and distort damage every copy here, {DAMAGED_SHARE:.0%} of the pictures in training)",
        columns=copies,
    )


# ----------------------------------------------------------------------------- the report


def write_markdown(results: Path) -> None:
    """bench/results/augmentation.md from whichever parts have results."""
    from handwriting.corruptions import CORRUPTIONS

    lines = ["# What augmentation buys (`bench/augmentation.py`)", ""]
    article_file, cnn_file = results / "augmentation_article.json", results / "augmentation_cnn.json"
    if article_file.exists():
        article = json.loads(article_file.read_text())
        lines += [
            "## The article's set-up",
            "",
            "Make Your Own Neural Network's 784-200-10 sigmoid net (no biases, squared error, SGD 0.1, one digit at "
            f"a time, inputs 0.01-1), trained by `handwriting.scratch`; {article['machine']}. The article reports "
            "0.954 for one epoch without copies and 0.9669 with the ±10° copies.",
            "",
            "Seconds are wall-clock, including any time the bench was paused or shared the machine.",
            "",
            "| copies | epochs | training images | test accuracy | seconds |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in article["rows"]:
            copies = "none" if not row["angle"] else f"±{row['angle']}°"
            lines.append(
                f"| {copies} | {row['epochs']} | {row['train_images']:,} | {row['test_accuracy']:.2%} | "
                f"{row['seconds']:.0f} |"
            )
        lines.append("")
    if cnn_file.exists():
        cnn = json.loads(cnn_file.read_text())
        rows = cnn["rows"]
        lines += [
            "## The cnn's recipes",
            "",
            f"The shipped cnn's network and optimiser (AdamW, one-cycle to 0.004, batch 128), the same "
            f"{rows[0]['steps']:,} steps for each recipe; scored clean and under the robustness table's "
            f"{len(CORRUPTIONS)} corruptions (`python -m handwriting.robustness`); {cnn['machine']}.",
            "",
            "| corruption | " + " | ".join(f"`{row['recipe']}`" for row in rows) + " |",
            "|---|" + "---:|" * len(rows),
            "| **clean** | " + " | ".join(f"**{row['clean']:.2%}**" for row in rows) + " |",
        ]
        for name in CORRUPTIONS:
            lines.append(f"| {name} | " + " | ".join(f"{row['corrupted'][name]:.2%}" for row in rows) + " |")
        lines.append("| **mean corrupted** | " + " | ".join(f"**{row['mean_corrupted']:.2%}**" for row in rows) + " |")
        lines.append(
            "| mean of those no recipe imitates | "
            + " | ".join(f"{untaught_mean(row['corrupted']):.2%}" for row in rows)
            + " |"
        )
        lines.append("| training seconds | " + " | ".join(f"{row['seconds']:.0f}" for row in rows) + " |")
        lines += [
            "",
            "Imitated in training: "
            + "; ".join(
                f"{', '.join(name for name in IMITATED if IMITATED[name] == by)} by {by}"
                for by in dict.fromkeys(IMITATED.values())
            )
            + ". No recipe imitates the others.",
            "",
        ]
    (results / "augmentation.md").write_text("\n".join(lines))
    print(f"wrote {results / 'augmentation.md'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("article", "cnn"), help="which question to run (default: only the picture)")
    parser.add_argument("--picture", action="store_true", help="draw bench/results/augmentation.png")
    parser.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    parser.add_argument("--out", default=str(RESULTS), help="where the results go (default: bench/results)")
    args = parser.parse_args()

    from handwriting.runtime import quiet_paddle_import_warnings, use_all_cores

    quiet_paddle_import_warnings()
    use_all_cores()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.picture or not args.part:
        draw_picture(args.data_dir, out / "augmentation.png")
        print(f"wrote {out / 'augmentation.png'}")
    if args.part:
        rows = run_article(args.data_dir) if args.part == "article" else run_cnn(args.data_dir)
        report = {"rows": rows, "machine": describe_machine()}
        (out / f"augmentation_{args.part}.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(out)


if __name__ == "__main__":
    main()
