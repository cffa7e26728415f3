"""The dialect archive: recordings of a family's dialect with their metadata, kept only encrypted in the
voice vault. Importing the package is cheap; numpy, soundfile and cryptography load when first used."""

from __future__ import annotations

from typing import Any

from reader.errors import ReaderError


class ArchiveError(ReaderError):
    """A user error of the dialect archive: one sentence that says what to do."""

    title = "Dialect archive"


_EXPORTS = {
    "ArchiveStore": "reader.archive.store",
    "ArchiveEntry": "reader.archive.records",
    "ArchivePlayback": "reader.archive.playback",
    "Dialect": "reader.archive.dialects",
    "DIALECTS": "reader.archive.dialects",
    "find_dialect": "reader.archive.dialects",
}

__all__ = sorted([*_EXPORTS, "ArchiveError"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reader.archive' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
