"""The NumPy network: the articles' per-sample loop against our trainer, and the accuracy table.

    python bench/scratch.py                 # both parts (~10 minutes on 2 cores)
    python bench/scratch.py --speed-only    # part 1 only (~1-2 minutes)

1. **Speed.** One epoch (60,000 digits) of the pure-Python article's training loop, re-written
   faithfully — its ``train()``: column vectors, ``np.dot``, sigmoid, squared error against
   0.01/0.99, no biases, SGD 0.1, one example at a time, float64 — against our trainer
   (``handwriting.scratch``: mini-batches of 256, float32, Adam), same machine, same process.
   The loop runs twice: as written, and with its outer products by ``np.outer`` (same numbers),
   because how fast ``np.dot`` does an outer product depends a lot on the BLAS build and CPU.
   Our trainer runs until its test accuracy is at least the article's after its epoch; we
   report the time per epoch of each and the time each needed to reach that accuracy.
2. **Accuracy.** The two articles' set-ups and ours, trained by ``handwriting.scratch``
   (``python -m handwriting.scratch --help`` shows the same flags).

Writes bench/results/scratch.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402
from handwriting.data import get_spec, load  # noqa: E402
from handwriting.scratch.train import ScratchConfig, accuracy, fit  # noqa: E402


class ArticleNetwork:
    """The pure-Python article's network, as it wrote it (our names, its maths)."""

    def __init__(self, input_nodes, hidden_nodes, output_nodes, learning_rate, rng, outer="np.dot"):
        self.lr = learning_rate
        # The weight updates are outer products, [to, 1] x [1, from]. The article writes them as
        # np.dot(column, row.T): a matrix product with an inner size of 1, which some BLAS builds
        # run far slower than np.outer does (same numbers). We time both, to be fair to the loop.
        self.outer = np.outer if outer == "np.outer" else (lambda column, row: np.dot(column, row.T))
        # As published: weights from N(0, 1/sqrt(nodes in the next layer)), [to, from], no biases.
        self.wih = rng.normal(0.0, hidden_nodes**-0.5, (hidden_nodes, input_nodes))
        self.who = rng.normal(0.0, output_nodes**-0.5, (output_nodes, hidden_nodes))

    @staticmethod
    def activation(x):
        return 1.0 / (1.0 + np.exp(-x))

    def train(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T  # [784, 1]
        targets = np.array(targets_list, ndmin=2).T  # [10, 1]
        hidden_outputs = self.activation(np.dot(self.wih, inputs))
        final_outputs = self.activation(np.dot(self.who, hidden_outputs))
        output_errors = targets - final_outputs
        hidden_errors = np.dot(self.who.T, output_errors)
        self.who += self.lr * self.outer(output_errors * final_outputs * (1.0 - final_outputs), hidden_outputs)
        self.wih += self.lr * self.outer(hidden_errors * hidden_outputs * (1.0 - hidden_outputs), inputs)

    def query(self, inputs):  # a batch [N, 784] -> [N, 10] (the article queries one at a time)
        return self.activation(self.activation(inputs @ self.wih.T) @ self.who.T)


def article_inputs(images):
    return images.reshape(len(images), -1) / 255.0 * 0.99 + 0.01


def article_epoch(train, test, outer: str) -> dict:
    """One epoch of the article's loop from the same seed; its seconds and test accuracy."""
    network = ArticleNetwork(784, 200, 10, 0.1, np.random.default_rng(0), outer=outer)
    inputs = article_inputs(train.images)
    targets = np.full((len(train.labels), 10), 0.01)
    targets[np.arange(len(train.labels)), train.labels] = 0.99
    start = time.perf_counter()
    for index in range(len(inputs)):
        network.train(inputs[index], targets[index])
    seconds = time.perf_counter() - start
    accuracy = float((network.query(article_inputs(test.images)).argmax(axis=1) == test.labels).mean())
    print(f"article loop, outer products by {outer}: 1 epoch in {seconds:.1f} s "
          f"({len(inputs) / seconds:,.0f} img/s), test {accuracy:.2%}")  # fmt: skip
    return {"seconds_per_epoch": seconds, "test_accuracy": accuracy}


def speed(train, test) -> dict:
    articles = {outer: article_epoch(train, test, outer) for outer in ("np.dot", "np.outer")}
    article_accuracy = articles["np.dot"]["test_accuracy"]  # the same maths: the same accuracy

    config = ScratchConfig()
    records = []

    def on_epoch(record):
        records.append(record)
        print(f"our trainer: epoch {record['epoch']} in {record['seconds']:.2f} s, test {record['test_accuracy']:.2%}")

    # Enough epochs to pass the article's accuracy; the learning-rate schedule is the default's.
    config.epochs = 5
    fit(config, (train.images, train.labels), (test.images, test.labels), on_epoch=on_epoch)
    reached = next((r for r in records if r["test_accuracy"] >= article_accuracy), None)
    ours_per_epoch = float(np.mean([r["seconds"] for r in records]))
    ours_to_article = sum(r["seconds"] for r in records[: reached["epoch"]]) if reached else None
    result = {
        "article": articles["np.dot"],
        "article_np_outer": articles["np.outer"],
        "ours": {
            "seconds_per_epoch": ours_per_epoch,
            "epochs": [{k: r[k] for k in ("epoch", "seconds", "test_accuracy")} for r in records],
            "epochs_to_reach_article": reached["epoch"] if reached else None,
            "seconds_to_reach_article": ours_to_article,
        },
    }
    for key, name in (("article", ""), ("article_np_outer", "_np_outer")):
        result[f"speedup_per_epoch{name}"] = result[key]["seconds_per_epoch"] / ours_per_epoch
        if reached:
            result[f"speedup_to_same_accuracy{name}"] = result[key]["seconds_per_epoch"] / ours_to_article
    return result


SETUPS = {
    "pure-Python article (784-200-10 sigmoid, squared error, SGD 0.1, batch 1, ±10° copies, 5 epochs)": ScratchConfig(
        hidden=(200,), loss="squared-error", bias=False, init="article", optimizer="sgd", lr=0.1, lr_decay=1.0,
        epochs=5, batch_size=1, augment="rotate10", inputs="0.01-to-1",
    ),
    "NumPy article on MNIST (784-100-10 sigmoid, cross-entropy, SGD 1, batch 1000, 20 epochs)": ScratchConfig(
        hidden=(100,), init="small", optimizer="sgd", lr=1.0, lr_decay=1.0, epochs=20, batch_size=1000,
        augment="none", inputs="zero-to-one",
    ),
    "ours (784-200-10 sigmoid, cross-entropy, Adam 0.004 ×0.93/epoch, batch 256, shifts, 30 epochs)": ScratchConfig(),
}  # fmt: skip


def accuracy_table(train, test) -> dict:
    rows = {}
    for name, config in SETUPS.items():
        start = time.perf_counter()
        net, history = fit(config, (train.images, train.labels), (test.images, test.labels))
        seconds = time.perf_counter() - start
        rows[name] = {"test_accuracy": accuracy(net, test.images, test.labels, config.inputs), "seconds": seconds}
        print(f"{name}: {rows[name]['test_accuracy']:.2%} in {seconds:.0f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed-only", action="store_true", help="part 1 only")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()
    data = load(get_spec("mnist"))
    train, test = data.splits["train"], data.splits["test"]
    results = {"machine": describe_machine(), "speed": speed(train, test)}
    if not args.speed_only:
        results["accuracy"] = accuracy_table(train, test)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scratch.json").write_text(json.dumps(results, indent=2) + "\n")
    s = results["speed"]
    lines = [
        "# The NumPy network (`bench/scratch.py`)",
        "",
        "| one epoch of MNIST (60,000 digits) | seconds | images/s | test accuracy |",
        "|---|---:|---:|---:|",
        f"| the pure-Python article's loop as written (outer products by `np.dot`) | "
        f"{s['article']['seconds_per_epoch']:.1f} | {60000 / s['article']['seconds_per_epoch']:,.0f} | "
        f"{s['article']['test_accuracy']:.2%} after 1 epoch |",
        f"| the same loop, outer products by `np.outer` | {s['article_np_outer']['seconds_per_epoch']:.1f} | "
        f"{60000 / s['article_np_outer']['seconds_per_epoch']:,.0f} | "
        f"{s['article_np_outer']['test_accuracy']:.2%} after 1 epoch |",
        f"| `handwriting.scratch`, batches of 256 | {s['ours']['seconds_per_epoch']:.2f} | "
        f"{60000 / s['ours']['seconds_per_epoch']:,.0f} | "
        f"{s['ours']['epochs'][-1]['test_accuracy']:.2%} after {len(s['ours']['epochs'])} epochs |",
        "",
        f"Per epoch: **{s['speedup_per_epoch']:.1f}×** faster than the loop as written, "
        f"**{s['speedup_per_epoch_np_outer']:.1f}×** than its `np.outer` form."
        + (
            f" To the article's accuracy after its epoch: {s['ours']['epochs_to_reach_article']} epoch(s), "
            f"{s['ours']['seconds_to_reach_article']:.1f} s — **{s['speedup_to_same_accuracy']:.1f}×** / "
            f"**{s['speedup_to_same_accuracy_np_outer']:.1f}×** faster."
            if s["ours"]["epochs_to_reach_article"]
            else ""
        ),
        "",
        f"Machine: {results['machine']}.",
    ]
    if "accuracy" in results:
        lines += ["", "| set-up | test accuracy | seconds |", "|---|---:|---:|"]
        for name, row in results["accuracy"].items():
            lines.append(f"| {name} | {row['test_accuracy']:.2%} | {row['seconds']:.0f} |")
    (out / "scratch.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'scratch.md'}")


if __name__ == "__main__":
    main()
