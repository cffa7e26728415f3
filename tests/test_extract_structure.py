"""Structure read aloud: image descriptions, table rows after their headers, list numbers (HTML, Markdown,
DOCX), and that the reading session says each of them once."""

from __future__ import annotations

import json
import time

from docfixtures import assert_offsets, docx_paragraph, write_docx
from reader.reading import ReadingSession
from reader.settings import Settings
from reader.text.document import BlockKind, Document
from reader.text.extract import load_document
from reader.text.extract._common import list_number
from reader.text.extract.html import html_to_blocks
from reader.text.extract.markdown import markdown_to_blocks

H, P, LI, TR, CAP = BlockKind.HEADING, BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.TABLE_ROW, BlockKind.CAPTION


def _read(blocks) -> list[tuple[BlockKind, str]]:
    return [(b.kind, b.text) for b in Document.from_raw(blocks, title="t", source="s", format="x").blocks]


def _html(markup: str) -> list[tuple[BlockKind, str]]:
    return _read(html_to_blocks(markup)[0])


def _spans(block) -> list[tuple[str, str]]:
    return [(sp.kind, block.text[sp.start:sp.end]) for sp in block.spans]


# --- images ---------------------------------------------------------------------------------------------

def test_html_images_are_read_by_their_description_and_decorative_ones_are_not():
    blocks, _ = html_to_blocks(
        '<p>Take <img src="m.png" alt="Map of route 42"> the bus.</p>'
        '<p>Rule <img src="line.gif" alt=""> <img src="dot.gif" role="presentation" alt="dot"> here</p>'
        '<p>Loose <img src="nothing.png"> image</p>'
        '<p><img src="x.png" alt="   "> <img src="t.png" title="A tooltip"> <img aria-label="Named" alt="no"></p>'
        '<p><img src="z.png" alt="北京地图"></p>')
    assert [b.text for b in blocks] == [
        "Take image: Map of route 42 the bus.",
        "Rule here",  # alt="" and role=presentation: decorative
        "Loose image",  # no alt outside a link or figure: left out (the word "image" is the page's own)
        "image: A tooltip image: Named",  # blank alt is decorative; title, then aria-label, name an image
        "图片：北京地图",
    ]
    assert _spans(blocks[0]) == [("image", "image: Map of route 42")]
    assert _spans(blocks[2]) == []


def test_html_image_without_alt_is_said_only_when_it_is_all_of_a_link_or_figure():
    blocks, _ = html_to_blocks(
        '<p><a href="/">  <img src="logo.png"> </a> Home page</p>'
        '<p><a href="/back">Back <img src="arrow.png"></a></p>'
        '<figure><img src="a.png"></figure>'
        '<figure><img src="b.png"><figcaption>A cat asleep.</figcaption></figure>'
        '<figure><p>Text first</p><img src="c.png"></figure>'
        '<figure><figure><img src="d.png"></figure></figure>')
    assert [(b.kind, b.text, _spans(b)) for b in blocks] == [
        (P, "image Home page", [("image", "image"), ("link", "image")]),
        (P, "Back", [("link", "Back")]),
        (P, "image", [("image", "image")]),
        (CAP, "A cat asleep.", []),
        (P, "Text first", []),
        (P, "image", [("image", "image")]),  # the inner figure's image, said once
    ]


def test_markdown_images_are_named_too():
    blocks = markdown_to_blocks("See ![Map of route 42](m.png), ![](spacer.png) and [![](logo.png)](/).\n")
    assert blocks[0].text == "See image: Map of route 42, and image."
    assert _spans(blocks[0]) == [("image", "image: Map of route 42"), ("image", "image"), ("link", "image")]


# --- tables ---------------------------------------------------------------------------------------------

TIMETABLE = """<table><caption>Timetable</caption>
<thead><tr><th>Station</th><th>time</th></tr></thead>
<tbody><tr><td>Central</td><td>06:00</td></tr>
<tr><td>North <a href="n.html">Park</a></td><td></td></tr></tbody></table>"""


def test_html_table_rows_are_read_after_their_header():
    blocks, _ = html_to_blocks(TIMETABLE)
    assert [(b.kind, b.text) for b in blocks] == [
        (CAP, "Timetable"),
        (TR, "Station: Central, time: 06:00"),
        (TR, "Station: North Park"),  # an empty cell is left out
    ]
    assert _spans(blocks[2]) == [("link", "Park")]


