"""PDF extraction on real PDFs written by hand (tests/docfixtures.py) and read back with pypdf."""

from __future__ import annotations

import pytest

from docfixtures import assert_offsets, build_pdf, encrypt_pdf, page_content, write_pdf
from reader.errors import ExtractError, PasswordRequired, ReaderError
from reader.text.document import BlockKind
from reader.text.extract import load_document
from reader.text.extract.pdf import Line, lines_to_blocks, normalize_pdf_text


REPORT_PAGES = [
    [
        ("Annual Summary", 18),
        "The committee met eleven times during the year to review the",
        "progress of every project and to discuss new sources of infor-",
        "mation. It found the o\ufb03ce work\ufb02ow e\ufb03cient and well organised.",
        None,
        "Budgets were tight, but the staff kept every promise made in",
        "spring. Nobody left.",
        "Several new members joined in the autumn and the work went on",
        "without",
    ],
    [
        "interruption until the end of December, when the office closed.",
        None,
        "Codes like \uff21\uff22\uff23\uff11\uff12\uff13 are printed in full width\uff0cas here\u3002",
        None,
        "The well-known author wrote a long and very detailed well-",
        "known report about the fine-grained data of the last year.",
    ],
    [
        "The last page has a single short paragraph of text on it.",
    ],
]

EXPECTED_REPORT = [
    (BlockKind.HEADING, "Annual Summary", 1),
    (
        BlockKind.PARAGRAPH,
        "The committee met eleven times during the year to review the progress of every project and to "
        "discuss new sources of information. It found the office workflow efficient and well organised.",
        1,
    ),
    (BlockKind.PARAGRAPH, "Budgets were tight, but the staff kept every promise made in spring. Nobody left.", 1),
    (
        BlockKind.PARAGRAPH,
        "Several new members joined in the autumn and the work went on without interruption until the end of "
        "December, when the office closed.",
        1,
    ),
    (BlockKind.PARAGRAPH, "Codes like ABC123 are printed in full width\uff0cas here\u3002", 2),
    (
        BlockKind.PARAGRAPH,
        "The well-known author wrote a long and very detailed well-known report about the fine-grained data of "
        "the last year.",
        2,
    ),
    (BlockKind.PARAGRAPH, "The last page has a single short paragraph of text on it.", 3),
]


@pytest.mark.parametrize("footer", ["{n}", "- {n} -", "Page {n} of {total}"])
def test_report_pdf_blocks_and_pages(tmp_path, footer):
    path = write_pdf(tmp_path / "report.pdf", REPORT_PAGES, header="The Annual Report", footer=footer,
                     title="Annual Report 2025")
    doc = load_document(path)
    assert doc.format == "pdf"
    assert doc.title == "Annual Report 2025"
    assert [(b.kind, b.text, b.page) for b in doc.blocks] == EXPECTED_REPORT
    assert doc.blocks[0].level == 1
    assert "The Annual Report" not in doc.text
    assert_offsets(doc)


def test_title_falls_back_to_file_name(tmp_path):
    path = write_pdf(tmp_path / "minutes.pdf", [["Only one line of text here."]])
    assert load_document(path).title == "minutes"


def test_pdf_found_by_content_whatever_the_name(tmp_path):
    source = write_pdf(tmp_path / "a.pdf", [["Sniffed by its %PDF- header."]])
    for name in ("no_extension", "misnamed.txt", "misnamed.html"):
        target = tmp_path / name
        target.write_bytes(source.read_bytes())
        doc = load_document(target)
        assert doc.format == "pdf"
        assert doc.blocks[0].text == "Sniffed by its %PDF- header."


