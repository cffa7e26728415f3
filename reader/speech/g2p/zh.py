"""Chinese text -> Kokoro v1.0 phonemes, following misaki's Chinese front end (its legacy IPA path).

jieba words with parts of speech, pypinyin TONE3 readings (its phrase dictionary, then zh_readings.py),
polyphone rules from the neighbouring words, misaki's tone sandhi (ToneSandhi, from PaddleSpeech) plus
一 in numbers and the 3-3 pairs it leaves, then pinyin -> IPA with tone arrows; English goes to en.py.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import threading
import time
import typing

from reader.speech.g2p import en
from reader.speech.g2p.pinyin import PinyinError, syllable_to_kokoro
from reader.speech.g2p.zh_readings import WORD_READINGS, ZI3_WORDS

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
# 得 is dé before these (得了, 得到, 他得的分数); after a subject it is otherwise děi (must): 我得走了.
DE2_BEFORE = frozenset("了到的过")
# After a subject, 得 before a degree word is left to pypinyin rather than read děi (你得很小心 is rare).
DEGREE_WORDS = frozenset(("很", "非常", "十分", "特别", "太", "挺", "真", "更", "越来越", "不错"))
# jieba glues 得 and a following verb into one dictionary word (都得来, 得去): děi before these.
DEI3_BEFORE = frozenset("去来走做干说花学等赶找交买付吃回看写想跑用给让")
# 地 is dì (ground) after a preposition (把地扫了) or a measure for land (这块地, 一片地).
DI4_AFTER_LAST = frozenset("块片亩顷这那哪此")
# 着 is zháo (reach a result) after these inside a word: 睡不着, 用得着; and before 了 (找着了).
ZHAO_AFTER = frozenset("不得")
# 数 is shù (number, several) before a numeral (数十年) or as a noun (这个数); otherwise shǔ (count).
SHU4_BEFORE = frozenset("十百千万亿")
SHU4_AFTER_LAST = frozenset("个的有这那")
# 行 after a numeral is the measure háng (两行泪, 一行字); 一行 is xíng for a group (一行人, 代表团一行).
NUMERALS = frozenset("一二两三四五六七八九十几数多每半")
# 为 after these in a word jieba keeps but pypinyin does not know is wéi (be, become): 视为, 沦为.
WEI2_AFTER = frozenset("视变化选列定评身最颇大尤誉奉沦称作成认改分转")
YI_WEI_REACH = 6  # words back from 为 where a 以 makes it 以 ... 为 (以人民为中心, 以他的一生为例)
# Parts of speech, as jieba writes them.
PRONOUN_NOUN_OR_ADVERB = ("r", "n", "d")
DESCRIPTIVE = ("v", "a", "z", "b", "i", "l")  # before 得 these make it the complement marker de
VERB = "v"
DESCRIPTIVE_WORD = "z"  # jieba's 状态词: 轻轻地, 默默地
PARTICLE_DE = "de5"
ADVERB_OR_ADJECTIVE = ("d", "a", "z")
ADVERB = "d"
PREPOSITION = "p"
NOUN = "n"
YI, BU = "一", "不"
# 一 reads yī in digit strings (一九八四, 二零一一, 十一) and dates (一月一日, 一号).
DIGITS = frozenset("零〇一二三四五六七八九")
YI1_AFTER = DIGITS | {"十"}
YI1_BEFORE = frozenset("月号楼")
LARGE_UNITS = frozenset("百千万亿")
ORDINAL = "第"
THIRD, SECOND = "3", "2"
OBJECT_PRONOUNS = frozenset("我你")  # third-tone pronouns that lean on the verb before them: 给我, 找你
GOVERNS_OBJECT = ("v", "p", "ul", "uz", "ug")  # verbs, prepositions and aspect particles (还了/我)
X_ENG = frozenset(("x", "eng"))  # jieba's tags for non-Chinese tokens

_lock = threading.Lock()
_loaded = False


def warm_up() -> float:
    """Load jieba's dictionary (compact: reader.text.zh_lexicon) and models (about a second, once);
    returns the seconds spent."""
    global _loaded
    start = time.perf_counter()
    with _lock:
        if not _loaded:
            from reader.text import zh_lexicon

            zh_lexicon.install()
            _loaded = True
    return time.perf_counter() - start


@dataclasses.dataclass(frozen=True)
class _Tools:
    posseg: typing.Any  # jieba.posseg
    known_words: dict  # jieba's dictionary; words not in it were glued by its HMM (地问, 得快)
    sandhi: typing.Any  # misaki.tone_sandhi.ToneSandhi
    lazy_pinyin: typing.Callable
    tone3: typing.Any  # pypinyin.Style.TONE3
    phrases: dict  # pypinyin's phrase dictionary: its readings of these words are trusted


@functools.cache
def _tools() -> _Tools:
    warm_up()
    import jieba
    import jieba.posseg
    from misaki.tone_sandhi import ToneSandhi
    from pypinyin import Style, lazy_pinyin
    from pypinyin.constants import PHRASES_DICT

    return _Tools(jieba.posseg, jieba.dt.FREQ, ToneSandhi(), lazy_pinyin, Style.TONE3, PHRASES_DICT)


def _unreadable(chars: str) -> list[str]:
    return list(chars)  # one item per character, as pypinyin gives Han; never valid pinyin


@functools.lru_cache(maxsize=32768)
def _word_readings(word: str) -> tuple[str, ...]:
    """pypinyin's TONE3 readings of one jieba word (its phrase dictionary first), one per character."""
    if word in WORD_READINGS:
        return WORD_READINGS[word]
    tools = _tools()
    pys = tools.lazy_pinyin(word, style=tools.tone3, neutral_tone_with_five=True, errors=_unreadable)
    if len(pys) != len(word):  # not seen with pypinyin 0.55; keep the alignment anyway
        pys = (pys + _unreadable(word))[: len(word)]
    return tuple(pys)


