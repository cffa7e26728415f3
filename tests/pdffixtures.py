"""A PDF writer for layout tests: text placed at given positions and sizes, in any script. Text that
cp1252 can encode is drawn in Helvetica; anything else (Chinese) in a Type0 font with Identity-H codes
and a ToUnicode map, as real CJK PDFs are made (no glyphs are embedded: pypdf reads the map, not shapes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.docfixtures import serialize_pdf

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    size: float
    text: str


def _latin(text: str) -> bool:
    try:
        text.encode("cp1252")
        return True
    except UnicodeEncodeError:
        return False


def _literal(text: str) -> bytes:
    out = bytearray(b"(")
    for byte in text.encode("cp1252"):
        if byte in b"()\\":
            out += b"\\"
        out.append(byte)
    return bytes(out + b")")


def build_layout_pdf(pages: list[list[Text]]) -> bytes:
    cids: dict[str, int] = {}
    for page in pages:
        for item in page:
            if not _latin(item.text):
                for ch in item.text:
                    cids.setdefault(ch, len(cids) + 1)

    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog, pages_id = add(b""), add(b"")
    helvetica = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    entries = [b"<%04x> <%04x>" % (cid, ord(ch)) for ch, cid in cids.items()]
    chunks = [entries[i:i + 100] for i in range(0, len(entries), 100)]
    cmap = (
        b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + b"".join(b"%d beginbfchar\n" % len(c) + b"\n".join(c) + b"\nendbfchar\n" for c in chunks)
        + b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    )
    to_unicode = add(b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream")
    # Latin letters in the CID font are half as wide as ideographs, as in real CJK fonts.
    half = b" ".join(b"%d [500]" % cid for ch, cid in cids.items() if ord(ch) < 0x2E80)
    descriptor = add(b"<< /Type /FontDescriptor /FontName /TestSong /Flags 4 /FontBBox [0 -200 1000 900] "
                     b"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >>")
    descendant = add(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /TestSong "
                     b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                     b"/FontDescriptor %d 0 R /DW 1000 /W [%s] /CIDToGIDMap /Identity >>" % (descriptor, half))
    song = add(b"<< /Type /Font /Subtype /Type0 /BaseFont /TestSong /Encoding /Identity-H "
               b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (descendant, to_unicode))

    kids = []
    for page in pages:
        ops = bytearray()
        for item in page:
            if _latin(item.text):
                ops += b"BT /F1 %g Tf %g %g Td %s Tj ET\n" % (item.size, item.x, item.y, _literal(item.text))
            else:
                codes = b"".join(b"%04x" % cids[ch] for ch in item.text)
                ops += b"BT /F2 %g Tf %g %g Td <%s> Tj ET\n" % (item.size, item.x, item.y, codes)
        stream = add(b"<< /Length %d >>\nstream\n" % len(ops) + bytes(ops) + b"\nendstream")
        kids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>"
            % (pages_id, PAGE_WIDTH, PAGE_HEIGHT, stream, helvetica, song)
        ))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))

    return serialize_pdf(objects, catalog)


def write_layout_pdf(path: Path, pages: list[list[Text]]) -> Path:
    path.write_bytes(build_layout_pdf(pages))
    return path


def column(lines: list[str | None], *, x: float = 72, top: float = 760, size: float = 10, step: float = 16,
           indent: float = 0, gap: float = 0) -> list[Text]:
    """Lines set one under another from `top`; None ends a paragraph, and the next line is indented by
    `indent` and (with `gap`) set lower."""
    out, y, start = [], top, True
    for line in lines:
        if line is None:
            start, y = True, y - gap
            continue
        out.append(Text(x + (indent if start else 0), y, size, line))
        start, y = False, y - step
    return out
