"""Fuzz targets: what every reader of outside input promises, checked on generated input.

Each target takes one generated input, runs it through a reader of files or pictures and
checks the contract of issue #9: the input gives a result of the right kind, or the one
error that turns into a single line for the user — never another exception. Beside each
target is the ``hypothesis`` strategy that generates its inputs:

    target                 input                                contract
    idx_target             bytes (raw, gzipped, IDX-like)       an array, or IdxError
    picture_target         bytes written to a file              uint8 grey [H, W], or PictureError
    preprocess_target      uint8 grey [H, W], 1-384 px a side   uint8 [28, 28] from every
                                                                PREPROCESSORS entry, or NoInkError
                                                                (a PictureError)
    numpy_card_target      a NumPy network's card (any JSON)    a working network, or UserError
    paddle_card_target     a train.py checkpoint card           a model, or UserError
    export_card_target     an exported .npz's card (any JSON)   probabilities, or UserError
    export_file_target     an exported .npz's bytes (mutated)   probabilities, or UserError

``tests/test_fuzz.py`` runs each with a small fixed budget; ``bench/fuzz.py`` runs them for
minutes with fresh seeds. This module is not collected by pytest (its name has no ``test_``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gzip
import io
import json
import math
import os
import struct
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from handwriting.data.idx import IDX_DTYPES, IdxError, read_idx
from handwriting.errors import UserError
from handwriting.preprocess import MNIST_SIZE, PREPROCESSORS, PictureError, read_picture

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
PADDLE_MODEL = "mlp-sigmoid"  # the smallest shipped checkpoint: its card is the one mutated
NUMPY_MODEL = "scratch"

# Sizes and values where readers of binary formats go wrong: zero, one, the edges of signed
# and unsigned types (AFL's "interesting values").
INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


# ----------------------------------------------------------------------------- mutating bytes


@st.composite
def mutated(draw, data: bytes, most: int = 4) -> bytes:
    """``data`` with up to ``most`` edits: a byte set, bytes inserted, a run deleted, a field
    set to an interesting value, or the tail cut — enough to get past a format's magic number
    and break what follows it."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, most))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["set", "insert", "delete", "interesting", "cut"]))
        if edit == "set":
            data[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif edit == "interesting":
            width = draw(st.sampled_from([1, 2, 4]))
            value = draw(st.sampled_from(INTERESTING)) & ((1 << (8 * width)) - 1)
            data[at : at + width] = value.to_bytes(width, draw(st.sampled_from(["big", "little"])))
        else:
            del data[at:]
    return bytes(data)


# ----------------------------------------------------------------------------- (a) IDX files


@st.composite
def idx_like(draw) -> bytes:
    """Bytes with a valid IDX magic number: a real type, 0-5 dimensions (or a silly count), sizes
    that are small, interesting or huge, and a body that fits, falls short or runs over (or is
    empty, or a few bytes, when the header asks for more than 4 KiB)."""
    type_code = draw(st.sampled_from(sorted(IDX_DTYPES)))
    dims = draw(st.one_of(st.integers(0, 5), st.sampled_from([33, 64, 65, 255])))
    shown = min(dims, 6)  # sizes written; a silly count gives a header cut short
    # Small sizes, interesting ones, and powers of two: their product can reach 2**64 (0 in int64).
    size = st.one_of(st.integers(0, 4), st.sampled_from(INTERESTING), st.integers(0, 31).map(lambda bits: 1 << bits))
    sizes = draw(st.lists(size, min_size=shown, max_size=shown))
    header = bytes([0, 0, type_code, dims]) + b"".join(size.to_bytes(4, "big") for size in sizes)
    needed = math.prod(sizes) * IDX_DTYPES[type_code].itemsize if shown == dims else 0
    body_size = needed if needed <= 4096 else draw(st.integers(0, 64))
    body_size = max(0, body_size + draw(st.sampled_from([0, 0, 0, -1, 1])))
    return header + draw(st.binary(min_size=body_size, max_size=body_size))


def idx_inputs() -> st.SearchStrategy[bytes]:
    """Any bytes, IDX-like bytes and mutations of them, each raw or gzipped (maybe broken gzip)."""
    plain = st.one_of(st.binary(max_size=64), idx_like(), idx_like().flatmap(mutated))
    gzipped = plain.map(gzip.compress)
    return st.one_of(plain, gzipped, gzipped.flatmap(mutated))


def idx_target(data: bytes) -> None:
    """Any bytes in a file -> ``read_idx`` gives an array, or IdxError (also with ndim 1 or 3)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed-idx3-ubyte"
        path.write_bytes(data)
        for ndim in (None, 1, 3):
            try:
                array = read_idx(path, ndim=ndim)
            except IdxError:
                continue
            assert isinstance(array, np.ndarray)
            assert ndim is None or array.ndim == ndim


# ----------------------------------------------------------------------------- (b) picture files

# (format, mode, save options): the encodings people send and the odd corners of each format —
# 16-bit and float grey, palettes with transparency, EXIF orientation, compressed TIFF (libtiff),
# resolution tags (TIFF rationals), animation — and rarer formats decoded by other C libraries.
PICTURE_KINDS: list[tuple[str, str, dict]] = [
    ("PNG", "L", {}),
    ("PNG", "RGBA", {}),
    ("PNG", "LA", {}),
    ("PNG", "P", {"transparency": 0}),
    ("PNG", "I;16", {}),
    ("PNG", "1", {}),
    ("JPEG", "L", {"quality": 80}),
    ("JPEG", "RGB", {"exif": "orientation"}),
    ("JPEG", "CMYK", {}),
    ("TIFF", "L", {}),
    ("TIFF", "RGB", {"compression": "tiff_lzw", "dpi": (72.5, 72.5)}),
    ("TIFF", "RGBA", {"compression": "tiff_deflate"}),
    ("TIFF", "I;16", {}),
    ("TIFF", "F", {}),
    ("TIFF", "L", {"exif": "orientation"}),
    ("BMP", "RGB", {}),
    ("BMP", "P", {}),
    ("BMP", "1", {}),
    ("GIF", "P", {"transparency": 0}),
    ("GIF", "L", {"animated": True}),
    ("WEBP", "RGB", {"quality": 80}),
    ("WEBP", "RGBA", {"lossless": True}),
    # Rarer formats Pillow also reads (and infer.py takes from a folder by their suffixes).
    ("JPEG2000", "RGB", {}),
    ("AVIF", "RGB", {}),
    ("ICO", "RGBA", {}),
    ("PPM", "L", {}),
    ("TGA", "RGBA", {}),
    ("PCX", "RGB", {}),
    ("QOI", "RGBA", {}),
    ("DDS", "RGB", {}),
]


def encode_picture(kind: int, width: int, height: int, seed: int) -> bytes:
    """A small random picture encoded as ``PICTURE_KINDS[kind]`` -> the file's bytes."""
    from PIL import Image

    image_format, mode, options = PICTURE_KINDS[kind]
    options = dict(options)
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "LA": 2, "CMYK": 4}.get(mode, 1)
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if mode == "I;16":
        wide = rng.integers(0, 65536, (height, width)).astype("<u2")
        image = Image.frombytes("I;16", (width, height), wide.tobytes())
    elif mode == "F":
        image = Image.fromarray(rng.random((height, width)).astype(np.float32))
    elif channels == 1:
        image = Image.fromarray(pixels[..., 0], "L").convert(mode)
    else:
        image = Image.frombytes(mode, (width, height), pixels.tobytes())
    if options.pop("exif", None) == "orientation":
        exif = Image.Exif()
        exif[0x0112] = 1 + seed % 8  # Orientation: every one of the eight
        options["exif"] = exif.tobytes()
    if options.pop("animated", False):
        frames = [image, Image.fromarray(255 - np.asarray(image))]
        options.update(save_all=True, append_images=frames[1:], duration=10, loop=0)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


