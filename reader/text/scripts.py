"""Which writing system each part of a sentence is in, so a sentence can be read run by run: Chinese
inside English goes to a voice that speaks Chinese, and a script no voice can read (Cyrillic, Arabic,
Thai ...) is named, not silently dropped.

A run is a stretch of one language; spaces, digits and punctuation belong to the run around them (digits
written against Chinese, "1月", go with the Chinese). English words inside Chinese stay in the Chinese
run: the Chinese front end reads them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Unicode blocks -> (script, the language we guess from it). Ordered by code point.
_BLOCKS = (
    (0x0370, 0x03FF, "Greek", "el"),
    (0x0400, 0x052F, "Cyrillic", "ru"),
    (0x0530, 0x058F, "Armenian", "hy"),
    (0x0590, 0x05FF, "Hebrew", "he"),
    (0x0600, 0x06FF, "Arabic", "ar"),
    (0x0700, 0x074F, "Syriac", "syr"),
    (0x0750, 0x077F, "Arabic", "ar"),
    (0x0780, 0x07BF, "Thaana", "dv"),
    (0x0900, 0x097F, "Devanagari", "hi"),
    (0x0980, 0x09FF, "Bengali", "bn"),
    (0x0A00, 0x0A7F, "Gurmukhi", "pa"),
    (0x0A80, 0x0AFF, "Gujarati", "gu"),
    (0x0B80, 0x0BFF, "Tamil", "ta"),
    (0x0C00, 0x0C7F, "Telugu", "te"),
    (0x0C80, 0x0CFF, "Kannada", "kn"),
    (0x0D00, 0x0D7F, "Malayalam", "ml"),
    (0x0D80, 0x0DFF, "Sinhala", "si"),
    (0x0E00, 0x0E7F, "Thai", "th"),
    (0x0E80, 0x0EFF, "Lao", "lo"),
    (0x0F00, 0x0FFF, "Tibetan", "bo"),
    (0x1000, 0x109F, "Myanmar", "my"),
    (0x10A0, 0x10FF, "Georgian", "ka"),
    (0x1100, 0x11FF, "Hangul", "ko"),
    (0x1200, 0x139F, "Ethiopic", "am"),
    (0x1780, 0x17FF, "Khmer", "km"),
    (0x1800, 0x18AF, "Mongolian", "mn"),
    (0x1E00, 0x1EFF, "Latin", "en"),
    (0x1F00, 0x1FFF, "Greek", "el"),
    (0x3040, 0x30FF, "Kana", "ja"),
    (0x3100, 0x312F, "Bopomofo", "zh"),
    (0x3130, 0x318F, "Hangul", "ko"),
    (0x31A0, 0x31BF, "Bopomofo", "zh"),
    (0x31F0, 0x31FF, "Kana", "ja"),
    (0x3400, 0x4DBF, "Han", "zh"),
    (0x4E00, 0x9FFF, "Han", "zh"),
    (0xA960, 0xA97F, "Hangul", "ko"),
    (0xAC00, 0xD7AF, "Hangul", "ko"),
    (0xF900, 0xFAFF, "Han", "zh"),
    (0xFB1D, 0xFB4F, "Hebrew", "he"),
    (0xFB50, 0xFDFF, "Arabic", "ar"),
    (0xFE70, 0xFEFF, "Arabic", "ar"),
    (0xFF21, 0xFF5A, "Latin", "en"),
    (0xFF66, 0xFF9F, "Kana", "ja"),
    (0x20000, 0x3134F, "Han", "zh"),
)
# Letters only Ukrainian (of the Cyrillic languages a reader is likely to meet) writes.
_UKRAINIAN = frozenset("ґєіїҐЄІЇ")
_PERSIAN = frozenset("پچژگ")

LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ru": "Russian", "uk": "Ukrainian",
    "el": "Greek", "hy": "Armenian", "he": "Hebrew", "ar": "Arabic", "fa": "Persian", "syr": "Syriac",
    "dv": "Dhivehi", "hi": "Hindi", "bn": "Bengali", "pa": "Punjabi", "gu": "Gujarati", "ta": "Tamil",
    "te": "Telugu", "kn": "Kannada", "ml": "Malayalam", "si": "Sinhala", "th": "Thai", "lo": "Lao",
    "bo": "Tibetan", "my": "Burmese", "ka": "Georgian", "am": "Amharic", "km": "Khmer", "mn": "Mongolian",
    "es": "Spanish", "fr": "French", "it": "Italian", "pt": "Portuguese",
}
# Scripts that a front end of the sentence's language reads inside it: the Chinese front end reads
# English words ("我喜欢Python"), so Latin in a Chinese sentence needs no run of its own.
READ_INSIDE = {"zh": frozenset({"en"})}


@dataclass(frozen=True)
class Run:
    start: int
    end: int
    lang: str  # "en", "zh", "ru" ...

    @property
    def name(self) -> str:
        return LANGUAGE_NAMES.get(self.lang, self.lang)


def char_lang(ch: str) -> str | None:
    """The language a letter's script suggests, or None for digits, spaces, punctuation and symbols."""
    code = ord(ch)
    if code < 0x0370:
        return "en" if ch.isalpha() else None
    if not (ch.isalpha() or unicodedata.category(ch) in ("Mn", "Mc", "Lo")):
        return None
    lo, hi = 0, len(_BLOCKS) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        start, end, _script, lang = _BLOCKS[mid]
        if code < start:
            hi = mid - 1
        elif code > end:
            lo = mid + 1
        else:
            return lang
    return "en" if unicodedata.name(ch, "").startswith("LATIN") else None


