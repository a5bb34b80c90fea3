"""Helpers the cleaning stages share: sizes and boxes, medians, grey filters, and two clean-ups
of an ink picture (specks, printed rules).

Pictures here are NumPy arrays [H, W]: uint8 grey, float32 in [0, 1], or 0/1 masks, as each
function says. Nothing here decides whether a picture is a photo or a drawing; the stages do.
"""

from __future__ import annotations

import cv2
import numpy as np

SUBSAMPLE_SIDE = 32  # a median over ~32x32 pixels is as good as over all of them, and far quicker

# Specks: a piece of ink is a speck when it is under 5% of the largest piece's area, or a lone
# pixel or two. A clean drawing's small pieces near the digit (the box of the big pieces grown
# by a quarter of its size) are a dot or a broken stroke, not specks.
SPECK_SHARE = 0.05
SPECK_PIXELS = 2
DIGIT_REACH = 0.25

# Printed rules of lined or squared paper: faint lines across (nearly) the whole picture.
RULE_LOOK = 256  # rules are looked for on a copy at most this long
PAGE_SIDE = 64  # px: a smaller picture is no photo or scan of a page, so it has no rules
RULE_LENGTH = 0.85  # a rule runs across 85% of the picture (a few degrees off level still counts)
RULE_INK = 0.05  # fainter than this is paper, not part of a rule
BOLD_INK = 0.6  # ink this strong (of the strongest stroke) is a digit's stroke, never a rule
BOLD_EDGE = 5  # px square on the copy: bold ink grown 2 px each way, so its soft edge is no rule either
RULE_WIDTH = 3  # px square on the copy: a rule found there grown 1 px each way, to its full blurred width


# --------------------------------------------------------------------------- sizes and boxes


