"""A sheet of paper photographed on a darker table: the table painted over like paper.

Without this, a table's edge and the sheet's own edges would be the strongest "ink" in the
picture. The sheet is looked for on a blurred ``PAGE_LOOK`` px copy, where the ink has faded
into the paper: Otsu's two tones are a sheet and a table when the darker tone holds much of the
border and the bright one is a solid piece with a few straight, sharp sides, something written
on it, and the writing inside. Light falling off across a page, a shadow cast over the digit, or
a bold digit on plain paper (which is the darker tone) fail one of those tests and are left alone.
"""

from __future__ import annotations

import cv2
import numpy as np

from handwriting.preprocess.filters import border_pixels, median_of, shrunk

PAGE_LOOK = 64  # px: the sheet is looked for on a copy this long, where the ink has faded into the paper
SMALLEST_LOOK = 16  # px: a copy narrower than this has no room for both a sheet and a table
PAGE_BLUR = 1.5  # px (sigma) of blur on that copy, to fade the ink further
BRIGHT_ON_BORDER = 0.6  # the bright tone (or the sheet) on 60% of the border or more: no table around it
SHEET_AREA = (0.2, 0.95)  # of the picture: smaller is a bright object, larger leaves no table
SOLIDITY = 0.8  # the sheet fills 80% of its convex hull at least: a solid piece, not a tangle
OUTLINE_TOLERANCE = 0.02  # of the perimeter: how far a polygon may stray from the sheet's outline
MOST_SIDES = 6  # a quadrilateral cut by the frame has at most six sides
CLEAR_OF_EDGE = 5  # px square on the 64 px copy: the sheet and the table are measured 2 px clear of the blurred seam
LEAST_STEP = 30  # grey levels between the sheet and the table: a sheet is much brighter
SHARP = 0.1  # an edge pixel is sharp where the gradient is 10% of that step or more
SHARP_SHARE_FOUR_SIDES = 0.6  # of a four-sided sheet's edge, sharp: a sheet in full view convinces sooner
SHARP_SHARE = 0.75  # of any other outline's edge
WRITTEN = 15  # grey levels between the sheet's 1st and 99th percentiles: something is written on it
MARK_WINDOW = 9  # px: a mark is darker than the median over this window ...
MARK_CONTRAST = 25  # ... by this many grey levels (not a share of the grey there: a dark table's grain would pass)
# of the marks away from the sheet's edge, this share lies inside it at least: the writing is on the sheet.
# Nearly all: a shadow over the end of a row of six digits may hold just one of them.
MARKS_ON_SHEET = 0.95
EDGE_BAND = 7  # px square on the 64 px copy: the seam between sheet and table, 3 px either side of the outline,
# where the blur mixes their tones. Marks there do not count, and it is painted over with the table.
EDGE_MARGIN = 0.04  # of the picture's longer side (at least ``LEAST_MARGIN`` px) given up along the sheet's edge
LEAST_MARGIN = 3  # px
INPAINT_RADIUS = 5  # px: how far inpainting looks for the paper's tones


def only_the_page(grey: np.ndarray) -> np.ndarray:
    """uint8 grey [H, W] -> the same with everything off the sheet of paper painted in the
    sheet's own tones; ``grey`` itself when there is no sheet on a darker table."""
    small = shrunk(grey, PAGE_LOOK)  # [h, w], h and w <= 64
    if min(small.shape) < SMALLEST_LOOK:
        return grey
    smooth = cv2.GaussianBlur(small, (0, 0), PAGE_BLUR)
    hull = sheet_outline(small, smooth)
    if hull is None:
        return grey
    return _painted_off_the_sheet(grey, smooth, hull)


