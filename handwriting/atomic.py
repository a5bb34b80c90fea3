"""Write files so that a reader sees the old file or the complete new one, never half of one,
and the new one is on disk (file and folder entry flushed) once the write returns."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path beside ``path``; once the block finishes, rename it onto ``path``.

    If the block raises (or is interrupted), the temporary file is removed and ``path`` is
    untouched. The result gets ordinary permissions (``mkstemp`` alone would make it 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk, so a rename in it survives a power cut (POSIX only;
    Windows cannot open a folder as a file, and NTFS journals its renames)."""
    if os.name != "posix":
        return
    # Some file systems (network, FUSE) cannot open or sync a folder: the rename stands regardless.
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """``Path(path).write_bytes(data)``, atomically and flushed to disk."""
    with atomic_path(path) as temporary, open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a new empty temporary folder beside ``path``; once the block finishes, it replaces
    ``path`` (a folder, if there is one, is moved aside, the new one renamed in, the old removed).

    If the block raises, the temporary folder is removed and ``path`` is untouched; if the swap
    itself is interrupted, the old folder is put back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix))
    old = temporary.with_name(temporary.name + ".old")
    try:
        yield temporary
        os.chmod(temporary, 0o777 & ~_umask())  # mkdtemp made it 0700
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(temporary, path)
        except BaseException:
            if old.exists():
                os.replace(old, path)
            raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:  # a file stood where the folder goes
        old.unlink(missing_ok=True)
    _sync_folder(path.parent)
