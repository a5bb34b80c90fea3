"""Read a whole line of digits at once, with the line reader (``handwriting.train_lines``).

The reader's output for a line is a score for every 4 px column (``STRIDE``) and every class: the
blank ("no new digit here") or a digit. Its reading is the best path: the likeliest class in each
column, repeats merged, blanks dropped. ``handwriting.recognise`` weighs that reading against the
digits it cut apart and read one by one.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handwriting.preprocess import normalize
from handwriting.preprocess.line import MARGIN, MAX_WIDTH, line_image
from handwriting.preprocess.marks import log_softmax  # in float64 here: nothing underflows to -inf

CLASSES = tuple(str(digit) for digit in range(10))
BLANK = 0  # the reader's class 0; class k + 1 is CLASSES[k]
STRIDE = 4  # px of the line image a column of the reader's output stands for
LINES_MODEL = Path(__file__).resolve().parent.parent / "models" / "lines.onnx"


def best_path(logits: np.ndarray) -> tuple[str, list[float], list[float]]:
    """The reader's logits for one line [T, classes + 1] -> (its text, each character's probability
    at its likeliest column, each character's middle column (in columns of the output))."""
    probabilities = np.exp(log_softmax(np.asarray(logits, np.float64)))
    best = probabilities.argmax(axis=1)
    text, confidences, middles = [], [], []
    column = 0
    while column < len(best):
        label, start = int(best[column]), column
        while column < len(best) and best[column] == label:
            column += 1
        if label != BLANK:
            text.append(CLASSES[label - 1])
            confidences.append(float(probabilities[start:column, label].max()))
            middles.append((start + column - 1) / 2)
    return "".join(text), confidences, middles


def log_likelihood(log_probabilities: np.ndarray, text: str) -> float:
    """How likely the reader finds ``text`` in a line: log P(text | line), summed over every path of
    columns that spells it (CTC's forward pass). ``log_probabilities`` [T, classes + 1]; -inf when
    the line has too few columns to hold the text."""
    labels = [CLASSES.index(character) + 1 for character in text]
    extended = np.full(2 * len(labels) + 1, BLANK)  # blank, first, blank, second, ..., blank
    extended[1::2] = labels
    # a path may skip the blank between two different characters, never between two the same
    skip = np.zeros(len(extended), bool)
    skip[3::2] = extended[3::2] != extended[1:-2:2]
    alpha = np.full(len(extended), -np.inf)
    alpha[:2] = log_probabilities[0, extended[:2]]
    for column in range(1, len(log_probabilities)):
        step, jump = np.full_like(alpha, -np.inf), np.full_like(alpha, -np.inf)
        step[1:] = alpha[:-1]  # from the state before
        jump[2:] = alpha[:-2]  # from two before, over a blank
        jump[~skip] = -np.inf
        alpha = np.logaddexp(np.logaddexp(alpha, step), jump) + log_probabilities[column, extended]
    return float(np.logaddexp(alpha[-1], alpha[-2])) if len(extended) > 1 else float(alpha[-1])


class LineReader:
    """The line reader's ONNX export run by onnxruntime (no Paddle): ``logits(line)``."""

    def __init__(self, path: str | Path = LINES_MODEL):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # a line at a time, beside the workers that clean pictures
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def logits(self, line: np.ndarray) -> np.ndarray:
        """uint8 line [LINE_HEIGHT, w] from ``line_image`` -> logits [w / STRIDE, classes + 1]."""
        return self.session.run(None, {self.input: normalize(line[None, None])})[0][0].T


@functools.lru_cache(maxsize=1)
def line_reader() -> LineReader | None:
    """``models/lines.onnx``, or None when it (or onnxruntime) cannot be loaded: numbers are then
    read from the cut characters alone."""
    if not Path(LINES_MODEL).is_file():
        return None
    try:
        return LineReader(LINES_MODEL)
    except Exception as error:  # no onnxruntime, or a damaged file: onnxruntime's errors derive from Exception alone
        warnings.warn(
            f"{LINES_MODEL} could not be loaded ({error}); numbers are read without the line reader", stacklevel=2
        )
        return None


@dataclass
class LineReading:
    """What the line reader reads in one line, and how it finds another reading of it."""

    text: str
    confidences: list[float]  # each character's probability at its likeliest column
    columns: list[float]  # each character's middle, in columns of the line's ink
    log_probabilities: np.ndarray  # [T, classes + 1]

    def log_likelihood(self, text: str) -> float:
        return log_likelihood(self.log_probabilities, text)

    def probabilities(self) -> np.ndarray:
        """float [n, classes]: for each character of ``text``, how likely each class is in its place,
        the rest of the line read as it is (CTC's likelihood of each such text, normalised)."""
        rows = []
        for index in range(len(self.text)):
            scores = np.array(
                [self.log_likelihood(self.text[:index] + label + self.text[index + 1 :]) for label in CLASSES]
            )
            scores = np.exp(scores - scores.max())
            rows.append(scores / scores.sum())
        return np.array(rows).reshape(len(self.text), len(CLASSES))


def read_line(ink: np.ndarray, reader: LineReader) -> LineReading | None:
    """uint8 ink [h, w] of one line of writing (nothing else on it) -> the reader's ``LineReading``;
    None when the line is too long for it (``MAX_WIDTH``)."""
    line, scale, first = line_image(ink)
    if line.shape[1] > MAX_WIDTH:
        return None
    logits = reader.logits(line)
    text, confidences, middles = best_path(logits)
    # a column's middle in the line image, then in the ink's own columns
    columns = [first + ((middle + 0.5) * STRIDE - MARGIN) / scale for middle in middles]
    return LineReading(text, confidences, columns, log_softmax(np.asarray(logits, np.float64)))
