"""The characters of a picture that holds several: a postcode, an amount, a word.

    marks = find_marks(ink)                          # ink: uint8 [H, W], ink high, paper 0 (recipes.ink_of)
    marks = find_marks(ink, read=outputs)            # a model decides the doubtful joins and cuts ...
    marks = find_marks(ink, read=outputs, pairs=pair_probabilities)  # ... helped by models/pairs, for digits
    [frame_mnist(mark.ink) for mark in marks]        # each mark is framed and read like a single character

``recognise.read_characters`` makes ``outputs`` and ``pair_probabilities`` from the models. The
steps, each on the ink after the single-character clean-up:

1. **Pieces**: connected groups of strong ink; specks far smaller than the rest are dropped, crumbs
   of a stroke join the piece they lie against (``_broken_strokes_joined``).
2. **Broken strokes**: pieces one just above the other are one character (a gap across a digit).
3. **Lines**: pieces whose heights overlap belong to one line of writing; lines are read top to bottom.
4. **Slant**: each line's slant is measured (the shear that makes its strokes most upright), and
   everything left to right below is measured along it, so a slanted digit leaning over its
   neighbour is not taken for part of it.
5. **Strokes of one character**: pieces of a line that mostly overlap left to right, or lie one
   above the other close by, are one character (an i's dot, a 5's flag); a fragment joins its
   nearest neighbour; with a model, short or almost-touching pieces join when it reads them better
   so (``_fragments_joined``).
6. **Touching characters**: a mark wide for its line may be two. Cuts are tried along paths through
   the least ink (``_cuts``); without a model, a mark far too wide for one character is cut and
   one that could be either is not; with one, the model decides (``_two_rather_than_one``). The
   parts are cut again if need be (the two parts of a pair models/pairs read, only when it reads
   two in one of them too, or it is far too wide for one digit).
   For digits, ``models/pairs`` (a model that reads a mark as one digit or as two touching ones)
   says whether a mark is two, and which cut gives the parts it reads the pair as (``_cut_chosen``);
   the cut marks carry what it read (``Mark.pair``), for the reading to take into account.
7. **Punctuation**: a dot on the baseline, a comma hanging below it or a dash at mid-height, between
   two characters of a line and clear of them, is told by its shape and place (``_punctuation``);
   a dash or comma the model reads its nearest character better with is a stroke come apart, and
   joins it (``_signs_read_as_strokes``). With ``find_marks(punctuation=True)`` they come in their
   places as marks with ``Mark.punctuation`` set, for no model to read; else they are left out.
8. **Order and spaces**: left to right; a gap wider than the line's character height is a space.
   Other marks and lines far shorter than the picture's characters (an underline, dust, a full stop
   at the end) are left out: a model of characters cannot read them.

Every threshold is a constant below, with its reason; the ones weighing the model's answers were set
on rows of MNIST digits (``synthetic.rows``, ``bench/read_numbers.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

INK_LEVEL = 0.25  # of the strongest ink: fainter pixels are the soft edge of a stroke, not a stroke
SPECK_SHARE = 0.02  # a piece with less ink than 2% of the largest piece's is a speck
SAME_LINE = 0.5  # pieces whose heights overlap by half the shorter one's are on one line
# Shears tried (x shift per px up), nearest upright first: up to about 30 degrees either way.
SLANTS = sorted(np.linspace(-0.6, 0.6, 25), key=abs)
SAME_CHARACTER = 0.5  # pieces overlapping left to right by half the narrower one's width are one character
STACKED = 0.3  # pieces sharing at most 30% of the shorter one's rows lie one above the other ...
NEAR = 0.25  # ... and are one character when less than a quarter of the line's height apart left to right
SHORT = 0.75  # a piece under 75% of its line's height may be a fragment: the model says whether it is ...
CLOSE = 0.1  # ... and so may two pieces less than a tenth of the line's height apart (a gap across a stroke)
NOT_A_CHARACTER = 0.35  # a line or mark under 35% of the typical height: a dash, dot, comma or underline
WHOLE_HEIGHT = 0.5  # a mark at least half the typical height may be a character of its own
# A picture that is one mark wider than 3/4 of its height may be characters touching all along (two
# digits touching are often narrower than tall); one over 4x wider than tall is a dash or a line
WIDER_THAN_TALL = 0.75
AT_MOST_WIDE = 4.0
# a long piece that 90% of its columns cross once is one stroke (a dash, a line: all of them do);
# in 300 chains of 8 MNIST digits written touching, at most 63% of the columns crossed once
STROKE_COLUMNS = 0.9
CRUMB = 0.25  # a piece under a quarter of the typical height each way is a crumb of a stroke, or dust
BROKEN_GAP = 0.15  # pieces one above the other less than 15% of the taller one's height apart are one stroke, broken
FRAGMENT_HEIGHT = 0.45  # a piece under 45% of the line's height ...
FRAGMENT_INK = 0.3  # ... with under 30% of a typical character's ink is a fragment of its nearest neighbour
MAYBE_TWO = 0.75  # a mark wider than 0.75x its line's character height may hold two touching characters ...
SURELY_TWO = 1.5  # ... and one wider than 1.5x does (without a model to ask): few characters are that wide
# With models/pairs to ask, a mark from half the line's height wide may be two: a 1 leaning on its
# neighbour makes a narrow pair
PAIR_MAYBE_TWO = 0.5
FLOOR = 1e-9  # probabilities below this are taken as this, so that a logarithm stays finite
PART_TWO = 0.9  # a part cut from a pair is cut again only when models/pairs is this sure it holds two
CERTAIN = 1e-6  # models/pairs' "two" is weighed within [1e-6, 1 - 1e-6]: its log-odds are no veto
WIDTH_WEIGHT = 4.0  # a model's output units per line height of width, weighing a wide mark towards two
NARROWEST_PART = 0.2  # no cut leaves a part narrower than a fifth of the line's height (a 1 is about that)
VALLEYS_TRIED = 6  # the deepest valleys of a mark's column sums are where cuts are tried from ...
CUT_STEP = 0.1  # ... and every tenth of the line's height across it; from each, a path down ...
PATH_BAND = 0.25  # ... that strays at most a quarter of the line's height from where it started
PATH_CELLS = 4_000_000  # paths are found for at most this many cells (rows x starts x band columns) at a
# time: 4 MB of moves (int8) and 32 MB of costs a row at most, whatever the mark's size
# Punctuation between the characters of a line, told by its shape and place alone (no model reads it),
# all measured in the line's height, from its characters' tops to their baseline:
SMALLEST_MARK = 0.06  # a dot, a comma or a dash at least this long each way (less is dust)
DOT = 0.3  # a dot: at most this long each way ...
DOT_ROUND = 2.5  # ... no longer one way than this many times the other ...
LOW = 0.55  # ... and its top below this share of the line's height: it sits on the baseline
ON_BASELINE = 0.25  # a dot's bottom this near the baseline, up or down
COMMA = 0.55  # a comma: at most this tall, taller than wide by ...
COMMA_NARROW = 1.3  # ... this much at least, hanging ...
BELOW_BASELINE = (0.1, 0.5)  # ... from this far below the baseline to this far at most (lower down, it is
# no comma of this line: another line's mark), its top within ...
COMMA_TOP = (0.4, 0.1)  # ... this far above the baseline and this far below it
DASH = (0.2, 1.0)  # a dash: this long ...
DASH_THIN = 0.3  # ... at most this thick ...
DASH_FLAT = 2.0  # ... at least this many times longer than thick ...
DASH_MIDDLE = (0.25, 0.8)  # ... with its middle this far down the line
DOT_GAIN = 3.0  # a dot is a stroke of the character nearest it only if the model reads it this much surer so
SEPARATE = 0.1  # a mark of punctuation lies this far from every character's ink at least (a stroke
# broken across, a flag come apart, lie closer to the rest of their character) ...
APART = 0.5  # ... and overlaps one left to right by at most half its own width ...
CLEAR = 0.15  # ... unless it lies this far from its ink at least (a comma tucked under a 5's foot)
SPACE = 1.0  # a gap wider than the line's character height is a space between words (on seeds 0-3 of
# bench/read_numbers, 2,000 rows of digits with no space, 0.8 put one into 36 rows; 1.0 into 2)

# outputs(inks) -> float [n, classes]: the reading model's outputs (logits) for each uint8 ink crop
# [h, w]. How sure it is that a crop is one character it knows is its largest output: softmax
# confidence will not do, as it reads two touching digits as one at 99.99%.
Read = Callable[[list[np.ndarray]], np.ndarray]
# pair_probabilities(inks) -> float [n, 110]: for each uint8 ink crop, models/pairs' probabilities
# that it is the digit 0..9 alone, or the touching pair 00..99 (synthetic.pairs.CLASSES' order)
Pairs = Callable[[list[np.ndarray]], np.ndarray]
DIGITS = 10  # models/pairs' first classes are the digits alone; the next 100 the pairs, first * 10 + second


@dataclass
class Mark:
    """One character found in a picture: where it is and its ink alone."""

    top: int
    bottom: int  # one past the last row
    left: int
    right: int  # one past the last column
    ink: np.ndarray  # uint8 [bottom - top, right - left]: this character's ink, other characters' removed
    line: int  # which line of writing, from the top (0, 1, ...)
    space_before: bool = False  # a wide gap separates it from the mark before it on its line
    # float [10, 10] or None: where this mark and the next were cut from one mark that models/pairs
    # read as two touching digits, its probabilities that they are (this one, the next one)
    pair: np.ndarray | None = None
    punctuation: str = ""  # ".", "," or "-": no character for a model to read (``find_marks(punctuation=True)``)


@dataclass
class _Piece:
    """Ink pixels that belong together, with their extent upright and along the line's slant."""

    rows: np.ndarray  # int [n]: each pixel's row
    columns: np.ndarray  # int [n]
    along: np.ndarray  # float [n]: each pixel's column measured along the slant
    top: int
    bottom: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def left(self) -> float:
        return float(self.along.min())

    @property
    def right(self) -> float:
        return float(self.along.max()) + 1

    @property
    def width(self) -> float:
        return self.right - self.left

    def joined(self, other: _Piece) -> _Piece:
        return _Piece(
            np.concatenate([self.rows, other.rows]),
            np.concatenate([self.columns, other.columns]),
            np.concatenate([self.along, other.along]),
            min(self.top, other.top),
            max(self.bottom, other.bottom),
        )

    def part(self, keep: np.ndarray) -> _Piece:
        rows = self.rows[keep]
        return _Piece(rows, self.columns[keep], self.along[keep], int(rows.min()), int(rows.max()) + 1)


