"""Saving and loading a NumPy network: weights in ``.npz``, settings in a JSON card beside it.

    models/scratch.npz    the parameters, named as Paddle names them (``layers.1.weight`` ...)
    models/scratch.json   how to rebuild the network, its input scaling, class labels, the
                          training settings and per-epoch metrics

``load`` reads the ``.npz`` with ``allow_pickle=False``: a file from someone else can hold
arrays and nothing that runs. Both files are written to a temporary name and renamed.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from handwriting.atomic import write_bytes
from handwriting.errors import UserError, counted, describe_os_error, one_line
from handwriting.scratch.layers import Sequential
from handwriting.scratch.net import ACTIVATIONS, mlp

FORMAT = "handwriting.scratch/1"
NOT_A_CARD = f"not the card of a NumPy network ({FORMAT})"
MAX_PARAMETERS = 50_000_000  # weights a card may describe: far beyond any MLP here (the largest: 0.9 M)
MAX_HIDDEN_LAYERS = 64  # the articles' nets have one; a card asking for a million is not ours
# The classes of a card written before cards named them: every network then was trained on MNIST.
DIGITS = [str(digit) for digit in range(10)]


class ScratchFileError(UserError):
    """A NumPy network's files are missing, unreadable, or do not describe the same network."""


def network_card(net_options: dict, inputs: str, classes: list[str], **extra) -> dict:
    """The card's fixed part: what ``load`` needs to rebuild the network and feed it."""
    return {"format": FORMAT, "network": net_options, "inputs": inputs, "classes": list(classes), **extra}


def save(path: str | os.PathLike, net: Sequential, card: dict) -> None:
    """Write ``<path>.npz`` (the parameters) and ``<path>.json`` (the card), each atomically."""
    path = weights_path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **net.state_dict())
    write_bytes(path, buffer.getvalue())
    write_bytes(path.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())


def weights_path(path: str | os.PathLike) -> Path:
    """``dir/a.b``, ``dir/a.b.npz`` or ``dir/a.b.json`` -> ``dir/a.b.npz``: a name's own dots are
    kept (``Path.with_suffix`` would make ``dir/a.b`` into ``dir/a.npz``, another network)."""
    path = Path(path)
    for suffix in (".npz", ".json"):
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.with_suffix(".npz")
    return path.with_name(path.name + ".npz")


def network_stem(path: str | os.PathLike) -> str:
    """A network's name without folder or suffix, its dots kept: ``models/a.b.npz`` -> ``a.b``."""
    return weights_path(path).name.removesuffix(".npz")


def load(path: str | os.PathLike) -> tuple[Sequential, dict]:
    """Rebuild the network a card describes and fill it from the ``.npz`` beside it (eval mode).

    The whole card is checked before anything is built (``check_card``): a card from someone
    else, or edited by hand, gives a ``ScratchFileError`` naming the field that is wrong. The card
    is returned as read, with the digits as "classes" when an older card names none.
    """
    weights = weights_path(path)
    card_path = weights.with_suffix(".json")
    for needed in (weights, card_path):
        _check_is_file(needed)
    try:
        card = json.loads(card_path.read_text())
    except OSError as error:
        raise ScratchFileError(f"{card_path}: cannot read it: {describe_os_error(error)}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise ScratchFileError(f"{card_path}: not a JSON card ({type(error).__name__}: {one_line(error)})") from None
    options = check_card(card, card_path)
    try:
        net = mlp(**options)
    except ValueError as error:  # a name mlp does not know (an activation, an init)
        raise ScratchFileError(f"{card_path}: {NOT_A_CARD}: {error}") from None
    try:
        with np.load(weights, allow_pickle=False) as arrays:
            net.load_state_dict({name: arrays[name] for name in arrays.files})
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, TypeError) as error:
        raise ScratchFileError(f"{weights}: does not fit the network its card describes ({error})") from None
    net.eval()
    return net, {**card, "classes": card.get("classes", DIGITS)}


