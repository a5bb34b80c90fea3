"""How well whole numbers are read: rows of 3-6 (and 7-8) MNIST test digits, found, cut apart and read.

    python bench/read_numbers.py                # 200 rows of 3-6 digits and 60 of 7-8 a style;
                                                # writes bench/results/read_numbers.{md,json,png}
    python bench/read_numbers.py --rows 50 --seed 3 --out /tmp/numbers

Each row is written by ``synthetic.rows`` from MNIST *test* digits (never training digits): uneven
spacing, a wandering baseline, sizes and slants that vary, touching pairs and broken strokes. It is
made into the kinds of picture the single-digit benches use (a drawing app's canvas; photos of
paper: grey paper in uneven light, pencil, ruled paper, a shadow across the page), saved as the file
a user would have, and read by ``infer.py``'s own path (``handwriting.recognise``) with the shipped
cnn, helped by models/pairs (a digit alone, or two touching) and checked line by line by models/lines
(the line reader, which reads a whole line at once). Reported per style: exact-string
accuracy (every digit right, none missing, none extra, and no space or new line read into the
number) and per-character accuracy, 1 - CER: one
minus the edits (digits misread, missing or extra; Levenshtein) it takes to turn what was read into
what was written, over all digits written. The goal is set on rows of 3-6 digits; a second, smaller
table gives rows of 7-8. The misread rows of 3-6 digits are drawn into a PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe_machine  # noqa: E402
from synthetic.rows import STYLES, as_picture, write_row  # noqa: E402

LENGTHS = (3, 6)  # digits a row, both included: the rows the goal is set on
LONGER = (7, 8)  # digits a row in the second, smaller table: postcodes and amounts that run longer
SHOWN = 24  # misread rows drawn into the PNG


def written_rows(test, style: str, count: int, seed: int, lengths: tuple[int, int] = LENGTHS):
    """-> [(the digits written, the row's picture, touching pairs, broken digits)] for one style."""
    # The 3-6 digit rows keep the stream they have always had; longer rows draw from their own.
    key = [seed, STYLES.index(style)] if lengths == LENGTHS else [seed, STYLES.index(style), *lengths]
    rng = np.random.default_rng(key)
    rows = []
    for _ in range(count):
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        chosen = rng.choice(len(test.labels), length, replace=False)
        truth = "".join(str(int(label)) for label in test.labels[chosen])
        row = write_row([test.images[index] for index in chosen], rng)
        rows.append((truth, as_picture(row.ink, style, rng), row.touching, row.broken))
    return rows


def edits(truth: str, text: str) -> int:
    """The Levenshtein distance: how many characters misread, missing or extra turn ``text`` into ``truth``."""
    previous = list(range(len(text) + 1))
    for row, wanted in enumerate(truth, 1):
        current = [row]
        for column, read in enumerate(text, 1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (wanted != read)))
        previous = current
    return previous[-1]


def read_rows(rows: list, style: str, backend, scratch: Path) -> tuple[dict, list]:
    """Each row saved as the file a user would have and read by infer.py's path -> (the style's
    figures, [(style, written, read, picture)] for the rows misread)."""
    from handwriting.recognise import recognise

    paths = []
    for number, (truth, picture, _, _) in enumerate(rows):
        suffix = ".png" if style == "drawing" else ".jpg"  # the photos are JPEG already
        path = scratch / f"{style.replace(' ', '_')}_{len(truth)}_{number:04d}{suffix}"
        cv2.imwrite(str(path), picture, [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix == ".jpg" else [])
        paths.append(str(path))
    exact = wrong = digits = touched = touched_exact = 0
    misread = []
    for (truth, picture, touching, _), result in zip(rows, recognise(paths, backend)):
        text = (result.label or "") if result.error is None else ""  # a space read in a number is an edit too
        exact, wrong, digits = exact + (text == truth), wrong + edits(truth, text), digits + len(truth)
        touched, touched_exact = touched + (touching > 0), touched_exact + (touching > 0 and text == truth)
        if text != truth:
            misread.append((style, truth, text or f"({result.error})", picture))
    figures = {
        "rows": len(rows),
        "exact": exact / len(rows),
        "per_character": 1 - wrong / digits,
        "digits": digits,
        "edits": wrong,
        "rows_with_touching": touched,
        "exact_with_touching": touched_exact / max(1, touched),
        "exact_without_touching": (exact - touched_exact) / max(1, len(rows) - touched),
        "touching_pairs": sum(row[2] for row in rows),
        "broken_digits": sum(row[3] for row in rows),
        "misread": [{"written": truth, "read": text} for _, truth, text, _ in misread],
    }
    return figures, misread


def overall(results: dict) -> dict:
    """Per-style figures -> the figures over all styles: every row and every digit weighs the same."""
    rows = sum(numbers["rows"] for numbers in results.values())
    written = sum(numbers["digits"] for numbers in results.values())
    return {
        "exact": sum(numbers["exact"] * numbers["rows"] for numbers in results.values()) / rows,
        "per_character": 1 - sum(numbers["edits"] for numbers in results.values()) / written,
        "rows": rows,
    }


def table(results: dict) -> list[str]:
    """Per-style figures -> the markdown table's lines, with its header and the row for all styles."""
    every = overall(results)
    return [
        "| style | rows | exact string | per character | exact: rows with no touching pair | exact: rows with one "
        "or more | touching pairs | broken digits |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {style} | {numbers['rows']} | {numbers['exact']:.1%} | {numbers['per_character']:.2%} | "
            f"{numbers['exact_without_touching']:.1%} | {numbers['exact_with_touching']:.1%} "
            f"({numbers['rows_with_touching']} rows) | {numbers['touching_pairs']} | {numbers['broken_digits']} |"
            for style, numbers in results.items()
        ),
        f"| **all** | {every['rows']} | **{every['exact']:.1%}** | **{every['per_character']:.2%}** | | | | |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200, help="rows of 3-6 digits per style (default: 200)")
    parser.add_argument(
        "--longer-rows", type=int, default=60, help="rows of 7-8 digits per style, 0 for none (default: 60)"
    )
    # The thresholds in handwriting/preprocess/marks.py were set looking at seeds 0-2; the shipped
    # figures come from seed 7, published at each step since (docs/pictures.md gives an unseen seed's).
    parser.add_argument("--seed", type=int, default=7, help="which digits and how they are written (default: 7)")
    parser.add_argument("--data-dir", metavar="DIR", help="data root (default: as handwriting.data)")
    parser.add_argument(
        "--out", default=str(ROOT / "bench" / "results"), help="where the results go (default: bench/results)"
    )
    args = parser.parse_args()
    if args.rows < 1 or args.longer_rows < 0:
        parser.error(f"--rows must be 1 or more and --longer-rows 0 or more, not {args.rows} and {args.longer_rows}")

    from handwriting.backends import make_backend
    from handwriting.data import get_spec, load
    from handwriting.errors import UserError
    from handwriting.recognise import line_reader_for, pairs_helper

    try:
        test = load(get_spec("mnist"), args.data_dir, download=False, log=lambda message: None).splits["test"]
        backend = make_backend("auto")
    except UserError as error:
        sys.exit(f"error: {error}")
    results, longer, misread = {}, {}, []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for style in STYLES:
            results[style], wrong = read_rows(
                written_rows(test, style, args.rows, args.seed), style, backend, Path(scratch)
            )
            misread += wrong
            numbers = results[style]
            print(
                f"{style:12s} exact {numbers['exact']:6.1%}   per character {numbers['per_character']:7.2%}", flush=True
            )
        for style in STYLES if args.longer_rows else ():
            rows = written_rows(test, style, args.longer_rows, args.seed, LONGER)
            longer[style], _ = read_rows(rows, style, backend, Path(scratch))
            numbers = longer[style]
            print(
                f"{style:12s} exact {numbers['exact']:6.1%}   per character {numbers['per_character']:7.2%}"
                f"   ({LONGER[0]}-{LONGER[1]} digits)",
                flush=True,
            )
    seconds = time.perf_counter() - started
    helped = (
        "helped by models/pairs"
        if pairs_helper(backend) is not None
        else "without models/pairs (it could not be loaded, or does not suit the model)"
    ) + (
        ", each line checked by models/lines"
        if line_reader_for(backend) is not None
        else ", without models/lines (it could not be loaded, or does not suit the model)"
    )

    machine = describe_machine()
    lines = [
        f"# Reading whole numbers: rows of {LENGTHS[0]}-{LENGTHS[1]} MNIST test digits (`bench/read_numbers.py`)",
        "",
        f"{machine}; seed {args.seed}; the shipped cnn ({backend.name}), {helped}; {seconds:.0f} s in all. "
        "Per character: "
        "1 - CER, one minus the digits misread, missing or extra over the digits written.",
        "",
        *table(results),
        "",
    ]
    if longer:
        lines += [
            f"## Longer rows: {LONGER[0]}-{LONGER[1]} digits",
            "",
            "Written and photographed as above, from other test digits; no goal is set on them.",
            "",
            *table(longer),
            "",
        ]
    report = "\n".join(lines)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {**overall(results), "seconds": round(seconds, 1)}
    figures = {"machine": machine, "seed": args.seed, "all": summary, "styles": results}
    if longer:
        figures["longer"] = {"digits": list(LONGER), "all": overall(longer), "styles": longer}
    (out / "read_numbers.md").write_text(report)
    (out / "read_numbers.json").write_text(json.dumps(figures, indent=2) + "\n")
    draw_misread(misread[:SHOWN], out / "read_numbers.png")
    print(f"wrote {out / 'read_numbers.md'}, .json and .png")


def draw_misread(misread: list, path: Path) -> None:
    """The misread rows, each captioned with what was written and what was read."""
    from handwriting.reports import _pyplot, _save_figure

    plt = _pyplot()
    count = max(1, len(misread))
    columns = 3
    figure, axes = plt.subplots(-(-count // columns), columns, figsize=(12, 1.4 * -(-count // columns)), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (style, truth, text, picture) in zip(axes.flat, misread):
        axis.imshow(picture, cmap="gray", vmin=0, vmax=255)
        axis.set_title(f"{style}: {truth} read {text}", fontsize=8)
    figure.suptitle("Misread rows" if misread else "No row misread", fontsize=10)
    _save_figure(figure, path)
    plt.close(figure)


if __name__ == "__main__":
    main()
