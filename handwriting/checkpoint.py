"""Checkpoints: a Paddle state dict (``.pdparams``) and the JSON card beside it that says how to
rebuild the model and how far to trust it.

    <name>.pdparams   the weights, as ``paddle.save(model.state_dict(), ...)`` writes them
    <name>.json       the card: model name and arguments, input shape, class labels,
                      normalisation, dataset checksums, per-epoch metrics, versions

Nothing here runs code from a file: weights are read by ``handwriting.weights.read_state``
(plain arrays only), and a card is JSON, checked field by field before a model is built from
it. A card cannot make us allocate more than its weights file holds: the model it describes is
first built without memory (``paddle.LazyGuard``) and compared with the file, shape by shape.
Writing a training run's files, so that none is ever half-saved, is ``handwriting.runs``.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
from pathlib import Path

import paddle

from handwriting.atomic import write_bytes
from handwriting.errors import UserError, describe_os_error, one_line
from handwriting.filenames import CARD_SUFFIX, WEIGHTS_SUFFIX, card_path, stem, weights_path  # noqa: F401
from handwriting.models import MODELS, build_model, model_entry, resolved_options
from handwriting.weights import WeightsError, read_state, state_from_bytes

MAX_SIDE = 4096  # an input side or channel count larger than this is not a picture model of ours
MAX_CLASSES = 100_000
MAX_LIST_OPTION = 64  # e.g. an MLP's hidden sizes: building a million layers, even without memory, takes minutes


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, or does not fit the model it is loaded into."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_card(path: str | os.PathLike, card: dict) -> None:
    write_bytes(path, (json.dumps(card, indent=2) + "\n").encode())


def read_card(path: str | os.PathLike) -> dict:
    """The JSON card of a checkpoint (given as its ``.pdparams``, its ``.json`` or its stem)."""
    path = card_path(path)
    try:
        card = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: missing; a checkpoint needs the .json card train.py writes beside its .pdparams"
        ) from None
    except (ValueError, RecursionError) as error:  # bad JSON or UTF-8, a 5,000-digit number, deep nesting
        raise CheckpointError(f"{path}: not a readable checkpoint card ({one_line(error)})") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read this card ({describe_os_error(error)})") from None
    if not isinstance(card, dict):
        raise CheckpointError(f"{path}: not a checkpoint card (it holds a JSON {type(card).__name__})")
    return card


def built_options(card: dict) -> dict | None:
    """The model options a card records, every constructor argument as the run built the model, or
    None for a card without them. Unchecked: ``describe_model`` checks them before a model is built."""
    model = card.get("model")
    options = model.get("options") if isinstance(model, dict) else None
    return options if isinstance(options, dict) else None


def describe_model(card: dict, where: str | os.PathLike) -> tuple[str, dict, tuple[int, int, int], list[str]]:
    """The model a card describes -> (name, its options, input shape, class labels), every field
    checked; anything missing or malformed is a ``CheckpointError`` naming the card."""

    def bad(problem: str) -> CheckpointError:
        return CheckpointError(f"{where}: {problem}; was it written by train.py?")

    model = card.get("model")
    if not isinstance(model, dict):
        raise bad("its card lacks the model description train.py writes")
    name, options, in_shape = model.get("name"), model.get("options", {}), model.get("in_shape", [1, 28, 28])
    if name is None:
        raise bad("its card does not name a model")
    if not isinstance(name, str) or name not in MODELS:
        raise bad(f"its card names the model {name!r}, which is none of ours ({', '.join(MODELS)})")
    if not isinstance(options, dict):
        raise bad("its card's model options are not a JSON object")
    accepted = set(inspect.signature(model_entry(name).build).parameters) - {"num_classes", "in_shape"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise bad(
            f"its card gives the {name!r} model options it does not take ({', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(sorted(accepted)) or 'none'})"
        )
    too_long = [key for key, value in options.items() if isinstance(value, list) and len(value) > MAX_LIST_OPTION]
    if too_long:
        raise bad(f"its card's option {too_long[0]!r} lists more than {MAX_LIST_OPTION} values")
    options = resolved_options(name, **options)
    if (
        not isinstance(in_shape, list)
        or len(in_shape) != 3
        or not all(type(side) is int and 1 <= side <= MAX_SIDE for side in in_shape)
    ):
        raise bad(f"its card's input shape {in_shape!r} is not [channels, height, width] of sides 1-{MAX_SIDE}")
    classes = card.get("classes")
    if (
        not isinstance(classes, list)
        or not 1 <= len(classes) <= MAX_CLASSES
        or not all(isinstance(label, str) for label in classes)
    ):
        raise bad("its card's classes are not a list of 1 or more labels")
    if len(set(classes)) != len(classes):
        raise bad("its card's classes repeat a label")
    if model_entry(name).task == "classify" and len(classes) < 2:
        raise bad(f"its card gives a classifier {len(classes)} class")
    return name, options, tuple(in_shape), classes


def _build(name: str, options: dict, in_shape, classes, where) -> paddle.nn.Layer:
    """Build the model a card describes; a card whose arguments the model refuses is the card's fault."""
    try:
        return build_model(name, num_classes=len(classes), in_shape=in_shape, **options)
    except UserError as error:
        raise CheckpointError(f"{where}: {error}") from None
    except Exception as error:  # noqa: BLE001 - the arguments come from a file: any refusal is the file's
        raise CheckpointError(
            f"{where}: its card describes a {name!r} model that cannot be built "
            f"({type(error).__name__}: {one_line(error)})"
        ) from None


