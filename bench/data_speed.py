"""How fast the data path is: reading MNIST from disk, and feeding batches to Paddle.

    python bench/data_speed.py [--data-dir DIR] [--batch-size 128]

Prints a table and writes it to bench/results/data_speed.md (and .json). Needs the real
MNIST in the data folder (python -m handwriting.data fetch mnist).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe_machine  # noqa: E402
from handwriting.data import get_spec, load  # noqa: E402
from handwriting.data.store import dataset_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(repeats: int, work) -> float:
    """The fastest of ``repeats`` timings of ``work()`` in seconds (the least disturbed run)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size for the loader (default: 128)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure; the best is kept (default: 5)")
    args = parser.parse_args()

    spec = get_spec("mnist")
    quiet = lambda message: None  # noqa: E731
    rows = []

    load_raw = best_of(args.repeats, lambda: load(spec, args.data_dir, download=False, log=quiet))
    rows.append(("load all of MNIST from raw IDX files, SHA-256 verified", f"{load_raw:.3f} s"))

    with tempfile.TemporaryDirectory() as scratch:
        gz_root = Path(scratch)
        (gz_root / "mnist").mkdir()
        for file in spec.files:
            source = dataset_dir(spec, args.data_dir) / file.name
            with open(source, "rb") as raw, gzip.open(gz_root / "mnist" / (file.name + ".gz"), "wb") as packed:
                shutil.copyfileobj(raw, packed)
        load_gz = best_of(args.repeats, lambda: load(spec, gz_root, download=False, log=quiet))
    rows.append(("load all of MNIST from .gz files, SHA-256 verified", f"{load_gz:.3f} s"))

    import paddle  # after the load timings, so they do not include Paddle's import

    from handwriting.data.loader import ArrayDataset, make_loader

    train = load(spec, args.data_dir, download=False, log=quiet).splits["train"]

    def epoch(loader) -> None:
        for _batch in loader:
            pass

    batched = make_loader(train, args.batch_size, shuffle=True, seed=0)
    per_sample = paddle.io.DataLoader(ArrayDataset(train), batch_size=args.batch_size, shuffle=True)
    batched_s = best_of(max(1, args.repeats // 2), lambda: epoch(batched))
    per_sample_s = best_of(1, lambda: epoch(per_sample))
    rows.append(
        (
            f"make_loader: one shuffled training epoch, batch {args.batch_size}",
            f"{len(train) / batched_s:,.0f} images/s",
        )
    )
    rows.append(("per-sample paddle.io.DataLoader, same epoch", f"{len(train) / per_sample_s:,.0f} images/s"))

    machine = describe_machine()
    table = "\n".join(["| measurement | result |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows])
    report = f"# Data path speed\n\nMachine: {machine}; best of {args.repeats} runs.\n\n{table}\n"
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "data_speed.md").write_text(report)
    (RESULTS / "data_speed.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "load_raw_s": load_raw,
                "load_gz_s": load_gz,
                "make_loader_images_per_s": len(train) / batched_s,
                "per_sample_loader_images_per_s": len(train) / per_sample_s,
                "batch_size": args.batch_size,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
