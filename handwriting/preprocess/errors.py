"""What can go wrong with a user's picture: each is a ``UserError``, reported as one line."""

from __future__ import annotations

from handwriting.errors import UserError


class PictureError(UserError):
    """A picture that cannot be read, is too large, or holds no handwriting."""


class NoInkError(PictureError):
    """The picture was read but has nothing on it that looks like handwriting."""
