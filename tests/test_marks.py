"""Whole numbers: the characters of a picture found (``preprocess.marks``) and read (``recognise``, ``infer.py``).

Rows are written from our own pen paths (``synthetic.rows.pen_digits``), so these tests need no MNIST;
``bench/read_numbers.py`` measures the same on MNIST test digits.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import infer
from handwriting.backends import make_backend
from handwriting.preprocess import read_picture
from handwriting.preprocess.marks import (
    MAYBE_TWO,
    PAIR_MAYBE_TWO,
    SURELY_TWO,
    clearly_several,
    find_marks,
    one_long_stroke,
    strokes_of,
)
from handwriting.recognise import prepare_reading, read_characters, recognise, text_of
from synthetic.pen import draw, to_uint8
from synthetic.rows import as_picture, pen_digits, write_row

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def backend():
    return make_backend("auto")  # the shipped cnn, as infer.py runs it


def pen(digit: int, box: int = 60, slant: float = 0.0, seed: int = 0) -> np.ndarray:
    """uint8 ink [S, S] of one of our pen digits, ink high."""
    return to_uint8(255 * draw(digit, box, box * 0.08, np.random.default_rng(seed), slant=slant))


def side_by_side(*inks: np.ndarray, gap: int = 20) -> np.ndarray:
    """uint8 ink pieces of one height, laid left to right ``gap`` px apart (negative: overlapping)."""
    height = max(ink.shape[0] for ink in inks)
    width = sum(ink.shape[1] for ink in inks) + gap * (len(inks) - 1) + 40
    row = np.zeros((height + 40, max(width, 1)), np.uint8)
    x = 20
    for ink in inks:
        region = row[20 : 20 + ink.shape[0], x : x + ink.shape[1]]
        np.maximum(region, ink, out=region)
        x += ink.shape[1] + gap
    return row


def columns_of(ink: np.ndarray) -> np.ndarray:
    """The ink's columns: its piece of paper without empty columns (to lay characters close)."""
    columns = np.flatnonzero(ink.any(axis=0))
    return ink[:, columns[0] : columns[-1] + 1]


def saved(tmp_path: Path, name: str, grey: np.ndarray) -> Path:
    path = tmp_path / name
    cv2.imwrite(str(path), grey, [cv2.IMWRITE_JPEG_QUALITY, 85] if name.endswith(".jpg") else [])
    return path


# ----------------------------------------------------------------------------- finding marks, no model


def test_no_ink_no_marks():
    assert find_marks(np.zeros((40, 60), np.uint8)) == []


def test_separate_characters_are_found_left_to_right_each_with_only_its_own_ink():
    three, zero, five = (columns_of(pen(digit)) for digit in (3, 0, 5))
    row = side_by_side(three, zero, five)
    marks = find_marks(row)
    assert len(marks) == 3
    assert [mark.left for mark in marks] == sorted(mark.left for mark in marks)
    assert [mark.line for mark in marks] == [0, 0, 0]
    for mark, own in zip(marks, (three, zero, five)):
        assert mark.ink.shape == (mark.bottom - mark.top, mark.right - mark.left)
        assert abs(int(mark.ink.astype(np.int64).sum()) - int(own.astype(np.int64).sum())) < 0.02 * own.sum()
    assert not any(mark.space_before for mark in marks)


def test_lines_are_read_top_to_bottom_and_a_wide_gap_is_a_space():
    one, two, three, four = (columns_of(pen(digit)) for digit in (1, 2, 3, 4))
    top = side_by_side(one, two, gap=15)
    bottom = side_by_side(three, four, gap=90)  # wider than the characters are tall: a space
    width = max(top.shape[1], bottom.shape[1])
    page = np.zeros((top.shape[0] + bottom.shape[0], width), np.uint8)
    page[: top.shape[0], : top.shape[1]] = top
    page[top.shape[0] :, : bottom.shape[1]] = bottom
    marks = find_marks(page)
    assert [mark.line for mark in marks] == [0, 0, 1, 1]
    assert [mark.space_before for mark in marks] == [False, False, False, True]
    assert marks[0].left < marks[1].left and marks[2].left < marks[3].left


def test_a_stroke_broken_across_is_one_character():
    eight = pen(8)
    rows = np.flatnonzero(eight.any(axis=1))
    middle = (rows[0] + rows[-1]) // 2
    eight[middle - 2 : middle + 2] = 0  # a gap rubbed across the whole digit
    _, labels = cv2.connectedComponents((eight > 64).astype(np.uint8))
    assert labels.max() >= 2  # it really is in pieces
    assert len(find_marks(eight)) == 1


def written_with_punctuation(text: str) -> np.ndarray:
    """uint8 ink [H, W] of ``text``: our pen's digits 25 px apart, and between them a dot on the
    baseline (.), a comma hanging below it (,) or a dash at mid-height (-), drawn with OpenCV."""
    row = np.zeros((120, 60 * len(text)), np.uint8)
    x, top, baseline = 20, 15, 90  # pen(): the ink of a 90 px box runs from row 14 to 75
    for character in text:
        if character.isdigit():
            ink = columns_of(pen(int(character)))
            np.maximum(
                row[top : top + ink.shape[0], x : x + ink.shape[1]],
                ink,
                out=row[top : top + ink.shape[0], x : x + ink.shape[1]],
            )
            x += ink.shape[1] + 25
        elif character == ".":  # in the middle of a wider gap: a dot closer to a digit joins it as a crumb
            cv2.circle(row, (x - 6, baseline - 5), 5, 255, -1)
            x += 14
        elif character == ",":
            cv2.line(row, (x - 10, baseline - 6), (x - 14, baseline + 10), 255, 6)
        elif character == "-":
            cv2.line(row, (x - 4, baseline - 30), (x + 14, baseline - 30), 255, 6)
            x += 25
    return row[:, : x + 20]


