"""The Paddle data readers over in-memory arrays."""

import numpy as np
import paddle
import pytest

from handwriting.data.loader import ArrayDataset, make_loader
from handwriting.data.store import SplitArrays
from handwriting.preprocess import normalize


@pytest.fixture
def split():
    images = np.arange(10 * 28 * 28, dtype=np.int64).reshape(10, 28, 28).astype(np.uint8)
    return SplitArrays(images, np.arange(10, dtype=np.int64))


def test_normalize_maps_black_to_minus_one_and_white_to_plus_one():
    pixels = np.array([0, 51, 255], dtype=np.uint8)
    np.testing.assert_allclose(normalize(pixels), [-1.0, 51 / 127.5 - 1, 1.0], atol=1e-7)
    assert normalize(pixels).dtype == np.float32


def test_normalize_refuses_floats_so_nothing_is_normalised_twice():
    with pytest.raises(TypeError):
        normalize(np.zeros(3, dtype=np.float32))


def test_array_dataset_sample(split):
    dataset = ArrayDataset(split)
    image, label = dataset[3]
    assert len(dataset) == 10
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert label == 3 and label.dtype == np.int64
    np.testing.assert_array_equal(image[0], normalize(split.images[3]))


def test_evaluation_loader_keeps_order_and_partial_last_batch(split):
    loader = make_loader(split, batch_size=4, shuffle=False)
    batches = list(loader)
    assert len(loader) == 3
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    images, labels = batches[0]
    assert isinstance(images, paddle.Tensor)
    assert images.shape == [4, 1, 28, 28] and images.dtype == paddle.float32
    assert labels.dtype == paddle.int64
    np.testing.assert_array_equal(np.concatenate([labels.numpy() for _, labels in batches]), np.arange(10))
    np.testing.assert_array_equal(images.numpy()[:, 0], normalize(split.images[:4]))


def test_training_loader_shuffles_every_sample_once_per_epoch(split):
    loader = make_loader(split, batch_size=3, shuffle=True, seed=7)
    epoch0 = np.concatenate([labels.numpy() for _, labels in loader])
    epoch1 = np.concatenate([labels.numpy() for _, labels in loader])
    assert sorted(epoch0) == list(range(10)) and sorted(epoch1) == list(range(10))
    assert list(epoch0) != list(range(10))
    assert list(epoch0) != list(epoch1)  # a new order each epoch


def test_images_stay_paired_with_their_labels_after_shuffling(split):
    for images, labels in make_loader(split, batch_size=4, shuffle=True, seed=3):
        for image, label in zip(images.numpy(), labels.numpy()):
            np.testing.assert_array_equal(image[0], normalize(split.images[label]))


def test_shuffle_depends_only_on_seed_and_epoch(split):
    def order(seed, epoch):
        loader = make_loader(split, batch_size=10, shuffle=True, seed=seed)
        loader.dataset.set_epoch(epoch)
        return next(iter(loader))[1].numpy().tolist()

    assert order(1, 2) == order(1, 2)  # a resumed run sees the same epoch-2 order
    assert order(1, 2) != order(1, 3)
    assert order(1, 2) != order(2, 2)


def test_drop_last(split):
    loader = make_loader(split, batch_size=4, shuffle=True, drop_last=True)
    assert len(loader) == 2
    assert [len(labels) for _, labels in loader] == [4, 4]


def test_batch_size_must_be_positive(split):
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(split, batch_size=0, shuffle=False)
