"""The Document: text blocks with their kind, origin (page, chapter) and character offsets.

Offsets index `Document.text`, which is the blocks' texts joined by BLOCK_SEPARATOR, so the player can
highlight a sentence in the original text and a saved position can be restored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from enum import Enum
from typing import Iterable

BLOCK_SEPARATOR = "\n\n"


class BlockKind(str, Enum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE_CELL = "table_cell"
    CAPTION = "caption"


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str
    start: int  # offset of text[0] in Document.text
    page: int | None = None  # 1-based page number (PDF)
    chapter: str | None = None  # chapter title or file name (EPUB)
    level: int | None = None  # heading level 1..6

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
        return out


@dataclass(frozen=True)
class RawBlock:
    """What an extractor yields before offsets are assigned."""

    kind: BlockKind
    text: str
    page: int | None = None
    chapter: str | None = None
    level: int | None = None


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
            if blocks:
                pos += len(BLOCK_SEPARATOR)
            blocks.append(Block(rb.kind, text, pos, rb.page, rb.chapter, rb.level))
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
