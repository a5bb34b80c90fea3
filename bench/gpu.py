"""Training on a GPU: time to 99% MNIST test accuracy and images per second, mixed precision off and on.

    python bench/gpu.py                 # on a machine with a CUDA build of Paddle and a GPU
    python bench/gpu.py --runs 3

Each run is a cold `python train.py --device gpu ...` (bench/time_to_99.py's timing: from the
process's start to the report of the first epoch at 99%), for the fast recipe and for the shipped
cnn's recipe compressed into 3 epochs, each with and without --amp. Images per second are the
training steps' own (train.py synchronises the GPU before it reads the clock), the best epoch of a
run. Writes bench/results/gpu.md and .json. Where there is no GPU it says so and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402
from bench.time_to_99 import COMMANDS, first_past, timed_run  # noqa: E402


def gpu_name() -> str | None:
    """The first GPU's name, or None when this Paddle build has no CUDA or sees no GPU."""
    import paddle

    from handwriting.runtime import gpu_available

    return paddle.device.cuda.get_device_name(0) if gpu_available() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="cold runs of each setting (default: 1)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()

    name = gpu_name()
    if name is None:
        print(
            "bench/gpu.py: no GPU here (this Paddle build has no CUDA, or it sees no GPU), so nothing was measured "
            "or written; run it on a CUDA machine (python install.py --gpu cu126 installs Paddle's GPU build)",
            file=sys.stderr,
        )
        return 1

    rows, results = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, (launcher, flags) in COMMANDS.items():
            if launcher:  # several processes: one GPU each, which this bench does not assume
                continue
            for amp in (False, True):
                setting = [*flags, "--device", "gpu", *(["--amp"] if amp else [])]
                runs = []
                for index in range(args.runs):
                    print(f"{label}, amp {'on' if amp else 'off'}: run {index + 1} of {args.runs}", flush=True)
                    run = timed_run(setting, scratch, f"gpu-{len(results)}-{index}")
                    card = json.loads((Path(scratch) / f"gpu-{len(results)}-{index}.json").read_text())
                    run["images_per_second"] = max(epoch["images_per_second"] for epoch in card["epochs"])
                    run["precision"] = card["precision"]
                    runs.append(run)
                results[" ".join(setting)] = runs
                reached = [first_past(run) for run in runs]
                median = statistics.median(hit[1] for hit in reached) if all(reached) else None
                speed = statistics.median(run["images_per_second"] for run in runs)
                final = statistics.median(run["epochs"][-1][1] for run in runs)
                when = f"{median:.1f} s" if median is not None else "not reached"
                rows.append(f"| `{' '.join(setting)}` | {runs[0]['precision']} | {when} | {speed:,.0f} | {final:.2%} |")
    machine = f"{describe_machine()}, GPU: {name}"
    report = "\n".join(
        [
            "# Training on a GPU",
            "",
            f"Machine: {machine}; median of {args.runs} cold `python train.py` run(s) per row.",
            "",
            "| train.py flags | precision | time to 99% | training images/s | final test accuracy |",
            "|---|---|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.md").write_text(report)
    (out / "gpu.json").write_text(json.dumps({"machine": machine, "runs": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