@pytest.mark.parametrize("text", ["12.50", "1,250", "00-950", "3.5-7,1"])
def test_dots_commas_and_dashes_between_digits_are_read_in_their_places(text, backend, tmp_path):
    """An amount or a postcode keeps its punctuation (told by shape and place, not by the model):
    once a dot was dropped (12.50 read 1250), a comma made a line of its own (1250 / 1) and a dash
    was read as a 7."""
    ink = written_with_punctuation(text)
    marks = find_marks(ink, punctuation=True)
    assert "".join(mark.punctuation or "d" for mark in marks) == "".join("d" if c.isdigit() else c for c in text)
    assert [mark.line for mark in marks] == [0] * len(text) and not any(mark.space_before for mark in marks)
    assert len(find_marks(ink)) == sum(c.isdigit() for c in text)  # counting characters: punctuation left out
    [result] = recognise([str(saved(tmp_path, "amount.png", 255 - ink))], backend)
    assert result.label == text
    signs = [character for character in result.characters if not character.label.isdigit()]
    assert all(sign.confidence is None and sign.topk == [] and sign.punctuation for sign in signs)
    assert all(np.count_nonzero(sign.frame) < 0.1 * sign.frame.size for sign in signs)  # drawn to scale, not blown up
    assert result.confidence == min(c.confidence for c in result.characters if c.label.isdigit())


def test_punctuation_in_slanted_writing_keeps_its_place(backend, tmp_path):
    """Signs go among the characters in the order along the line's slant, not by their boxes'
    upright left edges: a dot at the foot of a leaning 1 came after the next 1 (11.1)."""
    ink = np.zeros((120, 220), np.uint8)
    for x in (20, 90, 160):  # three 1s leaning right
        cv2.line(ink, (x, 25), (x + 30, 90), 255, 8)
    cv2.circle(ink, (94, 86), 5, 255, -1)  # after the first 1's foot, left of the second 1's top
    assert "".join(mark.punctuation or "1" for mark in find_marks(ink, punctuation=True)) == "1.11"
    [result] = recognise([str(saved(tmp_path, "leaning.png", 255 - ink))], backend)
    assert result.label == "1.11"


def test_a_short_comma_hanging_below_the_baseline_is_read():
    """A comma shorter than a third of the digits, hanging below them: a line of its own to _lines,
    too short to be kept as one, and still the digits' comma."""
    ink = np.zeros((140, 260), np.uint8)
    x, top, baseline = 20, 15, 90
    for digit in (1, 2):
        character = columns_of(pen(digit))
        np.maximum(
            ink[top : top + 90, x : x + character.shape[1]],
            character,
            out=ink[top : top + 90, x : x + character.shape[1]],
        )
        x += character.shape[1] + 25
        if digit == 1:
            cv2.line(ink, (x - 10, baseline - 4), (x - 13, baseline + 10), 255, 6)
    assert [mark.punctuation for mark in find_marks(ink, punctuation=True)] == ["", ",", ""]


def test_a_comma_belongs_to_its_own_line_of_two(backend, tmp_path):
    """A comma of the lower line hangs far below the upper line's baseline: it is not the upper
    line's (once read 3,4,5678 / 12500)."""
    upper, lower = written_with_punctuation("345678"), written_with_punctuation("12,500")
    page = np.zeros((upper.shape[0] + lower.shape[0], max(upper.shape[1], lower.shape[1])), np.uint8)
    page[: upper.shape[0], : upper.shape[1]] = upper
    page[upper.shape[0] :, : lower.shape[1]] = lower
    signs = [(mark.line, mark.punctuation) for mark in find_marks(page, punctuation=True) if mark.punctuation]
    assert signs == [(1, ",")]
    [result] = recognise([str(saved(tmp_path, "two lines.png", 255 - page))], backend)
    assert result.label == "345678\n12,500"


def test_a_dash_the_model_reads_its_neighbour_better_with_is_a_stroke_of_it():
    """A 2's foot or a 5's flag come apart looks like a dash between characters: the model, reading
    the nearest character better with it, takes it back (``_signs_read_as_strokes``); a real dash
    makes the character read worse and stays. A dot joins only where it raises the reading by DOT_GAIN."""
    from handwriting.preprocess.marks import _Piece, _signs_read_as_strokes

    def piece(top, bottom, left, right):
        rows, columns = np.mgrid[top:bottom, left:right]
        return _Piece(rows.ravel(), columns.ravel(), columns.ravel().astype(np.float32), top, bottom)

    ink = np.full((100, 200), 255, np.uint8)
    digit, sign = piece(10, 70, 20, 60), piece(35, 42, 70, 90)

    def read_better_joined(crops):  # the wider crop (the digit with the sign) reads surer
        return np.array([[float(crop.shape[1]), -1e3] for crop in crops])

    def read_worse_joined(crops):
        return np.array([[-float(crop.shape[1]), -1e3] for crop in crops])

    for read, kept in ((read_better_joined, []), (read_worse_joined, ["-"])):
        characters = [digit]
        found = _signs_read_as_strokes([(sign, None, "-")], characters, ink, read)
        assert [mark for _, _, mark in found] == kept
        assert characters[0].rows.size == digit.rows.size + (0 if kept else sign.rows.size)
    dot = piece(60, 66, 70, 76)  # joined, the crop is 16 px wider: the fake reads it 16 surer
    assert _signs_read_as_strokes([(dot, None, ".")], [digit], ink, lambda crops: read_better_joined(crops) / 10) != []
    assert _signs_read_as_strokes([(dot, None, ".")], [digit], ink, read_better_joined) == []


