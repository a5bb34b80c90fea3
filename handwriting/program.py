"""Run an exported model with NumPy alone: a ``.npz`` holding a list of steps and their arrays.

``python -m handwriting.export MODEL --format npz`` writes one file that needs no framework:

    card.json     the export card (uint8 bytes of UTF-8 JSON): classes, framing, normalisation,
                  the source checkpoint's hash, and "steps", the forward pass in order:
                  [{"op": "conv2d", "stride": 1, "padding": 1}, {"op": "relu"}, {"op": "maxpool2d", ...}, ...]
    0.weight ...  each step's arrays, named "<step>.<name>" in Paddle's layouts (conv weight
                  [out, in, kh, kw], linear weight [in, out])

Batch norm is folded into the convolution before it when the model is exported, and dropout is
left out (it does nothing at inference), so every step here is one of the few ``OPS`` below. The
file is read with ``allow_pickle=False`` and every step checked before anything runs: a file from
someone else holds arrays and settings, nothing that executes. This module imports no Paddle.

A convolution is written as one matrix product (im2col): every 3x3 patch becomes a row, so the
whole layer is ``patches [N*H*W, C*3*3] @ kernels [C*3*3, O]`` — about 6x slower than onnxruntime's
tuned kernels (``bench/deploy_speed.py``), and needing nothing but NumPy.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from handwriting.errors import UserError, counted, describe_os_error, one_line

CARD_ENTRY = "card.json"
MAX_PARAMETERS = 10_000_000  # 10x the largest model here (mlp: 0.9 M); also caps a compressed file's unpacking
MAX_ACTIVATION = 4_000_000  # numbers any step may make for one picture (the cnn's largest: 0.17 M, its im2col)
MAX_STEPS = 256
MAX_CARD_BYTES = 1_000_000


class ProgramError(UserError):
    """An exported ``.npz`` is missing, unreadable, or not a program this version can run."""


# ----------------------------------------------------------------------------- the operations
# Each op: (x, arrays, settings) -> y. Shapes: images [N, C, H, W], rows [N, F].


def conv2d(x: np.ndarray, arrays: dict, settings: dict) -> np.ndarray:
    """Cross-correlation as Paddle's Conv2D (groups 1, dilation 1): weight [O, C, kh, kw], bias [O]."""
    weight = arrays["weight"]
    out_channels, _, kernel_h, kernel_w = weight.shape
    stride, padding = settings["stride"], settings["padding"]
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kernel_h, kernel_w), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # [N, C, H', W', kh, kw]
    count, _, height, width = windows.shape[:4]
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(count * height * width, -1)  # [N*H'*W', C*kh*kw]
    y = patches @ weight.reshape(out_channels, -1).T  # [N*H'*W', O]
    if "bias" in arrays:
        y += arrays["bias"]
    return y.reshape(count, height, width, out_channels).transpose(0, 3, 1, 2)  # [N, O, H', W']


def _pool(x: np.ndarray, settings: dict, reduce: Callable) -> np.ndarray:
    size, stride = settings["kernel"], settings["stride"]
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    return reduce(windows, axis=(-2, -1))  # [N, C, H', W']


def maxpool2d(x, arrays, settings):
    return _pool(x, settings, np.max)


def avgpool2d(x, arrays, settings):
    return _pool(x, settings, np.mean).astype(x.dtype, copy=False)


def linear(x, arrays, settings):
    """y = x W + b, W [in, out] (Paddle's layout)."""
    y = x @ arrays["weight"]
    return y + arrays["bias"] if "bias" in arrays else y


def flatten(x, arrays, settings):
    return x.reshape(len(x), -1)


def relu(x, arrays, settings):
    return np.maximum(x, 0)


def tanh(x, arrays, settings):
    return np.tanh(x)


def sigmoid(x, arrays, settings):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # 1 / (1 + e^-x) without overflow


@dataclass(frozen=True)
class Op:
    run: Callable[[np.ndarray, dict, dict], np.ndarray]
    arrays: tuple[str, ...] = ()  # the arrays it must have
    optional: tuple[str, ...] = ()  # and may have
    settings: tuple[str, ...] = ()  # whole numbers >= 0 it reads (kernel and stride >= 1)


OPS: dict[str, Op] = {
    "conv2d": Op(conv2d, ("weight",), ("bias",), ("stride", "padding")),
    "maxpool2d": Op(maxpool2d, settings=("kernel", "stride")),
    "avgpool2d": Op(avgpool2d, settings=("kernel", "stride")),
    "linear": Op(linear, ("weight",), ("bias",)),
    "flatten": Op(flatten),
    "relu": Op(relu),
    "tanh": Op(tanh),
    "sigmoid": Op(sigmoid),
}


# ----------------------------------------------------------------------------- the program


