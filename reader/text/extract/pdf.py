"""PDF text with pypdf: positioned lines rejoined into paragraphs (by spacing, indents and line length
for each font size; Chinese lines joined without spaces), words broken at line ends mended, table rows
read one by one, without running headers, footers and page numbers (even when OCR misreads them);
ligatures and full-width letters/digits normalized."""

from __future__ import annotations

import difflib
import io
import logging
import math
import re
import unicodedata
import warnings
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from reader.errors import ExtractError, PasswordRequired
from reader.text.document import BlockKind, RawBlock
from reader.text.extract._common import _CJK_RANGES, Extracted, is_cjk, join_pair

log = logging.getLogger(__name__)

# --- thresholds ---------------------------------------------------------------------------------------
EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be a running header or footer
RECURRING_PAGE_SHARE = 0.4  # a header on odd pages only recurs on half of them
MIN_RECURRING_PAGES = 2
RUNNING_MIN_PAGES = 3  # a chapter title repeated as the header of a few pages in a row
RUNNING_MAX_STEP = 2  # (on every page, or on every other page when the book title takes the others)
# OCR misreads running heads ("THE SIEGE OP VICKSBURG.", "VICKSBUEG"): letters this similar (difflib's
# ratio; one wrong letter in 19 is 0.95, two different 20-letter titles score well under 0.7) are one head,
# compared with the heads of the last RUNNING_WINDOW pages only (alternating heads recur every 2 pages).
RUNNING_SIMILARITY = 0.85
RUNNING_WINDOW = 4
RUNNING_FUZZY_MIN_LETTERS = 8  # shorter heads must match exactly: "Notes" and "Votes" are not one head
RUNNING_FUZZY_MAX_LETTERS = 80  # longer lines are body text
HEADING_COPY_SHARE = 0.4  # a small edge line repeating a large heading of its page: that heading is this much of it
PARAGRAPH_GAP_RATIO = 1.3  # a line gap this much larger than the usual line spacing starts a paragraph (LaTeX's gap is 1.5)
SHORT_LINE_RATIO = 0.7  # shorter than this share of a usual line: the last line of a paragraph
TYPICAL_LINE_PERCENTILE = 0.75  # "a usual line" is this long (most lines of a paragraph are full)
# The usual line spacing: a low percentile of all line steps, as many steps may be paragraph gaps.
LINE_STEP_PERCENTILE = 0.25
MIN_STEP_EM, MAX_STEP_EM = 0.3, 5.0  # steps outside these (in font sizes) are overprints or jumps, not spacing
MIN_SAMPLES = 3  # line steps of one font size needed to measure that size's own spacing
INDENT_MIN_EM, INDENT_MAX_EM = 0.8, 8.0  # a first-line indent: 2 em in Chinese, 1-3 em in English books
SAME_BASELINE_RATIO = 0.15  # pieces this close (share of the font size) in height are on one baseline
SAME_LINE_RATIO = 0.6  # a smaller piece raised or lowered less than this is a mark on the line (①, x²)
SUPERSCRIPT_RATIO = 0.85  # "smaller": at most this share of the line's font size
CELL_GAP_EM = 1.5  # a gap this wide (in font sizes) between two pieces of a line separates table cells
CELL_ALIGN_EM = 2.0  # cells of two rows starting this close are in one column (numbers are right-aligned)
TABLE_MIN_ROWS = 2
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
    x: float | None = None  # where the line starts on the page
    cells: tuple[tuple[float, str], ...] = ()  # (x, text) of its parts, when wide gaps cut it in two or more


# --- text normalization -------------------------------------------------------------------------------

