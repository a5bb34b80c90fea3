"""The characters of a picture that holds several: a postcode, an amount, a word.

    marks = find_marks(ink)                    # ink: uint8 [H, W], ink high, paper 0 (recipes.ink_of)
    marks = find_marks(ink, score=confidences) # split touching characters where a model reads the parts best
    "".join(...)                               # each Mark's .ink is framed and read like a single character

The steps, each on the ink after the single-character clean-up:

1. **Pieces**: connected groups of ink pixels; specks far smaller than the rest are dropped.
2. **Lines**: pieces whose heights overlap belong to one line of writing; lines are read top to bottom.
3. **Strokes of one character**: pieces of a line that overlap left to right mostly are one
   character: the broken 4, the dot of an i, a 5's detached flag.
4. **Touching characters**: a mark much wider than the line's characters are tall is cut where the
   ink is thinnest (the valleys of its column sums); with a ``score``, the cut whose parts a model
   reads most confidently wins.
5. **Order and spaces**: left to right; a gap wider than the line's characters marks a space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import cv2
import numpy as np

INK_LEVEL = 0.25  # of the strongest ink: fainter pixels are the soft edge of a stroke, not a stroke
SPECK_SHARE = 0.02  # a piece with less ink than 2% of the largest piece's is a speck
SAME_LINE = 0.5  # pieces whose heights overlap by half the shorter one's are on one line
SAME_CHARACTER = 0.5  # pieces overlapping left to right by half the narrower one's width ...
STACKED = 0.3  # ... and sharing at most 30% of the shorter one's rows (one above the other) are one character
SMALL = 0.15  # a piece with less ink than 15% of the line's typical character is part of its neighbour
WIDE = 1.1  # a mark wider than 1.1x the line's character height may hold touching characters ...
SURELY_WIDE = 1.6  # ... and one wider than 1.6x does (without a model's confidence to decide)
NARROWEST_PART = 0.25  # no cut leaves a part narrower than a quarter of the line's height
SPACE = 0.8  # a gap wider than 0.8x the line's character height is a space between words

# confidences(crops) -> the model's confidence in its answer for each crop (uint8 ink [h, w] each)
Score = Callable[[list], list]


@dataclass
class Mark:
    """One character found in the picture: where it is and its ink alone."""

    top: int
    bottom: int  # one past the last row
    left: int
    right: int  # one past the last column
    ink: np.ndarray  # uint8 [bottom - top, right - left]: this character's ink, other characters' removed
    line: int  # which line of writing, from the top (0, 1, ...)
    space_before: bool = False  # a wide gap separates it from the mark before it on its line


@dataclass
class _Box:
    top: int
    bottom: int
    left: int
    right: int
    labels: list  # the connected-component labels inside

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def joined(self, other: _Box) -> _Box:
        return _Box(
            min(self.top, other.top),
            max(self.bottom, other.bottom),
            min(self.left, other.left),
            max(self.right, other.right),
            self.labels + other.labels,
        )


def _overlap(start_a: int, end_a: int, start_b: int, end_b: int) -> int:
    return max(0, min(end_a, end_b) - max(start_a, start_b))


def find_marks(ink: np.ndarray, score: Optional[Score] = None) -> list[Mark]:
    """uint8 ink [H, W] (ink high, paper 0) -> its characters in reading order (an empty list when
    there is no ink). ``score`` chooses between the ways to cut touching characters apart."""
    if not ink.any():
        return []
    strong = (ink >= INK_LEVEL * int(ink.max())).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = [label for label in range(1, count) if areas[label - 1] >= SPECK_SHARE * areas.max()]
    boxes = [
        _Box(
            int(stats[label, cv2.CC_STAT_TOP]),
            int(stats[label, cv2.CC_STAT_TOP] + stats[label, cv2.CC_STAT_HEIGHT]),
            int(stats[label, cv2.CC_STAT_LEFT]),
            int(stats[label, cv2.CC_STAT_LEFT] + stats[label, cv2.CC_STAT_WIDTH]),
            [label],
        )
        for label in keep
    ]
    marks = []
    areas = {label: int(stats[label, cv2.CC_STAT_AREA]) for label in keep}
    for line_number, line in enumerate(_lines(boxes)):
        characters = _characters(line, areas)
        height = float(np.median([box.height for box in characters]))
        previous_right = None
        for box in characters:
            own = np.where(
                np.isin(labels[box.top : box.bottom, box.left : box.right], box.labels),
                ink[box.top : box.bottom, box.left : box.right],
                0,
            ).astype(np.uint8)
            wide = box.width > (WIDE if score is not None else SURELY_WIDE) * height
            parts = _split(own, box, height, score) if wide else [(box, own)]
            for part_box, part_ink in parts:
                spaced = previous_right is not None and part_box.left - previous_right > SPACE * height
                marks.append(
                    Mark(part_box.top, part_box.bottom, part_box.left, part_box.right, part_ink, line_number, spaced)
                )
                previous_right = part_box.right
    return marks


def _lines(boxes: list[_Box]) -> list[list[_Box]]:
    """The pieces grouped into lines of writing, top line first, each line's pieces left to right."""
    lines: list[list[_Box]] = []
    for box in sorted(boxes, key=lambda box: -box.height):  # the tallest pieces found the lines
        for line in lines:
            top, bottom = min(b.top for b in line), max(b.bottom for b in line)
            if _overlap(box.top, box.bottom, top, bottom) >= SAME_LINE * min(box.height, bottom - top):
                line.append(box)
                break
        else:
            lines.append([box])
    lines.sort(key=lambda line: min(box.top for box in line))
    return [sorted(line, key=lambda box: box.left) for line in lines]


