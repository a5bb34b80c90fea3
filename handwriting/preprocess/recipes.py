"""The recipes ``infer.py --preprocess`` offers: a grey picture -> a 28x28 frame.

``to_mnist`` is the clean-up (``ink_of``: a digital drawing or a photo, each its own module)
followed by MNIST's framing (``frame.frame_mnist``); ``to_emnist`` and ``to_fill`` are the same
clean-up followed by EMNIST's and Fashion-MNIST's framings. ``infer.py`` picks the one its model's
card names. ``naive`` is the Paddle tutorial's recipe, kept to show what the framing is worth.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from handwriting.preprocess.drawing import drawing_ink
from handwriting.preprocess.filters import shrunk
from handwriting.preprocess.frame import frame_emnist, frame_fill, frame_mnist
from handwriting.preprocess.marks import find_marks, typical_height
from handwriting.preprocess.photo import FIRST_LOOK, photo_ink
from handwriting.preprocess.pixels import MNIST_SIZE
from handwriting.preprocess.read import WORKING_SIDE


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """uint8 grey picture [H, W], any polarity and size -> uint8 [28, 28] white ink on black.

    Follows how MNIST itself was made, so the model sees what it was trained on. Raises
    ``NoInkError`` when there is nothing that looks like handwriting (it does not guess).
    """
    return frame_mnist(ink_of(grey))


def to_emnist(grey: np.ndarray) -> np.ndarray:
    """uint8 grey picture [H, W] -> uint8 [28, 28]: the same clean-up, framed as EMNIST's glyphs."""
    return frame_emnist(ink_of(grey))


def to_fill(grey: np.ndarray) -> np.ndarray:
    """uint8 grey picture [H, W] -> uint8 [28, 28]: the same clean-up, framed as Fashion-MNIST's."""
    return frame_fill(ink_of(grey))


def ink_of(grey: np.ndarray, look: int = FIRST_LOOK) -> np.ndarray:
    """uint8 grey picture [H, W], any polarity and size -> uint8 ink [h, w]: ink high, background
    0, specks, rules and paper gone. A digital drawing keeps its size; a photo comes back reduced,
    to about ``look`` px on its long side (``photo.photo_ink``)."""
    grey = _checked_grey(grey)
    ink = drawing_ink(grey)
    if ink is None:
        ink = photo_ink(shrunk(grey, WORKING_SIDE), look)  # area averaging keeps thin ink as grey
    return ink


CHARACTER_LOOK = 48  # px: a photo of several characters is cleaned again with them about this tall
LOOKS = 2  # ... at most twice (the first look at a small row in a big photo can misjudge their size)


def ink_of_row(grey: np.ndarray, ink: np.ndarray, height: float) -> np.ndarray:
    """uint8 grey picture [H, W] holding several characters, its ``ink_of`` and their typical
    height there in px -> uint8 ink [h, w] with the characters about ``CHARACTER_LOOK`` px tall.

    ``ink_of`` cleans a photo on a copy whose long side suits one character: a row of six comes
    back with each character a few pixels tall and its thin strokes faded. A drawing keeps its size
    and is returned as it is.
    """
    grey = _checked_grey(grey)
    if drawing_ink(grey) is not None:
        return ink
    for number in range(LOOKS):
        if height >= 0.7 * CHARACTER_LOOK or max(ink.shape) >= WORKING_SIDE:
            break
        look = min(WORKING_SIDE, round(max(ink.shape) * CHARACTER_LOOK / height))
        ink = photo_ink(shrunk(grey, WORKING_SIDE), look)
        if number + 1 == LOOKS:  # no look after this one: no need to measure the characters again
            break
        marks = find_marks(ink)
        if not marks:
            break
        height = typical_height(marks)
    return ink


def naive(grey: np.ndarray) -> np.ndarray:
    """uint8 grey [H, W] -> uint8 [28, 28]: the Paddle tutorial's recipe, squashed to 28x28
    ignoring the aspect ratio, then inverted (``infer.py --preprocess naive``)."""
    grey = _checked_grey(grey)
    return 255 - cv2.resize(grey, (MNIST_SIZE, MNIST_SIZE), interpolation=cv2.INTER_AREA)


# By name: each framing of ``frame.FRAMINGS`` after the clean-up, and the tutorial's recipe.
PREPROCESSORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mnist": to_mnist,
    "emnist": to_emnist,
    "fill": to_fill,
    "naive": naive,
}


def _checked_grey(grey: np.ndarray) -> np.ndarray:
    """``grey`` itself, once it is known to be uint8 [H, W]; a TypeError otherwise (a caller's bug)."""
    if grey.dtype != np.uint8 or grey.ndim != 2:
        raise TypeError(f"expected a uint8 grey picture [H, W], got {grey.dtype} {grey.shape}")
    return grey
