"""A line of writing as the line reader sees it: its ink cropped, scaled to one height, with a margin.

``line_image`` is the one place this is done, for the training lines ``synthetic.lines`` writes and
for the lines of a person's picture that ``handwriting.lines`` reads, so both look the same to the
model: white ink on black, 28 px from the top of the tallest character to the bottom of the lowest,
2 px of paper above and below and ``MARGIN`` px each side. The width follows the ink (the aspect ratio
is kept); the reader's output has one column for every ``handwriting.lines.STRIDE`` px of it.
"""

from __future__ import annotations

import cv2
import numpy as np

LINE_HEIGHT = 32  # px: the reader's input height ...
INK_HEIGHT = 28  # ... of which the line's ink takes this much, 2 px of paper above and below
MARGIN = 8  # px of paper left and right: the first and last characters are read with paper round them
MAX_WIDTH = 2048  # px: a line wider than this (about 90 characters) is not given to the reader


def line_image(ink: np.ndarray) -> tuple[np.ndarray, float, int]:
    """uint8 ink [h, w] (ink high, paper 0; one line of writing) -> (uint8 [LINE_HEIGHT, w'], the
    scale applied, the column of ``ink`` the image's first ink column came from). Raises
    ``ValueError`` when there is no ink."""
    rows, columns = np.flatnonzero(ink.max(axis=1)), np.flatnonzero(ink.max(axis=0))
    if not len(rows):
        raise ValueError("a line with no ink")
    crop = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    scale = INK_HEIGHT / crop.shape[0]
    width = max(1, round(crop.shape[1] * scale))
    small = cv2.resize(crop, (width, INK_HEIGHT), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    border = (LINE_HEIGHT - INK_HEIGHT) // 2
    return (
        cv2.copyMakeBorder(small, border, border, MARGIN, MARGIN, cv2.BORDER_CONSTANT, value=0),
        scale,
        int(columns[0]),
    )