def _tone(py: str) -> str:
    return py[-1:]


def _with_tone(py: str, tone: str) -> str:
    return py[:-1] + tone if py[-1:].isdigit() else py


def _reading_alone(ch: str, pos: str, prev: tuple[str, str], nxt: tuple[str, str], before: list) -> str | None:
    """The reading of a one-character word (长 重 还 得 地 教 数 着 为 ...) from its neighbours; None keeps
    pypinyin's."""
    (prev_word, prev_pos), (next_word, _) = prev, nxt
    fixed = BY_PART_OF_SPEECH.get((ch, pos))
    if ch == "长":
        return "zhang3" if next_word[:1] in ZHANG_BEFORE else "chang2"
    if ch == "重":
        return "chong2" if next_word[:1] in CHONG_BEFORE else fixed
    if ch == "还":
        if next_word in HUAN_BEFORE or next_word[:1] in HUAN_BEFORE or next_word == "了":
            return "huan2"  # 还你, 还书, 我还了他的钱
        return fixed
    if ch == "得":
        if next_word[:1] in DE2_BEFORE:
            return "de2"  # 得了, 得到
        if prev_pos.startswith(DESCRIPTIVE):
            return "de5"  # 跑得很快, 高兴得跳起来: complement marker
        if prev_pos.startswith(PRONOUN_NOUN_OR_ADVERB) and next_word and next_word not in DEGREE_WORDS:
            return "dei3"  # 我得走了, 这得多少钱, 也得去: must, need
        return fixed
    if ch == "地":
        redup = len(prev_word) == 2 and prev_word[0] == prev_word[1]
        if prev_pos.startswith(PREPOSITION) or (prev_word[-1:] in DI4_AFTER_LAST and not redup):
            return "di4"  # 把地扫了, 这块地: ground
        if redup or prev_pos.startswith(ADVERB_OR_ADJECTIVE) or pos == "uv" or not pos:
            return "de5"  # 慢慢地走, 大声地喊: adverbial marker (no pos: glued to the next word, 地问)
        return fixed
    if ch == "教":
        return None if pos.startswith(NOUN) else "jiao1"  # 教我们唱歌: teach
    if ch == "数":
        if next_word[:1] in SHU4_BEFORE or prev_word[-1:] in SHU4_AFTER_LAST:
            return "shu4"
        return "shu3"  # 数钱: count
    if ch == "着" and next_word[:1] == "了":
        return "zhao2"  # 找着了, 睡着了
    if ch == "为" and not fixed and pos.startswith(PREPOSITION):
        if any(w == "以" for w, _ in before):
            return "wei2"  # 以人民为中心: 以 ... 为 ... (take ... as ...)
    return fixed


