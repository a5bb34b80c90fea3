"""The names of a checkpoint's two files, with no Paddle import (``infer.py`` finds exports by them).

models/cnn.pdparams   the weights          models/cnn.json   the card
models/cnn.onnx, models/cnn.npz, models/cnn.paddle/      its exports (``handwriting.export``)
"""

from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_SUFFIX = ".pdparams"
CARD_SUFFIX = ".json"


def stem(path: str | os.PathLike) -> Path:
    """``models/a.b.pdparams`` or ``models/a.b.json`` -> ``models/a.b``: only our own suffix goes,
    so a name with dots in it is kept whole (``Path.with_suffix`` would make it ``models/a``)."""
    path = Path(path)
    for suffix in (WEIGHTS_SUFFIX, CARD_SUFFIX):
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path


def card_path(path: str | os.PathLike) -> Path:
    """The card of a checkpoint given as its ``.pdparams``, its ``.json`` or its stem."""
    return Path(f"{stem(path)}{CARD_SUFFIX}")


def weights_path(path: str | os.PathLike) -> Path:
    return Path(f"{stem(path)}{WEIGHTS_SUFFIX}")