@st.composite
def encoded_pictures(draw) -> bytes:
    """A valid encoding of a small random picture, in one of ``PICTURE_KINDS``."""
    kind = draw(st.integers(0, len(PICTURE_KINDS) - 1))
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    return encode_picture(kind, width, height, draw(st.integers(0, 2**16)))


# A TIFF field's type: 1 byte, 2 ascii, 3 short, 4 long, 5 rational ... 12 double, 16-18 BigTIFF's
# 8-byte ones; 0 and 13-15 are no type at all.
TIFF_TYPES = range(0, 19)


@st.composite
def tiff_fields_mutated(draw) -> bytes:
    """A small valid TIFF with one to three fields of its first directory changed: the type (a
    size read as a fraction, a string), the count, or the value. Byte-level mutation rarely hits
    these 12-byte entries, yet they are where TIFF parsers meet odd Python types."""
    kind = draw(st.sampled_from([index for index, (name, _, _) in enumerate(PICTURE_KINDS) if name == "TIFF"]))
    data = bytearray(encode_picture(kind, draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(0, 99))))
    order = "<" if data[:2] == b"II" else ">"
    directory = int.from_bytes(data[4:8], "little" if order == "<" else "big")
    entries = int.from_bytes(data[directory : directory + 2], "little" if order == "<" else "big")
    for _ in range(draw(st.integers(1, 3))):
        entry = directory + 2 + 12 * draw(st.integers(0, entries - 1))
        field_name = draw(st.sampled_from(["type", "count", "value"]))
        if field_name == "type":
            struct.pack_into(order + "H", data, entry + 2, draw(st.sampled_from(TIFF_TYPES)))
        else:
            value = draw(st.one_of(st.integers(0, 64), st.sampled_from(INTERESTING)))
            struct.pack_into(order + "I", data, entry + (4 if field_name == "count" else 8), value)
    return bytes(data)


