"""One TONE3 pinyin syllable -> Kokoro v1.0 phonemes, exactly as misaki's legacy Chinese path writes it.

Port of misaki/transcription.py (from pinyin-to-ipa, MIT) plus ZHG2P.retone, first IPA variant only;
reimplemented because misaki's module needs ordered_set, which is not installed.
"""

from __future__ import annotations

import functools

# The tone is written after the syllable's nucleus, where misaki's tables have a "0".
TONE_SLOT = "0"
# misaki's retone(): Chao tone letters -> the arrows in Kokoro's vocab; neutral tone has none.
TONE_MARKS = {1: "→", 2: "↗", 3: "↓", 4: "↘", 5: ""}
NEUTRAL_TONE = 5

INITIALS = {
    "b": "p", "c": "ʦʰ", "ch": "ꭧʰ", "d": "t", "f": "f", "g": "k", "h": "x", "j": "ʨ", "k": "kʰ",
    "l": "l", "m": "m", "n": "n", "p": "pʰ", "q": "ʨʰ", "r": "ɻ", "s": "s", "sh": "ʂ", "t": "tʰ",
    "x": "ɕ", "z": "ʦ", "zh": "ꭧ",
}
SYLLABIC_CONSONANTS = {"hm": "hm0", "hng": "hŋ0", "m": "m0", "n": "n0", "ng": "ŋ0"}
INTERJECTIONS = {"io": "jɔ0", "ê": "ɛ0", "er": "ɚ0", "o": "ɔ0"}
# Strict pinyin finals (pypinyin's to_finals(strict=True, v_to_u=True)); the non-syllabic i̯/u̯
# of misaki's tables are written plainly because legacy_call strips U+032F.
FINALS = {
    "a": "a0", "ai": "ai0", "an": "a0n", "ang": "a0ŋ", "ao": "au0", "e": "ɤ0", "ei": "ei0",
    "en": "ə0n", "eng": "ə0ŋ", "i": "i0", "ia": "ja0", "ian": "jɛ0n", "iang": "ja0ŋ", "iao": "jau0",
    "ie": "je0", "in": "i0n", "iou": "jou0", "ing": "i0ŋ", "iong": "jʊ0ŋ", "ong": "ʊ0ŋ", "ou": "ou0",
    "u": "u0", "uei": "wei0", "ua": "wa0", "uai": "wai0", "uan": "wa0n", "uen": "wə0n",
    "uang": "wa0ŋ", "ueng": "wə0ŋ", "uo": "wo0", "o": "wo0", "ü": "y0", "üe": "ɥe0", "üan": "ɥɛ0n",
    "ün": "y0n",
}
# The apical vowel of zhi chi shi ri / zi ci si: misaki maps both ɻ̩ and ɹ̩ to ɨ.
APICAL_FINAL = "ɨ0"
APICAL_INITIALS = frozenset(("zh", "ch", "sh", "r", "z", "c", "s"))


class PinyinError(ValueError):
    """A syllable that is not pinyin (pypinyin returns non-Chinese text unchanged)."""


@functools.lru_cache(maxsize=4096)
def syllable_to_kokoro(pinyin: str) -> str:
    """'hao3' -> 'xau↓'; the last character must be the tone digit 1-5."""
    if len(pinyin) < 2 or not pinyin[-1].isdigit() or int(pinyin[-1]) not in TONE_MARKS:
        raise PinyinError(f"not a TONE3 pinyin syllable: {pinyin!r}")
    tone = TONE_MARKS[int(pinyin[-1])]
    normal = pinyin[:-1].replace("v", "ü")
    if normal in INTERJECTIONS:
        return INTERJECTIONS[normal].replace(TONE_SLOT, tone)
    if normal in SYLLABIC_CONSONANTS:
        return SYLLABIC_CONSONANTS[normal].replace(TONE_SLOT, tone)
    # Imported here: pypinyin loads its dictionaries (about 60 MB) on import.
    from pypinyin.contrib.tone_convert import to_finals, to_initials

    initial = to_initials(normal, strict=True)
    final = to_finals(normal, strict=True, v_to_u=True)
    if initial and initial not in INITIALS:
        raise PinyinError(f"unknown initial in {pinyin!r}")
    if initial in APICAL_INITIALS and final == "i":
        body = APICAL_FINAL
    elif final in FINALS:
        body = FINALS[final]
    else:
        raise PinyinError(f"unknown final in {pinyin!r}")
    return INITIALS.get(initial, "") + body.replace(TONE_SLOT, tone)
