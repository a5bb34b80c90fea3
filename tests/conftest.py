"""Shared fixtures: a tiny synthetic dataset in the exact MNIST layout, and fake sources."""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from handwriting.data import get_spec, load, registry
from handwriting.data.idx import idx_bytes
from handwriting.data.registry import DatasetSpec, IdxFile, Split
from handwriting.data.sources import Source, SourceUnavailable
from handwriting.data.store import DEFAULT_ROOT, check_cache, dataset_dir

# The autouse fixture below points HANDWRITING_DATA at an empty folder; real MNIST is looked
# for where the user keeps it (read once, at import, before any test changes the variable).
REAL_ROOT = os.environ.get("HANDWRITING_DATA") or DEFAULT_ROOT


@dataclass
class Synthetic:
    """A registered synthetic dataset: its spec and the official bytes of each file."""

    spec: DatasetSpec
    contents: dict[str, bytes]
    arrays: dict[str, np.ndarray]

    def write(self, directory: Path, names=None, compress: bool = False) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in names or self.contents:
            data = self.contents[name]
            if compress:
                (directory / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)


@dataclass
class FakeSource(Source):
    """A source that serves the given file contents, or fails with ``unavailable``."""

    contents: dict[str, bytes]
    label: str = "fake source"
    unavailable: str | None = None
    calls: list = field(default_factory=list)

    def fetch(self, names, workdir, log):
        self.calls.append(list(names))
        if self.unavailable:
            raise SourceUnavailable(self.unavailable)
        delivered = {}
        for name in names:
            if name in self.contents:
                (workdir / name).write_bytes(self.contents[name])
                delivered[name] = workdir / name
        return delivered


def synthetic_dataset(name: str, title: str, classes: tuple[str, ...], arrays: dict, **spec_fields) -> Synthetic:
    """A ``Synthetic`` dataset from its four arrays (keyed by MNIST's file names), its files' SHA-256s
    and shapes taken from their IDX bytes; ``spec_fields`` go to the ``DatasetSpec`` (framing, ...)."""
    contents = {file_name: idx_bytes(array) for file_name, array in arrays.items()}
    files = {
        file_name: IdxFile(file_name, hashlib.sha256(data).hexdigest(), arrays[file_name].shape)
        for file_name, data in contents.items()
    }
    spec = DatasetSpec(
        name=name,
        title=title,
        classes=classes,
        splits={
            "train": Split(files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"]),
            "test": Split(files["t10k-images-idx3-ubyte"], files["t10k-labels-idx1-ubyte"]),
        },
        **spec_fields,
    )
    return Synthetic(spec, contents, arrays)


def make_synthetic(name: str = "synth", n_train: int = 30, n_test: int = 12, seed: int = 0) -> Synthetic:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    return synthetic_dataset(name, "synthetic digits", tuple(str(digit) for digit in range(10)), arrays)


@pytest.fixture
def synthetic(monkeypatch):
    """A synthetic dataset registered as ``synth`` for the duration of one test."""
    made = make_synthetic()
    monkeypatch.setitem(registry.DATASETS, made.spec.name, made.spec)
    return made


@pytest.fixture(autouse=True)
def isolated_data_root(tmp_path, monkeypatch):
    """Every test gets its own empty data root, so nothing touches the user's cache."""
    root = tmp_path / "data-root"
    monkeypatch.setenv("HANDWRITING_DATA", str(root))
    return root


def real_dataset(name: str):
    """A real dataset from the user's data folder; the test is skipped, saying how to fetch it,
    when it is not there."""
    spec = get_spec(name)
    _, problems = check_cache(spec, dataset_dir(spec, REAL_ROOT))
    if problems:
        pytest.skip(
            f"real {name} not in {dataset_dir(spec, REAL_ROOT)} ({len(problems)} file(s) missing or bad); "
            f"run `python -m handwriting.data fetch {name}`"
        )
    return load(spec, REAL_ROOT, download=False)


@pytest.fixture(scope="session")
def real_mnist():
    """The real MNIST from the user's data folder; the test is skipped when it is not there."""
    return real_dataset("mnist")


@pytest.fixture(scope="session")
def real_fashion():
    """The real Fashion-MNIST (Debian's dataset-fashion-mnist has it); skipped when it is not there."""
    return real_dataset("fashion-mnist")


@pytest.fixture
def trained(synthetic, tmp_path):
    """A softmax model trained for two epochs on the synthetic dataset -> its .pdparams."""
    from handwriting.config import TrainConfig
    from handwriting.engine import fit

    synthetic.write(dataset_dir(synthetic.spec))
    data = load(synthetic.spec, download=False)
    config = TrainConfig(
        model="softmax",
        dataset="synth",
        epochs=2,
        batch_size=8,
        lr=0.05,
        augment="affine",
        out=str(tmp_path / "models"),
    )
    fit(config, data=data, log=lambda message: None)
    return tmp_path / "models" / "softmax.pdparams"
