"""Word (.docx) read straight from the zip with xml.etree: headings from paragraph styles, list items
from numbering (numbered ones with the numbers Word shows, worked out from numbering.xml), tables by row,
each cell after its column's header."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field

from reader.errors import InputError
from reader.text.document import BlockKind, RawBlock
from reader.text.extract._common import Extracted, column_names, list_number, local_name, open_zip, parse_xml, read_member, read_row

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
WHAT = "a Word document"
DEFAULT_MAIN_PART = "word/document.xml"
OFFICE_DOCUMENT_REL = "/officeDocument"
MAX_HEADING_LEVEL = 6  # Block.level is 1..6; Word has 9 heading levels
BODY_TEXT_OUTLINE_LEVEL = 9  # w:outlineLvl 9 means "body text"
MAX_STYLE_DEPTH = 10  # basedOn chains are short; this only guards against loops
LIST_LEVELS = 9  # w:ilvl is 0..8
MAX_GRID_SPAN = 63  # Word's limit of columns in a table
# w:numFmt values read with their own numerals; "bullet" and "none" have no number, and the rest (Chinese
# counting, ordinals in words...) are read in digits.
NUMBER_FORMATS = {"decimal": "decimal", "lowerLetter": "lower-alpha", "upperLetter": "upper-alpha",
                  "lowerRoman": "lower-roman", "upperRoman": "upper-roman"}
UNNUMBERED_FORMATS = frozenset({"bullet", "none"})
_LEVEL_FIELD = re.compile(r"%([1-9])")
_OFF = ("0", "false", "off")

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
    num_id: str | None = None
    num_level: int | None = None


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
        numpr = ppr.find(W + "numPr") if ppr is not None else None
        styles[style_id] = _Style(
            name=_val(element.find(W + "name")) or "",
            based_on=_val(element.find(W + "basedOn")),
            outline_level=int(outline) if outline and outline.isdigit() else None,
            numbered=numpr is not None,
            num_id=_val(numpr.find(W + "numId")) if numpr is not None else None,
            num_level=_level(numpr),
        )
    return styles


def _level(numpr: ET.Element | None) -> int | None:
    value = _val(numpr.find(W + "ilvl")) if numpr is not None else None
    return None if value is None else min(_count(value, 0), LIST_LEVELS - 1)


@dataclass
class _ListLevel:
    start: int = 1
    style: str | None = "decimal"  # a list_number style; None for bullets
    text: str = ""  # w:lvlText, "%1." or "%1.%2."


@dataclass
class _Numbering:
    """numbering.xml: the abstract lists' levels, and each w:num's list and restarted levels."""

    levels: dict[str, dict[int, _ListLevel]] = field(default_factory=dict)  # by abstractNumId
    nums: dict[str, tuple[str, dict[int, _ListLevel]]] = field(default_factory=dict)  # numId: (abstract, overrides)


def _list_level(lvl: ET.Element, base: _ListLevel) -> _ListLevel:
    start, fmt, text = _val(lvl.find(W + "start")), _val(lvl.find(W + "numFmt")), _val(lvl.find(W + "lvlText"))
    return _ListLevel(
        start=_count(start, base.start),
        style=base.style if fmt is None else None if fmt in UNNUMBERED_FORMATS else NUMBER_FORMATS.get(fmt, "decimal"),
        text=base.text if text is None else text,
    )


def _read_numbering(archive: zipfile.ZipFile, part_dir: str, *, name: str) -> _Numbering:
    path = posixpath.join(part_dir, "numbering.xml")
    numbering = _Numbering()
    if path not in archive.namelist():
        return numbering
    root = parse_xml(read_member(archive, path, name=name, what=WHAT), name=name, what=WHAT)
    for abstract in root.iter(W + "abstractNum"):
        levels = {}
        for lvl in abstract.findall(W + "lvl"):
            if (level := _level_of(lvl)) is not None:
                levels[level] = _list_level(lvl, _ListLevel(text=f"%{level + 1}."))
        numbering.levels[abstract.get(W + "abstractNumId") or ""] = levels
    for num in root.iter(W + "num"):
        abstract_id = _val(num.find(W + "abstractNumId")) or ""
        overrides = {}
        for override in num.findall(W + "lvlOverride"):
            if (level := _level_of(override)) is None:
                continue
            base = numbering.levels.get(abstract_id, {}).get(level) or _ListLevel(text=f"%{level + 1}.")
            if (lvl := override.find(W + "lvl")) is not None:
                base = _list_level(lvl, base)
            start = _val(override.find(W + "startOverride"))
            overrides[level] = _ListLevel(_count(start, base.start), base.style, base.text)
        numbering.nums[num.get(W + "numId") or ""] = (abstract_id, overrides)
    return numbering


def _level_of(element: ET.Element) -> int | None:
    value = _count(element.get(W + "ilvl") or "0", LIST_LEVELS)
    return value if value < LIST_LEVELS else None


def _count(value: str | None, default: int) -> int:
    """A small non-negative number written in the document, or `default`."""
    return int(value) if value and value.isascii() and value.isdigit() and len(value) <= 9 else default


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


def _list_ref(style_id: str | None, ppr: ET.Element | None, styles: dict[str, _Style]) -> tuple[str, int] | None:
    """The (numId, level) of a list item, from its own w:numPr or its style's; None for other paragraphs
    ("" as numId: numbered by its style in a way not written down)."""
    numpr = ppr.find(W + "numPr") if ppr is not None else None
    num_id, level = (_val(numpr.find(W + "numId")), _level(numpr)) if numpr is not None else (None, None)
    numbered = numpr is not None
    for _, style in _style_chain(style_id, styles):
        numbered = numbered or style.numbered
        num_id = num_id or style.num_id
        level = style.num_level if level is None else level
    if not numbered or num_id == "0":  # numId 0 switches numbering off
        return None
    return num_id or "", level or 0


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
    def __init__(self, styles: dict[str, _Style], numbering: _Numbering) -> None:
        self.styles = styles
        self.numbering = numbering
        self.blocks: list[RawBlock] = []
        # Word counts by abstract list, so two w:num of one list go on counting, unless a w:num restarts
        # a level (startOverride) where it is first used.
        self.counts: dict[str, list[int | None]] = {}
        self.nums_seen: set[str] = set()

    def number(self, num_id: str, level: int) -> str | None:
        """The number Word shows before this list item ("3.", "2.1.", "b)"); None for a bullet."""
        if num_id not in self.numbering.nums:
            return None
        abstract_id, overrides = self.numbering.nums[num_id]
        counts = self.counts.setdefault(abstract_id, [None] * LIST_LEVELS)
        if num_id not in self.nums_seen:
            self.nums_seen.add(num_id)
            for restarted in overrides:
                counts[restarted] = None
        levels = {**self.numbering.levels.get(abstract_id, {}), **overrides}
        this = levels.get(level)
        if this is None or this.style is None:
            return None
        counts[level] = this.start if counts[level] is None else counts[level] + 1
        counts[level + 1:] = [None] * (LIST_LEVELS - level - 1)  # a deeper list starts again

        def numeral(match: re.Match[str]) -> str:
            at = int(match.group(1)) - 1
            shown = levels.get(at) or _ListLevel()
            value = counts[at] if counts[at] is not None else shown.start
            return list_number(value, shown.style or "decimal")

        return _LEVEL_FIELD.sub(numeral, this.text).strip() or None

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
        elif (ref := _list_ref(style_id, ppr, self.styles)) is not None:
            number = self.number(*ref)
            if number and text:
                self.blocks.append(RawBlock(BlockKind.LIST_ITEM, f"{number} {text}", number=number))
            else:
                self.blocks.append(RawBlock(BlockKind.LIST_ITEM, text))
        else:
            self.blocks.append(RawBlock(BlockKind.PARAGRAPH, text))
        for box in boxes:  # text boxes are read after the paragraph that anchors them
            self.body(box)

    def table(self, tbl: ET.Element) -> None:
        """Each row is one block, its cells after their column's name when the first row is a header:
        marked as one (w:tblHeader, "repeat as header row") or set in bold over rows that are not. A
        table nested in a cell is read inside that cell."""
        elements = tbl.findall(W + "tr")
        rows = [[(_cell_text(cell), _grid_span(cell)) for cell in row.findall(W + "tc")] for row in elements]
        heads = 0
        while heads < len(elements) and _is_header_row(elements[heads]):
            heads += 1
        if not heads and len(elements) > 1 and _bold_row(elements[0]) and not _bold_row(elements[1]):
            heads = 1
        if heads == len(rows):
            heads = 0  # a table of header rows only is read as it is
        header: list[str] = []
        for row in rows[:heads]:
            header = column_names(row, header)
        for row in rows[heads:]:
            self.blocks.append(RawBlock(BlockKind.TABLE_ROW, read_row(row, header)))


def _cell_text(cell: ET.Element) -> str:
    parts: list[str] = []
    for p in cell.iter(W + "p"):
        words: list[str] = []
        _runs_text(p, words, [])
        parts.append("".join(words))
    return " ".join(" ".join(parts).split())


def _grid_span(cell: ET.Element) -> int:
    tcpr = cell.find(W + "tcPr")
    value = _val(tcpr.find(W + "gridSpan")) if tcpr is not None else None
    return max(1, min(_count(value, 1), MAX_GRID_SPAN))


def _is_header_row(row: ET.Element) -> bool:
    trpr = row.find(W + "trPr")
    mark = trpr.find(W + "tblHeader") if trpr is not None else None
    return mark is not None and (_val(mark) or "1").lower() not in _OFF


def _bold_row(row: ET.Element) -> bool:
    """Every run of text in the row is bold (w:b set on the run itself)."""
    runs = [run for run in row.iter(W + "r") if any((t.text or "").strip() for t in run.iter(W + "t"))]
    for run in runs:
        rpr = run.find(W + "rPr")
        bold = rpr.find(W + "b") if rpr is not None else None
        if bold is None or (_val(bold) or "1").lower() in _OFF:
            return False
    return bool(runs)


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
        numbering = _read_numbering(archive, posixpath.dirname(part), name=name)
        title = _core_title(archive, name=name)
    walker = _Walker(styles, numbering)
    body = root.find(W + "body")
    walker.body(body if body is not None else root)
    if title is None:
        title = next((b.text for b in walker.blocks if b.kind is BlockKind.HEADING and b.text.strip()), None)
    return Extracted(walker.blocks, title=title)
