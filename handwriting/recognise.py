"""Recognise handwriting in people's pictures: find the files, prepare them, ask a model.

``infer.py`` is a thin command line over this module; a notebook can call it directly:

    from handwriting.backends import make_backend
    from handwriting.recognise import recognise
    backend = make_backend("auto")  # models/cnn, run from models/cnn.onnx
    for result in recognise(["work/example_0.png"], backend):
        print(result.path, result.label, result.confidence)

The ways to run a model (Paddle, Paddle Inference, onnxruntime, NumPy) are the small registry in
``handwriting.backends``; everything here works the same with any of them.
"""

from __future__ import annotations

import collections
import functools
import glob
import multiprocessing
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from handwriting.errors import UserError, describe_os_error, one_line
from handwriting.preprocess import (
    MNIST_SIZE,
    PREPROCESSORS,
    PictureError,
    normalize,
    read_picture,
    read_picture_bytes,
    shrunk,
)
from handwriting.preprocess.frame import FRAMINGS, frame_mnist
from handwriting.preprocess.marks import FLOOR, find_marks, may_be_several, one_long_stroke, typical_height
from handwriting.preprocess.read import WORKING_SIDE
from handwriting.preprocess.recipes import ink_of, ink_of_row
from handwriting.runtime import available_cores

# ----------------------------------------------------------------------------- finding inputs


def picture_suffixes() -> frozenset[str]:
    """File name endings Pillow can open (``.png``, ``.jpg``, ``.webp``, …), lower case."""
    from PIL import Image

    return frozenset(suffix.lower() for suffix in Image.registered_extensions())


@dataclass
class Item:
    """One input: a picture's path, or an argument that gave no picture and why."""

    path: str
    error: str | None = None


def collect(arguments: Sequence[str]) -> list[Item]:
    """Files, directories (their pictures, recursively, sorted) and globs -> the items to read.

    A file is taken whatever its name (Pillow decides what it is); a directory contributes the
    files whose suffix Pillow knows. An argument that yields nothing, and each folder or file
    met on the way that cannot be read, becomes an item with an error, so the caller can report
    it beside the results of the rest.
    """
    suffixes = picture_suffixes()
    items: list[Item] = []
    for argument in arguments:
        items += _collect_one(argument, suffixes)
    return items


def _collect_one(argument: str, suffixes: frozenset[str]) -> list[Item]:
    """One command-line argument -> its items (see ``collect``)."""
    try:
        status = os.stat(argument)
    except (FileNotFoundError, NotADirectoryError):
        if any(character in argument for character in "*?["):
            matches = sorted(name for name in glob.glob(argument, recursive=True) if os.path.isfile(name))
            return [Item(name) for name in matches] or [Item(argument, "no files match this pattern")]
        return [Item(argument, "no such file or directory")]
    except OSError as error:  # a folder on the way that may not be searched, a name too long ...
        return [Item(argument, f"cannot read it: {describe_os_error(error)}")]
    except ValueError:  # os.stat's word for a path with a NUL character in it
        return [Item(argument, "not a valid path (it holds a NUL character)")]
    if stat.S_ISDIR(status.st_mode):
        return _pictures_in(argument, suffixes) or [Item(argument, "directory with no pictures in it")]
    return [Item(argument)]  # a named pipe or a device too: read_picture refuses it in words


def _pictures_in(folder: str, suffixes: frozenset[str]) -> list[Item]:
    """The pictures under ``folder``, recursively, sorted; hidden files and folders (.git,
    .ipynb_checkpoints) are not the user's pictures. Each folder or picture that cannot be read
    is an item with an error in its place (a plain ``rglob`` would skip it without a word)."""
    top = str(Path(folder))  # "work/" and "./work" name their pictures "work/..."
    items: list[Item] = []

    def unreadable_folder(error: OSError) -> None:
        items.append(Item(error.filename or top, f"cannot read this folder: {describe_os_error(error)}"))

    for parent, folders, files in os.walk(top, onerror=unreadable_folder):
        folders[:] = [name for name in folders if not name.startswith(".")]  # not walked into
        for name in files:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in suffixes:
                continue
            path = os.path.join(parent, name)
            try:
                os.stat(path)  # follows a symbolic link: is there anything at its end?
            except FileNotFoundError:  # a broken symbolic link, or gone since the folder was listed
                if os.path.islink(path):
                    items.append(Item(path, "a symbolic link to a file that does not exist"))
                continue
            except OSError as error:
                items.append(Item(path, f"cannot read it: {describe_os_error(error)}"))
                continue
            # A named pipe or device with a picture's name: read_picture says what it is, in its line.
            items.append(Item(path))
    return sorted(items, key=lambda item: item.path)


