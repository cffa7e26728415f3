"""Documents in: pick the extractor by extension or, when that is missing or misleading, by content.
Every failure a user can cause (missing, wrong format, damaged, encrypted) is a ReaderError."""

from __future__ import annotations

import io
import os
import re
import sys
import zipfile
from pathlib import Path

from reader.errors import ExtractError, InputError
from reader.text.document import Document
from reader.text.extract._common import Extracted
from reader.text.extract.clipboard import read_clipboard
from reader.text.extract.plain import MAX_TEXT_BYTES, check_text_size, decode_text, is_binary, text_to_blocks

__all__ = ["load_document", "document_from_text", "load_stdin", "read_clipboard", "detect_format", "FORMATS"]

FORMATS = ("pdf", "epub", "docx", "html", "markdown", "text")
EXTENSIONS = {
    ".pdf": "pdf",
    ".epub": "epub",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".txt": "text",
    ".text": "text",
}
SNIFF_BYTES = 1024  # PDF allows junk before %PDF- within the first kilobyte
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .doc files and password-protected .docx
EPUB_MIMETYPE = b"application/epub+zip"
_PDF_HEADER_LINE = re.compile(rb"(?:^|[\r\n])%PDF-\d")
_HTML_STARTS = (b"<!doctype html", b"<html")

SUPPORTED = "open a PDF, EPUB, Word (.docx), HTML, Markdown or text file instead"


def _read_file(path: Path, name: str) -> bytes:
    try:
        if path.is_dir():
            raise InputError(f"{name} is a folder, not a document; give the path of a file inside it.")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"There is no file {name}; check the spelling of the path.") from exc
    except PermissionError as exc:
        raise InputError(f"{name} cannot be read (permission denied); check the file's permissions.") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{name} is a folder, not a document; give the path of a file inside it.") from exc
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise InputError(f"{name} cannot be read ({reason}); check that the file is accessible.") from exc


def _zip_kind(data: bytes) -> str | None:
    """"epub", "docx" or "zip" (some other archive) for zip data; None when it is not a readable zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and archive.read("mimetype").strip() == EPUB_MIMETYPE:
                return "epub"
            if "META-INF/container.xml" in names:
                return "epub"
            if "word/document.xml" in names:
                return "docx"
            return "zip"
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError, EOFError):
        return None


def detect_format(path: str | os.PathLike, data: bytes) -> str:
    """One of FORMATS, or "zip"/"ole"/"binary" for content no extractor reads."""
    extension = EXTENSIONS.get(Path(path).suffix.lower())
    head = data[:SNIFF_BYTES]
    # PDF readers accept junk before the header, but a text *about* PDFs must not become one.
    if head.lstrip(b"\xef\xbb\xbf \t\r\n\x00").startswith(b"%PDF-") or (
        extension in (None, "pdf") and _PDF_HEADER_LINE.search(head)
    ):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        kind = _zip_kind(data)
        if kind is not None:
            return kind
        # A damaged zip: trust the extension so the user hears "damaged EPUB", not "not text".
        return extension if extension in ("epub", "docx") else "binary"
    if head.startswith(OLE_SIGNATURE):
        return "ole"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(_HTML_STARTS) or (extension is None and b"<html" in head.lower()):
        return "html"
    if extension in ("pdf", "epub", "docx"):
        # Named like a binary format but not one: a damaged file, or text with a wrong name.
        return extension if is_binary(head) else "text"
    return extension or "text"


def _empty(name: str) -> InputError:
    return InputError(f"{name} is empty; there is nothing to read.")


def _extract(fmt: str, data: bytes, name: str, password: str | None) -> Extracted:
    if fmt == "pdf":
        from reader.text.extract.pdf import extract_pdf

        return extract_pdf(data, name=name, password=password)
    if fmt == "epub":
        from reader.text.extract.epub import extract_epub

        return extract_epub(data, name=name)
    if fmt == "docx":
        from reader.text.extract.docx import extract_docx

        return extract_docx(data, name=name)
    if fmt == "html":
        from reader.text.extract.html import extract_html

        return extract_html(data, name=name)
    if fmt == "markdown":
        from reader.text.extract.markdown import extract_markdown

        return extract_markdown(data, name=name)
    if fmt == "text":
        from reader.text.extract.plain import extract_text

        return extract_text(data, name=name)
    if fmt == "zip":
        raise InputError(
            f"{name} is a zip archive but not an EPUB book or Word document; unpack it and open the document inside."
        )
    if fmt == "ole":
        raise ExtractError(
            f"{name} is an old Word (.doc) file or a password-protected Office file, which the reader cannot open; "
            "save it as an unprotected .docx or PDF first."
        )
    raise InputError(f"{name} does not look like text (it contains binary data); {SUPPORTED}.")


def load_document(path: str | os.PathLike, *, password: str | None = None) -> Document:
    """Read a PDF, EPUB, DOCX, HTML, Markdown or text file; raises InputError/ExtractError on bad input."""
    name = os.fspath(path)
    file = Path(name)
    data = _read_file(file, name)
    if not data.strip():
        raise _empty(name)
    fmt = detect_format(file, data)
    try:
        extracted = _extract(fmt, data, name, password)
    except RecursionError:
        raise ExtractError(f"{name} is nested too deeply to read (elements inside elements, more than a thousand "
                           "levels); open it in its own program and save it again, or as a PDF.") from None
    doc = Document.from_raw(
        extracted.blocks,
        title=extracted.title or file.stem or name,
        source=os.path.abspath(name),
        format=fmt,
        encoding=extracted.encoding,
    )
    if not doc.blocks:
        if fmt in ("text", "markdown"):
            raise _empty(name)
        raise ExtractError(f"{name} contains no readable text; check that it is the document you meant.")
    return doc


_SOURCE_NAMES = {"stdin": "The standard input", "clipboard": "The clipboard"}


def document_from_text(text: str, *, source: str, title: str) -> Document:
    """A plain-text Document (paragraphs from blank lines) for text that did not come from a file."""
    doc = Document.from_raw(text_to_blocks(text), title=title, source=source, format="text")
    if not doc.blocks:
        raise InputError(f"{_SOURCE_NAMES.get(source, source)} is empty; there is nothing to read.")
    return doc


def load_stdin() -> Document:
    """Read all of standard input (bytes of any common encoding) as plain text."""
    stream = sys.stdin
    if stream is None:
        raise InputError("There is no standard input to read; pipe some text in, e.g. `cat notes.txt | reader -`.")
    buffer = getattr(stream, "buffer", None)
    try:
        raw = buffer.read(MAX_TEXT_BYTES + 1) if buffer is not None else stream.read(MAX_TEXT_BYTES + 1)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"The standard input cannot be read ({exc}); pipe plain text in instead.") from exc
    check_text_size(len(raw), name="The standard input")
    if isinstance(raw, str):
        text, encoding = raw, None
    else:
        if not raw.strip():
            raise InputError("The standard input is empty; there is nothing to read.")
        text, encoding = decode_text(raw, name="The standard input")
    doc = document_from_text(text, source="stdin", title="Standard input")
    return Document(doc.title, doc.source, doc.format, doc.blocks, encoding=encoding)
