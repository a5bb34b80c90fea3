"""A saved NumPy network and the dataset it was trained on: loading that data, looking at samples.

    python -m handwriting.scratch show models/scratch.npz 0        # -> runs/scratch.sample-0.png
    sample 0: true '7', predicted '7' (100.0%)

The card names the dataset (``dataset.name``, MNIST for cards older than that) and the classes;
``network_dataset`` loads that dataset and checks that it is the one the network was trained on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handwriting.atomic import atomic_path
from handwriting.errors import UserError
from handwriting.scratch.files import network_stem

SPLITS = ("train", "test")
MOST_NUMBERS_IN_A_NAME = 8  # a default file name lists at most this many sample numbers
CELL_INCHES = 2.0  # each sample's square in the picture: 28 px enlarged about 7 times at 110 dpi
MOST_COLUMNS = 6  # samples side by side in the picture; more go on further rows


def network_dataset(card: dict, network: str | os.PathLike, data_dir: str | os.PathLike | None = None):
    """A network's card (as ``files.load`` returns it) -> its dataset, loaded (``LoadedDataset``);
    a card that names none is MNIST's. ``UserError`` as ``handwriting.data.store.load_for_card``."""
    from handwriting.data.store import load_for_card

    return load_for_card(card, network, data_dir, default="mnist")


@dataclass
class Sample:
    """One image of a dataset, its true class and what a network reads in it."""

    number: int  # its index in the split, counted from 0
    image: np.ndarray  # uint8 [28, 28], white ink on black, as the dataset stores it
    true: str
    predicted: str
    confidence: float  # the network's probability of ``predicted``, 0..1

    def line(self) -> str:
        """``sample 5: true 'c/C', predicted 'c/C' (97.1%)``."""
        return f"sample {self.number}: true {self.true!r}, predicted {self.predicted!r} ({self.confidence:.1%})"


def read_samples(
    network: str | os.PathLike, numbers: list[int], split: str = "test", data_dir: str | os.PathLike | None = None
) -> tuple[list[Sample], str]:
    """Samples ``numbers`` of ``split`` of the network's dataset, each with what the network reads
    -> (the samples in the order asked, the dataset's name). A number outside the split is a
    ``UserError`` naming the numbers there are."""
    # The NumPy backend of infer.py: the same card checks and the same probabilities (softmax, or
    # a squared-error net's sigmoids scaled to sum to 1) as when it reads a person's picture.
    from handwriting.backends import NumpyBackend

    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    backend = NumpyBackend(network)
    data = network_dataset(backend.card, network, data_dir)
    images, labels = data.splits[split].images, data.splits[split].labels
    for number in numbers:
        if not 0 <= number < len(images):
            raise UserError(
                f"sample {number} is not in the {split} split of {data.spec.name}: "
                f"its samples are numbered 0 to {len(images) - 1:,}"
            )
    chosen = images[numbers]  # [K, 28, 28]
    probabilities = backend.probabilities(chosen)  # [K, classes]
    classes = backend.classes
    samples = [
        Sample(number, image, classes[label], classes[int(row.argmax())], float(row.max()))
        for number, image, label, row in zip(numbers, chosen, labels[numbers], probabilities)
    ]
    return samples, data.spec.name


def default_picture(network: str | os.PathLike, numbers: list[int], split: str = "test") -> Path:
    """Where ``show`` draws samples unless told: ``runs/<network>.sample-5.png`` (``.samples-3-8-13``
    for several, ``.train-sample-5`` from the training split) — never beside the network, in models/."""
    shown = [str(number) for number in numbers[:MOST_NUMBERS_IN_A_NAME]]
    if len(numbers) > MOST_NUMBERS_IN_A_NAME:
        shown.append(f"and-{len(numbers) - MOST_NUMBERS_IN_A_NAME}-more")
    kind = "sample" if len(numbers) == 1 else "samples"
    prefix = "" if split == "test" else f"{split}-"
    return Path("runs") / f"{network_stem(network)}.{prefix}{kind}-{'-'.join(shown)}.png"


def plot_samples(samples: list[Sample], path: str | os.PathLike, title: str = "") -> None:
    """Draw each sample as on paper (dark ink on white, its pixels enlarged as squares), titled
    with its true and predicted class (green when they agree, red when not); a grid for several.
    Written as PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")  # files only: works on servers and in CI with no screen
    from matplotlib import pyplot as plt

    rows = -(-len(samples) // MOST_COLUMNS)
    columns = -(-len(samples) // rows)  # rows as full as they can be: 8 samples as 2 x 4, not 6 + 2
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(columns * CELL_INCHES, rows * (CELL_INCHES + 0.6)),
        squeeze=False,
        layout="constrained",  # titles of three lines and the figure's title never overlap
    )
    for axis in axes.flat:
        axis.axis("off")
    for axis, sample in zip(axes.flat, samples):
        axis.axis("on")
        axis.set_xticks([])
        axis.set_yticks([])  # the frame stays: a white glyph cell would not show where it ends
        # gray_r: 255 (ink) is black, 0 (background) white; "nearest" keeps each pixel a square.
        axis.imshow(sample.image, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        colour = "darkgreen" if sample.true == sample.predicted else "firebrick"
        axis.set_title(
            f"#{sample.number} true {sample.true!r}\npredicted {sample.predicted!r}\n{sample.confidence:.1%}",
            fontsize=9,
            color=colour,
        )
    if title:
        figure.suptitle(title, fontsize=10)
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=110, bbox_inches="tight")
    plt.close(figure)