_LIGATURES = re.compile("[\ufb00-\ufb06]")
_FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")
FULLWIDTH_OFFSET = 0xFEE0  # U+FF21 "Ａ" - U+0041 "A"
_CJK_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES)
# Letter-spaced CJK ("国 家 自 然 科 学", justified by spacing every character): three characters or more,
# each alone between single spaces. Words separated by spaces ("数字技术 拟社会互动") are kept apart.
_IDEOGRAPH_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACED_CJK = re.compile(f"[{_CJK_CLASS}](?: [{_CJK_CLASS}]){{2,}}(?![{_IDEOGRAPH_CLASS}])")


def normalize_pdf_text(text: str) -> str:
    """Ligatures and full-width ASCII letters/digits to plain ones; CJK punctuation (，。) is kept, and
    letter-spaced CJK closed up."""
    text = _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    text = _FULLWIDTH_ALNUM.sub(lambda m: chr(ord(m.group()) - FULLWIDTH_OFFSET), text)
    text = _CONTROLS.sub("", text)
    text = " ".join(text.split())
    text = _SPACED_CJK.sub(lambda m: m.group().replace(" ", ""), text)
    # A soft hyphen at the end of a line marks a word broken across lines; elsewhere it is invisible.
    if text.endswith("\xad"):
        text = text[:-1] + "-"
    return text.replace("\xad", "")


def _em_width(text: str) -> float:
    """The width of text in ems, estimated on the wide side: pypdf hands visitors no glyph widths, and
    too wide an estimate only hides a gap, where too narrow a one would cut prose into table cells."""
    width = 0.0
    for ch in text:
        if ch == " ":
            width += 0.3
        elif is_cjk(ch) or unicodedata.east_asian_width(ch) in "WF":
            width += 1.1
        elif ch.isupper() or ch in "mwMW@%":
            width += 0.8
        else:
            width += 0.6
    return width


def _line_width(line: Line) -> float:
    return _em_width(line.text) * (line.size or 1.0)


# --- running headers, footers and page numbers -------------------------------------------------------

_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.|seite|página|pagina)?\s*[-–—(\[]{0,2}\s*\d{1,5}\s*[-–—)\]]{0,2}(?:\s*(?:of|/|von|de)\s*\d{1,5})?$"
    r"|^[ivxlcdm]{1,7}$"
    r"|^第\s*\d{1,5}\s*页(?:\s*[,，/]?\s*共\s*\d{1,5}\s*页)?$"
    r"|^\d{1,5}\s*/\s*\d{1,5}$",
    re.IGNORECASE,
)
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def _running_key(text: str) -> str:
    """Its letters only: 'Chapter 3 - page 12', '12 Chapter 3' and 'Chapter 3, page 13' are one running line."""
    return _NOT_LETTERS.sub("", text.lower())


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


class _RunningKeys:
    """Running lines by their letters, where OCR misreads some of them ("THE SIEGE OP VICKSBURG."): a key
    close enough to one seen at the edges of the last RUNNING_WINDOW pages is taken as that one. The
    window keeps a 1,000-page book linear."""

    def __init__(self) -> None:
        self.same: dict[str, str] = {}
        self.recent: deque[set[str]] = deque(maxlen=RUNNING_WINDOW)

    def canonical(self, key: str) -> str:
        found = self.same.get(key)
        if found is None:
            found = key
            if RUNNING_FUZZY_MIN_LETTERS <= len(key) <= RUNNING_FUZZY_MAX_LETTERS:
                found = self._similar(key) or key
            self.same[key] = found
        return found

    def _similar(self, key: str) -> str | None:
        for keys in reversed(self.recent):
            for other in keys:
                if other == key or abs(len(other) - len(key)) > (1 - RUNNING_SIMILARITY) * len(key):
                    continue
                matcher = difflib.SequenceMatcher(None, key, other, autojunk=False)
                if matcher.quick_ratio() >= RUNNING_SIMILARITY and matcher.ratio() >= RUNNING_SIMILARITY:
                    return other
        return None

    def end_page(self, keys: set[str]) -> None:
        self.recent.append(keys)


