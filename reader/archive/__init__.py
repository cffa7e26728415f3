"""The dialect archive: recordings of a family's dialect with their metadata, kept only encrypted in the
voice vault. Importing the package is cheap; numpy, soundfile and cryptography load when first used."""

from __future__ import annotations

from reader.errors import ReaderError
from reader.lazy import lazy_getattr


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


__getattr__ = lazy_getattr(__name__, _EXPORTS)
