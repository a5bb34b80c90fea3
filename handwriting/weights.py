"""Reading and writing state dicts (weights, optimizer state) as data, never as code.

``paddle.save`` writes a state dict as a Python pickle, and ``paddle.load`` reads it back with
a plain ``pickle.load`` — which runs whatever a crafted file tells it to (a ``__reduce__`` that
calls ``os.system`` is three lines). People download ``.pdparams`` files from forums and
notebooks all the time, so this project never calls ``paddle.load``. ``read_state`` reads the
same files with an unpickler that knows only what a state dict is made of:

    NumPy arrays (``numpy.ndarray`` rebuilt by ``_reconstruct``, with a ``numpy.dtype``),
    NumPy scalars, ``collections.OrderedDict``, bytes (``_codecs.encode`` in pickle protocol 2),
    and pickle's own dicts, lists, tuples, strings, numbers, booleans and ``None``.

Anything else a file names — a function, a class, a module — is refused before it is looked up,
so nothing in the file can run. The files stay ``paddle.load``-compatible both ways: what we
write, plain Paddle reads; what Paddle writes (``paddle.save(model.state_dict(), ...)`` from any
version since 2.0), we read. Files in the ``safetensors`` format (``paddle.save(...,
safetensors=True)``) are read too, by the ``safetensors`` package Paddle itself depends on.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import pickletools
import stat
from pathlib import Path
from typing import Any

import numpy as np

from handwriting.atomic import write_bytes
from handwriting.errors import UserError, counted, describe_os_error, one_line


class WeightsError(UserError):
    """A weights or optimizer-state file is missing, unreadable, or not made of plain data."""


# Keys paddle.save adds beside the tensors: a table of Paddle's internal parameter names (which
# paddle.load drops), and how arrays over 1 GiB were cut into slices for old pickle protocols.
NAME_TABLE = "StructuredToParameterName@@"
SLICES = "UnpackBigParamInfor@@"

NESTING_LIMIT = 8  # a state dict is a dict of arrays, at most a few dicts deep (the LR scheduler's)
ITEM_LIMIT = 10_000_000  # values visited while checking a file: far above any state dict of ours
ARRAY_KINDS = "biufc"  # booleans, signed and unsigned integers, floats, complex numbers: no objects
# What numpy.dtype pickles as its state for a plain number type (after its version and byte order).
PLAIN_DTYPE_STATE = (None, None, None, -1, -1, 0)


class _Refused(pickle.UnpicklingError):
    """The file asks for something that is not plain data."""


# The unpickler never builds a NumPy object from what a file says: a real dtype or array would take
# any state the file gives it (fields at any offset, object flags: arrays that read outside their
# memory). It builds these stand-ins instead, each checking its state, and ``_plain`` turns them
# into arrays with ``np.frombuffer`` once the whole file is read.


def _plain_dtype(code) -> np.dtype:
    """A number type from its code ('f4', '<i8', 'b1'); anything else (objects, records, sub-arrays)
    is refused."""
    if not isinstance(code, str) or len(code) > 8:
        raise _Refused("a dtype that is not a plain type code")
    try:
        dtype = np.dtype(code)
    except (TypeError, ValueError):
        raise _Refused(f"an unknown dtype {code!r}") from None
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None or dtype.hasobject:
        raise _Refused(f"arrays of {dtype}, not numbers")
    return dtype


class _Dtype:
    """Stands for ``numpy.dtype(code, align, copy)`` in a pickle; its state may set only the byte order."""

    def __init__(self, code=None, align=False, copy=True):
        self.dtype = _plain_dtype(code)

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[2:] == PLAIN_DTYPE_STATE):
            raise _Refused("a dtype with fields or flags no state dict has")
        if state[1] not in ("<", ">", "|", "="):
            raise _Refused("a dtype with an unknown byte order")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


class _NdarrayName:
    """Stands for ``numpy.ndarray`` in a pickle: only ever the first argument of ``_reconstruct``."""


class _Array:
    """Stands for an array in a pickle: ``_reconstruct(ndarray, (0,), b'b')`` makes it, its state
    ``(1, shape, dtype, fortran_order, data)`` fills it, checked before any array exists."""

    def __init__(self, subtype=None, shape=None, code=None):
        if subtype is not _NdarrayName or shape != (0,):
            raise _Refused("an array that numpy would not have written")
        self.parts = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise _Refused("an array state numpy would not have written")
        _, shape, dtype, fortran_order, data = state
        if isinstance(data, str):  # a Python 2 file read with encoding="latin1", as paddle.load does
            data = data.encode("latin1")
        if (
            not isinstance(shape, tuple)
            or not all(type(side) is int and side >= 0 for side in shape)
            or not isinstance(dtype, _Dtype)
            or type(fortran_order) is not bool
            or not isinstance(data, bytes)
        ):
            raise _Refused("an array state numpy would not have written")
        if len(data) != math.prod(shape) * dtype.dtype.itemsize:
            raise _Refused(f"an array of shape {list(shape)} with {counted(len(data), 'byte')} of data")
        self.parts = (shape, dtype.dtype, fortran_order, data)

    def build(self) -> np.ndarray:
        if self.parts is None:
            raise _Refused("an array without data")
        shape, dtype, fortran_order, data = self.parts
        flat = np.frombuffer(data, dtype=dtype)
        return np.array(flat.reshape(shape, order="F" if fortran_order else "C"))  # a writable copy


def _scalar(dtype=None, data=None):
    """A NumPy scalar (``np.float64(0.1)``) from its dtype and raw bytes."""
    if not isinstance(dtype, _Dtype) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise _Refused("a NumPy scalar that is not a plain number")
    return np.frombuffer(data, dtype=dtype.dtype)[0]


def _latin1_bytes(text=None, encoding="latin1") -> bytes:
    """How pickle protocol 2 spells a ``bytes`` object: ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("a call to _codecs.encode that is not pickle's own bytes")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _Array,
    ("numpy._core.multiarray", "_reconstruct"): _Array,  # NumPy 2 moved numpy.core
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _Dtype,
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _latin1_bytes,  # bytes in pickle protocol 2 (paddle.save(..., protocol=2))
}


