"""CSV files as a dataset: one image a line, ``label,p0,...,p783``, as in the pure-Python article.

``--dataset csv:DIR/NAME`` reads ``DIR/NAME_train.csv`` and ``DIR/NAME_test.csv``; each line is a
label and the 28x28 pixels (0-255, row by row) of one image, with no header in the article's
files (a header line, such as Kaggle's ``label,1x1,1x2,...``, is skipped). When NAME is a
registered dataset (``mnist``, ``fashion-mnist``, ``emnist-letters``), the files are read in that
dataset's layout: its classes, the label of its first class (1 for EMNIST letters) and, for
EMNIST, pixels stored column by column. ``python -m handwriting.data export NAME --csv DIR``
writes a registered dataset in exactly that layout, so reading the export back gives the same
arrays as the IDX files.

The whole file is parsed by NumPy (``np.fromstring``), a chunk of lines at a time: reading
MNIST's 60,000 training lines takes seconds, not the minutes of a Python loop over 47 million
numbers. Each check runs on whole arrays first; only a failing chunk is searched line by line, to
name the line in the error.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handwriting.atomic import atomic_path
from handwriting.data.registry import CSV_SCHEME, DATASETS, DatasetSpec
from handwriting.data.sources import Log
from handwriting.data.store import LoadedDataset, SplitArrays, load, stderr_log
from handwriting.errors import DataError, UserError, counted, describe_os_error

SIDE = 28  # every image is 28x28, as in the IDX files
FIELDS = 1 + SIDE * SIDE  # a label, then 784 pixels
SPLITS = ("train", "test")  # NAME_train.csv, NAME_test.csv
CHUNK_LINES = 10_000  # lines parsed per NumPy call: ~60 MB of int64 at a time, not the whole file's 380 MB
UTF8_BOM = b"\xef\xbb\xbf"  # spreadsheets often start a saved CSV with it
# One field that np.fromstring reads as a whole number; what the error search looks for.
INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)


# ----------------------------------------------------------------------------- names


def csv_prefix(name: str) -> Path:
    """``csv:DIR/NAME`` -> the absolute prefix ``DIR/NAME`` (``~`` expanded; files are not looked at).

    Raises ``UserError`` when the name gives no file name part, or names a file rather than a prefix.
    """
    given = name[len(CSV_SCHEME) :] if name.startswith(CSV_SCHEME) else name
    stem = Path(given).name
    if not given or given.endswith(("/", os.sep)) or stem in ("", ".", ".."):
        raise UserError(f"{name!r} names no files: give csv:DIR/NAME for DIR/NAME_train.csv and DIR/NAME_test.csv")
    if stem.endswith(".csv"):
        short = re.sub(r"(_train|_test)?\.csv$", "", given)
        raise UserError(f"{name!r} names a file; give the prefix, csv:{short}, for {short}_train.csv and _test.csv")
    return Path(os.path.abspath(os.path.expanduser(given)))


def csv_paths(prefix: str | os.PathLike) -> dict[str, Path]:
    """The prefix ``DIR/NAME`` -> {"train": DIR/NAME_train.csv, "test": DIR/NAME_test.csv}."""
    prefix = Path(prefix)
    return {split: prefix.with_name(f"{prefix.name}_{split}.csv") for split in SPLITS}


def csv_spec(name: str) -> DatasetSpec:
    """The dataset ``csv:DIR/NAME``: the files ``DIR/NAME_train.csv`` and ``DIR/NAME_test.csv``.

    When NAME is a registered dataset, its classes, first label, orientation and framing apply.
    Otherwise the classes are named by ``DIR/NAME_classes.txt`` (one a line, label 0's first) when it
    is there, else "0", "1", ... up to the largest label in the files (at least "0" to "9"); labels
    start at 0, pixels are row by row and framed as MNIST's; to learn the largest
    label this reads the label column of both files now. Raises ``UserError`` for a malformed
    name and ``DataError`` for an unreadable file.
    """
    prefix = csv_prefix(name)
    stem = prefix.name
    shown = name[len(CSV_SCHEME) :]
    # Named by the absolute prefix: a checkpoint's card then finds its data from any folder.
    name = CSV_SCHEME + str(prefix)
    base = DATASETS.get(stem)
    if base is not None:
        return DatasetSpec(
            name=name,
            title=f"CSV files {shown}_*.csv (as {base.name})",
            classes=base.classes,
            splits={},
            framing=base.framing,
            transposed=base.transposed,
            first_label=base.first_label,
            csv_prefix=str(prefix),
        )
    largest = max(int(read_labels(path, stem).max()) for path in csv_paths(prefix).values())
    classes = tuple(str(label) for label in range(max(10, largest + 1)))
    named = classes_path(prefix)
    if named.is_file():
        classes = read_classes(named, largest)
    return DatasetSpec(
        name=name,
        title=f"CSV files {shown}_*.csv",
        classes=classes,
        splits={},
        csv_prefix=str(prefix),
    )


def classes_path(prefix: str | os.PathLike) -> Path:
    """``DIR/NAME`` -> ``DIR/NAME_classes.txt``: the classes' names, one a line, when it is there."""
    prefix = Path(prefix)
    return prefix.with_name(f"{prefix.name}_classes.txt")


def read_classes(path: Path, largest: int) -> tuple[str, ...]:
    """The classes named in ``path`` (one a line, label 0 first), checked to name every label up to
    ``largest``; a ``DataError`` saying what is wrong otherwise."""
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except OSError as error:
        raise DataError(f"{path}: cannot read it: {describe_os_error(error)}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; it should name the classes, one a line") from None
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise DataError(f"{path}: names {', '.join(map(repr, twice))} twice; name each class once, one a line")
    if len(names) <= largest:
        classes = "1 class" if len(names) == 1 else f"{len(names)} classes"
        raise DataError(
            f"{path}: names {classes}, but the labels go up to {largest}; name each class, one a line, label 0 first"
        )
    return names


# ----------------------------------------------------------------------------- reading


@dataclass
class CsvLines:
    """A CSV file's data lines (the header, if any, left out) and where they came from."""

    path: Path
    lines: list[str]  # one image a line, without the line break
    first_number: int  # the line number of lines[0] in the file (1, or 2 after a header)
    sha256: str  # of the file's bytes, as the checkpoint card records it

    def where(self, index: int) -> str:
        """``lines[index]``'s place, for an error message: "DIR/x_train.csv line 7"."""
        return f"{self.path} line {self.first_number + index}"


def missing_file(path: Path, stem: str) -> DataError:
    """The error for a CSV file that is not there, saying how to make one."""
    if stem in DATASETS:
        return DataError(
            f"{path}: no such file; `python -m handwriting.data export {stem} --csv {path.parent}` writes it"
        )
    return DataError(
        f"{path}: no such file; csv:DIR/NAME reads DIR/NAME_train.csv and DIR/NAME_test.csv "
        f"(`python -m handwriting.data export mnist --csv {path.parent}` writes MNIST's)"
    )


def read_lines(path: Path, stem: str) -> CsvLines:
    """Read ``path`` into its data lines, skipping a header line; ``stem`` (NAME) is for the
    missing-file hint. Raises ``DataError`` for a missing, unreadable or empty file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise missing_file(path, stem) from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a CSV file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read it: {describe_os_error(error)}") from None
    sha256 = hashlib.sha256(data).hexdigest()
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    # Latin-1 maps every byte to one character, so decoding never fails and a stray byte
    # surfaces as a non-number on its own line; "\r" before "\n" is whitespace to the parser.
    lines = data.decode("latin-1").split("\n")
    while lines and not lines[-1].strip():  # the final line break, and blank lines after it
        lines.pop()
    if not lines:
        raise DataError(f"{path}: the file is empty; expected one image a line: label,p0,...,p783")
    first_number = 1
    # A header such as "label,1x1,1x2,...": words where the numbers go, not one bad label.
    first_fields = lines[0].split(",")
    if first_bad_field(first_fields[:1]) is not None and first_bad_field(first_fields[1:]) is not None:
        lines.pop(0)
        first_number = 2
        if not lines:
            raise DataError(f"{path}: holds a header line but no images; expected one image a line: label,p0,...,p783")
    return CsvLines(path, lines, first_number, sha256)


def first_bad_field(fields: list[str]) -> int | None:
    """The index of the first field that is not a whole number, or None."""
    return next((index for index, text in enumerate(fields) if not INTEGER.fullmatch(text)), None)


def parse_integers(csv: CsvLines, start: int, texts: list[str], count: int) -> np.ndarray:
    """``texts`` (lines ``start``.. of ``csv``, or their first fields) -> int64 [len(texts), count].

    Raises ``DataError`` naming the line and field of the first value that is not a whole number.
    """
    try:
        values = np.fromstring(",".join(texts), dtype=np.int64, sep=",")  # ~50x faster than int() per field
    except ValueError:
        values = None
    if values is not None and values.size == len(texts) * count:
        return values.reshape(len(texts), count)
    # Something is not a number: search this chunk line by line, which only a broken file pays for.
    for offset, text in enumerate(texts):
        fields = text.split(",")
        bad = first_bad_field(fields)
        if bad is not None:
            what = "the label" if bad == 0 else f"pixel {bad - 1}"
            value = fields[bad].strip()
            shown = repr(value) if len(value) <= 20 else repr(value[:20]) + "…"  # a tab-separated line is one field
            raise DataError(f"{csv.where(start + offset)}: {what} is {shown}, not a whole number")
    raise DataError(f"{csv.path} lines {csv.first_number + start}..: cannot read them as numbers")


def read_labels(path: Path, stem: str) -> np.ndarray:
    """The labels as written in ``path`` (first field of each line), int64 [N]; checks they are
    whole numbers, nothing else."""
    csv = read_lines(path, stem)
    firsts = [line.split(",", 1)[0] for line in csv.lines]
    return parse_integers(csv, 0, firsts, 1)[:, 0]


def check_row_lengths(csv: CsvLines) -> None:
    """Every line must hold a label and 784 pixels; raises ``DataError`` at the first that does not."""
    commas = np.fromiter((line.count(",") for line in csv.lines), dtype=np.int64, count=len(csv.lines))
    ragged = np.flatnonzero(commas != FIELDS - 1)
    if ragged.size:
        index = int(ragged[0])
        raise DataError(
            f"{csv.where(index)}: {counted(int(commas[index]) + 1, 'field')}, expected {FIELDS} "
            f"(a label and {SIDE}x{SIDE} pixels)"
        )


def read_split(path: Path, spec: DatasetSpec) -> tuple[SplitArrays, str]:
    """One CSV file -> (its images [N, 28, 28] uint8 upright, labels [N] int64 class indices; its SHA-256).

    Raises ``DataError`` naming the file and line of the first ragged row, non-number, pixel
    outside 0..255 or label that is not one of ``spec``'s classes.
    """
    csv = read_lines(path, csv_stem(spec))
    check_row_lengths(csv)
    count = len(csv.lines)
    labels = np.empty(count, dtype=np.int64)  # [N]
    pixels = np.empty((count, SIDE * SIDE), dtype=np.uint8)  # [N, 784] as stored in the file
    lowest, highest = spec.first_label, spec.first_label + spec.num_classes - 1
    for start in range(0, count, CHUNK_LINES):
        values = parse_integers(csv, start, csv.lines[start : start + CHUNK_LINES], FIELDS)  # [n, 785] int64
        outside = (values[:, 1:] < 0) | (values[:, 1:] > 255)
        if outside.any():
            row, column = (int(index) for index in np.argwhere(outside)[0])
            raise DataError(f"{csv.where(start + row)}: pixel {column} is {values[row, column + 1]}, outside 0..255")
        wrong = np.flatnonzero((values[:, 0] < lowest) | (values[:, 0] > highest))
        if wrong.size:
            row = int(wrong[0])
            raise DataError(
                f"{csv.where(start + row)}: label {values[row, 0]} is outside {lowest}..{highest}, "
                f"the labels of the {spec.num_classes} classes"
            )
        labels[start : start + len(values)] = values[:, 0] - spec.first_label
        pixels[start : start + len(values)] = values[:, 1:]
    images = pixels.reshape(count, SIDE, SIDE)
    if spec.transposed:  # stored column by column (EMNIST): [N, W, H] -> upright [N, H, W]
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    return SplitArrays(images, labels), csv.sha256


@dataclass
class CsvDataset(LoadedDataset):
    """A dataset read from CSV files; its checksums are those of the CSV files themselves."""

    file_sha256: dict[str, str] = field(default_factory=dict)  # "NAME_train.csv" -> SHA-256 of its bytes

    @property
    def checksums(self) -> dict[str, str]:
        """CSV file name -> SHA-256 of its bytes, as the checkpoint card records them."""
        return dict(self.file_sha256)


def load_csv(spec: DatasetSpec) -> CsvDataset:
    """Read both CSV files of ``spec`` (made by ``csv_spec``) into memory, checked line by line."""
    if spec.csv_prefix is None:
        raise ValueError(f"{spec.name} is not a CSV dataset")
    paths = csv_paths(spec.csv_prefix)
    splits, sums = {}, {}
    for split, path in paths.items():
        splits[split], sums[path.name] = read_split(path, spec)
    return CsvDataset(
        spec,
        Path(spec.csv_prefix).parent,
        splits,
        {path.name: path for path in paths.values()},
        file_sha256=sums,
    )


# ----------------------------------------------------------------------------- writing


def csv_bytes(values: np.ndarray) -> bytes:
    """[N, F] non-negative integers -> their CSV text: fields joined by ",", each row ending in "\\n".

    Vectorised: every value is looked up in a table of its digits followed by ",", and the
    padding is dropped with one boolean mask, so no Python code runs per number.
    """
    if values.size == 0:
        return b""
    if values.min() < 0:
        raise ValueError("csv_bytes writes non-negative integers only")
    largest = int(values.max())
    width = len(str(largest)) + 1  # the longest number's digits and its separator
    digits = np.zeros((largest + 1, width), dtype=np.uint8)  # value -> its digits, ",", zero padding
    lengths = np.empty(largest + 1, dtype=np.int64)  # value -> how many of those bytes are used
    for value in range(largest + 1):
        text = f"{value},".encode("ascii")
        digits[value, : len(text)] = np.frombuffer(text, dtype=np.uint8)
        lengths[value] = len(text)
    cells = digits[values]  # [N, F, width]
    used = lengths[values]  # [N, F]
    rows = np.arange(len(values))
    cells[rows, -1, used[:, -1] - 1] = ord("\n")  # the last field of a row ends the line instead
    keep = np.arange(width) < used[..., None]  # [N, F, width]
    return cells[keep].tobytes()


def file_values(split: SplitArrays, spec: DatasetSpec) -> np.ndarray:
    """A split -> what its CSV lines hold, int64 [N, 785]: the label as the dataset's files write
    it (class index + first label), then the pixels in the files' order (column by column when
    ``spec.transposed``)."""
    images = split.images.transpose(0, 2, 1) if spec.transposed else split.images  # [N, 28, 28] as stored
    values = np.empty((len(split), FIELDS), dtype=np.int64)
    values[:, 0] = split.labels + spec.first_label
    values[:, 1:] = images.reshape(len(split), SIDE * SIDE)
    return values


def write_split(path: Path, split: SplitArrays, spec: DatasetSpec) -> None:
    """Write ``split`` to ``path`` as the article's CSV (no header), atomically."""
    with atomic_path(path) as temporary, open(temporary, "wb") as out:
        for start in range(0, len(split), CHUNK_LINES):
            chunk = SplitArrays(split.images[start : start + CHUNK_LINES], split.labels[start : start + CHUNK_LINES])
            out.write(csv_bytes(file_values(chunk, spec)))
        out.flush()
        os.fsync(out.fileno())


