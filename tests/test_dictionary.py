"""The pronunciation dictionary: matching, editing, and its JSON file."""

from __future__ import annotations

import json
import os

import pytest

from reader.errors import DictionaryError
from reader.settings import Settings
from reader.text.dictionary import Entry, PronunciationDictionary


def spans(d: PronunciationDictionary, text: str) -> list[tuple[str, str]]:
    return [(text[s:e], rep) for s, e, rep in d.apply(text)]


def test_round_trip(tmp_path) -> None:
    d = PronunciationDictionary()
    d.add("GIF", "jif")
    d.add(r"\bv(\d+)", r"version \1", regex=True)
    d.add("NASA", "nasa", case_sensitive=True)
    d.add("北京", "北京市")
    path = tmp_path / "home" / "pronunciations.json"
    d.save(path)
    loaded = PronunciationDictionary.load(path)
    assert loaded.entries() == d.entries()
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == 1 and data["entries"][3]["pattern"] == "北京"  # stored readable, not \\u escaped
    assert "北京" in path.read_text(encoding="utf-8")


def test_settings_location(tmp_path) -> None:
    settings = Settings(home=tmp_path)
    d = PronunciationDictionary()
    d.add("SQL", "sequel")
    d.save(settings.dictionary_file)
    assert PronunciationDictionary.for_settings(settings).entries() == (Entry("SQL", "sequel"),)


def test_missing_file_is_empty(tmp_path) -> None:
    d = PronunciationDictionary.load(tmp_path / "absent.json")
    assert d.entries() == () and d.apply("anything") == []
    assert not (tmp_path / "absent.json").exists()


def test_whole_word_matching() -> None:
    d = PronunciationDictionary([Entry("cat", "kitty")])
    assert spans(d, "cat category bobcat Cat cat's (cat)") == [
        ("cat", "kitty"),
        ("Cat", "kitty"),
        ("cat", "kitty"),
        ("cat", "kitty"),
    ]


def test_latin_word_next_to_chinese_still_matches() -> None:
    d = PronunciationDictionary([Entry("AI", "A I")])
    assert spans(d, "AI技术和AIM") == [("AI", "A I")]


def test_cjk_patterns_match_inside_text() -> None:
    d = PronunciationDictionary([Entry("重庆", "崇庆")])
    assert spans(d, "我在重庆市") == [("重庆", "崇庆")]


def test_case_sensitivity() -> None:
    d = PronunciationDictionary([Entry("US", "U S", case_sensitive=True)])
    assert spans(d, "us US Us") == [("US", "U S")]
    d = PronunciationDictionary([Entry("us", "U S")])
    assert len(d.apply("us US Us")) == 3


def test_phrases_and_punctuation_in_patterns() -> None:
    d = PronunciationDictionary([Entry("New York", "new york city"), Entry("Dr.", "Drive"), Entry(".NET", "dot net")])
    assert spans(d, "New York, Dr. Who, .NET") == [
        ("New York", "new york city"),
        ("Dr.", "Drive"),
        (".NET", "dot net"),
    ]


def test_regex_entries_with_groups() -> None:
    d = PronunciationDictionary([Entry(r"(\d+)x", r"\1 times", regex=True)])
    assert spans(d, "a 3x zoom") == [("3x", "3 times")]


def test_overlaps_leftmost_then_longest_then_first_listed() -> None:
    d = PronunciationDictionary(
        [Entry("York", "yawk"), Entry("New York", "noo yawk"), Entry("new", "NEW"), Entry("ne", "x", regex=True)]
    )
    assert spans(d, "New York") == [("New York", "noo yawk")]
    d = PronunciationDictionary([Entry("ab", "first", regex=True), Entry("ab", "second", regex=True)])
    assert spans(d, "ab") == [("ab", "first")]


def test_empty_regex_matches_are_ignored() -> None:
    d = PronunciationDictionary([Entry("x*", "y", regex=True)])
    assert spans(d, "ab xx") == [("xx", "y")]


def test_invalid_regex_names_the_entry() -> None:
    d = PronunciationDictionary()
    with pytest.raises(DictionaryError) as caught:
        d.add("(unclosed", "x", regex=True)
    message = str(caught.value)
    assert "'(unclosed'" in message and message.count(". ") == 0 and message.endswith(".")
    assert d.entries() == ()
    with pytest.raises(DictionaryError, match="'a'"):
        PronunciationDictionary([Entry("a", r"\2", regex=True)])


def test_bad_entries() -> None:
    with pytest.raises(DictionaryError):
        Entry("", "x")
    with pytest.raises(DictionaryError):
        Entry("a", None)  # type: ignore[arg-type]


def test_add_replaces_and_remove(tmp_path) -> None:
    d = PronunciationDictionary()
    d.add("GIF", "gif")
    d.add(Entry("GIF", "jif"))
    d.add("SQL", "sequel")
    assert [e.replacement for e in d.entries()] == ["jif", "sequel"]
    assert spans(d, "GIF") == [("GIF", "jif")]
    assert d.remove("GIF") is True
    assert d.remove("GIF") is False
    assert spans(d, "GIF SQL") == [("SQL", "sequel")]
    assert len(d) == 1


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"entries": {}}',
        b"[]",
        b'{"entries": [{"pattern": "a"}]}',
        b'{"entries": [{"pattern": "", "replacement": "x"}]}',
        b'{"entries": [{"pattern": "(", "replacement": "x", "regex": true}]}',
        b'{"entries": [{"pattern": "a", "replacement": "b", "colour": "red"}]}',
        b'{"entries": [{"pattern": "a", "replacement": "b", "regex": "yes"}]}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_damaged_file_raises_and_is_left_alone(tmp_path, content: bytes) -> None:
    path = tmp_path / "pronunciations.json"
    path.write_bytes(content)
    before = os.stat(path)
    with pytest.raises(DictionaryError) as caught:
        PronunciationDictionary.load(path)
    message = str(caught.value)
    assert message.startswith(f"The pronunciation dictionary at {path} is damaged (")
    assert message.endswith("); fix it or remove it.")
    assert path.read_bytes() == content
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pronunciations.json"]


def test_save_replaces_atomically(tmp_path) -> None:
    path = tmp_path / "pronunciations.json"
    PronunciationDictionary([Entry("a", "b")]).save(path)
    PronunciationDictionary([Entry("c", "d")]).save(path)
    assert PronunciationDictionary.load(path).entries() == (Entry("c", "d"),)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pronunciations.json"]
