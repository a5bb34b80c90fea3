"""The real MNIST, when it is in the data folder (``python -m handwriting.data fetch mnist``)."""

import numpy as np

OFFICIAL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_counts_match_the_official_ones(real_mnist):
    train, test = real_mnist.splits["train"], real_mnist.splits["test"]
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert np.bincount(train.labels).tolist() == OFFICIAL_TRAIN_COUNTS
    assert np.bincount(test.labels).tolist() == OFFICIAL_TEST_COUNTS


def test_digits_are_white_on_black_and_centred(real_mnist):
    images = real_mnist.splits["test"].images.astype(np.float64)
    assert images[:, :, 0].mean() < 1 and images[:, 0, :].mean() < 1  # borders are background
    rows, cols = np.mgrid[0:28, 0:28]
    mass = images.sum(axis=(1, 2))
    centre_row = (images * rows).sum(axis=(1, 2)) / mass
    centre_col = (images * cols).sum(axis=(1, 2)) / mass
    # LeCun centred every digit by its centre of mass at (14, 14) in pixel-corner terms.
    assert abs(np.median(centre_row) - 13.5) < 1 and abs(np.median(centre_col) - 13.5) < 1


def test_first_training_labels(real_mnist):
    assert real_mnist.splits["train"].labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
