"""Checkpoints: weights, optimizer state and a JSON card that says how to rebuild and trust them.

    models/<name>.pdparams   the kept weights (a Paddle state_dict) — what inference loads
    models/<name>.pdopt      the optimizer state after the last finished epoch (for --resume)
    models/<name>.last.pdparams  the last epoch's weights, only while they differ from the kept ones
    models/<name>.json       model name and arguments, class labels, normalisation, dataset and
                             checksums, per-epoch metrics, test accuracy, arguments, versions

Every file is written to a temporary name and renamed, so an interrupted save never leaves
a half-written checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import paddle

from handwriting.atomic import atomic_path, write_bytes
from handwriting.errors import UserError
from handwriting.models import build_model, model_entry


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, or does not fit the model it is loaded into."""


def paths(out_dir: str | os.PathLike, name: str) -> dict[str, Path]:
    base = Path(out_dir) / name
    return {
        "params": base.with_suffix(".pdparams"),
        "opt": base.with_suffix(".pdopt"),
        "last": Path(f"{base}.last.pdparams"),
        "card": base.with_suffix(".json"),
        "curves": Path(f"{base}.curves.png"),
    }


def save_state(path: Path, state: dict) -> None:
    with atomic_path(path) as temporary:
        paddle.save(state, temporary)


def save_card(path: Path, card: dict) -> None:
    write_bytes(path, (json.dumps(card, indent=2) + "\n").encode())


def read_card(path: str | os.PathLike) -> dict:
    """The JSON card beside a ``.pdparams`` (or the card itself)."""
    path = Path(path)
    card_path = path if path.suffix == ".json" else path.with_suffix(".json")
    try:
        return json.loads(card_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{card_path}: missing; a checkpoint needs the .json card train.py writes beside its .pdparams"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{card_path}: not a readable checkpoint card ({error})") from None


def load_weights(model: paddle.nn.Layer, path: str | os.PathLike, model_name: str = "the model") -> None:
    """Load a ``.pdparams`` into ``model``; a shape or name mismatch is a ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint; train one with train.py or pick one in models/")
    try:
        state = paddle.load(str(path))
    except Exception as error:  # Paddle raises assorted errors for a file that is not its format
        raise CheckpointError(f"{path}: not a Paddle checkpoint ({type(error).__name__}: {error})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(key for key in expected if key in state and list(state[key].shape) != list(expected[key].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
                f"wrong shape for {', '.join(wrong[:3])}" if wrong else "",
            )
            if part
        )
        card_path = path.parent / (path.name.split(".")[0] + ".json")
        holds = ""
        if card_path.is_file():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                holds = f" holds a {json.loads(card_path.read_text())['model']['name']!r} model and"
        raise CheckpointError(f"{path}{holds} does not fit {model_name} ({detail})")
    model.set_state_dict(state)


def load_model(path: str | os.PathLike) -> tuple[paddle.nn.Layer, dict]:
    """Rebuild the model a checkpoint card describes and load its kept weights (eval mode)."""
    if Path(path).suffix not in (".pdparams", ".json", ""):
        raise CheckpointError(f"{path}: not a checkpoint; give the .pdparams train.py wrote (e.g. models/cnn.pdparams)")
    weights = Path(path).with_suffix(".pdparams")
    if not weights.is_file():
        raise CheckpointError(f"{weights}: no such checkpoint; train one with train.py or pick one in models/")
    card = read_card(path)
    try:
        name, options = card["model"]["name"], card["model"]["options"]
        num_classes, in_shape = len(card["classes"]), card["model"]["in_shape"]
    except (KeyError, TypeError):
        raise CheckpointError(f"{path}: its card lacks the model description train.py writes") from None
    model_entry(name)
    model = build_model(name, num_classes=num_classes, in_shape=in_shape, **options)
    load_weights(model, weights, f"model {name!r}")
    model.eval()
    return model, card
