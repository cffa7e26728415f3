"""Property tests: any text, markup or bytes gives a Document whose offsets match, or a ReaderError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from docfixtures import assert_offsets
from reader.errors import ReaderError
from reader.text.document import Document
from reader.text.extract import document_from_text
from reader.text.extract.html import html_to_blocks
from reader.text.extract.markdown import markdown_to_blocks
from reader.text.extract.plain import decode_text

# Text with the characters the parsers care about, so the interesting branches are reached.
PIECES = list("ab 中文\n\t#*_-=|`>[]()!<>/&;.1") + ["<p>", "</p>", "<li>", "<br>", "```", "\r\n", "&amp;", "\u3000"]
MARKUP = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)


@given(MARKUP)
@settings(max_examples=300, deadline=None)
def test_markdown_and_html_never_fail(text):
    for blocks in (markdown_to_blocks(text), html_to_blocks(text)[0]):
        doc = Document.from_raw(blocks, title="t", source="s", format="x")
        assert_offsets(doc)


@given(MARKUP)
@settings(max_examples=300, deadline=None)
def test_plain_text_offsets(text):
    try:
        doc = document_from_text(text, source="stdin", title="t")
    except ReaderError:
        assert not text.strip()
        return
    assert_offsets(doc)
    assert all("\n\n" not in b.text for b in doc.blocks)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_bytes_decode_or_are_refused(data):
    try:
        text, encoding = decode_text(data, name="x")
    except ReaderError:
        return
    assert isinstance(text, str) and encoding
