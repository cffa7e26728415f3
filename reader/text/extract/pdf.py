"""PDF text with pypdf: positioned lines rejoined into paragraphs, without running headers, footers
and page numbers; ligatures and full-width letters/digits normalized."""

from __future__ import annotations

import io
import logging
import math
import re
import unicodedata
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from reader.errors import ExtractError, PasswordRequired
from reader.text.document import BlockKind, RawBlock
from reader.text.extract._common import Extracted, is_cjk, join_pair

log = logging.getLogger(__name__)

# --- thresholds ---------------------------------------------------------------------------------------
EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be a running header or footer
RECURRING_PAGE_SHARE = 0.4  # a header on odd pages only recurs on half of them
MIN_RECURRING_PAGES = 2
RUNNING_MIN_PAGES = 3  # a chapter title repeated as the header of a few pages in a row
RUNNING_MAX_STEP = 2  # (on every page, or on every other page when the book title takes the others)
PARAGRAPH_GAP_RATIO = 1.5  # a line gap this much larger than the usual line spacing starts a paragraph
SHORT_LINE_RATIO = 0.7  # shorter than this share of a usual line: the last line of a paragraph
TYPICAL_LINE_PERCENTILE = 0.75  # "a usual line" is this long (most lines of a paragraph are full)
# The usual line spacing: a low percentile of all line steps, as many steps may be paragraph gaps.
LINE_STEP_PERCENTILE = 0.25
HEADING_SIZE_RATIO = 1.2  # a line in a font this much larger than the body text is a heading
MAX_HEADING_CHARS = 120
SAME_SIZE_TOLERANCE = 0.1  # font sizes within 10% are the same size
MAX_HEADING_LEVELS = 6

SCAN_MESSAGE = (
    "{name} has no text layer (it looks like a scanned image); "
    "run it through OCR first, e.g. ocrmypdf, then open the result."
)


@dataclass
class Line:
    text: str
    y: float | None = None  # baseline height on the page (PDF units, up is larger)
    size: float | None = None  # effective font size
    gap_before: bool = False  # a blank line preceded it (only when positions are unknown)


# --- text normalization -------------------------------------------------------------------------------

_LIGATURES = re.compile("[\ufb00-\ufb06]")
_FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")
FULLWIDTH_OFFSET = 0xFEE0  # U+FF21 "Ａ" - U+0041 "A"


def normalize_pdf_text(text: str) -> str:
    """Ligatures and full-width ASCII letters/digits to plain ones; CJK punctuation (，。) is kept."""
    text = _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    text = _FULLWIDTH_ALNUM.sub(lambda m: chr(ord(m.group()) - FULLWIDTH_OFFSET), text)
    text = _CONTROLS.sub("", text)
    text = " ".join(text.split())
    # A soft hyphen at the end of a line marks a word broken across lines; elsewhere it is invisible.
    if text.endswith("\xad"):
        text = text[:-1] + "-"
    return text.replace("\xad", "")


# --- running headers, footers and page numbers -------------------------------------------------------

_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.|seite|página|pagina)?\s*[-–—(\[]?\s*\d{1,5}\s*[-–—)\]]?(?:\s*(?:of|/|von|de)\s*\d{1,5})?$"
    r"|^[ivxlcdm]{1,7}$"
    r"|^第\s*\d{1,5}\s*页(?:\s*[,，/]?\s*共\s*\d{1,5}\s*页)?$"
    r"|^\d{1,5}\s*/\s*\d{1,5}$",
    re.IGNORECASE,
)


def _running_key(text: str) -> str:
    """Lines equal but for their digits (e.g. 'Chapter 3 - page 12') are the same running line."""
    return re.sub(r"\d+", "#", text.lower())


def _edge_indices(lines: list[Line]) -> set[int]:
    indices = set(range(min(EDGE_LINES, len(lines))))
    indices |= set(range(max(0, len(lines) - EDGE_LINES), len(lines)))
    placed = [i for i, line in enumerate(lines) if line.y is not None]
    if placed:  # also by position: headers are sometimes drawn last
        by_height = sorted(placed, key=lambda i: lines[i].y)
        indices |= set(by_height[:EDGE_LINES]) | set(by_height[-EDGE_LINES:])
    return indices


_EDGE_NUMBER = re.compile(r"^(\d{1,5})\s+\D|\D\s+(\d{1,5})$|^(\d{1,5})$")


