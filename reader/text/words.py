"""Words and characters as a screen reader moves by them: English by spaces, Chinese by jieba's words,
and the names of characters when they are spelled or echoed as typed."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff]")
# Punctuation that is not a word of its own when moving word by word.
_PUNCT_ONLY = re.compile(r"^[\s\W_]+$", re.UNICODE)
_EDGE_PUNCT = ".,;:!?\"'()[]{}“”‘’«»。，、！？；：《》（）【】…—-"

_CHAR_NAMES = {
    " ": "space", "-": "dash", "'": "apostrophe", "’": "apostrophe", "@": "at", ".": "dot",
    "_": "underscore", "&": "and", "/": "slash", "\\": "backslash", ",": "comma", ":": "colon",
    ";": "semicolon", "!": "exclamation", "?": "question", "~": "tilde", "#": "number", "*": "star",
    "+": "plus", "=": "equals", "(": "left paren", ")": "right paren", '"': "quote", "%": "percent",
    "$": "dollar", "<": "less", ">": "greater", "|": "bar", "^": "caret", "`": "grave",
    "[": "left bracket", "]": "right bracket", "{": "left brace", "}": "right brace", "\t": "tab",
}


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def split_words(text: str) -> list[str]:
    """The words of a sentence in order: space-separated words, and inside Chinese runs jieba's words
    (so 我们去北京 moves 我们 / 去 / 北京, not by the whole clause); punctuation alone is no word."""
    out: list[str] = []
    for token in text.split():
        if not has_cjk(token):
            out.append(token)
            continue
        import jieba

        from reader.text import zh_lexicon

        zh_lexicon.install()  # before jieba loads its own, five times larger, dictionary
        for piece in jieba.lcut(token, HMM=True):
            if piece.strip() and not _PUNCT_ONLY.match(piece):
                out.append(piece)
    return out


def char_name(ch: str) -> str:
    """How a character is said when spelled or echoed: "capital A", "slash", "space"; a Chinese
    character is itself (the voice says it)."""
    if ch.isupper():
        return f"capital {ch}"
    return _CHAR_NAMES.get(ch, ch)


def spell(word: str) -> str:
    """A word letter by letter ("capital P, a, r, i, s"); Chinese character by character."""
    word = word.strip(_EDGE_PUNCT) or word
    if has_cjk(word):
        return "，".join(word)
    return ", ".join(char_name(ch) for ch in word)
