"""Hostile documents get one sentence or are read within bounds: deep nesting, zip bombs, huge text, PDFs
whose page tree repeats a page or whose page draws megabytes. (The slow loops, 10,000 fuzzed files and
the full-size bombs, are in bench/bench_hostile.py.)"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reader.errors import ExtractError, InputError
from reader.text.extract import _common, load_document
from reader.text.extract import html as html_module
from reader.text.extract import pdf as pdf_module
from reader.text.extract.html import html_to_blocks
from reader.text.extract.markdown import markdown_to_blocks
from reader.text.sentences import document_sentences

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import bench_hostile as hostile  # noqa: E402  (the generators of the hostile files)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_docx_nested_thousands_deep_gets_one_sentence(tmp_path):
    with pytest.raises(ExtractError, match="nested too deeply"):
        load_document(_write(tmp_path, "deep.docx", hostile.docx_runs_nested(5000)))


def test_a_docx_whose_part_unpacks_to_gigabytes_is_refused_before_unpacking(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "MAX_MEMBER_BYTES", 8 << 20)
    with pytest.raises(ExtractError, match="unpack to more than"):
        load_document(_write(tmp_path, "bomb.docx", hostile.docx_bomb(16)))


def test_a_zip_part_that_lies_about_its_size_is_cut_off_while_unpacking(tmp_path, monkeypatch):
    data = bytearray(hostile.docx_bomb(16))
    # Forge the sizes in the local header and the central directory: it now claims 100 bytes.
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo("word/document.xml")
    assert info.file_size > 16 << 20
    forged = bytes(data).replace(info.file_size.to_bytes(4, "little"), (100).to_bytes(4, "little"))
    monkeypatch.setattr(_common, "MAX_MEMBER_BYTES", 8 << 20)
    with pytest.raises(ExtractError, match="unpack to more than|damaged"):
        load_document(_write(tmp_path, "liar.docx", forged))


def test_an_epub_bomb_says_why_it_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "MAX_MEMBER_BYTES", 8 << 20)
    with pytest.raises(ExtractError, match="unpack to more than"):
        load_document(_write(tmp_path, "bomb.epub", hostile.epub_bomb(16)))


def test_html_nested_two_hundred_thousand_deep_is_read_with_bounded_state():
    blocks, _ = html_to_blocks(hostile.html_deep(200_000).decode())
    assert [b.text for b in blocks] == ["deep"]
    parser = html_module._BlockParser(None)
    parser.feed("<div>" * 5000 + "x")
    assert len(parser._blocks_open) == html_module.MAX_OPEN_BLOCKS


def test_html_end_tags_close_what_is_open_however_deep():
    markup = "<section>" + "<div>" * 3000 + "inner" + "</div>" * 3000 + "<p>after</p></section>"
    assert [b.text for b in html_to_blocks(markup)[0]] == ["inner", "after"]


def test_markdown_with_deep_quotes_and_brackets_is_read():
    blocks = markdown_to_blocks(hostile.markdown_deep(100_000).decode())
    text = " ".join(b.text for b in blocks)
    assert "quote" in text and "item" in text


def test_text_larger_than_the_reader_opens_gets_one_sentence(tmp_path, monkeypatch, run_cli):
    from reader.text.extract import plain

    monkeypatch.setattr(plain, "MAX_TEXT_BYTES", 1 << 20)
    with pytest.raises(InputError, match="more than the reader opens at once"):
        load_document(_write(tmp_path, "huge.txt", b"word " * 300_000))
    result = run_cli("sentences", "-", input=b"x " * ((32 << 20) // 2 + 10))
    assert result.returncode == 2 and b"more than the reader opens at once" in result.stderr
    assert b"Traceback" not in result.stderr


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \t\n\u3000\xa0x")), max_size=200))
def test_squeeze_is_split_and_join(text):
    old = _common._SQUEEZE_CHUNK
    _common._SQUEEZE_CHUNK = 7  # pieces much shorter than the text: the joins between pieces are exercised
    try:
        assert _common.squeeze(text) == " ".join(text.split())
    finally:
        _common._SQUEEZE_CHUNK = old


def test_a_pdf_whose_page_tree_repeats_one_page_reads_it_once(tmp_path):
    doc = load_document(_write(tmp_path, "kids.pdf", hostile.pdf_many_kids(2000)))
    texts = [b.text for b in doc.blocks]
    assert texts.count("The same page again.") == 1
    assert any("1999 pages that repeat an earlier page" in t for t in texts)


def test_a_pdf_page_that_draws_megabytes_is_skipped_and_said(tmp_path):
    doc = load_document(_write(tmp_path, "ops.pdf", hostile.pdf_many_operators(200_000)))
    assert [b.text for b in doc.blocks] == [
        "Page 1 of this document was not read: it draws more than 1 MB of instructions, which no page of text needs."]
    assert document_sentences(doc)


def test_a_pdf_longer_than_the_reader_reads_says_where_it_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf_module, "MAX_PAGES", 1)
    data = hostile._pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                         b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
                         b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                         b"/Resources << /Font << /F1 5 0 R >> >> >>",
                         hostile._stream(b"BT /F1 12 Tf 72 700 Td (First page.) Tj ET"),
                         b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
                         b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 7 0 R "
                         b"/Resources << /Font << /F1 5 0 R >> >> >>",
                         hostile._stream(b"BT /F1 12 Tf 72 700 Td (Second page.) Tj ET")], root=1)
    doc = load_document(_write(tmp_path, "two.pdf", data))
    texts = [b.text for b in doc.blocks]
    assert texts[0] == "First page."
    assert texts[-1].startswith("Pages 2 to 2 were not read")
