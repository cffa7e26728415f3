"""EPUB, HTML, Markdown and DOCX extraction, and choosing the format by extension or content."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from docfixtures import assert_offsets, docx_paragraph, docx_table, write_docx, write_epub, xhtml
from reader.errors import ExtractError, InputError
from reader.text.document import BlockKind
from reader.text.extract import load_document
from reader.text.extract.html import html_to_blocks
from reader.text.extract.markdown import markdown_to_blocks, strip_inline

H, P, LI, TR, CAP = BlockKind.HEADING, BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.TABLE_ROW, BlockKind.CAPTION


# --- EPUB -------------------------------------------------------------------------------------------

CHAPTER_ONE = xhtml(
    "Chapter One",
    "<h1>The Beginning</h1>\n<p>It was a bright cold day in April,\n and the clocks were striking thirteen.</p>\n"
    "<h2>A Walk</h2>\n<p>She walked <em>quickly</em> home.</p>",
)
CHAPTER_TWO = xhtml(
    "Chapter Two",
    '<section epub:type="chapter"><h1>The Middle</h1><p>Everything changed.</p>'
    "<ul><li>one thing</li><li>another</li></ul></section>",
)
NO_HEADING = xhtml("Notes", "<p>A page without a heading.</p>")


def test_epub_follows_spine_order_and_keeps_chapters(tmp_path):
    # The manifest lists the chapters in the wrong order; the spine is the reading order.
    path = write_epub(
        tmp_path / "book.epub",
        title="A Small Book",
        chapters=[("two.xhtml", CHAPTER_TWO), ("notes.xhtml", NO_HEADING), ("one.xhtml", CHAPTER_ONE)],
        spine=["one.xhtml", "two.xhtml", "notes.xhtml"],
    )
    doc = load_document(path)
    assert doc.format == "epub" and doc.title == "A Small Book"
    assert [(b.kind, b.text, b.chapter, b.level) for b in doc.blocks] == [
        (H, "The Beginning", "The Beginning", 1),
        (P, "It was a bright cold day in April, and the clocks were striking thirteen.", "The Beginning", None),
        (H, "A Walk", "The Beginning", 2),
        (P, "She walked quickly home.", "The Beginning", None),
        (H, "The Middle", "The Middle", 1),
        (P, "Everything changed.", "The Middle", None),
        (LI, "one thing", "The Middle", None),
        (LI, "another", "The Middle", None),
        (P, "A page without a heading.", "notes.xhtml", None),
    ]
    assert "Skip me" not in doc.text  # the navigation document is not read
    assert_offsets(doc)


def test_epub_found_by_content_and_without_mimetype(tmp_path):
    path = write_epub(tmp_path / "book", title="T", chapters=[("one.xhtml", CHAPTER_ONE)], spine=["one.xhtml"],
                      mimetype=False)
    assert load_document(path).format == "epub"


def test_zip_that_is_not_an_epub(tmp_path):
    for name in ("archive.epub", "archive.zip", "archive"):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
        with pytest.raises(InputError) as error:
            load_document(path)
        assert error.value.message.startswith(f"{path} is a zip archive but not an EPUB book")


def test_damaged_epub(tmp_path):
    good = write_epub(tmp_path / "good.epub", title="T", chapters=[("one.xhtml", CHAPTER_ONE)], spine=["one.xhtml"])
    path = tmp_path / "cut.epub"
    path.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ExtractError, match=r"cut\.epub is damaged and cannot be read as an EPUB book; "):
        load_document(path)


def test_epub_with_broken_package(tmp_path):
    path = tmp_path / "bad.epub"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/container.xml", "<container><rootfiles><rootfile full-path='x.opf'/>")
    with pytest.raises(ExtractError, match="is damaged"):
        load_document(path)


# --- HTML -------------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title>The  Page
 Title</title><style>p { color: red }</style><script>var x = "<p>not text</p>";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Main   heading</h1>
<p>First line<br>second line &amp; more
   text.</p>
<div>Loose text in a div<p>and a paragraph inside</div>
<h3 hidden>Hidden heading</h3>
<ol><li>Step one</li><li>Step <b>two</b></li></ol>
<table><caption>Scores</caption><tr><th>Name</th><th>Score</th></tr><tr><td>Ann</td><td>12</td></tr></table>
<figure><img src="a.png" alt="a cat"><figcaption>A cat asleep.</figcaption></figure>
<p>中文第一行
中文第二行。</p>
<p>Unclosed one<p>Unclosed two
<pre>line one
  line two</pre>
</body></html>
"""


