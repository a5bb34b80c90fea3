"""Errors a user can cause and fix themselves.

Command-line tools catch ``UserError`` at the edge and print its message as one line
(exit status 2); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import Callable


class UserError(Exception):
    """Something the user can fix: a missing file, a corrupt download, a bad flag."""


class DataError(UserError):
    """A dataset file is missing, corrupt, or could not be fetched."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``) as an interruption: the run stops the way Ctrl-C stops it."""


def interrupt_on_sigterm() -> None:
    """From now on SIGTERM raises ``Terminated`` in the main thread, as SIGINT raises KeyboardInterrupt.

    Call it after Paddle is imported: Paddle's import installs a C++ handler for SIGTERM that
    prints a stack trace ("FatalError: Termination signal is detected") and aborts, so the tool
    could neither say what it saved nor exit with the status a shell expects.
    """

    def terminate(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, terminate)


def require_paddle(what: str, otherwise: str = "") -> None:
    """Import Paddle, or say in one line that ``what`` needs it and how to install it (infer.py and
    handwriting.serve run exports without Paddle, so a Paddle-free install is a real one)."""
    try:
        import paddle  # noqa: F401
    except ImportError:
        also = f", or {otherwise}" if otherwise else ""
        raise UserError(
            f"{what} runs only with PaddlePaddle, which is not installed here: python install.py "
            f"(it adds the build that fits this machine){also}"
        ) from None


def describe_os_error(error: OSError) -> str:
    """An ``OSError`` met while looking at or reading an input -> why, in words, with what to do."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (check the permissions of it and of the folders it is in)"
    if error.errno == errno.ENAMETOOLONG:
        return "file name too long for the file system (255 bytes a name at most); rename it or shorten the path"
    if error.errno == errno.ELOOP:
        return "too many levels of symbolic links (a link that points back to itself?)"
    if error.errno == errno.ENOSPC:
        return "the disk is full"
    if error.errno == errno.EROFS:
        return "read-only file system"
    if error.errno == errno.EIO:
        return "input/output error (a failing disk, or a drive that went away?)"
    return error.strerror or str(error)


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, the noun plural unless the count is one: "1 epoch", "3 pictures"."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def one_line(error: BaseException, most: int = 120) -> str:
    """An exception's message on one line of at most ``most`` characters (a library's message can
    hold line breaks and whole byte strings)."""
    text = " ".join(str(error).split()) or "no message"
    return text if len(text) <= most else text[: most - 1] + "…"


def run_at_the_edge(work: Callable[[], None], interrupted: str) -> int:
    """Run a command-line tool's ``work`` and turn what the user can fix into an exit status.

    A ``UserError`` becomes one ``error: ...`` line on stderr and status 2; Ctrl-C prints
    ``interrupted`` (or the interruption's own message, such as what ``engine.fit`` saved) and
    gives 130, or 143 (128 + SIGTERM) when it was ``Terminated``; a closed pipe (``| head``) ends
    quietly with 141, as a shell's own tools do. Anything else is a bug and raises with its traceback.
    """
    try:
        work()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interruption:
        print(str(interruption) or interrupted, file=sys.stderr)
        return 128 + signal.SIGTERM if isinstance(interruption, Terminated) else 128 + signal.SIGINT
    except BrokenPipeError:  # `... | head`: the reader has gone; say nothing more to it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    return 0