def _page_offset(text: str, number: int) -> int | None:
    """Printed page number minus PDF page number, if the line starts or ends with a number."""
    match = _EDGE_NUMBER.search(text)
    if not match:
        return None
    return int(next(group for group in match.groups() if group)) - number


def drop_running_lines(pages: list[list[Line]]) -> list[list[Line]]:
    """Remove page numbers and lines that recur at the top or bottom of pages.

    A line is running if it recurs on most pages (the book title); or on at least RUNNING_MIN_PAGES
    pages never more than RUNNING_MAX_STEP pages apart (a chapter title over its pages); or on two
    pages when it carries the page number ("Chapter 2: Methods 14": printed numbers keep a fixed offset
    from the PDF page numbers).
    """
    edges = [_edge_indices(lines) for lines in pages]
    seen_on: dict[str, list[int]] = {}
    offsets: Counter[int] = Counter()
    for number, (lines, indices) in enumerate(zip(pages, edges), start=1):
        for key in {_running_key(lines[i].text) for i in indices}:
            seen_on.setdefault(key, []).append(number)
        offsets.update({o for i in indices if (o := _page_offset(lines[i].text, number)) is not None})
    threshold = max(MIN_RECURRING_PAGES, math.ceil(RECURRING_PAGE_SHARE * len(pages)))
    page_offsets = {o for o, count in offsets.items() if count >= max(threshold, RUNNING_MIN_PAGES)}

    def running(text: str, number: int) -> bool:
        found = seen_on.get(_running_key(text), [])
        if len(pages) > 1 and len(found) >= threshold:
            return True
        if len(found) >= 2 and _page_offset(text, number) in page_offsets:
            return True
        steady = all(b - a <= RUNNING_MAX_STEP for a, b in zip(found, found[1:]))
        return len(found) >= RUNNING_MIN_PAGES and steady

    return [
        [
            line
            for i, line in enumerate(lines)
            if i not in indices or not (_PAGE_NUMBER.match(line.text) or running(line.text, number))
        ]
        for number, (lines, indices) in enumerate(zip(pages, edges), start=1)
    ]


# --- paragraphs ---------------------------------------------------------------------------------------

# A bullet glyph (or a hyphen) and a space start a list item.
_BULLET = re.compile(r"^[•◦▪‣●○■□∙➢►✓\-*]\s+(?=\S)")
_SENTENCE_END = re.compile(r"[.!?:。！？：][\"'”’)）」』]*$")
_OPEN_END = re.compile(r"[.!?:;。！？；：…][\"'”’)）」』]*$")


def _same_size(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return True
    return abs(a - b) <= SAME_SIZE_TOLERANCE * max(a, b)


_WORD_EDGE = re.compile(r"^\W+|\W+$")


def _vocabulary(pages: list[list[Line]]) -> set[str]:
    """The words of the document as written inside lines (to tell "well-known" from "infor-mation")."""
    words = set()
    for lines in pages:
        for line in lines:
            words.update(_WORD_EDGE.sub("", word).lower() for word in line.text.split()[:-1])
    return words


def _join_broken(left: str, right: str, vocabulary: set[str] = frozenset()) -> str:
    """Join two lines of a paragraph, undoing a word hyphenated at the line end ("infor-" + "mation")."""
    if len(left) >= 2 and left.endswith("-") and left[-2].islower() and right[:1].islower():
        head = left.rsplit(None, 1)[-1][:-1]
        tail = right.split(None, 1)[0]
        compound = _WORD_EDGE.sub("", f"{head}-{tail}").lower()
        if compound in vocabulary and _WORD_EDGE.sub("", head + tail).lower() not in vocabulary:
            return left + right  # the document writes this compound with a hyphen elsewhere
        return left[:-1] + right
    if len(left) >= 2 and left.endswith("-") and left[-2].isalnum() and right[:1].isalnum():
        return left + right  # "Anglo-" + "Saxon", "1999-" + "2000": a compound split at its hyphen
    return join_pair(left, right)


def _starts_paragraph(text: str) -> bool:
    first = text[:1]
    return first.isupper() or first.isdigit() or (first != "" and is_cjk(first)) or first in "\"'“‘(«"


@dataclass
class _Para:
    kind: BlockKind
    text: str
    page: int
    size: float | None


def _body_size(pages: list[list[Line]]) -> float | None:
    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            if line.size:
                sizes[round(line.size * 2) / 2] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else None


def _typical(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(fraction * len(values)))]


