"""Paddle against PyTorch on this CPU: the same network, batch and optimizer, timed in turns.

    pip install -r requirements-bench.txt     # PyTorch's CPU build: for this bench only, never the product's
    python bench/vs_pytorch.py                # about 3 minutes on 2 cores

Two worker processes, one per framework, each holding the same 40 batches of 128 real MNIST digits
as tensors and the same network (Adam, lr 1e-3). The main process asks them in turn to train for
a block of steps and reads each block's time, so both see the same machine load; a framework's
rate is its median block. Paddle runs with what ``handwriting.runtime`` sets (every core, MKL's
AVX2 path on AMD), PyTorch with its defaults and as many threads. Then each worker profiles 20
steps with its framework's own profiler (``paddle.profiler``, ``torch.profiler``) and reports the
operators that took the most time, which is where the difference lies.

Writes bench/results/vs_pytorch.md and .json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402

BATCH = 128
BATCHES = 40
MODELS = ("pytorch-examples", "cnn-fast")  # pytorch/examples mnist/main.py's CNN, and train.py --recipe fast's


# ----------------------------------------------------------------------------- the two workers


def paddle_worker(model_name: str):
    """-> (one training step, a profiler run over ``steps`` steps returning its top operators)."""
    import warnings

    warnings.filterwarnings("ignore")
    import paddle
    import paddle.nn.functional as F

    from bench.train_speed import pytorch_examples_cnn
    from handwriting.models import build_model
    from handwriting.runtime import use_all_cores

    use_all_cores()
    paddle.seed(0)
    model = pytorch_examples_cnn() if model_name == "pytorch-examples" else build_model(model_name)
    optimizer = paddle.optimizer.Adam(1e-3, parameters=model.parameters())
    images, labels = digits()
    batches = itertools.cycle([(paddle.to_tensor(x), paddle.to_tensor(y)) for x, y in zip(images, labels)])

    def step() -> None:
        x, y = next(batches)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()

    def profile(steps: int) -> list[tuple[str, float]]:
        import paddle.profiler as profiler

        times: dict[str, float] = {}
        # on_trace_ready: keep the statistics in memory instead of writing a Chrome trace to ./profiler_log.
        with profiler.Profiler(targets=[profiler.ProfilerTarget.CPU], on_trace_ready=lambda done: None) as prof:
            for _ in range(steps):
                step()
                prof.step()
        # The operator table behind prof.summary(), read as data: host time of each operator (ms).
        from paddle.profiler.profiler_statistic import StatisticData

        statistic = StatisticData(prof.profiler_result.get_data(), prof.profiler_result.get_extra_info())
        for name, item in statistic.event_summary.items.items():
            times[name] = times.get(name, 0.0) + item.cpu_time / 1e6  # ns -> ms
        return sorted(times.items(), key=lambda pair: -pair[1])

    return step, profile


def torch_worker(model_name: str):
    import torch
    import torch.nn.functional as F
    from torch import nn

    from handwriting.runtime import available_cores

    torch.set_num_threads(available_cores())
    torch.manual_seed(0)
    if model_name == "pytorch-examples":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
            nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10),
        )  # fmt: skip
    else:  # handwriting.models.FastCNN, layer for layer
        model = nn.Sequential(
            nn.Conv2d(1, 32, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
        )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    images, labels = digits()
    batches = itertools.cycle([(torch.from_numpy(x), torch.from_numpy(y)) for x, y in zip(images, labels)])

    def step() -> None:
        x, y = next(batches)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    def profile(steps: int) -> list[tuple[str, float]]:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
        averages = prof.key_averages()
        return sorted(((row.key, row.self_cpu_time_total / 1e3) for row in averages), key=lambda pair: -pair[1])

    return step, profile


def digits():
    """The first BATCHES x BATCH training digits of MNIST, scaled to [-1, 1] -> (images, labels) lists."""
    from handwriting.data import get_spec, load
    from handwriting.preprocess import normalize

    train = load(get_spec("mnist"), log=lambda message: None).splits["train"]
    images = normalize(train.images[: BATCHES * BATCH])[:, None]
    labels = train.labels[: BATCHES * BATCH].astype("int64")
    return list(images.reshape(BATCHES, BATCH, 1, 28, 28)), list(labels.reshape(BATCHES, BATCH))


REPLY = "@@ "  # starts the worker's answers: the frameworks print lines of their own on stdout


def serve(framework: str, model_name: str) -> None:
    """Worker loop: read 'steps N' or 'profile N' lines, answer one line each (REPLY, then JSON)."""
    step, profile = (paddle_worker if framework == "paddle" else torch_worker)(model_name)
    for _ in range(5):  # warm up: first steps allocate and pick kernels
        step()
    print(REPLY + json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command, count = line.split()
        if command == "steps":
            started = time.perf_counter()
            for _ in range(int(count)):
                step()
            print(REPLY + json.dumps({"seconds": time.perf_counter() - started}), flush=True)
        else:
            print(REPLY + json.dumps({"top": profile(int(count))[:12]}), flush=True)


# ----------------------------------------------------------------------------- the race


class Worker:
    def __init__(self, framework: str, model_name: str):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", framework, model_name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.ask(None)

    def ask(self, command: str | None) -> dict:
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit(f"a worker stopped (exit status {self.process.wait()}); its message is above")
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY) :])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def race(model_name: str, rounds: int, steps: int) -> dict:
    workers = {"paddle": Worker("paddle", model_name), "pytorch": Worker("pytorch", model_name)}
    rates: dict[str, list[float]] = {name: [] for name in workers}
    for _ in range(rounds):
        for name, worker in workers.items():
            rates[name].append(steps * BATCH / worker.ask(f"steps {steps}")["seconds"])
    tops = {name: worker.ask("profile 20")["top"] for name, worker in workers.items()}
    for worker in workers.values():
        worker.close()
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return {"rates": rates, "median": medians, "ratio": medians["paddle"] / medians["pytorch"], "top": tops}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        return serve(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="timed blocks per framework (default: 8)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per block (default: 20)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        needs = "bench/vs_pytorch.py needs PyTorch's CPU build: pip install -r requirements-bench.txt"
        raise SystemExit(needs) from None

    results = {}
    for model_name in MODELS:
        print(f"{model_name}: {args.rounds} rounds of {args.steps} steps each, alternating", flush=True)
        results[model_name] = race(model_name, args.rounds, args.steps)
    machine = describe_machine("torch")
    lines = [
        "# Paddle against PyTorch, training on the CPU",
        "",
        f"Machine: {machine}. Batch {BATCH}, Adam, the same network in both; {args.rounds} blocks of "
        f"{args.steps} steps per framework, taken in turns; the median block.",
        "",
        "| network | Paddle images/s | PyTorch images/s | Paddle / PyTorch |",
        "|---|---:|---:|---:|",
    ]
    for model_name, result in results.items():
        median = result["median"]
        lines.append(f"| {model_name} | {median['paddle']:,.0f} | {median['pytorch']:,.0f} | {result['ratio']:.2f} |")
    for model_name, result in results.items():
        lines += [
            "",
            f"## Where the time goes: {model_name}, 20 steps (ms; each profiler's own operator names; Paddle's "
            "figure is an operator's whole time, PyTorch's its self time)",
            "",
        ]
        lines += ["| Paddle operator | ms | PyTorch operator | ms |", "|---|---:|---|---:|"]
        for (paddle_name, paddle_ms), (torch_name, torch_ms) in zip(result["top"]["paddle"], result["top"]["pytorch"]):
            lines.append(f"| {paddle_name} | {paddle_ms:,.1f} | {torch_name} | {torch_ms:,.1f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vs_pytorch.md").write_text(report)
    (out / "vs_pytorch.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
