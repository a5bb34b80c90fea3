"""Reading a picture file: any file Pillow reads -> uint8 grey [H, W], as a person sees it.

The file is checked before it is opened (a regular file with something in it), refused when it
claims more than ``MAX_PIXELS``, decoded (a JPEG straight at a reduced scale), turned upright by
its EXIF orientation, and flattened to grey (first frame; 16- and 32-bit values scaled;
transparency laid on a background that contrasts with what was drawn). Whatever goes wrong is
one ``PictureError`` saying what, never a Pillow traceback.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
import sys
import warnings
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from handwriting.errors import describe_os_error, one_line
from handwriting.preprocess.errors import PictureError

MAX_PIXELS = 64_000_000  # refuse bigger pictures: a 64-megapixel photo is already generous
WORKING_SIDE = 1024  # larger pictures are reduced to this before any work (ink survives as grey)
HALF_OPAQUE = 0.5  # a pixel at least this opaque was drawn; fainter ones are the canvas
MID_GREY = 128  # drawn pixels darker than this on average are dark ink (put on white)

# Pillow logs what it finds wrong in a file before raising; with no logging set up, Python
# would print that on stderr beside our own one line. The exception says it already.
logging.getLogger("PIL").addHandler(logging.NullHandler())


def read_picture(path: str | os.PathLike) -> np.ndarray:
    """Decode any picture Pillow reads -> uint8 grey [H, W], as a person sees it.

    EXIF orientation is applied (phones store photos sideways), a GIF or TIFF gives its first
    frame, and transparency is flattened onto a background that contrasts with what was drawn
    (a drawing app's black strokes on a transparent canvas become black on white). Pictures over
    ``MAX_PIXELS`` are refused before decoding. Raises ``PictureError`` saying what is wrong
    (the caller names the file).
    """
    path = os.fspath(path)
    with _opened(path) as file:
        image = _decoded(file, path)
    return _flatten_to_grey(image)


def read_picture_bytes(data: bytes) -> np.ndarray:
    """``read_picture`` for a picture already in memory (an upload): bytes -> uint8 grey [H, W]."""
    if not data:
        raise PictureError("empty file (0 bytes)")
    return _flatten_to_grey(_decoded(io.BytesIO(data), "upload"))


# What stat's file types are called, for the files a picture cannot be read from.
_NOT_REGULAR = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _opened(path: str) -> BinaryIO:
    """``path`` opened for reading, once it is known to be a regular file with something in it.

    A named pipe or a device is refused before it is opened: opening a pipe with no writer
    waits for ever, and a device never ends.
    """
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise PictureError("no such file") from None
    except OSError as error:
        raise PictureError(f"cannot read it: {describe_os_error(error)}") from None
    except ValueError:  # os.stat's word for a path with a NUL character in it
        raise PictureError("not a valid path (it holds a NUL character)") from None
    if stat.S_ISDIR(status.st_mode):
        raise PictureError("is a directory")
    if not stat.S_ISREG(status.st_mode):
        kind = _NOT_REGULAR.get(stat.S_IFMT(status.st_mode), "not a regular file")
        raise PictureError(f"{kind}, not a picture file; give the path of a picture")
    if status.st_size == 0:
        raise PictureError("empty file (0 bytes)")
    try:
        return open(path, "rb")  # noqa: SIM115 -- the caller closes it
    except OSError as error:
        raise PictureError(f"cannot read it: {describe_os_error(error)}") from None


def _decoded(file: BinaryIO, path: str):
    """The first frame of the picture in ``file``, decoded by Pillow and turned upright -> a
    loaded Pillow image.

    Everything here decodes the file's own bytes, so whatever goes wrong is the file's fault:
    Pillow's decoders meet malformed files with assorted exceptions (OSError, SyntaxError, but
    also TypeError, struct.error, IndexError, ZeroDivisionError ... from deep inside a parser),
    and each becomes a ``PictureError``.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns about odd but readable files (corrupt EXIF, a truncated chunk): what
            # it reads, we use; the user sees one line per picture, not Pillow's warnings.
            warnings.simplefilter("ignore")
            # Pillow only warns between its limit and twice its limit; we refuse outright.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PictureError(
                    f"{width}x{height} pixels is more than the {MAX_PIXELS // 1_000_000}-megapixel "
                    "limit; crop or shrink the picture first"
                )
            if width <= 0 or height <= 0:
                raise PictureError(
                    f"damaged picture (it says it is {width}x{height} pixels); save it again as PNG or JPEG"
                )
            if image.format == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 scale straight from the DCT when that still
                # leaves WORKING_SIDE pixels: a 12-megapixel photo reads ~8x faster.
                image.draft(image.mode, (WORKING_SIDE, WORKING_SIDE))
            with _quiet_stderr() if image.format == "TIFF" else contextlib.nullcontext():
                image = ImageOps.exif_transpose(image)  # a copy, also for multi-frame files
                image.load()
            return image
    except PictureError:
        raise
    except UnidentifiedImageError:
        hint = ""
        if path.lower().endswith((".heic", ".heif")):
            hint = "; iPhone HEIC photos need `pip install pillow-heif`, or save the photo as JPEG"
        raise PictureError(f"not a picture Pillow can read (PNG, JPEG, BMP, GIF, WebP, TIFF, …){hint}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PictureError(
            f"more pixels than the {MAX_PIXELS // 1_000_000}-megapixel limit (a possible decompression bomb); "
            "crop or shrink the picture first"
        ) from None
    except MemoryError:
        raise PictureError("too large to decode in the memory there is; crop or shrink the picture first") from None
    except Exception as error:  # the file's bytes broke Pillow's decoder, whichever way it says so
        raise PictureError(
            f"damaged or truncated picture ({type(error).__name__}: {one_line(error)}); "
            "open it in an image viewer, or save it again as PNG or JPEG"
        ) from None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send what C libraries print to the process's stderr (file descriptor 2) to the null device
    for the duration of the block.

    libtiff, which Pillow decodes compressed TIFFs with, prints its errors there ("ZIPDecode:
    Decoding error at scanline 0") before Pillow raises: below Python, where no warning filter
    reaches. The user would see that line as well as ours. Output from other threads during the
    block is lost too; decoding one picture is a few milliseconds.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep quiet
        yield
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _flatten_to_grey(image) -> np.ndarray:
    """A Pillow image (first frame) -> uint8 grey [H, W], transparency flattened."""
    if image.mode.startswith("I") or image.mode == "F":
        # 16- and 32-bit grey (scanners, microscopes): Pillow's own conversion to 8 bits clips,
        # turning nearly everything white; scale the range instead.
        with np.errstate(invalid="ignore"):  # a float picture's signalling NaNs warn when widened
            values = np.asarray(image, dtype=np.float64)
        values[~np.isfinite(values)] = 0.0  # NaN and infinities: no light measured there
        # The range the values were stored in: 0-1 floats, 16-bit counts, or 8-bit ones kept wide.
        top = 1.0 if image.mode == "F" and values.max() <= 1.0 else (65535.0 if values.max() > 255 else 255.0)
        return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    if not has_alpha:
        return np.asarray(image.convert("L"))
    rgba = np.asarray(image.convert("RGBA"))
    grey = np.asarray(image.convert("RGB").convert("L"), dtype=np.float32)
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    drawn = alpha > HALF_OPAQUE
    if drawn.all():
        return grey.astype(np.uint8)
    # Whatever was drawn is the ink; put it on a background of the opposite brightness.
    ink_is_dark = not drawn.any() or grey[drawn].mean() < MID_GREY
    background = 255.0 if ink_is_dark else 0.0
    return np.rint(grey * alpha + background * (1.0 - alpha)).astype(np.uint8)