def state_mismatch(expected: dict, state: dict) -> str:
    """'' when ``state`` has exactly the names and shapes of ``expected``, else what differs."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        key
        for key in expected
        if key in state and (not hasattr(state[key], "shape") or list(state[key].shape) != list(expected[key].shape))
    )
    # float64 or float16 weights into float32 parameters: Paddle would stop with an assertion.
    wrong_type = sorted(
        key
        for key in expected
        if key in state and key not in wrong and str(getattr(state[key], "dtype", "")) != _numpy_name(expected[key])
    )
    model_type = _numpy_name(expected[wrong_type[0]]) if wrong_type else ""
    return "; ".join(
        part
        for part in (
            f"missing {', '.join(missing[:3])}" if missing else "",
            f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
            f"wrong shape for {', '.join(wrong[:3])}" if wrong else "",
            f"wrong number type for {', '.join(wrong_type[:3])} (the model has {model_type})" if wrong_type else "",
        )
        if part
    )


def _numpy_name(tensor) -> str:
    """A Paddle tensor's number type as NumPy names it: ``paddle.float32`` -> ``float32``."""
    return str(tensor.dtype).removeprefix("paddle.")


def _read_weights(path: Path) -> dict:
    try:
        return read_state(path)
    except WeightsError as error:
        raise CheckpointError(str(error)) from None


def load_weights(model: paddle.nn.Layer, path: str | os.PathLike, model_name: str = "the model") -> None:
    """Load a ``.pdparams`` into ``model`` (read as data only); a shape or name mismatch is a
    ``CheckpointError`` that names what the file holds."""
    path = Path(path)
    state = _read_weights(path)
    detail = state_mismatch(model.state_dict(), state)
    if detail:
        holds = ""
        with contextlib.suppress(UserError, KeyError, TypeError):
            holds = f" holds a {read_card(path)['model']['name']!r} model and"
        raise CheckpointError(f"{path}{holds} does not fit {model_name} ({detail})")
    model.set_state_dict(state)


def load_model(path: str | os.PathLike) -> tuple[paddle.nn.Layer, dict]:
    """Rebuild the model a checkpoint card describes and load its weights (eval mode).

    ``path`` is the ``.pdparams``, the ``.json`` card or their common stem. Any file that is
    not a checkpoint of ours — a crafted pickle, a card with unknown options or impossible
    shapes, weights of another model — is a ``CheckpointError``; nothing in it runs.
    """
    given = Path(path)
    if given.is_dir():
        raise CheckpointError(f"{path}: is a folder; give the .pdparams train.py wrote (e.g. models/cnn.pdparams)")
    if given.suffix not in (WEIGHTS_SUFFIX, CARD_SUFFIX) and given.is_file():
        raise CheckpointError(f"{path}: not a checkpoint; give the .pdparams train.py wrote (e.g. models/cnn.pdparams)")
    weights, card_file = weights_path(given), card_path(given)
    if not weights.is_file():
        if Path(f"{stem(given)}.npz").is_file():
            raise CheckpointError(f"{stem(given)}.npz is a NumPy model: run it with --backend numpy (or auto)")
        raise CheckpointError(f"{weights}: no such checkpoint; train one with train.py or pick one in models/")
    card = read_card(card_file)
    name, options, in_shape, classes = describe_model(card, card_file)
    recorded = card.get("weights_sha256")  # train.py's cards have it; older and converted ones may not
    data = _read_bytes(weights)  # read once: the bytes checked are the bytes loaded
    if isinstance(recorded, str) and recorded != sha256_of(data):
        raise CheckpointError(
            f"{weights} is not the weights its card {card_file.name} was saved with: a train.py run is saving it "
            f"now, or stopped while saving it (finish that with: python train.py --out {weights.parent} "
            f"--name {stem(weights).name} --resume), or the file was replaced"
        )
    try:
        state = state_from_bytes(data, weights)
    except WeightsError as error:
        raise CheckpointError(str(error)) from None
    with paddle.LazyGuard():  # shapes only, no memory: the card cannot ask for more than the file holds
        skeleton = _build(name, options, in_shape, classes, card_file)
    detail = state_mismatch(skeleton.state_dict(), state)
    if detail:
        raise CheckpointError(f"{weights} does not fit the {name!r} model its card describes ({detail})")
    model = _build(name, options, in_shape, classes, card_file)
    model.set_state_dict(state)
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros([1, *in_shape]))
    except Exception as error:  # noqa: BLE001 - e.g. an input shape too small for the model's layers
        raise CheckpointError(
            f"{card_file}: the {name!r} model it describes fails on a {list(in_shape)} input "
            f"({type(error).__name__}: {one_line(error)})"
        ) from None
    card = {**card, "model": {**card["model"], "name": name, "options": options, "in_shape": list(in_shape)}}
    card["model"]["task"] = model_entry(name).task
    return model, card


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read this checkpoint ({describe_os_error(error)})") from None
