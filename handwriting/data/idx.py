"""Read IDX files, the format MNIST, Fashion-MNIST and EMNIST are published in.

An IDX file is a header followed by one flat, big-endian array:

    bytes 0-1   zero
    byte  2     element type (0x08 = uint8, ...)
    byte  3     number of dimensions, d
    next 4*d    the size of each dimension, big-endian uint32
    the rest    the data, row-major

The whole body is handed to NumPy in one call (``np.frombuffer``), so reading all of
MNIST costs a file read and a checksum, not a Python loop over 70,000 records.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from handwriting.errors import DataError, counted, describe_os_error

# Element type byte -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
MAX_DIMS = 32  # NumPy 1.x's limit on an array's dimensions (2.x allows 64); MNIST's files have 1 or 3


class IdxError(DataError):
    """The bytes are not a well-formed IDX file."""


def read_bytes(path: str | Path) -> bytes:
    """Return the contents of ``path``, gunzipped if it is a gzip file (by its magic bytes)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected an IDX file") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except OSError as error:  # a name too long, a failing disk ...
        raise DataError(f"{path}: cannot read it: {describe_os_error(error)}") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise IdxError(f"{path}: broken gzip file ({error}); delete it and fetch it again") from None
    return raw


def parse_idx(data: bytes, ndim: int | None = None, source: str = "<bytes>") -> np.ndarray:
    """Turn the bytes of an IDX file into an array of its shape.

    ``ndim``, when given, is the number of dimensions the caller expects (3 for images,
    1 for labels). ``source`` names the file in error messages. Raises ``IdxError`` for a
    wrong magic number, an unexpected dimension count, or a body whose size does not match
    the header (a truncated or padded file). Returns a read-only native-endian array
    (``uint8`` for the image and label files of all the MNIST family).
    """
    if len(data) < 4:
        raise IdxError(
            f"{source}: {counted(len(data), 'byte')} is too short for an IDX header (empty or truncated file)"
        )
    zero0, zero1, type_code, dims = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or type_code not in IDX_DTYPES:
        raise IdxError(
            f"{source}: not an IDX file (magic number 0x{data[:4].hex()}; expected 0x0000 then a type byte such as 08)"
        )
    if ndim is not None and dims != ndim:
        raise IdxError(f"{source}: has {dims} dimensions, expected {ndim}")
    if dims > MAX_DIMS:
        raise IdxError(f"{source}: has {dims} dimensions, more than any IDX file holds (at most {MAX_DIMS})")
    header_size = 4 + 4 * dims
    if len(data) < header_size:
        raise IdxError(f"{source}: truncated inside its header ({len(data)} bytes)")
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=dims, offset=4))
    dtype = IDX_DTYPES[type_code]
    # Python's integers: a product of four uint32 sizes can pass 2**63 and wrap round in int64.
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise IdxError(f"{source}: {problem}: {len(data):,} bytes, but its header {list(shape)} needs {expected:,}")
    try:
        array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    except ValueError as error:  # an empty array whose other sizes overflow NumPy's index type
        raise IdxError(f"{source}: its header {list(shape)} describes no array NumPy can hold ({error})") from None
    # uint8 has no byte order; wider types are converted to the machine's order once.
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Read a raw or gzipped IDX file into a NumPy array (see ``parse_idx``)."""
    return parse_idx(read_bytes(path), ndim=ndim, source=str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (header + big-endian body), as the official files hold it."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | Path, array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` as an IDX file (gzipped if ``compress``). Used to make test data."""
    data = idx_bytes(array)
    Path(path).write_bytes(gzip.compress(data) if compress else data)