def lines_to_blocks(pages: list[list[Line]]) -> list[RawBlock]:
    """Turn the lines of each page (1-based page = index + 1) into paragraphs and headings."""
    pages = [[line for line in lines if line.text] for lines in pages]
    pages = drop_running_lines(pages)
    body = _body_size(pages)
    vocabulary = _vocabulary(pages)

    def is_heading(line: Line) -> bool:
        return bool(
            body and line.size and line.size >= HEADING_SIZE_RATIO * body and len(line.text) <= MAX_HEADING_CHARS
        )

    body_lengths = [len(l.text) for lines in pages for l in lines if not is_heading(l)]
    typical_length = _typical(body_lengths, TYPICAL_LINE_PERCENTILE) or 0

    steps = [
        a.y - b.y
        for lines in pages
        for a, b in zip(lines, lines[1:])
        if a.y is not None and b.y is not None and a.y > b.y and _same_size(a.size, b.size)
        and not is_heading(a) and not is_heading(b)
    ]
    step = _typical(steps, LINE_STEP_PERCENTILE)

    paras: list[_Para] = []
    for number, lines in enumerate(pages, start=1):
        previous: Line | None = None
        for line in lines:
            text = line.text
            bullet = _BULLET.match(text)
            if is_heading(line):
                kind = BlockKind.HEADING
            elif bullet:
                kind, text = BlockKind.LIST_ITEM, text[bullet.end():]
            else:
                kind = BlockKind.PARAGRAPH
            if previous is None or bullet or _breaks(previous, line, kind, paras[-1], step, typical_length):
                paras.append(_Para(kind, text, number, line.size))
            elif kind is BlockKind.HEADING:
                paras[-1].text = join_pair(paras[-1].text, text)
            else:  # a paragraph line, or the next line of a list item
                paras[-1].text = _join_broken(paras[-1].text, text, vocabulary)
            previous = line

    merged: list[_Para] = []
    for para in paras:
        if merged and _continues_on_next_page(merged[-1], para):
            merged[-1].text = _join_broken(merged[-1].text, para.text, vocabulary)
        else:
            merged.append(para)

    levels = _heading_levels([p.size for p in merged if p.kind is BlockKind.HEADING])
    return [
        RawBlock(p.kind, p.text, page=p.page, level=levels.get(p.size) if p.kind is BlockKind.HEADING else None)
        for p in merged
    ]


def _breaks(previous: Line, line: Line, kind: BlockKind, para: _Para, step: float | None,
            typical_length: float) -> bool:
    if (kind is BlockKind.HEADING) != (para.kind is BlockKind.HEADING):
        return True
    if kind is BlockKind.HEADING:
        return not _same_size(previous.size, line.size)
    if line.gap_before:
        return True
    if step is not None and previous.y is not None and line.y is not None:
        moved = previous.y - line.y
        # Up by more than a line: the next column or a new text box; far down: a paragraph gap.
        if moved < -step or moved > PARAGRAPH_GAP_RATIO * step:
            return True
    short = len(previous.text) < SHORT_LINE_RATIO * typical_length
    return bool(short and _SENTENCE_END.search(previous.text) and _starts_paragraph(line.text))


def _continues_on_next_page(last: _Para, first: _Para) -> bool:
    if first.page != last.page + 1 or last.kind is BlockKind.HEADING or first.kind is not BlockKind.PARAGRAPH:
        return False
    if _OPEN_END.search(last.text):
        return False
    if first.text[:1].islower():
        return True
    return is_cjk(last.text[-1]) and is_cjk(first.text[0])


def _heading_levels(sizes: list[float | None]) -> dict[float | None, int]:
    distinct = sorted({s for s in sizes if s is not None}, reverse=True)
    levels: dict[float | None, int] = {None: 1}
    level = 0
    previous: float | None = None
    for size in distinct:
        if previous is None or not _same_size(previous, size):
            level = min(level + 1, MAX_HEADING_LEVELS)
        levels[size] = level
        previous = size
    return levels


# --- pypdf --------------------------------------------------------------------------------------------


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs (even at ERROR level) every flaw it works around; real failures are exceptions, and
    without this the messages would land on stderr, in the middle of the reader's screen."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _read_page(page) -> tuple[list[tuple[str, tuple | None]], str]:
    """pypdf's text pieces of a page with (cm, tm, font size), and its plain text (only pypdf runs here)."""
    pieces: list[tuple[str, tuple | None]] = []

    def visit(text: str, cm, tm, font_dict, font_size) -> None:
        pieces.append((text, (list(cm), list(tm), font_size)))

    return pieces, page.extract_text(visitor_text=visit)


