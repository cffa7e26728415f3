"""Chinese text -> Kokoro v1.0 phonemes, following misaki's Chinese front end (its legacy IPA path).

jieba words with parts of speech, pypinyin TONE3 readings, a small polyphone table, misaki's tone
sandhi (ToneSandhi, from PaddleSpeech), then pinyin -> IPA with tone arrows; English goes to en.py.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time

from reader.speech.g2p import en
from reader.speech.g2p.pinyin import PinyinError, syllable_to_kokoro

__all__ = ["phonemize", "pinyin_of", "warm_up"]

log = logging.getLogger(__name__)

# misaki's ZHG2P.map_punctuation, plus the doubled Chinese dash and ellipsis.
PUNCTUATION_MAP = {
    "、": ",", "，": ",", "。": ".", "．": ".", "！": "!", "：": ":", "；": ";", "？": "?",
    "«": "“", "»": "”", "《": "“", "》": "”", "「": "“", "」": "”", "『": "“", "』": "”",
    "【": "“", "】": "”", "（": "(", "）": ")", "……": "…", "——": "—", "…": "…", "—": "—",
    ",": ",", ".": ".", "!": "!", "?": "?", ";": ";", ":": ":", "(": "(", ")": ")",
    '"': '"', "“": "“", "”": "”",
}
OPENING_PUNCTUATION = frozenset("“(")
HAN = r"\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SEGMENT_RE = re.compile(
    rf"(?P<han>[{HAN}]+)"
    r"|(?P<latin>[A-Za-z](?:[A-Za-z'’\- ]*[A-Za-z])?)"
    r"|(?P<punct>……|——|[、，。．！：；？«»《》「」『』【】（）…—,.!?;:()\"“”])"
    r"|(?P<other>.)",
    re.DOTALL,
)
HAS_ARABIC_DIGIT = re.compile(r"\d")
# Full-width Latin letters and digits (ＡＢＣ１２３), common in Chinese text, as ASCII.
FULL_WIDTH_OFFSET = 0xFEE0
FULL_WIDTH_ALNUM = str.maketrans(
    {
        chr(c): chr(c - FULL_WIDTH_OFFSET)
        for first, last in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
        for c in range(first, last + 1)
    }
)
NEUTRAL = "5"

# --- polyphones jieba + pypinyin get wrong, judged from the neighbouring words ---------------------
# A single-character word's reading by its jieba part of speech.
BY_PART_OF_SPEECH = {
    ("了", "v"): "liao3", ("行", "q"): "hang2", ("行", "n"): "hang2",
    ("为", "v"): "wei2", ("都", "n"): "du1", ("着", "v"): "zhao2",
}
# 长 is zhǎng (grow) before these, cháng (long) otherwise.
ZHANG_BEFORE = frozenset("大高了出成着得胖")
# 重 is chóng (again) before these verbs, zhòng (heavy, important) otherwise.
CHONG_BEFORE = frozenset("来做写新复申建启装播演读看说试修开")
# 还 is huán (give back) before these objects, hái (still) otherwise.
HUAN_BEFORE = frozenset(("你", "我", "他", "她", "它", "你们", "我们", "他们", "钱", "书", "债", "给"))
# 得 keeps dé (obtain) after these characters inside a word (获得); elsewhere in a word it is de.
DE2_AFTER = frozenset("获取赢难心博求所应不")
# 着 is zháo (reach a result) after these inside a word: 睡不着, 用得着.
ZHAO_AFTER = frozenset("不得")
PRONOUN_OR_NOUN = ("r", "n")
VERB = "v"
ADVERB_OR_ADJECTIVE = ("d", "a", "z")
DEMONSTRATIVE_OR_NUMBER = ("r", "m", "q")

_lock = threading.Lock()
_loaded = False


def warm_up() -> float:
    """Load jieba's dictionary and models (about a second, once); returns the seconds spent."""
    global _loaded
    start = time.perf_counter()
    with _lock:
        if not _loaded:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # jieba prints its dictionary build to stderr
            jieba.initialize()
            _loaded = True
    return time.perf_counter() - start


@functools.cache
def _tools():
    warm_up()
    import jieba.posseg
    from misaki.tone_sandhi import ToneSandhi
    from pypinyin import Style, lazy_pinyin
    from pypinyin.constants import PHRASES_DICT

    return jieba.posseg, ToneSandhi(), lazy_pinyin, Style, PHRASES_DICT