def _fix_polyphones(words: list[list[str]], readings: list[list[str]], tools: _Tools) -> None:
    """Correct the readings of common polyphones in place, from their neighbours."""
    for k, ((word, pos), pys) in enumerate(zip(words, readings)):
        prev = tuple(words[k - 1]) if k > 0 else ("", "")
        nxt = tuple(words[k + 1]) if k + 1 < len(words) else ("", "")
        if word in WORD_READINGS:
            continue
        if len(word) == 1:
            fixed = _reading_alone(word, pos, prev, nxt, words[max(0, k - YI_WEI_REACH) : k])
            if fixed:
                pys[0] = fixed
            continue
        if word[0] in "得地" and not tools.known_words.get(word):
            # jieba's HMM glued a particle to the next word (着急/地问, 你/得快): read it alone
            fixed = _reading_alone(word[0], "", prev, (word[1:], pos), words[max(0, k - YI_WEI_REACH) : k])
            if fixed:
                pys[0] = fixed
            continue
        if word[-1] == "行" and (word[0] in NUMERALS or word[0] == ORDINAL) and len(word) <= 3:
            group = word == "一行" and (nxt[0][:1] == "人" or nxt[0][:1] in NUMERALS or not nxt[0])
            pys[-1] = "xing2" if group else "hang2"  # 一行人, 代表团一行 / 两行泪, 第三行
            continue
        if word[0] == "得" and word[1] in DEI3_BEFORE and prev[1].startswith(PRONOUN_NOUN_OR_ADVERB):
            pys[0] = "dei3"  # 都得来 (jieba's word 得来)
            continue
        if word in tools.phrases:
            continue  # pypinyin's phrase dictionary already chose the readings of this word
        for i, ch in enumerate(word):
            if ch == "子" and (i == 0 or word[max(0, i - 2) : i + 1] in ZI3_WORDS or word[i - 1 : i + 1] in ZI3_WORDS):
                pys[i] = "zi3"  # 子女, 电子书, 孔子学院: not the noun suffix
            if i == 0:
                continue
            if ch == "得" and pys[i] == "de2" and word[i - 1] not in DE2_AFTER:
                pys[i] = "de5"
            elif ch == "着" and word[i - 1] in ZHAO_AFTER:
                pys[i] = "zhao2"
            elif ch == "为" and i == len(word) - 1 and word[i - 1] in WEI2_AFTER:
                pys[i] = "wei2"
        if word[-1] == "着" and nxt[0] == "了":
            pys[-1] = "zhao2"  # 火着/了: caught fire
        if word[0] == "重" and word[1] in CHONG_BEFORE:
            pys[0] = "chong2"  # 重写, 重做


# --- tone sandhi ----------------------------------------------------------------------------------
# Word merging is misaki's ToneSandhi.pre_merge_for_modify (from PaddleSpeech, Apache-2.0), ported so that
# it reads the tones chosen above instead of asking pypinyin again per word (slower, and blind to the
# polyphone rules). Each item is [word, pos, readings].
def _merge_bu(seg: list[list]) -> list[list]:
    out = []
    for i, (word, pos, pys) in enumerate(seg):
        if pos not in X_ENG and i > 0 and seg[i - 1][0] == BU:
            word, pys = BU + word, seg[i - 1][2] + pys
        next_pos = seg[i + 1][1] if i + 1 < len(seg) else None
        if word != BU or next_pos is None or next_pos in X_ENG:
            out.append([word, pos, pys])
    return out


