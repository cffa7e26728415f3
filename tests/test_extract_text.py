"""Plain text: encodings, paragraphs, headings, stdin, clipboard."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest

from docfixtures import assert_offsets
from reader.errors import ClipboardError, InputError
from reader.text.document import BlockKind
from reader.text.extract import clipboard, document_from_text, load_document, load_stdin
from reader.text.extract.plain import decode_text, text_to_blocks


SIMPLIFIED = (
    "今天天气很好，我们一起去公园散步吧。\n"
    "公园里有很多花，红的、黄的、白的，非常漂亮。\n\n"
    "孩子们在草地上玩耍，老人们在树下下棋。\n"
)
TRADITIONAL = (
    "今天天氣很好，我們一起去公園散步吧。\n"
    "公園裡有很多花，紅的、黃的、白的，非常漂亮。\n\n"
    "孩子們在草地上玩耍，老人們在樹下下棋。\n"
)
JAPANESE = (
    "今日はとても良い天気です。\n"
    "私たちは公園へ散歩に行きました。\n\n"
    "子供たちは芝生の上で遊んでいます。\n"
)
WESTERN = (
    "Le garçon a mangé une crème brûlée à la fenêtre.\n"
    "Über den Bergen liegt Schnee, sagte der Förster.\n\n"
    "El niño comió paella en España.\n"
)


def paragraphs(text: str) -> list[str]:
    return [b.text for b in text_to_blocks(text)]


@pytest.mark.parametrize(
    ("text", "codec", "expected_encodings"),
    [
        (SIMPLIFIED, "gbk", {"gb18030"}),
        (SIMPLIFIED, "gb18030", {"gb18030"}),
        (TRADITIONAL, "big5", {"big5", "cp950", "big5hkscs"}),
        (JAPANESE, "shift_jis", {"shift_jis", "cp932"}),
        (WESTERN, "latin-1", {"cp1252", "iso8859-1"}),
        (WESTERN, "utf-16", {"utf-16-le", "utf-16-be"}),  # Python writes a BOM
        (SIMPLIFIED, "utf-16-be", {"utf-16-be"}),
        (JAPANESE, "utf-8", {"utf-8"}),
        (JAPANESE, "utf-8-sig", {"utf-8-sig"}),
    ],
)
def test_encodings(tmp_path, text, codec, expected_encodings):
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    path = tmp_path / "sample.txt"
    path.write_bytes(data)
    doc = load_document(path)
    assert doc.encoding in expected_encodings
    assert [b.text for b in doc.blocks] == paragraphs(text)
    assert doc.format == "text" and doc.title == "sample"
    assert_offsets(doc)


def test_cjk_paragraph_lines_join_without_space():
    assert paragraphs(SIMPLIFIED) == [
        "今天天气很好，我们一起去公园散步吧。公园里有很多花，红的、黄的、白的，非常漂亮。",
        "孩子们在草地上玩耍，老人们在树下下棋。",
    ]


def test_short_encoded_texts():
    cases = [("我们今天去公园。", "gbk"), ("學而時習之，不亦說乎？", "big5"), ("東京は日本の首都です。", "shift_jis"),
             ("naïve façade déjà vu", "latin-1"), ("She said “hello” — and left… It cost €5.", "cp1252"),
             ("Привет мир, как дела?", "cp1251")]
    for text, codec in cases:
        assert decode_text(text.encode(codec), name="x")[0] == text, codec


def test_bad_bytes_never_crash():
    data = ("Café au lait, s'il vous plaît. Très bien — merci. " * 5).encode("utf-8") + b"\xff caf\xe9"
    text, encoding = decode_text(data, name="x")
    assert encoding == "utf-8"
    assert text.startswith("Café au lait") and "\ufffd" in text


def test_paragraph_rules():
    text = (
        "# Title Line\n\n"
        "A first paragraph that has\na hard line break inside.\n\n"
        "Chapter One\n\n"
        "The chapter starts with a paragraph that is longer than its heading.\n\n"
        "Underlined\n==========\n\n"
        "- apples\n- pears and\n  plums\n\n"
        "Dear Grandma,\n\nWith love, Anna\n"
    )
    blocks = text_to_blocks(text)
    assert [(b.kind, b.text, b.level) for b in blocks] == [
        (BlockKind.HEADING, "Title Line", 1),
        (BlockKind.PARAGRAPH, "A first paragraph that has a hard line break inside.", None),
        (BlockKind.HEADING, "Chapter One", None),
        (BlockKind.PARAGRAPH, "The chapter starts with a paragraph that is longer than its heading.", None),
        (BlockKind.HEADING, "Underlined", 1),
        (BlockKind.LIST_ITEM, "apples", None),
        (BlockKind.LIST_ITEM, "pears and plums", None),
        (BlockKind.PARAGRAPH, "Dear Grandma,", None),
        (BlockKind.PARAGRAPH, "With love, Anna", None),
    ]


def test_headings_are_conservative():
    # Sentences, sign-offs and the last line are not headings.
    for text in ("Best regards\n\nJohn\n", "It was late.\n\nThe end came soon after that.\n",
                 "see you soon\n\nA longer paragraph follows here.\n", "Last line alone\n"):
        assert all(b.kind is BlockKind.PARAGRAPH for b in text_to_blocks(text)), text


def test_crlf_and_form_feed():
    assert paragraphs("one and\r\ntwo\r\n\r\nthree\fpage two\r") == ["one and two", "three", "page two"]


def test_short_lines_are_read_line_by_line_and_wrapped_prose_is_joined():
    # A list of short lines with no end marks, an address: each line on its own.
    assert paragraphs("features\ncontact manager\nevents, activities\n") == [
        "features\ncontact manager\nevents, activities"]
    assert paragraphs("Anna Lee\n12 High Street\nLondon\n") == ["Anna Lee\n12 High Street\nLondon"]
    # Narrow lines that end in a word that cannot end a phrase, or in an end mark, were wrapped.
    assert paragraphs("My sister has\na cat. It is\nblack.\n") == ["My sister has a cat. It is black."]
    # Lines of ordinary width are wrapped prose, whatever they end with.
    wide = ("It was the best of times, it was the worst of times, it was\n"
            "the age of wisdom, it was the age of foolishness, it was the\n"
            "epoch of belief\n")
    assert paragraphs(wide) == [" ".join(wide.split())]
    # Chinese lines are joined with no space, however short.
    assert paragraphs("今天天气很\n好我们去公\n园散步\n") == ["今天天气很好我们去公园散步"]


def test_short_lines_become_one_sentence_each():
    from reader.text.document import Document
    from reader.text.sentences import document_sentences

    doc = Document.from_raw(text_to_blocks("features\ncontact manager\nevents, activities\n"),
                            title="t", source="stdin", format="text")
    assert [s.text for s in document_sentences(doc)] == ["features", "contact manager", "events, activities"]


def test_binary_txt_is_refused(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(InputError) as error:
        load_document(path)
    assert error.value.message.startswith(f"{path} does not look like text (it contains binary data); ")


def test_one_megabyte_loads_fast(tmp_path):
    paragraph = "The quick brown fox jumps over the lazy dog, again and again.\nAnd then it rests.\n\n"
    path = tmp_path / "big.txt"
    path.write_text(paragraph * (1_000_000 // len(paragraph) + 1), encoding="utf-8")
    started = time.perf_counter()
    doc = load_document(path)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.8, elapsed  # typically 0.05 s
    assert len(doc.blocks) > 10_000
    assert_offsets(doc)


def test_one_megabyte_legacy_encoding_loads_in_about_a_second(tmp_path):
    path = tmp_path / "big-gbk.txt"
    path.write_bytes((SIMPLIFIED * (1_000_000 // len(SIMPLIFIED.encode("gbk")) + 1)).encode("gbk"))
    started = time.perf_counter()
    doc = load_document(path)
    assert time.perf_counter() - started < 2.0  # typically 0.25 s
    assert doc.encoding == "gb18030"


# --- stdin and text ------------------------------------------------------------------------------


class FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_stdin_bytes_are_decoded(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(SIMPLIFIED.encode("gbk")))
    doc = load_stdin()
    assert doc.source == "stdin" and doc.format == "text" and doc.encoding == "gb18030"
    assert [b.text for b in doc.blocks] == paragraphs(SIMPLIFIED)
    assert_offsets(doc)


def test_stdin_text_stream_without_buffer(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hello there.\n\nSecond paragraph.\n"))
    assert [b.text for b in load_stdin().blocks] == ["Hello there.", "Second paragraph."]


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"])
def test_empty_stdin(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", FakeStdin(data))
    with pytest.raises(InputError, match="The standard input is empty; there is nothing to read."):
        load_stdin()


def test_binary_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(bytes(range(32)) * 100))
    with pytest.raises(InputError, match="does not look like text"):
        load_stdin()


def test_document_from_text():
    doc = document_from_text("Copied text.\nSame paragraph.\n\nNext one.", source="clipboard", title="Clipboard")
    assert (doc.source, doc.title, doc.format) == ("clipboard", "Clipboard", "text")
    assert [b.text for b in doc.blocks] == ["Copied text. Same paragraph.", "Next one."]
    with pytest.raises(InputError, match="The clipboard is empty"):
        document_from_text(" \n ", source="clipboard", title="Clipboard")


# --- clipboard -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_clipboard_command(monkeypatch):
    """A READER_CLIPBOARD_COMMAND in the developer's environment would bypass what is tested here."""
    monkeypatch.delenv(clipboard.COMMAND_VARIABLE, raising=False)


