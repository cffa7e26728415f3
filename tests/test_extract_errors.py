"""Bad input: every case is one clear sentence (a ReaderError) naming the file, never a traceback."""

from __future__ import annotations

import os

import pytest

from reader.errors import ExtractError, InputError, ReaderError
from reader.text.extract import load_document


def one_sentence(message: str) -> bool:
    """One sentence: ends with a full stop and has no full stop followed by a capital in the middle."""
    body = message[:-1]
    return message.endswith(".") and not any(
        body[i] == "." and body[i + 1] == " " and body[i + 2].isupper() for i in range(len(body) - 2)
    )


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.pdf"
    with pytest.raises(InputError) as error:
        load_document(path)
    assert error.value.message == f"There is no file {path}; check the spelling of the path."


def test_directory(tmp_path):
    with pytest.raises(InputError) as error:
        load_document(tmp_path)
    assert error.value.message == f"{tmp_path} is a folder, not a document; give the path of a file inside it."


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  ", "\ufeff  \n".encode("utf-8"), "\ufeff \n".encode("utf-16")])
@pytest.mark.parametrize("name", ["empty.txt", "empty.md", "empty"])
def test_empty_files(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        load_document(path)
    assert error.value.message == f"{path} is empty; there is nothing to read."


def test_markdown_with_nothing_to_read(tmp_path):
    path = tmp_path / "comment.md"
    path.write_text("<!-- only a comment -->\n\n---\n", encoding="utf-8")
    with pytest.raises(InputError, match="is empty; there is nothing to read."):
        load_document(path)


def test_html_with_nothing_to_read(tmp_path):
    path = tmp_path / "script.html"
    path.write_text("<html><head><title>x</title><script>alert(1)</script></head><body></body></html>")
    with pytest.raises(ExtractError, match="contains no readable text"):
        load_document(path)


def test_old_word_document(tmp_path):
    path = tmp_path / "letter.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    with pytest.raises(ExtractError, match=r"old Word \(\.doc\) file"):
        load_document(path)


def test_unknown_binary(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(InputError, match="does not look like text"):
        load_document(path)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root can read anything")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("hidden")
    path.chmod(0)
    with pytest.raises(InputError, match="permission denied"):
        load_document(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("nowhere.txt", None),
        ("empty.txt", b""),
        ("binary.txt", bytes(range(256)) * 10),
        ("fake.epub", b"PK\x03\x04" + bytes(100)),
        ("fake.pdf", b"%PDF-1.4\n" + bytes(range(256))),
        ("fake.docx", bytes(range(256)) * 4),
        ("letter.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64)),
    ],
)
def test_bad_input_messages_are_one_sentence_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReaderError) as error:
        load_document(path)
    message = error.value.message
    assert str(path) in message
    assert one_sentence(message), message
    assert "Traceback" not in message
