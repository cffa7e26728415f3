"""The command line as a user runs it: output shapes, and one clear sentence with exit code 2 for bad input."""

from __future__ import annotations

import json
import zipfile

import pytest

SAMPLE_TEXT = "Dr. Smith arrived at 9:30 a.m. today. She paid $3.50!\n\n我喜欢Python 3.12版本。它很好用！\n"


def _err(result) -> str:
    return result.stderr.decode("utf-8")


def test_sentences_prints_one_sentence_a_line(run_cli, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text(SAMPLE_TEXT, encoding="utf-8")
    result = run_cli("sentences", str(f))
    assert result.returncode == 0, _err(result)
    assert result.stdout.decode("utf-8").splitlines() == [
        "Dr. Smith arrived at 9:30 a.m. today.", "She paid $3.50!", "我喜欢Python 3.12版本。", "它很好用！",
    ]


def test_sentences_json_is_an_array_of_strings(run_cli):
    result = run_cli("sentences", "-", "--json", input="One. Two? 三。")
    assert result.returncode == 0, _err(result)
    assert json.loads(result.stdout) == ["One.", "Two?", "三。"]


def test_sentences_spoken_form(run_cli):
    result = run_cli("sentences", "-", "--spoken", "--json", input="It costs $3.50. 2026年是好年。")
    assert result.returncode == 0, _err(result)
    spoken = json.loads(result.stdout)
    assert "three dollars and fifty cents" in spoken[0]
    assert "二零二六年" in spoken[1]
    assert not any(ch.isdigit() for ch in "".join(spoken))


def test_dictionary_is_applied_to_the_spoken_form(run_cli):
    assert run_cli("dict", "add", "Anna", "Ah-na").returncode == 0
    listing = run_cli("dict", "list").stdout.decode()
    assert "Anna\tAh-na" in listing
    result = run_cli("sentences", "-", "--spoken", "--json", input="Anna wrote.")
    assert json.loads(result.stdout) == ["Ah-na wrote."]
    assert run_cli("dict", "remove", "Anna").returncode == 0
    missing = run_cli("dict", "remove", "Anna")
    assert missing.returncode == 2 and "not in the pronunciation dictionary" in _err(missing)


def test_extract_json_has_kinds_and_offsets(run_cli, tmp_path):
    f = tmp_path / "doc.md"
    f.write_text("# Title\n\nA paragraph\nwith a hard break.\n\n- an item\n", encoding="utf-8")
    result = run_cli("extract", str(f), "--json")
    assert result.returncode == 0, _err(result)
    blocks = json.loads(result.stdout)["blocks"]
    assert [(b["kind"], b["text"]) for b in blocks] == [
        ("heading", "Title"), ("paragraph", "A paragraph with a hard break."), ("list_item", "an item"),
    ]


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    folder = tmp_path / "folder"
    folder.mkdir()
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 40)
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Ty")
    not_epub = tmp_path / "book.epub"
    with zipfile.ZipFile(not_epub, "w") as z:
        z.writestr("hello.txt", "not a book")
    return {
        "empty": (empty, "empty"),
        "directory": (folder, "folder"),
        "missing": (tmp_path / "nope.pdf", "no file"),
        "binary": (binary, "binary"),
        "truncated": (truncated, "damaged"),
        "not_epub": (not_epub, "EPUB"),
    }


@pytest.mark.parametrize("case", ["empty", "directory", "missing", "binary", "truncated", "not_epub"])
def test_bad_input_is_one_sentence_and_exit_2(run_cli, tmp_path, case):
    path, hint = _bad_inputs(tmp_path)[case]
    result = run_cli("sentences", str(path))
    err = _err(result)
    assert result.returncode == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reader: "), err
    assert hint.lower() in err.lower(), err


def test_empty_clipboard_is_one_sentence_and_exit_2(run_cli):
    result = run_cli("clip", "--print", env={"READER_CLIPBOARD_COMMAND": "true"})
    assert result.returncode == 2
    assert _err(result).strip() == "reader: The clipboard is empty; copy some text first."


def test_clipboard_text_is_read(run_cli):
    result = run_cli("clip", "--print", env={"READER_CLIPBOARD_COMMAND": "printf 'Hello there. General Kenobi!'"})
    assert result.returncode == 0, _err(result)
    assert result.stdout.decode().splitlines() == ["Hello there.", "General Kenobi!"]


def test_open_without_a_terminal_says_so(run_cli, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("Hello.", encoding="utf-8")
    result = run_cli(str(f))
    assert result.returncode == 2
    assert "needs a terminal" in _err(result)