def test_html_header_in_a_first_row_of_th_or_none():
    assert _html("<table><tr><th>Name:</th><th>Score</th></tr><tr><td>Ann<td>12<tr><td>Bob<td>7</table>") == [
        (TR, "Name: Ann, Score: 12"), (TR, "Name: Bob, Score: 7")]  # "Name:" is not said "Name::"
    # A first row that mixes th and td is a row with a row header, not the table's header.
    assert _html("<table><tr><th>Mon</th><td>6</td></tr><tr><th>Tue</th><td>7</td></tr></table>") == [
        (TR, "Mon, 6"), (TR, "Tue, 7")]
    assert _html("<table><tr><td><p>a</p><p>b</p></td><td>c</td></tr><tr><td>d</td></tr></table>") == [
        (TR, "a b, c"), (TR, "d")]
    assert _html("<table><tr><th>Only</th><th>a header</th></tr></table>") == [(TR, "Only, a header")]


def test_html_table_colspan_extra_cells_and_nested_tables():
    assert _html("<table><tr><th></th><th>Mon</th><th>Tue</th></tr>"
                 "<tr><th>Bus</th><td colspan=2>every hour</td><td>extra</td></tr>"
                 "<tr><th>Train</th><td>6</td><td>7</td></tr></table>") == [
        (TR, "Bus, Mon: every hour, extra"), (TR, "Train, Mon: 6, Tue: 7")]
    assert _html("<table><tr><th>Outer</th></tr><tr><td>before"
                 "<table><tr><th>In</th></tr><tr><td>inner</td></tr></table>after</td></tr></table>") == [
        (TR, "In: inner"), (TR, "Outer: before after")]
    # A cell outside any table is read as a paragraph.
    assert _html("<td>stray</td><p>next</p>") == [(P, "stray"), (P, "next")]


def test_markdown_table_rows_after_their_header():
    blocks = markdown_to_blocks("| Station | time |\n|---|:-:|\n| Central | 06:00 |\n| North \\| [Park](p) | |\n\n"
                                "| | |\n|---|---|\n| a | b |\n")
    assert [(b.kind, b.text) for b in blocks] == [
        (TR, "Station: Central, time: 06:00"), (TR, "Station: North | Park"), (TR, "a, b")]
    assert _spans(blocks[1]) == [("link", "Park")]


# --- lists ----------------------------------------------------------------------------------------------

def test_html_ordered_lists_keep_their_numbers():
    blocks, _ = html_to_blocks(
        "<ol><li>Buy milk<li>Buy <b>eggs</b></ol>"
        '<ol start="3" type="a"><li>c<li value="10">j<li><p>k</p></li></ol>'
        '<ol type="I" start="4"><li>four<ol type="i"><li>inner</li></ol></li><li>five</li></ol>'
        '<ol reversed start="2"><li>two<li>one</ol><ol reversed><li>unknown</ol>'
        "<ul><li>bullet</li></ul><ol><li></li></ol><p>after</p>")
    assert [(b.kind, b.text, b.number) for b in blocks] == [
        (LI, "1. Buy milk", "1."), (LI, "2. Buy eggs", "2."),
        (LI, "c. c", "c."), (LI, "j. j", "j."), (LI, "k. k", "k."),
        (LI, "IV. four", "IV."), (LI, "i. inner", "i."), (LI, "V. five", "V."),
        (LI, "2. two", "2."), (LI, "1. one", "1."),
        (LI, "unknown", None),  # reversed without a start: its length is not known yet, so no number
        (LI, "bullet", None),
        (P, "after", None),  # the number of the empty item is not given to the next text
    ]


def test_list_numbers_in_letters_and_roman_numerals():
    assert [list_number(n, "lower-alpha") for n in (1, 26, 27, 52, 703)] == ["a", "z", "aa", "az", "aaa"]
    assert [list_number(n, "upper-roman") for n in (1, 4, 9, 14, 1994, 3999, 4000)] == [
        "I", "IV", "IX", "XIV", "MCMXCIV", "MMMCMXCIX", "4000"]
    assert list_number(0, "lower-roman") == "0" and list_number(-2, "upper-alpha") == "-2"


