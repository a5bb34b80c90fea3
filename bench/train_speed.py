"""How fast training runs on this machine's CPU, and what made it fast.

    python bench/train_speed.py            # about 3 minutes on 2 cores

Measures, each in a fresh process so environment settings really apply:

1. CPU settings: training images/s of the pytorch/examples MNIST CNN and of our ``cnn`` with
   Paddle's defaults (one thread, MKL's generic path on AMD) and with what
   ``handwriting.runtime`` sets (all cores, MKL's AVX2 path).
2. The data pipeline: images/s of the real training loop (``make_loader`` batches) against
   the same model fed one pre-built tensor over and over (no data work at all).

Writes bench/results/train_speed.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def pytorch_examples_cnn():
    """The network of pytorch/examples mnist/main.py, written in Paddle (its bias-ful convs included)."""
    from paddle import nn

    return nn.Sequential(
        nn.Conv2D(1, 32, 3),
        nn.ReLU(),
        nn.Conv2D(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2D(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(9216, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def worker(model_name: str, feed: str, threads: str, seconds: float, batch_size: int) -> dict:
    """Train for ``seconds`` and return images/s (runs inside the fresh process)."""
    sys.path.insert(0, str(ROOT))
    import warnings

    warnings.filterwarnings("ignore")
    import paddle
    import paddle.nn.functional as F

    from handwriting.runtime import use_all_cores

    if threads == "all":
        use_all_cores()
    if model_name == "pytorch-examples":
        model = pytorch_examples_cnn()
    else:
        from handwriting.models import build_model

        model = build_model(model_name)
    optimizer = paddle.optimizer.AdamW(parameters=model.parameters())

    if feed == "loader":
        from handwriting.data import get_spec, load
        from handwriting.data.loader import make_loader

        train = load(get_spec("mnist"), download=False, log=lambda message: None).splits["train"]
        loader = make_loader(train, batch_size, shuffle=True, seed=0)

        def batches():
            while True:
                yield from loader
    else:
        images = paddle.randn([batch_size, 1, 28, 28])
        labels = paddle.randint(0, 10, [batch_size])

        def batches():
            while True:
                yield images, labels

    def step(images, labels):
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        return loss

    stream = batches()
    for _ in range(3):  # warm-up: first calls allocate and pick kernels
        step(*next(stream))
    seen, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        images, labels = next(stream)
        loss = step(images, labels)
        seen += len(labels)
    float(loss)  # wait for the last step
    return {"images_per_second": seen / (time.perf_counter() - started)}


def measure(model: str, feed: str, threads: str, mkl_avx2: bool, seconds: float, batch_size: int) -> float:
    environment = dict(os.environ)
    environment.pop("MKL_DEBUG_CPU_TYPE", None)
    if mkl_avx2:
        environment["MKL_DEBUG_CPU_TYPE"] = "5"
    else:
        environment["MKL_DEBUG_CPU_TYPE"] = ""  # set but empty: runtime keeps it, MKL ignores it
    command = [sys.executable, __file__, "--worker", model, feed, threads, str(seconds), str(batch_size)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12, help="training time per measurement (default: 12)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step (default: 128)")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        model, feed, threads, seconds, batch_size = args.worker
        print(json.dumps(worker(model, feed, threads, float(seconds), int(batch_size))))
        return

    settings = [
        ("Paddle defaults: 1 thread, MKL generic path", "one", False),
        ("all cores", "all", False),
        ("all cores + MKL AVX2 path (our default)", "all", True),
    ]
    rows, figures = [], {}
    for model in ("pytorch-examples", "cnn"):
        for label, threads, mkl in settings:
            speed = measure(model, "tensor", threads, mkl, args.seconds, args.batch_size)
            figures[f"{model} | {label}"] = speed
            rows.append(f"| {model} | {label} | {speed:,.0f} |")
            print(rows[-1], flush=True)
    pipeline = {}
    for model in ("cnn", "mlp"):
        for feed in ("tensor", "loader"):
            pipeline[(model, feed)] = measure(model, feed, "all", True, args.seconds, args.batch_size)
        print(model, pipeline[(model, "loader")], pipeline[(model, "tensor")], flush=True)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        "# Training speed on the CPU",
        "",
        f"Machine: {machine}; batch {args.batch_size}; AdamW; {args.seconds:g} s of training per figure.",
        "",
        "## CPU settings (training images/s, pre-built tensor input)",
        "",
        "| model | settings | images/s |",
        "|---|---|---|",
        *rows,
        "",
        "## Does the data pipeline slow training down?",
        "",
        "| model | real loop (make_loader) | pre-built tensor | ratio |",
        "|---|---|---|---|",
    ]
    for model in ("cnn", "mlp"):
        real, ideal = pipeline[(model, "loader")], pipeline[(model, "tensor")]
        lines.append(f"| {model} | {real:,.0f} | {ideal:,.0f} | {real / ideal:.0%} |")
        figures[f"{model} | loader"] = real
        figures[f"{model} | tensor"] = ideal
    report = "\n".join(lines) + "\n"
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_speed.md").write_text(report)
    (RESULTS / "train_speed.json").write_text(
        json.dumps({"machine": machine, "images_per_second": figures}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