def _merge_yi(seg: list[list]) -> list[list]:
    out: list[list] = []
    skip = False
    for i, (word, pos, pys) in enumerate(seg):  # 听 一 听 -> 听一听
        if skip:
            skip = False
            continue
        if (
            0 < i < len(seg) - 1 and word == YI and seg[i - 1][0] == seg[i + 1][0]
            and seg[i - 1][1] == VERB and seg[i + 1][1] not in X_ENG
        ):
            out[-1] = [out[-1][0] + YI + seg[i + 1][0], out[-1][1], out[-1][2] + pys + seg[i + 1][2]]
            skip = True
        else:
            out.append([word, pos, pys])
    seg, out = out, []
    for word, pos, pys in seg:  # a lone 一 joins the next word
        if out and out[-1][0] == YI and pos not in X_ENG:
            out[-1] = [YI + word, out[-1][1], out[-1][2] + pys]
        else:
            out.append([word, pos, pys])
    return out


def _merge_reduplication(seg: list[list]) -> list[list]:
    out: list[list] = []
    for word, pos, pys in seg:
        if out and word == out[-1][0] and pos not in X_ENG:
            out[-1] = [out[-1][0] + word, out[-1][1], out[-1][2] + pys]
        else:
            out.append([word, pos, pys])
    return out


def _all_third(pys: list[str]) -> bool:
    return all(_tone(py) == THIRD for py in pys)


def _merge_third_tones(seg: list[list], whole_words: bool) -> list[list]:
    """Join third-tone neighbours (up to three syllables) so that 3-3 sandhi sees them as one word."""
    out: list[list] = []
    merged_last = [False] * len(seg)
    for i, (word, pos, pys) in enumerate(seg):
        prev = seg[i - 1] if i > 0 else None
        if whole_words:
            meets = prev is not None and _all_third(prev[2]) and _all_third(pys)
        else:
            meets = prev is not None and _tone(prev[2][-1]) == THIRD and _tone(pys[0]) == THIRD
        # Not in misaki: a one-syllable adverb before a third tone leans on what follows (老板/很好, not
        # 老板很/好, which misaki reads láobánhěn hǎo).
        leans_right = (
            len(word) == 1 and pos.startswith(ADVERB) and i + 1 < len(seg) and _tone(seg[i + 1][2][0]) == THIRD
        )
        if (
            meets and pos not in X_ENG and not merged_last[i - 1] and not leans_right
            and not (len(prev[0]) == 2 and prev[0][0] == prev[0][1]) and len(prev[0]) + len(word) <= 3
        ):
            out[-1] = [out[-1][0] + word, out[-1][1], out[-1][2] + pys]
            merged_last[i] = True
        else:
            out.append([word, pos, pys])
    return out


def _merge_er(seg: list[list]) -> list[list]:
    out: list[list] = []
    for word, pos, pys in seg:
        if out and word == "儿" and out[-1][1] not in X_ENG:
            out[-1] = [out[-1][0] + word, out[-1][1], out[-1][2] + pys]
        else:
            out.append([word, pos, pys])
    return out


def _merge_for_sandhi(seg: list[list]) -> list[list]:
    seg = _merge_bu(seg)
    seg = _merge_yi(seg)
    seg = _merge_reduplication(seg)
    seg = _merge_third_tones(seg, whole_words=True)
    seg = _merge_third_tones(seg, whole_words=False)
    return _merge_er(seg)