def test_markdown_ordered_lists_count_as_commonmark_does():
    blocks = markdown_to_blocks(
        "1. Buy milk\n1. Buy eggs\n   continued\n   1. nested\n   1. nested too\n1. third\n\n"
        "   a loose paragraph\n\n1. fourth\n- a bullet\n1. a new list\n\nA paragraph.\n\n"
        "7) seven\n8) eight\n9. a new list at nine\n")
    assert [(b.kind, b.text, b.number) for b in blocks] == [
        (LI, "1. Buy milk", "1."), (LI, "2. Buy eggs continued", "2."),
        (LI, "1. nested", "1."), (LI, "2. nested too", "2."), (LI, "3. third", "3."),
        (P, "a loose paragraph", None), (LI, "4. fourth", "4."),
        (LI, "a bullet", None), (LI, "1. a new list", "1."),
        (P, "A paragraph.", None),
        (LI, "7. seven", "7."), (LI, "8. eight", "8."), (LI, "9. a new list at nine", "9."),
    ]


# --- DOCX -----------------------------------------------------------------------------------------------

NUMBERING = (
    '<w:abstractNum w:abstractNumId="0">'
    '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>'
    '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%2)"/></w:lvl>'
    '<w:lvl w:ilvl="2"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%3."/></w:lvl>'
    '</w:abstractNum>'
    '<w:abstractNum w:abstractNumId="1">'
    '<w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/><w:lvlText w:val="\u2022"/></w:lvl></w:abstractNum>'
    '<w:abstractNum w:abstractNumId="2">'
    '<w:lvl w:ilvl="0"><w:start w:val="5"/><w:numFmt w:val="upperRoman"/><w:lvlText w:val="%1."/></w:lvl>'
    '</w:abstractNum>'
    '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>'
    '<w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>'
    '<w:num w:numId="3"><w:abstractNumId w:val="0"/>'
    '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride></w:num>'
    '<w:num w:numId="4"><w:abstractNumId w:val="2"/></w:num>'
    '<w:num w:numId="5"><w:abstractNumId w:val="0"/></w:num>'
)
NUMBERED_STYLE = ('<w:style w:type="paragraph" w:styleId="Steps"><w:name w:val="Steps"/>'
                  '<w:pPr><w:numPr><w:numId w:val="4"/></w:numPr></w:pPr></w:style>')


def _item(text: str, num_id: int, level: int = 0) -> str:
    return (f'<w:p><w:pPr><w:numPr><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr></w:pPr>'
            f'<w:r><w:t>{text}</w:t></w:r></w:p>')


def test_docx_numbered_lists_get_the_numbers_word_shows(tmp_path):
    body = "".join([
        _item("Buy milk", 1), _item("Buy eggs", 1), _item("brown ones", 1, 1), _item("white ones", 1, 1),
        _item("deep", 1, 2), docx_paragraph("An interruption."), _item("Third", 1), _item("new letters", 1, 1),
        _item("A bullet", 2), _item("Continues the list", 5),  # another w:num of the same list counts on
        _item("Restarted", 3), _item("Restarted two", 3),
        docx_paragraph("Step by style", style="Steps"), docx_paragraph("Off", numbered=False),
        _item("Undefined list", 9), _item("", 1),
    ])
    path = write_docx(tmp_path / "lists.docx", body, styles_xml=NUMBERED_STYLE, numbering_xml=NUMBERING)
    doc = load_document(path)
    assert [(b.kind, b.text, b.number) for b in doc.blocks] == [
        (LI, "1. Buy milk", "1."), (LI, "2. Buy eggs", "2."),
        (LI, "a) brown ones", "a)"), (LI, "b) white ones", "b)"), (LI, "2.1. deep", "2.1."),
        (P, "An interruption.", None),
        (LI, "3. Third", "3."), (LI, "a) new letters", "a)"),  # a deeper level starts again
        (LI, "A bullet", None), (LI, "4. Continues the list", "4."),
        (LI, "1. Restarted", "1."), (LI, "2. Restarted two", "2."),
        (LI, "V. Step by style", "V."), (P, "Off", None),
        (LI, "Undefined list", None),  # numId 9 is not in numbering.xml: a list item without a number
    ]
    assert doc.to_json()["blocks"][0]["number"] == "1." and "number" not in doc.to_json()["blocks"][5]
    assert_offsets(doc)