def resized_longest(picture: np.ndarray, side: int) -> np.ndarray:
    """Scale [H, W] so its longest side is ``side``, keeping the aspect ratio -> [h, w], same dtype.

    Shrinking averages areas (thin ink survives as grey); growing interpolates linearly.
    """
    height, width = picture.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def shrunk(picture: np.ndarray, side: int) -> np.ndarray:
    """``picture`` area-averaged so its longest side is at most ``side`` (itself if it is)."""
    if side / max(picture.shape) >= 1:
        return picture
    return resized_longest(picture, side)


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the box around the nonzero pixels of [H, W], bottom and
    right one past the last; None when there is no ink."""
    rows, columns = np.nonzero(ink)
    if rows.size == 0:
        return None
    return int(rows.min()), int(rows.max()) + 1, int(columns.min()), int(columns.max()) + 1


def ink_extent(ink: np.ndarray) -> int:
    """The longer side, in pixels, of the box around the ink in [H, W]; 0 when there is none."""
    box = ink_box(ink)
    if box is None:
        return 0
    top, bottom, left, right = box
    return max(bottom - top, right - left)


def border_pixels(picture: np.ndarray) -> np.ndarray:
    """The pixels round the edge of [H, W], each once -> 1-D [2H + 2W - 4]."""
    return np.concatenate([picture[0], picture[-1], picture[1:-1, 0], picture[1:-1, -1]])


# --------------------------------------------------------------------------- medians


def median_of(values: np.ndarray) -> float:
    """The median of an array of numbers: np.median's value, ~10x sooner on the few thousand
    values it is asked for here."""
    flat = values.ravel()
    half = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, half)[half])
    return float(np.partition(flat, (half - 1, half))[half - 1 : half + 1].mean())


def subsampled(values: np.ndarray, size: int = SUBSAMPLE_SIDE) -> np.ndarray:
    """Every n-th row and column of [H, W], about ``size`` x ``size`` of them: plenty for a median."""
    step = max(1, max(values.shape) // size)
    return values[::step, ::step]


# --------------------------------------------------------------------------- grey filters


def median_filter(picture: np.ndarray, window: int) -> np.ndarray:
    """float32 [H, W] in 0-1 -> each pixel the median of its ``window`` x ``window`` neighbours
    (computed on 256 grey levels, OpenCV's fast path; the window at most 255)."""
    levels = np.rint(picture * 255).astype(np.uint8)
    return cv2.medianBlur(levels, min(window, 255)).astype(np.float32) / 255.0


def grey_opening(picture: np.ndarray, window: int) -> np.ndarray:
    """float32 [H, W] -> what survives a square ``window`` wide: light features narrower than
    that are removed, wider regions kept with their edges. The picture is padded by continuing
    its slopes first, so light falling off towards the edge stays as it is."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    pad = window // 2 + 1
    opened = cv2.morphologyEx(
        padded_by_continuing_slopes(picture, pad), cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE
    )
    return opened[pad:-pad, pad:-pad]


def padded_by_continuing_slopes(picture: np.ndarray, pad: int) -> np.ndarray:
    """float [H, W] -> [H + 2 pad, W + 2 pad], its slopes carried on straight past the edge (an
    odd reflection: twice the edge minus the mirror image).

    A plain mirror or a copied edge would turn light falling off towards the edge into a ridge or
    a ledge, which the filters would then leave behind as "ink".
    """
    edge = cv2.copyMakeBorder(picture, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    mirror = cv2.copyMakeBorder(picture, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    return 2 * edge - mirror


# --------------------------------------------------------------------------- clean-ups of ink


def without_specks(mask: np.ndarray, keep_small_inside: bool = True) -> np.ndarray:
    """bool [H, W] ink mask -> the same without specks (pieces under ``SPECK_SHARE`` of the
    largest piece's area, or under ``SPECK_PIXELS``).

    With ``keep_small_inside``, small pieces within the digit's reach (the box of the big pieces,
    grown by ``DIGIT_REACH`` of its size) stay: a clean drawing's dot or broken stroke is part of
    it, a stray click across the canvas is not. Only lone pixels: nothing is left.
    """
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:  # the background and at most one piece: nothing to compare
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = areas >= max(SPECK_SHARE * areas.max(), SPECK_PIXELS)
    if not big.any():  # scattered single pixels: no digit for them to belong to
        return np.zeros_like(mask)
    keep = big.copy()
    if keep_small_inside:
        left = stats[1:, cv2.CC_STAT_LEFT][big].min()
        top = stats[1:, cv2.CC_STAT_TOP][big].min()
        right = (stats[1:, cv2.CC_STAT_LEFT] + stats[1:, cv2.CC_STAT_WIDTH])[big].max()
        bottom = (stats[1:, cv2.CC_STAT_TOP] + stats[1:, cv2.CC_STAT_HEIGHT])[big].max()
        reach = DIGIT_REACH * max(right - left, bottom - top)
        x, y = centroids[1:, 0], centroids[1:, 1]
        keep |= (x >= left - reach) & (x <= right + reach) & (y >= top - reach) & (y <= bottom + reach)
    return np.concatenate([[False], keep])[labels]


def without_rules(ink: np.ndarray) -> np.ndarray:
    """float32 ink [H, W] in 0-1 -> the same without the printed rules of lined or squared paper;
    ``ink`` itself when there are none.

    A rule is what survives a grey opening with a line ``RULE_LENGTH`` of the picture long, on a
    slightly blurred copy at most ``RULE_LOOK`` px long (so a rule a few degrees off level still
    counts). Ink at ``BOLD_INK`` of the strongest stroke or more, and its edges, are never taken
    for a rule, so a bold digit bar drawn edge to edge stays.
    """
    height, width = ink.shape
    small = shrunk(ink, RULE_LOOK)
    rows, columns = small.shape
    if min(rows, columns) < PAGE_SIDE:
        return ink
    across = cv2.GaussianBlur(small, (1, 0), sigmaX=0, sigmaY=1.0).reshape(small.shape)
    down = cv2.GaussianBlur(small, (0, 1), sigmaX=1.0, sigmaY=0).reshape(small.shape)
    # A rule needs a row (column) with ink along most of it; most pictures have none: skip the openings.
    has_rows = ((across > RULE_INK).mean(axis=1) >= RULE_LENGTH).any()
    has_columns = ((down > RULE_INK).mean(axis=0) >= RULE_LENGTH).any()
    if not (has_rows or has_columns):
        return ink
    rules = np.zeros_like(small)
    if has_rows:
        rules = cv2.morphologyEx(across, cv2.MORPH_OPEN, np.ones((1, round(RULE_LENGTH * columns)), np.uint8))
    if has_columns:
        vertical = cv2.morphologyEx(down, cv2.MORPH_OPEN, np.ones((round(RULE_LENGTH * rows), 1), np.uint8))
        rules = np.maximum(rules, vertical)
    # Not a rule: bold ink, or the soft edge along a bold stroke.
    bold = cv2.dilate((small >= BOLD_INK).astype(np.uint8), np.ones((BOLD_EDGE, BOLD_EDGE), np.uint8)) > 0
    rules = ((rules > RULE_INK) & ~bold).astype(np.uint8)
    if not rules.any():
        return ink
    rules = cv2.dilate(rules, np.ones((RULE_WIDTH, RULE_WIDTH), np.uint8))
    rules = cv2.resize(rules, (width, height), interpolation=cv2.INTER_NEAREST) > 0
    # Where a stroke crosses a rule the stroke is the stronger: keep it.
    return np.where(rules & (ink < BOLD_INK), 0.0, ink).astype(np.float32)
