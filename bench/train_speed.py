"""How fast training runs on this machine's CPU, and what made it fast.

    python bench/train_speed.py            # about 8 minutes on 2 cores

Measures, each in a fresh process so environment settings really apply:

1. CPU settings: training images/s of the pytorch/examples MNIST CNN and of our ``cnn`` with
   Paddle's defaults (one thread, MKL's generic path on AMD) and with what
   ``handwriting.runtime`` sets (all cores, MKL's AVX2 path).
2. The data pipeline: images/s of the real training loop (``make_loader`` batches) against
   the same model fed 50 batches of the same digits turned into tensors beforehand, in one
   process, alternating blocks of 10 steps between the two feeds.

Writes bench/results/train_speed.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402  (imports nothing that sets the environment)


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

    from handwriting.data import get_spec, load
    from handwriting.data.loader import make_loader

    train = load(get_spec("mnist"), download=False, log=lambda message: None).splits["train"]
    loader = make_loader(train, batch_size, shuffle=True, seed=0)
    # Pre-built: the same real digits, turned into tensors once before the clock starts, so
    # that what is left is the model's own work.
    prebuilt = []
    for images, labels in loader:
        prebuilt.append((images, labels))
        if len(prebuilt) == 50:
            break

    def cycle(source):
        while True:
            yield from source

    def step(images, labels):
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        return loss

    streams = {"loader": cycle(loader), "tensor": cycle(prebuilt)}
    feeds = ["loader", "tensor"] if feed == "both" else [feed]
    for name in feeds:
        for _ in range(3):  # warm-up: first calls allocate and pick kernels
            step(*next(streams[name]))
    # With two feeds, alternate blocks of 10 steps so that the machine's ups and downs fall on
    # both alike; the time of each block (including fetching its batches) goes to its feed.
    seen = dict.fromkeys(feeds, 0)
    spent = dict.fromkeys(feeds, 0.0)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for name in feeds:
            block = time.perf_counter()
            for _ in range(10):
                images, labels = next(streams[name])
                loss = step(images, labels)
                seen[name] += len(labels)
            float(loss)  # wait for the block's last step
            spent[name] += time.perf_counter() - block
    return {name: seen[name] / spent[name] for name in feeds}


def measure(model: str, feed: str, threads: str, mkl_avx2: bool, seconds: float, batch_size: int) -> dict:
    environment = dict(os.environ)
    environment.pop("MKL_DEBUG_CPU_TYPE", None)
    if mkl_avx2:
        environment["MKL_DEBUG_CPU_TYPE"] = "5"
    else:
        environment["MKL_DEBUG_CPU_TYPE"] = ""  # set but empty: runtime keeps it, MKL ignores it
    command = [sys.executable, __file__, "--worker", model, feed, threads, str(seconds), str(batch_size)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12, help="training time per measurement (default: 12)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step (default: 128)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the best is kept (default: 3)")
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
    # Shared machines are noisy: every figure is the best of --repeats runs, and the runs of
    # the things being compared alternate, so a slow minute does not favour either side.
    rows, figures = [], {}
    for model in ("pytorch-examples", "cnn"):
        best = {label: 0.0 for label, _, _ in settings}
        for _ in range(args.repeats):
            for label, threads, mkl in settings:
                speed = measure(model, "tensor", threads, mkl, args.seconds, args.batch_size)["tensor"]
                best[label] = max(best[label], speed)
        for label, _, _ in settings:
            figures[f"{model} | {label}"] = best[label]
            rows.append(f"| {model} | {label} | {best[label]:,.0f} |")
            print(rows[-1], flush=True)
    pipeline = {}
    for model in ("cnn", "mlp"):
        both = measure(model, "both", "all", True, 2 * args.repeats * args.seconds, args.batch_size)
        pipeline[(model, "loader")], pipeline[(model, "tensor")] = both["loader"], both["tensor"]
        print(model, both, flush=True)

    machine = describe_machine()
    lines = [
        "# Training speed on the CPU",
        "",
        f"Machine: {machine}; batch {args.batch_size}; AdamW; best of {args.repeats} runs of {args.seconds:g} s each,",
        "alternating between the settings compared.",
        "",
        "## CPU settings (training images/s, pre-built tensors of real digits)",
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
