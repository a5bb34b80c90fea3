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
import os
import pickle
import pickletools
import stat
from pathlib import Path
from typing import Any

import numpy as np

from handwriting.atomic import write_bytes
from handwriting.errors import UserError


class WeightsError(UserError):
    """A weights or optimizer-state file is missing, unreadable, or not made of plain data."""


# Keys paddle.save adds beside the tensors: a table of Paddle's internal parameter names (which
# paddle.load drops), and how arrays over 1 GiB were cut into slices for old pickle protocols.
NAME_TABLE = "StructuredToParameterName@@"
SLICES = "UnpackBigParamInfor@@"

NESTING_LIMIT = 8  # a state dict is a dict of arrays, at most a few dicts deep (the LR scheduler's)
ARRAY_KINDS = "biufc"  # booleans, signed and unsigned integers, floats, complex numbers: no objects


class _Refused(pickle.UnpicklingError):
    """The file asks for something that is not plain data."""


def _checked_dtype(*arguments) -> np.dtype:
    """``numpy.dtype`` as a pickle calls it (``dtype('f4', False, True)``), refusing object fields."""
    if not arguments or not isinstance(arguments[0], str):
        raise _Refused("a dtype that is not a plain type code")
    dtype = np.dtype(arguments[0])
    if dtype.kind not in ARRAY_KINDS:
        raise _Refused(f"arrays of {dtype}, not numbers")
    return dtype


class _NdarrayName:
    """Stands for ``numpy.ndarray`` in a pickle. Not the class itself: called or instantiated by a
    crafted file, the class would allocate an array of any size it names."""


def _empty_array(subtype, shape, dtype_code) -> np.ndarray:
    """What ``numpy.core.multiarray._reconstruct`` does for a pickled array: an empty one, filled
    by its ``__setstate__`` next (which checks the data's length against the shape). Only an empty
    plain ndarray is made here, so a file cannot ask for a huge allocation or a subclass."""
    if subtype is not _NdarrayName or not isinstance(shape, tuple) or shape != (0,):
        raise _Refused("an array that numpy.save would not have written")
    return np.empty(0, dtype=np.uint8)


def _scalar(dtype, data=None):
    """A NumPy scalar (``np.float64(0.1)``) from its dtype and raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in ARRAY_KINDS or not isinstance(data, bytes):
        raise _Refused("a NumPy scalar that is not a plain number")
    if len(data) != dtype.itemsize:
        raise _Refused("a NumPy scalar of the wrong size")
    return np.frombuffer(data, dtype=dtype)[0]


def _latin1_bytes(text, encoding="latin1") -> bytes:
    """How pickle protocol 2 spells a ``bytes`` object: ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("a call to _codecs.encode that is not pickle's own bytes")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _empty_array,
    ("numpy._core.multiarray", "_reconstruct"): _empty_array,  # NumPy 2 moved numpy.core
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _checked_dtype,
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _latin1_bytes,  # bytes in pickle protocol 2 (paddle.save(..., protocol=2))
}


class _DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds NumPy arrays and plain containers and refuses every other global."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"it asks to run {module}.{name}") from None

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


def _check_opcodes(data: bytes) -> None:
    """Walk the pickle's instructions without running any; refuse the ones a state dict never uses."""
    for opcode, _, position in pickletools.genops(data):
        if opcode.name in FORBIDDEN_OPCODES:
            raise _Refused(f"it uses pickle's {opcode.name} instruction (at byte {position})")


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
            head = handle.read(9)
            handle.seek(0)
            if _is_safetensors(head):
                state = _read_safetensors(handle.read())
            elif head[:1] == b"\x80":  # pickle protocol 2 and later, as paddle.save writes
                data = handle.read()
                _check_opcodes(data)
                state = _DataOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
            else:
                raise WeightsError(f"{path}: not a Paddle {what} (neither paddle.save's format nor safetensors)")
    except WeightsError:
        raise
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such {what}; train one with train.py or pick one in models/") from None
    except IsADirectoryError:
        raise WeightsError(f"{path}: is a directory; give the .pdparams train.py wrote") from None
    except PermissionError:
        raise WeightsError(f"{path}: permission denied; cannot read this {what}") from None
    except OSError as error:
        raise WeightsError(f"{path}: cannot read this {what} ({error.strerror or error})") from None
    except _Refused as error:
        raise WeightsError(f"{path}: refused, not plain weights: {error}; it was not loaded") from None
    except Exception as error:  # noqa: BLE001 - any failure to decode untrusted bytes is the file's fault
        raise WeightsError(f"{path}: not a readable Paddle {what} ({type(error).__name__}: {error})") from None
    return _plain_state(state, path, what)


def _read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    return load(data)


def _plain_state(state, path: Path, what: str) -> dict[str, Any]:
    """Check that an unpickled object is a state dict of arrays and plain values; undo paddle.save's
    additions (its name table, and arrays cut into slices)."""
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise WeightsError(f"{path}: not a Paddle {what} (it holds a {type(state).__name__}, not a state dict)")
    problem = _not_plain(state, NESTING_LIMIT)
    if problem:
        raise WeightsError(f"{path}: not a Paddle {what} ({problem})")
    state = dict(state)
    state.pop(NAME_TABLE, None)
    slices = state.pop(SLICES, None)
    if slices is not None:
        try:
            for key, info in slices.items():
                parts = [state.pop(part) for part in info["slices"]]
                state[key] = np.concatenate(parts).reshape(info["OriginShape"])
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise WeightsError(f"{path}: its sliced arrays do not fit together ({error})") from None
    return state


def _not_plain(value, depth: int) -> str | None:
    """Why ``value`` is not made of plain data (None when it is)."""
    if depth < 0:
        return "nested too deeply"
    if isinstance(value, np.ndarray):
        return None if value.dtype.kind in ARRAY_KINDS else f"an array of {value.dtype}"
    if isinstance(value, (str, bytes, int, float, complex, bool, type(None), np.generic)):
        return None
    if isinstance(value, dict):
        items = list(value.keys()) + list(value.values())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return f"a {type(value).__name__}"
    for item in items:
        problem = _not_plain(item, depth - 1)
        if problem:
            return problem
    return None


def state_bytes(state: dict) -> bytes:
    """A state dict (Paddle tensors or arrays) as the bytes ``paddle.save`` writes for it."""
    import paddle

    buffer = io.BytesIO()
    paddle.save(state, buffer)
    return buffer.getvalue()


def write_state(path: str | os.PathLike, state: dict) -> None:
    """``paddle.save(state, path)``, written to a temporary name, flushed to disk and renamed."""
    write_bytes(path, state_bytes(state))


def as_tensors(state: dict) -> dict:
    """Arrays -> Paddle tensors, all the way down (what ``paddle.load`` returns for a state dict)."""
    import paddle

    if isinstance(state, dict):
        return {key: as_tensors(value) for key, value in state.items()}
    if isinstance(state, np.ndarray):
        return paddle.to_tensor(state)
    return state
