"""The real MNIST, when it is in the data folder (``python -m handwriting.data fetch mnist``)."""

import os

import numpy as np
import pytest

from handwriting.data import get_spec, load
from handwriting.data.store import DEFAULT_ROOT, check_cache, dataset_dir

# The conftest points HANDWRITING_DATA at an empty folder; look where the user's data is.
REAL_ROOT = os.environ.get("HANDWRITING_DATA") or DEFAULT_ROOT
OFFICIAL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    spec = get_spec("mnist")
    _, problems = check_cache(spec, dataset_dir(spec, REAL_ROOT))
    if problems:
        pytest.skip(
            f"real MNIST not in {dataset_dir(spec, REAL_ROOT)} ({len(problems)} file(s) missing or bad); "
            "run `python -m handwriting.data fetch mnist`"
        )
    return load(spec, REAL_ROOT, download=False)


def test_counts_match_the_official_ones(mnist):
    train, test = mnist.splits["train"], mnist.splits["test"]
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert np.bincount(train.labels).tolist() == OFFICIAL_TRAIN_COUNTS
    assert np.bincount(test.labels).tolist() == OFFICIAL_TEST_COUNTS


def test_digits_are_white_on_black_and_centred(mnist):
    images = mnist.splits["test"].images.astype(np.float64)
    assert images[:, :, 0].mean() < 1 and images[:, 0, :].mean() < 1  # borders are background
    rows, cols = np.mgrid[0:28, 0:28]
    mass = images.sum(axis=(1, 2))
    centre_row = (images * rows).sum(axis=(1, 2)) / mass
    centre_col = (images * cols).sum(axis=(1, 2)) / mass
    # LeCun centred every digit by its centre of mass at (14, 14) in pixel-corner terms.
    assert abs(np.median(centre_row) - 13.5) < 1 and abs(np.median(centre_col) - 13.5) < 1


def test_first_training_labels(mnist):
    assert mnist.splits["train"].labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