# The options ``mlp`` takes from a card, each with a check of its JSON value and what it must be.
# (A card leaves out what it does not change: ``mlp``'s defaults apply, and ``hidden`` is empty.)
_NETWORK_OPTIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "hidden": (lambda value: _is_layer_sizes(value), f"a list of at most {MAX_HIDDEN_LAYERS} layer sizes"),
    "activation": (lambda value: _is_one_of(value, ACTIVATIONS), f"one of {', '.join(ACTIVATIONS)}"),
    "num_classes": (lambda value: _is_whole(value, 1), "a whole number from 1"),
    "in_features": (lambda value: _is_whole(value, 1), "a whole number from 1"),
    "dropout": (lambda value: _is_number(value) and 0 <= value < 1, "a number from 0 up to (not including) 1"),
    "bias": (lambda value: isinstance(value, bool), "true or false"),
    "init": (lambda value: isinstance(value, str), "the name of an initialisation"),
    "sigmoid_output": (lambda value: isinstance(value, bool), "true or false"),
    "seed": (lambda value: _is_whole(value, 0), "a whole number from 0"),
}
_MLP_DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(mlp).parameters.items()}


def _is_whole(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _is_layer_sizes(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= MAX_HIDDEN_LAYERS and all(_is_whole(size, 1) for size in value)


def _is_one_of(value: Any, names) -> bool:
    return isinstance(value, str) and value in names


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_card(card: Any, card_path: str | os.PathLike = "the card") -> dict:
    """A NumPy network's card (parsed JSON) -> the keyword arguments for ``mlp``.

    Checks everything ``load`` and ``infer.py --backend numpy`` rely on: the format, the network's
    options (known names, types, ranges, at most ``MAX_PARAMETERS`` weights), the input scaling,
    and the class labels (strings, one per output of the network; a card without them is one
    written before cards named them, for MNIST's ten digits). Raises ``ScratchFileError`` naming
    the first field that is wrong.
    """
    from handwriting.scratch.train import INPUTS

    def wrong(problem: str) -> ScratchFileError:
        return ScratchFileError(f"{card_path}: {NOT_A_CARD}: {problem}")

    if not isinstance(card, dict):
        raise wrong(f"it holds a JSON {type(card).__name__}, not an object")
    if card.get("format") != FORMAT:
        raise wrong(f'"format" is {_shown(card.get("format"))}')
    network = card.get("network")
    if not isinstance(network, dict):
        raise wrong(f'"network" is {_shown(network)}, not an object of the network\'s options')
    for name, value in network.items():
        if name not in _NETWORK_OPTIONS:
            raise wrong(f'"network" has an option {_shown(name)} that no network here takes')
        is_valid, expected = _NETWORK_OPTIONS[name]
        if not is_valid(value):
            raise wrong(f'"network": "{name}" is {_shown(value)}; it must be {expected}')
    options = {**network, "hidden": tuple(network.get("hidden", ()))}
    widths = [
        options.get("in_features", _MLP_DEFAULTS["in_features"]),
        *options["hidden"],
        options.get("num_classes", _MLP_DEFAULTS["num_classes"]),
    ]
    if sum(inputs * outputs for inputs, outputs in zip(widths, widths[1:])) > MAX_PARAMETERS:
        raise wrong(f'"network" describes layers {widths}: more than {MAX_PARAMETERS:,} weights')
    if not _is_one_of(card.get("inputs"), INPUTS):
        raise wrong(f'"inputs" is {_shown(card.get("inputs"))}; it must be one of {", ".join(INPUTS)}')
    if "classes" not in card and widths[-1] != len(DIGITS):
        raise wrong('"classes" is missing: only a network with 10 outputs is taken to read the digits 0-9')
    classes = card.get("classes", DIGITS)
    if not isinstance(classes, list) or not classes or not all(isinstance(label, str) for label in classes):
        raise wrong(f'"classes" is {_shown(classes)}, not a list of class labels (strings)')
    if len(classes) != widths[-1]:
        raise wrong(
            f'"classes" has {counted(len(classes), "label")} for a network with {counted(widths[-1], "output")}'
        )
    dataset = card.get("dataset", {})
    if not isinstance(dataset, dict) or not isinstance(dataset.get("name", ""), str):
        raise wrong(f'"dataset" is {_shown(dataset)}, not an object with the dataset\'s "name"')
    return options


def _shown(value: Any, most: int = 40) -> str:
    """A JSON value as it appears in an error message: short, on one line."""
    return "missing (or null)" if value is None else one_line(json.dumps(value), most)


def _check_is_file(path: Path) -> None:
    """Raise ``ScratchFileError`` unless ``path`` is a file that can be looked at."""
    try:
        is_file = path.is_file()
    except OSError as error:  # Path.is_file lets some errors through: a name too long, no permission
        raise ScratchFileError(f"{path}: cannot read it: {describe_os_error(error)}") from None
    if not is_file:
        raise ScratchFileError(f"{path}: no such file; a NumPy network is a .npz and a .json card beside it")
