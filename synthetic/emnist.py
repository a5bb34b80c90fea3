"""A synthetic EMNIST archive in the exact official layout, for tests (no EMNIST copy is reachable
from our build machines).

``gzip.zip`` holds ``gzip/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte.gz`` and
``gzip/emnist-<split>-mapping.txt`` for each split asked for, as NIST's does. The layout follows the
real files where it matters to a loader:

- images are stored transposed (column by column), so an upright glyph comes back only if the
  loader transposes it;
- the letters split's labels are 1..26 and its mapping lines read ``label upper lower``;
- the other mappings read ``label ascii_code``, bymerge and balanced with one code for a merged
  class (``12 67`` is C, which also holds c).

Each class's glyph is its character drawn with OpenCV's Hershey font (the first one of a merged
class: ``c/C`` is drawn as ``C``), jittered in size, place and stroke: easy to learn, upright in
one orientation only.
"""

from __future__ import annotations

import gzip
import io
import string
import zipfile

import cv2
import numpy as np

from handwriting.data.idx import idx_bytes

SIDE = 28

# The official mappings, as lines (label, ascii codes...).
_DIGITS = [(digit, [ord(str(digit))]) for digit in range(10)]
_UPPER = [(10 + index, [ord(letter)]) for index, letter in enumerate(string.ascii_uppercase)]
_KEPT_LOWER = "abdefghnqrt"  # bymerge's lower-case classes of their own
MAPPINGS = {
    "byclass": _DIGITS + _UPPER + [(36 + index, [ord(letter)]) for index, letter in enumerate(string.ascii_lowercase)],
    "bymerge": _DIGITS + _UPPER + [(36 + index, [ord(letter)]) for index, letter in enumerate(_KEPT_LOWER)],
    "balanced": _DIGITS + _UPPER + [(36 + index, [ord(letter)]) for index, letter in enumerate(_KEPT_LOWER)],
    "letters": [(index + 1, [ord(upper), ord(upper.lower())]) for index, upper in enumerate(string.ascii_uppercase)],
    "digits": _DIGITS,
    "mnist": _DIGITS,
}


def mapping_text(split: str) -> str:
    """The split's ``emnist-<split>-mapping.txt``: one ``label code [code]`` line per class."""
    return "".join(f"{label} {' '.join(map(str, codes))}\n" for label, codes in MAPPINGS[split])


def glyph(character: str, rng: np.random.Generator) -> np.ndarray:
    """uint8 [28, 28], upright: ``character`` in white on black, framed as EMNIST's glyphs are
    (its box centred, its longest side 24-27 px), a little jittered in size, place and stroke."""
    canvas = np.zeros((SIDE * 8, SIDE * 8), dtype=np.uint8)
    thickness = int(rng.integers(14, 22))
    cv2.putText(canvas, character, (40, 170), cv2.FONT_HERSHEY_SIMPLEX, 6, 255, thickness, cv2.LINE_AA)
    rows, columns = np.nonzero(canvas)
    crop = canvas[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    longest = rng.uniform(24, 27)
    scale = longest / max(crop.shape)
    height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    frame = np.zeros((SIDE, SIDE), dtype=np.uint8)
    top = int(np.clip((SIDE - height) // 2 + rng.integers(-1, 2), 0, SIDE - height))
    left = int(np.clip((SIDE - width) // 2 + rng.integers(-1, 2), 0, SIDE - width))
    frame[top : top + height, left : left + width] = small
    return frame


def split_arrays(split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` upright glyphs [count, 28, 28] uint8 and their labels [count] uint8 as stored
    (1-based for letters), the classes taking turns."""
    rng = np.random.default_rng(seed)
    mapping = MAPPINGS[split]
    labels = np.array([mapping[index % len(mapping)][0] for index in range(count)], dtype=np.uint8)
    characters = {label: chr(codes[0]) for label, codes in mapping}
    cache = {}  # a few variants per class are enough and keep big splits quick to make
    images = np.empty((count, SIDE, SIDE), dtype=np.uint8)
    for index, label in enumerate(labels):
        variant = (int(label), int(rng.integers(0, 8)))
        if variant not in cache:
            cache[variant] = glyph(characters[int(label)], rng)
        images[index] = cache[variant]
    return images, labels


def archive_bytes(counts: dict[str, tuple[int, int]], seed: int = 0) -> tuple[bytes, dict]:
    """A ``gzip.zip`` holding the splits in ``counts`` (split -> (train count, test count)).

    Returns the archive's bytes and, per split and part, the upright images and the labels as
    stored: ``{("letters", "train"): (images, labels), ...}``.
    """
    buffer = io.BytesIO()
    made = {}
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for number, (split, (train_count, test_count)) in enumerate(counts.items()):
            for part, count in (("train", train_count), ("test", test_count)):
                images, labels = split_arrays(split, count, seed + 2 * number + (part == "test"))
                made[(split, part)] = (images, labels)
                stored = images.transpose(0, 2, 1)  # EMNIST's files hold each glyph transposed
                for kind, array in (("images-idx3", stored), ("labels-idx1", labels)):
                    name = f"gzip/emnist-{split}-{part}-{kind}-ubyte.gz"
                    archive.writestr(name, gzip.compress(idx_bytes(array), compresslevel=1))
            archive.writestr(f"gzip/emnist-{split}-mapping.txt", mapping_text(split))
    return buffer.getvalue(), made