def test_crumbs_of_dust_are_not_characters():
    row = side_by_side(columns_of(pen(4)), columns_of(pen(7)))
    rng = np.random.default_rng(1)
    for y, x in zip(rng.integers(0, row.shape[0] - 5, 12), rng.integers(0, row.shape[1] - 5, 12)):
        row[y : y + 5, x : x + 5] = np.maximum(row[y : y + 5, x : x + 5], 200)  # specks of 5x5 px
    _, _, stats, _ = cv2.connectedComponentsWithStats((row >= 64).astype(np.uint8))
    areas = stats[1:, cv2.CC_STAT_AREA]
    assert (areas >= 0.02 * areas.max()).sum() > 2  # more than the two digits are pieces big enough to keep
    assert len(find_marks(row)) == 2


def test_dashes_dots_and_underlines_are_not_characters():
    one, two, three, four = (columns_of(pen(digit)) for digit in (1, 2, 3, 4))
    row = side_by_side(one, two, three, four, gap=30)
    middle = row.shape[0] // 2
    dash_left = 20 + one.shape[1] + two.shape[1] + 30 + 8
    row[middle - 2 : middle + 3, dash_left : dash_left + 14] = 255  # a dash between 2 and 3
    underlined = np.vstack([row, np.zeros((12, row.shape[1]), np.uint8)])
    underlined[-6:-2, 10:-10] = 255  # an underline the whole row long
    for picture in (row, underlined):
        marks = find_marks(picture)
        assert len(marks) == 4
        assert {mark.line for mark in marks} == {0}


def test_slanted_characters_leaning_over_each_other_stay_apart():
    """Leaning ones whose boxes overlap left to right: measured along the slant they do not."""
    ones = [columns_of(pen(1, slant=0.6, seed=seed)) for seed in range(4)]
    row = side_by_side(*ones, gap=-4)  # each box reaches 4 px over its neighbour's
    count, _ = cv2.connectedComponents((row > 64).astype(np.uint8))
    assert count == 5  # the background and four pieces, none touching
    assert len(find_marks(row)) == 4


def test_touching_characters_are_cut_without_a_model_only_when_far_too_wide():
    two, five = columns_of(pen(2)), columns_of(pen(5))
    touching = side_by_side(two, five, gap=-3)  # one connected piece, 62 px wide and tall
    count, _ = cv2.connectedComponents((touching > 64).astype(np.uint8))
    assert count == 2  # the background and one piece
    assert touching.any(axis=0).sum() <= SURELY_TWO * touching.any(axis=1).sum()
    assert len(find_marks(touching)) == 1  # it could be one wide character: without a model, it stays
    wide = side_by_side(two, five, five, two, gap=-3)  # four touching: far too wide for one
    assert wide.any(axis=0).sum() > SURELY_TWO * wide.any(axis=1).sum()
    assert len(find_marks(wide)) >= 2


def outputs_of(largest: list[float]) -> np.ndarray:
    """Logits [n, 10] whose largest output is each of ``largest``, for class 0."""
    outputs = np.zeros((len(largest), 10))
    outputs[:, 0] = largest
    return outputs


def test_the_reading_model_decides_whether_a_mark_that_may_be_two_is_cut():
    """A model sure of the parts and unsure of the whole cuts the mark; sure of the whole, it stays."""
    touching = side_by_side(columns_of(pen(2)), columns_of(pen(5)), gap=-3)
    whole_width = touching.any(axis=0).sum()

    def parts_sure(crops):  # wide crops (the whole) unsure, narrow ones (parts) sure
        return outputs_of([2.0 if crop.shape[1] > 0.8 * whole_width else 15.0 for crop in crops])

    def whole_sure(crops):
        return outputs_of([15.0 if crop.shape[1] > 0.8 * whole_width else 2.0 for crop in crops])

    assert len(find_marks(touching, read=parts_sure)) == 2
    assert len(find_marks(touching, read=whole_sure)) == 1


def test_the_pairs_model_decides_a_narrow_pair_and_where_it_is_cut():
    """A 1 leaning on a 7 is no wider than one wide digit: the reading model alone leaves it whole,
    while models/pairs, reading it as "17", has it cut, at the cut whose parts read as a 1 and a 7,
    and the marks carry its reading of the pair."""
    one, seven = columns_of(pen(1)), columns_of(pen(7))
    pair = side_by_side(one, seven, gap=-2)
    height = pair.any(axis=1).sum()
    assert PAIR_MAYBE_TWO * height < pair.any(axis=0).sum() <= MAYBE_TWO * height
    narrow = one.shape[1] + 6  # a part no wider than this is the 1

    def outputs(crops):  # each part read surely as what it holds, the 1 (narrow) or the 7; the whole unsure
        logits = np.zeros((len(crops), 10))
        for row, crop in enumerate(crops):
            whole = crop.shape[1] > 0.8 * pair.any(axis=0).sum()
            logits[row, 1 if crop.shape[1] <= narrow else 7] = 2.0 if whole else 15.0
        return logits

    def seventeen(crops):  # [n, 110]: the whole is the pair 17, a part the digit it holds
        probabilities = np.zeros((len(crops), 110))
        for row, crop in enumerate(crops):
            whole = crop.shape[1] > 0.8 * pair.any(axis=0).sum()
            probabilities[row, 10 + 17 if whole else 1 if crop.shape[1] <= narrow else 7] = 1.0
        return probabilities

    assert len(find_marks(pair, read=outputs)) == 1  # too narrow to be asked, though its parts read surely
    marks = find_marks(pair, read=outputs, pairs=seventeen)
    assert len(marks) == 2 and marks[1].pair is None
    assert marks[0].pair.shape == (10, 10) and marks[0].pair[1, 7] == pytest.approx(1.0)
    assert marks[0].ink.shape[1] <= narrow  # the cut leaves the 1 on its own


