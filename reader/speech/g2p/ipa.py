"""misaki's English phonemes -> the espeak-ng (en-us) IPA that Piper voices were trained on."""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["to_espeak_ipa", "ESPEAK_SYMBOLS"]

STRESS_MARKS = "ˈˌ"
LENGTH = "ː"
MISAKI_VOWELS = frozenset("AIOQWYaiuæɑɒɔəɛɜɪʊʌᵻᵊ")
# Vowels espeak en-us writes long when stressed or alone in a word (see: sˈiː, jˈuː, hˈɑːt, lˈɔː).
LENGTHENED = frozenset("iuɑɔ")
# misaki's r-coloured sequences, as espeak en-us writes them.
RHOTIC = (("əɹ", "ɚ"), ("ɑɹ", "ɑːɹ"), ("ɔɹ", "ɔːɹ"))
# misaki's one-letter diphthongs and affricates, and its extra symbols, in espeak's IPA.
SYMBOLS = {
    "A": "eɪ", "I": "aɪ", "O": "oʊ", "W": "aʊ", "Y": "ɔɪ", "Q": "əʊ",
    "ʤ": "dʒ", "ʧ": "tʃ", "ᵊ": "ə", "T": "ɾ",
}
# Clause punctuation espeak (and so Piper) keeps; the rest become the nearest one or nothing.
PUNCTUATION = {",": ",", ".": ".", "!": "!", "?": "?", ";": ";", ":": ":", "—": ",", "…": "."}
DROPPED_PUNCTUATION = frozenset('"“”()')
# Everything espeak-ng's en-us voice writes: phonemes, marks, punctuation and the word space.
ESPEAK_SYMBOLS = frozenset("abdefhijklmnoprstuvwzæðŋɐɑɔəɚɛɜɡɪɹɾʃʊʌʒʔθᵻˈˌː ,.!?;:")


def _word(ps: str) -> str:
    vowel_count = sum(1 for c in ps if c in MISAKI_VOWELS)
    out: list[str] = []
    for k, c in enumerate(ps):
        out.append(c)
        if c in LENGTHENED and not ps.startswith(LENGTH, k + 1):
            stressed = k > 0 and ps[k - 1] in STRESS_MARKS
            if stressed or vowel_count == 1:
                out.append(LENGTH)
    word = "".join(out)
    # ɜɹ is long ɜː before a consonant or the end, ɜːɹ before a vowel (hurry: hˈɜːɹi).
    rebuilt: list[str] = []
    k = 0
    while k < len(word):
        if word.startswith("ɜɹ", k):
            nxt = word[k + 2] if k + 2 < len(word) else ""
            rebuilt.append("ɜːɹ" if nxt in MISAKI_VOWELS else "ɜː")
            k += 2
            continue
        rebuilt.append(word[k])
        k += 1
    word = "".join(rebuilt)
    for src, dst in RHOTIC:
        word = word.replace(src, dst).replace(src[0] + LENGTH + src[1], dst)
    word = "".join(SYMBOLS.get(c, c) for c in word)
    # A lone ɜ (rare in US misaki) is long in espeak.
    return "".join(
        c + LENGTH if c == "ɜ" and not word.startswith(LENGTH, k + 1) else c for k, c in enumerate(word)
    )


def to_espeak_ipa(misaki_phonemes: str, symbols: Collection[str] | None = None) -> str:
    """Rewrite misaki phonemes in espeak-ng style IPA, dropping what `symbols` (default: espeak's) lacks."""
    allowed = ESPEAK_SYMBOLS if symbols is None else symbols
    words = []
    for token in misaki_phonemes.split():
        token = "".join(PUNCTUATION.get(c, c) for c in token if c not in DROPPED_PUNCTUATION)
        if token and words and all(c in PUNCTUATION for c in token):
            words[-1] += token  # a free-standing dash or ellipsis joins the word before it
        elif token:
            words.append(_word(token))
    text = " ".join(words)
    return "".join(c for c in text if c in allowed)