def _row(cells: list[str], *, header: bool = False, bold: bool = False, spans: list[int] | None = None) -> str:
    rpr = "<w:rPr><w:b/></w:rPr>" if bold else ""
    trpr = "<w:trPr><w:tblHeader/></w:trPr>" if header else ""
    grid = '<w:gridSpan w:val="{}"/>'
    tcs = "".join(
        f"<w:tc><w:tcPr>{grid.format(span) if span > 1 else ''}</w:tcPr>"
        f"<w:p><w:r>{rpr}<w:t>{cell}</w:t></w:r></w:p></w:tc>"
        for cell, span in zip(cells, spans or [1] * len(cells)))
    return f"<w:tr>{trpr}{tcs}</w:tr>"


def _table(*rows: str) -> str:
    return f"<w:tbl><w:tblPr/>{''.join(rows)}</w:tbl>"


def test_docx_tables_read_rows_after_a_header_row(tmp_path):
    body = "".join([
        _table(_row(["Station", "time"], header=True), _row(["Central", "06:00"]), _row(["North", ""])),
        _table(_row(["Name", "Score"], bold=True), _row(["Ann", "12"])),  # a bold first row over plain ones
        _table(_row(["Ann", "12"], bold=True), _row(["Bob", "7"], bold=True)),  # all bold: no header
        _table(_row(["Apple", "red"]), _row(["Banana", "yellow"])),
        _table(_row(["Week", "Days"], header=True, spans=[1, 2]), _row(["1", "Mon", "Tue"])),
        _table(_row(["Only", "headers"], header=True)),
    ])
    doc = load_document(write_docx(tmp_path / "tables.docx", body))
    assert [(b.kind, b.text) for b in doc.blocks] == [
        (TR, "Station: Central, time: 06:00"), (TR, "Station: North"),
        (TR, "Name: Ann, Score: 12"),
        (TR, "Ann, 12"), (TR, "Bob, 7"),
        (TR, "Apple, red"), (TR, "Banana, yellow"),
        (TR, "Week: 1, Days: Mon, Days: Tue"),
        (TR, "Only, headers"),
    ]


# --- bounded, and said once -----------------------------------------------------------------------------

def test_deep_nesting_of_lists_tables_and_figures_stays_fast():
    started = time.perf_counter()
    for opening in ("<ol><li>x", "<table><tr><td>x", "<figure><img src=a.png>", "<a href=x><img src=a.png>"):
        blocks, _ = html_to_blocks(opening * 3000)
        assert blocks
    blocks = markdown_to_blocks("".join(" " * depth + "1. x\n" for depth in range(0, 3000, 2)))
    assert len(blocks) == 1500
    assert time.perf_counter() - started < 5.0  # about 0.5 s


def test_the_session_says_each_number_image_and_row_once(reader_home, tmp_path):
    path = tmp_path / "trip.html"
    path.write_text("<h1>Trip</h1><ol><li>Buy milk</li></ol><p><img src=m.png alt='Map of route 42'></p>"
                    + TIMETABLE, encoding="utf-8")
    session = ReadingSession(load_document(path), Settings.load(), self_voicing=False)
    said = [item.text for item in session._speech_items(0)]
    assert said == ["Heading level 1. Trip", "List item. 1. Buy milk", "image: Map of route 42",
                    "Caption. Timetable", "Table row. Station: Central, time: 06:00",
                    "Table row. Station: North link, Park"]


def test_reader_sentences_reads_images_and_table_rows(run_cli, tmp_path):
    path = tmp_path / "trip.html"
    path.write_text("<p>Take the bus.</p><p><img src=m.png alt='Map of route 42'></p>" + TIMETABLE, encoding="utf-8")
    result = run_cli("sentences", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode("utf-8").splitlines()
    assert "image: Map of route 42" in lines and "Station: Central, time: 06:00" in lines
    blocks = json.loads(run_cli("extract", str(path), "--json").stdout)["blocks"]
    assert [b["kind"] for b in blocks] == ["paragraph", "paragraph", "caption", "table_row", "table_row"]


def test_the_screen_shows_a_numbered_item_without_a_bullet_too():
    from reader.tui.app import BlockView

    doc = Document.from_raw(markdown_to_blocks("1. Buy milk\n- Bread\n"), title="t", source="s", format="markdown")
    assert [BlockView(doc, i)._render_text(None).plain for i in range(2)] == ["1. Buy milk", "• Bread"]