def pairs_reading(two: float, pair: str = "00", digit: int = 0, wider_than: int = 0):
    """A fake models/pairs: a crop wider than ``wider_than`` px is the pair ``pair`` with probability
    ``two``, else the digit ``digit``; a narrower one is that digit, surely."""

    def probabilities(crops):
        answer = np.zeros((len(crops), 110))
        for row, crop in enumerate(crops):
            share = two if crop.shape[1] > wider_than else 0.0
            answer[row, 10 + int(pair)], answer[row, digit] = share, 1 - share
        return answer

    return probabilities


def test_a_narrow_mark_models_pairs_reads_as_one_is_not_tried_at_all():
    zero = columns_of(cv2.resize(pen(0), None, fx=1.3, fy=1.0))
    height, width = zero.any(axis=1).sum(), zero.any(axis=0).sum()
    assert PAIR_MAYBE_TWO * height < width <= MAYBE_TWO * height

    def never(crops):  # no cut is tried, so the reading model is never asked
        raise AssertionError("the reading model was asked about a mark models/pairs reads as one digit")

    marks = find_marks(zero, read=never, pairs=pairs_reading(0.1))
    assert len(marks) == 1 and marks[0].pair is None


def test_models_pairs_vote_on_one_or_two_is_capped_as_measured():
    """Its log-odds are weighed within [1e-6, 1 - 1e-6]: a mark whose parts the reading model is far
    surer of than of the whole is cut even where models/pairs is certain it is one."""
    from handwriting.preprocess.marks import _two_rather_than_one

    assert _two_rather_than_one(1.0, whole=0.0, parts=28.0, two=1e-12)
    assert not _two_rather_than_one(1.0, whole=0.0, parts=26.0, two=1e-12)


def test_a_dash_is_not_taken_for_characters_touching_all_along(backend, tmp_path):
    dash = np.full((80, 200), 255, np.uint8)
    dash[36:46, 20:180] = 0
    result = next(recognise([str(saved(tmp_path, "dash.png", dash))], backend))
    assert result.error is not None or len(result.label) == 1


def test_a_long_line_is_known_for_one_before_any_marks_are_sought(tmp_path, monkeypatch):
    """A line across a wide picture, cut into character-sized slices, took minutes (a 700 px dash:
    over 100 s): it is one stroke, and nothing is sliced."""
    import handwriting.recognise as recognise_module
    from handwriting.recognise import prepare_reading

    def no_marks(*args, **kwargs):
        raise AssertionError("a line is one stroke: no marks are sought in it")

    monkeypatch.setattr(recognise_module, "find_marks", no_marks)
    line = np.full((200, 800), 255, np.uint8)
    cv2.line(line, (50, 150), (750, 60), 0, 10)
    prepared = prepare_reading(str(saved(tmp_path, "line.png", line)))
    assert prepared.error is None and prepared.frame is not None and prepared.row_ink is None


def one_least_ink_path(raster: np.ndarray, start: int, band: int) -> tuple[np.ndarray, float]:
    """The dynamic programme of ``marks._least_ink_paths`` for one start, as it was first written."""
    height, width = raster.shape
    low, high = max(0, start - band), min(width, start + band + 1)
    cost = raster[:, low:high] + 1.0
    total, came = cost[0].copy(), np.zeros(cost.shape, np.int64)
    for row in range(1, height):
        choices = np.stack([np.r_[np.inf, total[:-1]], total, np.r_[total[1:], np.inf]])
        move = choices.argmin(axis=0)
        total, came[row] = cost[row] + choices[move, np.arange(len(total))], move - 1
    path = np.zeros(height, np.int64)
    path[-1] = int(total.argmin())
    for row in range(height - 1, 0, -1):
        path[row - 1] = path[row] + came[row, path[row]]
    return path + low, float(raster[np.arange(height), path + low].sum())


def test_the_least_ink_paths_are_the_cheapest_paths_within_their_band(monkeypatch):
    """``_least_ink_paths`` (many starts at once, in chunks) against every path there is on small
    rasters, and against the one-start programme path for path, ties and edges included."""
    import itertools

    from handwriting.preprocess import marks

    rng = np.random.default_rng(0)
    for trial in range(60):
        height, width, band = int(rng.integers(2, 6)), int(rng.integers(1, 8)), int(rng.integers(1, 3))
        raster = np.where(rng.random((height, width)) < 0.5, rng.integers(1, 256, (height, width)), 0).astype(float)
        if trial % 2:
            raster = np.where(raster > 0, 255.0, 0.0)  # many equal paths
        monkeypatch.setattr(marks, "PATH_CELLS", [10**6, height * (2 * band + 1) * 2][trial % 2])  # chunks of 2
        starts = np.arange(width)
        paths, crossed = marks._least_ink_paths(raster, starts, band)
        for start, path, ink in zip(starts, paths, crossed):
            allowed = range(max(0, start - band), min(width, start + band + 1))
            every = [
                sum(raster[row, column] for row, column in enumerate(columns))
                for columns in itertools.product(allowed, repeat=height)
                if all(abs(a - b) <= 1 for a, b in zip(columns, columns[1:]))
            ]
            assert ink == min(every)
            expected_path, expected_ink = one_least_ink_path(raster, int(start), band)
            np.testing.assert_array_equal(path, expected_path)
            assert ink == expected_ink


