"""Writers for small real documents (PDF, EPUB, DOCX) used by the extractor tests.
The PDF writer is minimal: Helvetica text drawn with BT/Tf/Td/Tj, one content stream per page."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

# Codes 128.. of the test font are remapped (via /Differences) to these glyphs, so the PDF really
# contains ligature and full-width glyphs that pypdf decodes to U+FB01 etc.
EXTRA_GLYPHS = {
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb00": "ff",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\uff21": "uniFF21",  # Ａ
    "\uff22": "uniFF22",  # Ｂ
    "\uff23": "uniFF23",  # Ｃ
    "\uff11": "uniFF11",  # １
    "\uff12": "uniFF12",  # ２
    "\uff13": "uniFF13",  # ３
    "\uff0c": "uniFF0C",  # ，
    "\u3002": "uni3002",  # 。
}
_EXTRA_CODES = {ch: 128 + i for i, ch in enumerate(EXTRA_GLYPHS)}

PAGE_WIDTH, PAGE_HEIGHT = 612, 792
TOP_Y = 720  # baseline of the first body line
HEADER_Y = 760
FOOTER_Y = 40
FONT_SIZE = 12
LINE_STEP = 14  # baseline-to-baseline distance of body lines
PARAGRAPH_STEP = 30  # a blank line's worth of extra space between paragraphs


def _pdf_string(text: str) -> bytes:
    out = bytearray(b"(")
    for ch in text:
        if ch in _EXTRA_CODES:
            out.append(_EXTRA_CODES[ch])
            continue
        code = ch.encode("cp1252")
        if code in (b"(", b")", b"\\"):
            out += b"\\"
        out += code
    out += b")"
    return bytes(out)


def _text_ops(x: float, y: float, size: float, text: str) -> bytes:
    return b"BT /F1 %g Tf %g %g Td %s Tj ET\n" % (size, x, y, _pdf_string(text))


def page_content(
    lines: list[str | None | tuple[str, float]],
    *,
    header: str | None = None,
    footer: str | None = None,
) -> bytes:
    """Content stream for one page: None is a paragraph gap, (text, size) a line in another font size."""
    ops = bytearray()
    if header:
        ops += _text_ops(72, HEADER_Y, 9, header)
    y = TOP_Y
    for line in lines:
        if line is None:
            y -= PARAGRAPH_STEP - LINE_STEP
            continue
        text, size = (line, FONT_SIZE) if isinstance(line, str) else line
        ops += _text_ops(72, y, size, text)
        y -= LINE_STEP if size == FONT_SIZE else size * 1.6
    if footer:
        ops += _text_ops(300, FOOTER_Y, 9, footer)
    return bytes(ops)


def build_pdf(contents: list[bytes], *, title: str | None = None, image_pages: set[int] = frozenset()) -> bytes:
    """A PDF with one page per content stream; pages in `image_pages` also get a small gray image."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages = add(b"")
    differences = b" ".join(b"/" + name.encode() for name in EXTRA_GLYPHS.values())
    font = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding "
        b"/BaseEncoding /WinAnsiEncoding /Differences [128 " + differences + b"] >> >>"
    )
    pixels = zlib.compress(bytes([128]) * 16)
    image = add(
        b"<< /Type /XObject /Subtype /Image /Width 4 /Height 4 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % len(pixels)
        + pixels
        + b"\nendstream"
    )
    kids = []
    for number, content in enumerate(contents, start=1):
        if number in image_pages:
            content = b"q 400 0 0 500 100 150 cm /Im1 Do Q\n" + content
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> /XObject << /Im1 %d 0 R >> >> >>"
                % (pages, PAGE_WIDTH, PAGE_HEIGHT, stream, font, image)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages
    objects[pages - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    info = None
    if title is not None:
        info = add(b"<< /Title " + _pdf_string(title) + b" >>")

    return serialize_pdf(objects, catalog, info=info)


def serialize_pdf(objects: list[bytes], root: int, *, info: int | None = None) -> bytes:
    """A PDF file of `objects` (numbered from 1), its cross-reference table and trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, root)
    if info:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def write_pdf(path: Path, pages: list[list], *, header: str | None = None, footer: str | None = None,
              title: str | None = None) -> Path:
    """Write a text PDF; `footer` is a format string for the bottom line, e.g. "{n}" or "Page {n} of {total}"."""
    contents = [
        page_content(lines, header=header, footer=footer.format(n=number, total=len(pages)) if footer else None)
        for number, lines in enumerate(pages, start=1)
    ]
    path.write_bytes(build_pdf(contents, title=title))
    return path


def encrypt_pdf(source: Path, target: Path, *, user_password: str, owner_password: str = "owner",
                algorithm: str = "AES-128") -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm=algorithm)
    with open(target, "wb") as handle:
        writer.write(handle)
    return target


# --- EPUB -------------------------------------------------------------------------------------------

CONTAINER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""


def xhtml(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">\n'
        f"<head><title>{title}</title><style>p {{ margin: 0 }}</style></head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def write_epub(path: Path, *, title: str, chapters: list[tuple[str, str]], spine: list[str],
               mimetype: bool = True) -> Path:
    """`chapters` are (file name, xhtml) in manifest order; `spine` lists file names in reading order."""
    ids = {name: f"item{i}" for i, (name, _) in enumerate(chapters)}
    manifest = "\n".join(
        f'    <item id="{ids[name]}" href="text/{name}" media-type="application/xhtml+xml"/>' for name, _ in chapters
    )
    itemrefs = "\n".join(f'    <itemref idref="{ids[name]}"/>' for name in spine)
    opf = f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:uuid:12345678-1234-1234-1234-123456789abc</dc:identifier>
    <dc:title>{title}</dc:title>
    <dc:language>en</dc:language>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
{manifest}
  </manifest>
  <spine>
{itemrefs}
  </spine>
</package>
"""
    nav = xhtml("Contents", '<nav epub:type="toc"><ol><li><a href="text/a.xhtml">Skip me</a></li></ol></nav>')
    with zipfile.ZipFile(path, "w") as archive:
        if mimetype:
            archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", CONTAINER_XML)
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr("OEBPS/nav.xhtml", nav)
        for name, body in chapters:
            archive.writestr(f"OEBPS/text/{name}", body, compress_type=zipfile.ZIP_DEFLATED)
    return path


# --- DOCX -------------------------------------------------------------------------------------------

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
  <Default Extension="xml" ContentType="application/xml"/>
  <Override PartName="/word/document.xml"
    ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
  <Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>
</Types>
"""

ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
    Target="word/document.xml"/>
</Relationships>
"""


def docx_paragraph(text: str, *, style: str | None = None, numbered: bool = False, runs: list[str] | None = None) -> str:
    ppr = ""
    if style or numbered:
        ppr = "<w:pPr>"
        if style:
            ppr += f'<w:pStyle w:val="{style}"/>'
        if numbered:
            ppr += '<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>'
        ppr += "</w:pPr>"
    pieces = runs if runs is not None else [text]
    body = "".join(f'<w:r><w:t xml:space="preserve">{piece}</w:t></w:r>' for piece in pieces)
    return f"<w:p>{ppr}{body}</w:p>"


def docx_table(rows: list[list[str]]) -> str:
    cells = "".join(
        "<w:tr>" + "".join(f"<w:tc><w:tcPr/>{docx_paragraph(cell)}</w:tc>" for cell in row) + "</w:tr>" for row in rows
    )
    return f"<w:tbl><w:tblPr/>{cells}</w:tbl>"


def write_docx(path: Path, body_xml: str, *, title: str | None = None, styles_xml: str | None = None,
               numbering_xml: str | None = None) -> Path:
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:document xmlns:w="{W_NS}"><w:body>{body_xml}<w:sectPr/></w:body></w:document>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("word/document.xml", document)
        if styles_xml is not None:
            archive.writestr("word/styles.xml", f'<w:styles xmlns:w="{W_NS}">{styles_xml}</w:styles>')
        if numbering_xml is not None:
            archive.writestr("word/numbering.xml", f'<w:numbering xmlns:w="{W_NS}">{numbering_xml}</w:numbering>')
        if title is not None:
            archive.writestr(
                "docProps/core.xml",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
                ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<dc:title>{title}</dc:title></cp:coreProperties>",
            )
    return path


def assert_offsets(doc) -> None:
    """Every block's offsets point at its own text in Document.text."""
    text = doc.text  # a property that joins all blocks: compute it once
    for block in doc.blocks:
        assert text[block.start:block.end] == block.text