def test_normalize_ligatures_and_full_width_but_keep_cjk_punctuation():
    assert normalize_pdf_text("e\ufb03cient \ufb01ne \ufb02ow o\ufb00er ba\ufb04e") == "efficient fine flow offer baffle"
    assert normalize_pdf_text("\uff21\uff22\uff23\uff11\uff12\uff13\uff41") == "ABC123a"
    assert normalize_pdf_text("你好\uff0c世界\u3002\uff01\uff1f") == "你好\uff0c世界\u3002\uff01\uff1f"
    assert normalize_pdf_text("  two   spaces\tand a tab ") == "two spaces and a tab"
    assert normalize_pdf_text("hyphen\xad") == "hyphen-"
    assert normalize_pdf_text("in\xadvisible") == "invisible"


def lines(*texts: str) -> list[Line]:
    return [Line(text) for text in texts]


def test_hyphenation_rules():
    blocks = lines_to_blocks([lines("the infor-", "mation age", "a Anglo-", "Saxon king", "the year 1999-", "2000 report")])
    assert blocks[0].text == "the information age a Anglo-Saxon king the year 1999-2000 report"


def test_cjk_lines_join_without_space():
    blocks = lines_to_blocks([lines("这是一段很长的中文文字，它在", "这里换行了。")])
    assert blocks[0].text == "这是一段很长的中文文字，它在这里换行了。"


def test_page_numbers_dropped_only_at_page_edges():
    pages = [
        lines("Report", "First body line", "12 apples", "42"),
        lines("Report", "Second body line", "x", "iv"),
        lines("第 3 页", "Third body line", "more", "3 / 9"),
    ]
    texts = [b.text for b in lines_to_blocks(pages)]
    assert "42" not in texts and "iv" not in texts and "3 / 9" not in texts and "第 3 页" not in texts
    assert "Report" not in " ".join(texts)
    assert "First body line" in " ".join(texts)


def test_paragraph_continues_on_next_page():
    pages = [lines("A sentence that does not end on this"), lines("page but goes on.", "Then another one.")]
    blocks = lines_to_blocks(pages)
    assert blocks[0].text.startswith("A sentence that does not end on this page but goes on.")
    assert blocks[0].page == 1


def test_blank_line_without_positions_breaks_paragraphs():
    pages = [[Line("First paragraph line"), Line("Second paragraph", gap_before=True)]]
    assert [b.text for b in lines_to_blocks(pages)] == ["First paragraph line", "Second paragraph"]


# --- encrypted, damaged, scanned -------------------------------------------------------------------


@pytest.fixture
def plain_pdf(tmp_path):
    return write_pdf(tmp_path / "plain.pdf", [["A secret text that needs a password."]])


@pytest.mark.parametrize("algorithm", ["AES-128", "RC4-128", "AES-256"])
def test_encrypted_pdf(tmp_path, plain_pdf, algorithm):
    path = encrypt_pdf(plain_pdf, tmp_path / "locked.pdf", user_password="opensesame", algorithm=algorithm)
    with pytest.raises(PasswordRequired) as missing:
        load_document(path)
    assert missing.value.message == f"{path} is encrypted; give its password with --password."
    with pytest.raises(PasswordRequired) as wrong:
        load_document(path, password="guess")
    assert wrong.value.message == f"The password for {path} is wrong; try again."
    doc = load_document(path, password="opensesame")
    assert doc.blocks[0].text == "A secret text that needs a password."
    assert load_document(path, password="owner").blocks[0].text == doc.blocks[0].text


def test_encrypted_with_empty_user_password_opens_without_one(tmp_path, plain_pdf):
    path = encrypt_pdf(plain_pdf, tmp_path / "restricted.pdf", user_password="")
    assert load_document(path).blocks[0].text == "A secret text that needs a password."
    # A password given for a file that does not need one is not an error.
    assert load_document(plain_pdf, password="whatever").blocks[0].text.startswith("A secret")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_pdf_is_damaged(tmp_path, fraction):
    data = build_pdf([page_content(["Some text on a page that will be cut off."])] * 3)
    path = tmp_path / "broken.pdf"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ExtractError) as error:
        load_document(path)
    assert error.value.message.startswith(f"{path} is damaged and cannot be read as a PDF; ")