def test_a_sloping_line_is_one_stroke_and_a_long_chain_of_digits_is_not():
    line = np.zeros((120, 500), np.uint8)
    cv2.line(line, (20, 30), (480, 90), 255, 9)
    assert one_long_stroke(line)
    rng = np.random.default_rng(0)
    chain = write_row(pen_digits("94144920", rng), rng, touching=1.0, broken=0.0, overlap=(8, 12)).ink
    # our pen's digits are narrow: stretched, the chain is as long as eight MNIST digits touching
    chain = cv2.resize(np.round(255 * chain).astype(np.uint8), None, fx=2.0, fy=1.0)
    count, _, stats = strokes_of(chain)
    assert count == 2 and stats[1, cv2.CC_STAT_WIDTH] > 4 * stats[1, cv2.CC_STAT_HEIGHT]  # one piece, long
    assert not one_long_stroke(chain)


def test_two_touching_digits_narrower_than_tall_are_read_as_two(backend, tmp_path):
    """One mark, a 9 and a 4 touching, a little narrower than it is tall: once read as one digit,
    silently; now asked, and read as both."""
    pair = side_by_side(columns_of(pen(9)), columns_of(pen(4)), gap=-3)
    assert pair.any(axis=0).sum() < pair.any(axis=1).sum()
    path = saved(tmp_path, "pair.png", 255 - pair)
    assert next(recognise([str(path)], backend)).label == "94"


def test_three_touching_digits_are_all_read(backend, tmp_path):
    """A chain: models/pairs reads two in the whole and two again in the wider part, which is cut
    again (a part of a pair is otherwise left whole)."""
    chain = side_by_side(*[columns_of(pen(digit)) for digit in (2, 4, 6, 8)], gap=-5)
    count, _ = cv2.connectedComponents((chain > 64).astype(np.uint8))
    assert count <= 3  # the background and at most two pieces: three of the digits touch in a chain
    path = saved(tmp_path, "chain.png", 255 - chain)
    assert next(recognise([str(path)], backend)).label == "2468"


def test_the_cut_chosen_is_the_one_whose_parts_read_as_the_pair_expected():
    from handwriting.preprocess.marks import _cut_chosen

    pair = np.full((10, 10), 0.001)
    pair[9, 4] = 1 - 99 * 0.001  # models/pairs reads "94"
    sure = 8.0
    parts = np.zeros((4, 10))
    parts[0, 9], parts[1, 1] = sure, sure + 2  # cut 0: a 9 and, more surely, a 1
    parts[2, 9], parts[3, 4] = sure, sure - 1  # cut 1: a 9 and a 4
    assert _cut_chosen(parts, pair) == 1


def test_readings_are_taken_with_models_pairs_and_a_cut_pair_as_models_pairs_read_it():
    from handwriting.recognise import _read_with_pairs

    reader = np.full((3, 10), 0.01)
    reader[0, 7], reader[0, 1] = 0.6, 0.31  # the first part of a cut pair: a 7 rather than a 1
    reader[1, 7] = 0.91
    reader[2, 3], reader[2, 8] = 0.46, 0.46  # alone, a 3 or an 8: the reading model cannot say
    helper = np.full((3, 110), 1e-3)
    helper[0, 7] = helper[1, 7] = 0.85  # models/pairs, shown each part alone, reads 7s: not counted again
    helper[2, 8] = 0.85  # ... and the third as an 8
    pair = np.full((10, 10), 1e-4)
    pair[1, 7] = 1 - 99e-4  # ... and the first two, before they were cut apart, as "17"
    read = _read_with_pairs(reader, helper, [pair, None, None])
    np.testing.assert_allclose(read.sum(axis=1), 1.0)
    assert read.argmax(axis=1).tolist() == [1, 7, 8]
    # two opinions that agree, the helper's counting half: 0.46 x 0.85^0.5 over the same for every digit
    assert read[2, 8] == pytest.approx(0.9613, abs=1e-3)
    # a character models/pairs reads as two digits (not cut): its reading as one says nothing
    as_pair = helper.copy()
    as_pair[2, :10], as_pair[2, 10 + 38] = 0.001, 0.99
    assert _read_with_pairs(reader, as_pair, [pair, None, None])[2, 3] == pytest.approx(0.46 / reader[2].sum())
    # a reading model certain of a 4 where models/pairs is certain of "94": no underflow to nothing
    certain, ninety_four = np.eye(10)[[4, 4]], np.eye(10)[[9]].T @ np.eye(10)[[4]]
    read = _read_with_pairs(certain, np.full((2, 110), 1 / 110), [ninety_four, None])
    assert np.isfinite(read).all() and read.max(axis=1).min() > 0.4  # a reading, not zeros
    np.testing.assert_allclose(read.sum(axis=1), 1.0)
    assert read[0, [4, 9]].sum() > 0.99 and read[1].argmax() == 4  # the two certainties weigh alike


def test_clearly_several_counts_characters_not_the_pieces_of_one():
    five = pen(5)
    ys, xs = np.nonzero(five > 64)
    flag = ys < ys.min() + 0.15 * (ys.max() - ys.min())
    five[ys[flag].max() + 1 : ys[flag].max() + 4] = 0  # the flag drawn apart from the body
    marks = find_marks(five)
    assert clearly_several(marks) <= 1
    assert clearly_several(find_marks(side_by_side(columns_of(pen(1)), columns_of(pen(2))))) == 2


# ----------------------------------------------------------------------------- reading, with the shipped model


