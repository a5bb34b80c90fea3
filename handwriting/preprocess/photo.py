"""Photos and scans: paper of uneven tone, shadows, grain, ruled lines, a table round the sheet.

``photo_ink`` finds the ink in a (reduced) photo and returns it as white on black, paper at 0:

    only_the_page              a sheet on a darker table: the table painted like paper (page.py)
    a FIRST_LOOK px copy       the digit ends up 20 px tall, so this is detail enough, and quick
    even_paper                 two clean tones (a close crop, a clean scan)? the paper's one tone:
                               cleaned against it (ink_on_even_paper), kept if the digit is large
    ink_looking_closer_when_small
                               otherwise clean_photo on the copy; a 4x larger copy when a fine pen
                               faded; a small digit cut from the full picture and cleaned again
    clean_photo                1. polarity  2. the paper's tone place by place (paper_estimate)
                               then ink_against_paper: 3. any ink at all?  rules out
                               4. strokes kept, specks and edge blobs out, a soft halo, grain cut
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import cv2
import numpy as np

from handwriting.preprocess.errors import NoInkError
from handwriting.preprocess.filters import (
    SPECK_SHARE,
    border_pixels,
    grey_opening,
    ink_box,
    ink_extent,
    median_filter,
    median_of,
    padded_by_continuing_slopes,
    shrunk,
    subsampled,
    without_rules,
    without_specks,
)
from handwriting.preprocess.page import only_the_page

# Where to look.
FIRST_LOOK = 128  # px: a photo is cleaned on a copy this long; small digits get a second, closer look
CLOSER = 4  # a faded fine pen is looked for again on a copy 4x longer
SMALLEST_PICTURE = 8  # px: a picture (or a cut-out) narrower than this is too small to hold a digit
DETAIL_ENOUGH = 40  # px: a digit this long is detail enough for the 20 px box; shorter ones get a closer look
CUT_MARGIN = 0.3  # of the digit's size, kept round it when it is cut from the full picture

# An evenly lit picture: two clean tones.
EVEN_BLUR = 1.0  # px (sigma): a light blur before Otsu's threshold, so grain does not split the tones
MIXED_BORDER = (0.3, 0.7)  # the light tone on 30-70% of the border: neither tone is clearly the paper
TWO_TONES = 0.8  # Otsu's two tones explain 80% of the variance at least: little else is going on
WIDEST_STROKE = 0.2  # of the longer side: ink wider than this is a shadow, a thumb, a table's corner

# The paper, estimated place by place.
ROBUST_SPREAD = 1.4826  # median absolute deviation -> standard deviation, for Gaussian noise
INK_SPREADS = 3  # this many spreads off the paper is clearly ink, not grain
BACKGROUND_LOOK = 64  # px: the slow background is estimated on a copy this long
PAPER_BLUR = 48  # the paper's blur has sigma = the shorter side / 48 (at least LEAST_PAPER_BLUR px)
LEAST_PAPER_BLUR = 0.5
BLUR_COPY = 4  # that blur is wide and smooth: done on a copy 4x smaller
SPARSE_PAPER = 0.1  # where under 10% of the blur window is paper, the blur knows too little
OPENING_STROKES = 3  # a grey opening 3 strokes wide removes the strokes, keeps a shadow's edge

# Ink against the paper.
DIMMEST_PAPER = 0.1  # ink is measured against the paper's brightness, never less than this
GRAIN_BLUR = 150  # the blur before finding the strongest stroke: sigma = the shorter side / 150, at least 1 px
LEAST_PEAK = 0.06  # the strongest stroke stands out from the paper by 6% of its brightness at least ...
PEAK_OVER_GRAIN = 8  # ... and by 8 times the paper's grain
LEAST_THRESHOLD = 64  # of 255: a stroke is never thresholded below a quarter of the peak
HALO = 5  # px: the soft edge kept round the strokes (MNIST digits have anti-aliased edges)
PAPER_GRAIN = 0.15  # of the peak: paper grain left inside the halo, cut off
BLOB_WIDTH = 2  # a piece on the edge over twice as wide as the strokes clear of it is a blob, not ink ...
LONG_STROKE = 2  # ... unless it is a stroke: its area over 2 squares of its widest width (a 7 cropped
# close: 5.1; a digit's strokes: 2.2-5; the shadows' corners of bench/read_numbers: 0.4-0.7)


class EvenPaper(NamedTuple):
    """An evenly lit picture's paper: one tone all over."""

    tone: float  # the paper's grey, in 0-1
    ink_is_dark: bool  # the ink is darker than the paper (pencil on white), not lighter (chalk on a board)


