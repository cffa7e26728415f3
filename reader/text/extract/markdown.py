"""Markdown to blocks with a light line-based parser: headings, lists, tables, fences, paragraphs.
Inline markup is reduced to the words a reader hears: links to their text, images to their alt text."""

from __future__ import annotations

import html as html_entities
import re

from reader.text.document import IMAGE_CLOSE, IMAGE_OPEN, LINK_CLOSE, LINK_OPEN, BlockKind, RawBlock, strip_marks, take_spans
from reader.text.extract._common import Extracted, column_names, image_text, join_lines, read_row, squeeze
from reader.text.extract.plain import check_text_size, decode_text

# Inline spans (emphasis, links, code) longer than this are not looked for: every inline pattern is then
# linear in the line, whatever a hostile file nests ("[[[[...", "****...").
_SPAN = 1000
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_LIST_ITEM = re.compile(r"^([ \t]*)(?:[-*+]|(\d{1,9})([.)]))(?:[ \t]+(.*)|[ \t]*$)")
_TASK_BOX = re.compile(r"^\[[ xX]\][ \t]+")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S+")
_BLOCKQUOTE = re.compile(r"^(?: {0,3}>[ \t]?)+")  # all the levels at once: ">>>>" is linear
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# YAML front matter is only looked for in the first lines of the file.
FRONT_MATTER_MAX_LINES = 100

# Inline markup, applied in this order.
_CODE_SPAN = re.compile(rf"(`{{1,{_SPAN}}})(.{{1,{_SPAN}}}?)\1")
_ESCAPE = re.compile(r"\\([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")
_IMAGE = re.compile(rf"!\[([^\][]{{0,{_SPAN}}})\]\([^)]{{0,{_SPAN}}}\)|!\[([^\][]{{0,{_SPAN}}})\]\[[^\]]{{0,{_SPAN}}}\]")
_LINK = re.compile(rf"\[([^\][]{{1,{_SPAN}}})\]\((?:[^()]|\([^)]{{0,{_SPAN}}}\)){{0,{_SPAN}}}\)|\[([^\][]{{1,{_SPAN}}})\]\[[^\]]{{0,{_SPAN}}}\]")
_FOOTNOTE_REF = re.compile(r"\[\^[^\]]+\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+|[^@>\s]+@[^@>\s]+\.[^@>\s]+)>")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG = re.compile(rf"(\*\*|__)(?=\S)(.{{1,{_SPAN}}}?)(?<=\S)\1")
_EMPHASIS_STAR = re.compile(rf"\*(?=[^\s*])(.{{1,{_SPAN}}}?)(?<=[^\s*])\*")
_EMPHASIS_UNDERSCORE = re.compile(rf"(?<![\w\\])_(?=[^\s_])(.{{1,{_SPAN}}}?)(?<=[^\s_])_(?!\w)")
_STRIKE = re.compile(rf"~~(?=\S)(.{{1,{_SPAN}}}?)(?<=\S)~~")
_PROTECTED = re.compile("\ue000(\\d+)\ue001")


def strip_inline(text: str, *, marks: bool = False) -> str:
    """Reduce inline Markdown to plain text; with `marks`, links and images keep the inline marks that
    take_spans turns into spans, and images are read as "image: A barn". An image without a description
    is left out, unless it is all there is of a link: then the link is "image", not silent."""
    protected: list[str] = []

    def protect(value: str) -> str:
        protected.append(value)
        return f"\ue000{len(protected) - 1}\ue001"

    def image(description: str) -> str:
        if not description.strip():
            return bare
        return f" {IMAGE_OPEN}{image_text(description.strip())}{IMAGE_CLOSE} " if marks else description

    def link(words: str) -> str:
        if words.strip() == bare:
            words = f"{IMAGE_OPEN}{image_text()}{IMAGE_CLOSE}" if marks else image_text()
        return f"{LINK_OPEN}{words}{LINK_CLOSE}" if marks else words

    bare = protect("")  # an image without a description, where it is not all of a link: nothing
    # Code spans and escaped characters are literal: hide them from the other rules.
    text = _CODE_SPAN.sub(lambda m: protect(m.group(2).strip() or m.group(2)), text)
    text = _ESCAPE.sub(lambda m: protect(m.group(1)), text)
    text = _IMAGE.sub(lambda m: image(m.group(1) if m.group(1) is not None else m.group(2)), text)
    text = _LINK.sub(lambda m: link(m.group(1) if m.group(1) is not None else m.group(2)), text)
    text = _FOOTNOTE_REF.sub("", text)
    text = _AUTOLINK.sub(lambda m: link(m.group(1)), text)
    text = _HTML_BREAK.sub(" ", text)
    text = _HTML_TAG.sub("", text)
    for pattern in (_STRONG, _STRIKE):
        text = pattern.sub(lambda m: m.group(m.lastindex), text)
    text = _EMPHASIS_STAR.sub(r"\1", text)
    text = _EMPHASIS_UNDERSCORE.sub(r"\1", text)
    text = html_entities.unescape(text)
    text = _PROTECTED.sub(lambda m: protected[int(m.group(1))], text)
    return squeeze(text)