def test_garbage_after_pdf_header_is_damaged(tmp_path):
    path = tmp_path / "junk.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)
    with pytest.raises(ExtractError, match="is damaged"):
        load_document(path)


def test_scanned_pdf_has_no_text_layer(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(build_pdf([b"", b""], image_pages={1, 2}))
    with pytest.raises(ExtractError) as error:
        load_document(path)
    assert error.value.message == (
        f"{path} has no text layer (it looks like a scanned image); "
        "run it through OCR first, e.g. ocrmypdf, then open the result."
    )


def test_pdf_named_file_that_is_text_is_read_as_text(tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_text("Not really a PDF, just text.\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.format == "text" and doc.blocks[0].text == "Not really a PDF, just text."


def test_errors_are_reader_errors_not_tracebacks(tmp_path):
    path = tmp_path / "empty-body.pdf"
    path.write_bytes(b"%PDF-1.4\n%%EOF\n")
    with pytest.raises(ReaderError):
        load_document(path)


def test_chapter_title_running_header_over_a_few_pages_of_a_long_book():
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa " \
        "quebec romeo sierra tango".split()
    pages = []
    for n, word in enumerate(words, start=1):
        header = "A Long Book" if n % 2 == 0 else ("Chapter One" if n < 8 else "Chapter Two")
        pages.append(lines(header, f"The {word} page starts here,", f"and the {word} page ends here.", str(n)))
    # Chapter One heads pages 1, 3, 5, 7 only (20% of the pages), but steadily: it is a running header.
    texts = " ".join(b.text for b in lines_to_blocks(pages))
    assert "Chapter" not in texts and "A Long Book" not in texts
    assert "The golf page starts here, and the golf page ends here." in texts


def test_a_line_repeated_far_apart_is_kept():
    pages = [lines("Summary" if n in (0, 6, 12) else f"Intro {n}", f"Text {n} here.") for n in range(15)]
    texts = [b.text for b in lines_to_blocks(pages)]
    assert texts.count("Summary") == 3


def test_bullets_are_list_items():
    pages = [lines("The features are:", "• fast start, even on old", "machines", "• small size", "Then more text.")]
    assert [(b.kind, b.text) for b in lines_to_blocks(pages)] == [
        (BlockKind.PARAGRAPH, "The features are:"),
        (BlockKind.LIST_ITEM, "fast start, even on old machines"),
        (BlockKind.LIST_ITEM, "small size Then more text."),
    ]


def test_running_header_with_page_number():
    # "Chapter 2: Methods 3" on PDF page 6: the printed page number is the PDF page minus 3, as in a book
    # with front matter. A section heading "1 Introduction" on a page that starts with its number stays.
    pages = [lines(f"Front matter {n}.") for n in "abc"]
    pages.append(lines("1", "1 Introduction", "Text of the introduction."))
    pages.append(lines("2", "2 Methods", "Text about methods."))
    pages.append(lines("Chapter 2: Methods 3", "More about methods."))
    pages.append(lines("Chapter 2: Methods 4", "Even more about methods."))
    pages.append(lines("5", "3 Results", "The results."))
    text = " ".join(b.text for b in lines_to_blocks(pages))
    assert "1 Introduction Text of the introduction." in text and "2 Methods Text about methods." in text
    assert "Chapter 2" not in text


def test_pypdf_complaints_stay_off_the_screen(tmp_path, capfd):
    # An unknown font encoding and wrong xref offsets: pypdf repairs both and logs about it.
    data = build_pdf([page_content(["Readable despite the flaws."])])
    data = data.replace(b"/BaseEncoding /WinAnsiEncoding", b"/BaseEncoding /NoSuchEncodingAtAll")
    path = tmp_path / "flawed.pdf"
    path.write_bytes(data)
    assert load_document(path).blocks[0].text == "Readable despite the flaws."
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
