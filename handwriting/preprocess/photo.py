"""Cleaning a picture down to its ink, and framing it as MNIST did (being split into one module per stage)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from handwriting.preprocess.errors import NoInkError
from handwriting.preprocess.pixels import MNIST_BOX, MNIST_CENTRE, MNIST_SIZE
from handwriting.preprocess.read import WORKING_SIDE

FIRST_LOOK = 128  # a photo is cleaned on a copy this long; small digits get a second, closer look

# --------------------------------------------------------------------------- the MNIST frame


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """uint8 grey picture [H, W], any polarity and size -> uint8 [28, 28] white ink on black.

    Follows how MNIST itself was made, so the model sees what it was trained on. Raises
    ``NoInkError`` when there is nothing that looks like handwriting (it does not guess).
    """
    grey = _check_grey(grey)
    ink = _clean_ink(grey)
    if ink is None:
        ink = _photo_ink(shrunk(grey, WORKING_SIDE))  # area averaging keeps thin ink as grey
    return _frame(ink)


def naive(grey: np.ndarray) -> np.ndarray:
    """The Paddle tutorial's recipe: squash to 28x28 ignoring the aspect ratio, then invert.

    Kept to show what MNIST's geometry is worth (``infer.py --preprocess naive``).
    """
    import cv2

    grey = _check_grey(grey)
    return 255 - cv2.resize(grey, (MNIST_SIZE, MNIST_SIZE), interpolation=cv2.INTER_AREA)


PREPROCESSORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"mnist": to_mnist, "naive": naive}


def _check_grey(grey: np.ndarray) -> np.ndarray:
    if grey.dtype != np.uint8 or grey.ndim != 2:
        raise TypeError(f"expected a uint8 grey picture [H, W], got {grey.dtype} {grey.shape}")
    return grey


def _border(grey: np.ndarray) -> np.ndarray:
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def _clean_ink(grey: np.ndarray) -> np.ndarray | None:
    """Ink of a digital drawing (uint8, ink high, background 0), or None if this is not one.

    A drawing app, a browser canvas or MNIST itself leave the background at one exact value
    over most of the border (60% of it even when the drawing is cropped to its strokes) and much
    of the picture, and their anti-aliased edges are few next to the strokes; a photo or a JPEG
    never does. Such pictures need no paper cleaning — only the polarity, and a
    contrast stretch when the strokes are not at full strength. MNIST digits come out unchanged.
    """
    values, counts = np.unique(_border(grey), return_counts=True)
    background = int(values[counts.argmax()])
    if counts.max() < 0.6 * counts.sum() or np.count_nonzero(grey == background) < 0.2 * grey.size:
        return None
    distance = np.abs(grey.astype(np.int16) - background)
    faint, strong = np.count_nonzero((distance > 0) & (distance <= 16)), np.count_nonzero(distance > 16)
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
        ink = np.where(_without_specks(ink > 0), ink, 0).astype(np.uint8)
    peak = int(ink.max())
    if peak == 0:
        raise NoInkError("no handwriting found (only specks of a pixel each)")
    if peak < 224:  # a grey pen: bring it to full strength (MNIST's own peaks are 254-255)
        ink = np.rint(ink.astype(np.float32) * (255.0 / peak)).astype(np.uint8)
    ruled = _without_rules(ink.astype(np.float32) / 255.0)  # a page of lined paper drawn digitally
    if (ruled == 0).sum() > (ink == 0).sum():
        ink = np.rint(ruled * 255).astype(np.uint8)
    return ink


def _photo_ink(grey: np.ndarray) -> np.ndarray:
    """Ink of a photo or scan: uint8 [h, w] (a reduced copy), ink high, paper 0, specks removed.

    The cleaning runs on a copy at most ``FIRST_LOOK`` px long: the digit ends up 20 px tall, so
    that is detail enough and keeps a picture to a couple of milliseconds. When nothing is found
    there in a large picture (a fine pen fades), a 4x larger copy is tried; when the digit turns
    out to be small in a large picture, its surroundings are cut from the full picture and
    cleaned again at that size, so small handwriting in a big photo keeps its detail. A picture
    of just two clean tones under even light (a close crop, a clean scan) is cleaned against
    the paper's one tone instead of a paper estimated place by place.
    """
    height, width = grey.shape
    if min(height, width) < 8:
        raise NoInkError(f"no handwriting found (a {width}x{height} picture is too small to hold any)")
    grey = _only_the_page(grey)
    first = shrunk(grey, FIRST_LOOK)
    even = _evenly_lit(first)
    if even is not None:
        # A close crop, or a clean scan: the paper's tone is known. The estimate of uneven paper
        # below needs plenty of paper around the strokes, and a fat pen that fills a close crop
        # would pass for paper there.
        tone, ink_is_dark = even
        try:
            ink = _clean_photo(first, ink_is_dark=ink_is_dark, paper=np.full(first.shape, tone, np.float32))[0]
        except NoInkError:
            ink = None
        if ink is not None and _extent(ink) >= 40:  # else: a small digit, which wants a closer look
            return ink
    return _look(grey, first)


def _evenly_lit(grey: np.ndarray) -> tuple[float, bool] | None:
    """(the paper's tone 0-1, whether the ink is darker) when uint8 grey [H, W] is two clean
    tones — ink, and paper all round the border — as an evenly lit close crop or scan is; None
    otherwise (shading, a shadow, a table, faint ink: those need the paper estimated place by
    place, by ``_clean_photo``)."""
    import cv2

    blurred = cv2.GaussianBlur(grey, (0, 0), 1.0)
    _, light = cv2.threshold(blurred, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    light = light.astype(bool)
    on_border = float(_border(light).mean())
    # Paper holds most of the border; a close crop's strokes run out of it here and there.
    if 0.3 < on_border < 0.7 or light.all() or not light.any():
        return None
    # Otsu's two tones explain at least 80% of the variance: little else is going on.
    values = blurred.astype(np.float32)
    share = float(light.mean())
    between = share * (1 - share) * (values[light].mean() - values[~light].mean()) ** 2
    if between < 0.8 * values.var():
        return None
    paper_is_light = on_border >= 0.7
    ink = (~light if paper_is_light else light).astype(np.uint8)
    if cv2.distanceTransform(ink, cv2.DIST_L2, 3).max() > 0.2 * max(grey.shape):
        return None  # far wider than a pen's stroke: a shadow, a thumb, a table's corner
    return _median_of(grey[light if paper_is_light else ~light]) / 255.0, paper_is_light


def _extent(ink: np.ndarray) -> int:
    """The longer side, in pixels, of the box around the ink in uint8 ink [H, W]."""
    rows, columns = np.nonzero(ink)
    return 0 if rows.size == 0 else int(max(np.ptp(rows), np.ptp(columns))) + 1


def _look(grey: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The cleaning of ``_photo_ink``: a first look at ``first`` (``grey`` shrunk to
    ``FIRST_LOOK``), then, when the digit is small or faint, a closer one at ``grey``."""
    height, width = grey.shape
    try:
        ink, ink_was_dark = _clean_photo(first)
    except NoInkError:
        if max(grey.shape) <= 2 * FIRST_LOOK:
            raise
        # A fine pen on a large picture fades at 128 px; look once more in 4x the detail.
        first = shrunk(grey, 4 * FIRST_LOOK)
        ink, ink_was_dark = _clean_photo(first)
    if first is grey:
        return ink
    rows, columns = np.nonzero(ink)
    if rows.size == 0:
        raise NoInkError("no handwriting found")
    longest = max(np.ptp(rows), np.ptp(columns)) + 1
    if longest >= 40:  # px: detail enough for a digit that ends up 20 px tall
        return ink
    scale = height / first.shape[0]
    margin = 0.3 * longest
    top, bottom = (int(np.clip(value * scale, 0, height)) for value in (rows.min() - margin, rows.max() + 1 + margin))
    left, right = (
        int(np.clip(value * scale, 0, width)) for value in (columns.min() - margin, columns.max() + 1 + margin)
    )
    region = shrunk(grey[top:bottom, left:right], FIRST_LOOK)
    if min(region.shape) < 8:
        return ink
    return _clean_photo(region, ink_is_dark=ink_was_dark)[0]


def _only_the_page(grey: np.ndarray) -> np.ndarray:
    """A photo of a sheet of paper on a darker table: paint everything off the sheet in the
    sheet's own tones, so the table and the sheet's edges are not taken for ink. Returns
    ``grey`` itself when there is no such sheet.

    Found on a blurred 64 px copy, where the ink has faded into the paper: the two tones (Otsu)
    are a sheet and a table when the darker one holds over 40% of the picture's border, the bright
    one is a solid piece (area over 80% of its convex hull) of 20-95% of the picture with
    something written on it, and the step between them is large (30 grey levels or more), along
    a few straight sides (four: a sheet in full view), sharp most of the way, with the writing
    inside — unlike light falling off across a page, a shadow cast over the digit, or a bold
    digit on plain paper (which is the darker tone).
    """
    import cv2

    height, width = grey.shape
    small = shrunk(grey, 64)
    if min(small.shape) < 16:
        return grey
    smooth = cv2.GaussianBlur(small, (0, 0), 1.5)
    threshold, bright = cv2.threshold(smooth, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bright = bright.astype(bool)
    border = _border(bright)
    if border.mean() >= 0.6:  # the darker tone must hold much of the border: it is the table
        return grey
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright.astype(np.uint8), connectivity=4)
    if count < 2:
        return grey
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    sheet = labels == largest
    area = int(sheet.sum())
    on_border = _border(sheet).mean()
    if area < 0.2 * sheet.size or area > 0.95 * sheet.size or on_border >= 0.6:
        return grey
    contours, _ = cv2.findContours(sheet.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.contourArea(cv2.convexHull(max(contours, key=cv2.contourArea)))
    if area < 0.8 * hull:
        return grey
    # A sheet's outline is a few straight sides (a quadrilateral, cut by the frame) ...
    outline = max(contours, key=cv2.contourArea)
    sides = len(cv2.approxPolyDP(outline, 0.02 * cv2.arcLength(outline, True), True))
    if sides > 6:
        return grey
    inside = cv2.erode(sheet.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    outside = cv2.erode((~sheet).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if not inside.any() or not outside.any():
        return grey
    step = abs(_median_of(smooth[inside]) - _median_of(smooth[outside]))
    if step < 30:
        return grey
    # ... and sharp along nearly all of its length (the frame's own edge does not count).
    edge = cv2.dilate(sheet.astype(np.uint8), np.ones((3, 3), np.uint8)) - cv2.erode(
        sheet.astype(np.uint8), np.ones((3, 3), np.uint8)
    )
    edge[0], edge[-1], edge[:, 0], edge[:, -1] = 0, 0, 0, 0
    gradient = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)) / 8
    if not edge.any() or (gradient[edge > 0] >= 0.1 * step).mean() < (0.6 if sides == 4 else 0.75):
        return grey
    if float(np.percentile(small[inside], 99) - np.percentile(small[inside], 1)) < 15:
        return grey  # nothing written on it
    # The writing must be on the sheet: the dark marks (darker than their surroundings by 25
    # levels), away from the sheet's edge, lie inside its outline. A shadow cast across a page
    # has a sharp straight edge too, but the digit lies in the shadow as often as not.
    hull_points = cv2.convexHull(max(contours, key=cv2.contourArea))
    outline = np.zeros(small.shape, np.uint8)
    cv2.fillConvexPoly(outline, hull_points, 1)
    marks = (cv2.medianBlur(small, 9).astype(np.int16) - small.astype(np.int16)) > 25
    seam = cv2.dilate(outline, np.ones((7, 7), np.uint8)) - cv2.erode(outline, np.ones((7, 7), np.uint8))
    marks &= seam == 0
    if marks.any() and marks[outline > 0].sum() < 0.8 * marks.sum():
        return grey
    # Keep the sheet — its convex outline, so the writing on it (a hole in the bright tone) stays —
    # less a margin for its edge (shadow, blur). Paint the rest with the paper's tones carried
    # smoothly outwards (inpainting the small copy), so no new edge appears where the sheet ends.
    margin = max(3, round(0.04 * max(height, width)))
    scale_x, scale_y = width / small.shape[1], height / small.shape[0]
    keep = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(keep, np.rint((hull_points + 0.5) * [scale_x, scale_y] - 0.5).astype(np.int32), 1)
    keep = cv2.erode(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))) > 0
    if not keep.any():
        return grey
    off_sheet = cv2.dilate(1 - outline, np.ones((7, 7), np.uint8))  # sheet edge excluded: it is darker
    paper = cv2.inpaint(smooth, off_sheet, 5, cv2.INPAINT_TELEA)
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    # A soft seam: a hard one would draw a thin line — just what ink looks like.
    blend = cv2.GaussianBlur(keep.astype(np.float32), (0, 0), margin / 2) * keep
    return np.rint(blend * grey + (1 - blend) * paper).astype(np.uint8)


