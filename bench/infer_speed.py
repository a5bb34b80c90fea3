"""How fast is infer.py? Start-up plus one picture, and a directory of 1,000 pictures.

    python bench/infer_speed.py              # prints a table, writes bench/results/infer_speed.{md,json}

1. ``python infer.py work/example_0.png`` end to end, as a user runs it (a fresh process each
   time: Python, Paddle and the model load, one picture read, cleaned and recognised). Best and
   median of 5 runs.
2. A directory of 1,000 pictures people might send: MNIST test digits re-drawn by
   ``synthetic.redraw`` (dark ink on grey paper, lighting gradient, noise, 84-450 px, JPEG)
   and, for the record, 1,000 plain 28x28 MNIST PNGs. Timed after start-up (worker processes
   started, model loaded): reading + preprocessing (the workers) + the model in batches of 256
   (on one thread, the workers having the cores), as ``infer.py DIR`` does, with infer.py's default
   backend (auto: models/cnn.onnx in onnxruntime).
   Accuracy on the re-drawn digits is printed too, for both preprocessing recipes.
"""

from __future__ import annotations

import argparse
import json
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


def end_to_end(runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "infer.py"), str(ROOT / "work" / "example_0.png")],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        seconds.append(time.perf_counter() - start)
    return seconds


def write_directory(directory: Path, count: int, redrawn: bool, seed: int = 0) -> np.ndarray:
    """Write ``count`` MNIST test digits as picture files into ``directory``; return their labels."""
    import cv2

    from handwriting.data import get_spec, load
    from synthetic.redraw import redraw

    test = load(get_spec("mnist")).splits["test"]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(test.labels), count, replace=False)
    directory.mkdir(parents=True, exist_ok=True)
    for position, index in enumerate(chosen):
        if redrawn:
            picture = redraw(test.images[index], rng)
            cv2.imwrite(str(directory / f"{position:04d}.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 90])
        else:
            cv2.imwrite(str(directory / f"{position:04d}.png"), test.images[index])
    return test.labels[chosen]


def directory_speed(directory: Path, labels: np.ndarray, backend, pool, preprocess: str, repeats: int) -> dict:
    from handwriting.recognise import collect, recognise

    best, accuracy = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        items = collect([str(directory)])
        results = list(recognise(items, backend, preprocess, pool=pool))
        best = min(best, time.perf_counter() - start)
        predicted = [result.label for result in results]
        accuracy = float(np.mean([label == str(truth) for label, truth in zip(predicted, labels)]))
    return {"images": len(labels), "seconds": best, "images_per_second": len(labels) / best, "accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="pictures in the directory (default: 1000)")
    parser.add_argument("--runs", type=int, default=5, help="end-to-end runs (default: 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the directory (default: 3)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the results go")
    args = parser.parse_args()

    from handwriting.backends import make_backend
    from handwriting.recognise import start_workers
    from handwriting.runtime import quiet_paddle_import_warnings

    quiet_paddle_import_warnings()  # before a backend imports Paddle

    seconds = end_to_end(args.runs)
    print(f"python infer.py work/example_0.png: best {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s")

    # Start-up, as infer.py does it: worker processes and the model; then time the directories.
    pool = start_workers()
    backend = make_backend("auto", device="cpu", threads=1)  # the workers have the cores, as in infer.py DIR
    rows = {}
    with pool, tempfile.TemporaryDirectory() as scratch:
        for kind, redrawn in (("re-drawn photos (JPEG, 84-450 px)", True), ("MNIST 28x28 PNG", False)):
            directory = Path(scratch) / ("redrawn" if redrawn else "plain")
            labels = write_directory(directory, args.count, redrawn)
            for preprocess in ("mnist", "naive"):
                row = directory_speed(directory, labels, backend, pool, preprocess, args.repeats)
                rows[f"{kind}, --preprocess {preprocess}"] = row
                print(
                    f"{kind:36s} --preprocess {preprocess:5s}: {row['images_per_second']:7.0f} images/s "
                    f"({row['seconds']:.2f} s for {row['images']}), accuracy {row['accuracy']:.2%}"
                )

    results = {
        "end_to_end_seconds": seconds,
        "directory": rows,
        "machine": describe_machine(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "infer_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# infer.py speed (CPU)",
        "",
        f"`python infer.py work/example_0.png`, end to end: best {min(seconds):.2f} s, "
        f"median {statistics.median(seconds):.2f} s of {len(seconds)} runs. Machine: {results['machine']}.",
        "",
        "| directory of pictures | images/s after start-up | accuracy |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {row['images_per_second']:.0f} | {row['accuracy']:.2%} |" for name, row in rows.items()]
    (out / "infer_speed.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'infer_speed.md'}")


if __name__ == "__main__":
    main()
