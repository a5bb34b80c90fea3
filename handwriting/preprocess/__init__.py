"""Turning pixels into model input — the one place both training and inference go through.

MNIST pixels are uint8 with white ink (255) on black (0); each digit was cropped to its ink,
scaled so that its longest side is 20 px (keeping the aspect ratio) and placed in a 28x28
frame with its centre of mass on pixel (14, 14). The models see float32 in [-1, 1] with ink
at +1 and background at -1 (the design card's normalisation, ``normalize``).

A person's picture is none of that: a photo of dark ink on uneven paper, a drawing app's
transparent canvas, a marker scribble filling the frame. ``to_mnist`` turns any of those into
the 28x28 MNIST frame, step by step, each step a function of its own:

    read_picture        any file Pillow reads -> uint8 grey [H, W] (EXIF turned, alpha flattened)
    to_mnist            grey [H, W] -> uint8 [28, 28] white ink on black, MNIST's geometry
      _clean_ink        a digital drawing (flat background): polarity, stray dots, ruled lines
      _photo_ink        a photo or scan, on a 128 px copy (a closer look when the digit is small):
        _only_the_page    a sheet on a darker table: its surround painted like paper
        _clean_photo      polarity, paper's tone subtracted, ruled lines, specks and edge blobs out
      _frame            crop, strokes made MNIST-wide (_mnist_thickness), 20 px box, centre of mass
    normalize           uint8 [...] -> float32 [...] in [-1, 1]  (shared with training)

``PREPROCESSORS`` holds the recipes ``infer.py --preprocess`` offers: ``mnist`` (the above) and
``naive`` (the Paddle tutorial's: squash to 28x28 and invert, kept for comparison).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from handwriting.preprocess.errors import NoInkError, PictureError
from handwriting.preprocess.pixels import MNIST_BOX, MNIST_CENTRE, MNIST_SIZE, NORMALISATION, normalize

# The stages below need OpenCV and Pillow, which the training-data loader and the NumPy-only
# ``scratch`` net (they import ``normalize``) must not pay for or depend on. So these names are
# imported from their modules the first time someone asks for them (PEP 562), not here.
_FROM_MODULE = {
    "MAX_PIXELS": "read",
    "read_picture": "read",
    "to_mnist": "photo",
    "naive": "photo",
    "PREPROCESSORS": "photo",
    "shrunk": "photo",
}

if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported directly
    from handwriting.preprocess.photo import PREPROCESSORS, naive, shrunk, to_mnist
    from handwriting.preprocess.read import MAX_PIXELS, read_picture

__all__ = [
    "MAX_PIXELS",
    "MNIST_BOX",
    "MNIST_CENTRE",
    "MNIST_SIZE",
    "NORMALISATION",
    "PREPROCESSORS",
    "NoInkError",
    "PictureError",
    "naive",
    "normalize",
    "read_picture",
    "shrunk",
    "to_mnist",
]


def __getattr__(name: str):
    """``handwriting.preprocess.to_mnist`` and the like: imported from their stage on first use."""
    if name not in _FROM_MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FROM_MODULE[name]}"), name)