def language_runs(text: str, lang: str) -> list[Run]:
    """`text` (a sentence read as `lang`) cut into runs of one language each, covering it all. One run
    when the sentence has nothing another front end must read."""
    inside = READ_INSIDE.get(lang, frozenset()) | {lang}
    # Japanese writes Han characters among its kana: with kana present, Han is Japanese.
    han_lang = "ja" if any(char_lang(ch) == "ja" for ch in text if "\u3040" <= ch <= "\uff9f") else "zh"
    runs: list[Run] = []
    run_lang = None  # the language of the run being built (None until its first letter)
    run_start = 0
    pending_digits = -1  # where a run of digits right before the current position began
    for i, ch in enumerate(text):
        found = char_lang(ch)
        if found is None:
            if ch.isdigit():
                if pending_digits < 0:
                    pending_digits = i
            else:
                pending_digits = -1
            continue
        if found == "zh":
            found = han_lang
        found = found if found not in inside else lang
        if found != run_lang:
            if run_lang is None:
                run_lang = found
            else:
                # Digits written against this letter ("1月") go with it; other marks stay behind.
                cut = pending_digits if pending_digits >= 0 else _after_last_mark(text, run_start, i)
                runs.append(Run(run_start, cut, run_lang))
                run_start, run_lang = cut, found
        pending_digits = -1
    runs.append(Run(run_start, len(text), run_lang or lang))
    return [_refine(text, run) for run in _merge(runs)]


def _after_last_mark(text: str, start: int, stop: int) -> int:
    """The cut between two runs: after the earlier run's last letter and its marks, before the white space
    (which the next run's voice may begin with)."""
    i = stop
    while i > start and text[i - 1].isspace():
        i -= 1
    return i if i < stop else stop


def _merge(runs: list[Run]) -> list[Run]:
    out: list[Run] = []
    for run in runs:
        if out and out[-1].lang == run.lang:
            out[-1] = Run(out[-1].start, run.end, run.lang)
        elif run.end > run.start:
            out.append(run)
    return out


def _refine(text: str, run: Run) -> Run:
    """Tell apart languages that share a script (Ukrainian from Russian, Persian from Arabic)."""
    if run.lang == "ru" and not _UKRAINIAN.isdisjoint(text[run.start:run.end]):
        return Run(run.start, run.end, "uk")
    if run.lang == "ar" and not _PERSIAN.isdisjoint(text[run.start:run.end]):
        return Run(run.start, run.end, "fa")
    return run