class _DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds stand-ins for NumPy arrays and plain containers, and refuses every
    other name a file gives."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(f"it asks to run {one_line(f'{module}.{name}', 80)!r}") from None

    def persistent_load(self, pid):
        raise _Refused("it refers to outside objects (a persistent id)")


# Pickle instructions a state dict never needs: building objects of a class the file names
# (NEWOBJ, INST, OBJ), objects from outside the file (persistent ids, the extension registry),
# and out-of-band buffers. Refused before unpickling starts, beside find_class's check of every
# name: two locks on one door.
FORBIDDEN_OPCODES = frozenset(
    ["INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID"]
    + ["BYTEARRAY8", "NEXT_BUFFER", "READONLY_BUFFER"]
)
MEMO_PUTS = frozenset(["PUT", "BINPUT", "LONG_BINPUT"])
MEMO_GETS = frozenset(["GET", "BINGET", "LONG_BINGET"])


def _check_opcodes(data: bytes) -> None:
    """Walk the pickle's instructions without running any; refuse the ones a state dict never uses,
    and memo slots out of order (``BINPUT 2**31`` makes the unpickler fill a list of 2**31 slots)."""
    memo_size = 0
    for opcode, argument, position in pickletools.genops(data):
        if opcode.name in FORBIDDEN_OPCODES:
            raise _Refused(f"it uses pickle's {opcode.name} instruction (at byte {position})")
        if opcode.name == "MEMOIZE":
            memo_size += 1
        elif opcode.name in MEMO_PUTS:
            if not isinstance(argument, int) or argument > memo_size:
                raise _Refused(f"a memo slot out of order (at byte {position})")
            memo_size = max(memo_size, argument + 1)
        elif opcode.name in MEMO_GETS and (not isinstance(argument, int) or argument >= memo_size):
            raise _Refused(f"a memo slot never filled (at byte {position})")


def _is_safetensors(head: bytes) -> bool:
    # safetensors: an 8-byte little-endian header length, then the header's JSON object.
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1


def read_state(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, Any]:
    """The state dict saved in ``path`` -> ``{name: NumPy array or plain value}``, running nothing.

    Raises ``WeightsError`` (one line naming the file) for a missing or unreadable file, a file
    that is not a state dict, or one that names anything but arrays and plain containers.
    """
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or a device would block or never end
            raise WeightsError(f"{path}: not a regular file; give the .pdparams train.py wrote")
        with open(path, "rb") as handle:
            if not _known_format(handle.read(9)):  # refused before reading the rest of a large file
                raise WeightsError(f"{path}: not a Paddle {what} (neither paddle.save's format nor safetensors)")
            handle.seek(0)
            data = handle.read()
    except WeightsError:
        raise
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such {what}; train one with train.py or pick one in models/") from None
    except IsADirectoryError:
        raise WeightsError(f"{path}: is a directory; give the .pdparams train.py wrote") from None
    except OSError as error:
        raise WeightsError(f"{path}: cannot read this {what}: {describe_os_error(error)}") from None
    except MemoryError as error:  # a file too large to hold: the file's fault, as any decoding failure
        problem = f"{type(error).__name__}: {one_line(error)}"
        raise WeightsError(f"{path}: not a readable Paddle {what} ({problem})") from None
    return state_from_bytes(data, path, what)


