"""HTML and XHTML to blocks with the standard library's html.parser (also used for EPUB chapters).
Block-level elements end a block; headings, list items (with their numbers in an <ol>) and captions keep
their kind; a table is read by row, each cell after its column's header; images by their description."""

from __future__ import annotations

import collections

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from reader.text.document import IMAGE_CLOSE, IMAGE_OPEN, LINK_CLOSE, LINK_OPEN, BlockKind, RawBlock, strip_marks, take_spans
from reader.text.extract._common import (Extracted, collapse_whitespace, column_names, image_text, list_number,
                                         read_row)
from reader.text.extract.plain import check_text_size, decode_text

# Their content is never read aloud. rt/rp are ruby readings, which would double the base text.
SKIP_ELEMENTS = frozenset(
    {"script", "style", "nav", "head", "template", "noscript", "svg", "math", "rt", "rp", "iframe", "object",
     "select", "button"}
)
# Elements without an end tag: they must never be pushed on a stack.
VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
BLOCK_ELEMENTS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "div",
     "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
     "header", "hgroup", "hr", "html", "legend", "li", "main", "ol", "p", "pre", "section", "summary", "table",
     "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
)
KIND_OF = {
    **{f"h{n}": BlockKind.HEADING for n in range(1, 7)},
    "li": BlockKind.LIST_ITEM,
    "figcaption": BlockKind.CAPTION,
    "caption": BlockKind.CAPTION,
}
# <ol type>: how the numbers are written.
OL_TYPES = {"1": "decimal", "a": "lower-alpha", "A": "upper-alpha", "i": "lower-roman", "I": "upper-roman"}
MAX_COLSPAN = 1000  # the HTML standard's limit
MAX_NUMBER_DIGITS = 9


@dataclass
class _List:
    ordered: bool
    next: int = 1
    step: int = 1  # -1 for <ol reversed>
    style: str = "decimal"


@dataclass
class _Table:
    """A table being read row by row: each data row becomes one block."""

    header: list[str] = field(default_factory=list)  # one name per column (a colspan repeats it)
    header_cells: list[str] = field(default_factory=list)  # as written, read if no data row follows
    in_head: bool = False  # inside <thead>
    rows: int = 0  # rows ended so far
    data_rows: int = 0
    row: list[tuple[str, int, bool]] | None = None  # the open row's cells: text (with marks), colspan, <th>
    cell: list[str] | None = None  # the open cell's text
    cell_span: int = 1
    cell_th: bool = False


@dataclass
class _Figure:
    produced: int  # _BlockParser.produced when the figure opened
    bare_image: bool = False  # it holds an image without any description


# Open block elements kept track of, at most: a page nested deeper (200,000 <div>s) gets no more levels,
# so each tag costs the same however deep the file goes.
MAX_OPEN_BLOCKS = 512