def page_lines(pieces: list[tuple[str, tuple | None]], plain: str) -> list[Line]:
    """Lines in content order, each with the position and size of its first piece of text."""
    lines: list[Line] = []
    parts: list[str] = []
    where: tuple[float, float] | None = None

    def end_line() -> None:
        nonlocal where
        text = normalize_pdf_text("".join(parts))
        if text:
            y, size = where if where else (None, None)
            lines.append(Line(text, y, size))
        parts.clear()
        where = None

    for text, matrices in pieces:
        for index, piece in enumerate(text.split("\n")):
            if index:
                end_line()
            if not piece:
                continue
            if where is None and piece.strip() and matrices:
                where = _position(*matrices)
            parts.append(piece)
    end_line()
    if not lines and plain and plain.strip():  # no visitor calls: fall back to the plain text
        gap = False
        for raw in plain.split("\n"):
            text = normalize_pdf_text(raw)
            if text:
                lines.append(Line(text, gap_before=gap))
            gap = not text
    return lines


def _position(cm, tm, font_size) -> tuple[float, float] | None:
    try:
        x, y = float(tm[4]), float(tm[5])
        a, b, c, d = (float(v) for v in tm[:4])
        ca, cb, cc, cd, ce, cf = (float(v) for v in cm[:6])
        page_y = cb * x + cd * y + cf
        scale = math.sqrt(abs(a * d - b * c)) * math.sqrt(abs(ca * cd - cb * cc))
        return page_y, float(font_size) * scale
    except (TypeError, ValueError, IndexError):
        return None


def _damaged(name: str) -> ExtractError:
    return ExtractError(
        f"{name} is damaged and cannot be read as a PDF; "
        "try opening it in a PDF viewer and saving or printing it to a new PDF."
    )


def _needs_cryptography(name: str) -> ExtractError:
    return ExtractError(
        f"{name} uses AES encryption, which needs the cryptography package; "
        "install it with pip install cryptography."
    )


def _unlock(reader, name: str, password: str | None) -> None:
    from pypdf import PasswordType
    from pypdf.errors import DependencyError

    attempts = [password, ""] if password else [""]
    try:
        for attempt in attempts:
            if reader.decrypt(attempt) != PasswordType.NOT_DECRYPTED:
                return
    except DependencyError as exc:
        raise _needs_cryptography(name) from exc
    except Exception as exc:  # pypdf raises many kinds of errors on a broken encryption dictionary
        raise _damaged(name) from exc
    if password:
        raise PasswordRequired(f"The password for {name} is wrong; try again.")
    raise PasswordRequired(f"{name} is encrypted; give its password with --password.")


def _metadata_title(reader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # broken metadata is not worth failing for
        return None
    title = " ".join(str(title).split()) if title else ""
    return title or None


def extract_pdf(data: bytes, *, name: str, password: str | None = None) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    with _quiet_pypdf():
        try:
            reader = PdfReader(io.BytesIO(data))
            encrypted = reader.is_encrypted
        except DependencyError as exc:
            raise _needs_cryptography(name) from exc
        except Exception as exc:  # pypdf raises many kinds of errors on a broken file
            log.debug("pypdf could not open %s", name, exc_info=True)
            raise _damaged(name) from exc
        if encrypted:
            _unlock(reader, name, password)
        try:
            pages = list(reader.pages)
        except DependencyError as exc:
            raise _needs_cryptography(name) from exc
        except Exception as exc:
            raise _damaged(name) from exc
        title = _metadata_title(reader)
        read: list[tuple[list, str]] = []
        failed = 0
        for number, page in enumerate(pages, start=1):
            try:
                read.append(_read_page(page))
            except Exception:  # one broken page should not hide the others
                log.debug("pypdf could not read page %d of %s", number, name, exc_info=True)
                failed += 1
                read.append(([], ""))
    page_text = [page_lines(pieces, plain) for pieces, plain in read]

    if not pages:
        raise ExtractError(f"{name} has no pages; there is nothing to read.")
    if not any(page_text):
        if failed == len(pages):
            raise _damaged(name)
        raise ExtractError(SCAN_MESSAGE.format(name=name))
    return Extracted(lines_to_blocks(page_text), title=title)