def state_from_bytes(data: bytes, path: str | os.PathLike, what: str = "checkpoint") -> dict[str, Any]:
    """``read_state`` for a file's bytes already in memory (``path`` names it in errors): callers
    that check a file's SHA-256 parse the very bytes they checked, not a second read of the file."""
    path = Path(path)
    try:
        if _is_safetensors(data[:9]):
            state = _read_safetensors(data, path)
        elif data[:1] == b"\x80":  # pickle protocol 2 and later, as paddle.save writes
            _check_opcodes(data)
            state = _DataOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
        else:
            raise WeightsError(f"{path}: not a Paddle {what} (neither paddle.save's format nor safetensors)")
    except WeightsError:
        raise
    except _Refused as error:
        raise WeightsError(f"{path}: refused, not plain weights: {error}; it was not loaded") from None
    except Exception as error:  # noqa: BLE001 - any failure to decode untrusted bytes is the file's fault
        problem = f"{type(error).__name__}: {one_line(error)}"
        raise WeightsError(f"{path}: not a readable Paddle {what} ({problem})") from None
    return _plain_state(state, path, what)


def _known_format(head: bytes) -> bool:
    """Whether a file's first 9 bytes start safetensors or a pickle of protocol 2 or later."""
    return _is_safetensors(head) or head[:1] == b"\x80"


def _read_safetensors(data: bytes, path: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load
    except ImportError:
        raise WeightsError(f"{path}: a safetensors file; pip install safetensors to read it") from None
    return load(data)


def _plain_state(state, path: Path, what: str) -> dict[str, Any]:
    """An unpickled object -> the state dict it stands for, with real arrays; paddle.save's additions
    undone (its name table, and arrays cut into slices)."""
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise WeightsError(f"{path}: not a Paddle {what} (it holds a {type(state).__name__}, not a state dict)")
    try:
        state = _plain(state, {}, [ITEM_LIMIT], NESTING_LIMIT)
    except _Refused as error:
        raise WeightsError(f"{path}: not a Paddle {what} ({error})") from None
    state.pop(NAME_TABLE, None)
    slices = state.pop(SLICES, None)
    if slices is not None:
        try:
            for key, info in slices.items():
                parts = [state.pop(part) for part in info["slices"]]
                if not all(isinstance(part, np.ndarray) and part.ndim == 1 for part in parts):
                    raise TypeError("the slices are not flat arrays")
                state[key] = np.concatenate(parts).reshape(info["OriginShape"])
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise WeightsError(f"{path}: its sliced arrays do not fit together ({one_line(error)})") from None
    return state


def _plain(value, done: dict, budget: list, depth: int):
    """``value`` with every stand-in array built, checked to be plain data all the way down.

    ``done`` maps the id of each container already converted to its result: a pickle's memo can
    share one list a hundred times a hundred times over, and a tree walk of that would never end.
    """
    if isinstance(value, (str, bytes, int, float, complex, type(None), np.generic)):
        return value
    if id(value) in done:
        return done[id(value)]
    budget[0] -= 1
    if budget[0] < 0:
        raise _Refused("more values than any state dict holds")
    if depth < 0:
        raise _Refused("nested too deeply")
    if isinstance(value, _Array):
        result = value.build()
    elif isinstance(value, np.ndarray):  # from a safetensors file, which holds arrays of numbers only
        if value.dtype.kind not in ARRAY_KINDS or value.dtype.fields is not None:
            raise _Refused(f"arrays of {value.dtype}, not numbers")
        result = value
    elif isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise _Refused(f"a dict key that is a {type(key).__name__}")
            result[key] = _plain(item, done, budget, depth - 1)
    elif isinstance(value, (list, tuple)):
        result = type(value)(_plain(item, done, budget, depth - 1) for item in value)
    else:
        raise _Refused(f"a {type(value).__name__}")
    done[id(value)] = result
    return result


def state_bytes(state: dict) -> bytes:
    """A state dict (Paddle tensors or arrays) as the bytes ``paddle.save`` writes for it."""
    import paddle

    buffer = io.BytesIO()
    paddle.save(state, buffer)
    return buffer.getvalue()


def write_state(path: str | os.PathLike, state: dict) -> None:
    """``paddle.save(state, path)``, written to a temporary name, flushed to disk and renamed."""
    write_bytes(path, state_bytes(state))
