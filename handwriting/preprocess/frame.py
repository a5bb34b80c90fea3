"""Framing: a character's ink placed in a 28x28 frame the way a dataset placed its own.

The model learns the framing along with the characters, so a user's picture must be framed exactly
as the training set was; a checkpoint's card names its data's framing and ``infer.py`` applies it.
A framing is one function, uint8 ink [H, W] (ink high, background 0, as ``recipes.ink_of`` cleans
it) -> uint8 [28, 28], and an entry in ``FRAMINGS``:

    mnist    crop to the ink; scale its longest side to 20 px keeping the aspect ratio (strokes
             first made as wide as MNIST's when it shrinks); centre of mass on pixel (14, 14)
    emnist   EMNIST's (Cohen et al., 2017) from NIST's 128x128 glyphs: crop to the ink, centre it
             by its box in a square with 2 px of padding, Gaussian blur (sigma 1), downsample to
             28x28 (area averaging, as an antialiased bicubic) — no 20 px box, no centre of mass
    fill     Fashion-MNIST's: crop to the object, longest side 28 px, centred by its box
"""

from __future__ import annotations

import cv2
import numpy as np

from handwriting.preprocess.errors import NoInkError
from handwriting.preprocess.filters import ink_box, resized_longest
from handwriting.preprocess.pixels import MNIST_SIZE

# Where MNIST put its digits in the frame.
MNIST_BOX = 20  # px: the longest side of a digit's ink
MNIST_CENTRE = 14.0  # where a digit's centre of mass lies (row and column, 0-based)

# Ink already 19-20 px long is left unresampled: resampling only blurs it.
UNRESAMPLED = (MNIST_BOX - 1, MNIST_BOX)
# A digit that must shrink goes through a frame this many times larger first, where its strokes
# can be made MNIST-wide in whole pixels.
WORKING_SCALE = 4
STROKE_LEVEL = 128  # half the peak and up is the stroke, when measuring its width

# MNIST's stroke widths in its 20 px box, in MNIST pixels: median 2.4, 5-95%: 1.6-3.9.
MNIST_THINNEST = 1.6  # thinner strokes are grown ...
MNIST_TYPICAL = 2.4  # ... to this width
MNIST_FATTEST = 4.5  # fatter strokes are thinned ...
THINNED_TO = 3.5  # ... to this width, never by more than a third of their width


def cropped_to_ink(ink: np.ndarray) -> np.ndarray:
    """uint8 ink [H, W] -> uint8 [h, w], the box around its nonzero pixels. Raises ``NoInkError``
    when there are none."""
    box = ink_box(ink)
    if box is None:
        raise NoInkError("no handwriting found")
    top, bottom, left, right = box
    return ink[top:bottom, left:right]


def frame_mnist(ink: np.ndarray) -> np.ndarray:
    """uint8 ink [H, W] (ink high, background 0) -> uint8 [28, 28] in MNIST's geometry.

    Crop to the ink, scale the longest side to 20 px keeping the aspect ratio, and put the centre
    of mass on pixel (14, 14). A digit that has to shrink goes through a ``WORKING_SCALE`` times
    larger box first, where its strokes are made as wide as MNIST's (a fine pen would otherwise
    shrink to a faint hairline, a fat marker to a blob).
    """
    crop = cropped_to_ink(ink)
    longest = max(crop.shape)
    if longest not in UNRESAMPLED:
        if longest > MNIST_BOX:
            crop = resized_longest(crop, WORKING_SCALE * MNIST_BOX)
            crop = with_mnist_stroke_width(crop, pixels_per_mnist_pixel=WORKING_SCALE)
        crop = resized_longest(crop, MNIST_BOX)
    return placed_by_centre_of_mass(crop)


# EMNIST's framing, at the scale of NIST's 128x128 glyph pictures.
NIST_SIDE = 128  # px: the square a glyph is framed in before the downsampling to 28x28
EMNIST_PADDING = 2  # px round the glyph's longest side, at that scale
EMNIST_BLUR_SIGMA = 1.0  # px, at that scale
# The glyph's longest side in the 28x28 frame: 28 * 124 / 128 = 27.1 px. EMNIST's strokes are
# made MNIST-wide for that size, as frame_mnist does for its 20 px (a fine pen would fade to grey).
EMNIST_GLYPH = MNIST_SIZE * (NIST_SIDE - 2 * EMNIST_PADDING) / NIST_SIDE


