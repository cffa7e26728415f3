"""EPUB books: container.xml -> OPF package -> spine, each chapter read by the HTML extractor.
Every block carries its chapter: the chapter's first heading, or the chapter file's name."""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import replace
from urllib.parse import unquote

from reader.errors import ExtractError, InputError, ReaderError
from reader.text.document import BlockKind, RawBlock
from reader.text.extract._common import Extracted, damaged, local_name, open_zip, parse_xml, read_member
from reader.text.extract.html import decode_markup, html_to_blocks

WHAT = "an EPUB book"
CONTAINER = "META-INF/container.xml"
ENCRYPTION = "META-INF/encryption.xml"
CHAPTER_MEDIA_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/x-dtbook+xml"})
# Font obfuscation (IDPF and Adobe) also appears in encryption.xml; only other algorithms are DRM.
FONT_OBFUSCATION = ("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC")


def _not_an_epub(name: str) -> InputError:
    return InputError(
        f"{name} is a zip archive but not an EPUB book (it has no {CONTAINER}); "
        "unpack it and open the document inside."
    )


def _find_all(root, tag: str):
    return [element for element in root.iter() if local_name(element.tag) == tag]


def _package_path(archive: zipfile.ZipFile, *, name: str) -> str:
    container = parse_xml(read_member(archive, CONTAINER, name=name, what=WHAT), name=name, what=WHAT)
    for rootfile in _find_all(container, "rootfile"):
        path = rootfile.get("full-path")
        if path and path in archive.namelist():
            return path
    raise damaged(name, WHAT)


def _drm_protected(archive: zipfile.ZipFile, chapter_paths: set[str], *, name: str) -> bool:
    if ENCRYPTION not in archive.namelist():
        return False
    root = parse_xml(read_member(archive, ENCRYPTION, name=name, what=WHAT), name=name, what=WHAT)
    for encrypted in _find_all(root, "EncryptedData"):
        method = next((m.get("Algorithm", "") for m in _find_all(encrypted, "EncryptionMethod")), "")
        if method.startswith(FONT_OBFUSCATION):
            continue
        for reference in _find_all(encrypted, "CipherReference"):
            if unquote(reference.get("URI", "")).lstrip("/") in chapter_paths:
                return True
    return False


def extract_epub(data: bytes, *, name: str) -> Extracted:
    with open_zip(data, name=name, what=WHAT) as archive:
        if CONTAINER not in archive.namelist():
            raise _not_an_epub(name)
        opf_path = _package_path(archive, name=name)
        package = parse_xml(read_member(archive, opf_path, name=name, what=WHAT), name=name, what=WHAT)
        base = posixpath.dirname(opf_path)

        title = next(
            (" ".join(e.text.split()) for e in _find_all(package, "title") if e.text and e.text.strip()), None
        )
        manifest: dict[str, tuple[str, str]] = {}  # id -> (path in zip, media type)
        for item in _find_all(package, "item"):
            href = item.get("href")
            if item.get("id") and href:
                path = posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0])))
                manifest[item.get("id")] = (path, item.get("media-type", ""))
        itemrefs = _find_all(package, "itemref")
        linear = [ref for ref in itemrefs if ref.get("linear", "yes") != "no"] or itemrefs
        chapters = [manifest[ref.get("idref")] for ref in linear if ref.get("idref") in manifest]
        chapters = [(path, media) for path, media in chapters if media in CHAPTER_MEDIA_TYPES or not media]
        if not chapters:
            raise damaged(name, WHAT)
        if _drm_protected(archive, {path for path, _ in chapters}, name=name):
            raise ExtractError(
                f"{name} is protected by DRM, so its text cannot be read; "
                "open a DRM-free copy of the book instead."
            )

        blocks: list[RawBlock] = []
        readable = 0
        members = set(archive.namelist())
        first_error: ReaderError | None = None
        for path, _ in chapters:
            if path not in members:
                continue  # a broken link in the spine; read the rest of the book
            try:
                markup, _ = decode_markup(read_member(archive, path, name=name, what=WHAT), name=f"{name}:{path}")
            except ReaderError as exc:
                first_error = first_error or exc
                continue  # one unreadable chapter should not hide the others
            readable += 1
            chapter_blocks, _ = html_to_blocks(markup)
            heading = next((b.text for b in chapter_blocks if b.kind is BlockKind.HEADING), None)
            chapter = heading or posixpath.basename(path)
            blocks.extend(replace(block, chapter=chapter) for block in chapter_blocks)
    if not readable:
        raise first_error or damaged(name, WHAT)
    return Extracted(blocks, title=title)
