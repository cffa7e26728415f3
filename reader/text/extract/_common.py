"""Helpers shared by the extractors: what an extractor returns, CJK-aware line joining, white space."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass, field

from reader.errors import ExtractError
from reader.text.document import RawBlock, take_spans


@dataclass
class Extracted:
    """What a format module hands back; load_document turns it into a Document."""

    blocks: list[RawBlock] = field(default_factory=list)
    title: str | None = None
    encoding: str | None = None


# Scripts written without spaces between words: a line break between two of these characters is not
# a space. Hangul is not here on purpose: Korean puts spaces between words.
_CJK_RANGES = (
    (0x2E80, 0x2FDF),  # radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation (，。「」 are elsewhere too)
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x3100, 0x312F),  # bopomofo
    (0x31F0, 0x31FF),  # katakana extensions
    (0x3400, 0x4DBF),  # extension A
    (0x4E00, 0x9FFF),  # unified ideographs
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0xFE30, 0xFE4F),  # vertical forms
    (0xFF00, 0xFFEF),  # full-width and half-width forms
    (0x20000, 0x3FFFF),  # extensions B..
)


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    if code < 0x2E80:
        return False
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def join_pair(left: str, right: str) -> str:
    """Join two pieces of one paragraph: a space between them unless both sides are CJK."""
    if not left:
        return right
    if not right:
        return left
    if is_cjk(left[-1]) and is_cjk(right[0]):
        return left + right
    return left + " " + right


def join_lines(lines: list[str]) -> str:
    """Join the (already stripped) lines of one paragraph."""
    out = ""
    for line in lines:
        out = join_pair(out, line)
    return out


_WS_RUN = re.compile(r"[ \t\n\r\f\v]+")
_ANY_SPACE = re.compile(r"\s+")


_NEEDS_SQUEEZE = re.compile(r"\s\s|[^\S ]")
_SQUEEZE_CHUNK = 1 << 20


def squeeze(text: str) -> str:
    """" ".join(text.split()) without a string per word (re.sub keeps a piece per match too): a 50 MB
    line costs a few times 50 MB, not a gigabyte. Long text is done a megabyte at a time, each piece
    ending just after a run of white space."""
    if _NEEDS_SQUEEZE.search(text) is None:
        return text.strip()
    out, pos = [], 0
    while pos < len(text):
        space = _ANY_SPACE.search(text, min(len(text), pos + _SQUEEZE_CHUNK))
        end = space.end() if space else len(text)
        out.append(_ANY_SPACE.sub(" ", text[pos:end]))
        pos = end
    return "".join(out).strip()


def collapse_whitespace(text: str) -> str:
    """Collapse runs of white space to one space; a run holding a line break between CJK is dropped."""
    if "\n" not in text:
        return squeeze(text) if _NEEDS_SQUEEZE.search(text) else text.strip()

    def repl(match: re.Match[str]) -> str:
        start, end = match.span()
        if "\n" in match.group() and 0 < start and end < len(text):
            if is_cjk(text[start - 1]) and is_cjk(text[end]):
                return ""
        return " "

    return _WS_RUN.sub(repl, text).strip()


# --- zip containers (EPUB, DOCX) ----------------------------------------------------------------------

ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
              ValueError, OSError, KeyError)


def damaged(name: str, what: str) -> ExtractError:
    return ExtractError(
        f"{name} is damaged and cannot be read as {what}; try opening it in another program and saving a new copy."
    )


def open_zip(data: bytes, *, name: str, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS as exc:
        raise damaged(name, what) from exc


# What one part of an EPUB or DOCX may unpack to, and all its parts together: a real book's chapter is a
# few megabytes; a zip bomb's part is gigabytes, and is refused before it is unpacked into memory.
MAX_MEMBER_BYTES = 64 << 20
MAX_ARCHIVE_BYTES = 256 << 20
_READ_CHUNK = 1 << 20


def read_member(archive: zipfile.ZipFile, member: str, *, name: str, what: str) -> bytes:
    """One part of a zip container, unpacked in pieces and never past MAX_MEMBER_BYTES (whatever its header
    claims), nor past MAX_ARCHIVE_BYTES for all the parts read from this archive."""
    read_so_far = getattr(archive, "_reader_bytes", 0)
    limit = min(MAX_MEMBER_BYTES, MAX_ARCHIVE_BYTES - read_so_far)
    try:
        info = archive.getinfo(member)
        if info.file_size > limit:
            raise _too_large(name, what, info.file_size)
        pieces, size = [], 0
        with archive.open(info) as stream:
            while chunk := stream.read(_READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(name, what, size)
                pieces.append(chunk)
    except ZIP_ERRORS as exc:  # CRC errors, truncated data, an encrypted member, odd compression
        raise damaged(name, what) from exc
    archive._reader_bytes = read_so_far + size  # type: ignore[attr-defined]
    return b"".join(pieces)


def _too_large(name: str, what: str, size: int) -> ExtractError:
    return ExtractError(
        f"{name} cannot be read: its parts unpack to more than the reader takes ({MAX_MEMBER_BYTES >> 20} MB a part, "
        f"{MAX_ARCHIVE_BYTES >> 20} MB in all, {size >> 20} MB here), which a real document never needs; it may be "
        "damaged or made to fill the memory."
    )


def parse_xml(data: bytes, *, name: str, what: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except (ET.ParseError, ValueError) as exc:
        raise damaged(name, what) from exc


def local_name(tag: object) -> str:
    """The tag without its {namespace} (comments and processing instructions have no str tag)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# --- list numbers (HTML <ol type>, Word numFmt) --------------------------------------------------------

