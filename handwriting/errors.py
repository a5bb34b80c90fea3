"""Errors a user can cause and fix themselves.

Command-line tools catch ``UserError`` at the edge and print its message as one line
(exit status 2); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Callable


class UserError(Exception):
    """Something the user can fix: a missing file, a corrupt download, a bad flag."""


class DataError(UserError):
    """A dataset file is missing, corrupt, or could not be fetched."""


def run_at_the_edge(work: Callable[[], None], interrupted: str) -> int:
    """Run a command-line tool's ``work`` and turn what the user can fix into an exit status.

    A ``UserError`` becomes one ``error: ...`` line on stderr and status 2; Ctrl-C prints
    ``interrupted`` and gives 130. Anything else is a bug and raises with its traceback.
    """
    try:
        work()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    return 0