def frame_emnist(ink: np.ndarray) -> np.ndarray:
    """uint8 ink [H, W] (ink high, background 0) -> uint8 [28, 28] in EMNIST's geometry.

    The ink's box is scaled so that its longest side plus 2 px of padding on each side is NIST's
    128 px square, centred in that square by its box (aspect ratio kept), blurred with a sigma-1
    Gaussian and downsampled to 28x28, as EMNIST's converter did.
    """
    crop = cropped_to_ink(ink)
    crop = resized_longest(crop, NIST_SIDE - 2 * EMNIST_PADDING)
    crop = with_mnist_stroke_width(crop, pixels_per_mnist_pixel=NIST_SIDE / MNIST_SIZE)
    square = placed_by_box(crop, NIST_SIDE)
    square = cv2.GaussianBlur(square, (0, 0), EMNIST_BLUR_SIGMA)
    # EMNIST's converter shrank with an antialiased bicubic filter; OpenCV's INTER_CUBIC does not
    # antialias when shrinking 4.6x (it aliases), while INTER_AREA comes within a few grey levels.
    return cv2.resize(square, (MNIST_SIZE, MNIST_SIZE), interpolation=cv2.INTER_AREA)


def frame_fill(ink: np.ndarray) -> np.ndarray:
    """uint8 ink [H, W] -> uint8 [28, 28]: the ink's longest side scaled to 28 px (aspect ratio
    kept) and centred by its box — how Fashion-MNIST framed its product photos."""
    return placed_by_box(resized_longest(cropped_to_ink(ink), MNIST_SIZE), MNIST_SIZE)


def placed_by_box(crop: np.ndarray, side: int) -> np.ndarray:
    """uint8 [h, w], h and w <= side -> uint8 [side, side] with the crop's box in the middle
    (the odd pixel, if any, goes below and to the right)."""
    height, width = crop.shape
    square = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = crop
    return square


def placed_by_centre_of_mass(crop: np.ndarray) -> np.ndarray:
    """uint8 ink [h, w], h and w <= 28 -> uint8 [28, 28] with the ink's centre of mass on pixel
    (14, 14), rounded to whole pixels, moved only as far as the frame allows."""
    height, width = crop.shape
    mass = crop.astype(np.float64)
    total = mass.sum()
    if total == 0:
        raise NoInkError("no handwriting found")
    centre_row = (mass.sum(axis=1) * np.arange(height)).sum() / total
    centre_column = (mass.sum(axis=0) * np.arange(width)).sum() / total
    top = int(np.clip(np.floor(MNIST_CENTRE - centre_row + 0.5), 0, MNIST_SIZE - height))
    left = int(np.clip(np.floor(MNIST_CENTRE - centre_column + 0.5), 0, MNIST_SIZE - width))
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.uint8)
    frame[top : top + height, left : left + width] = crop
    return frame


def with_mnist_stroke_width(crop: np.ndarray, pixels_per_mnist_pixel: float) -> np.ndarray:
    """uint8 ink [h, w], ``pixels_per_mnist_pixel`` times MNIST's scale -> uint8 [h, w], peak at
    255, its strokes as wide as MNIST's: thin ones grown by grey dilation, fat ones thinned by
    grey erosion."""
    peak = int(crop.max())
    if peak == 0:
        return crop
    crop = np.rint(crop.astype(np.float32) * (255.0 / peak)).astype(np.uint8)  # faint hairlines to full ink
    strokes = (crop >= STROKE_LEVEL).astype(np.uint8)
    width = stroke_width_by_contours(strokes) / pixels_per_mnist_pixel  # in MNIST pixels
    if width < MNIST_THINNEST:
        grow = round((MNIST_TYPICAL - width) * pixels_per_mnist_pixel)
        if grow >= 1:
            crop = cv2.dilate(crop, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow + 1, grow + 1)))
    elif width > MNIST_FATTEST:
        shrink = round(min(width - THINNED_TO, width / 3) * pixels_per_mnist_pixel)
        if shrink >= 1:
            crop = cv2.erode(crop, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (shrink + 1, shrink + 1)))
    return crop


FRAMINGS = {"mnist": frame_mnist, "emnist": frame_emnist, "fill": frame_fill}


# Stroke width is estimated two ways, as 2 * area / perimeter: here on a clean digit enlarged
# ``WORKING_SCALE`` times (every contour's length), in ``photo.py`` on a noisy mask (lone pixels
# dropped first, edge crossings counted). Each stage's thresholds go with its own estimate: this
# one used there changes 564 of 2,428 frames, the photo stage's used here 822 (the frames of
# work/'s pictures, 1,000 redrawn MNIST digits and bench/own_handwriting.py's 1,400).
def stroke_width_by_contours(strokes: np.ndarray) -> float:
    """Mean width in pixels of the strokes in a uint8 0/1 mask [H, W]: 2 * area / the length of
    every contour (outer and holes); 0 if there are none."""
    contours, _ = cv2.findContours(strokes, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(contour, True) for contour in contours)
    return 2.0 * strokes.sum() / max(perimeter, 1.0)
