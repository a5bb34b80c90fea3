"""Each framing's geometry, on synthetic strokes: the recipe a dataset used, measured in the frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handwriting.preprocess.frame import EMNIST_GLYPH, FRAMINGS, frame_emnist, frame_fill, frame_mnist


def strokes(height: int, width: int, thickness: int = 9) -> np.ndarray:
    """uint8 ink [H, W] (ink 255 on 0): an asymmetric 'F'-like mark with margins round it."""
    ink = np.zeros((height + 40, width + 40), dtype=np.uint8)
    top, left = 20, 20
    cv2.line(ink, (left, top), (left, top + height - 1), 255, thickness)
    cv2.line(ink, (left, top), (left + width - 1, top), 255, thickness)
    cv2.line(ink, (left, top + height // 2), (left + width // 2, top + height // 2), 255, thickness)
    return ink


def box(frame: np.ndarray, level: int = 64) -> tuple[int, int, int, int]:
    rows, columns = np.nonzero(frame >= level)
    return rows.min(), rows.max() + 1, columns.min(), columns.max() + 1


@pytest.mark.parametrize("shape", [(300, 160), (120, 240), (60, 50)])
def test_mnist_framing_is_a_20_px_box_with_the_centre_of_mass_on_14_14(shape):
    frame = frame_mnist(strokes(*shape)).astype(np.float64)
    top, bottom, left, right = box(frame, level=1)
    assert max(bottom - top, right - left) == 20
    rows, columns = np.indices(frame.shape)
    centre = ((frame * rows).sum() / frame.sum(), (frame * columns).sum() / frame.sum())
    assert np.allclose(centre, (14, 14), atol=0.5)  # rounded to whole pixels


@pytest.mark.parametrize("shape", [(300, 160), (120, 240), (60, 50)])
def test_emnist_framing_fills_the_square_less_its_padding_centred_by_its_box(shape):
    frame = frame_emnist(strokes(*shape))
    top, bottom, left, right = box(frame)
    longest = max(bottom - top, right - left)
    assert abs(longest - EMNIST_GLYPH) <= 1.5  # 27.1 px; the blur softens the ends
    assert abs((top + bottom) / 2 - 14) <= 1 and abs((left + right) / 2 - 14) <= 1
    # not the centre of mass: the 'F' is heavy at its top left, yet its box is centred
    rows, columns = np.indices(frame.shape)
    mass = frame.astype(np.float64)
    assert (mass * columns).sum() / mass.sum() < 13


def test_fill_framing_gives_the_longest_side_28_px_centred():
    frame = frame_fill(strokes(120, 240))
    top, bottom, left, right = box(frame, level=1)
    assert (left, right) == (0, 28)
    assert abs((top + bottom) / 2 - 14) <= 0.5


def test_the_framings_are_upright_and_not_mirrored():
    for frame in (framing(strokes(200, 120)) for framing in FRAMINGS.values()):
        top, bottom, left, right = box(frame)
        assert frame[top : top + 3, left:right].mean() > frame[bottom - 3 : bottom, left:right].mean()  # bar on top
        assert frame[top:bottom, left : left + 3].mean() > frame[top:bottom, right - 3 : right].mean()  # stem left