def csv_stem(spec: DatasetSpec) -> str:
    """The NAME of the CSV files a dataset is written to: its registry name (NAME of csv:DIR/NAME)."""
    return Path(spec.csv_prefix).name if spec.csv_prefix is not None else spec.name


def export_csv(
    spec: DatasetSpec,
    folder: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    log: Log = stderr_log,
) -> dict[Path, int]:
    """Write ``spec``'s splits to ``folder/NAME_train.csv`` and ``folder/NAME_test.csv``.

    Loads (fetching if needed, as ``load`` does) the dataset from ``data_dir``. Files already
    there are refused unless ``overwrite``; each file is written whole or not at all. Returns
    each written file with its number of rows. Raises ``UserError``/``DataError`` in one line.
    """
    folder = Path(folder).expanduser()
    targets = csv_paths(folder / csv_stem(spec))
    there = [str(path) for path in targets.values() if path.exists()]
    if there and not overwrite:
        verb = "exists" if len(there) == 1 else "exist"
        raise UserError(f"{' and '.join(there)} already {verb}; add --overwrite to replace, or choose another --csv")
    dataset = load(spec, data_dir, log=log)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create {folder} ({describe_os_error(error)}); choose another --csv folder") from None
    written = {}
    for split, path in targets.items():
        rows = len(dataset.splits[split])
        log(f"writing {counted(rows, 'row')} to {path}")
        try:
            write_split(path, dataset.splits[split], spec)
        except OSError as error:
            raise DataError(f"cannot write {path} ({describe_os_error(error)})") from None
        written[path] = rows
    return written
