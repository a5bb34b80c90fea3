"""The dataset cache: find files on disk, verify them, fetch what is missing, load arrays.

Each dataset lives in ``<root>/<name>/``; the root defaults to Paddle's own dataset folder
(``~/.cache/paddle/dataset``, so MNIST lands in ``~/.cache/paddle/dataset/mnist``) and is
overridden by ``--data-dir`` or the ``HANDWRITING_DATA`` environment variable.

A file is used only after its decompressed bytes match the official SHA-256. Fetched files
are written to a temporary name and renamed into place, so an interrupted run leaves
either the old state or a complete, verified file, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handwriting.atomic import write_bytes
from handwriting.data.idx import parse_idx, read_bytes
from handwriting.data.registry import DatasetSpec, IdxFile
from handwriting.data.sources import Log, SourceUnavailable
from handwriting.errors import DataError, counted

ENV_VAR = "HANDWRITING_DATA"
DEFAULT_ROOT = "~/.cache/paddle/dataset"  # Paddle's own DATA_HOME


def stderr_log(message: str) -> None:
    """Default progress reporter: one line on stderr, so stdout stays clean for results."""
    print(message, file=sys.stderr, flush=True)


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds one sub-folder per dataset: ``data_dir``, else $HANDWRITING_DATA, else Paddle's."""
    chosen = data_dir or os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(chosen).expanduser()