def photo_ink(grey: np.ndarray, look: int = FIRST_LOOK) -> np.ndarray:
    """uint8 grey [H, W] (at most ``read.WORKING_SIDE`` long) -> uint8 ink [h, w], a reduced copy:
    ink high, paper 0, specks removed. ``look``: the long side of the copy cleaned first (a row of
    characters needs a longer one than a single character, to keep each character's detail).

    Raises ``NoInkError`` when nothing stands out from the paper.
    """
    height, width = grey.shape
    if min(height, width) < SMALLEST_PICTURE:
        raise NoInkError(f"no handwriting found (a {width}x{height} picture is too small to hold any)")
    grey = only_the_page(grey)
    first = shrunk(grey, look)
    paper = even_paper(first)
    if paper is not None:
        # A close crop, or a clean scan: the paper's tone is known. The estimate of uneven paper
        # in clean_photo needs plenty of paper around the strokes, and a fat pen that fills a
        # close crop would pass for paper there.
        try:
            ink = ink_on_even_paper(first, paper)
        except NoInkError:
            ink = None
        if ink is not None and ink_extent(ink) >= DETAIL_ENOUGH:  # else: a small digit, for a closer look
            return ink
    return ink_looking_closer_when_small(grey, first, look)


def even_paper(grey: np.ndarray) -> EvenPaper | None:
    """uint8 grey [H, W] -> its paper's one tone, and whether the ink is darker, when the picture
    is two clean tones — ink, and paper all round the border — as an evenly lit close crop or scan
    is; None otherwise (shading, a shadow, a table, faint ink: those need the paper estimated
    place by place, by ``clean_photo``)."""
    blurred = cv2.GaussianBlur(grey, (0, 0), EVEN_BLUR)
    _, light = cv2.threshold(blurred, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    light = light.astype(bool)
    on_border = float(border_pixels(light).mean())
    # Paper holds most of the border; a close crop's strokes run out of it here and there.
    if MIXED_BORDER[0] < on_border < MIXED_BORDER[1] or light.all() or not light.any():
        return None
    values = blurred.astype(np.float32)
    share = float(light.mean())
    between = share * (1 - share) * (values[light].mean() - values[~light].mean()) ** 2  # Otsu's between-class variance
    if between < TWO_TONES * values.var():
        return None
    paper_is_light = on_border >= MIXED_BORDER[1]
    ink = (~light if paper_is_light else light).astype(np.uint8)
    if cv2.distanceTransform(ink, cv2.DIST_L2, 3).max() > WIDEST_STROKE * max(grey.shape):
        return None  # far wider than a pen's stroke
    if edge_blobs(ink).any():
        return None  # a shadow in a corner, far thicker than the strokes: the paper is not one tone
    return EvenPaper(tone=median_of(grey[light if paper_is_light else ~light]) / 255.0, ink_is_dark=paper_is_light)


def ink_looking_closer_when_small(grey: np.ndarray, first: np.ndarray, look: int = FIRST_LOOK) -> np.ndarray:
    """uint8 grey [H, W] and ``first``, the same shrunk to ``look`` px -> uint8 ink [h, w].

    Cleans ``first``; when nothing is found there in a large picture (a fine pen fades), a copy
    ``CLOSER`` times longer is tried; when the digit turns out small, its surroundings are cut
    from ``grey`` and cleaned again at that size, so small handwriting in a big photo keeps its
    detail.
    """
    height, width = grey.shape
    try:
        ink, ink_was_dark = clean_photo(first)
    except NoInkError:
        if max(grey.shape) <= 2 * look:  # a 4x copy would hold little more than this one
            raise
        first = shrunk(grey, CLOSER * look)
        ink, ink_was_dark = clean_photo(first)
    if first is grey:
        return ink
    box = ink_box(ink)
    if box is None:
        raise NoInkError("no handwriting found")
    top, bottom, left, right = box
    longest = max(bottom - top, right - left)
    if longest >= DETAIL_ENOUGH:
        return ink
    scale = height / first.shape[0]  # from the copy's pixels to the picture's
    margin = CUT_MARGIN * longest
    top, bottom = (int(np.clip(value * scale, 0, height)) for value in (top - margin, bottom + margin))
    left, right = (int(np.clip(value * scale, 0, width)) for value in (left - margin, right + margin))
    region = shrunk(grey[top:bottom, left:right], look)
    if min(region.shape) < SMALLEST_PICTURE:
        return ink
    return clean_photo(region, ink_is_dark=ink_was_dark)[0]


def ink_on_even_paper(grey: np.ndarray, even: EvenPaper) -> np.ndarray:
    """uint8 grey [H, W] on paper of one known tone (from ``even_paper``) -> uint8 ink [H, W],
    ink high, paper 0."""
    picture = grey.astype(np.float32) / 255.0
    paper = np.full(grey.shape, even.tone, np.float32)
    if even.ink_is_dark:
        picture, paper = 1.0 - picture, 1.0 - paper
    return ink_against_paper(picture, paper, even.ink_is_dark, paper_known=True)


def clean_photo(grey: np.ndarray, ink_is_dark: bool | None = None) -> tuple[np.ndarray, bool]:
    """uint8 grey [H, W] -> (uint8 ink [H, W]: ink high, paper 0, specks and rules removed;
    whether the ink was darker than the paper). ``ink_is_dark`` given skips the polarity test."""
    picture = grey.astype(np.float32) / 255.0  # [H, W] in 0-1

    # 1. Which way round? Subtract the paper's slow variation (median over a large window,
    #    which ignores the thin ink), then compare how much lies far below against far above:
    #    the ink is the one-sided tail; paper grain and noise are symmetric.
    residual = picture - smooth_background(picture, median_filter)
    spread = ROBUST_SPREAD * median_of(np.abs(subsampled(residual))) + 1e-3
    if ink_is_dark is None:
        darker = float(np.maximum(-residual - INK_SPREADS * spread, 0).sum())
        lighter = float(np.maximum(residual - INK_SPREADS * spread, 0).sum())
        ink_is_dark = darker > lighter
    if ink_is_dark:
        picture, residual = 1.0 - picture, -residual  # dark ink on light paper -> light ink on dark

    # 2. Flatten the paper.
    candidates = (residual > INK_SPREADS * spread).astype(np.uint8)  # [H, W] 0/1: clearly above the paper
    paper = paper_estimate(picture, candidates)
    return ink_against_paper(picture, paper, ink_is_dark), ink_is_dark


def paper_estimate(picture: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """float32 picture [H, W] in 0-1 (ink the higher) and a 0/1 mask of what stands clearly
    above the paper -> float32 [H, W]: the paper's tone at each pixel.

    A weighted blur of the picture that leaves out the ink candidates, so it follows soft shadows
    and uneven light closely, shadows narrower than the page included. Where ink covers the whole
    blur window (a fat marker), a grey opening — what survives a window wider than any stroke —
    stands in.
    """
    height, width = picture.shape
    paper_only = (1 - cv2.dilate(candidates, np.ones((3, 3), np.uint8))).astype(np.float32)
    # The blur is wide (a twelfth of the picture) and smooth: done on a quarter-size copy.
    small_size = (max(1, width // BLUR_COPY), max(1, height // BLUR_COPY))
    sigma = max(LEAST_PAPER_BLUR, min(height, width) / PAPER_BLUR)
    weight = cv2.resize(paper_only, small_size, interpolation=cv2.INTER_AREA)
    paper = cv2.resize(picture * paper_only, small_size, interpolation=cv2.INTER_AREA) / np.maximum(weight, 1e-6)
    pad = int(3 * sigma) + 1  # the blur reaches 3 sigma
    weight = cv2.copyMakeBorder(weight, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    paper = padded_by_continuing_slopes(paper, pad) * weight
    weight = cv2.GaussianBlur(weight, (0, 0), sigma)[pad:-pad, pad:-pad]
    paper = cv2.GaussianBlur(paper, (0, 0), sigma)[pad:-pad, pad:-pad]
    paper = cv2.resize(paper / np.maximum(weight, 1e-6), (width, height), interpolation=cv2.INTER_LINEAR)
    if weight.min() < SPARSE_PAPER:
        sparse = cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR) < SPARSE_PAPER
        paper = np.where(sparse, smooth_background(picture, grey_opening), paper)
    # A blur cannot follow a hard edge — a shadow cast across the page. A grey opening a few
    # strokes wide can: it removes the strokes and keeps any region wider than that, edges and
    # all. The paper is whichever of the two lies higher.
    window = OPENING_STROKES * stroke_width_by_crossings(candidates)
    if window:
        window = int(min(window, min(height, width) // 3)) | 1  # at most a third of the picture, odd
        paper = np.maximum(paper, grey_opening(picture, window))
    return paper


# Stroke width is estimated two ways, as 2 * area / perimeter: here on a noisy mask (lone pixels
# dropped first, edge crossings counted), in ``frame.py`` on a clean digit enlarged 4x (every
# contour's length). Each stage's thresholds go with its own estimate: the framing's used here
# changes 564 of 2,428 frames, this one used there 822 (the frames of work/'s pictures, 1,000
# redrawn MNIST digits and bench/own_handwriting.py's 1,400).
def stroke_width_by_crossings(mask: np.ndarray) -> float:
    """Mean width in pixels of the pen strokes in a uint8 0/1 mask [H, W]; 0 if there are none.

    2 * area / perimeter, after an opening that drops lone noisy pixels (they would say "half
    a pixel"); the perimeter is counted as edge crossings along rows and columns, times pi/4
    (that count overstates a curve's length by 4/pi on average).
    """
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    area = int(np.count_nonzero(mask))
    if area == 0:
        return 0.0
    crossings = np.count_nonzero(np.diff(mask, axis=0)) + np.count_nonzero(np.diff(mask, axis=1))
    return 2.0 * area / max(crossings * np.pi / 4, 1.0)


def smooth_background(picture: np.ndarray, filter_small: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """float32 [H, W] -> its slowly varying background, [H, W]: ``filter_small`` (a median filter
    or a grey opening) with a window a third of a <= ``BACKGROUND_LOOK`` px copy, then a box blur,
    brought back to full size."""
    height, width = picture.shape
    small = shrunk(picture, BACKGROUND_LOOK)
    window = max(3, (min(small.shape) // 3) | 1)  # odd, at least 3
    background = filter_small(small, window)
    background = cv2.blur(background, (window, window))
    return cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)


def ink_against_paper(
    picture: np.ndarray, paper: np.ndarray, ink_is_dark: bool, paper_known: bool = False
) -> np.ndarray:
    """float32 picture and its paper [H, W] in 0-1, ink the higher -> uint8 ink [H, W] (ink
    high, paper 0), after checking there is any and dropping rules, specks and grain.

    ``paper_known``: the paper's tone comes from ``even_paper``, which has seen the
    ink stand clear of it: no need to weigh the strongest stroke against the paper's grain.
    """
    height, width = picture.shape
    # Light multiplies paper and ink alike, so ink is measured against the paper's own
    # brightness: a stroke in a shadow is as strong as one in the light.
    brightness = (1.0 - paper) if ink_is_dark else paper
    ink = np.maximum(picture - paper, 0.0) / np.maximum(brightness, DIMMEST_PAPER)

    # 3. Is there any ink? Compare the strongest stroke (after a blur that averages away lone
    #    noisy pixels) with the paper's own grain.
    sigma = max(1.0, min(height, width) / GRAIN_BLUR)
    blurred = cv2.GaussianBlur(ink, (0, 0), sigma)
    peak = float(blurred.max())
    if paper_known:
        grain = 0.0
    else:
        sample = subsampled(blurred)
        grain = ROBUST_SPREAD * median_of(np.abs(sample - median_of(sample)))
    if peak < LEAST_PEAK or peak < PEAK_OVER_GRAIN * grain:
        raise NoInkError("no handwriting found (nothing stands out from the paper)")
    ink = np.clip(ink / peak, 0.0, 1.0)
    blurred = np.clip(blurred / peak, 0.0, 1.0)
    ruled = without_rules(ink)
    if ruled is not ink:
        ink, blurred = ruled, cv2.GaussianBlur(ruled, (0, 0), sigma)

    # 4. Keep the strokes, drop specks: threshold (Otsu, but never below a quarter of the peak),
    #    then keep the connected pieces that are a fair size next to the largest one — a broken
    #    digit's pieces stay, dust and grain go.
    levels = np.rint(blurred * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    strokes = without_specks(levels > max(otsu, LEAST_THRESHOLD), keep_small_inside=False).astype(np.uint8)
    if not strokes.any():
        raise NoInkError("no handwriting found (no strokes after cleaning)")
    strokes = without_edge_blobs(strokes)
    halo = cv2.dilate(strokes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (HALO, HALO)))
    ink = np.where(halo > 0, ink, 0.0)
    ink = np.clip((ink - PAPER_GRAIN) / (1 - PAPER_GRAIN), 0.0, 1.0)
    return np.rint(ink * 255).astype(np.uint8)


def without_edge_blobs(strokes: np.ndarray) -> np.ndarray:
    """uint8 0/1 stroke mask [H, W] -> the same without ``edge_blobs``."""
    return np.where(edge_blobs(strokes), 0, strokes).astype(np.uint8)


def edge_blobs(strokes: np.ndarray) -> np.ndarray:
    """uint8 0/1 stroke mask [H, W] -> bool [H, W]: its solid blobs that run into the picture's edge,
    a corner of table or a shadow beside the sheet, far thicker than the pen's strokes (their widest
    point over ``BLOB_WIDTH`` times that of the pieces clear of the edge). A digit that touches the
    edge is stroke-thin and is no blob."""
    none = np.zeros(strokes.shape, bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strokes, connectivity=8)
    if count <= 2:  # the background and at most one piece: nothing to compare with
        return none
    half_width = cv2.distanceTransform(strokes, cv2.DIST_L2, 3)
    widest = np.zeros(count, np.float32)  # [pieces] each piece's widest half-width
    np.maximum.at(widest, labels.ravel(), half_width.ravel())
    on_edge = np.zeros(count, bool)
    on_edge[border_pixels(labels)] = True
    clear = ~on_edge
    clear[0] = False
    if not clear.any():
        return none
    # The strokes are measured on the pieces clear of the edge, specks left out where there are
    # others: a speck of dust is thinner than any stroke.
    areas = stats[:, cv2.CC_STAT_AREA]
    specks = areas < SPECK_SHARE * areas[1:].max()
    if (clear & ~specks).any():
        clear &= ~specks
        stroke_like = np.zeros(count, bool)
    else:
        # Only specks to measure against: a piece on the edge long for its width (a close crop's
        # digit running off the edge) is a stroke all the same; a shadow's corner is not.
        stroke_like = areas >= LONG_STROKE * np.square(2 * widest)
    blobs = on_edge & ~stroke_like & (widest > BLOB_WIDTH * median_of(widest[clear]))
    blobs[0] = False
    return blobs[labels]