# ----------------------------------------------------------------------------- recognising


@dataclass
class Result:
    """What the model read in one picture, or why it could not."""

    path: str
    label: str | None = None
    confidence: float | None = None  # softmax probability of ``label``; None for regression models
    topk: list[tuple[str, float | None]] = field(default_factory=list)
    error: str | None = None
    frame: np.ndarray | None = None  # uint8 [28, 28]: what the model saw (one character)
    thumbnail: np.ndarray | None = None  # uint8 grey, at most 128 px: the picture as read
    # Several characters: each one read (``label`` is their text, ``confidence`` the least sure; for
    # a digit model, each character's is the reading model's and models/pairs' together, see
    # ``_read_with_pairs``), and the cleaned ink they were found in (their boxes are in its pixels).
    characters: list[Character] = field(default_factory=list)
    ink: np.ndarray | None = None
    warning: str | None = None  # read as one character, though the picture seems to hold several

    def as_json(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        answer = {"path": self.path, "label": self.label, "confidence": self.confidence, "topk": self.topk}
        if self.characters:
            answer["characters"] = [character.as_json() for character in self.characters]
        if self.warning:
            answer["warning"] = self.warning
        return answer


@dataclass
class Character:
    """One of several characters read in a picture."""

    label: str
    confidence: float | None  # None for regression models
    topk: list[tuple[str, float | None]]
    frame: np.ndarray  # uint8 [28, 28]: what the model saw (punctuation: its ink framed alike, for --show)
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the cleaned ink's pixels
    line: int  # which line of writing, from the top
    space_before: bool  # a wide gap before it: a space between words
    punctuation: bool = False  # a dot, comma or dash told by its shape and place: no model read it

    def as_json(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "topk": self.topk, "line": self.line}


def text_of(characters: Sequence[Character]) -> str:
    """The characters as text: a space where a wide gap was, a new line between lines of writing.
    A class named as a letter's two cases ("a/A", EMNIST letters') is written as its capital; one
    named with more than a character, in brackets."""
    text = ""
    for index, character in enumerate(characters):
        if index and character.line != characters[index - 1].line:
            text += "\n"
        elif character.space_before:
            text += " "
        label = character.label
        if len(label) == 3 and label[1] == "/" and label[0].lower() == label[2].lower():
            label = label[2]
        text += label if len(label) == 1 else f"[{label}]"
    return text


def prepare(path: str | bytes, preprocess: str = "mnist", keep_thumbnail: bool = False):
    """Read one picture (a path, or the picture's bytes) and turn it into the model's 28x28 frame
    -> (frame, thumbnail, error): the picture read as one character (``prepare_reading`` also
    looks for several)."""
    prepared = prepare_reading(path, preprocess, keep_thumbnail, several=False)
    return prepared.frame, prepared.thumbnail, prepared.error


class Prepared(NamedTuple):
    """A picture read and cleaned up, ready for the model; or why it could not be."""

    frame: np.ndarray | None  # uint8 [28, 28]: the picture read as one character
    thumbnail: np.ndarray | None
    error: str | None
    row_ink: np.ndarray | None = None  # uint8 [h, w]: it seems to hold several characters; their ink


# The framings of handwriting, where a picture may hold several characters (a photo of clothes is one);
# the tutorial's naive recipe reads a picture as one, but says when it holds several.
READS_SEVERAL = ("mnist", "emnist")
COUNTS_SEVERAL = (*READS_SEVERAL, "naive")


def prepare_reading(
    path: str | bytes, preprocess: str = "mnist", keep_thumbnail: bool = False, several: bool = True
) -> Prepared:
    """Read one picture (a path, or the picture's bytes) and prepare it for the model -> ``Prepared``.

    The picture is always framed as one character, exactly as before. With ``several`` (and a recipe
    for handwriting: ``COUNTS_SEVERAL``), its marks are also found (``marks.find_marks``); when they
    may be several characters (``marks.may_be_several``: clearly several, or one mark wider than
    3/4 of its height, which may be characters touching all along; never one long stroke, a dash), their ink
    comes along, cleaned at a size that suits a row of them, for ``read_characters`` to cut apart
    and read with the model (or, for ``--single`` and the naive recipe, to count them for a warning).

    The one place a picture is read and prepared, and so where one picture's trouble stops: a
    ``PictureError`` becomes that picture's error, and so does anything else raised on the way —
    a bug in our preprocessing, reported as one (with its exception) while the rest of the batch
    is still read. The fuzz tests call the preprocessing directly, where such bugs still raise.
    """
    try:
        grey = read_picture_bytes(path) if isinstance(path, bytes) else read_picture(path)
        thumbnail = shrunk(grey, 128) if keep_thumbnail else None  # for --show
        if preprocess not in READS_SEVERAL:
            frame = PREPROCESSORS[preprocess](grey)
            if not several or preprocess not in COUNTS_SEVERAL:
                return Prepared(frame, thumbnail, None)
            try:
                ink = ink_of(grey)  # the naive recipe has no clean-up of its own to count characters in
            except PictureError:
                return Prepared(frame, thumbnail, None)
        else:
            ink = ink_of(grey)
            frame = FRAMINGS[preprocess](ink)  # as PREPROCESSORS[preprocess](grey) does
        if not several:
            return Prepared(frame, thumbnail, None)
        # A drawing keeps its size (a photo's ink is a reduced copy already): a huge one is looked
        # through for characters on a copy no longer than a photo is worked on, or cutting its
        # characters apart takes minutes and gigabytes.
        ink = shrunk(ink, WORKING_SIDE)
        if one_long_stroke(ink):  # a dash or a line: asked first, as finding marks would slice it thin
            return Prepared(frame, thumbnail, None)
        marks = find_marks(ink)
        if not may_be_several(marks):
            return Prepared(frame, thumbnail, None)
        return Prepared(frame, thumbnail, None, ink_of_row(grey, ink, typical_height(marks)))
    except PictureError as error:
        return Prepared(None, None, str(error))
    except OSError as error:
        return Prepared(None, None, f"cannot read it: {describe_os_error(error)}")
    except Exception as error:  # one picture's bug must not end the batch (see above)
        bug = f"{type(error).__name__}: {one_line(error)}"
        return Prepared(
            None, None, f"could not be prepared: a bug in handwriting ({bug}); please report it with this picture"
        )


def read_characters(ink: np.ndarray, backend, framing: str = "mnist", topk: int = 1) -> list[Character]:
    """uint8 ink [h, w] holding several characters -> each one read, in reading order.

    ``marks.find_marks`` finds them; where a mark may be two touching characters, how sure the model
    is of the whole and of the parts decides whether it is cut (a regression model cannot say: only
    marks far too wide for one character are cut). A model of MNIST digits is helped by
    ``models/pairs``, which was taught digits as they are written in a row, alone and two touching:
    it says whether a mark is two and where to cut it, and its reading is taken with the model's own
    (``_read_with_pairs``); then ``models/lines``, which reads a whole line at once, checks each line
    of two or more marks and replaces its reading where it is far surer of its own (``_line_checked``).
    """
    frame = FRAMINGS[framing]

    def outputs(crops: list[np.ndarray]) -> np.ndarray:  # [n, classes] logits (marks.Read says why)
        return backend.outputs(normalize(np.stack([frame(crop) for crop in crops]))[:, None])

    helper = pairs_helper(backend, framing)

    def pair_probabilities(crops: list[np.ndarray]) -> np.ndarray:  # [n, 110] (marks.Pairs)
        return helper.probabilities(np.stack([frame_mnist(crop) for crop in crops]))

    found = find_marks(
        ink,
        read=outputs if backend.has_confidence else None,
        pairs=pair_probabilities if helper is not None else None,
        punctuation=True,
    )
    marks = [mark for mark in found if not mark.punctuation]
    if not marks:
        return []
    frames = np.stack([frame(mark.ink) for mark in marks])
    probabilities = backend.probabilities(frames)
    if helper is not None:
        probabilities = _read_with_pairs(probabilities, helper.probabilities(frames), [mark.pair for mark in marks])
    characters = []
    for mark, row, picture in zip(marks, probabilities, frames):
        read = _result("", row, backend.classes, backend.has_confidence, topk, picture, None)
        box = (mark.left, mark.top, mark.right, mark.bottom)
        characters.append(Character(read.label, read.confidence, read.topk, picture, box, mark.line, mark.space_before))
    reader = line_reader_for(backend, framing)
    if reader is not None:
        characters = [
            character
            for line in sorted({mark.line for mark in marks})
            for character in _line_checked(
                [mark for mark in marks if mark.line == line],
                [character for character in characters if character.line == line],
                frame,
                reader,
                topk,
            )
        ]
    # Dots, commas and dashes between the characters, told by their shape and place: no model reads
    # them (no confidence, no runners-up). Each goes in its place in its line: among the marks as
    # find_marks ordered them (along the line's slant), or, where the line reader cut the line anew,
    # by the middles of the boxes.
    place = {id(mark): index for index, mark in enumerate(found)}
    placed = []
    for line in sorted({mark.line for mark in marks}):
        of_line = [mark for mark in marks if mark.line == line]
        read = [character for character in characters if character.line == line]
        signs = [(mark, _sign(mark, of_line)) for mark in found if mark.line == line and mark.punctuation]
        if len(read) == len(of_line):
            keyed = [(place[id(mark)], character) for mark, character in zip(of_line, read)]
            keyed += [(place[id(mark)], sign) for mark, sign in signs]
        else:
            keyed = [((character.box[0] + character.box[2]) / 2, character) for character in read]
            keyed += [((sign.box[0] + sign.box[2]) / 2, sign) for _, sign in signs]
        placed += [character for _, character in sorted(keyed, key=lambda pair: pair[0])]
    return placed


SIGN_BOX = 20  # px: a line's characters are this tall in a frame (MNIST's box); a sign is drawn to scale


def _sign(mark, characters: list) -> Character:
    """A mark of punctuation (``Mark.punctuation``) and its line's other marks -> it as a character
    no model read, its frame (for --show) drawn at the size and height it has beside the characters,
    not blown up to fill the box as a character's is."""
    import cv2

    top = float(np.median([other.top for other in characters]))
    height = max(1.0, float(np.median([other.bottom - other.top for other in characters])))
    scale = SIGN_BOX / height
    rows, columns = mark.ink.shape
    small = cv2.resize(
        mark.ink, (max(1, round(columns * scale)), max(1, round(rows * scale))), interpolation=cv2.INTER_AREA
    )
    small = small[:MNIST_SIZE, :MNIST_SIZE]
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    down = int(np.clip(round((MNIST_SIZE - SIGN_BOX) / 2 + (mark.top - top) * scale), 0, MNIST_SIZE - small.shape[0]))
    across = (MNIST_SIZE - small.shape[1]) // 2
    frame[down : down + small.shape[0], across : across + small.shape[1]] = small
    box = (mark.left, mark.top, mark.right, mark.bottom)
    return Character(mark.punctuation, None, [], frame, box, mark.line, mark.space_before, punctuation=True)


# nats: the line reader's own reading of a line replaces the one cut and read character by character
# when the reader finds it this much likelier than the cut one (e^3, 20 times). Set on seeds 0-1 of
# bench/read_numbers.py, where 2 to 5 gave within 4 rows of 1,000 of each other.
SWITCH = 3.0


def line_reader_for(backend, framing: str = "mnist"):
    """The line reader (``handwriting.lines``) where it can check ``backend``'s reading of several
    characters framed as ``framing``: where models/pairs can help (a classifier of MNIST digits);
    else None."""
    from handwriting.lines import line_reader

    return line_reader() if pairs_helper(backend, framing) is not None else None


def _line_checked(marks: list, characters: list[Character], frame, reader, topk: int = 1) -> list[Character]:
    """One line's marks and their characters as cut and read -> its characters, the line reader's
    reading in their place where it finds its own reading ``SWITCH`` likelier than theirs (CTC's
    log-likelihood of each text). With as many characters as marks, each keeps its mark's box and
    frame; else the line is cut between the middles of the reader's characters (and where that
    leaves a character no ink of its own, the cut reading stays). A line of one mark is left as it
    is: a picture of one character reads exactly as it did without the reader. Each character the
    reader gives has its probability given the rest of the line (``LineReading.probabilities``)."""
    from handwriting.lines import CLASSES, read_line

    if len(marks) < 2:
        return characters
    reading = read_line(_line_ink(marks, straightened=True)[0], reader)
    cut = "".join(character.label for character in characters)
    if reading is None or reading.text == cut or not reading.text:
        return characters
    if reading.log_likelihood(reading.text) - reading.log_likelihood(cut) <= SWITCH:
        return characters
    probabilities = reading.probabilities()  # [n, classes]
    confidences = [round(float(row[CLASSES.index(label)]), 6) for row, label in zip(probabilities, reading.text)]
    ranked = [np.argsort(-row, kind="stable")[:topk] for row in probabilities]
    topks = [[(CLASSES[i], round(float(row[i]), 6)) for i in order] for row, order in zip(probabilities, ranked)]
    line = characters[0].line
    if len(reading.text) == len(characters):
        return [
            Character(label, confidence, top, character.frame, character.box, line, character.space_before)
            for label, confidence, top, character in zip(reading.text, confidences, topks, characters)
        ]
    ink, left, top = _line_ink(marks)  # as written, for the boxes
    middles = reading.columns  # the straightened ink has the same columns: its marks only moved up or down
    edges = np.clip([0, *[(a + b) / 2 for a, b in zip(middles, middles[1:])], ink.shape[1]], 0, ink.shape[1])
    edges = np.maximum.accumulate(np.round(edges).astype(int))
    read = []
    for index, label in enumerate(reading.text):
        start, end = edges[index], edges[index + 1]
        rows = np.flatnonzero(ink[:, start:end].max(axis=1)) if end > start else []
        if not len(rows):  # the reader put a character where there is no ink: keep what was cut
            return characters
        crop = ink[rows[0] : rows[-1] + 1, start:end]
        spaced = any(mark.space_before and start <= mark.left - left < end for mark in marks)
        box = (left + int(start), top + int(rows[0]), left + int(end), top + int(rows[-1]) + 1)
        read.append(Character(label, confidences[index], topks[index], frame(crop), box, line, spaced))
    return read


# a line whose marks' middles climb or fall less than this per px across (3 degrees) is level: its
# baseline's wander is the writer's, as in the lines the reader learned from, and is left as it is
LEVEL = 0.05


def _line_ink(marks: list, straightened: bool = False) -> tuple[np.ndarray, int, int]:
    """One line's marks -> (uint8 ink [h, w] of them alone, cropped to them, its left and top in the
    picture). ``straightened``: each mark moved up or down onto the straight line through the
    marks' middles, so that a row written or photographed at an angle is level for the line reader
    (which learned level rows, scaled to the line's whole height: at 10 degrees a six-digit row's
    digits would shrink to half)."""
    middles = np.array([[(mark.left + mark.right) / 2, (mark.top + mark.bottom) / 2] for mark in marks])
    shifts = np.zeros(len(marks), int)
    if straightened and np.ptp(middles[:, 0]) > 0:
        slope = np.polyfit(middles[:, 0], middles[:, 1], 1)[0]
        if abs(slope) > LEVEL:
            shifts = np.round(-slope * (middles[:, 0] - middles[:, 0].mean())).astype(int)
    left, right = min(mark.left for mark in marks), max(mark.right for mark in marks)
    top = min(mark.top + shift for mark, shift in zip(marks, shifts))
    bottom = max(mark.bottom + shift for mark, shift in zip(marks, shifts))
    ink = np.zeros((bottom - top, right - left), np.uint8)
    for mark, shift in zip(marks, shifts):
        region = ink[mark.top + shift - top : mark.bottom + shift - top, mark.left - left : mark.right - left]
        np.maximum(region, mark.ink, out=region)
    return ink, left, top


HELPER_WEIGHT = 0.5  # how much models/pairs' reading of a digit counts beside the reading model's (log space)


def _read_with_pairs(probabilities: np.ndarray, helper: np.ndarray, cut_pairs: list[np.ndarray | None]) -> np.ndarray:
    """The reading model's probabilities for each character, float [n, 10], taken together with
    models/pairs' ``helper`` [n, 110] (its first 10: the character read as one digit alone) as two
    opinions: their product, models/pairs' raised to ``HELPER_WEIGHT``, normalised; where
    models/pairs sees two digits in a character that was not cut, its reading as one digit says
    little, and the reading model's stands alone. Where a mark read as two touching digits was cut
    into two characters, ``cut_pairs[i]`` [10, 10] is what models/pairs read the pair as, and the
    two characters' readings are the marginals of (pair) x (the reading model's first) x (its
    second): a cut that left a stroke of one digit on the other cannot then turn the pair into one
    models/pairs did not see. -> float [n, 10], each row summing to 1."""
    digits = probabilities.shape[1]
    logs = np.log(np.maximum(probabilities, FLOOR))  # [n, 10]
    alone = helper[:, :digits].sum(axis=1) >= 0.5  # [n]: models/pairs reads a digit alone
    # the two models learned from the same digits, so their opinions are not independent: the
    # helper's counts half (at full weight, two sure readings multiplied showed as 100%)
    logs[alone] += HELPER_WEIGHT * np.log(np.maximum(helper[alone, :digits], FLOOR))
    for index, pair in enumerate(cut_pairs):
        if pair is None:
            continue
        assert index + 1 < len(cut_pairs), "a cut pair's first character is never the last"
        # models/pairs has had its say on the two as a pair: its reading of each part alone (a part
        # of what it saw) would count it twice
        reader = np.log(np.maximum(probabilities[index : index + 2], FLOOR))  # [2, 10]
        joint = np.log(np.maximum(pair, FLOOR)) + reader[0][:, None] + reader[1][None, :]  # [first, second]
        joint = np.exp(joint - joint.max())
        logs[index] = np.log(np.maximum(joint.sum(axis=1), FLOOR))
        logs[index + 1] = np.log(np.maximum(joint.sum(axis=0), FLOOR))
    read = np.exp(logs - logs.max(axis=1, keepdims=True))
    return read / read.sum(axis=1, keepdims=True)


PARALLEL_FROM = 64  # infer.py starts workers from this many pictures: starting them costs ~0.3 s


def start_workers(count: int | None = None) -> ProcessPoolExecutor:
    """Start ``count`` processes (default: one per core) that read and prepare pictures.

    They start at once and load NumPy and OpenCV while the caller loads Paddle and the model.
    "spawn" gives fresh interpreters, never a copy of a process with Paddle's threads running.
    Pass the pool to ``recognise`` and shut it down when done (or use it in a ``with``).
    """
    count = count or available_cores()
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=_worker_setup)
    for _ in range(count):  # processes start on demand: ask for all of them now
        pool.submit(_worker_ready)
    return pool