def dataset_dir(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> Path:
    """Where ``spec``'s files are cached: ``<root>/<name>``."""
    return data_root(data_dir) / spec.name


def find_cached(directory: Path, file: IdxFile) -> Path | None:
    """The file on disk under its raw name or its official ``.gz`` name (raw first), or None."""
    for candidate in (directory / file.name, directory / (file.name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def check_bytes(data: bytes, file: IdxFile, source: str) -> np.ndarray:
    """Parse the decompressed bytes of ``file`` and prove they are the official ones.

    Structural problems (truncation, wrong magic, wrong shape) are reported first because
    they say more than a checksum mismatch. Returns the array; raises ``DataError``.
    """
    array = parse_idx(data, ndim=file.ndim, source=source)
    if array.shape != file.shape:
        raise DataError(f"{source}: shape {list(array.shape)}, but {file.name} has {list(file.shape)}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != file.sha256:
        raise DataError(
            f"{source}: SHA-256 {digest[:16]}… is not that of the official {file.name} ({file.sha256[:16]}…)"
        )
    return array


@dataclass
class Verified:
    """A file that passed verification: where it is and its contents as an array."""

    path: Path
    array: np.ndarray


def check_cache(spec: DatasetSpec, directory: Path) -> tuple[dict[str, Verified], dict[str, str]]:
    """Verify every file of ``spec`` found in ``directory``.

    Returns ``(good, problems)``: the verified files by name, and for each missing or
    corrupt file a one-line description of what is wrong with it.
    """
    good: dict[str, Verified] = {}
    problems: dict[str, str] = {}
    for file in spec.files:
        path = find_cached(directory, file)
        if path is None:
            problems[file.name] = f"{directory / file.name}: missing (neither raw nor .gz)"
            continue
        try:
            good[file.name] = Verified(path, check_bytes(read_bytes(path), file, str(path)))
        except DataError as error:
            problems[file.name] = str(error)
    return good, problems


def ensure(
    spec: DatasetSpec, data_dir: str | os.PathLike | None = None, log: Log = stderr_log
) -> tuple[dict[str, Verified], list[str]]:
    """Make every file of ``spec`` present and verified in its cache folder.

    Files already there are checked; missing or corrupt ones are fetched from the spec's
    sources in order (a corrupt one is replaced). Returns the verified files by name and
    the list of names that were fetched now (empty when nothing had to be fetched).
    Raises ``DataError`` listing every attempt when some file cannot be had.
    """
    directory = dataset_dir(spec, data_dir)
    good, problems = check_cache(spec, directory)
    if not problems:
        return good, []
    missing = {file.name: file for file in spec.files if file.name in problems}
    for name, file in missing.items():
        if find_cached(directory, file) is not None:
            log(f"{problems[name]}; it will be replaced")
    attempts = [f"files in {directory} ({len(missing)} of {len(spec.files)} missing or corrupt)"]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"cannot create the data folder {directory} ({error.strerror}); choose another with --data-dir"
        ) from None

    fetched: list[str] = []
    for source in spec.sources:
        try:
            with tempfile.TemporaryDirectory(dir=directory, prefix=".fetch-") as scratch:
                delivered = source.fetch(list(missing), Path(scratch), log)
                rejected = []
                for name, path in delivered.items():
                    file = missing[name]
                    try:
                        data = read_bytes(path)  # decompressed: the cache always holds raw files
                        array = check_bytes(data, file, f"{source.label}'s {name}")
                    except DataError as error:
                        rejected.append(str(error))
                        log(f"rejected: {error}")
                        continue
                    target = directory / name
                    old = find_cached(directory, file)
                    write_bytes(target, data)
                    if old is not None and old != target:
                        old.unlink()  # a corrupt .gz would otherwise sit beside the good raw file
                    good[name] = Verified(target, array)
                    fetched.append(name)
                    del missing[name]
        except SourceUnavailable as error:
            attempts.append(f"{source.label}: {error}")
            log(f"{source.label}: {error}")
            continue
        except OSError as error:
            raise DataError(
                f"cannot write into the data folder {directory} ({error}); choose another with --data-dir"
            ) from None
        if not missing:
            return good, fetched
        attempts.append(
            f"{source.label}: " + ("; ".join(rejected) if rejected else f"does not carry {', '.join(missing)}")
        )

    raise DataError(
        f"could not get {spec.title}: tried " + "; ".join(attempts) + ". "
        f"Put the official files ({', '.join(missing)}, raw or .gz) into {directory} and run again"
    )


@dataclass
class SplitArrays:
    """One split in memory: ``images`` [N, H, W] uint8 (white ink on black), ``labels`` [N] int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class LoadedDataset:
    """A verified dataset in memory, with where it came from."""

    spec: DatasetSpec
    directory: Path
    splits: dict[str, SplitArrays]
    paths: dict[str, Path]  # file name -> the verified file it was read from

    @property
    def checksums(self) -> dict[str, str]:
        """File name -> SHA-256 of its decompressed contents (all verified)."""
        return {file.name: file.sha256 for file in self.spec.files}


def load(
    spec: DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    log: Log = stderr_log,
) -> LoadedDataset:
    """Load every split of ``spec`` into memory, fetching missing files when ``download``.

    With ``download=False`` nothing is written: a missing or corrupt file is a
    ``DataError`` naming it (this is what ``info`` uses).
    """
    directory = dataset_dir(spec, data_dir)
    if download:
        verified, _ = ensure(spec, data_dir, log)
    else:
        verified, problems = check_cache(spec, directory)
        if problems:
            first = next(iter(problems.values()))
            hint = f"python -m handwriting.data fetch {spec.name}"
            raise DataError(f"{first}; run `{hint}` to fetch a good copy")

    splits = {}
    for split_name, split in spec.splits.items():
        images = verified[split.images.name].array
        labels = verified[split.labels.name].array.astype(np.int64)
        if len(images) != len(labels):
            raise DataError(
                f"{verified[split.images.name].path} holds {counted(len(images), 'image')} but "
                f"{verified[split.labels.name].path} holds {counted(len(labels), 'label')}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= spec.num_classes):
            raise DataError(f"{verified[split.labels.name].path}: labels outside 0..{spec.num_classes - 1}")
        splits[split_name] = SplitArrays(images, labels)
    return LoadedDataset(spec, directory, splits, {name: item.path for name, item in verified.items()})