@pytest.fixture
def no_pyperclip(monkeypatch):
    import pyperclip

    def fail():
        raise pyperclip.PyperclipException("Pyperclip could not find a copy/paste mechanism for your system.")

    monkeypatch.setattr(pyperclip, "paste", fail)
    monkeypatch.setattr(clipboard.sys, "platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


def fake_tools(monkeypatch, available: set[str], run):
    monkeypatch.setattr(clipboard.shutil, "which", lambda name: f"/usr/bin/{name}" if name in available else None)
    monkeypatch.setattr(clipboard.subprocess, "run", run)


def test_clipboard_without_any_mechanism(monkeypatch, no_pyperclip):
    def run(*args, **kwargs):
        raise AssertionError("no tool should be run")

    fake_tools(monkeypatch, set(), run)
    with pytest.raises(ClipboardError) as error:
        clipboard.read_clipboard()
    assert error.value.message == clipboard.NO_MECHANISM
    assert "xclip" in error.value.message and "wl-clipboard" in error.value.message


def test_clipboard_empty_via_pyperclip(monkeypatch):
    import pyperclip

    monkeypatch.setattr(pyperclip, "paste", lambda: "  \n")
    fake_tools(monkeypatch, set(), None)
    with pytest.raises(ClipboardError, match=r"^The clipboard is empty; copy some text first\.$"):
        clipboard.read_clipboard()


def test_clipboard_text_via_pyperclip(monkeypatch):
    import pyperclip

    monkeypatch.setattr(pyperclip, "paste", lambda: "Copied words.")
    assert clipboard.read_clipboard() == "Copied words."


def test_clipboard_falls_back_to_xclip(monkeypatch, no_pyperclip):
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        assert kwargs["timeout"] == clipboard.TOOL_TIMEOUT_SECONDS
        return subprocess.CompletedProcess(command, 0, stdout="来自剪贴板的文字。".encode(), stderr=b"")

    fake_tools(monkeypatch, {"xclip"}, run)
    assert clipboard.read_clipboard() == "来自剪贴板的文字。"
    assert calls == [("xclip", "-selection", "clipboard", "-o")]


def test_clipboard_wl_paste_under_wayland(monkeypatch, no_pyperclip):
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")

    def run(command, **kwargs):
        return subprocess.CompletedProcess(command, 0, stdout=b"from wayland", stderr=b"")

    fake_tools(monkeypatch, {"wl-paste", "xclip"}, run)
    assert clipboard.read_clipboard() == "from wayland"


def test_clipboard_tool_without_display_is_no_mechanism(monkeypatch, no_pyperclip):
    def run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, stdout=b"", stderr=b"Error: Can't open display: (null)\n")

    fake_tools(monkeypatch, {"xclip", "xsel"}, run)
    with pytest.raises(ClipboardError, match="No clipboard tool was found"):
        clipboard.read_clipboard()