def _clean_photo(
    grey: np.ndarray, ink_is_dark: bool | None = None, paper: np.ndarray | None = None
) -> tuple[np.ndarray, bool]:
    """uint8 grey [H, W] -> (uint8 ink [H, W]: ink high, paper 0, specks and rules removed;
    whether the ink was darker than the paper). ``ink_is_dark`` skips the polarity test;
    ``paper`` (float [H, W] in 0-1, with ``ink_is_dark``) is the paper's tone where it is
    already known (``_evenly_lit``), and skips estimating it."""
    import cv2

    height, width = grey.shape
    picture = grey.astype(np.float32) / 255.0
    if paper is not None:
        if ink_is_dark:
            picture, paper = 1.0 - picture, 1.0 - paper
        return _strokes_against(picture, paper, ink_is_dark, paper_known=True), ink_is_dark

    # 1. Which way round? Subtract the paper's slow variation (median over a large window,
    #    which ignores the thin ink), then compare how much lies far below against far above:
    #    the ink is the one-sided tail; paper grain and noise are symmetric.
    residual = picture - _smooth_background(picture, _median)
    spread = 1.4826 * _median_of(np.abs(_sample(residual))) + 1e-3
    if ink_is_dark is None:
        darker = float(np.maximum(-residual - 3 * spread, 0).sum())
        lighter = float(np.maximum(residual - 3 * spread, 0).sum())
        ink_is_dark = darker > lighter
    if ink_is_dark:
        picture, residual = 1.0 - picture, -residual  # dark ink on light paper -> light ink on dark

    # 2. Flatten the paper. Its tone is a weighted blur of the picture that leaves out whatever
    #    stands clearly above the paper (the ink), so it follows soft shadows and uneven light
    #    closely, shadows narrower than the page included. Where ink covers the whole blur window
    #    (a fat marker), a grey opening — what survives a window wider than any stroke — stands in.
    candidates = (residual > 3 * spread).astype(np.uint8)
    paper_only = (1 - cv2.dilate(candidates, np.ones((3, 3), np.uint8))).astype(np.float32)
    # The blur is wide (a twelfth of the picture) and smooth: done on a quarter-size copy.
    small_size = (max(1, width // 4), max(1, height // 4))
    sigma = max(0.5, min(height, width) / 48)
    weight = cv2.resize(paper_only, small_size, interpolation=cv2.INTER_AREA)
    paper = cv2.resize(picture * paper_only, small_size, interpolation=cv2.INTER_AREA) / np.maximum(weight, 1e-6)
    pad = int(3 * sigma) + 1
    weight = cv2.copyMakeBorder(weight, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    paper = _extended(paper, pad) * weight
    weight = cv2.GaussianBlur(weight, (0, 0), sigma)[pad:-pad, pad:-pad]
    paper = cv2.GaussianBlur(paper, (0, 0), sigma)[pad:-pad, pad:-pad]
    paper = cv2.resize(paper / np.maximum(weight, 1e-6), (width, height), interpolation=cv2.INTER_LINEAR)
    if weight.min() < 0.1:
        sparse = cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR) < 0.1
        paper = np.where(sparse, _smooth_background(picture, _opening), paper)
    # A blur cannot follow a hard edge — a shadow cast across the page. A grey opening with a
    # window three strokes wide can: it removes the strokes and keeps any region wider than
    # that, edges and all. The paper is whichever of the two lies higher.
    window = 3 * _stroke_width(candidates)
    if window:
        window = int(min(window, min(height, width) // 3)) | 1
        paper = np.maximum(paper, _opening(picture, window))
    return _strokes_against(picture, paper, ink_is_dark), ink_is_dark


def _strokes_against(
    picture: np.ndarray, paper: np.ndarray, ink_is_dark: bool, paper_known: bool = False
) -> np.ndarray:
    """float32 picture and its paper [H, W] in 0-1, ink the higher -> uint8 ink [H, W] (ink
    high, paper 0), after checking there is any and dropping rules, specks and grain.
    ``paper_known``: the paper's tone comes from ``_evenly_lit``, which has seen the ink stand
    clear of it: no need to weigh the strongest stroke against the paper's grain."""
    import cv2

    height, width = picture.shape
    # Light multiplies paper and ink alike, so ink is measured against the paper's own
    # brightness: a stroke in a shadow is as strong as one in the light.
    brightness = (1.0 - paper) if ink_is_dark else paper
    ink = np.maximum(picture - paper, 0.0) / np.maximum(brightness, 0.1)

    # 3. Is there any ink? Compare the strongest stroke (after a blur that averages away lone
    #    noisy pixels) with the paper's own grain.
    sigma = max(1.0, min(height, width) / 150)
    blurred = cv2.GaussianBlur(ink, (0, 0), sigma)
    peak = float(blurred.max())
    if paper_known:
        grain = 0.0
    else:
        sample = _sample(blurred)
        grain = 1.4826 * _median_of(np.abs(sample - _median_of(sample)))
    if peak < 0.06 or peak < 8 * grain:
        raise NoInkError("no handwriting found (nothing stands out from the paper)")
    ink = np.clip(ink / peak, 0.0, 1.0)
    blurred = np.clip(blurred / peak, 0.0, 1.0)
    ruled = _without_rules(ink)
    if ruled is not ink:
        ink, blurred = ruled, cv2.GaussianBlur(ruled, (0, 0), sigma)

    # 4. Keep the strokes, drop specks: threshold (Otsu, but never below a quarter of the peak),
    #    then keep the connected pieces that are a fair size next to the largest one — a broken
    #    digit's pieces stay, dust and grain go.
    levels = np.rint(blurred * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    strokes = _without_specks(levels > max(otsu, 64), keep_small_inside=False).astype(np.uint8)
    if not strokes.any():
        raise NoInkError("no handwriting found (no strokes after cleaning)")
    strokes = _without_edge_blobs(strokes)
    # A soft edge around kept strokes survives (MNIST digits have anti-aliased edges).
    halo = cv2.dilate(strokes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    ink = np.where(halo > 0, ink, 0.0)
    # Paper grain left inside the halo is cut off: below 15% of the peak is paper.
    ink = np.clip((ink - 0.15) / 0.85, 0.0, 1.0)
    return np.rint(ink * 255).astype(np.uint8)


def _stroke_width(mask: np.ndarray) -> float:
    """Mean width in pixels of the pen strokes in a uint8 0/1 mask, 0 if there are none.

    2 * area / perimeter, after an opening that drops lone noisy pixels (they would say "half
    a pixel"); the perimeter is counted as edge crossings along rows and columns, times pi/4
    (that count overstates a curve's length by 4/pi on average).
    """
    import cv2

    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    area = int(np.count_nonzero(mask))
    if area == 0:
        return 0.0
    crossings = np.count_nonzero(np.diff(mask, axis=0)) + np.count_nonzero(np.diff(mask, axis=1))
    return 2.0 * area / max(crossings * np.pi / 4, 1.0)


def _without_specks(mask: np.ndarray, keep_small_inside: bool = True) -> np.ndarray:
    """bool [H, W] ink mask -> the same without specks: pieces under 5% of the largest piece's
    area (and under 2 px). With ``keep_small_inside``, small pieces within the digit's reach
    (the box of the big pieces, grown by a quarter) stay: a clean drawing's dot or broken stroke
    is part of it, a stray click across the canvas is not. Only lone pixels: nothing is left."""
    import cv2

    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = areas >= max(0.05 * areas.max(), 2)
    if not big.any():  # scattered single pixels: no digit for them to belong to
        return np.zeros_like(mask)
    keep = big.copy()
    if keep_small_inside:
        left = stats[1:, cv2.CC_STAT_LEFT][big].min()
        top = stats[1:, cv2.CC_STAT_TOP][big].min()
        right = (stats[1:, cv2.CC_STAT_LEFT] + stats[1:, cv2.CC_STAT_WIDTH])[big].max()
        bottom = (stats[1:, cv2.CC_STAT_TOP] + stats[1:, cv2.CC_STAT_HEIGHT])[big].max()
        reach = 0.25 * max(right - left, bottom - top)
        x, y = centroids[1:, 0], centroids[1:, 1]
        keep |= (x >= left - reach) & (x <= right + reach) & (y >= top - reach) & (y <= bottom + reach)
    return np.concatenate([[False], keep])[labels]


def _without_edge_blobs(strokes: np.ndarray) -> np.ndarray:
    """uint8 stroke mask -> the same without solid blobs that run into the picture's edge: a
    corner of table or a shadow beside the sheet, far thicker than the pen's strokes (their
    widest point over twice that of the pieces clear of the edge). A digit that touches the edge
    is stroke-thin and stays."""
    import cv2

    count, labels = cv2.connectedComponents(strokes, connectivity=8)
    if count <= 2:
        return strokes
    half_width = cv2.distanceTransform(strokes, cv2.DIST_L2, 3)
    widest = np.zeros(count, np.float32)
    np.maximum.at(widest, labels.ravel(), half_width.ravel())
    on_edge = np.zeros(count, bool)
    on_edge[_border(labels)] = True
    clear = ~on_edge
    clear[0] = False
    if not clear.any():
        return strokes
    blobs = on_edge & (widest > 2 * _median_of(widest[clear]))
    blobs[0] = False
    return np.where(blobs[labels], 0, strokes).astype(np.uint8)


def _smooth_background(picture: np.ndarray, filter_small: Callable) -> np.ndarray:
    """Estimate the slowly varying background on a <=64 px copy, then bring it back to full size."""
    import cv2

    height, width = picture.shape
    small = shrunk(picture, 64)
    window = max(3, (min(small.shape) // 3) | 1)
    background = filter_small(small, window)
    background = cv2.blur(background, (window, window))
    return cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)


def _opening(picture: np.ndarray, window: int) -> np.ndarray:
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    pad = window // 2 + 1
    opened = cv2.morphologyEx(_extended(picture, pad), cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    return opened[pad:-pad, pad:-pad]


def _extended(picture: np.ndarray, pad: int) -> np.ndarray:
    """``picture`` grown by ``pad`` pixels on every side, its slopes carried on straight (an odd
    reflection: twice the edge minus the mirror image). A plain mirror or a copied edge would
    turn light falling off towards the edge into a ridge or a ledge, which the filters above
    would leave behind as "ink"."""
    import cv2

    edge = cv2.copyMakeBorder(picture, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    mirror = cv2.copyMakeBorder(picture, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    return 2 * edge - mirror


def _median(picture: np.ndarray, window: int) -> np.ndarray:
    import cv2

    levels = np.rint(picture * 255).astype(np.uint8)
    return cv2.medianBlur(levels, min(window, 255)).astype(np.float32) / 255.0


def shrunk(picture: np.ndarray, side: int) -> np.ndarray:
    """``picture`` area-averaged so its longest side is at most ``side`` (unchanged if it is)."""
    import cv2

    height, width = picture.shape
    scale = side / max(height, width)
    if scale >= 1:
        return picture
    return cv2.resize(
        picture, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )


def _median_of(values: np.ndarray) -> float:
    """np.median's value, ~10x sooner on the few thousand values it is asked for here."""
    flat = values.ravel()
    half = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, half)[half])
    return float(np.partition(flat, (half - 1, half))[half - 1 : half + 1].mean())


def _sample(values: np.ndarray, size: int = 32) -> np.ndarray:
    """A regular subsample of about ``size`` x ``size`` pixels: plenty for a median, far quicker."""
    step = max(1, max(values.shape) // size)
    return values[::step, ::step]


def _without_rules(ink: np.ndarray) -> np.ndarray:
    """Remove the printed rules of lined or squared paper from ink [H, W] in [0, 1]; returns
    ``ink`` itself when there are none.

    A rule is a faint straight line across (nearly) the whole picture: what survives a grey
    opening with a line 85% of the picture long, on a slightly blurred, <=256 px copy (so a
    rule a few degrees off level still counts). Ink at 60% of the strongest stroke or more, and
    its edges, are never taken for a rule, so a bold digit bar drawn edge to edge stays.
    """
    import cv2

    height, width = ink.shape
    small = shrunk(ink, 256)
    rows, columns = small.shape
    if min(rows, columns) < 64:  # too small to be a photo or scan of a page
        return ink
    across = cv2.GaussianBlur(small, (1, 0), sigmaX=0, sigmaY=1.0).reshape(small.shape)
    down = cv2.GaussianBlur(small, (0, 1), sigmaX=1.0, sigmaY=0).reshape(small.shape)
    # A rule needs a row (column) with ink on 85% of it; most pictures have none: skip the openings.
    has_rows = ((across > 0.05).mean(axis=1) >= 0.85).any()
    has_columns = ((down > 0.05).mean(axis=0) >= 0.85).any()
    if not (has_rows or has_columns):
        return ink
    rules = np.zeros_like(small)
    if has_rows:
        rules = cv2.morphologyEx(across, cv2.MORPH_OPEN, np.ones((1, round(0.85 * columns)), np.uint8))
    if has_columns:
        vertical = cv2.morphologyEx(down, cv2.MORPH_OPEN, np.ones((round(0.85 * rows), 1), np.uint8))
        rules = np.maximum(rules, vertical)
    # Not a rule: bold ink, or the soft edge along a bold stroke.
    bold = cv2.dilate((small >= 0.6).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    rules = ((rules > 0.05) & ~bold).astype(np.uint8)
    if not rules.any():
        return ink
    rules = cv2.dilate(rules, np.ones((3, 3), np.uint8))  # cover the rule's full width
    rules = cv2.resize(rules, (width, height), interpolation=cv2.INTER_NEAREST) > 0
    # Where a stroke crosses a rule the stroke is the stronger: keep it.
    return np.where(rules & (ink < 0.6), 0.0, ink).astype(np.float32)


def _frame(ink: np.ndarray) -> np.ndarray:
    """uint8 ink [H, W] (ink high, background 0) -> uint8 [28, 28] in MNIST's geometry.

    Crop to the ink, scale the longest side to 20 px keeping the aspect ratio (ink already
    19-20 px long is left unresampled: resampling only blurs), and put the centre of mass on
    pixel (14, 14). A digit that has to shrink first goes through a 4x larger frame
    where its strokes are made as wide as MNIST's (``_mnist_thickness``).
    """

    rows, columns = np.nonzero(ink)
    if rows.size == 0:
        raise NoInkError("no handwriting found")
    crop = ink[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    longest = max(crop.shape)
    if longest not in (MNIST_BOX - 1, MNIST_BOX):
        if longest > MNIST_BOX:  # shrinking: fix the stroke width at 4x the final size first
            crop = _mnist_thickness(_resize_longest(crop, 4 * MNIST_BOX), pixels_per_mnist_pixel=4)
        crop = _resize_longest(crop, MNIST_BOX)
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


def _resize_longest(crop: np.ndarray, side: int) -> np.ndarray:
    """Scale uint8 [H, W] so its longest side is ``side``, keeping the aspect ratio."""
    import cv2

    height, width = crop.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _mnist_thickness(crop: np.ndarray, pixels_per_mnist_pixel: float) -> np.ndarray:
    """Make strokes as wide as MNIST's once the digit is in its 20 px box (median 2.4 px,
    5-95%: 1.6-3.9 px) -> uint8 of the same shape, peak at 255.

    Shrinking a fine pen's digit from a large picture would otherwise leave a faint hairline,
    and a fat marker's a blob. Width is estimated as 2 * area / perimeter of the stroke mask
    (half the peak and up); thin strokes are grown by grey dilation, fat ones thinned by
    erosion (never by more than a third of their width).
    """
    import cv2

    peak = int(crop.max())
    if peak == 0:
        return crop
    crop = np.rint(crop.astype(np.float32) * (255.0 / peak)).astype(np.uint8)  # faint hairlines to full ink
    strokes = (crop >= 128).astype(np.uint8)
    contours, _ = cv2.findContours(strokes, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(contour, True) for contour in contours)
    width = 2.0 * strokes.sum() / max(perimeter, 1.0) / pixels_per_mnist_pixel  # in MNIST pixels
    if width < 1.6:
        grow = round((2.4 - width) * pixels_per_mnist_pixel)
        if grow >= 1:
            crop = cv2.dilate(crop, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow + 1, grow + 1)))
    elif width > 4.5:
        shrink = round(min(width - 3.5, width / 3) * pixels_per_mnist_pixel)
        if shrink >= 1:
            crop = cv2.erode(crop, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (shrink + 1, shrink + 1)))
    return crop
