"""Errors of the speech side: a pack that is missing, damaged or cannot be built."""

from __future__ import annotations

from reader.errors import ReaderError


class PackError(ReaderError):
    """A voice pack is missing, damaged, of a newer format, or failed verification."""

    title = "Voice pack"


class PackBuildError(PackError):
    """A pack could not be built from the installed model packages."""

    title = "Building voice packs"
