"""Per-document reading state (position, bookmarks, voice, rate) saved atomically in READER_HOME.

Saved on every move, so a crash or a kill loses nothing: reopening the document restores the place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from reader.fileio import write_atomic

log = logging.getLogger(__name__)

STATE_VERSION = 2


@dataclass(frozen=True)
class Bookmark:
    offset: int  # character offset of the sentence start in Document.text
    label: str
    created: float = 0.0


@dataclass(frozen=True)
class DocumentState:
    key: str
    source: str
    title: str
    offset: int = 0  # character offset of the current sentence in Document.text
    bookmarks: tuple[Bookmark, ...] = ()
    # This document's own reading preferences; None: the preference for every document (Settings).
    voice: str | None = None
    rate: float | None = None
    pitch: float | None = None
    punctuation: str | None = None
    updated: float = 0.0

    @property
    def has_overrides(self) -> bool:
        return any(v is not None for v in (self.voice, self.rate, self.pitch, self.punctuation))

    def with_(self, **changes) -> "DocumentState":
        return replace(self, **changes)

    def to_json(self) -> dict:
        data = asdict(self)
        data["version"] = STATE_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict) -> "DocumentState":
        marks = tuple(Bookmark(**b) for b in data.get("bookmarks", ()))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "bookmarks"}
        if data.get("version", 1) < 2:
            # Version 1 saved every document at rate and pitch 1.0 whether chosen or not: those are no
            # choice of the document's own.
            for k in ("rate", "pitch"):
                if known.get(k) == 1.0:
                    known[k] = None
        return cls(**{**known, "bookmarks": marks})


def document_key(source: str, text: str) -> str:
    """A file is known by its path; the clipboard and stdin by their text (they have no path)."""
    basis = source if source not in ("clipboard", "stdin") else "text:" + text
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:24]


@dataclass
class StateStore:
    home: Path
    _cache: dict = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.home / "state"

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str, *, source: str, title: str) -> DocumentState:
        path = self._path(key)
        try:
            return DocumentState.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return DocumentState(key=key, source=source, title=title)
        except (OSError, ValueError, TypeError) as exc:
            # A damaged state file must not stop the reading; start at the top and keep the file.
            log.warning("reading state %s is damaged (%s); starting at the beginning", path, exc)
            return DocumentState(key=key, source=source, title=title)

    def save(self, state: DocumentState) -> DocumentState:
        state = state.with_(updated=time.time())
        write_atomic(self._path(state.key), json.dumps(state.to_json(), ensure_ascii=False).encode("utf-8"))
        if state.source not in ("clipboard", "stdin"):
            write_atomic(self.home / "last.json", json.dumps({"source": state.source, "key": state.key}).encode())
        return state

    def last_source(self) -> str | None:
        """The file read last, if it still exists."""
        try:
            data = json.loads((self.home / "last.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        source = data.get("source")
        return source if source and Path(source).exists() else None
