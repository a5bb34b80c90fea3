"""How long the CNN takes to pass 99% MNIST test accuracy on this CPU, from a cold start.

    python bench/time_to_99.py [--epochs 3] [--augment none]

A short run of the default ``cnn`` recipe (one-cycle AdamW, batch 128) whose schedule is
compressed into ``--epochs``; the clock includes building the model, every training step
and the test evaluation after each epoch. Writes bench/results/time_to_99.md and .json.
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

from bench.machine import describe_machine  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the compressed schedule (default: 3)")
    parser.add_argument("--augment", default="none", help="augmentation (default: none)")
    args = parser.parse_args()

    from handwriting.config import TrainConfig
    from handwriting.data import get_spec, load
    from handwriting.engine import fit

    data = load(get_spec("mnist"), log=lambda message: None)  # data loading is not what we time
    marks = []
    started = time.perf_counter()

    def log(message: str) -> None:
        if message.startswith("epoch "):
            marks.append(time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as scratch:
        config = TrainConfig(epochs=args.epochs, augment=args.augment, out=scratch, name="bench")
        card = fit(config, data=data, log=log)
    machine = describe_machine()
    rows = []
    first = None
    for record, elapsed in zip(card["epochs"], marks):
        rows.append(f"| {record['epoch']} | {record['test_accuracy']:.2%} | {elapsed:.0f} s |")
        if first is None and record["test_accuracy"] >= 0.99:
            first = (record["epoch"], elapsed)
    verdict = (
        f"**99% reached after epoch {first[0]}, {first[1]:.0f} s ({first[1] / 60:.1f} min) from a cold start.**"
        if first
        else "**99% was not reached.**"
    )
    report = "\n".join(
        [
            "# Time to 99% MNIST test accuracy (cnn, CPU)",
            "",
            f"Machine: {machine}; "
            f"`TrainConfig(epochs={args.epochs}, augment={args.augment!r})`, other settings as `python train.py`.",
            "",
            "| epoch | test accuracy | wall clock (train + test) |",
            "|---|---|---|",
            *rows,
            "",
            verdict,
            "",
        ]
    )
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "time_to_99.md").write_text(report)
    (RESULTS / "time_to_99.json").write_text(
        json.dumps({"machine": machine, "epochs": card["epochs"], "elapsed": marks, "first_99": first}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