def row_picture(text: str, style: str, seed: int, touching: float = 0.0, broken: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    row = write_row(pen_digits(text, rng), rng, touching=touching, broken=broken)
    return as_picture(row.ink, style, rng)


@pytest.mark.parametrize("style", ["drawing", "photo", "ruled paper"])
def test_a_row_of_digits_is_read_whole(style, backend, tmp_path):
    path = saved(tmp_path, "row.png" if style == "drawing" else "row.jpg", row_picture("205921", style, seed=3))
    [result] = recognise([str(path)], backend)
    assert result.error is None
    assert result.label == "205921"
    assert len(result.characters) == 6
    assert result.confidence == min(character.confidence for character in result.characters)
    assert [character.box[0] for character in result.characters] == sorted(c.box[0] for c in result.characters)


def test_touching_digits_are_read(backend, tmp_path):
    rng = np.random.default_rng(7)
    row = write_row(pen_digits("3074", rng), rng, touching=1.0, broken=0.0)
    assert row.touching == 3
    path = saved(tmp_path, "touching.png", as_picture(row.ink, "drawing", rng))
    [result] = recognise([str(path)], backend)
    assert result.label == "3074"


def test_a_photo_of_a_small_row_is_cleaned_at_its_characters_size(tmp_path):
    """A wide photo: cleaned for one character, each of the row's would come back a few px tall."""
    grey = row_picture("48163", "photo", seed=5)
    grey = cv2.copyMakeBorder(grey, 60, 60, 200, 200, cv2.BORDER_REPLICATE)
    path = saved(tmp_path, "small.jpg", grey)
    prepared = prepare_reading(str(path))
    assert prepared.row_ink is not None
    marks = find_marks(prepared.row_ink)
    assert np.median([mark.bottom - mark.top for mark in marks]) >= 30  # px: detail enough to frame each


def test_digits_in_a_shadow_cast_across_the_row_are_read(backend, tmp_path):
    """A hand's shadow with a hard, straight edge over the end of the row, much as a sheet's edge on
    a darker table looks: the writing in the shadow says it is no table (page.sheet_outline), so
    none of it is painted out. Before, the 2 and 1 in the shadow were lost: read "2059"."""
    from synthetic.pen import on_paper

    rng = np.random.default_rng(2)
    ink = write_row(pen_digits("205921", rng), rng).ink  # float [h, w] in 0-1, ink 1
    ink = np.pad(cv2.resize(ink, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA), ((60, 60), (120, 120)))
    rows, columns = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]]
    shadow = columns > 0.6 * ink.shape[1] + 0.3 * (rows - ink.shape[0] / 2)  # a slanting edge
    photo = on_paper(ink, 200, 60) * (1 - 0.5 * shadow) + rng.normal(0, 3, ink.shape)
    [result] = recognise([str(saved(tmp_path, "shadow.jpg", to_uint8(photo)))], backend)
    assert result.label == "205921"


def test_a_sheet_on_a_dark_grainy_table_is_still_found(backend, tmp_path):
    """The writing-on-the-sheet check counts a table's wood grain as no writing: a 7 on a sheet on
    a dark, grainy table is read on the sheet alone (marks measured as a share of the grey took
    the grain for writing off the sheet, and read it "0")."""
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0:600, 0:800]
    photo = 60 + rng.normal(0, 4, rows.shape) + 8 * np.sin(columns / 10 + 3 * np.sin(rows / 40))
    photo[100:480, 150:570] = 215 + rng.normal(0, 3, (380, 420))
    cv2.line(photo, (300, 190), (420, 190), 40, 14)
    cv2.line(photo, (420, 190), (350, 400), 40, 14)
    [result] = recognise([str(saved(tmp_path, "table.jpg", to_uint8(photo)))], backend)
    assert result.label == "7"


def test_a_close_crop_running_off_the_edge_with_a_speck_of_dust_is_even_paper(backend, tmp_path):
    """A 7 cropped so close that its bar runs off the top edge, and a speck: the speck is no stroke
    to measure the 7 against (photo.edge_blobs), so the 7 is no blob and the paper stays one tone."""
    from handwriting.preprocess.photo import edge_blobs, even_paper

    photo = np.full((200, 180), 225.0)
    cv2.line(photo, (10, 0), (150, 0), 60, 26)
    cv2.line(photo, (150, 0), (80, 199), 60, 26)
    cv2.circle(photo, (30, 150), 3, 60, -1)
    photo += np.random.default_rng(0).normal(0, 2, photo.shape)
    assert not edge_blobs((photo < 140).astype(np.uint8)).any()
    assert even_paper(to_uint8(photo)) is not None
    [result] = recognise([str(saved(tmp_path, "close.jpg", to_uint8(photo)))], backend)
    assert result.label == "7"


def test_a_shadow_in_a_corner_below_the_row_is_not_taken_for_ink(backend, tmp_path):
    """Clean paper but for a dark wedge of shadow running into a corner: two tones, as an evenly lit
    crop is, but the dark one is no pen's stroke (photo.even_paper asks photo.edge_blobs). Before,
    the paper was taken for one tone and the row lost its last digit: read "4826"."""
    from synthetic.pen import on_paper

    rng = np.random.default_rng(5)
    ink = write_row(pen_digits("48261", rng), rng).ink  # float [h, w] in 0-1, ink 1
    ink = np.pad(cv2.resize(ink, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA), ((30, 60), (50, 60)))
    rows, columns = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]]
    wedge = (rows > ink.shape[0] - 40 + 0.2 * columns).astype(np.float32)  # bottom left, below the row
    wedge = cv2.GaussianBlur(wedge, (0, 0), 1)
    photo = on_paper(ink, 215, 30) * (1 - 0.5 * wedge) + rng.normal(0, 3, ink.shape)
    [result] = recognise([str(saved(tmp_path, "corner.jpg", to_uint8(photo)))], backend)
    assert result.label == "48261"


