"""Word (.docx) read straight from the zip with xml.etree: headings from paragraph styles, list items
from numbering, table cells from w:tc."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass

from reader.errors import InputError
from reader.text.document import BlockKind, RawBlock
from reader.text.extract._common import Extracted, local_name, open_zip, parse_xml, read_member

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
WHAT = "a Word document"
DEFAULT_MAIN_PART = "word/document.xml"
OFFICE_DOCUMENT_REL = "/officeDocument"
MAX_HEADING_LEVEL = 6  # Block.level is 1..6; Word has 9 heading levels
BODY_TEXT_OUTLINE_LEVEL = 9  # w:outlineLvl 9 means "body text"
MAX_STYLE_DEPTH = 10  # basedOn chains are short; this only guards against loops

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
# Containers whose children are body-level content (paragraphs, tables).
_TRANSPARENT = {"sdt", "sdtContent", "customXml", "smartTag", "ins", "moveTo", "hyperlink", "fldSimple"}
# Inside a paragraph: content that is not read (field codes, deleted text, properties, the duplicate
# "Fallback" copy of drawings) or that is handled as separate blocks (text boxes).
_NOT_READ = {"pPr", "rPr", "instrText", "delText", "delInstrText", "footnoteReference", "endnoteReference",
             "commentReference", "Fallback", "txbxContent", "del", "moveFrom"}


@dataclass
class _Style:
    name: str = ""
    based_on: str | None = None
    outline_level: int | None = None
    numbered: bool = False


def _val(element: ET.Element | None) -> str | None:
    return None if element is None else element.get(W + "val")


def _read_styles(archive: zipfile.ZipFile, part_dir: str, *, name: str) -> dict[str, _Style]:
    path = posixpath.join(part_dir, "styles.xml")
    if path not in archive.namelist():
        return {}
    root = parse_xml(read_member(archive, path, name=name, what=WHAT), name=name, what=WHAT)
    styles: dict[str, _Style] = {}
    for element in root.iter(W + "style"):
        style_id = element.get(W + "styleId")
        if not style_id:
            continue
        ppr = element.find(W + "pPr")
        outline = _val(ppr.find(W + "outlineLvl")) if ppr is not None else None
        styles[style_id] = _Style(
            name=_val(element.find(W + "name")) or "",
            based_on=_val(element.find(W + "basedOn")),
            outline_level=int(outline) if outline and outline.isdigit() else None,
            numbered=ppr is not None and ppr.find(W + "numPr") is not None,
        )
    return styles


def _style_chain(style_id: str | None, styles: dict[str, _Style]) -> list[tuple[str, _Style]]:
    chain = []
    while style_id and len(chain) < MAX_STYLE_DEPTH:
        style = styles.get(style_id, _Style())
        chain.append((style_id, style))
        style_id = style.based_on
    return chain


def _heading_level(style_id: str | None, ppr: ET.Element | None, styles: dict[str, _Style]) -> int | None:
    direct = _val(ppr.find(W + "outlineLvl")) if ppr is not None else None
    if direct and direct.isdigit() and int(direct) < BODY_TEXT_OUTLINE_LEVEL:
        return min(int(direct) + 1, MAX_HEADING_LEVEL)
    for sid, style in _style_chain(style_id, styles):
        for label in (sid, style.name):
            if label.lower() == "title":
                return 1
            if match := _HEADING_STYLE.match(label):
                return min(int(match.group(1)), MAX_HEADING_LEVEL)
        if style.outline_level is not None and style.outline_level < BODY_TEXT_OUTLINE_LEVEL:
            return min(style.outline_level + 1, MAX_HEADING_LEVEL)
    return None


def _is_list_item(style_id: str | None, ppr: ET.Element | None, styles: dict[str, _Style]) -> bool:
    if ppr is not None and (numpr := ppr.find(W + "numPr")) is not None:
        return _val(numpr.find(W + "numId")) != "0"  # numId 0 switches numbering off
    return any(style.numbered for _, style in _style_chain(style_id, styles))


def _runs_text(element: ET.Element, parts: list[str], boxes: list[ET.Element]) -> None:
    for child in element:
        tag = local_name(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag in ("tab", "br", "cr"):
            parts.append(" ")
        elif tag == "noBreakHyphen":
            parts.append("-")
        elif tag == "txbxContent":
            boxes.append(child)
        elif tag not in _NOT_READ:
            _runs_text(child, parts, boxes)


class _Walker:
    def __init__(self, styles: dict[str, _Style]) -> None:
        self.styles = styles
        self.blocks: list[RawBlock] = []

    def body(self, container: ET.Element) -> None:
        for child in container:
            tag = local_name(child.tag)
            if tag == "p":
                self.paragraph(child)
            elif tag == "tbl":
                self.table(child)
            elif tag in _TRANSPARENT:
                self.body(child)

    def paragraph(self, p: ET.Element) -> None:
        parts: list[str] = []
        boxes: list[ET.Element] = []
        _runs_text(p, parts, boxes)
        text = " ".join("".join(parts).split())
        ppr = p.find(W + "pPr")
        style_id = _val(ppr.find(W + "pStyle")) if ppr is not None else None
        level = _heading_level(style_id, ppr, self.styles)
        if level is not None:
            self.blocks.append(RawBlock(BlockKind.HEADING, text, level=level))
        elif _is_list_item(style_id, ppr, self.styles):
            self.blocks.append(RawBlock(BlockKind.LIST_ITEM, text))
        else:
            self.blocks.append(RawBlock(BlockKind.PARAGRAPH, text))
        for box in boxes:  # text boxes are read after the paragraph that anchors them
            self.body(box)

    def table(self, tbl: ET.Element) -> None:
        for row in tbl.findall(W + "tr"):  # nested tables are read inside their cell
            for cell in row.findall(W + "tc"):
                parts: list[str] = []
                for p in cell.iter(W + "p"):
                    words: list[str] = []
                    _runs_text(p, words, [])
                    parts.append("".join(words))
                self.blocks.append(RawBlock(BlockKind.TABLE_CELL, " ".join(" ".join(parts).split())))


def _main_part(archive: zipfile.ZipFile, *, name: str) -> str:
    """The main document part named by _rels/.rels (usually word/document.xml)."""
    names = set(archive.namelist())
    if "_rels/.rels" in names:
        rels = parse_xml(read_member(archive, "_rels/.rels", name=name, what=WHAT), name=name, what=WHAT)
        for rel in rels:
            if (rel.get("Type") or "").endswith(OFFICE_DOCUMENT_REL):
                target = (rel.get("Target") or "").lstrip("/")
                if target in names:
                    return target
    return DEFAULT_MAIN_PART


def _core_title(archive: zipfile.ZipFile, *, name: str) -> str | None:
    if "docProps/core.xml" not in archive.namelist():
        return None
    root = parse_xml(read_member(archive, "docProps/core.xml", name=name, what=WHAT), name=name, what=WHAT)
    for element in root:
        if local_name(element.tag) == "title" and element.text and element.text.strip():
            return " ".join(element.text.split())
    return None


def extract_docx(data: bytes, *, name: str) -> Extracted:
    with open_zip(data, name=name, what=WHAT) as archive:
        part = _main_part(archive, name=name)
        if part not in archive.namelist():
            raise InputError(
                f"{name} is a zip archive but not a Word document (it has no {DEFAULT_MAIN_PART}); "
                "open the .docx file itself, or save the document as .docx from your word processor."
            )
        root = parse_xml(read_member(archive, part, name=name, what=WHAT), name=name, what=WHAT)
        styles = _read_styles(archive, posixpath.dirname(part), name=name)
        title = _core_title(archive, name=name)
    walker = _Walker(styles)
    body = root.find(W + "body")
    walker.body(body if body is not None else root)
    if title is None:
        title = next((b.text for b in walker.blocks if b.kind is BlockKind.HEADING and b.text.strip()), None)
    return Extracted(walker.blocks, title=title)
