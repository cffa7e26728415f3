"""jieba's and pypinyin's dictionaries in a fraction of their memory.

Mandarin reading needs both (about 160 MB as the libraries keep them, a third of the rich voice's memory
budget); `install()` gives the libraries the same data in compact forms before they load their own.

jieba: a tenth of the memory.

jieba keeps its 349,046-word dictionary twice as Python dicts: word (and every prefix) -> frequency for
segmentation, and word -> part of speech for `jieba.posseg`. Together they cost about 105 MB, a fifth of
the rich voice's memory budget. Here the same data is one sorted array of the words' hashes with a
frequency and a tag index beside it (about 10 MB), behind the small part of the dict interface jieba
uses (`in`, `[]`, `.get`). Segmentation is unchanged: the arrays are built from jieba's own dict.txt by
its own rules (a repeated word keeps its last frequency and tag, the total counts every line).

Hashes are Python's own string hash with the length mixed in (CPython hashes a string's stored bytes, so
"BP" and 偂, both the bytes 42 50, share a hash), so the table is built in each process (about a second,
in place of jieba's own load) and never written to disk. Two different words sharing a 64-bit key is a
one in 10^7 chance over the whole dictionary; a stranger string matching one is one in 10^13 per lookup.
"""

from __future__ import annotations

import array
import bisect
import importlib.util
import io
import logging
import os
import re
import sys
import threading
import types
from pathlib import Path

import numpy as np

_lock = threading.Lock()
_installed = False


_bisect = bisect.bisect_left
_MISSING = object()


def _key(word: str) -> int:
    """The table key of a word (the lookups below inline it): its hash with its length in bits 56-62,
    still a signed 64-bit value."""
    return hash(word) ^ ((len(word) & 0x7F) << 56)


class _Table:
    """Sorted keys with a value beside each; `in`, `[]` and `.get` like the dict it replaces. The lookups
    are written out in each method: jieba calls them a few times per character."""

    __slots__ = ("_keys", "_values", "_starts")

    def __init__(self, keys: array.array, values: array.array, starts: array.array) -> None:
        self._keys = keys
        self._values = values
        self._starts = starts  # where each value of the top 16 bits begins: a search of ~8 keys, not 500k

    def __contains__(self, word) -> bool:
        h = hash(word) ^ ((len(word) & 0x7F) << 56)
        top = (h >> 48) + 32768
        i = _bisect(self._keys, h, self._starts[top], self._starts[top + 1])
        return i < self._starts[top + 1] and self._keys[i] == h

    def get(self, word, default=None):
        h = hash(word) ^ ((len(word) & 0x7F) << 56)
        top = (h >> 48) + 32768
        end = self._starts[top + 1]
        i = _bisect(self._keys, h, self._starts[top], end)
        return self._values[i] if i < end and self._keys[i] == h else default

    def __getitem__(self, word):
        value = self.get(word, _MISSING)
        if value is _MISSING:
            raise KeyError(word)
        return value

    def __len__(self) -> int:
        return len(self._keys)


class _Tags:
    """word -> part-of-speech tag, from the shared table's tag indexes (0 = a prefix, no word)."""

    __slots__ = ("_table", "_names")

    def __init__(self, table: _Table, names: list[str]) -> None:
        self._table = table
        self._names = names

    def get(self, word, default=None):
        i = self._table.get(word, 0)
        return self._names[i] if i else default

    def __getitem__(self, word):
        i = self._table.get(word, 0)
        if not i:
            raise KeyError(word)
        return self._names[i]

    def __contains__(self, word) -> bool:
        return bool(self._table.get(word, 0))

    def update(self, other) -> None:  # jieba.posseg adds user words here; we load none
        if other:
            raise NotImplementedError("user dictionaries are not supported by the compact lexicon")