def test_one_character_is_read_exactly_as_before(backend):
    """A picture of one character: its frame is the single-character recipe's, and no characters."""
    from handwriting.preprocess import to_mnist

    for name in ("example_4_sideways.jpg", "example_5_cropped.jpg", "example_2_ruled.png", "example_7_tablet.png"):
        path = ROOT / "work" / name
        prepared = prepare_reading(str(path))
        assert prepared.row_ink is None, name
        assert np.array_equal(prepared.frame, to_mnist(read_picture(path))), name
        [result] = recognise([str(path)], backend)
        assert result.characters == [] and result.label == name.split("_")[1], name


def test_any_model_any_classes_and_framing():
    """The characters are framed as the model's data was and named by its classes: letters here."""

    class Letters:
        classes = list("ABCDEFGHIJ")
        has_confidence = True
        framing = "emnist"
        calls: list = []

        def outputs(self, inputs):
            self.calls.append(inputs.shape)
            logits = np.zeros((len(inputs), 10), np.float32)
            logits[np.arange(len(inputs)), np.arange(len(inputs)) % 10] = 12.0  # the n-th crop reads as the n-th letter
            return logits

        def probabilities(self, frames):
            from handwriting.backends import probabilities_from
            from handwriting.preprocess import normalize

            return probabilities_from(self.outputs(normalize(frames)[:, None]), "classify", 10)

    row = side_by_side(*(columns_of(pen(digit)) for digit in (1, 7, 4)), gap=25)
    characters = read_characters(row, Letters(), framing="emnist")
    assert text_of(characters) == "ABC"
    assert all(character.frame.shape == (28, 28) for character in characters)


def test_a_regression_model_reads_several_without_confidences():
    class Regression:
        classes = [str(digit) for digit in range(10)]
        has_confidence = False

        def outputs(self, inputs):  # pragma: no cover - a regression model is never asked for sureness
            raise AssertionError("a regression model's output is no sureness")

        def probabilities(self, frames):
            return np.eye(10, dtype=np.float32)[np.full(len(frames), 7)]

    row = side_by_side(*(columns_of(pen(digit)) for digit in (1, 7, 4)), gap=25)
    characters = read_characters(row, Regression())
    assert text_of(characters) == "777"
    assert all(character.confidence is None for character in characters)


def test_text_of_puts_spaces_and_lines():
    from handwriting.recognise import Character

    def character(label, line, space):
        return Character(label, 0.9, [(label, 0.9)], np.zeros((28, 28), np.uint8), (0, 0, 1, 1), line, space)

    assert text_of([character("1", 0, False), character("2", 0, True), character("3", 1, False)]) == "1 2\n3"
    assert text_of([character("h/H", 0, False), character("i/I", 0, False), character("two touching", 0, True)]) == (
        "HI [two touching]"
    )


# ----------------------------------------------------------------------------- infer.py


def run(capsys, *argv):
    status = infer.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_infer_prints_the_whole_number_with_its_least_confidence(tmp_path, capsys):
    path = saved(tmp_path, "postcode.png", row_picture("205921", "drawing", seed=3))
    status, out, err = run(capsys, path)
    assert status == 0, err
    assert out.startswith(f"{path}: 205921 (min ") and out.endswith("%)\n")
    assert "warning" not in err


def test_infer_json_gives_each_character(tmp_path, capsys):
    path = saved(tmp_path, "postcode.png", row_picture("3074", "drawing", seed=3))
    status, out, _ = run(capsys, path, "--json", "--topk", "2")
    assert status == 0
    answer = json.loads(out)
    assert answer["label"] == "3074"
    assert [character["label"] for character in answer["characters"]] == list("3074")
    assert answer["confidence"] == min(character["confidence"] for character in answer["characters"])
    assert all(len(character["topk"]) == 2 and character["line"] == 0 for character in answer["characters"])


def test_infer_single_reads_one_character_and_says_the_picture_holds_several(tmp_path, capsys):
    path = saved(tmp_path, "postcode.png", row_picture("3074", "drawing", seed=3))
    status, out, err = run(capsys, path, "--single")
    assert status == 0
    assert len(out.split(": ")[1].split(" ")[0]) == 1
    assert err == f"{path}: warning: it holds 4 characters, read as one (--single); without it all are read\n"
    status, out, _ = run(capsys, path, "--single", "--json")
    assert json.loads(out)["warning"].startswith("it holds 4 characters")
    assert "characters" not in json.loads(out)
    status, out, err = run(capsys, path, "--preprocess", "naive")  # the tutorial's recipe reads one, and says so
    assert status == 0 and len(out.split(": ")[1].split(" ")[0]) == 1
    assert err == f"{path}: warning: it holds 4 characters, read as one (--preprocess naive); without it all are read\n"


def test_infer_single_on_one_character_says_nothing_more(capsys):
    status, out, err = run(capsys, ROOT / "work" / "example_0.png", "--single")
    assert (status, out, err) == (0, f"{ROOT / 'work' / 'example_0.png'}: 0 (>99.9%)\n", "")


