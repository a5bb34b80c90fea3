"""Datasets: a registry of specs, a verified on-disk cache, and Paddle data readers.

    from handwriting.data import get_spec, load
    mnist = load(get_spec("mnist"))            # fetches on first use, verifies every file
    train = mnist.splits["train"]              # images [60000, 28, 28] uint8, labels [60000] int64

The Paddle side (``ArrayDataset``, ``make_loader``) lives in ``handwriting.data.loader`` so
that fetching and inspecting data never waits for Paddle to import.
"""

from handwriting.data.idx import IdxError, read_idx
from handwriting.data.registry import DATASETS, DatasetSpec, IdxFile, Split, get_spec, register
from handwriting.data.store import LoadedDataset, SplitArrays, data_root, dataset_dir, ensure, load

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "IdxError",
    "IdxFile",
    "LoadedDataset",
    "Split",
    "SplitArrays",
    "data_root",
    "dataset_dir",
    "ensure",
    "get_spec",
    "load",
    "read_idx",
    "register",
]
