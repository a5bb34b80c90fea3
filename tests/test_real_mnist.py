"""The real MNIST, when it is in the data folder (``python -m handwriting.data fetch mnist``)."""

import numpy as np


def test_each_split_is_its_official_files_read_in_order(real_mnist):
    """The files' SHA-256 fixes their contents (class counts, centring: nothing to re-check here);
    what can still go wrong is ours: a split given the other split's files, or labels out of order."""
    train, test = real_mnist.splits["train"], real_mnist.splits["test"]
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