def _split_row(line: str) -> list[str]:
    """Split a table row on unescaped pipes, dropping the optional outer ones."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip():
        cells = cells[:-1]
    return [cell.replace("\\|", "|").strip() for cell in cells]


def _is_table_start(header: str, delimiter: str) -> bool:
    """A GFM table: a header row, then a delimiter row (|---|:-:|) with as many columns."""
    if not _TABLE_DELIMITER.match(delimiter) or "-" not in delimiter:
        return False
    return len(_split_row(header)) == len(_split_row(delimiter))


def _table_rows(rows: list[list[str]]) -> list[str]:
    """A table's data rows as read: "Station: Central, time: 06:00", each cell after its column's header;
    with a blank header row, cells joined with commas; a table of only a header is read as one row."""
    header = column_names([(cell, 1) for cell in rows[0]])
    if len(rows) == 1:
        return [read_row([(cell, 1) for cell in rows[0]], [])]
    return [read_row([(cell, 1) for cell in row], header) for row in rows[1:]]


def _skip_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "---":
        for index in range(1, min(len(lines), FRONT_MATTER_MAX_LINES)):
            if lines[index].strip() in ("---", "..."):
                return lines[index + 1:]
    return lines


class _Builder:
    """Collects paragraph/list-item lines and turns them into blocks."""

    def __init__(self) -> None:
        self.blocks: list[RawBlock] = []
        self.lines: list[str] = []
        self.kind = BlockKind.PARAGRAPH
        self.number: str | None = None  # of the list item being collected
        # The ordered lists open, by the indentation of their items: (delimiter, next number).
        self.counters: dict[int, tuple[str, int]] = {}

    def flush(self) -> None:
        if self.lines:
            text = join_lines([strip_inline(line, marks=True) for line in self.lines])
            number = self.number if text.strip() else None
            text, spans = take_spans(f"{number} {text}" if number else text)
            self.blocks.append(RawBlock(self.kind, text, spans=spans, number=number))
        self.lines = []
        self.kind = BlockKind.PARAGRAPH
        self.number = None

    def item(self, indent: int, written: str | None, delimiter: str | None) -> None:
        """A list item starts. As in CommonMark, an ordered list counts on from its first number, so
        "1. 1. 1." reads 1, 2, 3; a list ends at a shallower item or one with another marker."""
        self.flush()
        self.kind = BlockKind.LIST_ITEM
        self.counters = {at: counter for at, counter in self.counters.items() if at < indent or
                         (at == indent and written is not None and counter[0] == delimiter)}
        if written is not None and delimiter is not None:
            number = self.counters[indent][1] if indent in self.counters else int(written)
            self.counters[indent] = (delimiter, number + 1)
            self.number = f"{number}."

    def end_lists(self) -> None:
        self.counters = {}

    def add(self, kind: BlockKind, text: str, level: int | None = None) -> None:
        self.flush()
        self.end_lists()
        self.append(kind, text, level)

    def append(self, kind: BlockKind, text: str, level: int | None = None) -> None:
        """A block whose text may hold inline marks (links, images): they become its spans."""
        text, spans = take_spans(text)
        self.blocks.append(RawBlock(kind, text, level=level, spans=spans))


def _hard_break_stripped(line: str) -> str:
    line = line.strip()
    return line[:-1].rstrip() if line.endswith("\\") else line


def markdown_to_blocks(source: str) -> list[RawBlock]:
    source = _HTML_COMMENT.sub("", source.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    source = strip_marks(source)
    lines = _skip_front_matter(source.split("\n"))
    out = _Builder()
    index = 0
    while index < len(lines):
        line = lines[index]
        if quote := _BLOCKQUOTE.match(line):  # quotes are read like the text they hold
            line = line[quote.end():]
        index += 1

        if not line.strip():
            out.flush()
            continue
        if fence := _FENCE.match(line):
            out.flush()
            if not line[:1].isspace():
                out.end_lists()
            marker = fence.group(1)
            code: list[str] = []
            while index < len(lines):
                candidate = lines[index]
                index += 1
                stripped = candidate.strip()
                if stripped.startswith(marker[0] * len(marker)) and not stripped.strip(marker[0]):
                    break
                code.append(candidate.rstrip())
            text = "\n".join(code).strip("\n")
            if text.strip():
                out.add(BlockKind.PARAGRAPH, text)
            continue
        if heading := _ATX.match(line):
            out.add(BlockKind.HEADING, strip_inline(heading.group(2) or "", marks=True), level=len(heading.group(1)))
            continue
        if out.lines and out.kind is BlockKind.PARAGRAPH and (setext := _SETEXT.match(line)):
            text = join_lines([strip_inline(part, marks=True) for part in out.lines])
            out.lines = []
            out.add(BlockKind.HEADING, text, level=1 if setext.group(1).startswith("=") else 2)
            continue
        if _THEMATIC_BREAK.match(line):
            out.flush()
            out.end_lists()
            continue
        if "|" in line and index < len(lines) and _is_table_start(line, lines[index]):
            out.flush()
            out.end_lists()
            rows = [line]
            index += 1  # the delimiter row is not read
            while index < len(lines) and "|" in lines[index] and lines[index].strip():
                rows.append(lines[index])
                index += 1
            for text in _table_rows([[strip_inline(cell, marks=True) for cell in _split_row(row)] for row in rows]):
                out.append(BlockKind.TABLE_ROW, text)
            continue
        if _LINK_DEFINITION.match(line):
            continue
        if item := _LIST_ITEM.match(line):
            out.item(len(item.group(1).expandtabs(4)), item.group(2), item.group(3))
            text = _TASK_BOX.sub("", item.group(4) or "")
            out.lines.append(_hard_break_stripped(text))
            continue
        if not out.lines and not line[:1].isspace():
            out.end_lists()  # a paragraph after a blank line, not indented: the lists are over
        out.lines.append(_hard_break_stripped(line))
    out.flush()
    return out.blocks


def extract_markdown(data: bytes, *, name: str) -> Extracted:
    check_text_size(len(data), name=name)
    text, encoding = decode_text(data, name=name)
    blocks = markdown_to_blocks(text)
    headings = [b for b in blocks if b.kind is BlockKind.HEADING]
    top = min((b.level or 6 for b in headings), default=None)
    title = next((b.text for b in headings if b.level == top), None)
    return Extracted(blocks, title=title, encoding=encoding)
