"""Make a dataset from MNIST in pieces, one process a core: what ``synthetic.pairs`` and
``synthetic.lines`` share.

Each split is made in ``CHUNKS`` pieces, each by ``examples(images, labels, count, rng)`` in a worker
that loads MNIST itself, with its own seed ``[seed, split's number, piece]``: the same data whatever
the number of cores.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np

CHUNKS = 8  # each split is made in this many pieces, shared between the processes


def mnist_or_exit(data_dir: str | None) -> None:
    """Fetch MNIST here, once, with its messages (the workers then only read it); a problem ends the
    program with its one line."""
    from handwriting.data import get_spec, load
    from handwriting.errors import UserError

    try:
        load(get_spec("mnist"), data_dir)
    except UserError as error:
        sys.exit(f"error: {error}")


def made_in_chunks(examples: Callable, splits: dict[str, int], data_dir: str | None, seed: int) -> Iterator[tuple]:
    """-> (split, [what ``examples`` made for each piece]) for each of ``splits`` (name: how many).
    ``examples`` must be a module-level function: the workers are spawned and import it."""
    from handwriting.runtime import available_cores

    context = multiprocessing.get_context("spawn")  # as handwriting.recognise's workers: no forked threads
    with ProcessPoolExecutor(available_cores(), mp_context=context) as pool:
        for number, (split, count) in enumerate(splits.items()):
            shares = [count // CHUNKS + (chunk < count % CHUNKS) for chunk in range(CHUNKS)]
            jobs = [(examples, data_dir, split, share, [seed, number, chunk]) for chunk, share in enumerate(shares)]
            yield split, list(pool.map(_chunk, jobs))


def _chunk(job: tuple):
    """One worker's piece of a split: (examples, data root, split, how many, seed) -> what ``examples`` makes."""
    examples, data_dir, split, count, seed = job
    import cv2

    from handwriting.data import get_spec, load

    cv2.setNumThreads(1)  # one process a core already
    mnist = load(get_spec("mnist"), data_dir, download=False, log=lambda message: None).splits[split]
    return examples(mnist.images, mnist.labels, count, np.random.default_rng(seed))
