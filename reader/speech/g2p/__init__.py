"""Grapheme-to-phoneme front end: normalized text -> phoneme string -> a voice's token ids.

Two alphabets: "misaki" (Kokoro; English and Chinese) and "espeak-ipa" (Piper; English only).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from reader.errors import ReaderError

__all__ = [
    "Alphabet",
    "Scheme",
    "Phonemes",
    "PhonemizerError",
    "UnsupportedLanguage",
    "UnsupportedAlphabet",
    "phonemize",
    "to_ids",
    "make_phonemes",
    "split_phonemes",
    "normalize_lang",
    "KOKORO_MAX_PHONEMES",
]

log = logging.getLogger(__name__)

Alphabet = Literal["misaki", "espeak-ipa"]
Scheme = Literal["piper", "kokoro"]
MISAKI: Alphabet = "misaki"
ESPEAK_IPA: Alphabet = "espeak-ipa"
ALPHABETS = (MISAKI, ESPEAK_IPA)

# Piper's special symbols (piper's phonemes_to_ids): begin, end, and the pad put after each phoneme.
PIPER_BOS = "^"
PIPER_EOS = "$"
PIPER_PAD = "_"
# Kokoro reads at most this many phoneme tokens, plus a 0 pad at each end that the caller adds.
KOKORO_MAX_PHONEMES = 510

ENGLISH = "en"
CHINESE = "zh"
LANG_ALIASES = {
    "en": ENGLISH, "en-us": ENGLISH, "en_us": ENGLISH, "eng": ENGLISH, "english": ENGLISH,
    "zh": CHINESE, "zh-cn": CHINESE, "zh_cn": CHINESE, "zh-hans": CHINESE, "cmn": CHINESE,
    "chinese": CHINESE, "mandarin": CHINESE,
}
# Where a long phoneme string may be cut, best first: after a sentence, a clause, then a word.
_SPLIT_POINTS = (re.compile(r"(?<=[.!?…])\s+"), re.compile(r"(?<=[,;:—])\s+"), re.compile(r"\s+"))


class PhonemizerError(ReaderError):
    """Text that cannot be turned into phonemes for the chosen voice."""

    title = "Pronunciation"


class UnsupportedLanguage(PhonemizerError):
    """A language this front end has no rules for."""


class UnsupportedAlphabet(PhonemizerError):
    """A language the chosen voice's phoneme alphabet cannot express (Chinese for Piper)."""


@dataclass(frozen=True)
class Phonemes:
    """One piece of text as the acoustic stage receives it."""

    text: str
    phonemes: str
    ids: tuple[int, ...]
    lang: str


def normalize_lang(lang: str) -> str:
    """'en-US', 'zh_CN', 'cmn' ... -> 'en' or 'zh'."""
    code = LANG_ALIASES.get(lang.strip().lower())
    if code is None:
        raise UnsupportedLanguage(f"Reading {lang!r} is not supported; choose English or Chinese.")
    return code


def phonemize(text: str, lang: str, alphabet: Alphabet = MISAKI) -> str:
    """Normalized text -> phonemes in `alphabet`.

    "misaki" is Kokoro's alphabet (English and Chinese); "espeak-ipa" is Piper's (English only:
    Chinese raises UnsupportedAlphabet, since the fast English voice has no Chinese sounds or tones).
    """
    code = normalize_lang(lang)
    if alphabet not in ALPHABETS:
        raise UnsupportedAlphabet(f"Unknown phoneme alphabet {alphabet!r}; use one of {', '.join(ALPHABETS)}.")
    if code == CHINESE:
        if alphabet == ESPEAK_IPA:
            raise UnsupportedAlphabet(
                "The fast English voice cannot read Chinese; choose a voice of the rich (Kokoro) pack."
            )
        from reader.speech.g2p import zh

        return zh.phonemize(text)
    from reader.speech.g2p import en

    misaki = en.phonemize(text)
    return misaki if alphabet == MISAKI else en.to_espeak_ipa(misaki)


def _ids_of(symbol: str, id_map: Mapping[str, int | Sequence[int]]) -> list[int] | None:
    value = id_map.get(symbol)
    if value is None:
        return None
    return [value] if isinstance(value, int) else list(value)


def to_ids(
    phonemes: str,
    id_map: Mapping[str, int] | Mapping[str, Sequence[int]],
    *,
    scheme: Scheme,
) -> list[int]:
    """Phoneme string -> token ids; symbols missing from the map are dropped (logged at debug).

    piper: [^, _, p1, _, p2, _, ..., pn, _, $] as piper's phonemes_to_ids builds it.
    kokoro: [p1, ..., pn]; the caller adds the 0 pad at both ends and keeps n <= KOKORO_MAX_PHONEMES.
    """
    if scheme == "piper":
        specials = [_ids_of(s, id_map) for s in (PIPER_BOS, PIPER_PAD, PIPER_EOS)]
        if any(s is None for s in specials):
            raise PhonemizerError("The voice's phoneme map lacks Piper's ^, _ or $ symbols; the voice pack is damaged.")
        bos, pad, eos = specials
        ids = [*bos, *pad]
        # Piper works on decomposed code points (its espeak output is NFD).
        for symbol in unicodedata.normalize("NFD", phonemes):
            sym_ids = _ids_of(symbol, id_map)
            if sym_ids is None:
                log.debug("Piper map lacks phoneme %r; dropped", symbol)
                continue
            ids.extend(sym_ids)
            ids.extend(pad)
        ids.extend(eos)
        return ids
    if scheme == "kokoro":
        ids = []
        for symbol in phonemes:
            sym_ids = _ids_of(symbol, id_map)
            if sym_ids is None:
                log.debug("Kokoro vocab lacks phoneme %r; dropped", symbol)
                continue
            ids.extend(sym_ids)
        return ids
    raise ValueError(f"unknown id scheme {scheme!r}")


def make_phonemes(
    text: str,
    lang: str,
    alphabet: Alphabet,
    id_map: Mapping[str, int] | Mapping[str, Sequence[int]],
    *,
    scheme: Scheme,
) -> Phonemes:
    """phonemize + to_ids in one typed value."""
    phonemes = phonemize(text, lang, alphabet)
    ids = tuple(to_ids(phonemes, id_map, scheme=scheme))
    return Phonemes(text=text, phonemes=phonemes, ids=ids, lang=normalize_lang(lang))


def split_phonemes(phonemes: str, limit: int = KOKORO_MAX_PHONEMES) -> list[str]:
    """Cut a phoneme string into pieces of at most `limit` symbols, at sentence, clause or word ends."""
    if len(phonemes) <= limit:
        return [phonemes] if phonemes else []
    for pattern in _SPLIT_POINTS:
        parts = [p for p in pattern.split(phonemes) if p]
        if len(parts) > 1:
            out: list[str] = []
            current = ""
            for part in parts:
                candidate = f"{current} {part}" if current else part
                if len(candidate) <= limit:
                    current = candidate
                    continue
                if current:
                    out.append(current)
                current = part
            if current:
                out.append(current)
            # Pieces still too long are cut again at the next, finer kind of boundary.
            return [piece for chunk in out for piece in split_phonemes(chunk, limit)]
    return [phonemes[i : i + limit] for i in range(0, len(phonemes), limit)]