def picture_inputs() -> st.SearchStrategy[bytes]:
    """Any bytes, valid small pictures of every kind, (mostly) mutations of them, and TIFFs with
    their fields changed."""
    return st.one_of(
        st.binary(max_size=256), encoded_pictures(), encoded_pictures().flatmap(mutated), tiff_fields_mutated()
    )


def picture_target(data: bytes) -> None:
    """Any bytes in a file -> ``read_picture`` gives uint8 grey [H, W], or PictureError; nothing else
    reaches the user's screen: no Python warning, no C library's message on stderr (each would be
    a second line)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.picture"
        path.write_bytes(data)
        with printed_on_stderr(Path(folder) / "stderr") as printed, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                grey = read_picture(path)
            except PictureError:
                grey = None
        assert not caught, [str(warning.message) for warning in caught]
        assert not printed(), printed()
    if grey is not None:
        assert grey.dtype == np.uint8 and grey.ndim == 2 and grey.size > 0, (grey.dtype, grey.shape)


@contextlib.contextmanager
def printed_on_stderr(scratch: Path) -> Iterator[Callable[[], bytes]]:
    """Catch what is written to file descriptor 2 in the block (C libraries write there directly);
    yields a function that returns it, once the block is done."""
    saved = os.dup(2)
    try:
        with open(scratch, "w+b") as catcher:
            os.dup2(catcher.fileno(), 2)
            try:
                yield scratch.read_bytes
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


# ----------------------------------------------------------------------------- (c) preprocessing


@st.composite
def grey_pictures(draw) -> np.ndarray:
    """uint8 grey [H, W]: 1-64 px a side, a flat colour or random content, with dots, lines and
    blocks drawn on it, then maybe enlarged up to 6x (so the photo path's larger looks are met)."""
    height, width = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    if draw(st.booleans()):
        picture = np.full((height, width), draw(st.integers(0, 255)), np.uint8)
    else:
        picture = draw(hnp.arrays(np.uint8, (height, width))).copy()
    rows, columns, values = st.integers(0, height - 1), st.integers(0, width - 1), st.integers(0, 255)
    for row, column, value in draw(st.lists(st.tuples(rows, columns, values), max_size=8)):
        picture[row, column] = value  # dots
    for row, value in draw(st.lists(st.tuples(rows, values), max_size=3)):
        picture[row, :] = value  # lines across
    for column, value in draw(st.lists(st.tuples(columns, values), max_size=3)):
        picture[:, column] = value  # lines down
    for top, left, bottom, right, value in draw(st.lists(st.tuples(rows, columns, rows, columns, values), max_size=2)):
        picture[min(top, bottom) : max(top, bottom) + 1, min(left, right) : max(left, right) + 1] = value  # blocks
    scale = draw(st.sampled_from([1, 1, 1, 2, 3, 6]))
    return np.kron(picture, np.ones((scale, scale), np.uint8)) if scale > 1 else picture


def preprocess_target(grey: np.ndarray) -> None:
    """uint8 grey [H, W] -> every recipe in ``PREPROCESSORS`` gives uint8 [28, 28], or NoInkError
    / PictureError. NumPy's floating-point warnings (a division by zero, a NaN cast to uint8)
    are raised as errors: they are bugs even when a frame comes out."""
    for name, recipe in PREPROCESSORS.items():
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            try:
                frame = recipe(grey.copy())
            except PictureError:
                continue
        assert frame.dtype == np.uint8 and frame.shape == (MNIST_SIZE, MNIST_SIZE), (name, frame.dtype, frame.shape)


# ----------------------------------------------------------------------------- (d) model cards


def json_values(leaves_only: bool = False) -> st.SearchStrategy[Any]:
    """Any JSON value Python's ``json`` writes (NaN and infinities included)."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
    if leaves_only:
        return leaves
    return st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    )


# Values a card's fields plausibly take: other models' names, tasks, activations, input scalings.
NEAR_WORDS = ["cnn", "mlp", "mlp-sigmoid", "linear", "classify", "regress", "sigmoid", "relu", "tanh", "zero-to-one"]


def nearby(value: Any) -> st.SearchStrategy[Any]:
    """Values close to ``value``: its neighbours, the same type's edge cases, other known words."""
    if isinstance(value, bool):
        return st.sampled_from([not value, 0, 1, "true", None])
    if isinstance(value, int):
        return st.sampled_from([value - 1, value + 1, 0, -1, -value, 2**31, 2**63, 10**30, float(value), str(value)])
    if isinstance(value, float):
        whole = [int(value)] if np.isfinite(value) else []
        return st.sampled_from([-value, 0.0, 1.0, -1.0, 1e308, float("nan"), float("inf"), *whole])
    if isinstance(value, str):
        return st.one_of(st.sampled_from(["", value.upper(), value + " "] + NEAR_WORDS), st.text(max_size=6))
    if isinstance(value, list):
        shorter = [value[:-1], value[1:], [], value + value[-1:] if value else [0]]
        return st.one_of(st.sampled_from(shorter), st.just(tuple(value)).map(list), st.just({"0": value}))
    if isinstance(value, dict):
        return st.sampled_from([{}, list(value), list(value.values())])
    return json_values(leaves_only=True)


@st.composite
def mutated_card(draw, name: str, most: int = 3) -> Any:
    """The card of the shipped model ``name`` with up to ``most`` edits: a value somewhere in it
    (a top-level one as likely as a deeper one) replaced by a nearby or arbitrary value, deleted,
    or joined by a new key."""
    card = copy.deepcopy(real_card(name))
    for _ in range(draw(st.integers(1, most))):
        parent, key = None, None
        value = card
        # Into the card always (a whole other value is json_values' job), then deeper 2 times in 3.
        while isinstance(value, (dict, list)) and value and (parent is None or draw(st.integers(0, 2))):
            keys = list(value) if isinstance(value, dict) else list(range(len(value)))
            parent, key = value, draw(st.sampled_from(keys))
            value = parent[key]
        edit = draw(st.sampled_from(["nearby", "nearby", "any", "delete", "add"]))
        if edit == "add" and isinstance(value, dict):
            value[draw(st.text(max_size=8))] = draw(json_values())
            continue
        new = draw(nearby(value) if edit == "nearby" else json_values())
        if parent is None:
            card = new
        elif edit == "delete":
            del parent[key]
        else:
            parent[key] = new
    return card


@dataclass(frozen=True)
class CardFile:
    """What a card target writes beside the weights: JSON (any value) or raw bytes."""

    value: Any = None
    raw: bytes | None = None

    def encode(self) -> bytes:
        return self.raw if self.raw is not None else json.dumps(self.value).encode()


# JSON text that Python's json module refuses other than with JSONDecodeError: a number longer
# than Python turns into an int (4,300 digits, since 3.11: ValueError), nesting deeper than its
# recursion limit (RecursionError), and text that is not UTF-8 (UnicodeDecodeError).
TRICKY_JSON = [b"1" * 4301, b'{"classes": ' + b"9" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000, b"\xff{}"]


def card_inputs(name: str) -> st.SearchStrategy[CardFile]:
    """Mutations of the card of the shipped model ``name`` (mostly), any JSON value, bytes that
    are not JSON at all, and ``TRICKY_JSON``."""
    return st.one_of(
        mutated_card(name).map(CardFile),
        mutated_card(name).map(CardFile),
        json_values().map(CardFile),
        st.binary(max_size=32).map(lambda raw: CardFile(raw=raw)),
        st.sampled_from(TRICKY_JSON).map(lambda raw: CardFile(raw=raw)),
    )


@functools.cache
def real_card(name: str) -> dict:
    """The card of a shipped model in models/ (do not change it: it is shared); for ``cnn.npz``,
    the export card inside the shipped NumPy export."""
    if name.endswith(".npz"):
        from handwriting.program import load

        return load(MODELS / name).card
    return json.loads((MODELS / f"{name}.json").read_text())


def with_card(card: CardFile, weights: Path, check: Callable[[Path], None]) -> None:
    """Put ``weights`` (linked) and ``card`` in a fresh folder and run ``check`` on the weights' path."""
    with tempfile.TemporaryDirectory() as folder:
        linked = Path(folder) / f"fuzzed{weights.suffix}"
        os.symlink(weights, linked)
        linked.with_suffix(".json").write_bytes(card.encode())
        check(linked)


def numpy_card_target(card: CardFile) -> None:
    """A NumPy network's card -> ``files.load`` and ``infer.py --backend numpy`` give a network that
    reads a frame into one probability per class, or a UserError."""
    from handwriting.backends import NumpyBackend
    from handwriting.scratch.files import load

    def check(path: Path) -> None:
        try:
            net, loaded = load(path)
        except UserError:
            return
        assert isinstance(loaded, dict)
        try:
            backend = NumpyBackend(path, device="cpu")
        except UserError:
            return
        probabilities = backend.probabilities(np.zeros((1, MNIST_SIZE, MNIST_SIZE), np.uint8))
        assert probabilities.shape == (1, len(backend.classes)), probabilities.shape

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # overflow, NaN: a card that slipped through
        with_card(card, MODELS / f"{NUMPY_MODEL}.npz", check)


def paddle_card_target(card: CardFile) -> None:
    """A train.py checkpoint card beside real weights -> ``load_model`` gives (model, card), or a
    UserError."""
    from handwriting.checkpoint import load_model

    def check(path: Path) -> None:
        try:
            model, loaded = load_model(path)
        except UserError:
            return
        assert isinstance(loaded, dict) and callable(model)

    with_card(card, MODELS / f"{PADDLE_MODEL}.pdparams", check)


EXPORT_MODEL = "cnn.npz"  # the shipped NumPy export: its arrays, under a fuzzed card


def export_card_target(card: CardFile) -> None:
    """An exported .npz's card (any JSON, or bytes) with the shipped export's arrays -> the NumPy
    backend gives one probability per class for a frame, or a UserError; nothing else."""
    from handwriting.backends import NumpyBackend
    from handwriting.program import CARD_ENTRY, load

    arrays = load(MODELS / EXPORT_MODEL).arrays()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.npz"
        np.savez(path, **{CARD_ENTRY: np.frombuffer(card.encode(), np.uint8)}, **arrays)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # overflow, NaN: a card that slipped through
            try:
                backend = NumpyBackend(path, device="cpu")
            except UserError:
                return
            probabilities = backend.probabilities(np.zeros((1, MNIST_SIZE, MNIST_SIZE), np.uint8))
        assert probabilities.shape == (1, len(backend.classes)), probabilities.shape


@functools.cache
def small_export() -> bytes:
    """A small exported .npz (a convolution, a pool, a linear layer; 14 kB), the seed of the file
    mutations: its zip structure and .npy headers are what a damaged download breaks."""
    from handwriting.program import Program, to_bytes

    rng = np.random.default_rng(0)
    steps = [
        ("conv2d", {"stride": 1, "padding": 1}, {"weight": rng.normal(size=(4, 1, 3, 3)).astype(np.float32)}),
        ("relu", {}, {}),
        ("maxpool2d", {"kernel": 2, "stride": 2}, {}),
        ("flatten", {}, {}),
        ("linear", {}, {"weight": rng.normal(0, 0.05, (784, 10)).astype(np.float32), "bias": np.zeros(10, np.float32)}),
    ]
    card = {**real_card(EXPORT_MODEL), "steps": [{"op": name, **settings} for name, settings, _ in steps]}
    return to_bytes(Program(steps, card))


def export_file_inputs() -> st.SearchStrategy[bytes]:
    """Mutations of ``small_export()``'s bytes (mostly), and any bytes."""
    return st.one_of(mutated(small_export(), most=6), mutated(small_export(), most=2), st.binary(max_size=64))


def export_file_target(data: bytes) -> None:
    """Any bytes as an exported .npz -> the NumPy backend gives one probability per class for a
    frame, or a UserError; nothing else."""
    from handwriting.backends import NumpyBackend

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.npz"
        path.write_bytes(data)
        try:
            backend = NumpyBackend(path, device="cpu")
        except UserError:
            return
        with np.errstate(all="ignore"):  # mutated weights may overflow: the numbers are the file's
            probabilities = backend.probabilities(np.zeros((1, MNIST_SIZE, MNIST_SIZE), np.uint8))
        assert probabilities.shape == (1, len(backend.classes)), probabilities.shape


# ----------------------------------------------------------------------------- (e) weights files


def small_state_files() -> list[bytes]:
    """Small real state dicts as paddle.save writes them (pickle protocols 2-4, safetensors), and
    one with NumPy scalars and nested containers: the seeds the mutations start from."""
    import io
    import pickle

    import paddle

    model = paddle.nn.Sequential(paddle.nn.Linear(3, 2), paddle.nn.BatchNorm1D(2))
    files = []
    for options in ({}, {"protocol": 2}, {"protocol": 3}, {"safetensors": True}):
        if options.get("safetensors"):
            with tempfile.TemporaryDirectory() as scratch:
                path = Path(scratch) / "m.safetensors"
                paddle.save(model.state_dict(), str(path), **options)
                files.append(path.read_bytes())
            continue
        buffer = io.BytesIO()
        paddle.save(model.state_dict(), buffer, **options)
        files.append(buffer.getvalue())
    files.append(pickle.dumps({"w": np.float64(0.5), "s": {"last_epoch": 3}, "t": (1, [2.0], None)}, protocol=2))
    return files


@functools.lru_cache(maxsize=1)
def _state_seeds() -> tuple[bytes, ...]:
    return tuple(small_state_files())


@st.composite
def weights_inputs(draw) -> bytes:
    """A real small state dict file, mutated; or bytes with a pickle's first byte."""
    if draw(st.integers(0, 9)) == 0:
        return b"\x80" + draw(st.binary(max_size=200))
    return draw(mutated(draw(st.sampled_from(_state_seeds())), most=6))


def weights_target(data: bytes) -> None:
    """Any bytes as a .pdparams -> a dict of names to arrays and plain values, or a WeightsError
    (never another exception, never an object of a class the file names)."""
    from handwriting.weights import WeightsError, read_state

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "x.pdparams"
        path.write_bytes(data)
        try:
            state = read_state(path)
        except WeightsError:
            return
    assert isinstance(state, dict) and all(isinstance(key, str) for key in state)
    plain = (np.ndarray, np.generic, str, bytes, int, float, complex, bool, type(None), dict, list, tuple)
    pending = list(state.values())
    while pending:
        value = pending.pop()
        assert isinstance(value, plain), type(value)
        if isinstance(value, np.ndarray):
            assert value.dtype.kind in "biufc", value.dtype
        elif isinstance(value, dict):
            pending += list(value.keys()) + list(value.values())
        elif isinstance(value, (list, tuple)):
            pending += list(value)


# ----------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class Target:
    """A fuzz target and the strategy for its inputs, under a short name."""

    name: str
    run: Callable[[Any], None]
    inputs: Callable[[], st.SearchStrategy]


TARGETS = [
    Target("idx", idx_target, idx_inputs),
    Target("picture", picture_target, picture_inputs),
    Target("preprocess", preprocess_target, grey_pictures),
    Target("numpy-card", numpy_card_target, lambda: card_inputs(NUMPY_MODEL)),
    Target("paddle-card", paddle_card_target, lambda: card_inputs(PADDLE_MODEL)),
    Target("export-card", export_card_target, lambda: card_inputs(EXPORT_MODEL)),
    Target("export-file", export_file_target, export_file_inputs),
    Target("weights", weights_target, weights_inputs),
]
