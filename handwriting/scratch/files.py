"""Saving and loading a NumPy network: weights in ``.npz``, settings in a JSON card beside it.

    models/scratch.npz    the parameters, named as Paddle names them (``layers.1.weight`` ...)
    models/scratch.json   how to rebuild the network, its input scaling, class labels, the
                          training settings and per-epoch metrics

``load`` reads the ``.npz`` with ``allow_pickle=False``: a file from someone else can hold
arrays and nothing that runs. Both files are written to a temporary name and renamed.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from handwriting.atomic import write_bytes
from handwriting.errors import UserError
from handwriting.scratch.layers import Sequential
from handwriting.scratch.net import mlp

FORMAT = "handwriting.scratch/1"


class ScratchFileError(UserError):
    """A NumPy network's files are missing, unreadable, or do not describe the same network."""


def network_card(net_options: dict, inputs: str, classes: list[str], **extra) -> dict:
    """The card's fixed part: what ``load`` needs to rebuild the network and feed it."""
    return {"format": FORMAT, "network": net_options, "inputs": inputs, "classes": list(classes), **extra}


def save(path: str | os.PathLike, net: Sequential, card: dict) -> None:
    """Write ``<path>.npz`` (the parameters) and ``<path>.json`` (the card), each atomically."""
    path = Path(path).with_suffix(".npz")
    buffer = io.BytesIO()
    np.savez(buffer, **net.state_dict())
    write_bytes(path, buffer.getvalue())
    write_bytes(path.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())


def load(path: str | os.PathLike) -> tuple[Sequential, dict]:
    """Rebuild the network a card describes and fill it from the ``.npz`` beside it (eval mode)."""
    weights = Path(path).with_suffix(".npz")
    card_path = weights.with_suffix(".json")
    for needed in (weights, card_path):
        if not needed.is_file():
            raise ScratchFileError(f"{needed}: no such file; a NumPy network is a .npz and a .json card beside it")
    try:
        card = json.loads(card_path.read_text())
        options = dict(card["network"])
        if card.get("format") != FORMAT:
            raise KeyError("format")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise ScratchFileError(f"{card_path}: not the card of a NumPy network ({FORMAT})") from None
    options["hidden"] = tuple(options.get("hidden", ()))
    try:
        net = mlp(**options)
        with np.load(weights, allow_pickle=False) as arrays:
            net.load_state_dict({name: arrays[name] for name in arrays.files})
    except (OSError, ValueError, zipfile.BadZipFile, TypeError) as error:
        raise ScratchFileError(f"{weights}: does not fit the network its card describes ({error})") from None
    net.eval()
    return net, card