def recognise(
    items: Iterable[Item | str],
    backend,
    preprocess: str = "auto",
    topk: int = 1,
    batch_size: int = 256,
    pool: ProcessPoolExecutor | None = None,
    keep_pictures: bool = False,
    single: bool = False,
) -> Iterator[Result]:
    """Yield one ``Result`` per item, in order; bad pictures give a ``Result`` with ``error``.

    A picture holding several characters is read as all of them (``Result.characters``), unless
    ``single``: then it is read as one, with a warning that it seems to hold several.

    Pictures are read and prepared ``batch_size`` at a time and each batch goes through the
    model in one call. Given a ``pool`` (``start_workers()``), its processes prepare the next
    batches while the model reads the current one: cleaning a photo is a few milliseconds of
    small NumPy and OpenCV calls, too short for threads to overlap under the GIL. (Processes are
    the caller's choice: a script that starts them needs the ``if __name__ == "__main__":`` guard.)
    """
    if preprocess == "auto":  # the framing of the data the model learned from (its card says)
        preprocess = getattr(backend, "framing", "mnist")
    if preprocess not in PREPROCESSORS:
        raise UserError(f"unknown --preprocess {preprocess!r}; choose auto or one of: {', '.join(PREPROCESSORS)}")
    items = [item if isinstance(item, Item) else Item(str(item)) for item in items]
    prepare_one = functools.partial(_prepare_item, preprocess=preprocess, keep_pictures=keep_pictures)
    batches = [items[start : start + batch_size] for start in range(0, len(items), batch_size)]
    if pool is None:
        for batch in batches:
            yield from _recognised(batch, [prepare_one(item) for item in batch], backend, topk, preprocess, single)
        return
    chunk = max(1, min(32, batch_size // 8))
    pending = collections.deque(pool.map(prepare_one, batch, chunksize=chunk) for batch in batches[:2])
    for number, batch in enumerate(batches):  # two batches in flight while the model runs
        prepared = list(pending.popleft())
        if number + 2 < len(batches):
            pending.append(pool.map(prepare_one, batches[number + 2], chunksize=chunk))
        yield from _recognised(batch, prepared, backend, topk, preprocess, single)


PAIRS_MODEL = Path(__file__).resolve().parent.parent / "models" / "pairs.pdparams"


@functools.lru_cache(maxsize=1)
def pairs_model():
    """``models/pairs`` (a digit alone, or two touching, and which: ``synthetic/pairs.py``), run by
    the first backend that has it (its NumPy export needs nothing but NumPy); None when it cannot be
    loaded, and touching digits are then told apart by the reading model alone."""
    from handwriting.backends import make_backend

    try:
        return make_backend("auto", PAIRS_MODEL, threads=1)
    except UserError:
        return None


def pairs_helper(backend, framing: str = "mnist"):
    """``models/pairs`` where it can help ``backend`` read several characters framed as ``framing``:
    a classifier of MNIST-framed digits, the characters models/pairs learned from; else None."""
    digits = framing == "mnist" and list(backend.classes) == [str(digit) for digit in range(10)]
    return pairs_model() if digits and backend.has_confidence else None


def read_prepared(prepared: Prepared, backend, topk: int = 1, path: str = "") -> Result:
    """One picture prepared by ``prepare_reading`` with the model's own framing (an upload's bytes,
    say) -> its ``Result``, read exactly as ``recognise`` reads a file: all its characters where it
    holds several."""
    preprocess = getattr(backend, "framing", "mnist")
    return next(_recognised([Item(path)], [prepared], backend, topk, preprocess, single=False))


def _recognised(
    batch: list[Item], prepared: list[Prepared], backend, topk: int, preprocess: str, single: bool
) -> Iterator[Result]:
    """Run the model on the prepared frames of one batch; one ``Result`` per item, in order. A picture
    holding several characters is read as all of them, unless ``single`` or a recipe that reads a
    picture as one (``--preprocess naive``): then its one answer carries a warning saying so."""
    # The characters are framed as the recipe says, or (naive has no framing) as the model's data was.
    framing = preprocess if preprocess in READS_SEVERAL else getattr(backend, "framing", "mnist")
    good = [index for index, reading in enumerate(prepared) if reading.frame is not None]
    probabilities = backend.probabilities(np.stack([prepared[i].frame for i in good])) if good else None
    rows = dict(zip(good, range(len(good))))
    for index, item in enumerate(batch):
        reading = prepared[index]
        if reading.error is not None:
            yield Result(item.path, error=reading.error, thumbnail=reading.thumbnail)
            continue
        characters = []
        if reading.row_ink is not None and framing in READS_SEVERAL:
            try:
                characters = read_characters(reading.row_ink, backend, framing, topk)
            except Exception as error:  # one picture's bug must not end the batch (as in prepare_reading)
                bug = f"{type(error).__name__}: {one_line(error)}"
                message = f"could not be read: a bug in handwriting ({bug}); please report it with this picture"
                yield Result(item.path, error=message, thumbnail=reading.thumbnail)
                continue
        if len(characters) >= 2 and not single and preprocess in READS_SEVERAL:
            least = [character.confidence for character in characters if not character.punctuation]
            yield Result(
                item.path,
                text_of(characters),
                None if None in least else min(least),
                thumbnail=reading.thumbnail,
                characters=characters,
                ink=reading.row_ink,
            )
            continue
        row = probabilities[rows[index]]
        result = _result(
            item.path, row, backend.classes, backend.has_confidence, topk, reading.frame, reading.thumbnail
        )
        if len(characters) >= 2:  # read as one all the same: say so
            why = "--single" if single else f"--preprocess {preprocess}"
            count = sum(not character.punctuation for character in characters)
            result.warning = f"it holds {count} characters, read as one ({why}); without it all are read"
        yield result


def _worker_setup() -> None:
    """One thread per worker process: the processes already keep every core busy."""
    import cv2

    cv2.setNumThreads(1)


def _worker_ready() -> bool:
    return True


def _prepare_item(item: Item, preprocess: str, keep_pictures: bool) -> Prepared:
    if item.error is not None:
        return Prepared(None, None, item.error)
    return prepare_reading(item.path, preprocess, keep_pictures)


def _result(path, probabilities: np.ndarray, classes, has_confidence: bool, topk: int, frame, thumbnail) -> Result:
    if not has_confidence:  # regression baseline: a class, no probability
        label = classes[int(probabilities.argmax())]
        return Result(path, label, None, [(label, None)], frame=frame, thumbnail=thumbnail)
    order = np.argsort(-probabilities, kind="stable")[:topk]
    ranked = [(classes[i], round(float(probabilities[i]), 6)) for i in order]
    return Result(path, ranked[0][0], ranked[0][1], ranked, frame=frame, thumbnail=thumbnail)


def save_frames(results: Iterable[Result], directory: str | os.PathLike) -> int:
    """Write each result's 28x28 frame as ``<directory>/<picture name>.png`` (a picture of several
    characters: each one's as ``<picture name>-1.png``, ``-2.png`` …); return how many.

    Names are made unique (``7.png``, ``7~2.png``, …) when pictures from different folders share
    one (``~``, as ``-`` numbers characters); each file is written atomically.
    """
    import cv2

    from handwriting.atomic import write_bytes

    directory = Path(directory)
    used: set[str] = set()
    count = 0
    for result in results:
        stem = Path(result.path).stem or "picture"
        name, number = stem, 1
        while True:  # a name none of whose files another picture's took (n.png, or n-1.png, n-2.png ...)
            if result.characters:
                read = [character for character in result.characters if not character.punctuation]  # what a model saw
                frames = {f"{name}-{i}.png": character.frame for i, character in enumerate(read, 1)}
            else:
                frames = {f"{name}.png": result.frame}
            if not used & frames.keys():
                break
            number += 1
            name = f"{stem}~{number}"
        used |= frames.keys()
        for file_name, frame in frames.items():
            ok, encoded = cv2.imencode(".png", frame)
            if not ok:
                raise RuntimeError(f"OpenCV could not encode the frame of {result.path}")
            write_bytes(directory / file_name, encoded.tobytes())
            count += 1
    return count