_ROMAN = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
          (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))
MAX_ROMAN = 3999  # no Roman numeral is written for more; larger numbers fall back to digits
NUMBER_STYLES = ("decimal", "lower-alpha", "upper-alpha", "lower-roman", "upper-roman")


def list_number(number: int, style: str = "decimal") -> str:
    """A list item's number as a browser or Word shows it: 3, c, C, iii or III (27 is "aa", as browsers
    count letters). Zero, negative numbers and unknown styles are written in digits."""
    if number < 1 or style not in NUMBER_STYLES or style == "decimal":
        return str(number)
    if style.endswith("alpha"):
        letters = ""
        while number:
            number, rest = divmod(number - 1, 26)
            letters = chr(ord("a") + rest) + letters
        out = letters
    elif number > MAX_ROMAN:
        return str(number)
    else:
        out = ""
        for value, numeral in _ROMAN:
            count, number = divmod(number, value)
            out += numeral * count
    return out.upper() if style.startswith("upper") else out


# --- images --------------------------------------------------------------------------------------------

# Said before an image's description, in the description's script, so the listener knows it is an image
# whatever the structure verbosity (a screen reader always says "graphic").
IMAGE_WORDS = {"en": ("image", ": "), "zh": ("图片", "：")}


def image_text(description: str = "") -> str:
    """What is read for an image: "image: Map of route 42", "图片：路线图", or "image" alone."""
    cjk = sum(1 for ch in description if is_cjk(ch))
    latin = sum(1 for ch in description if ch.isascii() and ch.isalpha())
    word, colon = IMAGE_WORDS["zh" if cjk > latin else "en"]
    return f"{word}{colon}{description}" if description else word


# --- tables --------------------------------------------------------------------------------------------


def column_names(cells: list[tuple[str, int]], above: list[str] | None = None) -> list[str]:
    """A header row's cells, (text, columns spanned), as one name per column; "Station:" names it
    "Station" so that it is not said "Station::". Under another header row (`above`), a blank cell
    keeps the name above it."""
    names = [take_spans(text)[0].rstrip(":：").strip() for text, span in cells for _ in range(span)]
    above = above or []
    return [name or (above[i] if i < len(above) else "") for i, name in enumerate(names)]


def read_row(cells: list[tuple[str, int]], header: list[str]) -> str:
    """A table row as it is read: each cell after its column's name ("Station: Central, time: 06:00"), a
    cell under a blank or missing name alone, empty cells left out; without a header, the cells joined
    with commas. `cells` are (text, columns spanned)."""
    parts, column = [], 0
    for text, span in cells:
        name = header[column] if column < len(header) else ""
        column += span
        if text:
            parts.append(f"{name}: {text}" if name else text)
    return ", ".join(parts)