def sheet_outline(small: np.ndarray, smooth: np.ndarray) -> np.ndarray | None:
    """uint8 grey [h, w] (a small copy) and its blur -> the convex outline of a sheet of paper
    on a darker table (OpenCV points [n, 1, 2], x and y in the copy's pixels); None if there is none."""
    _, bright = cv2.threshold(smooth, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bright = bright.astype(bool)
    if border_pixels(bright).mean() >= BRIGHT_ON_BORDER:  # the darker tone must hold much of the border: the table
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright.astype(np.uint8), connectivity=4)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    sheet = labels == largest  # [h, w] bool
    area = int(sheet.sum())
    on_border = border_pixels(sheet).mean()
    if area < SHEET_AREA[0] * sheet.size or area > SHEET_AREA[1] * sheet.size or on_border >= BRIGHT_ON_BORDER:
        return None
    contours, _ = cv2.findContours(sheet.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=cv2.contourArea)
    hull = cv2.convexHull(outline)
    if area < SOLIDITY * cv2.contourArea(hull):
        return None
    # A sheet's outline is a few straight sides (a quadrilateral, cut by the frame) ...
    sides = len(cv2.approxPolyDP(outline, OUTLINE_TOLERANCE * cv2.arcLength(outline, True), True))
    if sides > MOST_SIDES:
        return None
    inside = cv2.erode(sheet.astype(np.uint8), np.ones((CLEAR_OF_EDGE, CLEAR_OF_EDGE), np.uint8)) > 0
    outside = cv2.erode((~sheet).astype(np.uint8), np.ones((CLEAR_OF_EDGE, CLEAR_OF_EDGE), np.uint8)) > 0
    if not inside.any() or not outside.any():
        return None
    step = abs(median_of(smooth[inside]) - median_of(smooth[outside]))
    if step < LEAST_STEP:
        return None
    # ... and sharp along nearly all of its length (the frame's own edge does not count).
    edge = cv2.dilate(sheet.astype(np.uint8), np.ones((3, 3), np.uint8)) - cv2.erode(
        sheet.astype(np.uint8), np.ones((3, 3), np.uint8)
    )
    edge[0], edge[-1], edge[:, 0], edge[:, -1] = 0, 0, 0, 0
    # Sobel's 3x3 kernel weighs a step of one grey level as 8: divided out, the gradient is in grey levels a pixel.
    gradient = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)) / 8
    sharp_share = SHARP_SHARE_FOUR_SIDES if sides == 4 else SHARP_SHARE
    if not edge.any() or (gradient[edge > 0] >= SHARP * step).mean() < sharp_share:
        return None
    if float(np.percentile(small[inside], 99) - np.percentile(small[inside], 1)) < WRITTEN:
        return None  # nothing written on it
    # The writing must be on the sheet: the dark marks, away from the sheet's edge, lie inside its
    # outline. A shadow cast across a page has a sharp straight edge too, but the digit lies in
    # the shadow as often as not, or a digit or two of a row.
    filled = _filled(hull, small.shape)
    marks = (cv2.medianBlur(small, MARK_WINDOW).astype(np.int16) - small.astype(np.int16)) > MARK_CONTRAST
    band = np.ones((EDGE_BAND, EDGE_BAND), np.uint8)
    seam = cv2.dilate(filled, band) - cv2.erode(filled, band)
    marks &= seam == 0
    if marks.any() and marks[filled > 0].sum() < MARKS_ON_SHEET * marks.sum():
        return None
    return hull


def _filled(hull: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A convex outline (OpenCV points) -> uint8 [h, w]: 1 inside it, 0 outside."""
    filled = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    return filled


def _painted_off_the_sheet(grey: np.ndarray, smooth: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """uint8 grey [H, W], its small blurred copy [h, w] and the sheet's outline there -> uint8
    [H, W]: the sheet kept, less a margin for its edge (shadow, blur), the rest painted with the
    paper's tones carried smoothly outwards, so no new edge appears where the sheet ends.

    The convex outline is kept, not the bright tone, so the writing on the sheet (a hole in the
    bright tone) stays.
    """
    height, width = grey.shape
    margin = max(LEAST_MARGIN, round(EDGE_MARGIN * max(height, width)))
    scale_x, scale_y = width / smooth.shape[1], height / smooth.shape[0]
    keep = np.zeros((height, width), np.uint8)
    # Pixel centres scaled from the small copy to the full picture.
    cv2.fillConvexPoly(keep, np.rint((hull + 0.5) * [scale_x, scale_y] - 0.5).astype(np.int32), 1)
    keep = cv2.erode(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))) > 0
    if not keep.any():
        return grey
    off_sheet = cv2.dilate(1 - _filled(hull, smooth.shape), np.ones((EDGE_BAND, EDGE_BAND), np.uint8))  # the seam too
    paper = cv2.inpaint(smooth, off_sheet, INPAINT_RADIUS, cv2.INPAINT_TELEA)  # the small copy: quick
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    # A soft seam: a hard one would draw a thin line — just what ink looks like.
    blend = cv2.GaussianBlur(keep.astype(np.float32), (0, 0), margin / 2) * keep
    return np.rint(blend * grey + (1 - blend) * paper).astype(np.uint8)
