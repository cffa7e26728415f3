"""A pronunciation lexicon packed into one bytes object: sorted "word<TAB>phonemes" lines and an array of
where each line starts, looked up by binary search. misaki's two US lexicons (183,000 words) take about
6 MB so, against about 45 MB as Python dicts, and load in milliseconds instead of a JSON parse.

The packed file is made from the JSON files once (at setup, beside the voice packs, else in the user's
cache) and names the sha256 of each source, so a changed lexicon is packed again, never read stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
from array import array
from pathlib import Path
from typing import Any, Iterable, Mapping

log = logging.getLogger(__name__)

MAGIC = b"reader-lexicon"
FORMAT = 1
# A value that is not a plain phoneme string (misaki's part-of-speech keyed homographs, null) is stored as
# JSON; a phoneme string never starts with this.
JSON_MARK = "\x01"


class PackedWords(Mapping):
    """Read-only str -> value mapping over sorted lines of one section of a packed lexicon."""

    def __init__(self, data: bytes, starts: array, first: int, count: int) -> None:
        self._data = data
        self._starts = starts
        self._first = first
        self._count = count

    def _line(self, i: int) -> tuple[bytes, int, int]:
        start = self._starts[self._first + i]
        tab = self._data.index(b"\t", start)
        return self._data[start:tab], tab + 1, self._data.index(b"\n", tab)

    def _find(self, key: bytes) -> int | None:
        lo, hi = 0, self._count
        while lo < hi:
            mid = (lo + hi) // 2
            word, _, _ = self._line(mid)
            if word < key:
                lo = mid + 1
            elif word > key:
                hi = mid
            else:
                return mid
        return None

    def get(self, key: object, default: Any = None) -> Any:
        if not isinstance(key, str):
            return default
        try:
            index = self._find(key.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate: no word has one
            return default
        if index is None:
            return default
        _, start, end = self._line(index)
        value = self._data[start:end].decode("utf-8")
        return json.loads(value[1:]) if value.startswith(JSON_MARK) else value

    def __getitem__(self, key: str) -> Any:
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key.encode("utf-8", "replace")) is not None

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        for i in range(self._count):
            yield self._line(i)[0].decode("utf-8")


def _line(word: str, value: Any) -> bytes:
    if "\t" in word or "\n" in word:
        raise ValueError(f"a lexicon word holds a tab or line break: {word!r}")
    text = value if isinstance(value, str) and not value.startswith(JSON_MARK) and "\n" not in value \
        else JSON_MARK + json.dumps(value, ensure_ascii=False)
    return f"{word}\t{text}\n".encode("utf-8")


def source_digest(texts: Iterable[bytes]) -> str:
    return "-".join(hashlib.sha256(t).hexdigest()[:32] for t in texts)


def pack(sections: list[dict], digest: str) -> bytes:
    """The packed lexicon of `sections` (dicts), marked with the sources' `digest`."""
    body = []
    counts = []
    for section in sections:
        words = sorted(section, key=lambda w: w.encode("utf-8"))
        counts.append(len(words))
        body.extend(_line(w, section[w]) for w in words)
    head = b" ".join([MAGIC, str(FORMAT).encode(), digest.encode(), *(str(c).encode() for c in counts)]) + b"\n"
    return head + b"".join(body)


def load(data: bytes, digest: str) -> list[PackedWords] | None:
    """The sections of a packed lexicon, or None if it is not one or was made from other sources."""
    import numpy as np

    head_end = data.find(b"\n")
    head = data[:head_end].split(b" ") if head_end > 0 else []
    if len(head) < 3 or head[0] != MAGIC or head[1] != str(FORMAT).encode() or head[2] != digest.encode():
        return None
    try:
        counts = [int(c) for c in head[3:]]
    except ValueError:
        return None
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    if len(ends) != 1 + sum(counts) or ends[-1] != len(data) - 1:
        return None
    starts = array("I", (ends[:-1] + 1).astype(np.uint32).tobytes())
    sections, first = [], 0
    for count in counts:
        sections.append(PackedWords(data, starts, first, count))
        first += count
    return sections


def load_or_pack(sources: list[bytes], places: list[Path], name: str) -> list[PackedWords] | list[dict]:
    """The lexicon of the JSON `sources`: packed from the first of `places` that holds a fresh copy, else
    packed now into the first place that can be written (and used); as plain dicts if none can."""
    digest = source_digest(sources)
    for folder in places:
        try:
            data = (folder / name).read_bytes()
        except OSError:
            continue
        sections = load(data, digest)
        if sections is not None:
            return sections
    dicts = [json.loads(s.decode("utf-8")) for s in sources]
    data = pack(dicts, digest)
    for folder in places:
        try:
            from reader.fileio import write_atomic

            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / name, data, mode=0o644)  # public data: the lexicon is in a PyPI package
            log.info("packed the lexicon into %s", folder / name)
            break
        except OSError:
            continue
    sections = load(data, digest)
    return sections if sections is not None else dicts
