"""How long `python train.py` takes to pass 99% MNIST test accuracy on this CPU, from a cold start.

    python bench/time_to_99.py                      # each fast setting 3 times, the default recipe once
    python bench/time_to_99.py --runs 5 --baseline-runs 0

Each run is a fresh `python train.py ...` process, timed from its start, so the clock includes
Python and Paddle importing, loading MNIST, building the model, every training step and the test
evaluation after each epoch. A run's time to 99% is the moment the first epoch whose test accuracy
is at least 99% was reported. The fast recipe runs as `train.py --recipe fast` in one process, and
as the same recipe in 2 processes of one thread each started by `paddle.distributed.launch`
(DataParallel over the two cores: batches of 128 a process, so the same 256 a step); the baseline
is `python train.py`'s own recipe (the shipped cnn's) with its schedule compressed into 3 epochs
and no augmentation, as a user in a hurry would cut it. Writes bench/results/time_to_99.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402
from handwriting.errors import counted  # noqa: E402

LAUNCH_2 = ["-m", "paddle.distributed.launch", "--nproc_per_node", "2"]
# label -> (what runs before train.py's flags: python's own arguments, train.py's flags)
COMMANDS = {
    "fast": ([], ["--recipe", "fast"]),
    "fast, 2 processes": (LAUNCH_2, ["--recipe", "fast", "--batch-size", "128"]),
    "default, 3 epochs": ([], ["--epochs", "3", "--augment", "none"]),
}
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+): train .*\| test loss \S+ acc ([0-9.]+) \|")
TARGET = 0.99


def timed_run(flags: list[str], out: str, name: str, launcher: list[str] = ()) -> dict:
    """One cold `python [launcher] train.py flags` -> {"epochs": [(epoch, test accuracy, seconds since
    start)], "total": seconds}."""
    environment = dict(os.environ, TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    logs = ["--log_dir", str(Path(out) / f"{name}.logs")] if launcher else []
    process = subprocess.Popen(
        [sys.executable, *launcher, *logs, str(ROOT / "train.py"), *flags, "--out", out, "--name", name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    epochs = []
    for line in process.stdout:
        match = EPOCH_LINE.match(line.split("\r")[-1].strip())  # after any progress bar's carriage returns
        if match:
            epochs.append((int(match.group(1)), float(match.group(3)), time.perf_counter() - started))
            print(f"    {line.strip()}  [{epochs[-1][2]:.1f} s]", flush=True)
    if process.wait() != 0:
        raise SystemExit(f"train.py {' '.join(flags)} failed (exit status {process.returncode})")
    return {"epochs": epochs, "total": time.perf_counter() - started}


def first_past(run: dict) -> tuple[int, float] | None:
    """(epoch, seconds) of the first epoch at or above the target; None when no epoch got there."""
    return next(((epoch, seconds) for epoch, accuracy, seconds in run["epochs"] if accuracy >= TARGET), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="cold runs of --recipe fast (default: 3)")
    parser.add_argument(
        "--baseline-runs", type=int, default=1, help="cold runs of the compressed default recipe (default: 1)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, (launcher, flags) in COMMANDS.items():
            count = args.baseline_runs if label.startswith("default") else args.runs
            runs = []
            for index in range(count):
                print(f"{label}: run {index + 1} of {count}", flush=True)
                runs.append(timed_run(flags, scratch, f"run-{len(results)}-{index}", launcher))
            if runs:
                results[label] = runs

    machine = describe_machine()
    rows = []
    summary = {}
    for label, runs in results.items():
        reached = [first_past(run) for run in runs]
        times = [hit[1] for hit in reached if hit]
        median = statistics.median(times) if len(times) == len(runs) else None
        summary[label] = {"median_seconds_to_99": median, "runs": len(runs)}
        for index, (run, hit) in enumerate(zip(runs, reached)):
            final = run["epochs"][-1][1]
            when = f"{hit[1]:.1f} s (epoch {hit[0]})" if hit else "not reached"
            launcher, flags = COMMANDS[label]
            command = " ".join(["python", *launcher, "train.py", *flags])
            rows.append(
                f"| `{command}` | {index + 1} | {when} | {final:.2%} after "
                f"{len(run['epochs'])} epochs | {run['total']:.1f} s |"
            )
    lines = [
        "# Time to 99% MNIST test accuracy (CPU, cold start)",
        "",
        f"Machine: {machine}. Each run is a fresh `python train.py` process timed from its start (imports, "
        "data, model, training, a test evaluation after every epoch).",
        "",
        "| command | run | time to 99% | final test accuracy | whole run |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
    ]
    for label, numbers in summary.items():
        median = numbers["median_seconds_to_99"]
        verdict = f"median {median:.1f} s" if median is not None else "99% not reached in every run"
        lines.append(f"- **{label}** ({counted(numbers['runs'], 'run')}): {verdict}")
    report = "\n".join(lines) + "\n"
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "time_to_99.md").write_text(report)
    payload = {"machine": machine, "target": TARGET, "summary": summary, "runs": results}
    (out / "time_to_99.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
