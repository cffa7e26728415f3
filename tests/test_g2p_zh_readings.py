"""Mandarin readings as spoken: every case of tests/zh_pinyin_cases.py, character by character."""

from __future__ import annotations

import pytest

from reader.speech.g2p import zh
from zh_pinyin_cases import CASES


def spoken(text: str) -> list[str]:
    return [py.replace("ü", "v") for _, pys in zh.pinyin_of(text) for py in pys]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[text for text, _ in CASES])
def test_reading(text, expected):
    got = spoken(text)
    accepted = [syllable.split("|") for syllable in expected.split()]
    assert len(got) == len(accepted) == len(text), (got, expected)
    wrong = [(ch, py, "|".join(ok)) for ch, py, ok in zip(text, got, accepted) if py not in ok]
    assert not wrong, f"{text}: got {' '.join(got)}; wrong (char, got, expected): {wrong}"


def test_cases_are_well_formed():
    assert len(CASES) >= 80 and len({text for text, _ in CASES}) == len(CASES)
    for text, expected in CASES:
        syllables = expected.split()
        assert len(syllables) == len(text), text
        assert all(option[-1] in "12345" for s in syllables for option in s.split("|")), text


def test_unknown_characters_keep_the_alignment():
    text = "我\U0002b81d好"  # a CJK Extension D character pypinyin may not know
    flat = [py for _, pys in zh.pinyin_of(text) for py in pys]
    assert len(flat) == len(text)
    assert zh.phonemize(text)  # the unknown one is skipped, the others spoken