def _fix_polyphones(words: list[list[str]], readings: list[list[str]], phrases: dict) -> None:
    """Correct the readings of common polyphones in place, from their neighbours."""
    for k, ((word, pos), pys) in enumerate(zip(words, readings)):
        prev_word, prev_pos = words[k - 1] if k > 0 else ("", "")
        next_word, next_pos = words[k + 1] if k + 1 < len(words) else ("", "")
        if len(word) == 1:
            fixed = BY_PART_OF_SPEECH.get((word, pos))
            if word == "长":
                fixed = "zhang3" if next_word[:1] in ZHANG_BEFORE else "chang2"
            elif word == "重":
                fixed = "chong2" if next_word[:1] in CHONG_BEFORE else fixed
            elif word == "还":
                fixed = "huan2" if next_word in HUAN_BEFORE or next_word[:1] in HUAN_BEFORE else fixed
            elif word == "得":
                if next_word[:1] in "了到":
                    fixed = "de2"
                elif prev_pos.startswith(PRONOUN_OR_NOUN) and next_pos.startswith(VERB):
                    fixed = "dei3"  # 我得走了: must
                elif prev_pos.startswith((VERB, *ADVERB_OR_ADJECTIVE)):
                    fixed = "de5"  # 跑得很快: complement marker
            elif word == "地":
                redup = len(prev_word) == 2 and prev_word[0] == prev_word[1]
                if prev_pos.startswith(DEMONSTRATIVE_OR_NUMBER) and not redup:
                    fixed = "di4"  # 这块地: ground
                elif redup or prev_pos.startswith(ADVERB_OR_ADJECTIVE) or pos == "uv":
                    fixed = "de5"  # 慢慢地走: adverbial marker
            if fixed:
                pys[0] = fixed
            continue
        if word in phrases:
            continue  # pypinyin's phrase dictionary already chose the readings of this word
        for i, ch in enumerate(word[1:], start=1):
            if ch == "得" and pys[i] == "de2" and word[i - 1] not in DE2_AFTER:
                pys[i] = "de5"
            elif ch == "着" and word[i - 1] in ZHAO_AFTER:
                pys[i] = "zhao2"
        if word[0] == "得" and prev_pos.startswith(PRONOUN_OR_NOUN) and pos.startswith(VERB):
            pys[0] = "dei3"  # 你得去, segmented as 你/得去


def pinyin_of(text: str) -> list[tuple[str, list[str]]]:
    """Han text -> [(word, TONE3 syllables after polyphone rules and tone sandhi)]."""
    posseg, sandhi, lazy_pinyin, style, phrases = _tools()
    words = [[w, p] for w, p in posseg.lcut(text)]
    # Readings are chosen on jieba's own words, where the polyphone rules see real neighbours...
    readings = [lazy_pinyin(w, style=style.TONE3, neutral_tone_with_five=True) for w, _ in words]
    _fix_polyphones(words, readings, phrases)
    per_char = [py for word_pys in readings for py in word_pys]
    if len(per_char) != len(text):  # pypinyin kept some run of characters whole: no sandhi then
        return [(w, pys) for (w, _), pys in zip(words, readings)]
    # ...then sandhi works on misaki's merged words (不 + next word, 3rd-tone pairs, reduplications),
    # which are always runs of adjacent jieba words.
    out = []
    start = 0
    for word, pos in sandhi.pre_merge_for_modify(words):
        before = per_char[start : start + len(word)]
        start += len(word)
        pys = sandhi.modified_tone(word, pos, list(before))
        # misaki's neutral-tone rule reads any word-final 地/得 as the particle (土地 -> tǔde);
        # the polyphone rules already chose, so keep their non-neutral readings (土地, 得了).
        for i, ch in enumerate(word):
            if ch in "地得" and not before[i].endswith(NEUTRAL) and pys[i].endswith(NEUTRAL):
                pys[i] = before[i]
        out.append((word, pys))
    return out


def _han_to_phonemes(text: str) -> str:
    words = []
    for word, pys in pinyin_of(text):
        syllables = []
        for py in pys:
            try:
                syllables.append(syllable_to_kokoro(py))
            except PinyinError:
                log.debug("no pinyin for %r in %r", py, word)
        if syllables:
            words.append("".join(syllables))
    return " ".join(words)


def phonemize(text: str) -> str:
    """Normalized Chinese text (numbers already in words) -> Kokoro phonemes, punctuation kept."""
    text = text.translate(FULL_WIDTH_ALNUM)
    if HAS_ARABIC_DIGIT.search(text):  # misaki reads stray Arabic numerals as Chinese numbers
        import cn2an

        text = cn2an.transform(text, "an2cn")
    out = ""
    for m in _SEGMENT_RE.finditer(text):
        kind, value = m.lastgroup, m.group()
        if kind == "punct":
            mark = PUNCTUATION_MAP[value]
            if mark in OPENING_PUNCTUATION:
                out = out + (" " if out and not out.endswith(" ") else "") + mark
            else:
                out = out.rstrip(" ") + mark + " "
            continue
        if kind == "han":
            ps = _han_to_phonemes(value)
        elif kind == "latin":
            ps = en.phonemize(value)
        else:
            continue
        if ps:
            if out and not out.endswith((" ", *OPENING_PUNCTUATION)):
                out += " "
            out += ps
    return out.strip()
