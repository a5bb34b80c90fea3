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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from handwriting.atomic import write_bytes
from handwriting.data.idx import parse_idx, read_bytes
from handwriting.data.registry import DatasetSpec, IdxFile, classes_from_mapping
from handwriting.data.sources import Log, SourceUnavailable
from handwriting.errors import DataError, UserError, counted, describe_os_error

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
    """Where ``spec``'s files are cached: ``<root>/<name>`` (``<root>/emnist`` for EMNIST's splits)."""
    return data_root(data_dir) / spec.cache_folder


def find_cached(directory: Path, file: IdxFile) -> Path | None:
    """The file on disk under its raw name or its official ``.gz`` name (raw first), or None."""
    for candidate in (directory / file.name, directory / (file.name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


# EMNIST's files have no published SHA-256: the first fetch records them here, in the dataset's
# cache folder, in `sha256sum`'s format, and every later load checks the files against it.
RECORDED_SUMS = "sha256sums.txt"


def recorded_sums(directory: Path) -> dict[str, str]:
    """File name -> SHA-256 recorded by an earlier fetch in ``directory`` ({} when none)."""
    try:
        lines = (directory / RECORDED_SUMS).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    sums = {}
    for line in lines:
        digest, _, name = line.partition("  ")
        if len(digest) == 64 and name:
            sums[name] = digest
    return sums


def record_sums(directory: Path, new: dict[str, str]) -> None:
    """Add ``new`` (file name -> SHA-256) to ``directory``'s record, written atomically."""
    sums = recorded_sums(directory) | new
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
    write_bytes(directory / RECORDED_SUMS, text.encode("ascii"))


def expected_sha256(file: IdxFile, recorded: dict[str, str]) -> str | None:
    """The SHA-256 ``file`` must have: the published one, else the one recorded at its first fetch."""
    return file.sha256 or recorded.get(file.name)


def check_bytes(data: bytes, file: IdxFile, source: str, expected: str | None) -> tuple[np.ndarray, str]:
    """Parse the decompressed bytes of ``file`` and prove they are the right ones -> (array, SHA-256).

    Structural problems (truncation, wrong magic, wrong shape — the official counts) are reported
    first because they say more than a checksum mismatch. ``expected`` None (a file whose SHA-256
    is not known yet) checks the structure only. Raises ``DataError``.
    """
    array = parse_idx(data, ndim=file.ndim, source=source)
    if array.shape != file.shape:
        raise DataError(f"{source}: shape {list(array.shape)}, but {file.name} has {list(file.shape)}")
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected:
        if expected == file.sha256:
            official = f"the official {file.name} ({expected[:16]}…)"
            raise DataError(f"{source}: SHA-256 {digest[:16]}… is not that of {official}")
        raise DataError(
            f"{source}: SHA-256 {digest[:16]}… is not the one recorded in {RECORDED_SUMS} when {file.name} was first "
            f"fetched ({expected[:16]}…); fetch it again (a file replaced on purpose: delete that line first)"
        )
    return array, digest


def check_mapping(text_bytes: bytes, spec: DatasetSpec, source: str) -> None:
    """Prove a label mapping file (EMNIST's) names ``spec``'s classes in order; ``DataError`` if not."""
    try:
        classes, first = classes_from_mapping(text_bytes.decode("ascii"), source)
    except (UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{source}: not a label mapping ({error})") from None
    if (classes, first) != (spec.classes, spec.first_label):
        raise DataError(f"{source}: its classes {' '.join(classes)} are not {spec.name}'s ({' '.join(spec.classes)})")


@dataclass
class Verified:
    """A file that passed verification: where it is, its contents as an array (None for a mapping),
    and the SHA-256 of its decompressed bytes."""

    path: Path
    array: np.ndarray | None
    sha256: str = ""


def check_cache(spec: DatasetSpec, directory: Path) -> tuple[dict[str, Verified], dict[str, str]]:
    """Verify every file of ``spec`` found in ``directory`` (and its label mapping, if it has one).

    Returns ``(good, problems)``: the verified files by name, and for each missing, corrupt or
    not yet verified file a one-line description of what is wrong with it.
    """
    good: dict[str, Verified] = {}
    problems: dict[str, str] = {}
    recorded = recorded_sums(directory)
    for file in spec.files:
        path = find_cached(directory, file)
        expected = expected_sha256(file, recorded)
        if path is None:
            problems[file.name] = f"{directory / file.name}: missing (neither raw nor .gz)"
        elif expected is None:
            problems[file.name] = f"{path}: not verified yet"
        else:
            try:
                data = read_bytes(path)
                good[file.name] = Verified(path, *check_bytes(data, file, str(path), expected))
            except DataError as error:
                problems[file.name] = str(error)
    if spec.mapping:
        path = directory / spec.mapping
        try:
            check_mapping(path.read_bytes(), spec, str(path))
            good[spec.mapping] = Verified(path, None)
        except FileNotFoundError:
            problems[spec.mapping] = f"{path}: missing"
        except OSError as error:
            problems[spec.mapping] = f"{path}: cannot read it ({describe_os_error(error)})"
        except DataError as error:
            problems[spec.mapping] = str(error)
    return good, problems


def adopt_unverified(spec: DatasetSpec, directory: Path, good: dict[str, Verified], log: Log) -> None:
    """Files with no known SHA-256 (EMNIST's) that someone put into ``directory``: check their
    structure and counts, and record their SHA-256 so later loads verify them. Adds to ``good``."""
    recorded = recorded_sums(directory)
    adopted = {}
    for file in spec.files:
        path = find_cached(directory, file)
        if file.name in good or path is None or expected_sha256(file, recorded) is not None:
            continue
        try:
            array, digest = check_bytes(read_bytes(path), file, str(path), None)
        except DataError as error:
            log(f"{error}; it will be replaced")
            continue
        good[file.name] = Verified(path, array, digest)
        adopted[file.name] = digest
    if adopted:
        record_sums(directory, adopted)
        log(f"checked and recorded the SHA-256 of {counted(len(adopted), 'file')} found in {directory}")


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
    # Files put there by hand with no known SHA-256 are checked and recorded — unless a verified
    # archive of the dataset is there too: then it is the authority and they come out of it.
    if not any(source.kept_in(directory) for source in spec.sources):
        adopt_unverified(spec, directory, good, log)
    wanted = [file.name for file in spec.files] + ([spec.mapping] if spec.mapping else [])
    missing = [name for name in wanted if name not in good]
    if not missing:
        return good, []
    files = {file.name: file for file in spec.files}
    recorded = recorded_sums(directory)
    for name in missing:
        known = name in files and expected_sha256(files[name], recorded) is not None
        if known and find_cached(directory, files[name]) is not None:
            log(f"{problems[name]}; it will be replaced")
    attempts = [f"files in {directory} ({len(missing)} of {len(wanted)} missing or corrupt)"]
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
                new_sums = {}
                for name, path in delivered.items():
                    try:
                        data = read_bytes(path)  # decompressed: the cache always holds raw files
                        if name == spec.mapping:
                            check_mapping(data, spec, f"{source.label}'s {name}")
                            array, digest = None, ""
                        else:
                            # No official SHA-256 (EMNIST's): the source vouches for the file (the
                            # archive's MD5), its structure is checked, and it is recorded anew.
                            file = files[name]
                            array, digest = check_bytes(data, file, f"{source.label}'s {name}", file.sha256)
                    except DataError as error:
                        rejected.append(str(error))
                        log(f"rejected: {error}")
                        continue
                    target = directory / name
                    old = find_cached(directory, files[name]) if name in files else None
                    write_bytes(target, data)
                    if old is not None and old != target:
                        old.unlink()  # a corrupt .gz would otherwise sit beside the good raw file
                    if name in files and files[name].sha256 is None:
                        new_sums[name] = digest
                    good[name] = Verified(target, array, digest)
                    fetched.append(name)
                    missing.remove(name)
                if new_sums:
                    record_sums(directory, new_sums)
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

    by_hand = [hint for hint in (source.by_hand() for source in spec.sources) if hint]
    either = f"{' or '.join(by_hand)}, or " if by_hand else ""
    raise DataError(
        f"could not get {spec.title}: tried " + "; ".join(attempts) + ". "
        f"Put {either}the official files ({', '.join(missing)}; raw or .gz) into {directory} itself and run again"
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
    recorded: dict[str, str] = field(default_factory=dict)  # SHA-256s recorded at a first fetch (EMNIST)

    @property
    def checksums(self) -> dict[str, str]:
        """File name -> SHA-256 of its decompressed contents (all verified)."""
        return {file.name: file.sha256 or self.recorded[file.name] for file in self.spec.files}


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
    if spec.csv_prefix is not None:  # CSV files are read where they are, never cached or fetched
        from handwriting.data.csvfiles import load_csv

        return load_csv(spec)
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
        if spec.transposed:  # stored column by column: [N, W, H] -> upright [N, H, W]
            images = np.ascontiguousarray(images.transpose(0, 2, 1))
        labels = verified[split.labels.name].array.astype(np.int64) - spec.first_label
        if len(images) != len(labels):
            raise DataError(
                f"{verified[split.images.name].path} holds {counted(len(images), 'image')} but "
                f"{verified[split.labels.name].path} holds {counted(len(labels), 'label')}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= spec.num_classes):
            first, last = spec.first_label, spec.first_label + spec.num_classes - 1
            raise DataError(f"{verified[split.labels.name].path}: labels outside {first}..{last}")
        splits[split_name] = SplitArrays(images, labels)
    recorded = {file.name: verified[file.name].sha256 for file in spec.files if file.sha256 is None}
    return LoadedDataset(spec, directory, splits, {name: item.path for name, item in verified.items()}, recorded)


def load_for_card(
    card: dict, owner: str | os.PathLike, data_dir: str | os.PathLike | None = None, default: str | None = None
) -> LoadedDataset:
    """The dataset a checkpoint's card says it learned from, loaded and checked against the card.

    ``owner`` names the checkpoint in messages; ``default`` is the dataset of cards that name none
    (the NumPy net's oldest, MNIST's), else such a card is refused. Raises ``UserError`` when the
    dataset is unknown, has another number of classes than the card, or its files are not the
    ones the model was trained on (their SHA-256s differ from the card's).
    """
    from handwriting.data.registry import get_spec

    dataset = card.get("dataset")
    name = dataset.get("name", default) if isinstance(dataset, dict) else default
    if not isinstance(name, str):
        raise UserError(f"{owner}: its card does not say which dataset it was trained on, so it cannot be scored")
    spec = get_spec(name)
    classes = card["classes"]
    if len(classes) != spec.num_classes:
        raise UserError(
            f"{owner}: its card has {len(classes)} classes ({classes[0]!r} first), "
            f"{spec.name} has {spec.num_classes} ({spec.classes[0]!r} first)"
        )
    data = load(spec, data_dir)
    if isinstance(dataset, dict) and dataset.get("sha256") and dataset["sha256"] != data.checksums:
        raise UserError(f"{owner} was trained on different {spec.name} files than the ones in {data.directory}")
    return data
