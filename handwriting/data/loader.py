"""Paddle data readers over in-memory arrays.

``ArrayDataset`` is the plain map-style ``paddle.io.Dataset`` (one sample per index).
``make_loader`` is what training uses: it hands Paddle's ``DataLoader`` whole batches cut
from the arrays with one NumPy fancy-index each, instead of collating 128 single samples
in Python for every step — the data pipeline should never be what a model waits for.
"""

from __future__ import annotations

import numpy as np
import paddle

from handwriting.data.store import SplitArrays
from handwriting.preprocess import normalize


class ArrayDataset(paddle.io.Dataset):
    """Samples of a split: ``(image [1, H, W] float32 in [-1, 1], label int64)``."""

    def __init__(self, split: SplitArrays):
        super().__init__()
        self.images = split.images  # [N, H, W] uint8
        self.labels = split.labels  # [N] int64

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        return normalize(self.images[index])[None], np.int64(self.labels[index])


class ArrayBatches(paddle.io.IterableDataset):
    """Whole batches of a split, reshuffled every epoch from ``seed`` when ``shuffle``.

    Each iteration yields ``(images [B, 1, H, W] float32 in [-1, 1], labels [B] int64)``.
    The order of epoch ``e`` depends only on ``(seed, e)``, so a resumed run sees the same
    batches as an uninterrupted one; ``set_epoch`` says which epoch comes next.
    """

    def __init__(self, split: SplitArrays, batch_size: int, shuffle: bool, seed: int = 0, drop_last: bool = False):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.images = split.images
        self.labels = split.labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        count = len(self.labels)
        return count // self.batch_size if self.drop_last else -(-count // self.batch_size)

    def __iter__(self):
        count = len(self.labels)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(count)
        self.epoch += 1
        for batch in range(len(self)):
            start = batch * self.batch_size
            if self.shuffle:
                index = order[start : start + self.batch_size]
                images, labels = self.images[index], self.labels[index]
            else:  # evaluation: contiguous slices, no copy until normalisation
                images = self.images[start : start + self.batch_size]
                labels = self.labels[start : start + self.batch_size]
            yield normalize(images)[:, None], labels


class BatchLoader(paddle.io.DataLoader):
    """Paddle's ``DataLoader`` over ``ArrayBatches``, with ``len()`` (batches per epoch) for progress bars."""

    def __len__(self) -> int:
        return len(self.dataset)


def make_loader(
    split: SplitArrays, batch_size: int, shuffle: bool, seed: int = 0, drop_last: bool = False
) -> BatchLoader:
    """A ``paddle.io.DataLoader`` of whole batches; shuffle the training split only.

    Automatic batching is off (``batch_size=None``) because ``ArrayBatches`` already
    yields batches; the loader converts them to tensors. ``loader.dataset.set_epoch(e)``
    repositions the shuffle when resuming.
    """
    return BatchLoader(ArrayBatches(split, batch_size, shuffle, seed, drop_last), batch_size=None, num_workers=0)