def _keep_particle_readings(word: str, pos: str, before: list[str], after: list[str]) -> None:
    """misaki's neutral-tone rules read any word-final 地/得 as the particle (土地 -> tǔde) and 着 after a
    verb as zhe; the polyphone rules already chose, so keep their non-neutral readings (土地, 获得, 找着了),
    except for a descriptive word's 地 (轻轻地, 悄悄地), which is the particle de."""
    for i, ch in enumerate(word):
        if ch in "地得着" and _tone(before[i]) != NEUTRAL and _tone(after[i]) == NEUTRAL:
            if ch == "地" and i >= 2 and (pos.startswith(DESCRIPTIVE_WORD) or word[i - 2] == word[i - 1]):
                after[i] = PARTICLE_DE
            else:
                after[i] = before[i]


def _yi_in_numbers(text: str, pys: list[str]) -> None:
    """一 in digit strings, dates and floors is yī (一九八四, 十一点, 一月一日, 一楼); before 百千万亿 it
    takes the usual sandhi even inside a number (一千 yìqiān, 一万 yíwàn), which misaki leaves alone."""
    for i, ch in enumerate(text):
        if ch != YI:
            continue
        prev, nxt = text[i - 1 : i], text[i + 1 : i + 2]
        if prev in YI1_AFTER or nxt in DIGITS or nxt in YI1_BEFORE or (nxt == "日" and prev == "月"):
            pys[i] = _with_tone(pys[i], "1")
        elif nxt in LARGE_UNITS and prev != ORDINAL:
            pys[i] = _with_tone(pys[i], "2" if _tone(pys[i + 1]) in "45" else "4")


def _third_tone_left_over(words: list[list[str]], pys: list[str]) -> None:
    """3-3 -> 2-3 for the pairs misaki's rules leave: inside a jieba word (吃水果), after a one-syllable
    word, which leans on the next one as a prosodic foot (很/好看, 把/种子), and for an object pronoun,
    which leans on its verb instead (还给/我, but 给你/打电话). Left to right, so three in a row become
    2-2-3. Between longer words, where a speaker may pause (电影/很好看, 行长/很年轻), the pair is left."""
    token = [k for k, (word, _) in enumerate(words) for _ in word]
    for i in range(len(pys) - 1):
        if _tone(pys[i]) != THIRD or _tone(pys[i + 1]) != THIRD:
            continue
        left, right = token[i], token[i + 1]
        if left == right or _is_object_pronoun(words, right) or (
            len(words[left][0]) == 1 and not _is_object_pronoun(words, left)
        ):
            pys[i] = _with_tone(pys[i], SECOND)


def _is_object_pronoun(words: list[list[str]], k: int) -> bool:
    return words[k][0] in OBJECT_PRONOUNS and k > 0 and words[k - 1][1].startswith(GOVERNS_OBJECT)


def pinyin_of(text: str) -> list[tuple[str, list[str]]]:
    """Han text -> [(word, TONE3 syllables after polyphone rules and tone sandhi)]."""
    tools = _tools()
    words = [[w, p] for w, p in tools.posseg.lcut(text)]
    # Readings are chosen on jieba's own words, where the polyphone rules see real neighbours...
    readings = [list(_word_readings(w)) for w, _ in words]
    _fix_polyphones(words, readings, tools)
    # ...then sandhi works on merged words (不 + next word, 3rd-tone pairs, reduplications), which are
    # always runs of adjacent jieba words.
    out = []
    for word, pos, before in _merge_for_sandhi([[w, p, pys] for (w, p), pys in zip(words, readings)]):
        after = tools.sandhi.modified_tone(word, pos, list(before))
        _keep_particle_readings(word, pos, before, after)
        out.append((word, after))
    flat = [py for _, pys in out for py in pys]
    _yi_in_numbers("".join(w for w, _ in words), flat)  # jieba's words, so the indexes always match
    _third_tone_left_over(words, flat)
    start = 0
    for k, (word, _) in enumerate(out):
        out[k] = (word, flat[start : start + len(word)])
        start += len(word)
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
