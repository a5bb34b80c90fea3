"""Each way to run a model, side by side: start-up to the first answer, batch-128 throughput, parity.

    python bench/deploy_speed.py          # prints tables, writes bench/results/deploy_speed.{md,json}

Every shipped MNIST model (models/cnn, mlp, mlp-sigmoid) is copied to a temporary folder and exported
there by ``handwriting.export`` in every format; then, for each backend of ``infer.py``:

1. **Start-up** (models/cnn only): ``python infer.py work/example_0.png --backend B --model M`` in a
   fresh process, as a user runs it: Python, the backend's libraries and the model load, one photo
   is read, cleaned and recognised. Median and best of ``--runs``; the answer printed is recorded
   (it must be the same for every backend).
2. **Throughput**: ``backend.probabilities`` on batches of 128 MNIST test frames (what ``infer.py``
   does once pictures are prepared; preparing them is ``bench/infer_speed.py``'s subject), after 5
   warm-up batches, for at least ``--seconds``; images per second. Each backend uses both cores.
3. **Parity**: the largest difference in any class probability from the dynamic-graph model over the
   10,000 test pictures, and how often the top class is the same.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402

MODELS = ("cnn", "mlp", "mlp-sigmoid")
# infer.py's backend, and the file it runs, for each way (after the checkpoint's name).
WAYS = {
    "paddle": ("paddle", ".pdparams"),
    "inference": ("inference", ".paddle"),
    "onnx": ("onnx", ".onnx"),
    "onnx-int8": ("onnx", ".int8.onnx"),
    "numpy": ("numpy", ".npz"),
}
BATCH = 128


def exported(name: str, folder: Path) -> None:
    """models/<name> copied into ``folder`` and exported there in every format."""
    from handwriting.export import FORMATS, export

    for suffix in (".pdparams", ".json"):
        shutil.copy(ROOT / "models" / f"{name}{suffix}", folder / f"{name}{suffix}")
    export(folder / f"{name}.pdparams", FORMATS, log=lambda line: print(f"  {line}", file=sys.stderr))


def start_up(arguments: list[str], runs: int) -> tuple[list[float], str]:
    """Seconds for each fresh ``python infer.py work/example_0.png ...``, and what it printed."""
    seconds, printed = [], set()
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "infer.py", "work/example_0.png", *arguments], capture_output=True, text=True, cwd=ROOT
        )
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"infer.py {' '.join(arguments)} failed: {done.stderr.strip()}")
        printed.add(done.stdout.strip())
    if len(printed) != 1:
        raise RuntimeError(f"infer.py {' '.join(arguments)} answered differently from run to run: {printed}")
    return seconds, printed.pop()


def throughput(backend, frames: np.ndarray, seconds: float) -> float:
    """Images per second through ``backend.probabilities`` in batches of ``BATCH``."""
    batches = [frames[start : start + BATCH] for start in range(0, len(frames) - BATCH + 1, BATCH)]
    for batch in batches[:5]:
        backend.probabilities(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        backend.probabilities(batches[done % len(batches)])
        done += 1
    return done * BATCH / (time.perf_counter() - start)


def measured(kind: str, model: Path, frames: np.ndarray, seconds: float) -> tuple[float, np.ndarray]:
    """In a fresh process, so that no other library's threads linger beside it: (images per second,
    the probabilities [N, C] on ``frames``) for backend ``kind`` running ``model``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
        return process.submit(_measure, kind, model, frames, seconds).result()