class _BlockParser(HTMLParser):
    def __init__(self, chapter: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.chapter = chapter
        self.blocks: list[RawBlock] = []
        self.title_parts: list[str] = []
        self.produced = 0  # pieces of text flushed, into blocks or table cells
        self._in_title = False
        self._buffer: list[str] = []
        self._blocks_open: list[str] = []  # open block-level elements, innermost last
        self._open_count: collections.Counter[str] = collections.Counter()  # how many of each are open
        self._skip_open: list[str] = []  # open elements whose content is skipped
        self._pre_depth = 0
        self._links_open = 0  # 1 while an <a href> is open around the text being collected
        self._link_at = 0  # where in _buffer the open link's text starts
        self._link_bare_image = False  # the open link holds an image without any description
        # Each entry belongs to an "ol"/"ul", "table" or "figure" in _blocks_open.
        self._lists: list[_List] = []
        self._tables: list[_Table] = []
        self._figures: list[_Figure] = []
        self._number: str | None = None  # the number of the list item whose text comes next

    # -- element handling

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in VOID_ELEMENTS:
            if tag == "br" and not self._skip_open:
                self._buffer.append("\n" if self._pre_depth else " ")
            elif tag == "hr":
                self._flush()
            elif tag == "img" and not self._skip_open:
                self._image(attrs)
            return
        hidden = any(name == "hidden" or (name == "aria-hidden" and value == "true") for name, value in attrs)
        if self._skip_open or tag in SKIP_ELEMENTS or hidden:
            if len(self._skip_open) < MAX_OPEN_BLOCKS:
                self._skip_open.append(tag)
            return
        # Links do not nest (HTML forbids it): an <a> inside one is part of it, so a page of a million
        # unclosed <a> costs nothing at each block.
        if tag == "a" and not self._links_open and any(name == "href" and value for name, value in attrs):
            self._link_at = len(self._buffer)
            self._buffer.append(LINK_OPEN)
            self._links_open = 1
        if tag in BLOCK_ELEMENTS:
            self._flush()
            if len(self._blocks_open) >= MAX_OPEN_BLOCKS:
                return  # nested deeper than any real page: a boundary, no new level (bounded work per tag)
            self._opened(tag, dict(attrs))
            self._blocks_open.append(tag)
            self._open_count[tag] += 1
            if tag == "pre":
                self._pre_depth += 1

    def _opened(self, tag: str, attrs: dict[str, str | None]) -> None:
        table = self._tables[-1] if self._tables else None
        if tag in ("ol", "ul"):
            self._lists.append(_ordered_list(attrs) if tag == "ol" else _List(ordered=False))
        elif tag == "li":
            self._number = None
            if self._lists and self._lists[-1].ordered:
                current = self._lists[-1]
                value = _integer(attrs.get("value"))
                number = current.next if value is None else value
                current.next = number + current.step
                self._number = list_number(number, current.style) + "."
        elif tag == "figure":
            self._figures.append(_Figure(self.produced))
        elif tag == "table":
            self._tables.append(_Table())
        elif table is None:
            return  # a row or cell outside any table is read as a paragraph
        elif tag in ("thead", "tbody", "tfoot"):
            self._end_row(table)
            table.in_head = tag == "thead"
        elif tag == "tr":
            self._end_row(table)
            table.row = []
        elif tag in ("td", "th"):
            self._end_cell(table)
            if table.row is None:
                table.row = []
            table.cell = []
            table.cell_span = min(max(_integer(attrs.get("colspan")) or 1, 1), MAX_COLSPAN)
            table.cell_th = tag == "th"

    def _closed(self, tag: str) -> None:
        """`tag`, the innermost open block element, ends (its text is flushed already)."""
        table = self._tables[-1] if self._tables else None
        if tag in ("ol", "ul") and self._lists:
            self._lists.pop()
            self._number = None
        elif tag == "li":
            self._number = None
        elif tag == "figure" and self._figures:
            figure = self._figures.pop()
            if figure.bare_image and self.produced == figure.produced:
                self._buffer.append(f"{IMAGE_OPEN}{image_text()}{IMAGE_CLOSE}")
                self._flush()
        elif tag == "table" and table is not None:
            self._end_row(table)
            self._tables.pop()
            if table.header_cells and not table.data_rows:
                self._row_block(", ".join(text for text in table.header_cells if text))
        elif table is None:
            return
        elif tag in ("td", "th"):
            self._end_cell(table)
        elif tag in ("tr", "thead", "tbody", "tfoot"):
            self._end_row(table)
            if tag == "thead":
                table.in_head = False

    def _close_to(self, index: int) -> None:
        """End the open block elements from `index` on, innermost first."""
        while len(self._blocks_open) > index:
            self._closed(self._blocks_open[-1])
            tag = self._blocks_open.pop()
            self._open_count[tag] -= 1
            if tag == "pre":
                self._pre_depth -= 1

    def _image(self, attrs: list[tuple[str, str | None]]) -> None:
        """An image is read by its name (aria-label, alt, else title), as "image: Map of route 42". An
        empty alt, or role presentation, marks it decorative: left out, as screen readers do. One with no
        name at all is said as "image" only when it is all there is of a link or a figure (so the link
        or figure is not silent); elsewhere it is left out too."""
        values = dict(attrs)
        if values.get("role") in ("presentation", "none") or values.get("aria-hidden") == "true":
            return
        name = (values.get("aria-label") or "").strip()
        if not name and "alt" in values:
            name = (values["alt"] or "").strip()
            if not name:
                return  # alt="": decorative
        name = strip_marks(name or (values.get("title") or "").strip())
        if name:
            self._buffer.append(f" {IMAGE_OPEN}{image_text(name)}{IMAGE_CLOSE} ")
        elif self._links_open:
            self._link_bare_image = True
        elif self._figures:
            self._figures[-1].bare_image = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <p/> or <div/> in XHTML: an empty element, which still separates blocks.
        if tag in VOID_ELEMENTS:
            self.handle_starttag(tag, attrs)
        elif tag in BLOCK_ELEMENTS and not self._skip_open:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._skip_open:
            if tag in self._skip_open:
                del self._skip_open[_last_index(self._skip_open, tag):]
            return
        if tag == "a" and self._links_open:
            self._name_bare_link()
            self._buffer.append(LINK_CLOSE)
            self._links_open = 0
        if tag in BLOCK_ELEMENTS and self._open_count[tag]:
            self._flush()
            self._close_to(_last_index(self._blocks_open, tag))

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        if not self._skip_open:
            self._buffer.append(strip_marks(data))

    def close(self) -> None:
        super().close()
        self._flush()
        self._close_to(0)

    # -- blocks

    def _name_bare_link(self) -> None:
        """A link whose only content is an image without a name is said as "image"."""
        if self._link_bare_image and not strip_marks("".join(self._buffer[self._link_at:])).strip():
            self._buffer.append(f"{IMAGE_OPEN}{image_text()}{IMAGE_CLOSE}")
        self._link_bare_image = False

    def _flush(self) -> None:
        # A link that spans blocks is a link in each of them.
        if self._links_open:
            self._name_bare_link()
        raw = "".join(self._buffer) + LINK_CLOSE * self._links_open
        self._buffer.clear()
        self._buffer.append(LINK_OPEN * self._links_open)
        self._link_at = 0
        if self._pre_depth:
            lines = [" ".join(line.split()) for line in raw.strip("\n").split("\n")]
            text = "\n".join(lines).strip()
        else:
            text = collapse_whitespace(raw)
        if not strip_marks(text).strip():
            return
        self.produced += 1
        number, self._number = self._number, None
        if number:
            text = f"{number} {text}"
        if self._tables and self._tables[-1].cell is not None:
            self._tables[-1].cell.append(text)  # a cell's text is read with its row
            return
        text, spans = take_spans(text)
        kind, level = BlockKind.PARAGRAPH, None
        for tag in reversed(self._blocks_open):
            if tag in KIND_OF:
                kind = KIND_OF[tag]
                level = int(tag[1]) if kind is BlockKind.HEADING else None
                break
        if kind is not BlockKind.LIST_ITEM:
            number = None
        self.blocks.append(RawBlock(kind, text, chapter=self.chapter, level=level, spans=spans, number=number))

    # -- tables

    def _end_cell(self, table: _Table) -> None:
        if table.cell is not None and table.row is not None:
            table.row.append((" ".join(table.cell), table.cell_span, table.cell_th))
        table.cell = None

    def _end_row(self, table: _Table) -> None:
        """A row ends: the table's header (in <thead>, or a first row of <th> only), or a data row read
        as "Station: Central, time: 06:00", or its cells joined with commas when there is no header."""
        self._end_cell(table)
        cells, table.row = table.row, None
        if not cells or not any(text for text, _, _ in cells):
            return
        table.rows += 1
        pairs = [(text, span) for text, span, _ in cells]
        if table.in_head or (table.rows == 1 and all(th for _, _, th in cells)):
            table.header = column_names(pairs, table.header)
            table.header_cells = [text for text, _ in pairs]
            return
        table.data_rows += 1
        self._row_block(read_row(pairs, table.header))

    def _row_block(self, text: str) -> None:
        text, spans = take_spans(text)
        if text:
            self.blocks.append(RawBlock(BlockKind.TABLE_ROW, text, chapter=self.chapter, spans=spans))


def _integer(value: str | None) -> int | None:
    """An attribute's whole number (start, value, colspan); None when absent, not a number, or longer
    than any real list or table would need."""
    text = (value or "").strip()
    if len(text) > MAX_NUMBER_DIGITS:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _ordered_list(attrs: dict[str, str | None]) -> _List:
    """<ol start type reversed>; a reversed list without a start would need its length first, so its
    items are read without numbers rather than with wrong ones."""
    reversed_ = "reversed" in attrs
    start = _integer(attrs.get("start"))
    if reversed_ and start is None:
        return _List(ordered=False)
    return _List(ordered=True, next=1 if start is None else start, step=-1 if reversed_ else 1,
                 style=OL_TYPES.get((attrs.get("type") or "1").strip(), "decimal"))


def _last_index(items: list[str], value: str) -> int:
    for index in range(len(items) - 1, -1, -1):
        if items[index] == value:
            return index
    raise ValueError(value)


def html_to_blocks(markup: str, *, chapter: str | None = None) -> tuple[list[RawBlock], str | None]:
    """The blocks of an HTML document and its <title> (None when absent or blank)."""
    parser = _BlockParser(chapter)
    parser.feed(markup)
    parser.close()
    title = collapse_whitespace("".join(parser.title_parts)) or None
    return parser.blocks, title


_XML_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._-]+)""", re.IGNORECASE)
# Declared charsets that are really read as a superset (as browsers do, per the WHATWG encoding standard).
CHARSET_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "cp950", "shift_jis": "cp932",
    "shift-jis": "cp932", "sjis": "cp932", "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
    "ascii": "cp1252", "euc-kr": "cp949",
    # Without a BOM a UTF-16 declaration cannot be true (the declaration itself was read as ASCII).
    "utf-16": "utf-8", "utf-16le": "utf-8", "utf-16be": "utf-8",
}
# A charset declaration must appear early (the HTML standard looks at the first 1024 bytes).
CHARSET_SNIFF_BYTES = 2048


def decode_markup(data: bytes, *, name: str) -> tuple[str, str]:
    """Decode HTML/XHTML bytes: BOM, then the declared charset, then the plain-text detector."""
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return decode_text(data, name=name)
    head = data[:CHARSET_SNIFF_BYTES]
    match = _XML_DECLARED.match(head) or _META_CHARSET.search(head)
    if match:
        declared = match.group(1).decode("ascii").lower()
        declared = CHARSET_SUPERSETS.get(declared, declared)
        try:
            return data.decode(declared), declared
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration is common; fall back to detection
    return decode_text(data, name=name)


def extract_html(data: bytes, *, name: str) -> Extracted:
    check_text_size(len(data), name=name)
    markup, encoding = decode_markup(data, name=name)
    blocks, title = html_to_blocks(markup)
    if title is None:
        title = next((b.text for b in blocks if b.kind is BlockKind.HEADING), None)
    return Extracted(blocks, title=title, encoding=encoding)
