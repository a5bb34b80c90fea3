"""Digital drawings: a drawing app's, a browser canvas's or MNIST's own pictures, which need no
paper cleaning.

Such a picture leaves its background at one exact value over most of its border and much of the
picture, and its anti-aliased edges are few next to the strokes; a photo or a JPEG never does.
``drawing_ink`` recognises one and returns its ink (or None: a photo, for ``photo.photo_ink``).
"""

from __future__ import annotations

import numpy as np

from handwriting.preprocess.errors import NoInkError
from handwriting.preprocess.filters import border_pixels, without_rules, without_specks
from handwriting.preprocess.pixels import MNIST_SIZE

BORDER_SHARE_OF_BACKGROUND = 0.6  # a drawing app leaves 60% of the border one exact value, even cropped close
PICTURE_SHARE_OF_BACKGROUND = 0.2  # ... and 20% of the whole picture
FAINT = 16  # grey levels from the background: anti-aliasing (or, when most pixels are, a photo's noise)
FULL_STRENGTH = 224  # a pen peaking below this is grey: stretched to 255 (MNIST's own peaks are 254-255)


def drawing_ink(grey: np.ndarray) -> np.ndarray | None:
    """uint8 grey [H, W] -> uint8 ink [H, W] (ink high, background 0) if it is a digital drawing,
    else None (a photo or scan, with no one exact background).

    A drawing gets only its polarity turned, stray dots removed, a grey pen brought to full
    strength and ruled lines dropped. MNIST digits come out unchanged. Raises ``NoInkError``
    for a flat picture, or one holding only specks.
    """
    values, counts = np.unique(border_pixels(grey), return_counts=True)
    background = int(values[counts.argmax()])
    if (
        counts.max() < BORDER_SHARE_OF_BACKGROUND * counts.sum()
        or np.count_nonzero(grey == background) < PICTURE_SHARE_OF_BACKGROUND * grey.size
    ):
        return None
    distance = np.abs(grey.astype(np.int16) - background)  # [H, W] grey levels from the background
    faint, strong = np.count_nonzero((distance > 0) & (distance <= FAINT)), np.count_nonzero(distance > FAINT)
    if strong == 0:
        raise NoInkError("no handwriting found (the picture is one flat colour)")
    if faint > strong:
        return None  # smooth gradients or compression noise around the background: treat as a photo
    lighter = grey.astype(np.int16)[distance > 0].mean() > background
    ink = (grey.astype(np.int16) - background) if lighter else (background - grey.astype(np.int16))
    ink = np.clip(ink, 0, 255).astype(np.uint8)
    if grey.shape != (MNIST_SIZE, MNIST_SIZE):
        # Stray dots away from the digit go. Not at MNIST's own size, where a dot of a pixel or
        # two beside the digit is part of it (MNIST has them) and the frame is already made.
        ink = np.where(without_specks(ink > 0), ink, 0).astype(np.uint8)
    peak = int(ink.max())
    if peak == 0:
        raise NoInkError("no handwriting found (only specks of a pixel each)")
    if peak < FULL_STRENGTH:
        ink = np.rint(ink.astype(np.float32) * (255.0 / peak)).astype(np.uint8)
    ruled = without_rules(ink.astype(np.float32) / 255.0)  # a page of lined paper drawn digitally
    if (ruled == 0).sum() > (ink == 0).sum():
        ink = np.rint(ruled * 255).astype(np.uint8)
    return ink