def _characters(line: list[_Box], areas: dict) -> list[_Box]:
    """A line's pieces joined into characters (left to right): pieces one above the other where they
    overlap left to right (a broken stroke, a 5's flag, an i's dot), and small pieces into the
    neighbour they overlap most. Two whole characters side by side share their rows, so a slanted
    digit leaning over a narrow 1 stays two."""
    typical = float(np.median([areas[label] for box in line for label in box.labels]))
    characters: list[_Box] = []
    for box in line:
        if characters:
            last = characters[-1]
            shared = _overlap(box.left, box.right, last.left, last.right)
            rows = _overlap(box.top, box.bottom, last.top, last.bottom)
            stacked = rows <= STACKED * min(box.height, last.height)
            small = min(sum(areas[label] for label in group.labels) for group in (box, last)) < SMALL * typical
            if shared >= SAME_CHARACTER * min(box.width, last.width) and (stacked or small):
                characters[-1] = last.joined(box)
                continue
        characters.append(box)
    return characters


def _split(own: np.ndarray, box: _Box, height: float, score: Optional[Score]) -> list[tuple[_Box, np.ndarray]]:
    """A wide mark cut into the characters it holds, at the valleys of its column sums: without
    ``score``, into as many as its width suggests at the deepest valleys; with it, into one, two or
    as many as its width suggests, whichever the model reads most confidently (its least sure part)."""
    parts_wanted = max(2, round(box.width / height))  # handwritten digits are about as wide as tall, or narrower
    columns = own.astype(np.float32).sum(axis=0)
    columns = np.convolve(columns, np.ones(3) / 3, mode="same")  # a one-pixel gap is no valley
    narrowest = max(1, int(NARROWEST_PART * height))
    candidates = [
        column
        for column in range(narrowest, box.width - narrowest)
        if columns[column] <= columns[column - 1] and columns[column] <= columns[column + 1]
    ]
    if not candidates:
        return [(box, own)]
    candidates.sort(key=lambda column: columns[column])
    candidates = candidates[:8]
    if score is None:
        options = _cut_options(candidates, parts_wanted - 1, narrowest)
        if not options:
            return [(box, own)]
        return _cut(own, box, min(options, key=lambda cuts: sum(columns[column] for column in cuts)))
    options = [()]  # not cut at all: a wide single character (a slanted 0, a 2 with a long foot)
    for parts in sorted({2, parts_wanted}):
        options += _cut_options(candidates, parts - 1, narrowest)
    readings = [min(score([piece for _, piece in _cut(own, box, cuts)])) for cuts in options]
    return _cut(own, box, options[max(range(len(options)), key=lambda index: readings[index])])


def _cut_options(candidates: list[int], cuts: int, narrowest: int) -> list[tuple[int, ...]]:
    """Sets of ``cuts`` columns from ``candidates`` at least ``narrowest`` apart, in order."""
    from itertools import combinations

    return [
        combination
        for combination in combinations(sorted(candidates), cuts)
        if all(later - earlier >= narrowest for earlier, later in zip(combination, combination[1:]))
    ]


def _cut(own: np.ndarray, box: _Box, cuts: tuple[int, ...]) -> list[tuple[_Box, np.ndarray]]:
    """``own`` cut at the given columns -> each part's box (trimmed to its ink) and ink."""
    edges = [0, *cuts, box.width]
    parts = []
    for start, end in zip(edges, edges[1:]):
        piece = own[:, start:end]
        rows = np.flatnonzero(piece.any(axis=1))
        if rows.size == 0:
            continue
        piece = piece[rows[0] : rows[-1] + 1]
        part_box = _Box(box.top + int(rows[0]), box.top + int(rows[-1]) + 1, box.left + start, box.left + end, [])
        parts.append((part_box, piece))
    return parts