@dataclass
class Program:
    """The steps of a forward pass and their arrays; ``forward`` runs them in order."""

    steps: list[tuple[str, dict, dict]]  # (op name, settings, arrays)
    card: dict

    def forward(self, images: np.ndarray) -> np.ndarray:
        """float32 [N, 1, 28, 28] in [-1, 1] -> the model's outputs [N, C] (logits, or one value)."""
        x = np.ascontiguousarray(images, dtype=np.float32)
        for name, settings, arrays in self.steps:
            x = OPS[name].run(x, arrays, settings)
        return x

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by its name in the file (``"3.weight"``)."""
        return {
            f"{index}.{key}": value for index, (_, _, arrays) in enumerate(self.steps) for key, value in arrays.items()
        }


def to_bytes(program: Program) -> bytes:
    """The ``.npz`` file's bytes: the card (steps included) and every array."""
    import io

    card = json.dumps(program.card, indent=1).encode()
    buffer = io.BytesIO()
    np.savez(buffer, **{CARD_ENTRY: np.frombuffer(card, dtype=np.uint8)}, **program.arrays())
    return buffer.getvalue()


# What reading a damaged or crafted .npz raises, from zipfile, zlib, json and numpy's header parser.
UNREADABLE = (
    ValueError,
    EOFError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    RecursionError,  # json: nesting deeper than Python's stack
    SyntaxError,  # numpy's parser of a damaged .npy header
    tokenize.TokenError,
    OverflowError,
    NotImplementedError,  # zipfile: a version or compression it does not know
    RuntimeError,  # zipfile: an encrypted entry
    MemoryError,
)


@contextlib.contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Turn what reading ``path`` may raise into one ``ProgramError`` naming it; ``what`` is what
    it should have been (".npz", "exported .npz")."""
    try:
        yield
    except FileNotFoundError:
        raise ProgramError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProgramError(f"{path}: is a folder, not an {what}") from None
    except OSError as error:
        raise ProgramError(f"{path}: cannot read it: {describe_os_error(error)}") from None
    except UNREADABLE as error:
        raise ProgramError(
            f"{path}: not a readable {what}, damaged or truncated ({type(error).__name__}: {one_line(error)})"
        ) from None


def npz_kind(path: str | os.PathLike) -> str:
    """ "program" for an exported ``.npz`` (it holds a card), "network" for a NumPy network of
    ``handwriting.scratch`` (its card is a JSON file beside it); a file that is not a readable
    ``.npz`` at all (damaged, truncated, something else) is a ``ProgramError``."""
    with _reading(Path(path), ".npz"):
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
        for entry in entries:  # what np.load would choke on in other words than ours
            if entry.flag_bits & 1 or entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise zipfile.BadZipFile(f"{entry.filename} is encrypted or compressed in a way .npz files are not")
        names = [entry.filename for entry in entries]
    return "program" if f"{CARD_ENTRY}.npy" in names else "network"


def _header(archive, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an entry of the ``.npz`` declares, read without loading its data (a
    small file may declare an array of any size)."""
    with archive.zip.open(f"{name}.npy") as entry:
        version = np.lib.format.read_magic(entry)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(entry)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(entry)
        else:
            raise ValueError(f"{name}: an array format of version {version}")
    if not all(type(side) is int and 0 <= side <= MAX_PARAMETERS for side in shape):
        raise ValueError(f"{name}: an array of shape {str(shape)[:60]}")
    return shape, dtype


def load(path: str | os.PathLike) -> Program:
    """Read and check an exported ``.npz``; any problem is a ``ProgramError`` naming the file."""
    path = Path(path)
    with _reading(path, "exported .npz"), np.load(path, allow_pickle=False) as archive:
        files = set(archive.files)
        if CARD_ENTRY not in files:
            raise ProgramError(
                f"{path}: not an exported model (it has no {CARD_ENTRY}); export one with "
                "python -m handwriting.export CHECKPOINT --format npz"
            )
        shape, dtype = _header(archive, CARD_ENTRY)
        if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_CARD_BYTES:
            raise ProgramError(f"{path}: its {CARD_ENTRY} is not the bytes of a card")
        card = json.loads(archive[CARD_ENTRY].tobytes())
        steps = _steps(card, archive, files, path)
    program = Program(steps, card)
    _check_runs(program, path)
    return program


