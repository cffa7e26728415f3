"""The dialects the archive knows by name (stable code, English and Chinese names) and free entry for the
rest; a name is looked up by code, English or Chinese name, case-insensitively."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from reader.archive import ArchiveError

# A free-entry dialect is one line of text; longer than this was pasted by mistake (a transcript, say).
MAX_FREE_CHARS = 200
# Endings people add to a place or language name ("Sichuan dialect", "四川话"): dropped on a second try.
SUFFIXES = ("dialect", "hua", "话", "方言", "语")
# Spaces, dashes, underscores, dots and apostrophes do not tell names apart ("Min Nan" = "min-nan").
_SEPARATORS = re.compile(r"[\s\-_.'’]+")


@dataclass(frozen=True)
class Dialect:
    """A known dialect. `code` never changes once released (it is what metadata and exports store);
    `iso639_3` is the ISO 639-3 language most of its speakers speak, a hint for linguists' tools (a
    province's speech can span several languages: southern Shanxi is Mandarin, most of it Jin)."""

    code: str
    english: str
    chinese: str
    iso639_3: str
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.english} {self.chinese}"


DIALECTS: tuple[Dialect, ...] = (
    Dialect("mandarin", "Mandarin", "普通话", "cmn", ("Putonghua", "Standard Chinese", "国语")),
    Dialect("cantonese", "Cantonese", "粤语", "yue", ("Yue", "广东话")),
    Dialect("shanghainese", "Shanghainese", "上海话", "wuu", ("Shanghai", "沪语")),
    Dialect("sichuanese", "Sichuanese", "四川话", "cmn", ("Sichuan",)),
    Dialect("minnan", "Minnan (Hokkien)", "闽南语", "nan", ("Minnan", "Hokkien", "Min Nan", "Southern Min", "闽南话")),
    Dialect("northeastern", "Northeastern", "东北话", "cmn", ("Dongbei", "Northeastern Mandarin")),
    Dialect("shandong", "Shandong", "山东话", "cmn"),
    Dialect("henan", "Henan", "河南话", "cmn"),
    Dialect("hubei", "Hubei", "湖北话", "cmn"),
    Dialect("hunan", "Hunan", "湖南话", "hsn", ("Xiang",)),
    Dialect("jiangxi", "Jiangxi", "江西话", "gan", ("Gan",)),
    Dialect("gansu", "Gansu", "甘肃话", "cmn"),
    Dialect("guizhou", "Guizhou", "贵州话", "cmn"),
    Dialect("ningxia", "Ningxia", "宁夏话", "cmn"),
    Dialect("shanxi", "Shanxi", "山西话", "cjy", ("Jin",)),
    Dialect("shaanxi", "Shaanxi", "陕西话", "cmn"),
    Dialect("tianjin", "Tianjin", "天津话", "cmn"),
    Dialect("yunnan", "Yunnan", "云南话", "cmn"),
)


def _key(text: str) -> str:
    """What two spellings of one name have in common: NFKC (full-width letters), case-folded, no separators."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


def _strip_suffix(key: str) -> str:
    for suffix in SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def _build_index() -> dict[str, Dialect]:
    index: dict[str, Dialect] = {}
    for dialect in DIALECTS:
        names = (dialect.code, dialect.english, dialect.chinese, *dialect.aliases)
        keys = {_key(name) for name in names} | {_strip_suffix(_key(name)) for name in names}
        for key in keys:
            other = index.setdefault(key, dialect)
            if other is not dialect:  # a programming error in the table above, caught by the tests
                raise RuntimeError(f"the dialect name {key!r} is both {other.code} and {dialect.code}")
    return index


_INDEX = _build_index()


def find_dialect(text: str) -> Dialect | None:
    """The known dialect named by `text` (code, English or Chinese name, an alias), or None."""
    key = _key(text)
    if not key:
        return None
    return _INDEX.get(key) or _INDEX.get(_strip_suffix(key))


@dataclass(frozen=True)
class DialectChoice:
    """What metadata stores: the code and both names of a known dialect, or free text with no code."""

    code: str | None
    name: str
    chinese: str | None


def choose_dialect(text: str | None) -> DialectChoice:
    """A known dialect for `text`, or `text` itself (stripped) as a free entry; ArchiveError if empty."""
    if text is None or not text.strip():
        raise ArchiveError("Say which dialect is spoken with --dialect, e.g. --dialect Sichuanese or --dialect 四川话.")
    known = find_dialect(text)
    if known is not None:
        return DialectChoice(known.code, known.english, known.chinese)
    free = text.strip()
    if len(free) > MAX_FREE_CHARS or any(unicodedata.category(c) in ("Cc", "Cs") for c in free):
        raise ArchiveError(f"A dialect name is one line of at most {MAX_FREE_CHARS} characters.")
    return DialectChoice(None, free, None)


def dialect_matches(query: str, code: str | None, name: str) -> bool:
    """Whether a recording of dialect (code, name) is what `query` asks for: a known dialect by its code,
    a free entry by its text (case-insensitively)."""
    known = find_dialect(query)
    if known is not None:
        return code == known.code
    return code is None and _key(name) == _key(query)