def _repeats_heading(line: Line, key: str, headings: list[tuple[float, str]]) -> bool:
    """A running head that repeats a title printed much larger on the same page (a journal's first page)."""
    return bool(line.size) and any(
        size >= HEADING_SIZE_RATIO * line.size and len(h) >= RUNNING_FUZZY_MIN_LETTERS and h in key
        and len(h) >= HEADING_COPY_SHARE * len(key)
        for size, h in headings
    )


def drop_running_lines(pages: list[list[Line]], body: float | None = None) -> list[list[Line]]:
    """Remove page numbers and lines that recur at the top or bottom of pages.

    A line is running if it recurs on most pages (the book title); or on at least RUNNING_MIN_PAGES
    pages never more than RUNNING_MAX_STEP pages apart (a chapter title over its pages); or on two
    pages when it carries the page number ("Chapter 2: Methods 14": printed numbers keep a fixed offset
    from the PDF page numbers). Lines are compared by their letters, and OCR misreadings are forgiven.
    A line at the edge that repeats a large heading of its page is dropped too.
    """
    edges = [_edge_indices(lines) for lines in pages]
    keys = _RunningKeys()
    canonical: list[dict[int, str]] = []
    seen_on: dict[str, list[int]] = {}
    offsets: Counter[int] = Counter()
    for number, (lines, indices) in enumerate(zip(pages, edges), start=1):
        page_keys = {i: keys.canonical(key) for i in indices if (key := _running_key(lines[i].text))}
        canonical.append(page_keys)
        for key in set(page_keys.values()):
            seen_on.setdefault(key, []).append(number)
        keys.end_page(set(page_keys.values()))
        offsets.update({o for i in indices if (o := _page_offset(lines[i].text, number)) is not None})
    threshold = max(MIN_RECURRING_PAGES, math.ceil(RECURRING_PAGE_SHARE * len(pages)))
    page_offsets = {o for o, count in offsets.items() if count >= max(threshold, RUNNING_MIN_PAGES)}

    def running(key: str | None, text: str, number: int) -> bool:
        found = seen_on.get(key, []) if key else []
        if len(pages) > 1 and len(found) >= threshold:
            return True
        if len(found) >= 2 and _page_offset(text, number) in page_offsets:
            return True
        steady = all(b - a <= RUNNING_MAX_STEP for a, b in zip(found, found[1:]))
        return len(found) >= RUNNING_MIN_PAGES and steady

    kept = []
    for number, (lines, indices, page_keys) in enumerate(zip(pages, edges, canonical), start=1):
        headings = [(line.size, _running_key(line.text)) for line in lines
                    if body and line.size and line.size >= HEADING_SIZE_RATIO * body]
        kept.append([
            line
            for i, line in enumerate(lines)
            if i not in indices or not (
                _PAGE_NUMBER.match(line.text)
                or running(page_keys.get(i), line.text, number)
                or _repeats_heading(line, _running_key(line.text), headings)
            )
        ])
    return kept


# --- words broken at line ends ------------------------------------------------------------------------

_WORD_EDGE = re.compile(r"^\W+|\W+$")
# "mova- ble" inside one line: two printed lines side by side that pypdf read as one, or OCR.
_INLINE_BREAK = re.compile(r"\b([^\W\d_]*[a-z])- ([a-z][^\W\d_]*)")
# "pre- and post-war": a hyphen left open for the next word is not a broken word.
_SUSPENDED_BEFORE = frozenset({"and", "or", "nor", "to", "und", "oder", "et", "ou"})


_QUOTES = "“”‘’\"'"


def join_lines(left: str, right: str) -> str:
    """Two lines of one paragraph: a space between them unless both sides are CJK, also across a quote
    (“洛天依” + 为案例)."""
    if left and right and left[-1] in _QUOTES and right[0] not in _QUOTES and len(left) > 1:
        if is_cjk(left[-2]) and is_cjk(right[0]):
            return left + right
    if left and right and right[0] in _QUOTES and left[-1] not in _QUOTES and len(right) > 1:
        if is_cjk(left[-1]) and is_cjk(right[1]):
            return left + right
    return join_pair(left, right)


