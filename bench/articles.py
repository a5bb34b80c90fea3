"""Retrain each source article's model with the article's settings and with ours; one table.

    python bench/articles.py                 # everything (about 40 minutes on 2 cores)
    python bench/articles.py --only linreg   # the rows whose name starts with "linreg"

Each row is a real training run through ``handwriting.engine.fit`` on the full MNIST; the
table (model, parameters, epochs, CPU seconds, test accuracy, the article's figure) is
rewritten after every run to bench/results/articles.md, with the raw figures in .json.
Checkpoints go to a scratch folder, never over the shipped ones in models/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

# (row name, TrainConfig settings, the article's figure, where it comes from)
RUNS = [
    (
        "linreg / Paddle tutorial",
        dict(model="linreg", epochs=10, batch_size=16, lr=0.001, optimizer="sgd", lr_schedule="constant"),
        "wrong digits",
        "seed 002",
    ),
    (
        "mlp-sigmoid / pure-Python article",
        dict(
            model="mlp-sigmoid",
            epochs=5,
            batch_size=1,
            lr=0.1,
            optimizer="sgd",
            lr_schedule="constant",
            augment="rotate10",
        ),
        "96.65%",
        "seed 003",
    ),
    (
        "mlp-sigmoid / ours",
        dict(
            model="mlp-sigmoid",
            epochs=20,
            batch_size=64,
            lr=0.002,
            optimizer="adamw",
            lr_schedule="cosine",
            weight_decay=0.01,
        ),
        "97.87% (book)",
        "seed 001",
    ),
    (
        "mlp / Keras article",
        dict(model="mlp", epochs=20, batch_size=128, lr=0.001, optimizer="rmsprop", lr_schedule="constant"),
        "98.12%",
        "seed 004",
    ),
    (
        "mlp / ours",
        dict(
            model="mlp", epochs=20, batch_size=128, lr=0.001, optimizer="adamw", lr_schedule="cosine", weight_decay=0.01
        ),
        "98.12%",
        "seed 004",
    ),
    (
        "softmax / ours",
        dict(model="softmax", epochs=10, batch_size=128, lr=0.003, optimizer="adam", lr_schedule="cosine"),
        "~92% (LeCun 1998: 12% error linear)",
        "seed 002",
    ),
    (
        "lenet5 / ours",
        dict(
            model="lenet5",
            epochs=12,
            batch_size=128,
            lr=0.003,
            optimizer="adamw",
            lr_schedule="onecycle",
            weight_decay=0.01,
        ),
        "99.05% (LeCun 1998)",
        "seed 002",
    ),
    ("cnn / ours (python train.py)", dict(), "99.3% (tutorial's CNN), 99.7-99.8% (literature)", "seed 002"),
]


def write_table(rows: list[dict]) -> None:
    lines = [
        "# The source articles' models, retrained here",
        "",
        "Full MNIST (60,000 train / 10,000 test), CPU, `python bench/articles.py`. CPU seconds are training",
        "time (evaluation excluded). The mlp-sigmoid article row uses cross-entropy on softmax outputs where",
        "the article used squared error on sigmoid outputs (its exact loss is the NumPy net's, issue #5).",
        "",
        "| run | parameters | epochs | batch | optimizer, lr | augment | CPU seconds | test accuracy | article |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['run']} | {row['parameters']:,} | {row['epochs']} | {row['batch_size']} | "
            f"{row['optimizer']} {row['lr']:g} ({row['lr_schedule']}) | {row['augment']} | "
            f"{row['seconds']:,.0f} | {row['test_accuracy']:.2%} | {row['article']} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "articles.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "articles.json").write_text(json.dumps(rows, indent=2) + "\n")


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="PREFIX", help="run only the rows whose name starts with PREFIX")
    args = parser.parse_args()

    from handwriting.engine import TrainConfig, fit

    previous = json.loads((RESULTS / "articles.json").read_text()) if (RESULTS / "articles.json").is_file() else []
    rows = {row["run"]: row for row in previous}
    with tempfile.TemporaryDirectory() as scratch:
        for name, settings, article, source in RUNS:
            if args.only and not name.startswith(args.only):
                continue
            config = TrainConfig(**settings, out=scratch, name="bench")
            started = time.perf_counter()
            card = fit(config, log=lambda message: None)
            print(f"{name}: {card['test_accuracy']:.2%} in {time.perf_counter() - started:.0f} s", flush=True)
            rows[name] = {
                "run": name,
                "parameters": card["parameters"],
                "epochs": config.epochs,
                "batch_size": config.batch_size,
                "optimizer": config.optimizer,
                "lr": config.lr,
                "lr_schedule": config.lr_schedule,
                "augment": config.augment,
                "seconds": card["seconds"],
                "test_accuracy": card["test_accuracy"],
                "article": article,
                "source": source,
            }
            order = [run[0] for run in RUNS]
            write_table(sorted(rows.values(), key=lambda row: order.index(row["run"]) if row["run"] in order else 99))


if __name__ == "__main__":
    main()
