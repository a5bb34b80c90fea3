"""Turning pixels into model input — the one place both training and inference go through.

MNIST pixels are uint8 with white ink (255) on black (0); each digit was cropped to its ink,
scaled so that its longest side is 20 px (keeping the aspect ratio) and placed in a 28x28
frame with its centre of mass on pixel (14, 14). The models see float32 in [-1, 1] with ink
at +1 and background at -1 (``normalize``, described by ``NORMALISATION``).

A person's picture is none of that: a photo of dark ink on uneven paper, a drawing app's
transparent canvas, a marker scribble filling the frame. ``to_mnist`` turns any of those into
the 28x28 MNIST frame, one stage a module:

    read.read_picture        file -> uint8 grey [H, W]: checked it is a file, refused over 64 MP,
                             EXIF turned, first frame, 16/32-bit scaled, transparency flattened
                             (read_picture_bytes: the same from bytes, for the web app's uploads)
    recipes.to_mnist         grey [H, W] -> uint8 [28, 28], white ink on black:
      drawing.drawing_ink      a digital drawing (one exact background on the border): polarity,
                               stray dots, grey pen to full strength, ruled lines -> ink;
                               or None: a photo, which is first reduced to 1024 px and goes to
      photo.photo_ink          a photo or scan -> ink on a reduced copy:
        page.only_the_page       a sheet on a darker table: the table painted like paper
        even_paper               two clean tones? cleaned against the paper's one tone
        ink_looking_closer_when_small
                                 else clean_photo at 128 px (512 px if a fine pen faded; the
                                 digit cut out and cleaned again if it is small): polarity,
                                 paper estimated place by place, any ink?, rules, specks and
                                 edge blobs out, a soft halo kept, grain cut
      frame.frame_mnist        crop, strokes made MNIST-wide when shrinking, 20 px box,
                               centre of mass on (14, 14)
    pixels.normalize         uint8 [...] -> float32 [...] in [-1, 1]  (shared with training)

``filters.py`` holds what the stages share (resizing, medians, grey filters, speck and rule
removal). ``PREPROCESSORS`` holds the recipes ``infer.py --preprocess`` offers:
``mnist`` (the above) and ``naive`` (the Paddle tutorial's: squash to 28x28 and invert).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from handwriting.preprocess.errors import NoInkError, PictureError
from handwriting.preprocess.pixels import MNIST_SIZE, NORMALISATION, normalize

# The stages need OpenCV and Pillow, which the training-data loader and the NumPy-only ``scratch``
# net (they import ``normalize``) must neither pay for nor depend on. So these names are imported
# from their modules the first time someone asks for them (PEP 562's module ``__getattr__``).
_FROM_MODULE = {
    "MAX_PIXELS": "read",
    "read_picture": "read",
    "read_picture_bytes": "read",
    "to_mnist": "recipes",
    "naive": "recipes",
    "PREPROCESSORS": "recipes",
    "shrunk": "filters",
}

if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported directly
    from handwriting.preprocess.filters import shrunk
    from handwriting.preprocess.read import MAX_PIXELS, read_picture, read_picture_bytes
    from handwriting.preprocess.recipes import PREPROCESSORS, naive, to_mnist

__all__ = [
    "MAX_PIXELS",
    "MNIST_SIZE",
    "NORMALISATION",
    "PREPROCESSORS",
    "NoInkError",
    "PictureError",
    "naive",
    "normalize",
    "read_picture",
    "read_picture_bytes",
    "shrunk",
    "to_mnist",
]


def __getattr__(name: str):
    """``handwriting.preprocess.to_mnist`` and the like: imported from their stage on first use."""
    if name not in _FROM_MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FROM_MODULE[name]}"), name)


def __dir__() -> list[str]:
    """``dir()`` and tab completion list the names imported on first use too."""
    return sorted(set(globals()) | set(__all__))