class _Words:
    """What the document (words written inside its lines) and the English lexicon know, to tell a word
    broken at a line end ("infor-" + "mation") from a compound broken at its hyphen ("well-" + "known").
    The lexicon is loaded only when a document has such a line end."""

    def __init__(self, pages: list[list[Line]]) -> None:
        self.vocabulary: set[str] = set()
        for lines in pages:
            for line in lines:  # not a line's first or last word: either may be half of a word
                self.vocabulary.update(_WORD_EDGE.sub("", w).lower() for w in line.text.split()[1:-1])
        self._lexicon = None
        self._loaded = False

    def _in_lexicon(self, word: str) -> bool:
        if not self._loaded:
            self._loaded = True
            try:
                from reader.speech.g2p.en import load_lexicon

                self._lexicon = load_lexicon()
            except Exception:  # no lexicon (a broken install): the document's own words decide alone
                log.debug("no English lexicon for dehyphenation", exc_info=True)
        lexicon = self._lexicon
        return bool(lexicon and word.isascii() and (lexicon.in_gold(word) or lexicon.in_silver(word)))

    def known(self, word: str) -> bool:
        return word.lower() in self.vocabulary or self._in_lexicon(word.lower())

    def keeps_hyphen(self, head: str, tail: str) -> bool:
        """Whether head- + tail is a compound ("well-known", "cast-iron") rather than one broken word.
        The document's own spelling wins; then a known closed word ("dangerous") joins; then a known
        compound keeps its hyphen; then two known words make a compound; anything else is a broken word."""
        closed, compound = (head + tail).lower(), f"{head}-{tail}".lower()
        if compound in self.vocabulary and closed not in self.vocabulary:
            return True
        if closed in self.vocabulary or self._in_lexicon(closed):
            return False
        if self._in_lexicon(compound):
            return True
        return self.known(head) and self.known(tail)

    def join(self, left: str, right: str) -> str:
        """Join two lines of a paragraph, undoing a word hyphenated at the line end ("infor-" + "mation")."""
        if len(left) >= 2 and left.endswith("-") and left[-2].islower() and right[:1].islower():
            head = _WORD_EDGE.sub("", left.rsplit(None, 1)[-1][:-1])
            tail = _WORD_EDGE.sub("", right.split(None, 1)[0])
            return left + right if self.keeps_hyphen(head, tail) else left[:-1] + right
        if len(left) >= 2 and left.endswith("-") and left[-2].isalnum() and right[:1].isalnum():
            return left + right  # "Anglo-" + "Saxon", "1999-" + "2000": a compound split at its hyphen
        return join_lines(left, right)

    def mend(self, text: str) -> str:
        """Words broken inside one line ("mova- ble") joined the same way."""
        def repl(match: re.Match[str]) -> str:
            head, tail = match.groups()
            if tail.lower() in _SUSPENDED_BEFORE:
                return match.group()
            return f"{head}-{tail}" if self.keeps_hyphen(head, tail) else head + tail

        return _INLINE_BREAK.sub(repl, text) if "- " in text else text


# --- paragraphs ---------------------------------------------------------------------------------------


# A bullet glyph (or a hyphen) and a space start a list item.
_BULLET = re.compile(r"^[•◦▪‣●○■□∙➢►✓\-*]\s+(?=\S)")
# "[12] Author (2024) Title": a numbered reference starts an item whatever its indent.
_REFERENCE = re.compile(r"^\[\d{1,4}\]\s")
_SENTENCE_END = re.compile(r"[.!?:。！？：][\"'”’)）」』]*$")
_OPEN_END = re.compile(r"[.!?:;。！？；：…][\"'”’)）」』]*$")