def test_infer_show_and_save_preprocessed_draw_each_character(tmp_path, capsys):
    path = saved(tmp_path, "postcode.png", row_picture("3074", "drawing", seed=3))
    frames = tmp_path / "frames"
    status, _, err = run(capsys, path, ROOT / "work" / "example_0.png", "--show", tmp_path / "show.png",
                         "--save-preprocessed", frames)  # fmt: skip
    assert status == 0, err
    assert sorted(file.name for file in frames.iterdir()) == [
        "example_0.png", "postcode-1.png", "postcode-2.png", "postcode-3.png", "postcode-4.png"
    ]  # fmt: skip
    assert cv2.imread(str(frames / "postcode-2.png"), cv2.IMREAD_GRAYSCALE).shape == (28, 28)
    shown = cv2.imread(str(tmp_path / "show.png"))
    assert shown is not None and min(shown.shape[:2]) > 100
    assert "drew 2 pictures" in err


# ----------------------------------------------------------------------------- a digit, or two touching


def test_the_pairs_model_runs_from_its_numpy_export_and_reads_one_digit_or_two():
    from handwriting.preprocess.frame import frame_mnist
    from handwriting.recognise import pairs_model
    from synthetic.pairs import CLASSES

    model = pairs_model()
    assert model is not None and model.name == "numpy"  # the export of the shipped checkpoint's weights
    assert model.classes == list(CLASSES) and len(CLASSES) == 110
    two, five = columns_of(pen(2)), columns_of(pen(5))
    frames = np.stack([frame_mnist(side_by_side(two, five, gap=-3)), frame_mnist(two), frame_mnist(five)])
    probabilities = model.probabilities(frames)
    assert probabilities[0, 10:].sum() > 0.5 > max(probabilities[1:, 10:].sum(axis=1))
    assert [CLASSES[i] for i in probabilities.argmax(axis=1)] == ["25", "2", "5"]


def test_the_pairs_dataset_holds_digits_alone_and_touching_pairs_labelled_in_order(tmp_path):
    from synthetic import pairs

    rng = np.random.default_rng(0)
    digits = np.stack([to_uint8(255 * np.pad(draw(digit, 20, 2.2, rng), 0)[:28, :28]) for digit in range(10)])
    frames, labels = pairs.examples(digits, np.arange(10), 60, rng)
    assert frames.shape == (60, 28, 28) and frames.dtype == np.uint8
    alone = labels < 10
    assert alone.sum() == 30 and labels.max() < len(pairs.CLASSES)
    widths = np.array([np.ptp(np.flatnonzero(frame.any(axis=0))) for frame in frames])
    assert widths[~alone].mean() > widths[alone].mean()  # a pair fills the 20 px box's width
    # from two digits, a 1 and a 0: every pair is "10" or "01", and every digit alone one of them
    _, two_labels = pairs.examples(digits[[1, 0]], np.array([1, 0]), 20, rng)
    assert {pairs.CLASSES[label] for label in two_labels} == {"0", "1", "01", "10"}
    pairs.write_csv(tmp_path / "p_train.csv", frames, labels)
    rows = np.loadtxt(tmp_path / "p_train.csv", delimiter=",", dtype=np.int64)
    assert rows.shape == (60, 785) and rows[:, 0].tolist() == labels.tolist()


def test_a_bug_reading_one_picture_s_characters_is_that_picture_s_line(tmp_path, capsys, monkeypatch):
    import handwriting.recognise

    def buggy(*arguments, **options):
        raise ValueError("no cut")

    monkeypatch.setattr(handwriting.recognise, "read_characters", buggy)
    path = saved(tmp_path, "postcode.png", row_picture("3074", "drawing", seed=3))
    status, out, err = run(capsys, path, ROOT / "work" / "example_0.png")
    assert status == 1
    assert out == f"{ROOT / 'work' / 'example_0.png'}: 0 (>99.9%)\n"
    assert f"{path}: error: could not be read: a bug in handwriting (ValueError: no cut)" in err


def test_saved_frames_never_overwrite_each_other(tmp_path, capsys):
    several, single = tmp_path / "a", tmp_path / "b"
    several.mkdir(), single.mkdir()
    saved(several, "n.png", row_picture("3074", "drawing", seed=3))
    (single / "n-1.png").write_bytes((ROOT / "work" / "example_0.png").read_bytes())  # the name of n's first
    (single / "n.png").write_bytes((ROOT / "work" / "example_3.png").read_bytes())
    frames = tmp_path / "frames"
    status, _, err = run(capsys, several, single, "--save-preprocessed", frames)
    assert status == 0, err
    names = sorted(file.name for file in frames.iterdir())
    assert len(names) == 6 and "saved 6 preprocessed 28x28 pictures" in err
    assert names == ["n-1.png", "n-1~2.png", "n-2.png", "n-3.png", "n-4.png", "n.png"]


def test_single_character_pictures_of_the_benches_are_read_as_one(real_mnist, backend, tmp_path):
    """The first 100 re-drawn MNIST test digits and a picture of each of the 14 kinds: each is read
    as one character, exactly as before (the benches' tables are unchanged). A digit wider than
    tall is asked about, and the model finds one character in it."""
    from tests.test_benches import bench_module

    redrawn = bench_module("redrawn")
    test = real_mnist.splits["test"]
    _, photos, _ = redrawn.redrawn_test_digits(test.images, test.labels, 1000, 2024, first=100)
    pictures = [cv2.imencode(".png", photo)[1].tobytes() for photo in photos]
    kinds = bench_module("own_handwriting")
    for index, make in enumerate(kinds.KINDS.values()):
        rng = np.random.default_rng(index)
        picture, suffix = make(index % 10, rng)
        pictures.append(kinds.encode(picture, suffix, rng))
    prepared = [prepare_reading(data) for data in pictures]
    asked = [reading.row_ink for reading in prepared if reading.row_ink is not None]
    assert len(asked) <= 50  # those wider than 3/4 of their height (45 of these 114)
    assert [len(read_characters(ink, backend)) for ink in asked] == [1] * len(asked)
