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

    With ``world`` processes training together (``handwriting.parallel``), every process draws the
    same order and Paddle's ``DistributedBatchSampler`` deals it out: process ``rank`` reads the
    rank-th ``batch_size`` positions of each block of ``world x batch_size``, so one step of all the
    processes reads the images of one single-process step with ``world x batch_size``. (The sampler
    pads the order with its first positions to a multiple of ``world``, as it always does.)
    """

    def __init__(
        self,
        split: SplitArrays,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world: int = 1,
    ):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.images = split.images
        self.labels = split.labels
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        # Positions in the epoch's order, as lists of indices; its own shuffle (seeded by the epoch
        # alone) stays off: the order comes from (seed, epoch) below.
        self.positions = paddle.io.DistributedBatchSampler(
            range(len(self.labels)), batch_size, num_replicas=world, rank=rank, shuffle=False, drop_last=drop_last
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self):
        count = len(self.labels)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(count) if self.shuffle else None
        self.epoch += 1
        for positions in self.positions:
            first, last = positions[0], positions[-1]
            if order is None and last - first + 1 == len(positions):
                index = slice(first, last + 1)  # evaluation: a contiguous slice, no copy until normalisation
            else:
                index = np.asarray(positions) if order is None else order[positions]
            yield normalize(self.images[index])[:, None], self.labels[index]


class BatchLoader(paddle.io.DataLoader):
    """Paddle's ``DataLoader`` over ``ArrayBatches``, with ``len()`` (batches per epoch) for progress bars."""

    def __len__(self) -> int:
        return len(self.dataset)


def make_loader(
    split: SplitArrays,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    drop_last: bool = False,
    rank: int = 0,
    world: int = 1,
) -> BatchLoader:
    """A ``paddle.io.DataLoader`` of whole batches; shuffle the training split only. ``rank`` of
    ``world`` processes reads its share of each epoch (``ArrayBatches``).

    Automatic batching is off (``batch_size=None``) because ``ArrayBatches`` already
    yields batches; the loader converts them to tensors. On a GPU, its buffered reader
    (``use_buffer_reader``; pinned memory is on by default in the dynamic graph) copies the next
    batch to the device in a background thread, asynchronously, while the model works on this one.
    ``loader.dataset.set_epoch(e)`` repositions the shuffle when resuming.
    """
    batches = ArrayBatches(split, batch_size, shuffle, seed, drop_last, rank, world)
    return BatchLoader(batches, batch_size=None, num_workers=0, use_buffer_reader=True)