def build(lines) -> tuple[_Table, _Tags, int]:
    """The frequency table, the tag table and the total frequency from dict.txt lines (bytes)."""
    word_hashes = array.array("q")
    word_freqs = array.array("q")
    word_tags = array.array("H")
    prefix_hashes = array.array("q")
    names: list[str] = [""]
    index: dict[str, int] = {}
    total = 0
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip().decode("utf-8")
        if not line:
            continue
        parts = line.split(" ")
        try:
            word, freq = parts[0], int(parts[1])
        except (IndexError, ValueError):
            raise ValueError(f"invalid dictionary entry at line {lineno}: {line}") from None
        tag = parts[2] if len(parts) > 2 else "x"
        total += freq
        word_hashes.append(_key(word))
        word_freqs.append(freq)
        if tag not in index:
            index[tag] = len(names)
            names.append(tag)
        word_tags.append(index[tag])
        for end in range(1, len(word)):
            prefix_hashes.append(_key(word[:end]))
    words = np.frombuffer(word_hashes, dtype=np.int64)
    # A repeated word keeps its last line, as jieba's dict assignment does: unique over the reversed order.
    last = len(words) - 1 - np.unique(words[::-1], return_index=True)[1]
    keys_w = words[last]
    freqs_w = np.frombuffer(word_freqs, dtype=np.int64)[last]
    tags_w = np.frombuffer(word_tags, dtype=np.uint16)[last]
    keys_p = np.setdiff1d(np.frombuffer(prefix_hashes, dtype=np.int64), keys_w)  # sorted, unique
    keys = np.concatenate([keys_w, keys_p])
    freqs = np.concatenate([freqs_w, np.zeros(len(keys_p), np.int64)])
    tags = np.concatenate([tags_w, np.zeros(len(keys_p), np.uint16)])
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.searchsorted(keys >> 48, np.arange(-32768, 32769), side="left")
    key_arr = array.array("q", keys.tobytes())
    start_arr = array.array("q", starts.astype(np.int64).tobytes())
    freq = _Table(key_arr, array.array("q", freqs[order].tobytes()), start_arr)
    tag_index = _Table(key_arr, array.array("H", tags[order].tobytes()), start_arr)
    return freq, _Tags(tag_index, names), total


class _Phrases(dict):
    """pypinyin's phrase dictionary with each value kept as one string ("yī dīng,dìng bù shí": syllables
    by spaces, a character's alternatives by commas) and given back as the lists pypinyin expects. The
    json it ships decodes to 600,000 small objects (35 MB); this is about 10 MB."""

    def __getitem__(self, phrase):
        return [syllable.split(",") for syllable in dict.__getitem__(self, phrase).split(" ")]

    def get(self, phrase, default=None):
        return self[phrase] if dict.__contains__(self, phrase) else default

    def items(self):
        return ((k, self[k]) for k in self.keys())

    def values(self):
        return (self[k] for k in self.keys())


_PHRASE = re.compile(r'"([^"\n]+)":\s*\[((?:\s*\[[^\]]*\],?)*)\s*\]')
_INNER = re.compile(r"\[([^\]]*)\]")
_STRING = re.compile(r'"([^"]*)"')


def parse_phrases(text: str) -> _Phrases:
    """pypinyin's phrases_dict.json (its exact layout: one object of phrase -> list of lists of strings)."""
    phrases = _Phrases()
    for m in _PHRASE.finditer(text):
        syllables = [",".join(_STRING.findall(inner)) for inner in _INNER.findall(m.group(2))]
        if not syllables or any(not s or " " in s for s in syllables):
            raise ValueError(f"unexpected entry in pypinyin's phrases: {m.group(1)}")
        dict.__setitem__(phrases, m.group(1), sys.intern(" ".join(syllables)))
    return phrases


def _install_pypinyin() -> None:
    if "pypinyin" in sys.modules:
        return  # loaded already (by a test, or a tool): nothing to save any more
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or not spec.submodule_search_locations:
        return  # not installed: the caller's import says so
    path = Path(next(iter(spec.submodule_search_locations))) / "phrases_dict.json"
    module = types.ModuleType("pypinyin.phrases_dict")
    module.phrases_dict = parse_phrases(path.read_text(encoding="utf-8"))
    sys.modules["pypinyin.phrases_dict"] = module
    # pypinyin copies its dictionaries unless told not to (it only needs the copy for user dictionaries),
    # and a copy of the phrases would be a plain dict of the compact strings.
    os.environ["PYPINYIN_NO_DICT_COPY"] = "1"


def install() -> None:
    """Give jieba (and jieba.posseg) the compact tables in place of their dicts, and pypinyin its compact
    phrases, once per process. Call before anything segments; the libraries never load their own
    dictionaries afterwards."""
    global _installed
    with _lock:
        if _installed:
            return
        _install_pypinyin()
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.dt
        with tokenizer.get_dict_file() as f:
            freq, tags, total = build(f)
        with tokenizer.lock:
            tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True
        # jieba.posseg reads the whole dictionary into a dict when first imported: give it an empty file.
        original = jieba.Tokenizer.get_dict_file
        jieba.Tokenizer.get_dict_file = lambda self: io.BytesIO(b"")
        try:
            import jieba.posseg
        finally:
            jieba.Tokenizer.get_dict_file = original
        jieba.posseg.dt.word_tag_tab = tags
        _installed = True
