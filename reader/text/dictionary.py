"""The user's pronunciation dictionary: words or regular expressions replaced before other rules.

Stored as JSON (READER_HOME/pronunciations.json) and written atomically; a damaged file is never
overwritten, the user is told to fix or remove it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from reader.errors import DictionaryError
from reader.fileio import write_atomic

FILE_VERSION = 1
_ENTRY_FIELDS = ("pattern", "replacement", "regex", "case_sensitive")

# Han, kana and Hangul: scripts written without spaces, where a "whole word" cannot be told by
# word boundaries, so plain entries made of them match anywhere.
CJK_RANGES = "\u2e80-\u2fff\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A character that continues a Latin-script word (a word character that is not CJK).
_WORD_CHAR = f"[^\\W{CJK_RANGES}]"
_BEFORE_WORD = f"(?<!{_WORD_CHAR})"
_AFTER_WORD = f"(?!{_WORD_CHAR})"


@dataclass(frozen=True)
class Entry:
    """One rule: `pattern` (a word, phrase or regular expression) is spoken as `replacement`.

    A regex replacement may use group references (\\1, \\g<name>).
    """

    pattern: str
    replacement: str
    regex: bool = False
    case_sensitive: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern.strip():
            raise DictionaryError("A pronunciation entry needs a non-empty pattern.")
        if not isinstance(self.replacement, str):
            raise DictionaryError(f"The replacement for {self.pattern!r} must be text.")
        if not isinstance(self.regex, bool) or not isinstance(self.case_sensitive, bool):
            raise DictionaryError(f"The flags of entry {self.pattern!r} must be true or false.")


def _plain_regex(entry: Entry) -> str:
    """Whole-word match for Latin-script ends; CJK ends match inside a run of text."""
    body = re.escape(entry.pattern)
    if not entry.case_sensitive:
        body = f"(?i:{body})"
    first, last = entry.pattern[0], entry.pattern[-1]
    before = _BEFORE_WORD if re.match(_WORD_CHAR, first) else ""
    after = _AFTER_WORD if re.match(_WORD_CHAR, last) else ""
    return f"{before}({body}){after}"


class _BadRegex(ValueError):
    """Why a regex entry cannot be compiled; turned into a DictionaryError by the caller."""


def _compile_regex(entry: Entry) -> re.Pattern[str]:
    try:
        compiled = re.compile(entry.pattern, 0 if entry.case_sensitive else re.IGNORECASE)
        compiled.sub(entry.replacement, "")  # checks group references in the replacement now
    except (re.error, IndexError) as exc:
        raise _BadRegex(f"entry {entry.pattern!r} is not a valid regular expression: {exc}") from None
    return compiled


def _compile_or_raise(entry: Entry) -> re.Pattern[str]:
    try:
        return _compile_regex(entry)
    except _BadRegex as exc:
        raise DictionaryError(f"The pronunciation {exc}; fix or remove it.") from None


class PronunciationDictionary:
    """An ordered list of entries; `apply` finds where they match.

    Where matches overlap, the leftmost wins, then the longest, then the entry listed first.
    """

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: list[Entry] = []
        self._compiled: dict[Entry, re.Pattern[str]] = {}
        self._plain: tuple[re.Pattern[str] | None, tuple[int, ...]] | None = None
        for entry in entries:
            self._append(entry)

    # --- editing -----------------------------------------------------------------------------

    def _append(self, entry: Entry) -> None:
        if entry.regex and entry not in self._compiled:
            self._compiled[entry] = _compile_or_raise(entry)
        self._entries.append(entry)
        self._plain = None

    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(
        self, entry: Entry | str, replacement: str | None = None, *, regex: bool = False, case_sensitive: bool = False
    ) -> Entry:
        """Add an entry (an Entry, or its fields), or replace the one with the same pattern and kind
        in place, so the list keeps its order."""
        if not isinstance(entry, Entry):
            entry = Entry(entry, replacement, regex, case_sensitive)  # type: ignore[arg-type]
        if entry.regex:
            self._compiled[entry] = _compile_or_raise(entry)
        for i, old in enumerate(self._entries):
            if old.pattern == entry.pattern and old.regex == entry.regex:
                self._entries[i] = entry
                self._plain = None
                return entry
        self._append(entry)
        return entry

    def remove(self, pattern: str) -> bool:
        """Remove every entry with this pattern; False when there was none."""
        kept = [e for e in self._entries if e.pattern != pattern]
        removed = len(kept) != len(self._entries)
        self._entries = kept
        self._compiled = {e: c for e, c in self._compiled.items() if e.pattern != pattern}
        self._plain = None
        return removed

    # --- matching ----------------------------------------------------------------------------

    def _plain_pattern(self) -> tuple[re.Pattern[str] | None, tuple[int, ...]]:
        """All plain entries in one alternation, longest first, so one scan finds them all."""
        if self._plain is None:
            order = sorted(
                (i for i, e in enumerate(self._entries) if not e.regex),
                key=lambda i: (-len(self._entries[i].pattern), i),
            )
            if order:
                source = "|".join(_plain_regex(self._entries[i]) for i in order)
                self._plain = (re.compile(source), tuple(order))
            else:
                self._plain = (None, ())
        return self._plain

    def apply(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, replacement) in text order. Empty matches are ignored."""
        if not self._entries:
            return []
        candidates: list[tuple[int, int, int, str]] = []  # (start, -length, entry index, replacement)
        plain, order = self._plain_pattern()
        if plain is not None:
            for m in plain.finditer(text):
                index = order[m.lastindex - 1]
                candidates.append((m.start(), m.start() - m.end(), index, self._entries[index].replacement))
        for index, entry in enumerate(self._entries):
            if not entry.regex:
                continue
            for m in self._compiled[entry].finditer(text):
                if m.end() > m.start():
                    candidates.append((m.start(), m.start() - m.end(), index, m.expand(entry.replacement)))
        candidates.sort()
        chosen: list[tuple[int, int, str]] = []
        reached = 0
        for start, neg_length, _, replacement in candidates:
            if start >= reached:
                chosen.append((start, start - neg_length, replacement))
                reached = start - neg_length
        return chosen

    # --- files -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> "PronunciationDictionary":
        """Read a dictionary file; a missing file is an empty dictionary. Never writes."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise DictionaryError(f"The pronunciation dictionary at {path} cannot be read ({exc.strerror}).") from None
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
                raise ValueError('expected an object with a list of "entries"')
            entries = []
            for number, item in enumerate(data["entries"], 1):
                if not isinstance(item, dict) or not {"pattern", "replacement"} <= item.keys():
                    raise ValueError(f"entry {number} needs a pattern and a replacement")
                unknown = item.keys() - set(_ENTRY_FIELDS)
                if unknown:
                    raise ValueError(f"entry {number} has unknown fields {', '.join(sorted(unknown))}")
                try:
                    entry = Entry(**item)
                except DictionaryError as exc:
                    raise ValueError(f"entry {number}: {exc.message.rstrip('.')}") from None
                if entry.regex:
                    _compile_regex(entry)
                entries.append(entry)
            return cls(entries)
        except ValueError as exc:  # also JSONDecodeError, UnicodeDecodeError and _BadRegex
            raise DictionaryError(
                f"The pronunciation dictionary at {path} is damaged ({exc}); fix it or remove it."
            ) from None

    def save(self, path: Path) -> None:
        data = {"version": FILE_VERSION, "entries": [asdict(e) for e in self._entries]}
        write_atomic(Path(path), (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))

    @classmethod
    def for_settings(cls, settings) -> "PronunciationDictionary":
        """The dictionary kept in READER_HOME (Settings.dictionary_file)."""
        return cls.load(settings.dictionary_file)
