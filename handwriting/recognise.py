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

import numpy as np

from handwriting.errors import UserError, describe_os_error, one_line
from handwriting.preprocess import PREPROCESSORS, PictureError, read_picture, read_picture_bytes, shrunk
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
    frame: np.ndarray | None = None  # uint8 [28, 28]: what the model saw
    thumbnail: np.ndarray | None = None  # uint8 grey, at most 128 px: the picture as read

    def as_json(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "label": self.label, "confidence": self.confidence, "topk": self.topk}


def prepare(path: str | bytes, preprocess: str = "mnist", keep_thumbnail: bool = False):
    """Read one picture (a path, or the picture's bytes) and turn it into the model's 28x28 frame
    -> (frame, thumbnail, error).

    The one place a picture is read and prepared, and so where one picture's trouble stops: a
    ``PictureError`` becomes that picture's error, and so does anything else raised on the way —
    a bug in our preprocessing, reported as one (with its exception) while the rest of the batch
    is still read. The fuzz tests call the preprocessing directly, where such bugs still raise.
    """
    try:
        grey = read_picture_bytes(path) if isinstance(path, bytes) else read_picture(path)
        frame = PREPROCESSORS[preprocess](grey)
        thumbnail = shrunk(grey, 128) if keep_thumbnail else None  # for --show
    except PictureError as error:
        return None, None, str(error)
    except OSError as error:
        return None, None, f"cannot read it: {describe_os_error(error)}"
    except Exception as error:  # one picture's bug must not end the batch (see above)
        bug = f"{type(error).__name__}: {one_line(error)}"
        return None, None, f"could not be prepared: a bug in handwriting ({bug}); please report it with this picture"
    return frame, thumbnail, None


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
) -> Iterator[Result]:
    """Yield one ``Result`` per item, in order; bad pictures give a ``Result`` with ``error``.

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
            yield from _recognised(batch, [prepare_one(item) for item in batch], backend, topk)
        return
    chunk = max(1, min(32, batch_size // 8))
    pending = collections.deque(pool.map(prepare_one, batch, chunksize=chunk) for batch in batches[:2])
    for number, batch in enumerate(batches):  # two batches in flight while the model runs
        prepared = list(pending.popleft())
        if number + 2 < len(batches):
            pending.append(pool.map(prepare_one, batches[number + 2], chunksize=chunk))
        yield from _recognised(batch, prepared, backend, topk)


def _recognised(batch: list[Item], prepared: list, backend, topk: int) -> Iterator[Result]:
    """Run the model on the prepared frames of one batch; one ``Result`` per item, in order."""
    good = [index for index, (frame, _, _) in enumerate(prepared) if frame is not None]
    probabilities = backend.probabilities(np.stack([prepared[i][0] for i in good])) if good else None
    rows = dict(zip(good, range(len(good))))
    for index, item in enumerate(batch):
        frame, thumbnail, error = prepared[index]
        if error is not None:
            yield Result(item.path, error=error, thumbnail=thumbnail)
            continue
        row = probabilities[rows[index]]
        yield _result(item.path, row, backend.classes, backend.has_confidence, topk, frame, thumbnail)


def _worker_setup() -> None:
    """One thread per worker process: the processes already keep every core busy."""
    import cv2

    cv2.setNumThreads(1)


def _worker_ready() -> bool:
    return True


def _prepare_item(item: Item, preprocess: str, keep_pictures: bool):
    if item.error is not None:
        return None, None, item.error
    return prepare(item.path, preprocess, keep_pictures)


def _result(path, probabilities: np.ndarray, classes, has_confidence: bool, topk: int, frame, thumbnail) -> Result:
    if not has_confidence:  # regression baseline: a class, no probability
        label = classes[int(probabilities.argmax())]
        return Result(path, label, None, [(label, None)], frame=frame, thumbnail=thumbnail)
    order = np.argsort(-probabilities, kind="stable")[:topk]
    ranked = [(classes[i], round(float(probabilities[i]), 6)) for i in order]
    return Result(path, ranked[0][0], ranked[0][1], ranked, frame=frame, thumbnail=thumbnail)


def save_frames(results: Iterable[Result], directory: str | os.PathLike) -> int:
    """Write each result's 28x28 frame as ``<directory>/<picture name>.png``; return how many.

    Names are made unique (``7.png``, ``7-2.png``, …) when pictures from different folders
    share one; each file is written atomically.
    """
    import cv2

    from handwriting.atomic import write_bytes

    directory = Path(directory)
    used: set[str] = set()
    count = 0
    for result in results:
        stem = Path(result.path).stem or "picture"
        name, number = f"{stem}.png", 1
        while name in used:
            number += 1
            name = f"{stem}-{number}.png"
        used.add(name)
        ok, encoded = cv2.imencode(".png", result.frame)
        if not ok:
            raise RuntimeError(f"OpenCV could not encode the frame of {result.path}")
        write_bytes(directory / name, encoded.tobytes())
        count += 1
    return count
