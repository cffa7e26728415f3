"""The Document: text blocks with their kind, origin (page, chapter) and character offsets.

Offsets index `Document.text`, which is the blocks' texts joined by BLOCK_SEPARATOR, so the player can
highlight a sentence in the original text and a saved position can be restored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from enum import Enum
from typing import Iterable

BLOCK_SEPARATOR = "\n\n"
# Inline marks an extractor may leave around a link's text or an image's description, taken out by
# take_spans (private-use characters, which no document text keeps: extractors drop them).
LINK_OPEN, LINK_CLOSE, IMAGE_OPEN, IMAGE_CLOSE = "\ue010", "\ue011", "\ue012", "\ue013"
_MARKS = {LINK_OPEN: ("link", True), LINK_CLOSE: ("link", False), IMAGE_OPEN: ("image", True),
          IMAGE_CLOSE: ("image", False)}
_MARK_CHARS = re.compile("[" + "".join(_MARKS) + "]")
# A space an extractor put after an image's description is dropped before these.
_CLOSING_PUNCTUATION = frozenset(",.;:!?)]}，。；：！？）")


class BlockKind(str, Enum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE_ROW = "table_row"  # a row, its cells paired with their column headers ("Station: Central, ...")
    TABLE_CELL = "table_cell"  # not made by the extractors since tables are read by row; kept for old JSON
    CAPTION = "caption"


@dataclass(frozen=True)
class Span:
    """A link or an image (its description) inside a block's text: [start, end) offsets of Block.text."""

    kind: str  # "link" or "image"
    start: int
    end: int


def strip_marks(text: str) -> str:
    """Text from a document, without characters that would pass for the inline marks."""
    return _MARK_CHARS.sub("", text)


def take_spans(text: str) -> tuple[str, tuple[Span, ...]]:
    """Remove the inline marks from `text` (white space already collapsed) and say where the links and
    images are. A space left doubled or at an edge by a removed mark is dropped (none is kept at the
    start); an empty span (a link with no text) is no span; a mark without its partner is ignored."""
    if not any(mark in text for mark in _MARKS):
        return text, ()
    out: list[str] = []
    length = 0
    open_at: dict[str, list[int]] = {"link": [], "image": []}
    spans: list[Span] = []
    for i, ch in enumerate(text):
        mark = _MARKS.get(ch)
        if mark is None:
            if ch == " " and (not out or out[-1] == " " or text[i + 1:i + 2] in _CLOSING_PUNCTUATION):
                continue
            out.append(ch)
            length += 1
            continue
        kind, opening = mark
        if opening:
            open_at[kind].append(length)
        elif open_at[kind]:
            start = open_at[kind].pop()
            spans.append(Span(kind, start, length))
    clean = "".join(out).rstrip()
    fixed = []
    for span in spans:
        start, end = min(span.start, len(clean)), min(span.end, len(clean))
        while start < end and clean[start] == " ":
            start += 1
        while end > start and clean[end - 1] == " ":
            end -= 1
        if end > start:
            fixed.append(Span(span.kind, start, end))
    return clean, tuple(sorted(fixed, key=lambda sp: (sp.start, sp.end)))


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str
    start: int  # offset of text[0] in Document.text
    page: int | None = None  # 1-based page number (PDF)
    chapter: str | None = None  # chapter title or file name (EPUB)
    level: int | None = None  # heading level 1..6
    spans: tuple[Span, ...] = ()  # links and images in the text
    number: str | None = None  # a numbered list item's number ("1.", "b."), also at the start of its text

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def to_json(self) -> dict:
        out: dict = {"kind": self.kind.value, "text": self.text, "start": self.start, "end": self.end}
        if self.page is not None:
            out["page"] = self.page
        if self.chapter is not None:
            out["chapter"] = self.chapter
        if self.level is not None:
            out["level"] = self.level
        if self.spans:
            out["spans"] = [{"kind": sp.kind, "start": sp.start, "end": sp.end} for sp in self.spans]
        if self.number is not None:
            out["number"] = self.number
        return out


@dataclass(frozen=True)
class RawBlock:
    """What an extractor yields before offsets are assigned."""

    kind: BlockKind
    text: str
    page: int | None = None
    chapter: str | None = None
    level: int | None = None
    spans: tuple[Span, ...] = ()
    number: str | None = None


@dataclass(frozen=True)
class Document:
    title: str
    source: str  # a path, "clipboard" or "stdin"
    format: str  # pdf, epub, html, markdown, text, docx
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    encoding: str | None = None  # the detected encoding of plain text

    @cached_property
    def text(self) -> str:
        # Cached: navigation and highlighting read it often, and a book is megabytes.
        return BLOCK_SEPARATOR.join(b.text for b in self.blocks)

    @classmethod
    def from_raw(
        cls, raw: Iterable[RawBlock], *, title: str, source: str, format: str, encoding: str | None = None
    ) -> "Document":
        """Assign offsets; blocks whose text is only white space are dropped."""
        blocks: list[Block] = []
        pos = 0
        for rb in raw:
            text = rb.text.strip()
            if not text:
                continue
            lead = len(rb.text) - len(rb.text.lstrip())
            spans = tuple(Span(sp.kind, sp.start - lead, sp.end - lead) for sp in rb.spans
                          if 0 <= sp.start - lead < sp.end - lead <= len(text))
            if blocks:
                pos += len(BLOCK_SEPARATOR)
            blocks.append(Block(rb.kind, text, pos, rb.page, rb.chapter, rb.level, spans, rb.number))
            pos += len(text)
        return cls(title=title, source=source, format=format, blocks=tuple(blocks), encoding=encoding)

    def block_at(self, offset: int) -> int:
        """Index of the block containing `offset` (or the next one after a separator)."""
        lo, hi = 0, len(self.blocks) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.blocks[mid].end <= offset:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def to_json(self) -> dict:
        out = {
            "title": self.title,
            "source": self.source,
            "format": self.format,
            "blocks": [b.to_json() for b in self.blocks],
        }
        if self.encoding:
            out["encoding"] = self.encoding
        return out


@dataclass(frozen=True)
class Sentence:
    """One unit of speech: a span of Document.text, in the original text."""

    id: int
    text: str
    start: int
    end: int
    block: int  # index into Document.blocks
    lang: str  # "en" or "zh" (the dominant script)