def _same_size(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return True
    return abs(a - b) <= SAME_SIZE_TOLERANCE * max(a, b)


def _size_class(size: float | None) -> float | None:
    return round(size * 2) / 2 if size else None


def _starts_paragraph(text: str) -> bool:
    first = text[:1]
    return first.isupper() or first.isdigit() or (first != "" and is_cjk(first)) or first in "\"'“‘(«"


@dataclass
class _Para:
    kind: BlockKind
    text: str
    page: int
    size: float | None
    after_jump: bool = True  # starts a page, a column or a text box, or follows a gap: may go on a paragraph
    lines: int = 1
    last_full: bool = False  # its last line runs to the usual line length
    hanging: bool = False  # its lines after the first are indented (a hanging indent)


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


class _Layout:
    """The usual line spacing of each font size (footnotes are set tighter than the body, and a Chinese
    paper's 10 pt lines 1.6 em apart must not read as paragraph gaps), and the usual line width, in page
    units so that small and large print in one column compare."""

    def __init__(self, pages: list[list[Line]], is_heading) -> None:
        steps: dict[float | None, list[float]] = {}
        widths: list[float] = []
        for lines in pages:
            for a, b in zip(lines, lines[1:]):
                if a.y is None or b.y is None or is_heading(a) or is_heading(b) or not _same_size(a.size, b.size):
                    continue
                moved = a.y - b.y
                if a.size and MIN_STEP_EM * a.size < moved < MAX_STEP_EM * a.size:
                    steps.setdefault(_size_class(a.size), []).append(moved)
            widths.extend(_line_width(line) for line in lines if not is_heading(line))
        self._steps = {size: _typical(v, LINE_STEP_PERCENTILE) for size, v in steps.items() if len(v) >= MIN_SAMPLES}
        every_step = [s / size for size, v in steps.items() if size for s in v]
        self._step_em = _typical(every_step, LINE_STEP_PERCENTILE)  # for sizes with too few lines
        self._width = _typical(widths, TYPICAL_LINE_PERCENTILE) or 0

    def step(self, size: float | None) -> float | None:
        found = self._steps.get(_size_class(size))
        if found is None and size and self._step_em:
            found = self._step_em * size
        return found

    def full(self, line: Line) -> bool:
        return _line_width(line) >= SHORT_LINE_RATIO * self._width


_JUMP, _NEW = "jump", "new"


def _break(previous: Line, line: Line, kind: BlockKind, para: _Para, layout: _Layout) -> str | None:
    """None when `line` goes on the paragraph; _NEW for a new one; _JUMP when it moved elsewhere on the
    page (next column, a gap): a new paragraph unless the text plainly goes on."""
    if (kind is BlockKind.HEADING) != (para.kind is BlockKind.HEADING):
        return _NEW
    if kind is BlockKind.HEADING:
        return None if _same_size(previous.size, line.size) else _NEW
    if line.gap_before:
        return _NEW
    step = layout.step(max(previous.size or 0, line.size or 0) or None)
    if step is not None and previous.y is not None and line.y is not None:
        moved = previous.y - line.y
        # Up by more than a line: the next column or a new text box; far down: a paragraph gap or a figure.
        if moved < -step or moved > PARAGRAPH_GAP_RATIO * step:
            return _JUMP
    if previous.x is not None and line.x is not None and line.size:
        indent = line.x - previous.x
        if para.hanging:  # a reference list: each item's first line stands out to the left
            if indent <= -INDENT_MIN_EM * line.size:
                return _NEW
        elif para.lines > 1 and _indented(indent, line.size):  # a first-line indent
            return _NEW
    if not _same_size(previous.size, line.size):  # a title set a little larger than the body, not a heading
        return _NEW
    if not layout.full(previous) and _SENTENCE_END.search(previous.text) and _starts_paragraph(line.text):
        return _NEW
    return None


def _indented(indent: float, size: float) -> bool:
    return INDENT_MIN_EM * size <= indent <= INDENT_MAX_EM * size


def _goes_on(last: _Para, first: _Para) -> bool:
    """Whether `first` (after a page end, a column end or a gap) continues the paragraph `last`."""
    if not first.after_jump or first.kind is not BlockKind.PARAGRAPH or first.page not in (last.page, last.page + 1):
        return False
    if last.kind not in (BlockKind.PARAGRAPH, BlockKind.LIST_ITEM) or _OPEN_END.search(last.text):
        return False
    if first.text[:1].islower():  # (on one page, a short line before a gap is a title, not a column end)
        return first.page == last.page + 1 or last.last_full or last.text.endswith("-")
    # Chinese has no lowercase: a full last line without a sentence end goes on.
    return last.last_full and is_cjk(last.text[-1]) and is_cjk(first.text[0])


def _table_rows(lines: list[Line]) -> set[int]:
    """Indices of lines that are table rows: TABLE_MIN_ROWS lines or more in a row, each cut into cells
    by wide gaps, and each sharing a column (a cell starting within CELL_ALIGN_EM) with its neighbour."""
    rows: set[int] = set()
    run: list[int] = []

    def aligned(a: Line, b: Line) -> bool:
        size = a.size or b.size or 0
        return any(abs(xa - xb) <= CELL_ALIGN_EM * size for xa, _ in a.cells[1:] for xb, _ in b.cells[1:])

    def close() -> None:
        if len(run) >= TABLE_MIN_ROWS:
            rows.update(run)
        run.clear()

    for index, line in enumerate(lines):
        if len(line.cells) < 2:
            close()
            continue
        if run and not aligned(lines[run[-1]], line):
            close()
        run.append(index)
    close()
    return rows


def lines_to_blocks(pages: list[list[Line]]) -> list[RawBlock]:
    """Turn the lines of each page (1-based page = index + 1) into paragraphs, headings and table rows."""
    pages = [[line for line in lines if line.text] for lines in pages]
    body = _body_size(pages)
    pages = drop_running_lines(pages, body)
    words = _Words(pages)

    def is_heading(line: Line) -> bool:
        return bool(
            body and line.size and line.size >= HEADING_SIZE_RATIO * body and len(line.text) <= MAX_HEADING_CHARS
        )

    layout = _Layout(pages, is_heading)
    paras: list[_Para] = []
    for number, lines in enumerate(pages, start=1):
        rows = _table_rows(lines)
        previous: Line | None = None
        for index, line in enumerate(lines):
            if index in rows:
                text = ", ".join(words.mend(cell) for _, cell in line.cells)
                paras.append(_Para(BlockKind.TABLE_ROW, text, number, line.size, after_jump=False))
                previous = None
                continue
            text = words.mend(line.text)
            bullet = _BULLET.match(text)
            if is_heading(line):
                kind = BlockKind.HEADING
            elif bullet:
                kind, text = BlockKind.LIST_ITEM, text[bullet.end():]
            else:
                kind = BlockKind.PARAGRAPH
            starts_item = bullet or _REFERENCE.match(text)
            reason = _NEW if previous is None or starts_item else _break(previous, line, kind, paras[-1], layout)
            if reason:
                jumped = reason == _JUMP or previous is None and not (paras and paras[-1].page == number)
                paras.append(_Para(kind, text, number, line.size, after_jump=jumped))
            else:
                para = paras[-1]
                para.text = join_lines(para.text, text) if kind is BlockKind.HEADING else words.join(para.text, text)
                if para.lines == 1 and None not in (previous.x, line.x, line.size):
                    para.hanging = _indented(line.x - previous.x, line.size)
                para.lines += 1
            paras[-1].last_full = layout.full(line)
            previous = line

    merged: list[_Para] = []
    for para in paras:
        if merged and _goes_on(merged[-1], para):
            merged[-1].text = words.join(merged[-1].text, para.text)
            merged[-1].last_full = para.last_full
        else:
            merged.append(para)

    levels = _heading_levels([p.size for p in merged if p.kind is BlockKind.HEADING])
    return [
        RawBlock(p.kind, p.text, page=p.page, level=levels.get(p.size) if p.kind is BlockKind.HEADING else None)
        for p in merged
    ]


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


@dataclass
class _Run:
    """A piece of a line as pypdf drew it, with where it starts."""

    text: str
    x: float | None = None
    y: float | None = None
    size: float | None = None


def _same_line(runs: list[_Run], run: _Run) -> bool:
    """Whether `run`, after pypdf ended a line, is on the same printed line: further right, on the same
    baseline (a new text object) or raised or lowered a little in a smaller font (①, an exponent)."""
    base, last = runs[0], runs[-1]
    if None in (base.y, base.size, last.x, run.x, run.y, run.size) or run.x < last.x:
        return False
    big, small = max(base.size, run.size), min(base.size, run.size)
    moved = abs(run.y - base.y)
    return moved <= SAME_BASELINE_RATIO * big or (moved <= SAME_LINE_RATIO * big and small <= SUPERSCRIPT_RATIO * big)


def _spaced(runs: list[_Run], run: _Run) -> bool:
    """Whether a space goes between two pieces of one printed line: not between CJK characters (政策①，),
    nor before a raised mark ("results¹ show")."""
    last = runs[-1]
    if last.text.endswith(" ") or is_cjk(last.text[-1]) or is_cjk(run.text[0]):
        return False
    return run.size > SUPERSCRIPT_RATIO * last.size


def _cells(runs: list[_Run]) -> tuple[tuple[float, str], ...]:
    cells: list[tuple[float, list[str]]] = []
    previous: _Run | None = None
    for run in runs:
        gap = None
        if previous is not None and None not in (previous.x, previous.size, run.x):
            gap = run.x - (previous.x + _em_width(previous.text.strip()) * previous.size)
        if run.x is not None and (not cells or (gap is not None and gap > CELL_GAP_EM * previous.size)):
            cells.append((run.x, [run.text]))
        elif cells:
            cells[-1][1].append(run.text)
        previous = run
    out = tuple((x, text) for x, parts in cells if (text := normalize_pdf_text("".join(parts))))
    return out if len(out) >= 2 else ()


def _make_line(runs: list[_Run]) -> Line | None:
    text = normalize_pdf_text("".join(run.text for run in runs))
    if not text:
        return None
    placed = [run for run in runs if run.y is not None]
    if not placed:
        return Line(text)
    # Its baseline and size are those of its largest words: not of a raised mark (①, ¹) or a drop cap, not
    # of a smaller "(Web Annex A)" after a heading's words, nor of small capitals opening a paragraph.
    words = [run for run in placed if len(run.text.strip()) >= 2] or placed
    main = max(words, key=lambda run: run.size or 0)
    return Line(text, main.y, main.size, x=placed[0].x, cells=_cells(placed))


def page_lines(pieces: list[tuple[str, tuple | None]], plain: str) -> list[Line]:
    """Lines in content order, each with the position and size of its largest words; pieces pypdf put on
    lines of their own but printed on the same line (a raised footnote mark and the text after it) are
    put back together."""
    lines: list[Line] = []
    runs: list[_Run] = []
    ended = False  # pypdf ended a line after the last run

    def end_line() -> None:
        line = _make_line(runs)
        if line:
            lines.append(line)
        runs.clear()

    for text, matrices in pieces:
        for index, piece in enumerate(text.split("\n")):
            ended = ended or index > 0
            if not piece:
                continue
            if not piece.strip():  # a space pypdf put between two pieces belongs to the one before
                if runs and not ended:
                    runs[-1].text += piece
                continue
            where = _position(*matrices) if matrices else None
            run = _Run(piece, *where) if where else _Run(piece)
            if ended and runs:
                if not _same_line(runs, run):
                    end_line()
                elif _spaced(runs, run):
                    runs[-1].text += " "
            runs.append(run)
            ended = False
    end_line()
    if not lines and plain and plain.strip():  # no visitor calls: fall back to the plain text
        gap = False
        for raw in plain.split("\n"):
            text = normalize_pdf_text(raw)
            if text:
                lines.append(Line(text, gap_before=gap))
            gap = not text
    return lines


def _position(cm, tm, font_size) -> tuple[float, float, float] | None:
    """Where a piece starts on the page (x, y) and its effective font size."""
    try:
        x, y = float(tm[4]), float(tm[5])
        a, b, c, d = (float(v) for v in tm[:4])
        ca, cb, cc, cd, ce, cf = (float(v) for v in cm[:6])
        page_x = ca * x + cc * y + ce
        page_y = cb * x + cd * y + cf
        scale = math.sqrt(abs(a * d - b * c)) * math.sqrt(abs(ca * cd - cb * cc))
        return page_x, page_y, float(font_size) * scale
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


# A PDF is read up to this many pages (a 1,000-page book reads in linear time; see bench_hostile), and a
# page whose drawing instructions are larger than this is not read: a page of text is tens of kilobytes,
# while a hostile one (200,000 text operators) costs pypdf seconds a megabyte.
MAX_PAGES = 5000
MAX_PAGE_CONTENT_BYTES = 1 << 20


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
        notes: list[str] = []
        seen: set[tuple[int, int]] = set()
        repeated: list[int] = []
        crowded: list[int] = []
        for number, page in enumerate(pages[:MAX_PAGES], start=1):
            ref = page.indirect_reference
            key = (ref.idnum, ref.generation) if ref is not None else None
            if key is not None and key in seen:  # the page tree names one page again: read it once
                repeated.append(number)
                read.append(([], ""))
                continue
            if key is not None:
                seen.add(key)
            try:
                if _content_bytes(page) > MAX_PAGE_CONTENT_BYTES:
                    crowded.append(number)
                    read.append(([], ""))
                    continue
                read.append(_read_page(page))
            except Exception:  # one broken page should not hide the others
                log.debug("pypdf could not read page %d of %s", number, name, exc_info=True)
                failed += 1
                read.append(([], ""))
    if crowded:
        notes.append(f"{_pages_said(crowded)} of this document {'was' if len(crowded) == 1 else 'were'} not read: "
                     f"{'it draws' if len(crowded) == 1 else 'they draw'} more than "
                     f"{MAX_PAGE_CONTENT_BYTES >> 20} MB of instructions, which no page of text needs.")
    if len(repeated) > 1:
        notes.append(f"The document names {len(repeated)} pages that repeat an earlier page; each is read once.")
    if len(pages) > MAX_PAGES:
        notes.append(f"Pages {MAX_PAGES + 1} to {len(pages)} were not read: the reader reads at most "
                     f"{MAX_PAGES} pages of a PDF; split it to read the rest.")
    page_text = [page_lines(pieces, plain) for pieces, plain in read]

    if not pages:
        raise ExtractError(f"{name} has no pages; there is nothing to read.")
    if not any(page_text):
        if failed == len(read):
            raise _damaged(name)
        if not notes:
            raise ExtractError(SCAN_MESSAGE.format(name=name))
    blocks = lines_to_blocks(page_text) if any(page_text) else []
    return Extracted(blocks + [RawBlock(BlockKind.PARAGRAPH, note) for note in notes], title=title)


def _content_bytes(page) -> int:
    """The size of a page's drawing instructions, decoded (pypdf caps what a compressed stream may unpack to)."""
    contents = page.get_contents()
    return len(contents.get_data()) if contents is not None else 0


def _pages_said(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"Page {numbers[0]}"
    if len(numbers) <= 5:
        return "Pages " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
    return f"{len(numbers)} pages (the first is page {numbers[0]})"