def test_clipboard_on_a_display_over_the_network_says_so(monkeypatch, no_pyperclip):
    # Under ssh -X the display is reached over TCP, which the network guard refuses to the tools too.
    def run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, stdout=b"", stderr=b"Error: Can't open display: localhost:10.0\n")

    fake_tools(monkeypatch, {"xclip"}, run)
    monkeypatch.setenv("DISPLAY", "localhost:10.0")
    with pytest.raises(ClipboardError, match="reached over the network, and this reader never uses the network"):
        clipboard.read_clipboard()
    monkeypatch.setenv("DISPLAY", ":0")  # a local display that fails is still "no tool works"
    with pytest.raises(ClipboardError, match="No clipboard tool was found"):
        clipboard.read_clipboard()


def test_clipboard_tool_timeout_is_no_mechanism(monkeypatch, no_pyperclip):
    def run(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    fake_tools(monkeypatch, {"xsel"}, run)
    with pytest.raises(ClipboardError, match="No clipboard tool was found"):
        clipboard.read_clipboard()


def test_clipboard_tool_reports_empty(monkeypatch, no_pyperclip):
    def run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, stdout=b"", stderr=b"Error: target STRING not available\n")

    fake_tools(monkeypatch, {"xclip"}, run)
    with pytest.raises(ClipboardError, match="The clipboard is empty"):
        clipboard.read_clipboard()


def test_real_clipboard_reads_or_explains():
    # On a headless machine without xclip this is a ClipboardError; either way, no traceback.
    try:
        text = clipboard.read_clipboard()
    except ClipboardError as error:
        assert error.message in (clipboard.NO_MECHANISM, clipboard.EMPTY)
    else:
        assert text.strip()


def test_clipboard_command_from_the_environment(monkeypatch):
    monkeypatch.setenv(clipboard.COMMAND_VARIABLE, "printf 'Hello there.'")
    assert clipboard.read_clipboard() == "Hello there."
    monkeypatch.setenv(clipboard.COMMAND_VARIABLE, "true")
    with pytest.raises(ClipboardError, match=r"^The clipboard is empty; copy some text first\.$"):
        clipboard.read_clipboard()
    monkeypatch.setenv(clipboard.COMMAND_VARIABLE, "exit 3")
    with pytest.raises(ClipboardError, match=r"failed \(exit status 3\); check it\.$"):
        clipboard.read_clipboard()


def test_read_clipboard_is_exported():
    from reader.text import extract

    assert extract.read_clipboard is clipboard.read_clipboard