def _measure(kind: str, model: Path, frames: np.ndarray, seconds: float) -> tuple[float, np.ndarray]:
    from handwriting.backends import BACKENDS
    from handwriting.runtime import quiet_paddle_import_warnings

    quiet_paddle_import_warnings()
    backend = BACKENDS[kind](model, device="cpu")
    got = np.concatenate([backend.probabilities(frames[start : start + 500]) for start in range(0, len(frames), 500)])
    return throughput(backend, frames, seconds), got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="start-up runs per backend (default: 5)")
    parser.add_argument("--seconds", type=float, default=3.0, help="throughput timing per backend (default: 3)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()

    from handwriting.data import get_spec, load
    from handwriting.runtime import quiet_paddle_import_warnings

    quiet_paddle_import_warnings()
    split = load(get_spec("mnist")).splits["test"]
    test, labels = split.images, split.labels  # uint8 [10000, 28, 28], int64 [10000]
    results: dict = {"machine": describe_machine(), "batch": BATCH, "models": {}}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in MODELS:
            print(f"exporting {name}", file=sys.stderr)
            exported(name, folder)
            rows, reference = {}, None
            for way, (kind, suffix) in WAYS.items():  # paddle first: the reference
                model = folder / f"{name}{suffix}"
                speed, got = measured(kind, model, test, args.seconds)
                reference = got if reference is None else reference
                row = {
                    "backend": kind,
                    "file": model.name,
                    "images_per_second": round(speed),
                    "max_probability_difference": float(np.abs(got - reference).max()),
                    "same_top_class": float((got.argmax(1) == reference.argmax(1)).mean()),
                    "accuracy": float((got.argmax(1) == labels).mean()),
                }
                if name == "cnn":
                    seconds, printed = start_up(["--backend", kind, "--model", str(model)], args.runs)
                    row |= {"start_up_seconds": seconds, "answer": printed.split(": ", 1)[1]}
                rows[way] = row
                print(f"  {name} {way}: {json.dumps(row)}", file=sys.stderr)
            results["models"][name] = rows
    seconds, printed = start_up([], args.runs)  # the README's command, on the shipped model
    results["default"] = {
        "command": "python infer.py work/example_0.png",
        "start_up_seconds": seconds,
        "answer": printed,
    }

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "deploy_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "deploy_speed.md").write_text(report(results))
    print(report(results))


def report(results: dict) -> str:
    default = results["default"]
    lines = [
        "# Ways to run a model: start-up, throughput, parity (`bench/deploy_speed.py`)",
        "",
        f"Machine: {results['machine']}.",
        "",
        f"`{default['command']}` (backend auto, the shipped models/cnn.onnx): median "
        f"{statistics.median(default['start_up_seconds']):.2f} s, best {min(default['start_up_seconds']):.2f} s "
        f"of {len(default['start_up_seconds'])} runs; it printed `{default['answer']}`.",
        "",
        "## models/cnn",
        "",
        "| way | start-up to first answer (median, best) | answer | images/s, batch 128 | largest probability "
        "difference from Paddle | same top class | accuracy |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for way, row in results["models"]["cnn"].items():
        seconds = row["start_up_seconds"]
        lines.append(
            f"| {way} (`--backend {row['backend']}`, {row['file']}) | {statistics.median(seconds):.2f} s, "
            f"{min(seconds):.2f} s | `{row['answer']}` | {row['images_per_second']:,} | "
            f"{row['max_probability_difference']:.1e} | {row['same_top_class']:.2%} | {row['accuracy']:.2%} |"
        )
    for name, rows in results["models"].items():
        if name == "cnn":
            continue
        lines += [
            "",
            f"## models/{name}",
            "",
            "| way | images/s, batch 128 | largest probability difference | same top class | accuracy |",
            "|---|---:|---:|---:|---:|",
        ]
        for way, row in rows.items():
            lines.append(
                f"| {way} | {row['images_per_second']:,} | {row['max_probability_difference']:.1e} | "
                f"{row['same_top_class']:.2%} | {row['accuracy']:.2%} |"
            )
    lines += [
        "",
        "Parity is over the 10,000 MNIST test pictures, against the dynamic-graph model (`--backend paddle`).",
        "onnx-int8 is not exact by design (8-bit weights and activations); `handwriting.export` holds it to "
        "Paddle's top class on 99.5% of the test pictures instead.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
