"""HTML and XHTML to blocks with the standard library's html.parser (also used for EPUB chapters).
Block-level elements end a block; headings, list items, table cells and captions keep their kind."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from reader.text.document import IMAGE_CLOSE, IMAGE_OPEN, LINK_CLOSE, LINK_OPEN, BlockKind, RawBlock, strip_marks, take_spans
from reader.text.extract._common import Extracted, collapse_whitespace
from reader.text.extract.plain import decode_text

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
    "td": BlockKind.TABLE_CELL,
    "th": BlockKind.TABLE_CELL,
    "figcaption": BlockKind.CAPTION,
    "caption": BlockKind.CAPTION,
}


class _BlockParser(HTMLParser):
    def __init__(self, chapter: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.chapter = chapter
        self.blocks: list[RawBlock] = []
        self.title_parts: list[str] = []
        self._in_title = False
        self._buffer: list[str] = []
        self._blocks_open: list[str] = []  # open block-level elements, innermost last
        self._skip_open: list[str] = []  # open elements whose content is skipped
        self._pre_depth = 0
        self._links_open = 0  # 1 while an <a href> is open around the text being collected

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
            self._skip_open.append(tag)
            return
        # Links do not nest (HTML forbids it): an <a> inside one is part of it, so a page of a million
        # unclosed <a> costs nothing at each block.
        if tag == "a" and not self._links_open and any(name == "href" and value for name, value in attrs):
            self._buffer.append(LINK_OPEN)
            self._links_open = 1
        if tag in BLOCK_ELEMENTS:
            self._flush()
            self._blocks_open.append(tag)
            if tag == "pre":
                self._pre_depth += 1

    def _image(self, attrs: list[tuple[str, str | None]]) -> None:
        """An image is read by its description (alt), marked as an image; one with no description, or
        marked decorative, is left out, as screen readers do by default."""
        values = dict(attrs)
        alt = strip_marks(values.get("alt") or "").strip()
        if not alt or values.get("role") in ("presentation", "none") or values.get("aria-hidden") == "true":
            return
        self._buffer.append(f" {IMAGE_OPEN}{alt}{IMAGE_CLOSE} ")

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
            self._buffer.append(LINK_CLOSE)
            self._links_open = 0
        if tag in BLOCK_ELEMENTS and tag in self._blocks_open:
            self._flush()
            index = _last_index(self._blocks_open, tag)
            self._pre_depth -= self._blocks_open[index:].count("pre")
            del self._blocks_open[index:]

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        if not self._skip_open:
            self._buffer.append(strip_marks(data))

    def close(self) -> None:
        super().close()
        self._flush()

    # -- blocks

    def _flush(self) -> None:
        # A link that spans blocks is a link in each of them.
        raw = "".join(self._buffer) + LINK_CLOSE * self._links_open
        self._buffer.clear()
        self._buffer.append(LINK_OPEN * self._links_open)
        if self._pre_depth:
            lines = [" ".join(line.split()) for line in raw.strip("\n").split("\n")]
            text = "\n".join(lines).strip()
        else:
            text = collapse_whitespace(raw)
        text, spans = take_spans(text)
        if not text:
            return
        kind, level = BlockKind.PARAGRAPH, None
        for tag in reversed(self._blocks_open):
            if tag in KIND_OF:
                kind = KIND_OF[tag]
                level = int(tag[1]) if kind is BlockKind.HEADING else None
                break
        self.blocks.append(RawBlock(kind, text, chapter=self.chapter, level=level, spans=spans))


def _last_index(items: list[str], value: str) -> int:
    return len(items) - 1 - items[::-1].index(value)


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
    markup, encoding = decode_markup(data, name=name)
    blocks, title = html_to_blocks(markup)
    if title is None:
        title = next((b.text for b in blocks if b.kind is BlockKind.HEADING), None)
    return Extracted(blocks, title=title, encoding=encoding)