def test_html_blocks(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    doc = load_document(path)
    assert doc.format == "html" and doc.title == "The Page Title"
    assert [(b.kind, b.text, b.level) for b in doc.blocks] == [
        (H, "Main heading", 1),
        (P, "First line second line & more text.", None),
        (P, "Loose text in a div", None),
        (P, "and a paragraph inside", None),
        (LI, "1. Step one", None),
        (LI, "2. Step two", None),
        (CAP, "Scores", None),
        (TR, "Name: Ann, Score: 12", None),
        (P, "image: a cat", None),  # the image, by its description
        (CAP, "A cat asleep.", None),
        (P, "中文第一行中文第二行。", None),
        (P, "Unclosed one", None),
        (P, "Unclosed two", None),
        (P, "line one\nline two", None),
    ]
    assert "not text" not in doc.text and "Home" not in doc.text
    assert_offsets(doc)


def test_html_sniffed_without_extension(tmp_path):
    path = tmp_path / "download"
    path.write_text("\n<!doctype html><html><body><p>Hi.</p></body></html>", encoding="utf-8")
    doc = load_document(path)
    assert doc.format == "html" and doc.blocks[0].text == "Hi." and doc.title == "download"


def test_html_declared_charset(tmp_path):
    path = tmp_path / "gbk.htm"
    path.write_bytes('<html><head><meta charset="gb2312"></head><body><p>你好，世界。</p></body></html>'.encode("gbk"))
    doc = load_document(path)
    assert doc.blocks[0].text == "你好，世界。" and doc.encoding == "gb18030"


def test_html_fragment():
    blocks, title = html_to_blocks("Just <i>some</i> text<br/>here")
    assert title is None and [b.text for b in blocks] == ["Just some text here"]


# --- Markdown ---------------------------------------------------------------------------------------

MARKDOWN = """---
title: front matter is not read
---
Document Title
==============

A paragraph with **bold**, *emphasis*, `code`, a [link](https://example.com "t") and
an image ![a red apple](apple.png) across a hard line break.  
Still the same paragraph.

## Lists

- first item
* second item
  continues here
+ [x] done item
1. numbered one
2) numbered two

```python
def hello():
    return "*not emphasis*"
```

| Name | Score |
|:-----|------:|
| Ann  | 12    |
| Bob \\| Jr. | 7 |

Subheading
----------

> Quoted text is read
> like a paragraph.

<!-- a comment -->
***
[ref]: https://example.com
snake_case_name and 2 * 3 * 4 stay as they are.
"""


def test_markdown_blocks(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load_document(path)
    assert doc.format == "markdown" and doc.title == "Document Title"
    assert [(b.kind, b.text, b.level) for b in doc.blocks] == [
        (H, "Document Title", 1),
        (P, "A paragraph with bold, emphasis, code, a link and an image image: a red apple across a hard line break. "
            "Still the same paragraph.", None),
        (H, "Lists", 2),
        (LI, "first item", None),
        (LI, "second item continues here", None),
        (LI, "done item", None),
        (LI, "1. numbered one", None),
        (LI, "2. numbered two", None),  # "2)" starts a new list, at 2
        (P, 'def hello():\n    return "*not emphasis*"', None),
        (TR, "Name: Ann, Score: 12", None),
        (TR, "Name: Bob | Jr., Score: 7", None),
        (H, "Subheading", 2),
        (P, "Quoted text is read like a paragraph.", None),
        (P, "snake_case_name and 2 * 3 * 4 stay as they are.", None),
    ]
    assert_offsets(doc)


def test_markdown_inline():
    assert strip_inline("[![alt text](i.png)](https://x)") == "alt text"
    assert strip_inline("**bold _and italic_** ~~gone~~ \\*literal\\*") == "bold and italic gone *literal*"
    assert strip_inline("see <https://example.com> and <b>html</b>&nbsp;done") == "see https://example.com and html done"
    assert strip_inline("footnote[^1] here") == "footnote here"


def test_markdown_cjk_lines_join_without_space():
    blocks = markdown_to_blocks("## 标题\n\n第一行\n第二行。\n")
    assert [(b.kind, b.text) for b in blocks] == [(H, "标题"), (P, "第一行第二行。")]


def test_bundled_sample_document():
    sample = Path(__file__).resolve().parents[1] / "reader" / "data" / "sample.md"
    if not sample.exists():
        pytest.skip("no bundled sample")
    doc = load_document(sample)
    assert doc.title == "Welcome to the Reader"
    assert any(b.kind is H and b.text == "中文段落" for b in doc.blocks)
    assert_offsets(doc)


# --- DOCX -------------------------------------------------------------------------------------------

STYLES = (
    '<w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/></w:style>'
    '<w:style w:type="paragraph" w:styleId="Aufzaehlung"><w:name w:val="List Bullet"/>'
    '<w:pPr><w:numPr><w:numId w:val="3"/></w:numPr></w:pPr></w:style>'
)


def test_docx_blocks(tmp_path):
    body = "".join([
        docx_paragraph("Quarterly Notes", style="Title"),
        docx_paragraph("Overview", style="Heading1"),
        docx_paragraph("", runs=["The quick ", "brown fox", " jumps."]),
        docx_paragraph("First point", numbered=True),
        docx_paragraph("Second point", numbered=True),
        docx_paragraph("Details", style="berschrift2"),
        docx_paragraph("Bullet from style", style="Aufzaehlung"),
        docx_table([["Name", "Score"], ["Ann", "12"]]),
        '<w:p><w:r><w:t>Tab</w:t><w:tab/><w:t>and</w:t><w:br/><w:t>break</w:t></w:r>'
        '<w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>'
        '<w:r><w:fldChar/><w:instrText>PAGE</w:instrText></w:r></w:p>',
        docx_paragraph("Deep heading", style="Heading8"),
    ])
    path = write_docx(tmp_path / "notes.docx", body, title="Q3 Notes", styles_xml=STYLES)
    doc = load_document(path)
    assert doc.format == "docx" and doc.title == "Q3 Notes"
    assert [(b.kind, b.text, b.level) for b in doc.blocks] == [
        (H, "Quarterly Notes", 1),
        (H, "Overview", 1),
        (P, "The quick brown fox jumps.", None),
        (LI, "First point", None),
        (LI, "Second point", None),
        (H, "Details", 2),
        (LI, "Bullet from style", None),
        (TR, "Name, Score", None),  # a first row in plain type is not a header
        (TR, "Ann, 12", None),
        (P, "Tab and break", None),
        (H, "Deep heading", 6),
    ]
    assert_offsets(doc)


def test_docx_title_falls_back_to_first_heading_and_is_sniffed(tmp_path):
    body = docx_paragraph("Report Heading", style="Heading1") + docx_paragraph("Body.")
    path = write_docx(tmp_path / "download.bin", body)
    doc = load_document(path)
    assert doc.format == "docx" and doc.title == "Report Heading"


def test_zip_named_docx_without_document(tmp_path):
    path = tmp_path / "fake.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(InputError, match="is a zip archive but not"):
        load_document(path)


def test_docx_with_broken_xml(tmp_path):
    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w:document><w:body><w:p>")
    with pytest.raises(ExtractError, match=r"broken\.docx is damaged and cannot be read as a Word document; "):
        load_document(path)


def test_text_about_pdfs_is_not_a_pdf(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# PDF notes\n\nEvery PDF file starts with %PDF-1.7 in its first line.\n", encoding="utf-8")
    assert load_document(path).format == "markdown"


def test_unknown_extension_with_text_is_plain_text(tmp_path):
    path = tmp_path / "README.rst"
    path.write_text("Some notes.\nMore of them.\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.format == "text" and doc.blocks[0].text == "Some notes. More of them." and doc.title == "README"


def _encryption_xml(uri: str, algorithm: str) -> str:
    return (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        'xmlns:enc="http://www.w3.org/2001/04/xmlenc#">'
        f'<enc:EncryptedData><enc:EncryptionMethod Algorithm="{algorithm}"/>'
        f'<enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData></encryption>'
    )


def test_drm_protected_epub(tmp_path):
    path = write_epub(tmp_path / "drm.epub", title="T", chapters=[("one.xhtml", CHAPTER_ONE)], spine=["one.xhtml"])
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("META-INF/encryption.xml",
                         _encryption_xml("OEBPS/text/one.xhtml", "http://www.w3.org/2001/04/xmlenc#aes128-cbc"))
    with pytest.raises(ExtractError, match=r"drm\.epub is protected by DRM"):
        load_document(path)


def test_obfuscated_fonts_are_not_drm(tmp_path):
    path = write_epub(tmp_path / "fonts.epub", title="T", chapters=[("one.xhtml", CHAPTER_ONE)], spine=["one.xhtml"])
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("META-INF/encryption.xml",
                         _encryption_xml("OEBPS/text/one.xhtml", "http://www.idpf.org/2008/embedding"))
    assert load_document(path).blocks[0].text == "The Beginning"


def test_pdf_after_junk_bytes_is_still_a_pdf(tmp_path):
    from docfixtures import write_pdf

    source = write_pdf(tmp_path / "a.pdf", [["Text after some junk."]])
    path = tmp_path / "mail-attachment"
    path.write_bytes(b"Content-Type: application/pdf\r\n\r\n" + source.read_bytes())
    doc = load_document(path)
    assert doc.format == "pdf" and doc.blocks[0].text == "Text after some junk."


def _spans(block) -> list[tuple[str, str]]:
    return [(sp.kind, block.text[sp.start:sp.end]) for sp in block.spans]


def test_html_links_and_image_descriptions_become_spans():
    blocks, _ = html_to_blocks(
        '<p>See <a href="x">the   site</a> now. <img alt="A red barn" src="b.png"> Done.</p>'
        '<p><a name="anchor">not a link</a> <img src="s.gif" alt=""> <img alt="logo" role="presentation"></p>'
        '<div><a href="k">one<p>two</p></a></div>')
    assert [b.text for b in blocks] == ["See the site now. image: A red barn Done.", "not a link", "one", "two"]
    assert _spans(blocks[0]) == [("link", "the site"), ("image", "image: A red barn")]
    assert _spans(blocks[1]) == []  # an anchor without href, a decorative image
    assert _spans(blocks[2]) == [("link", "one")] and _spans(blocks[3]) == [("link", "two")]
    nested, _ = html_to_blocks('<p><a href="a">one <a href="b">two</a> three</a></p>' + '<a href="x">' * 5000)
    assert _spans(nested[0]) == [("link", "one two")]  # links do not nest: the inner one ends it


def test_markdown_links_images_and_autolinks_become_spans():
    blocks = markdown_to_blocks("# Go [home](x)\n\nSee [the *site*](http://a), ![A barn](b.png), ![](c.png) "
                                "and <http://q.com>.\n\n| a | [b](x) |\n|---|---|\n")
    assert _spans(blocks[0]) == [("link", "home")]
    assert blocks[1].text == "See the site, image: A barn, and http://q.com."
    assert _spans(blocks[1]) == [("link", "the site"), ("image", "image: A barn"), ("link", "http://q.com")]
    assert blocks[2].text == "a, b" and _spans(blocks[2]) == [("link", "b")]  # a header alone is read as it is
    assert strip_inline("[a](b) ![c](d)") == "a c"  # plain text for everything else


def test_characters_that_look_like_span_marks_in_a_document_are_dropped():
    hostile = "x\ue010y\ue011z \ue012w\ue013"
    blocks, _ = html_to_blocks(f"<p>{hostile}</p>")
    assert blocks[0].text == "xyz w" and blocks[0].spans == ()
    md = markdown_to_blocks(hostile)
    assert md[0].text == "xyz w" and md[0].spans == ()


def test_spans_survive_the_document_offsets(tmp_path):
    path = tmp_path / "a.html"
    path.write_text('<h1>T</h1><p>  Go <a href="x">there</a>.</p>', encoding="utf-8")
    doc = load_document(str(path))
    block = doc.blocks[1]
    assert [(sp.kind, doc.text[block.start + sp.start:block.start + sp.end]) for sp in block.spans] == [
        ("link", "there")]