def _overlap(start_a: float, end_a: float, start_b: float, end_b: float) -> float:
    return max(0.0, min(end_a, end_b) - max(start_a, start_b))


def strokes_of(ink: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """uint8 ink [H, W] -> (count, labels [H, W], stats) of its connected pieces of strong ink."""
    strong = (ink >= INK_LEVEL * int(ink.max())).astype(np.uint8)
    return cv2.connectedComponentsWithStats(strong, connectivity=8)[:3]


def typical_height(marks: list[Mark]) -> float:
    """Marks -> the typical height in px of their characters (``_typical``)."""
    return _typical([mark.bottom - mark.top for mark in marks])


def _typical(heights: list[int]) -> float:
    """The median of the heights at least half the tallest: the fragments of a broken or faint
    character, a dash or a dot would pull a plain median down."""
    tallest = max(heights)
    return float(np.median([height for height in heights if height >= 0.5 * tallest]))


def may_be_several(marks: list[Mark]) -> bool:
    """Whether ``marks`` may be several characters, to be cut apart and read by a model: clearly
    several (``clearly_several``), or one mark wider than 3/4 of its height but not a dash
    (``WIDER_THAN_TALL``, ``AT_MOST_WIDE``), which may be characters touching all along. The model
    then says how many it holds (``find_marks``). Two touching characters narrower than that are
    read as one."""
    return clearly_several(marks) >= 2 or any(
        WIDER_THAN_TALL < (mark.right - mark.left) / (mark.bottom - mark.top) <= AT_MOST_WIDE for mark in marks
    )


def one_long_stroke(ink: np.ndarray) -> bool:
    """Whether uint8 ink [H, W] is one piece over ``AT_MOST_WIDE`` times wider than tall (or taller
    than wide) that nearly every column (row) crosses once: a dash or a line, straight, sloping or
    wavy, which cutting into character-sized slices would read as a row. A chain of digits written
    touching is as long, but its loops and bars cross most columns twice or more."""
    count, labels, stats = strokes_of(ink)
    if count != 2:  # the paper and one piece
        return False
    width, height = stats[1, cv2.CC_STAT_WIDTH], stats[1, cv2.CC_STAT_HEIGHT]
    if max(width, height) <= AT_MOST_WIDE * min(width, height):
        return False
    piece = (labels == 1).astype(np.int8)
    if height > width:
        piece = piece.T
    crossings = (piece[0] == 1) + ((piece[1:] == 1) & (piece[:-1] == 0)).sum(
        axis=0
    )  # [W]: runs of ink down each column
    return bool((crossings[crossings > 0] == 1).mean() >= STROKE_COLUMNS)


def clearly_several(marks: list[Mark]) -> int:
    """How many of ``marks`` are clearly characters of their own: at least ``WHOLE_HEIGHT`` of the
    typical height. The pieces a clean-up leaves of one faint or broken character are shorter, so
    a picture with fewer than two is read as one character."""
    if not marks:
        return 0
    typical = typical_height(marks)
    return sum(1 for mark in marks if mark.bottom - mark.top >= WHOLE_HEIGHT * typical)


def find_marks(
    ink: np.ndarray, read: Read | None = None, pairs: Pairs | None = None, punctuation: bool = False
) -> list[Mark]:
    """uint8 ink [H, W] (ink high, paper 0) -> its characters in reading order; an empty list when
    there is no ink. ``read`` (and ``pairs``, for digits) decide whether marks that may hold two
    touching characters do, where they are cut, and whether close fragments are one. Dots, commas
    and dashes between a line's characters are told apart by their shape and place (``_punctuation``)
    and, with ``punctuation``, come in their places as marks with ``Mark.punctuation`` set; else
    they are left out, as are other marks far too small for characters."""
    if not ink.any():
        return []
    count, labels, stats = strokes_of(ink)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = [label for label in range(1, count) if areas[label - 1] >= SPECK_SHARE * areas.max()]
    order = np.argsort(labels, axis=None, kind="stable")  # the pixels grouped by piece
    starts = np.searchsorted(labels.ravel()[order], np.arange(count + 1))
    pieces = []
    for label in keep:
        flat = order[starts[label] : starts[label + 1]]
        rows, columns = np.divmod(flat, ink.shape[1])
        pieces.append(_Piece(rows, columns, columns.astype(np.float32), int(rows.min()), int(rows.max()) + 1))

    pieces, crumbs = _broken_strokes_joined(pieces)
    # The picture's typical character height: a line, or a mark, much shorter than it is an underline,
    # a dash, a comma or a dot, none of which a model of characters can read.
    typical = _typical([piece.height for piece in pieces])
    every_line = _lines(pieces)
    lines = [line for line in every_line if max(piece.height for piece in line) >= NOT_A_CHARACTER * typical]
    # Each line measured: its slant (a pixel's column along it: where it would stand upright), its
    # characters' height and band. Then the lines of whole characters take the dots, commas and dashes
    # among their own pieces and the small ones nearby (a comma hanging below the baseline is a line
    # of its own to _lines), before any line is read.
    measured = []
    for line in lines:
        slant = _slant(line, ink)
        middle = float(np.median(np.concatenate([piece.rows for piece in line])))
        height = _typical([piece.height for piece in line])
        measured.append((slant, middle, height, _band(line, height)))
    small = [piece for line in every_line for piece in line if piece.height < WHOLE_HEIGHT * typical] + crumbs
    signs: dict[int, tuple[int, _Piece, str]] = {}  # id(piece) -> (the line it is punctuation of, piece, sign)
    for number, (line, (slant, middle, _, band)) in enumerate(zip(lines, measured)):
        if band is None or max(piece.height for piece in line) < WHOLE_HEIGHT * typical:
            continue
        for piece in line:
            _along(piece, slant, middle)
        for piece in {id(piece): piece for piece in [*line, *small]}.values():
            if id(piece) not in signs:
                sign = _punctuation(_along(piece, slant, middle), line, band)
                if sign:
                    signs[id(piece)] = (number, piece, sign)
    marks: list[Mark] = []
    line_number = 0
    for number, (line, (slant, middle, height, _)) in enumerate(zip(lines, measured)):
        line = [_along(piece, slant, middle) for piece in line if id(piece) not in signs]
        found = [
            (_along(piece, slant, middle), None, sign) for line_of, piece, sign in signs.values() if line_of == number
        ]
        if not line and not found:
            continue  # a line of punctuation alone, that another line took as its own
        characters = _characters(sorted(line, key=lambda piece: piece.left), height) if line else []
        characters = [character for character in characters if character.height >= NOT_A_CHARACTER * typical]
        if read is not None and characters:
            found = _signs_read_as_strokes(found, characters, ink, read)
            characters = _fragments_joined(characters, ink, height, read, pairs)
        parts: list[tuple[_Piece, np.ndarray | None, str]] = []
        for character in characters:
            parts += [(part, pair, "") for part, pair in _split(character, ink, height, read, pairs)]
        parts = sorted(parts + (found if punctuation else []), key=lambda part: part[0].left)
        if not parts:
            continue
        previous_right = None
        for part, pair, sign in parts:
            spaced = previous_right is not None and part.left - previous_right > SPACE * height
            marks.append(_mark(part, ink, line_number, spaced, pair, sign))
            previous_right = part.right
        line_number += 1
    return marks


def _signs_read_as_strokes(
    found: list[tuple[_Piece, None, str]], characters: list[_Piece], ink: np.ndarray, read: Read
) -> list[tuple[_Piece, None, str]]:
    """A line's punctuation, as shape and place tell it, and its characters -> the punctuation that
    is no stroke of a character: a dash or a comma the model reads the nearest character better with
    (its largest output; see ``Read``) is a stroke come apart from it (a 2's foot, a 3's top, a 5's
    flag), and joins it, in ``characters``, in place. Such strokes on bench/read_numbers' rows raised
    it by 0.6 to 13; real dashes and commas, in rows of MNIST digits drawn with them, lowered it by
    0.5 to 13. A dot is too small to change how a whole character reads much either way (-0.5 to
    +2.8): it joins one only when it raises it by ``DOT_GAIN`` (a broken digit's crumb, which its
    fragment reads far better with)."""
    kept = []
    for piece, pair, sign in found:
        # the characters either side of it, nearest first: a stroke may have come apart from either
        beside = sorted(range(len(characters)), key=lambda index: _distance(piece, characters[index]))[:2]
        joins = [characters[index].joined(piece) for index in beside]
        outputs = read([_crop(characters[index], ink) for index in beside] + [_crop(joined, ink) for joined in joins])
        sureness = outputs.max(axis=1)  # [alone..., together...]
        gains = sureness[len(beside) :] - sureness[: len(beside)]
        best = int(np.argmax(gains))
        if gains[best] >= (DOT_GAIN if sign == "." else 0.0):
            characters[beside[best]] = joins[best]
        else:
            kept.append((piece, pair, sign))
    return kept


def _along(piece: _Piece, slant: float, middle: float) -> _Piece:
    """The piece, its pixels' columns measured along a line's slant (``_slant``) through row ``middle``."""
    piece.along = piece.columns + slant * (piece.rows - middle)
    return piece


def _band(line: list[_Piece], height: float) -> tuple[float, float] | None:
    """A line's pieces and typical height -> (its characters' top, their baseline): the
    medians of its pieces at least ``WHOLE_HEIGHT`` of the line's height; None when it has none."""
    whole = [piece for piece in line if piece.height >= WHOLE_HEIGHT * height]
    if not whole:
        return None
    return float(np.median([piece.top for piece in whole])), float(np.median([piece.bottom for piece in whole]))


def _punctuation(piece: _Piece, line: list[_Piece], band: tuple[float, float]) -> str:
    """A small piece, the line it may belong to and the line's band (``_band``) -> ".", "," or "-"
    where the piece is one of those between two of the line's characters, by its shape and place;
    else "". Measured in the line's height from top to baseline, along the line's slant."""
    top, baseline = band
    height = baseline - top
    if height <= 0:
        return ""
    wide, tall = piece.width / height, piece.height / height
    if min(wide, tall) < SMALLEST_MARK or tall > max(COMMA, DOT, DASH_THIN) or wide > DASH[1]:
        return ""  # dust, or too big for any sign (most pieces: a character's)
    whole = [other for other in line if other.height >= WHOLE_HEIGHT * height]
    if len(whole) < 2:
        return ""
    # between two characters, and beside them rather than part of one
    if not (min(other.left for other in whole) < piece.left and piece.right < max(other.right for other in whole)):
        return ""
    distances = [_distance(piece, other) for other in whole]
    if min(distances) < SEPARATE * height or any(
        _overlap(piece.left, piece.right, other.left, other.right) > APART * piece.width and distance < CLEAR * height
        for other, distance in zip(whole, distances)
    ):
        return ""
    upper, lower = (piece.top - top) / height, (piece.bottom - baseline) / height  # lower: below the baseline
    if (
        DASH[0] <= wide <= DASH[1]
        and tall <= DASH_THIN
        and wide >= DASH_FLAT * tall
        and DASH_MIDDLE[0] <= (upper + tall / 2) <= DASH_MIDDLE[1]
    ):
        return "-"
    hanging = BELOW_BASELINE[0] <= lower <= BELOW_BASELINE[1] and 1 - COMMA_TOP[0] <= upper <= 1 + COMMA_TOP[1]
    if tall <= COMMA and wide <= DOT and tall >= COMMA_NARROW * wide and hanging:
        return ","
    round_enough = max(wide, tall) <= DOT_ROUND * min(wide, tall)
    if wide <= DOT and tall <= DOT and round_enough and upper >= LOW and abs(lower) <= ON_BASELINE:
        return "."
    return ""


def _broken_strokes_joined(pieces: list[_Piece]) -> tuple[list[_Piece], list[_Piece]]:
    """Pieces -> (the pieces with the crumbs of a stroke and those one just above the other joined,
    the crumbs left on their own).

    A thin, faint stroke (a 5's flag) can come out of the clean-up as a trail of crumbs, and a
    stroke broken across (a gap rubbed through a digit, a ruled line taken out) leaves pieces too
    little overlapping top to bottom to share a line of writing. Crumbs (pieces under ``CRUMB`` of
    the typical height each way) join the piece nearest them when it is less than ``BROKEN_GAP`` of
    that height away, and are set apart when none is (dust, or a dot: ``_punctuation`` tells).
    Then pieces overlapping left to right, less than ``BROKEN_GAP`` of the taller one's height apart
    top to bottom, are joined.
    """
    typical = _typical([piece.height for piece in pieces])
    pieces = sorted(pieces, key=lambda piece: -piece.rows.size)  # the biggest first: crumbs join them
    alone = []
    index = len(pieces) - 1
    while index >= 0 and len(pieces) > 1:
        crumb = pieces[index]
        if max(crumb.height, crumb.width) >= CRUMB * typical:
            index -= 1
            continue
        reach = BROKEN_GAP * typical  # only pieces whose box comes this near are measured
        distances = [
            _distance(crumb, other) if other is not crumb and _box_gap(crumb, other) <= reach else np.inf
            for other in pieces
        ]
        nearest = int(np.argmin(distances))
        if distances[nearest] <= BROKEN_GAP * typical:
            pieces[nearest] = pieces[nearest].joined(crumb)
        else:
            alone.append(crumb)
        del pieces[index]
        index = min(index, len(pieces) - 1)
    pieces = sorted(pieces, key=lambda piece: piece.top)
    joined = True
    while joined:
        joined = False
        for first in range(len(pieces)):
            for second in range(first + 1, len(pieces)):
                a, b = pieces[first], pieces[second]
                apart = max(a.top, b.top) - min(a.bottom, b.bottom)
                shared = _overlap(a.left, a.right, b.left, b.right)
                stacked = _overlap(a.top, a.bottom, b.top, b.bottom) <= SAME_LINE * min(a.height, b.height)
                if stacked and apart <= BROKEN_GAP * max(a.height, b.height) and shared > 0:
                    pieces[first] = a.joined(b)
                    del pieces[second]
                    joined = True
                    break
            if joined:
                break
    return pieces, alone


def _lines(pieces: list[_Piece]) -> list[list[_Piece]]:
    """The pieces grouped into lines of writing, top line first."""
    lines: list[list[_Piece]] = []
    for piece in sorted(pieces, key=lambda piece: -piece.height):  # the tallest pieces found the lines
        for line in lines:
            top, bottom = min(p.top for p in line), max(p.bottom for p in line)
            if _overlap(piece.top, piece.bottom, top, bottom) >= SAME_LINE * min(piece.height, bottom - top):
                line.append(piece)
                break
        else:
            lines.append([piece])
    return sorted(lines, key=lambda line: min(piece.top for piece in line))


def _slant(line: list[_Piece], ink: np.ndarray) -> float:
    """The shear that makes a line's strokes most upright: the one whose column sums of the
    sheared ink are most peaked (upright strokes pile their ink into few columns)."""
    rows = np.concatenate([piece.rows for piece in line])
    columns = np.concatenate([piece.columns for piece in line])
    weights = ink[rows, columns].astype(np.float64)
    best, best_peak = 0.0, -1.0
    for slant in SLANTS:
        along = np.rint(columns + slant * (rows - rows.mean())).astype(np.int64)
        sums = np.bincount(along - along.min(), weights=weights)
        peak = float(np.square(sums).sum())
        if peak > best_peak * (1 + 1e-9):  # a tie keeps the slant nearer upright, tried first
            best, best_peak = float(slant), peak
    return best


def _box_gap(a: _Piece, b: _Piece) -> float:
    """How far apart two pieces' boxes are (0 when they overlap): no two pixels are nearer."""
    across = max(
        0, max(int(a.columns.min()), int(b.columns.min())) - min(int(a.columns.max()), int(b.columns.max())) - 1
    )
    down = max(0, max(a.top, b.top) - min(a.bottom, b.bottom))
    return float(np.hypot(across, down))


def _gap(a: _Piece, b: _Piece) -> float:
    """How far apart two pieces are left to right, along the slant (0 when they overlap)."""
    return max(0.0, max(a.left, b.left) - min(a.right, b.right))


def _characters(line: list[_Piece], height: float) -> list[_Piece]:
    """A line's pieces (left to right) joined into characters. Pieces are strokes of one character
    when they overlap left to right by half the narrower one's width (a broken stroke, an i's dot),
    or lie one above the other close by (a 9's loop broken from its stem); a fragment (short and
    small) joins the character nearest to it (a 5's flag, a 4's broken arm). Characters written
    side by side stand on one baseline, so none of this joins them."""
    characters: list[_Piece] = []
    for piece in line:
        if characters:
            last = characters[-1]
            shared = _overlap(piece.left, piece.right, last.left, last.right)
            rows = _overlap(piece.top, piece.bottom, last.top, last.bottom)
            stacked = rows <= STACKED * min(piece.height, last.height) and _gap(piece, last) <= NEAR * height
            if shared >= SAME_CHARACTER * min(piece.width, last.width) or stacked:
                characters[-1] = last.joined(piece)
                continue
        characters.append(piece)
    typical = float(np.median([character.rows.size for character in characters]))
    index = 0
    while index < len(characters) and len(characters) > 1:
        piece = characters[index]
        if piece.height >= FRAGMENT_HEIGHT * height or piece.rows.size >= FRAGMENT_INK * typical:
            index += 1
            continue
        neighbours = [other for other in (index - 1, index + 1) if 0 <= other < len(characters)]
        nearest = min(neighbours, key=lambda other: _gap(piece, characters[other]))
        if _gap(piece, characters[nearest]) > NEAR * height:  # on its own: a dash, a dot
            index += 1
            continue
        characters[nearest] = characters[nearest].joined(piece)
        del characters[index]
        index = min(index, nearest)
    return characters


def _fragments_joined(
    characters: list[_Piece], ink: np.ndarray, height: float, read: Read, pairs: Pairs | None
) -> list[_Piece]:
    """Characters (left to right) with fragments joined to a neighbour where the model reads them
    better so: a digit cut in pieces by a ruled line's removal or a broken stroke, whose pieces lie
    neither one above the other nor mostly overlapping. A short character close to the next, or any
    two almost touching, are joined when the model would not read them as two
    (``_two_rather_than_one``)."""
    index = 0
    while index + 1 < len(characters):
        first, second = characters[index], characters[index + 1]
        short = min(first.height, second.height) < SHORT * height and _gap(first, second) <= NEAR * height
        joined = first.joined(second)
        if (short or _distance(first, second) <= CLOSE * height) and joined.width <= SURELY_TWO * height:
            whole, *parts = read([_crop(joined, ink), _crop(first, ink), _crop(second, ink)]).max(axis=1)
            # models/pairs knows digits side by side: a join as narrow as one character (a digit
            # split down the middle) is left to the reading model.
            wide_enough = joined.width > MAYBE_TWO * height
            two = float(pairs([_crop(joined, ink)])[0, DIGITS:].sum()) if pairs and wide_enough else None
            if not _two_rather_than_one(joined.width / height, whole, min(parts), two):
                characters[index : index + 2] = [joined]
                continue
        index += 1
    return characters


def _distance(a: _Piece, b: _Piece) -> float:
    """The shortest distance in px between two pieces' pixels (0 when they touch)."""
    top, left = min(a.top, b.top), int(min(a.columns.min(), b.columns.min()))
    bottom, right = max(a.bottom, b.bottom), int(max(a.columns.max(), b.columns.max())) + 1
    paper = np.ones((bottom - top, right - left), np.uint8)  # 0 where b's ink is
    paper[b.rows - top, b.columns - left] = 0
    return float(cv2.distanceTransform(paper, cv2.DIST_L2, 3)[a.rows - top, a.columns - left].min())


def _split(
    character: _Piece,
    ink: np.ndarray,
    height: float,
    read: Read | None,
    pairs: Pairs | None = None,
    part_of_pair: bool = False,
) -> list[tuple[_Piece, np.ndarray | None]]:
    """A mark cut into the characters it holds (itself alone when it is one), left to right, each with
    ``Mark.pair`` (what models/pairs read it and the next as, where they were one mark cut in two).
    ``height``: its line's typical character height; ``part_of_pair``: the mark is one side of a cut
    through what models/pairs read as two digits. ``pairs`` is only asked along with ``read``."""
    asks_pairs = read is not None and pairs is not None
    narrowest = PAIR_MAYBE_TWO if asks_pairs and not part_of_pair else MAYBE_TWO
    if character.width <= narrowest * height:
        return [(character, None)]
    whole = _crop(character, ink) if read is not None else None  # what the models are shown of the mark
    two = None
    if asks_pairs:
        read_as = pairs([whole])[0]  # [110]
        two = float(read_as[DIGITS:].sum())
        if character.width <= MAYBE_TWO * height and two < 0.5:  # narrow, and models/pairs sees one digit
            return [(character, None)]
        # A part of what models/pairs read as two digits is one of them, unless it reads two in that
        # part too (three touching) or it is far too wide for one
        if part_of_pair and character.width <= SURELY_TWO * height and two < PART_TWO:
            return [(character, None)]
    if read is None and character.width <= SURELY_TWO * height:
        return [(character, None)]  # without a model only a mark far too wide for one is cut: no cuts to try
    options = _cuts(character, ink, height)
    if not options:
        return [(character, None)]
    pair = None
    if read is None:
        left, right = options[0]  # the cut through the least ink
    else:
        crops = [whole] + [_crop(part, ink) for parts in options for part in parts]
        outputs = np.asarray(read(crops), np.float64)  # [1 + 2 * cuts, classes]: whole, left 1, right 1, ...
        sureness = outputs.max(axis=1)
        surer = np.minimum(sureness[1::2], sureness[2::2])  # [cuts]: how sure of each cut's less sure part
        best = int(np.argmax(surer))
        if two is not None and two >= 0.5:  # models/pairs reads two digits: which two chooses the cut
            assert outputs.shape[1] == DIGITS, "models/pairs helps only a model of the ten digits"
            pair = read_as[DIGITS:].reshape(DIGITS, DIGITS) / two
            best = _cut_chosen(outputs[1:], pair)
        if not _two_rather_than_one(character.width / height, float(sureness[0]), float(surer[best]), two):
            return [(character, None)]
        left, right = options[best]
    del options  # each level's cuts hold copies of the mark's pixels: free them before going deeper
    halves = pair is not None
    lefts, rights = _split(left, ink, height, read, pairs, halves), _split(right, ink, height, read, pairs, halves)
    if pair is not None and len(lefts) == len(rights) == 1:  # what was read as a pair is these two
        lefts = [(lefts[0][0], pair)]
    return lefts + rights


def _cut_chosen(part_outputs: np.ndarray, pair: np.ndarray) -> int:
    """Which cut to make in a mark that models/pairs reads as two touching digits, with ``pair``
    [10, 10] its probabilities of each (first, second), given the reading model's outputs for the
    cuts' parts, float [2 * cuts, 10] (left, right of each in turn): the cut whose parts the reading
    model reads most like a pair models/pairs sees, the largest
    log P(first, second) + log p(first | left part) + log p(second | right part)."""
    logs = log_softmax(part_outputs)
    prior = np.log(np.maximum(pair, FLOOR))
    fits = [float((prior + logs[2 * cut][:, None] + logs[2 * cut + 1][None, :]).max()) for cut in range(len(logs) // 2)]
    return int(np.argmax(fits))


def log_softmax(outputs: np.ndarray) -> np.ndarray:
    """float [n, classes] logits -> their log-probabilities, in the logits' own precision."""
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _two_rather_than_one(wide: float, whole: float, parts: float, two: float | None = None) -> bool:
    """Whether a mark that may hold two characters does: ``wide``, its width over its line's
    height; ``whole``, how sure the model is reading it as one character; ``parts``, how sure it
    is of the less sure of the two parts (sureness: the model's largest output, see ``Read``);
    ``two``, the probability models/pairs gives it of being two touching digits, if it was asked.

    A model trained on single characters reads two touching ones as one with a confident softmax
    (a "94" as a 4 at 99.99%), but its largest output stays far lower than for a character it
    knows, while the parts of a single character read poorly. Measured on marks from rows of
    MNIST digits (``synthetic.rows``), a wide mark is more likely two the wider it is, so the
    parts' advantage is weighed with the width. The log-odds of a model taught the difference,
    where there is one, are added to half of that: on 2,301 marks from rows of MNIST test digits
    this made 33 mistakes, where the rule alone made 79 (measured with models/pairs' forerunner,
    which told one from two and nothing else).
    """
    evidence = parts - whole + WIDTH_WEIGHT * (wide - 1.0)
    if two is not None:
        two = min(max(two, CERTAIN), 1 - CERTAIN)
        evidence = float(np.log(two / (1 - two))) + evidence / 2
    return evidence > 0.0


def _cuts(character: _Piece, ink: np.ndarray, height: float) -> list[tuple[_Piece, _Piece]]:
    """The ways to cut a wide mark in two, the one through the least ink first: from each of the
    deepest valleys of its column sums (along the slant), the path down through it that crosses
    the least ink (touching characters meet at a point; a straight cut would slice the strokes of
    one of them), leaving both parts at least ``NARROWEST_PART`` of the line's height wide."""
    start = int(np.floor(character.left))
    columns = np.floor(character.along).astype(np.int64) - start  # [n] pixel -> raster column
    rows = character.rows - character.top
    raster = np.zeros((character.height, int(columns.max()) + 1), np.float64)  # the mark, upright
    np.maximum.at(raster, (rows, columns), ink[character.rows, character.columns].astype(np.float64))
    sums = np.convolve(raster.sum(axis=0), np.ones(3) / 3, mode="same")  # a one-pixel dip is no valley
    narrowest = max(2, int(NARROWEST_PART * height))
    valleys = [
        column
        for column in range(narrowest, len(sums) - narrowest)
        if sums[column] <= sums[column - 1] and sums[column] <= sums[column + 1]
    ]
    valleys = sorted(valleys, key=lambda column: sums[column])[:VALLEYS_TRIED]
    step = max(1, int(CUT_STEP * height))  # where two characters overlap deeply there may be no valley
    starts = sorted(set(valleys) | set(range(narrowest, len(sums) - narrowest, step)))
    band = max(1, int(PATH_BAND * height))
    found, seen = [], set()
    paths, crossings = _least_ink_paths(raster, np.array(starts, np.int64), band)
    for path, crossed in zip(paths, crossings):
        left = columns < path[rows]
        if not left.any() or left.all() or min(np.ptp(columns[left]), np.ptp(columns[~left])) + 1 < narrowest:
            continue
        key = left.tobytes()
        if key in seen:  # another start that found the same path
            continue
        seen.add(key)
        found.append((float(crossed), character.part(left), character.part(~left)))
    found.sort(key=lambda option: option[0])
    return [(left, right) for _, left, right in found]


def _least_ink_paths(raster: np.ndarray, starts: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray]:
    """float [h, w] ink and columns [s] -> (int [s, h]: for each start, the column a path from top to
    bottom passes in each row, moving at most one column a row and staying within ``band`` columns
    of its start; float [s]: the ink each crosses): the paths crossing the least ink, by dynamic
    programming, many starts at once (a mark as wide as a row of digits is tried from hundreds).
    Of equal paths, the one leftmost at the bottom, and above that the one coming from the left."""
    height, width = raster.shape
    chunk = max(1, PATH_CELLS // (height * (2 * band + 1)))  # starts at a time: bounded memory
    if len(starts) > chunk:
        found = [
            _least_ink_paths(raster, starts[first : first + chunk], band) for first in range(0, len(starts), chunk)
        ]
        return np.concatenate([paths for paths, _ in found]), np.concatenate([crossed for _, crossed in found])
    window = starts[:, None] + np.arange(-band, band + 1)[None, :]  # [s, b] picture columns a path may take
    outside = (window < 0) | (window >= width)  # no path goes there
    window = np.clip(window, 0, width - 1)
    total = np.where(outside, np.inf, raster[0, window])  # [s, b] the least ink on a path to here
    came = np.zeros((height, *window.shape), np.int8)  # [h, s, b] where each came from: -1 left, 0 above, 1 right
    edge = np.full((len(starts), 1), np.inf)
    for row in range(1, height):
        # [3, s, b]: the path so far coming from the column to the left, straight above, to the right
        choices = np.stack([np.hstack([edge, total[:, :-1]]), total, np.hstack([total[:, 1:], edge])])
        move = choices.argmin(axis=0)  # [s, b] the first of equals: left, then above, then right
        total = np.where(outside, np.inf, raster[row, window]) + np.take_along_axis(choices, move[None], axis=0)[0]
        came[row] = move - 1
    paths = np.zeros((len(starts), height), np.int64)  # [s, h] in the window's columns
    paths[:, -1] = total.argmin(axis=1)
    every = np.arange(len(starts))
    for row in range(height - 1, 0, -1):
        paths[:, row - 1] = paths[:, row] + came[row, every, paths[:, row]]
    paths += starts[:, None] - band  # in the picture's columns
    crossed = raster[np.arange(height)[None, :], paths].sum(axis=1)  # [s]
    return paths, crossed


def _crop(piece: _Piece, ink: np.ndarray) -> np.ndarray:
    """uint8 [h, w]: the piece's own ink, cropped to it, with nothing of its neighbours."""
    top, left = piece.top, int(piece.columns.min())
    crop = np.zeros((piece.bottom - top, int(piece.columns.max()) + 1 - left), np.uint8)
    crop[piece.rows - top, piece.columns - left] = ink[piece.rows, piece.columns]
    return crop


def _mark(
    piece: _Piece, ink: np.ndarray, line: int, space_before: bool, pair: np.ndarray | None = None, punctuation: str = ""
) -> Mark:
    """A found character as a ``Mark``, with its soft edge (the faint ink round its strokes) back."""
    crop = _crop(piece, ink)
    top, left = piece.top, int(piece.columns.min())
    # The faint pixels round the strokes were left out of the pieces (below INK_LEVEL): give each
    # character those next to its own strokes, so it is framed with MNIST's soft edges.
    own = cv2.dilate((crop > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    window = ink[top : top + crop.shape[0], left : left + crop.shape[1]]
    crop = np.where((own > 0) & (crop == 0) & (window < INK_LEVEL * int(ink.max())), window, crop).astype(np.uint8)
    return Mark(top, piece.bottom, left, left + crop.shape[1], crop, line, space_before, pair, punctuation)