def _steps(card: Any, archive, files: set[str], path: Path) -> list[tuple[str, dict, dict]]:
    """The card's "steps" with their arrays, each checked against ``OPS``."""

    def wrong(problem: str) -> ProgramError:
        return ProgramError(f"{path}: not an exported model this version runs: {problem}")

    if not isinstance(card, dict) or not isinstance(card.get("steps"), list):
        raise wrong('its card has no list of "steps"')
    if not 1 <= len(card["steps"]) <= MAX_STEPS:
        raise wrong(f"{counted(len(card['steps']), 'step')} (1 to {MAX_STEPS} expected)")
    steps, used, total = [], set(), 0
    for index, step in enumerate(card["steps"]):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str) or step["op"] not in OPS:
            shown = step.get("op") if isinstance(step, dict) else step
            raise wrong(f"step {index} is {one_line(repr(shown), 40)}; the ops known are {', '.join(OPS)}")
        op = OPS[step["op"]]
        settings = {}
        for key in op.settings:
            value = step.get(key)
            least = 0 if key == "padding" else 1
            if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= 64:
                raise wrong(f"step {index} ({step['op']}): {key} is {one_line(repr(value), 40)}")
            settings[key] = value
        arrays = {}
        for key in op.arrays + op.optional:
            name = f"{index}.{key}"
            if name not in files:
                if key in op.arrays:
                    raise wrong(f"step {index} ({step['op']}) has no array {name}")
                continue
            shape, dtype = _header(archive, name)  # checked before a byte of it is loaded
            if dtype != np.float32:
                raise wrong(f"{name} is {dtype}, not float32")
            total += math.prod(shape)
            if total > MAX_PARAMETERS:
                raise wrong(f"more than {MAX_PARAMETERS:,} numbers")
            arrays[key] = archive[name]
            used.add(name)
        steps.append((step["op"], settings, arrays))
    extra = files - used - {CARD_ENTRY}
    if extra:
        raise wrong(f"arrays no step uses: {', '.join(sorted(extra)[:5])}")
    _walk_shapes(steps, wrong)
    return steps


def _walk_shapes(steps: list[tuple[str, dict, dict]], wrong: Callable[[str], ProgramError]) -> None:
    """Follow one picture's shape [1, 28, 28] through the steps without running them: each array
    must fit what reaches it, and no step may make more than ``MAX_ACTIVATION`` numbers (a tiny
    file could otherwise ask for gigabytes, e.g. convolutions padded over and over)."""
    shape: tuple[int, ...] = (1, 28, 28)  # (channels, height, width), then (features,) once flat
    for index, (name, settings, arrays) in enumerate(steps):
        where = f"step {index} ({name})"
        if name == "conv2d":
            weight = arrays["weight"].shape
            if len(shape) != 3 or len(weight) != 4 or weight[1] != shape[0] or weight[2] != weight[3]:
                raise wrong(f"{where}: a weight of shape {list(weight)} for inputs of shape {list(shape)}")
            if "bias" in arrays and arrays["bias"].shape != (weight[0],):
                raise wrong(f"{where}: a bias of shape {list(arrays['bias'].shape)} for {weight[0]} channels")
            kernel, padding, stride = weight[2], settings["padding"], settings["stride"]
            if padding >= kernel or shape[1] + 2 * padding < kernel:
                raise wrong(f"{where}: padding {padding} and kernel {kernel} on a {shape[1]}x{shape[2]} input")
            side = [(length + 2 * padding - kernel) // stride + 1 for length in shape[1:]]
            work = side[0] * side[1] * shape[0] * kernel * kernel  # the im2col matrix
            shape = (weight[0], *side)
        elif name in ("maxpool2d", "avgpool2d"):
            if len(shape) != 3 or min(shape[1:]) < settings["kernel"]:
                raise wrong(f"{where}: a {settings['kernel']}-pixel pool on inputs of shape {list(shape)}")
            shape = (shape[0], *[(length - settings["kernel"]) // settings["stride"] + 1 for length in shape[1:]])
            work = math.prod(shape)
        elif name == "flatten":
            shape = (math.prod(shape),)
            work = shape[0]
        elif name == "linear":
            weight = arrays["weight"].shape
            if len(shape) != 1 or len(weight) != 2 or weight[0] != shape[0]:
                raise wrong(f"{where}: a weight of shape {list(weight)} for inputs of shape {list(shape)}")
            if "bias" in arrays and arrays["bias"].shape != (weight[1],):
                raise wrong(f"{where}: a bias of shape {list(arrays['bias'].shape)} for {weight[1]} outputs")
            shape = (weight[1],)
            work = shape[0]
        else:  # relu, tanh, sigmoid: the same shape
            work = math.prod(shape)
        if work > MAX_ACTIVATION:
            raise wrong(f"{where} makes {work:,} numbers for one picture (at most {MAX_ACTIVATION:,})")


def _check_runs(program: Program, path: Path) -> None:
    """Run one blank picture through, so shapes that do not fit fail here, in words."""
    classes = program.card.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(label, str) for label in classes):
        raise ProgramError(f'{path}: its card\'s "classes" is not a list of class labels')
    try:
        with np.errstate(all="ignore"):
            outputs = program.forward(np.zeros((1, 1, 28, 28), np.float32))
    except (ValueError, IndexError, KeyError) as error:
        raise ProgramError(
            f"{path}: its steps do not fit together ({type(error).__name__}: {one_line(error)})"
        ) from None
    task = program.card.get("task", "classify")
    expected = 1 if task == "regress" else len(classes)
    if outputs.shape != (1, expected):
        raise ProgramError(f"{path}: its steps give {list(outputs.shape[1:])} outputs for {len(classes):,} classes")
