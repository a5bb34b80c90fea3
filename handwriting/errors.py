"""Errors a user can cause and fix themselves.

Command-line tools catch ``UserError`` at the edge and print its message as one line
(exit status 2); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: a missing file, a corrupt download, a bad flag."""


class DataError(UserError):
    """A dataset file is missing, corrupt, or could not be fetched."""
