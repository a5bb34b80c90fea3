"""Retrain each source article's model with the article's settings and with ours; one table.

    python bench/articles.py                 # everything (about an hour on 2 cores)
    python bench/articles.py --from-shipped  # reuse the shipped models' own runs (same settings)
    python bench/articles.py --only linreg   # the rows whose name starts with "linreg"

Each row is a real training run through ``handwriting.engine.fit`` on the full MNIST; the
table (model, parameters, epochs, CPU seconds, test accuracy, the article's figure) is
rewritten after every run to bench/results/articles.md, with the raw figures in .json.
Checkpoints go to a scratch folder, never over the shipped ones in models/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TQDM_DISABLE", "1")  # per-step progress bars would bury the results
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

from bench.machine import describe_machine  # noqa: E402

# (row name, TrainConfig settings, the article's figure, where it comes from)
RECIPE_KEYS = ("model", "epochs", "batch_size", "lr", "optimizer", "lr_schedule", "weight_decay", "augment")


def recipe(**settings) -> dict:
    """Every hyper-parameter spelled out, so a change of train.py's defaults cannot leak into a row
    (a model's own defaults can: rows that depend on one, like the cnn's width, name it too)."""
    missing = [key for key in RECIPE_KEYS if key not in settings]
    if missing:
        raise ValueError(f"recipe lacks {', '.join(missing)}")
    return settings


SHIPPED_MLP = recipe(
    model="mlp",
    epochs=30,
    batch_size=128,
    lr=0.001,
    optimizer="adamw",
    lr_schedule="cosine",
    weight_decay=0.01,
    augment="affine",
)
SHIPPED_MLP_SIGMOID = recipe(
    model="mlp-sigmoid",
    epochs=30,
    batch_size=128,
    lr=0.002,
    optimizer="adamw",
    lr_schedule="cosine",
    weight_decay=0.01,
    augment="affine",
)
SHIPPED_CNN = recipe(
    model="cnn",
    epochs=24,
    batch_size=128,
    lr=0.004,
    optimizer="adamw",
    lr_schedule="onecycle",
    weight_decay=0.01,
    augment="distort",
    model_options={"width": 24},
)

# (row name, settings, the article's figure, the shipped model this row reproduces)
RUNS = [
    (
        "linreg / Paddle tutorial",
        recipe(
            model="linreg",
            epochs=10,
            batch_size=16,
            lr=0.001,
            optimizer="sgd",
            lr_schedule="constant",
            weight_decay=0.0,
            augment="none",
        ),
        "wrong digits",
        None,
    ),
    (
        "mlp-sigmoid / pure-Python article",
        recipe(
            model="mlp-sigmoid",
            epochs=5,
            batch_size=1,
            lr=0.1,
            optimizer="sgd",
            lr_schedule="constant",
            weight_decay=0.0,
            augment="rotate10",
        ),
        "96.65%",
        None,
    ),
    ("mlp-sigmoid / ours", SHIPPED_MLP_SIGMOID, "96.65% (97.87% in the book)", "mlp-sigmoid"),
    (
        "mlp / Keras article",
        recipe(
            model="mlp",
            epochs=20,
            batch_size=128,
            lr=0.001,
            optimizer="rmsprop",
            lr_schedule="constant",
            weight_decay=0.0,
            augment="none",
        ),
        "98.12%",
        None,
    ),
    ("mlp / ours", SHIPPED_MLP, "98.12%", "mlp"),
    (
        "softmax / ours",
        recipe(
            model="softmax",
            epochs=10,
            batch_size=128,
            lr=0.003,
            optimizer="adam",
            lr_schedule="cosine",
            weight_decay=0.0,
            augment="none",
        ),
        "88% (LeCun 1998, linear)",
        None,
    ),
    (
        "lenet5 / ours",
        recipe(
            model="lenet5",
            epochs=12,
            batch_size=128,
            lr=0.003,
            optimizer="adamw",
            lr_schedule="onecycle",
            weight_decay=0.01,
            augment="affine",
        ),
        "99.05% (LeCun 1998)",
        None,
    ),
    ("cnn / ours (python train.py)", SHIPPED_CNN, "99.3% (tutorial), 99.7-99.8% (literature)", "cnn"),
]


def write_table(rows: list[dict]) -> None:
    lines = [
        "# The source articles' models, retrained here",
        "",
        "Full MNIST (60,000 train / 10,000 test), CPU, `python bench/articles.py`. CPU seconds are training",
        "time (evaluation excluded). The mlp-sigmoid article row uses cross-entropy on softmax outputs where",
        "the article used squared error on sigmoid outputs (its exact loss is the NumPy net's: bench/scratch.py).",
        "",
        "| run | parameters | epochs | batch | optimizer, lr (schedule, weight decay) | augment | CPU seconds "
        "| test accuracy | article "
        "| from |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['run']} | {row['parameters']:,} | {row['epochs']} | {row['batch_size']} | "
            f"{row['optimizer']} {row['lr']:g} ({row['lr_schedule']}, wd {row['weight_decay']:g}) | {row['augment']} | "
            f"{row['seconds']:,.0f} | {row['test_accuracy']:.2%} | {row['article']} | {row['from']} |"
        )
    # Rows are re-run one at a time (--only), maybe on other machines: each names its own. Rows
    # written before rows named a machine, and those read from models/, have none.
    machines: dict[str, list[str]] = {}
    for row in rows:
        machines.setdefault(row.get("machine") or "not recorded", []).append(row["run"])
    lines += ["", "Machines:", ""] + [f"- {machine}: {', '.join(runs)}" for machine, runs in machines.items()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "articles.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "articles.json").write_text(json.dumps(rows, indent=2) + "\n")


def shipped_card(name: str, config) -> dict | None:
    """The shipped model's card when it was trained with exactly ``config``'s settings, else None."""
    path = ROOT / "models" / f"{name}.json"
    if not path.is_file():
        return None
    from handwriting.models import resolved_options

    card = json.loads(path.read_text())
    # Settings added after the run was made did not exist then; their defaults describe it.
    recorded = {**json.loads(json.dumps(vars(type(config)()))), **card["config"]}
    recorded = {key: value for key, value in recorded.items() if key not in ("out", "name", "data_dir", "device")}
    wanted = {key: value for key, value in vars(config).items() if key not in ("out", "name", "data_dir", "device")}
    # The model is compared as built, every argument spelled out: {} means whatever the defaults were.
    recorded["model_options"] = card["model"]["options"]
    wanted["model_options"] = resolved_options(config.model, **config.model_options)
    if recorded != json.loads(json.dumps(wanted)):
        return None
    return {**card, "from_shipped": True}


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="PREFIX", help="run only the rows whose name starts with PREFIX")
    parser.add_argument(
        "--from-shipped",
        action="store_true",
        help="for rows that reproduce a shipped model, read models/<name>.json instead of retraining "
        "(only when its recorded settings are exactly the row's)",
    )
    args = parser.parse_args()

    from handwriting.config import TrainConfig
    from handwriting.engine import fit

    previous = json.loads((RESULTS / "articles.json").read_text()) if (RESULTS / "articles.json").is_file() else []
    recipes = {name: settings for name, settings, _, _ in RUNS}
    rows = {
        row["run"]: {"weight_decay": recipes.get(row["run"], {}).get("weight_decay", 0.0), **row} for row in previous
    }
    with tempfile.TemporaryDirectory() as scratch:
        for name, settings, article, shipped in RUNS:
            if args.only and not name.startswith(args.only):
                continue
            config = TrainConfig(**settings, out=scratch, name="bench")
            card = shipped_card(shipped, config) if args.from_shipped and shipped else None
            if card is None:
                started = time.perf_counter()
                card = fit(config, log=lambda message: None, overwrite=True)  # one scratch name, many runs
                print(f"{name}: {card['test_accuracy']:.2%} in {time.perf_counter() - started:.0f} s", flush=True)
            else:
                print(f"{name}: {card['test_accuracy']:.2%} (from models/{shipped}.json)", flush=True)
            rows[name] = {
                "run": name,
                "parameters": card["parameters"],
                "epochs": config.epochs,
                "batch_size": config.batch_size,
                "optimizer": config.optimizer,
                "lr": config.lr,
                "lr_schedule": config.lr_schedule,
                "weight_decay": config.weight_decay,
                "augment": config.augment,
                "seconds": card["seconds"],
                "test_accuracy": card["test_accuracy"],
                "article": article,
                "from": f"models/{shipped}.json" if card.get("from_shipped") else "trained by this script",
                "machine": None if card.get("from_shipped") else describe_machine(),
            }
            write_table(ordered(rows))
    write_table(ordered(rows))


def ordered(rows: dict) -> list[dict]:
    order = [run[0] for run in RUNS]
    return sorted(rows.values(), key=lambda row: order.index(row["run"]) if row["run"] in order else len(order))


if __name__ == "__main__":
    main()
