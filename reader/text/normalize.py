"""Text to spoken form for TTS: numbers, dates, units, abbreviations and symbols in English and Chinese.

Every change keeps a map back to the original characters, so the player can highlight what it reads.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from reader.errors import SettingsError
from reader.settings import PUNCTUATION_LEVELS
from reader.text import numbers_en as en
from reader.text import numbers_zh as zh
from reader.text.dictionary import PronunciationDictionary

__all__ = ["LANGS", "Spoken", "normalize"]

LANGS = ("auto", "en", "zh")
NONE, SOME, MOST, ALL = range(len(PUNCTUATION_LEVELS))
# A user's dictionary replacement is read like text, but its own punctuation is not spoken as
# words (it was written to be said, not spelled): it is read at most at this level.
DICTIONARY_PUNCTUATION_CAP = SOME

# Integers this long, written without grouping commas, are IDs or phone numbers: read digit by digit.
LONG_DIGIT_RUN = 10
# Years read as years ("nineteen ninety-nine") when context does not say they are counts.
YEAR_MIN, YEAR_MAX = 1100, 2099
# After a year word ("in 1066") a year may be as early as this.
YEAR_WITH_CONTEXT_MIN = 1000
# Two-digit years in numeric dates: 69..99 are 19xx, 00..68 are 20xx (the POSIX strptime rule).
TWO_DIGIT_YEAR_PIVOT = 69
# Roman numerals are only read when context says so; these bound what a regnal or sequel number is.
ROMAN_MAX_REGNAL = 40
ROMAN_MAX_SEQUEL = 39
# How far back (characters) the rules look for the previous word.
LOOKBACK = 40

# Han characters and CJK/full-width punctuation: an Arabic number next to one is read in Chinese.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ZH_PUNCT = "\u3000-\u303f\uff00-\uffef"
_ZH_CONTEXT_CHAR = re.compile(f"[{_HAN}{_ZH_PUNCT}]")

# Full-width digits and letters are read as their ASCII twins. Same length, so offsets stay aligned.
_FULLWIDTH = {0xFF10 + i: 0x30 + i for i in range(10)}
_FULLWIDTH.update({0xFF21 + i: 0x41 + i for i in range(26)})
_FULLWIDTH.update({0xFF41 + i: 0x61 + i for i in range(26)})
_FULLWIDTH.update({0xFF05: ord("%"), 0xFF0E: ord("."), 0xFFE5: ord("¥"), 0xFF04: ord("$"), 0x2212: ord("-")})
_FULLWIDTH_COLON_IN_TIME = re.compile(r"(?<=\d)\uff1a(?=\d\d)")


# --- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spoken:
    """Spoken text plus a map to the original.

    `segments` are (spoken_start, spoken_end, orig_start, orig_end), in order, tiling the spoken
    text. `copied[k]` says segment k is original text passed through, mapped character by
    character; any other segment is a replacement and maps as a whole onto its whole original span
    (also when both happen to have the same length, like "2026" -> "二零二六"). Original text that
    was dropped (extra white space, stripped symbols) has no segment.
    """

    text: str
    original: str
    segments: tuple[tuple[int, int, int, int], ...] = ()
    copied: tuple[bool, ...] = ()
    _starts: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.copied) != len(self.segments):
            raise ValueError("Spoken needs one copied flag per segment")
        object.__setattr__(self, "_starts", tuple(seg[0] for seg in self.segments))

    def _segment(self, i: int) -> tuple[int, int, int, int, bool]:
        k = bisect_right(self._starts, i) - 1
        return (*self.segments[k], self.copied[k])

    def to_original(self, i: int) -> int:
        """Original index of spoken character i (len(text) maps to the end of the last segment)."""
        if not 0 <= i <= len(self.text):
            raise IndexError(f"spoken index {i} is outside 0..{len(self.text)}")
        if not self.segments:
            return 0
        if i == len(self.text):
            return self.segments[-1][3]
        s0, _, o0, _, copied = self._segment(i)
        return o0 + (i - s0) if copied else o0

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that spoken text[start:end] was made from."""
        if not 0 <= start <= end <= len(self.text):
            raise IndexError(f"spoken span {start}..{end} is outside 0..{len(self.text)}")
        first = self.to_original(start)
        if start == end:
            return first, first
        s0, _, o0, o1, copied = self._segment(end - 1)
        return first, (o0 + (end - s0) if copied else o1)


# --- building the output with its map ------------------------------------------------------------


def _latin(ch: str) -> bool:
    """A letter or digit of an alphabetic script: two of them side by side need a space."""
    return ch.isalnum() and ord(ch) < 0x2E80


def _cjk(ch: str) -> bool:
    """Scripts written without spaces (and their punctuation): a line break between two is no space."""
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF


# After these, a replacement starting with a letter gets a space ("Really? right paren").
_CLOSING_MARKS = frozenset(".,;:!?)]}”’…")


class _Builder:
    """Appends untouched or replaced text, collapsing white space and keeping the offset map."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str] = []
        self.segs: list[list] = []  # [spoken_start, spoken_end, orig_start, orig_end, untouched]
        self.length = 0
        self.last = ""
        self.pending: tuple[int, int] | None = None  # white space (or a dropped symbol) not yet emitted

    def _append(self, text: str, a: int, b: int, untouched: bool) -> None:
        segs = self.segs
        if untouched and segs and segs[-1][4] and segs[-1][3] == a and segs[-1][1] == self.length:
            segs[-1][1] += len(text)
            segs[-1][3] = b
        else:
            segs.append([self.length, self.length + len(text), a, b, untouched])
        self.parts.append(text)
        self.length += len(text)
        self.last = text[-1]

    def _flush_space(self, following: str) -> None:
        if self.pending is None:
            return
        a, b = self.pending
        self.pending = None
        if not self.length or self.last == " " or (_cjk(self.last) and _cjk(following)):
            return
        self._append(" ", a, b, b - a == 1 and self.source[a] == " ")

    def space(self, a: int, b: int) -> None:
        self.pending = (self.pending[0], b) if self.pending else (a, b)

    def _untouched(self, a: int, b: int) -> None:
        text = self.source[a:b]
        self._flush_space(text[0])
        last = self.segs[-1] if self.segs else None
        if last is not None and not last[4] and last[1] == self.length and _latin(self.last) and _latin(text[0]):
            # "3D" -> "three" + "D": the space belongs to the replacement, so untouched text stays 1:1
            self.parts.append(" ")
            self.length += 1
            last[1] += 1
            self.last = " "
        self._append(text, a, b, True)

    _INNER_SPACE = re.compile(rf"\s{{2,}}|[^\S ]|(?<=[{_HAN}{_ZH_PUNCT}]) (?=[{_HAN}{_ZH_PUNCT}])")

    def keep(self, a: int, b: int) -> None:
        """Original text a..b as it is, white space collapsed."""
        if a >= b:
            return
        src = self.source
        if src[a].isspace() or src[b - 1].isspace():
            lead = len(src[a:b]) - len(src[a:b].lstrip())
            if lead:
                self.space(a, a + lead)
                a += lead
            if a >= b:
                return
            trail = len(src[a:b]) - len(src[a:b].rstrip())
            if trail:
                self.keep(a, b - trail)
                self.space(b - trail, b)
                return
        pos = a
        for m in self._INNER_SPACE.finditer(src, a, b):
            if m.start() > pos:
                self._untouched(pos, m.start())
            self.space(m.start(), m.end())
            pos = m.end()
        if pos < b:
            self._untouched(pos, b)

    def replace(self, a: int, b: int, spoken: str) -> None:
        if not spoken:
            return  # deleted (a soft hyphen, a zero-width space): no space either
        self._flush_space(spoken[0])
        if _latin(spoken[0]) and (_latin(self.last) or self.last in _CLOSING_MARKS):
            spoken = " " + spoken
        self._append(spoken, a, b, False)

    def finish(self, original: str) -> Spoken:
        segments = tuple((s[0], s[1], s[2], s[3]) for s in self.segs)
        return Spoken("".join(self.parts), original, segments, tuple(s[4] for s in self.segs))


# --- tables -------------------------------------------------------------------------------------

MONTHS = (
    "January February March April May June July August September October November December".split()
)
_MONTH_BY_PREFIX = {m[:3].lower(): i for i, m in enumerate(MONTHS, 1)}
_MONTH_RE = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)

# (symbols, singular, plural, Chinese name or None to keep the symbol, may stand after a space)
_UNIT_ROWS = (
    (("km/h", "kph"), "kilometer per hour", "kilometers per hour", "公里每小时", True),
    (("mph",), "mile per hour", "miles per hour", "英里每小时", True),
    (("m/s",), "meter per second", "meters per second", "米每秒", True),
    (("km²",), "square kilometer", "square kilometers", "平方公里", True),
    (("m²",), "square meter", "square meters", "平方米", True),
    (("cm²",), "square centimeter", "square centimeters", "平方厘米", True),
    (("m³",), "cubic meter", "cubic meters", "立方米", True),
    (("km",), "kilometer", "kilometers", "公里", True),
    (("cm",), "centimeter", "centimeters", "厘米", True),
    (("mm",), "millimeter", "millimeters", "毫米", True),
    (("µm", "μm"), "micrometer", "micrometers", "微米", True),
    (("nm",), "nanometer", "nanometers", "纳米", True),
    (("m",), "meter", "meters", "米", True),
    (("kg",), "kilogram", "kilograms", "千克", True),
    (("mg",), "milligram", "milligrams", "毫克", True),
    (("g",), "gram", "grams", "克", True),
    (("lb", "lbs"), "pound", "pounds", "磅", True),
    (("oz",), "ounce", "ounces", "盎司", True),
    (("mi",), "mile", "miles", "英里", True),
    (("ft",), "foot", "feet", "英尺", True),
    (("yd",), "yard", "yards", "码", True),
    (("°C", "° C", "℃"), "degree Celsius", "degrees Celsius", "摄氏度", True),
    (("°F", "° F", "℉"), "degree Fahrenheit", "degrees Fahrenheit", "华氏度", True),
    (("°",), "degree", "degrees", "度", False),
    (("TB",), "terabyte", "terabytes", None, True),
    (("GB",), "gigabyte", "gigabytes", None, True),
    (("MB",), "megabyte", "megabytes", None, True),
    (("KB", "kB"), "kilobyte", "kilobytes", None, True),
    (("Gbps",), "gigabit per second", "gigabits per second", None, True),
    (("Mbps",), "megabit per second", "megabits per second", None, True),
    (("ms",), "millisecond", "milliseconds", "毫秒", True),
    (("sec", "secs", "s"), "second", "seconds", "秒", True),
    (("min", "mins"), "minute", "minutes", "分钟", True),
    (("h", "hr", "hrs"), "hour", "hours", "小时", True),
    (("mL", "ml"), "milliliter", "milliliters", "毫升", True),
    (("L",), "liter", "liters", "升", True),
    (("kWh",), "kilowatt hour", "kilowatt hours", "千瓦时", True),
    (("kW",), "kilowatt", "kilowatts", "千瓦", True),
    (("W",), "watt", "watts", "瓦", False),
    (("V",), "volt", "volts", "伏", False),
    (("mAh",), "milliamp hour", "milliamp hours", "毫安时", True),
    (("GHz",), "gigahertz", "gigahertz", "吉赫", True),
    (("MHz",), "megahertz", "megahertz", "兆赫", True),
    (("kHz",), "kilohertz", "kilohertz", "千赫", True),
    (("Hz",), "hertz", "hertz", "赫兹", True),
    (("kcal",), "kilocalorie", "kilocalories", "千卡", True),
)
_UNITS = {sym: row[1:4] for row in _UNIT_ROWS for sym in row[0]}
_TEMPERATURE_UNITS = {"°C", "° C", "℃", "°F", "° F", "℉"}


def _alternation(symbols) -> str:
    return "|".join(re.escape(s) for s in sorted(symbols, key=len, reverse=True))


_SPACED_UNITS = _alternation(s for row in _UNIT_ROWS if row[4] for s in row[0])
_TIGHT_UNITS = _alternation(s for row in _UNIT_ROWS if not row[4] for s in row[0])

# (singular, plural, sub-unit singular, sub-unit plural, Chinese)
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents", "美元"),
    "€": ("euro", "euros", "cent", "cents", "欧元"),
    "£": ("pound", "pounds", "penny", "pence", "英镑"),
    "¥": ("yen", "yen", None, None, "元"),
    "₹": ("rupee", "rupees", None, None, "卢比"),
    "₩": ("won", "won", None, None, "韩元"),
}
_MONEY_SCALES = {
    "thousand": ("thousand", "千"),
    "k": ("thousand", "千"),
    "K": ("thousand", "千"),
    "million": ("million", "百万"),
    "m": ("million", "百万"),
    "M": ("million", "百万"),
    "billion": ("billion", "十亿"),
    "bn": ("billion", "十亿"),
    "b": ("billion", "十亿"),
    "B": ("billion", "十亿"),
    "trillion": ("trillion", "万亿"),
}

# Words before a 4-digit number that make it a year ("in 1999", "since 2005").
YEAR_WORDS = frozenset(
    "in since by from until till through to of year years during before after early late mid "
    "circa c ca around spring summer autumn fall winter fiscal fy class vintage".split()
) | {m.lower() for m in MONTHS} | {m[:3].lower() for m in MONTHS} | {"sept"}
# Words before a number that make it a count ("about 1500", "page 1999").
COUNT_WORDS = frozenset(
    "about approximately nearly almost over under than some only just exactly total page pages p pp "
    "no number room rooms line lines step item items score scored".split()
)
ERA_WORDS = frozenset({"AD", "BC", "BCE", "CE", "A.D", "B.C"})
# Lowercase words ending in s after a number that are not plural nouns.
_NOT_PLURAL = frozenset(
    "was is has does goes this thus its his hers yes always perhaps whereas towards besides "
    "afterwards sometimes plus minus less unless across sees marks brings looks comes becomes seems "
    "begins ends remains starts means gives makes takes shows sets opens closes continues follows "
    "saw as".split()
)
_IRREGULAR_PLURALS = frozenset(
    "people men women children feet teeth mice geese sheep fish deer cattle police staff".split()
)

# Roman numerals after these words are plain numbers ("Chapter IV", "World War II").
HEADING_WORDS = frozenset(
    "chapter part book volume vol act scene section appendix article canto psalm phase stage level "
    "round season episode lesson unit type class grade war bowl step series mark mk apollo title".split()
)
# Roman numerals after these names are regnal ("Henry VIII" -> "Henry the eighth").
REGNAL_NAMES = frozenset(
    """Henry Edward George William Richard James Charles Elizabeth Mary Victoria Anne John Stephen
    Louis Philip Philippe Francis Napoleon Frederick Friedrich Wilhelm Peter Catherine Ivan Nicholas
    Alexander Paul Pius Leo Gregory Benedict Innocent Clement Urban Boniface Sixtus Ramesses Ramses
    Thutmose Amenhotep Ptolemy Antiochus Constantine Justinian Otto Rudolf Ferdinand Isabella Juan
    Carlos Alfonso Felipe Gustav Gustavus Christian Frederik Haakon Olaf Harald Magnus Sigismund
    Casimir Wenceslas Matthias Maximilian Leopold Joseph Franz Karl Umberto Vittorio Emmanuel Manuel
    Pedro Selim Mehmed Suleiman Murad Bayezid Mahmud Rama Edmund Harold Malcolm David Robert Willem
    Ludwig Albert Baldwin Pepin Lothair Hugh Sancho Afonso Jaime Ernest Augustus Cosimo Lorenzo""".split()
)
ROYAL_TITLES = frozenset(
    "King Queen Pope Emperor Empress Tsar Czar Tsarina Kaiser Sultan Shah Pharaoh Prince Princess "
    "Duke Duchess Grand Saint".split()
)
# Capitalised words that start sentences rather than name things: "Then I" is a pronoun.
_FUNCTION_WORDS = frozenset(
    "the a an and but or so then when where why how what who if as at in on of to for with by from "
    "did do does can could should would will shall may might must have had was were is am are be "
    "been i we you he she they it this that there here now yes no not".split()
)

# Abbreviations written with a final period. "title": before a name; "after": after a name or at
# the end; "number": only before a number; "plain": anywhere.
_ABBREVIATIONS = {
    "Mr": ("title", "Mister"),
    "Mrs": ("title", "Missus"),
    "Ms": ("title", "Miz"),
    "Prof": ("title", "Professor"),
    "Capt": ("title", "Captain"),
    "Gen": ("title", "General"),
    "Lt": ("title", "Lieutenant"),
    "Col": ("title", "Colonel"),
    "Sgt": ("title", "Sergeant"),
    "Rev": ("title", "Reverend"),
    "Gov": ("title", "Governor"),
    "Sen": ("title", "Senator"),
    "Rep": ("title", "Representative"),
    "Pres": ("title", "President"),
    "Fr": ("title", "Father"),
    "Mt": ("title", "Mount"),
    "Ft": ("title", "Fort"),
    "Hon": ("title", "Honorable"),
    "Dr": ("doctor", "Doctor"),
    "St": ("saint", "Saint"),
    "Jr": ("after", "Junior"),
    "Sr": ("after", "Senior"),
    "Ave": ("after", "Avenue"),
    "Rd": ("after", "Road"),
    "Blvd": ("after", "Boulevard"),
    "Ln": ("after", "Lane"),
    "Hwy": ("after", "Highway"),
    "Inc": ("after", "Incorporated"),
    "Ltd": ("after", "Limited"),
    "Corp": ("after", "Corporation"),
    "Bros": ("after", "Brothers"),
    "Esq": ("after", "Esquire"),
    "etc": ("after", "et cetera"),
    "vs": ("plain", "versus"),
    "e.g": ("plain", "for example"),
    "i.e": ("plain", "that is"),
    "cf": ("plain", "compare"),
    "approx": ("plain", "approximately"),
    "dept": ("plain", "department"),
    "Dept": ("plain", "Department"),
    "misc": ("plain", "miscellaneous"),
    "incl": ("plain", "including"),
    "a.k.a": ("plain", "also known as"),
    "Ph.D": ("after", "P H D"),
    "et al": ("after", "et al"),
    "a.m": ("after", "a m"),
    "p.m": ("after", "p m"),
    "Fig": ("plain", "figure"),
    "fig": ("plain", "figure"),
    "Vol": ("plain", "volume"),
    "vol": ("plain", "volume"),
    "No": ("number", "number"),
    "no": ("number", "number"),
    "Nos": ("number", "numbers"),
    "p": ("number", "page"),
    "pp": ("number", "pages"),
    "Ch": ("number", "chapter"),
    "ch": ("number", "chapter"),
    "Sec": ("number", "section"),
    "Eq": ("number", "equation"),
    "ca": ("number", "circa"),
    "c": ("number", "circa"),
    **{m[:3]: ("after", m) for m in MONTHS if len(m) > 3},
    "Sept": ("after", "September"),
}

# Punctuation and symbols: (English name, Chinese name, lowest level that speaks it, what to do
# below that level: "keep" the mark for prosody or "drop" it to a space).
_SYMBOLS = {
    "&": ("and", None, SOME, "drop"),
    "@": ("at", None, SOME, "drop"),
    "#": ("hash", None, MOST, "drop"),
    "+": ("plus", "加", SOME, "drop"),
    "=": ("equals", "等于", SOME, "drop"),
    "%": ("percent", "百分号", SOME, "drop"),
    "$": ("dollar", "美元", SOME, "drop"),
    "€": ("euro", "欧元", SOME, "drop"),
    "£": ("pound", "英镑", SOME, "drop"),
    "¥": ("yen", "元", SOME, "drop"),
    "°": ("degrees", "度", SOME, "drop"),
    "×": ("times", "乘", SOME, "drop"),
    "÷": ("divided by", "除以", SOME, "drop"),
    "±": ("plus or minus", "正负", SOME, "drop"),
    "<": ("less than", "小于", SOME, "drop"),
    ">": ("greater than", "大于", SOME, "drop"),
    "≤": ("less than or equal to", "小于等于", SOME, "drop"),
    "≥": ("greater than or equal to", "大于等于", SOME, "drop"),
    "≠": ("not equal to", "不等于", SOME, "drop"),
    "≈": ("approximately", "约等于", SOME, "drop"),
    "©": ("copyright", None, SOME, "drop"),
    "®": ("registered", None, SOME, "drop"),
    "™": ("trademark", None, SOME, "drop"),
    "§": ("section", None, SOME, "drop"),
    "¶": ("paragraph", None, MOST, "drop"),
    "~": ("tilde", "波浪号", MOST, "drop"),
    "^": ("caret", None, MOST, "drop"),
    "|": ("bar", None, MOST, "drop"),
    "\\": ("backslash", None, MOST, "drop"),
    "*": ("star", None, MOST, "drop"),
    "_": ("underline", None, MOST, "drop"),
    "`": ("grave", None, MOST, "drop"),
    "•": ("bullet", None, MOST, "drop"),
    "/": ("slash", None, MOST, "drop"),
    "(": ("left paren", "左括号", MOST, "keep"),
    ")": ("right paren", "右括号", MOST, "keep"),
    "[": ("left bracket", "左方括号", MOST, "keep"),
    "]": ("right bracket", "右方括号", MOST, "keep"),
    "{": ("left brace", "左花括号", MOST, "keep"),
    "}": ("right brace", "右花括号", MOST, "keep"),
    '"': ("quote", "引号", MOST, "keep"),
    "“": ("left quote", "左引号", MOST, "keep"),
    "”": ("right quote", "右引号", MOST, "keep"),
    "'": ("apostrophe", None, ALL, "keep"),
    "‘": ("left single quote", "左单引号", ALL, "keep"),
    "’": ("right single quote", "右单引号", ALL, "keep"),
    "-": ("dash", "横线", MOST, "keep"),
    "–": ("en dash", "破折号", MOST, "keep"),
    "—": ("em dash", "破折号", MOST, "keep"),
    "--": ("dash", "破折号", MOST, "keep"),
    ":": ("colon", "冒号", MOST, "keep"),
    ";": ("semicolon", "分号", MOST, "keep"),
    "...": ("dot dot dot", "省略号", MOST, "keep"),
    "…": ("dot dot dot", "省略号", MOST, "keep"),
    ".": ("period", "句号", ALL, "keep"),
    ",": ("comma", "逗号", ALL, "keep"),
    "?": ("question", "问号", ALL, "keep"),
    "!": ("exclamation", "叹号", ALL, "keep"),
    # Chinese marks always have Chinese names.
    "，": (None, "逗号", ALL, "keep"),
    "。": (None, "句号", ALL, "keep"),
    "、": (None, "顿号", ALL, "keep"),
    "？": (None, "问号", ALL, "keep"),
    "！": (None, "叹号", ALL, "keep"),
    "；": (None, "分号", MOST, "keep"),
    "：": (None, "冒号", MOST, "keep"),
    "（": (None, "左括号", MOST, "keep"),
    "）": (None, "右括号", MOST, "keep"),
    "《": (None, "左书名号", MOST, "keep"),
    "》": (None, "右书名号", MOST, "keep"),
    "〈": (None, "左单书名号", MOST, "keep"),
    "〉": (None, "右单书名号", MOST, "keep"),
    "【": (None, "左方头括号", MOST, "keep"),
    "】": (None, "右方头括号", MOST, "keep"),
    "「": (None, "左引号", MOST, "keep"),
    "」": (None, "右引号", MOST, "keep"),
    "『": (None, "左双引号", MOST, "keep"),
    "』": (None, "右双引号", MOST, "keep"),
    "……": (None, "省略号", MOST, "keep"),
    "——": (None, "破折号", MOST, "keep"),
    "～": (None, "波浪号", MOST, "keep"),
    "·": (None, "间隔号", MOST, "keep"),
}
# Marks after which speech falls: when spoken as a word the mark itself follows, for intonation.
_SENTENCE_END = frozenset(".?!。？！")
# Characters that are never spoken and only get in a TTS front end's way.
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
# Single-character fractions: (numerator, denominator).
_VULGAR = {
    "½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
    "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8),
}
# Web domains recognised without a scheme or "www." ("example.org").
_TLDS = "com|org|net|edu|gov|mil|int|io|co|uk|us|de|fr|cn|jp|info|biz|dev|app|ai|me|tv|ly|eu|ca|au|in"
_ADDRESS_SYMBOLS = {
    ".": "dot",
    "/": "slash",
    "-": "dash",
    "_": "underscore",
    ":": "colon",
    "?": "question mark",
    "=": "equals",
    "&": "and",
    "#": "hash",
    "%": "percent",
    "+": "plus",
    "~": "tilde",
    "@": "at",
}


# --- the master pattern -------------------------------------------------------------------------

_CJK_CLASS = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
# A letter or digit of an alphabetic script. Rules use it instead of \w for word edges, because \w
# also matches Han, and Chinese writes numbers right against words ("共120个").
_W = f"[^\\W{_CJK_CLASS}]"
_BOW = f"(?<!{_W})"  # not preceded by such a character
_EOW = f"(?!{_W})"  # not followed by one
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?)"
_SIGN = rf"(?:{_BOW}(?<![.,)\]\-])-)?"
_SP = r"[ \u00a0\u202f]"
_QUANTITY = rf"{_SIGN}{_NUM}(?:[-–]{_NUM})?(?:{_SP}?(?:{_SPACED_UNITS}){_EOW}|(?:{_TIGHT_UNITS}){_EOW}|{_SP}?%)?"
_QUANTITY_PARTS = re.compile(
    rf"(?P<sign>-)?(?P<a>{_NUM})(?:[-–](?P<b>{_NUM}))?(?:{_SP}?(?P<unit>{_SPACED_UNITS}|{_TIGHT_UNITS}|%))?"
)

_US_STATES = "|".join(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)

_PATTERNS: tuple[tuple[str, str], ...] = (
    ("invisible", f"[{_INVISIBLE}]+"),
    ("url", r"(?:(?:https?|ftp)://|www\.)[^\s<>\"“”'()\[\]{}，。、]*[^\s<>\"“”'()\[\]{}，。、.,;:!?]"),
    ("email", rf"(?:{_BOW}(?<![.+-])[A-Za-z0-9._%+-]+|\{{[A-Za-z0-9._%+-]+(?:,{_SP}?[A-Za-z0-9._%+-]+)+\}})"
              rf"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{{2,}}{_EOW}(?!-)"),
    (
        "url",
        rf"{_BOW}(?<![@.-])(?:[A-Za-z0-9-]+\.)+(?i:{_TLDS})(?:/[^\s<>\"“”'()，。]*[^\s<>\"“”'()，。.,;:!?])?"
        rf"{_EOW}(?![.-]{_W}|-)",
    ),
    ("named", rf"{_BOW}(?<![#+])(?:[CF]#|C\+\+){_EOW}(?![#+])"),
    ("isodate", r"(?<![\d./-])\d{4}(?P<isosep>[-/.])\d{1,2}(?P=isosep)\d{1,2}(?![\d./-]|\.\d)"),
    ("numdate", r"(?<![\d./-])\d{1,2}(?P<datesep>[-/.])\d{1,2}(?P=datesep)(?:\d{4}|\d{2})(?![\d./-]|\.\d)"),
    (
        "mdate",
        rf"\b{_MONTH_RE}\.?{_SP}+(?:\d{{1,2}}(?:st|nd|rd|th)?(?![\d:])(?:,?{_SP}+\d{{4}}(?!\d))?|\d{{4}}(?!\d))",
    ),
    ("dmdate", rf"(?<![\d.,])\d{{1,2}}(?:st|nd|rd|th)?{_SP}+(?:of{_SP}+)?{_MONTH_RE}\b\.?(?:,?{_SP}+\d{{4}}(?!\d))?"),
    (
        "time",
        rf"(?<![\d:.])(?:[01]?\d|2[0-4]):[0-5]\d(?::[0-5]\d)?(?:{_SP}?[AaPp]\.?[Mm]\.?{_EOW})?(?![\d:])"
        rf"|(?<![\d:.,])(?:1[0-2]|0?[1-9]){_SP}?(?:[ap]\.m\.|[AaPp][Mm]{_EOW})",
    ),
    (
        "phone",
        rf"{_BOW}(?<!\+)\+\d{{1,3}}(?:[ .-]\(?\d{{1,5}}\)?){{2,5}}{_EOW}(?!-)"
        rf"|{_BOW}(?<!\()\(\d{{2,4}}\)[ .-]?\d{{3,4}}[ .-]\d{{3,4}}{_EOW}(?!-)"
        rf"|{_BOW}(?<![.-])\d{{3}}(?P<phonesep>[.-])\d{{3}}(?P=phonesep)\d{{4}}{_EOW}(?![.-]\d)"
        rf"|{_BOW}(?<![.-])0\d{{2,3}}-\d{{7,8}}{_EOW}(?!-)"
        # Groups with spaces: "020 7946 0958", "0161 496 0000", "01 23 45 67 89", "555 123 4567".
        rf"|(?<![\d.,]{_SP})(?<![\d.,]){_BOW}(?:0\d{{2,4}}{_SP}\d{{3,4}}{_SP}\d{{3,4}}|0\d(?:{_SP}\d\d){{4}}"
        rf"|[2-9]\d\d{_SP}[2-9]\d\d{_SP}\d{{4}}){_EOW}(?!{_SP}?[.,]?\d)",
    ),
    # Numbers people read digit by digit: after "call", "dial", "PIN", "code", "account", "ZIP" ..., and
    # the ZIP code after a US state ("New York, NY 10003").
    ("digits", rf"(?:(?<![\w.])(?i:call|dial|phone|ring|text|pin|code|zip|zip code|postcode|account|acct|card|id)"
               rf"(?:{_SP}(?i:number|no\.?|#))?(?:{_SP}?:|{_SP}is)?|{_BOW}(?:{_US_STATES}),?){_SP}#?\d{{3,}}(?:-\d{{4}})?"
               rf"{_EOW}(?![.,-]\d|{_SP}\d)"),
    (
        "money",
        rf"{_SIGN}[$€£¥₹₩]{_SP}?{_NUM}(?:(?:{_SP}?(?:thousand|million|billion|trillion)|k|K|m|M|bn|b|B){_EOW})?"
        rf"|{_SIGN}{_NUM}{_SP}?€",
    ),
    ("height", rf"{_BOW}(?<![.,])[1-8]['’][ ]?(?:1[01]|\d)(?:\"|”|''|’’)"),
    ("version", rf"{_BOW}(?<!\.)[vV]?\d+(?:\.\d+){{2,}}{_EOW}(?!\.\d)"),
    ("fraction", rf"{_BOW}(?<![/.])\d+/\d+{_EOW}(?!/|\.\d)"),
    ("mult", rf"{_BOW}(?<!\.)\d+(?:\.\d+)?(?:[ ]?[x×][ ]?\d+(?:\.\d+)?|x){_EOW}(?!\.\d)"),
    ("ratio", rf"{_BOW}(?<![:.])\d+:\d+{_EOW}(?!:|\.\d)"),
    ("decade", rf"{_BOW}(?<!['’])(?:['’]\d0s|\d{{3}}0s|\d0s){_EOW}"),
    ("vulgar", rf"\d*[{''.join(_VULGAR)}]"),
    ("ordinal", rf"(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:st|nd|rd|th|ST|ND|RD|TH){_EOW}"),
    ("quantity", _QUANTITY),
    (
        "abbr",
        rf"{_BOW}(?<!\.)(?:" + _alternation(_ABBREVIATIONS) + rf")\.{_EOW}|{_BOW}(?<!\.)vs(?={_SP})",
    ),
    ("initialism", rf"{_BOW}(?<!\.)(?:[A-Z]\.){{2,}}{_EOW}"),
    ("roman", rf"{_BOW}(?<!['’-])(?=[IVXL])(?:XC|XL|L?X{{0,3}})(?:IX|IV|V?I{{0,3}})(?=['’]s\b|[^\w'’-]|$)"),
)


def _punct_pattern(level: int) -> str:
    """The marks that need a rule at this level; any others are left as they are."""
    chars = [c for c, (_, _, speak, silent) in _SYMBOLS.items() if len(c) == 1 and (level >= speak or silent == "drop")]
    if level >= ALL:
        chars.append("'")
    seqs = [r"\.{4,}", r"-{3,}", r"={3,}", r"\*{3,}", r"_{3,}", r"~{3,}", r"#{2,}", "--", "——", "……"]
    if level >= MOST:
        seqs.append(r"\.\.\.")
    return "|".join(seqs) + "|[" + "".join(re.escape(c) for c in sorted(set(chars))) + "]"


# Rules by the character they can start with. Gating each family with one cheap check keeps the
# scan from trying every rule at every position (plain prose would otherwise cost ~5 µs a char).
_LETTER_RULES = frozenset({"url", "email", "named", "mdate", "digits", "abbr", "initialism", "roman"})
_NUMBER_RULES = frozenset(
    {"email", "isodate", "numdate", "dmdate", "time", "phone", "money", "height", "version", "fraction", "mult",
     "ratio", "decade", "vulgar", "ordinal", "quantity"}
)
_LETTER_GATE = f"{_BOW}(?=[A-Za-z{{])"  # "{" opens "{yusuke,sekine}@cs.nyu.edu"
_NUMBER_GATE = r"(?=[\d$€£¥₹₩+(\-'’" + "".join(_VULGAR) + "])"


@lru_cache(maxsize=len(PUNCTUATION_LEVELS))
def _master(level: int) -> re.Pattern[str]:
    """One pattern for every rule, in priority order within each family. Group names carry an
    index (a rule may appear in two families); inner groups are named for back-references, and an
    outer group always closes last, so `lastgroup` names the rule."""

    def family(tag: str, members) -> str:
        return "|".join(f"(?P<{name}_{tag}{i}>{regex})" for i, (name, regex) in enumerate(_PATTERNS) if name in members)

    letters = family("L", _LETTER_RULES)
    numbers = family("N", _NUMBER_RULES)
    marks = family("M", {"invisible"}) + f"|(?P<punct_M>{_punct_pattern(level)})"
    return re.compile(f"{_LETTER_GATE}(?:{letters})|{_NUMBER_GATE}(?:{numbers})|{marks}")


# --- context ------------------------------------------------------------------------------------

_SPACE = object()  # a handler's answer: drop the match, leaving a word break
_PREV_WORD = re.compile(r"([A-Za-z][A-Za-z'’-]*)(\.?)[ \u00a0]+$")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;][\"'”’)\]]*\s+|\n\s*)$")
_NEXT_WORD = re.compile(r"[ \u00a0]+([A-Za-z][A-Za-z'’.-]*)")
_NEXT_CAPITALISED = re.compile(r"[ \u00a0]+(?:[A-Z]|[\"“‘'][A-Z])")
_ENDS_TEXT = re.compile(r"[\"'”’)\]]*[ \t]*(?:\r?\n|$)")


class _Context:
    __slots__ = ("text", "lang", "level")

    def __init__(self, text: str, lang: str, level: int) -> None:
        self.text = text
        self.lang = lang
        self.level = level

    def zh_at(self, start: int, end: int) -> bool:
        """Read the number at start..end in Chinese? In auto mode: when Han text or Chinese
        punctuation touches it (white space between allowed)."""
        if self.lang != "auto":
            return self.lang == "zh"
        left = self.text[max(0, start - 3) : start].rstrip()
        if left and _ZH_CONTEXT_CHAR.match(left[-1]):
            return True
        right = self.text[end : end + 3].lstrip()
        return bool(right) and bool(_ZH_CONTEXT_CHAR.match(right[0]))

    def prev_word(self, start: int) -> tuple[str, bool]:
        """The word just before `start` (separated only by spaces, maybe with a period after it) and
        whether it starts a sentence. ('', True) when there is none."""
        window_start = max(0, start - LOOKBACK)
        m = _PREV_WORD.search(self.text, window_start, start)
        if not m or m.group(2):  # "Elm. Dr. Smith": a period before means a new sentence
            return "", True
        before = self.text[max(0, m.start() - LOOKBACK) : m.start()]
        initial = m.start() == 0 or bool(_SENTENCE_START.search(before))
        return m.group(1), initial

    def prev_word_before(self, start: int) -> str:
        """The word before the previous word ("King" in "King Henry VIII")."""
        m = _PREV_WORD.search(self.text, max(0, start - LOOKBACK), start)
        return self.prev_word(m.start(1))[0] if m and not m.group(2) else ""

    def next_word(self, end: int) -> str:
        m = _NEXT_WORD.match(self.text, end)
        return m.group(1).rstrip(".") if m else ""

    def next_capitalised(self, end: int) -> bool:
        return bool(_NEXT_CAPITALISED.match(self.text, end))

    def ends_text(self, end: int) -> bool:
        """Nothing but closing quotes or brackets before the end of the text or line: a period
        here also ends the sentence."""
        return bool(_ENDS_TEXT.match(self.text, end))

    def next_char(self, end: int) -> str:
        rest = self.text[end : end + 3].lstrip(" \u00a0")
        return rest[:1]


def _with_final_period(ctx: _Context, m: re.Match, spoken: str, *, before_capital: bool = True) -> str:
    """An abbreviation's period that also ends the sentence is kept, for intonation: at the end of
    the text or line, and (for words that rarely come mid-sentence before a name, like "etc." or
    "p.m.") before a capitalised word."""
    if m.group().endswith(".") and (ctx.ends_text(m.end()) or (before_capital and ctx.next_capitalised(m.end()))):
        return spoken + "."
    return spoken


# --- numbers --------------------------------------------------------------------------------------


def _en_number(text: str, negative: bool = False) -> str:
    plain = text.replace(",", "")
    if "." not in plain and "," not in text and len(plain) >= LONG_DIGIT_RUN:
        spoken = en.digits(plain)
    else:
        spoken = en.decimal(plain)
    return "minus " + spoken if negative else spoken


def _zh_number(text: str, negative: bool = False) -> str:
    plain = text.replace(",", "")
    if "." not in plain and "," not in text and len(plain) >= LONG_DIGIT_RUN:
        spoken = zh.digits(plain)
    else:
        spoken = zh.cardinal(plain)
        if spoken[:2] in ("二千", "二万", "二亿"):  # 2000 is 两千, 20000 两万 (二百 stays)
            spoken = "两" + spoken[1:]
    return "负" + spoken if negative else spoken


# A lone 2 before a measure word is 两 ("两个人", "两点钟"), never after 第 ("第二个").
_ZH_MEASURE_WORDS = tuple(
    "个 只 位 名 本 张 条 件 辆 块 次 遍 趟 天 年 岁 周 星期 个月 小时 分钟 秒钟 倍 种 样 套 份 双 对 家 间 层 口 头 匹 "
    "杯 碗 瓶 盒 包 袋 箱 斤 两 公斤 千克 克 吨 米 公里 里 点 场 首 部 台 架 支 把 颗 棵 朵 片 篇 句 段 门 节 堂 所 座 "
    "封 笔 滴 声 步 群 批 排 行 列 项 道 千 万 亿".split()
)
# Words after which a number is read digit by digit ("邮编100871", "验证码：2468").
_ZH_DIGIT_WORDS = ("邮编", "邮政编码", "密码", "验证码", "账号", "帐号", "卡号", "编号", "号码", "电话", "手机", "工号", "学号")
_ZH_DIGIT_LINK = "：: 是为"


def _zh_digit_context(ctx: _Context, start: int) -> bool:
    before = ctx.text[max(0, start - 8):start].rstrip(_ZH_DIGIT_LINK)
    return before.endswith(_ZH_DIGIT_WORDS)


def _is_year_number(text: str, low: int = YEAR_MIN) -> bool:
    return len(text) == 4 and text.isdecimal() and low <= int(text) <= YEAR_MAX


def _plural_like(word: str) -> bool:
    """A lowercase word after a number that reads like a counted noun ('1999 people')."""
    if not word or not word[0].islower():
        return False
    w = word.lower()
    if w in _IRREGULAR_PLURALS:
        return True
    return (
        len(w) >= 3
        and w.endswith("s")
        and not w.endswith(("ss", "us", "is", "'s", "’s"))
        and w not in _NOT_PLURAL
    )


def _is_year(ctx: _Context, number: str, start: int, end: int) -> bool:
    """Is this plain integer a year? Heuristic, in order:
    1. before an era (1066 AD, 300 BC): a year, whatever its size;
    2. 4 digits 1000..2099 after a year word (in, since, by, from, of, during, a month name,
       circa...): a year;
    3. otherwise only 1100..2099 can be; after a count word (about, over, than, page, No., room...)
       or # or a currency sign, or before a unit or a plural-looking lowercase word ('1999
       people'): a count;
    4. otherwise a year (a bare 4-digit number in prose is more often a year than a count)."""
    following = ctx.next_word(end)
    if following in ERA_WORDS:
        return len(number) <= 4 and number.isdecimal()
    if not _is_year_number(number, YEAR_WITH_CONTEXT_MIN):
        return False
    prev = ctx.prev_word(start)[0].lower()
    if prev in YEAR_WORDS:
        return True
    if not _is_year_number(number) or prev in COUNT_WORDS:
        return False
    if start and ctx.text[start - 1] in "#$€£¥":
        return False
    return not (following and (following in _UNITS or _plural_like(following)))


def _quantity_en(ctx: _Context, m: re.Match, parts: re.Match) -> str:
    negative = bool(parts.group("sign"))
    a, b, unit = parts.group("a"), parts.group("b"), parts.group("unit")
    if unit == "%":
        words = _en_number(a, negative) + (f" to {_en_number(b)}" if b else "")
        return words + " percent"
    if unit:
        singular, plural, _ = _UNITS[unit]
        name = singular if (b or a) == "1" else plural
        words = _en_number(a, negative) + (f" to {_en_number(b)}" if b else "")
        return f"{words} {name}"
    if not negative and _is_year(ctx, a, m.start(), m.end()):
        if b is None:
            return en.year(int(a))
        if _is_year_number(b, YEAR_WITH_CONTEXT_MIN) and int(b) > int(a):
            return f"{en.year(int(a))} to {en.year(int(b))}"
        if len(b) == 2 and b.isdecimal() and len(a) == 4 and int(b) > int(a[2:]):  # 1990-95
            return f"{en.year(int(a))} to {en.year(int(a[:2] + b))}"
    words = _en_number(a, negative)
    return f"{words} to {_en_number(b)}" if b else words


def _quantity_zh(ctx: _Context, m: re.Match, parts: re.Match) -> str:
    negative = bool(parts.group("sign"))
    a, b, unit = parts.group("a"), parts.group("b"), parts.group("unit")
    if unit == "%":
        first = "百分之" + _zh_number(a)
        words = ("负" + first if negative else first) + (f"到百分之{_zh_number(b)}" if b else "")
        return words
    if unit:
        name = _UNITS[unit][2] or unit
        if unit in _TEMPERATURE_UNITS and negative:
            words = "零下" + _zh_number(a)
        elif a == "2" and b is None and not negative and unit not in _TEMPERATURE_UNITS:
            words = "两"  # 2 km: 两公里
        else:
            words = _zh_number(a, negative)
        return words + (f"到{_zh_number(b)}" if b else "") + name
    if ctx.next_char(m.end()) == "年" and a.isdecimal() and len(a) == 4:
        if b is None or (b.isdecimal() and len(b) == 4):  # 2026年, 1990-1995年: years digit by digit
            return zh.digits(a) + (f"到{zh.digits(b)}" if b else "")
    if b is None and not negative and a.isdecimal() and _zh_digit_context(ctx, m.start()):
        return zh.digits(a)
    if a == "2" and b is None and not negative and ctx.text[m.start() - 1:m.start()] != "第" \
            and ctx.text.startswith(_ZH_MEASURE_WORDS, m.end()):
        return "两"
    return _zh_number(a, negative) + (f"到{_zh_number(b)}" if b else "")


def _quantity(ctx: _Context, m: re.Match) -> str:
    parts = _QUANTITY_PARTS.fullmatch(m.group())
    if parts is None:  # cannot happen for text the master pattern matched; kept safe
        return _read_numbers(ctx, m.group(), m.start(), m.end())
    if ctx.zh_at(m.start(), m.end()):
        return _quantity_zh(ctx, m, parts)
    return _quantity_en(ctx, m, parts)


_NUM_ONLY = re.compile(_NUM)


def _read_numbers(ctx: _Context, text: str, start: int, end: int) -> str:
    """Fallback for text a rule matched but could not read (an impossible date): every number in
    it as a plain number, the rest as it is."""
    reader = _zh_number if ctx.zh_at(start, end) else _en_number
    return " ".join(_NUM_ONLY.sub(lambda n: f" {reader(n.group())} ", text).split())


# --- handlers -------------------------------------------------------------------------------------


def _h_invisible(ctx: _Context, m: re.Match) -> str:
    return ""


def _spell_address(address: str, *, host: bool = False) -> str:
    """'jane.doe@example.org' -> 'jane dot doe at example dot org'. In a host name (host=True) a short
    label or one with no vowel is spelled as people say it: 'cs.nyu.edu' -> 'c s dot nyu dot e d u'."""
    words = []
    tokens = re.findall(r"[^\W\d_]+|\d+|.", address)
    last_word = max((i for i, t in enumerate(tokens) if t.isalpha()), default=-1)
    for i, token in enumerate(tokens):
        if token.isdecimal():
            words.append(en.cardinal(int(token)) if len(token) <= 4 and token[0] != "0" else en.digits(token))
        elif token in _ADDRESS_SYMBOLS:
            words.append(_ADDRESS_SYMBOLS[token])
        elif token.isalpha():
            lower = token.lower()
            spell = host and lower not in _SAID_LABELS and (
                len(token) <= 2 or not _VOWELS.intersection(lower) or (i == last_word and len(token) <= 3))
            words.append(" ".join(lower) if spell else token)
    return " ".join(words)


# In a host name, a label of two letters, one with no vowel ("cs") and a top-level label of three
# (".edu") are spelled, except these, which people say as words.
_SAID_LABELS = frozenset({"com", "org", "net", "gov", "co", "info", "biz", "app", "dev"})
_VOWELS = frozenset("aeiou")


def _spell_url(address: str) -> str:
    host, slash, path = address.partition("/")
    return _spell_address(host, host=True) + ((" slash " + _spell_address(path)).rstrip() if slash else "")


def _h_url(ctx: _Context, m: re.Match) -> str:
    address = re.sub(r"^[A-Za-z][\w+.-]*://", "", m.group())
    address = re.sub(r"^www\.", "", address, flags=re.IGNORECASE).rstrip("/")
    return _spell_url(address)


def _h_email(ctx: _Context, m: re.Match) -> str:
    """'jane.doe@cs.nyu.edu' -> 'jane dot doe at c s dot nyu dot e d u'; '{yusuke,sekine}@x.org' (two
    addresses written as one) -> 'yusuke and sekine at x dot org'."""
    users, _, domain = m.group().rpartition("@")
    names = [_spell_address(u.strip()) for u in users.strip("{}").split(",")]
    said = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{said} at {_spell_address(domain, host=True)}"


def _h_digits(ctx: _Context, m: re.Match) -> str:
    """'code 4921' -> 'code four nine two one'; 'NY 10003-1234' -> 'NY one zero zero zero three, one two
    three four'. The words before the number stay as they are."""
    number = re.search(r"\d[\d-]*$", m.group())
    return m.group()[:number.start()] + _digit_groups(ctx, m, number.group().split("-"), zh_joiner="")


def _h_named(ctx: _Context, m: re.Match) -> str:
    return {"C#": "C sharp", "F#": "F sharp", "C++": "C plus plus"}[m.group()]


def _two_digit_year(text: str) -> int:
    yy = int(text)
    return yy + (1900 if yy >= TWO_DIGIT_YEAR_PIVOT else 2000) if len(text) == 2 else yy


def _say_date(ctx: _Context, m: re.Match, year: int | None, month: int, day: int | None) -> str:
    if ctx.zh_at(m.start(), m.end()):
        out = f"{zh.digits(str(year))}年" if year is not None else ""
        out += f"{zh.cardinal(str(month))}月"
        return out + (f"{zh.cardinal(str(day))}日" if day else "")
    out = MONTHS[month - 1]
    if day:
        out += " " + en.ordinal(day)
    if year is not None:
        out += (", " if day else " ") + en.year(year)
    return out


def _valid(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _h_isodate(ctx: _Context, m: re.Match) -> str:
    year, month, day = (int(x) for x in re.split(r"[-/.]", m.group()))
    if not _valid(month, day):
        return _read_numbers(ctx, m.group(), m.start(), m.end())
    return _say_date(ctx, m, year, month, day)


def _h_numdate(ctx: _Context, m: re.Match) -> str:
    """Numeric dates with the year last. Day first when the first number is over 12, or when the
    separator is a period (European style); otherwise month first (US style)."""
    sep = m.group("datesep")
    first, second, year = re.split(r"[-/.]", m.group())
    a, b = int(first), int(second)
    if a > 12 or (sep == "." and b <= 12):
        day, month = a, b
    else:
        month, day = a, b
    if not _valid(month, day):
        return _read_numbers(ctx, m.group(), m.start(), m.end())
    return _say_date(ctx, m, _two_digit_year(year), month, day)


_DATE_PARTS = re.compile(rf"(?P<month>{_MONTH_RE})|(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)|(?P<year>\d{{4}})")


def _date_fields(text: str) -> tuple[int, int | None, int | None]:
    month = day = year = None
    for part in _DATE_PARTS.finditer(text):
        if part.group("month"):
            month = _MONTH_BY_PREFIX[part.group("month")[:3].lower()]
        elif part.group("day"):
            day = int(part.group("day"))
        else:
            year = int(part.group("year"))
    return month, day, year


def _h_mdate(ctx: _Context, m: re.Match) -> str:
    month, day, year = _date_fields(m.group())
    if day is not None and not _valid(month, day):
        return _read_numbers(ctx, m.group(), m.start(), m.end())
    spoken = MONTHS[month - 1]
    if day:
        spoken += " " + en.ordinal(day)
    if year is not None:
        spoken += (", " if day else " ") + en.year(year)
    return spoken


def _h_dmdate(ctx: _Context, m: re.Match) -> str:
    month, day, year = _date_fields(m.group())
    if not _valid(month, day):
        return _read_numbers(ctx, m.group(), m.start(), m.end())
    spoken = f"the {en.ordinal(day)} of {MONTHS[month - 1]}"
    if year is not None:
        spoken += " " + en.year(year)
    return _with_final_period(ctx, m, spoken)


_TIME_PARTS = re.compile(r"(?P<h>\d{1,2})(?::(?P<m>\d\d))?(?::(?P<s>\d\d))?\s*(?:(?P<ap>[AaPp])\.?[Mm]\.?)?")


def _h_time(ctx: _Context, m: re.Match) -> str:
    parts = _TIME_PARTS.fullmatch(m.group().replace("\u00a0", " ").replace("\u202f", " "))
    hour, minute = int(parts.group("h")), int(parts.group("m") or 0)
    second = int(parts.group("s")) if parts.group("s") else None
    ampm = (parts.group("ap") or "").lower()
    if ctx.zh_at(m.start(), m.end()):
        spoken = {"a": "上午", "p": "下午"}.get(ampm, "") + ("两" if hour == 2 else zh.cardinal(str(hour))) + "点"
        if minute or second:
            spoken += zh.two_digit(minute) + "分"
        else:
            spoken += "整"
        if second:
            spoken += zh.two_digit(second) + "秒"
        return spoken
    spoken = en.cardinal(hour)
    if minute:
        spoken += f" oh {en.ONES[minute]}" if minute < 10 else f" {en.cardinal(minute)}"
    elif ampm:
        pass
    elif hour == 0 or hour > 12:
        spoken += " hundred"  # 24-hour clock: 14:00 is "fourteen hundred"
    else:
        spoken += " o'clock"
    if second:
        spoken += f" and {en.cardinal(second)} second{'s' if second != 1 else ''}"
    if ampm:
        spoken += f" {ampm} m"
        return _with_final_period(ctx, m, spoken)
    return spoken


def _digit_groups(ctx: _Context, m: re.Match, groups: list[str], *, zh_joiner: str = " ") -> str:
    """Groups of digits read digit by digit, a pause between groups ("020 7946" -> "zero two zero, seven
    nine four six"; in Chinese 零二零 七九四六)."""
    if ctx.zh_at(m.start(), m.end()):
        return zh_joiner.join(zh.digits(g) for g in groups)
    return ", ".join(en.digits(g) for g in groups)


def _h_phone(ctx: _Context, m: re.Match) -> str:
    plus = m.group().startswith("+")
    sign = ("加" if ctx.zh_at(m.start(), m.end()) else "plus ") if plus else ""
    return sign + _digit_groups(ctx, m, re.findall(r"\d+", m.group()))


_MONEY_PARTS = re.compile(
    rf"(?P<sign>-)?(?:(?P<cur>[$€£¥₹₩]){_SP}?(?P<num>{_NUM})"
    rf"(?:{_SP}?(?P<scale>thousand|million|billion|trillion|k|K|m|M|bn|b|B))?"
    rf"|(?P<num2>{_NUM}){_SP}?(?P<cur2>€))"
)


def _h_money(ctx: _Context, m: re.Match) -> str:
    parts = _MONEY_PARTS.fullmatch(m.group())
    currency = parts.group("cur") or parts.group("cur2")
    number = parts.group("num") or parts.group("num2")
    negative = bool(parts.group("sign"))
    scale = _MONEY_SCALES.get(parts.group("scale") or "")
    singular, plural, sub_one, sub_many, zh_name = _CURRENCIES[currency]
    if ctx.zh_at(m.start(), m.end()):
        plain = number.replace(",", "")
        if "." in plain:
            plain = plain.rstrip("0").rstrip(".")
        following = ctx.text[m.end() : m.end() + len(zh_name)]
        if not scale and (following == zh_name or following[:1] == "元"):
            zh_name = ""  # "¥100元", "$100美元": the currency is said once
        return _zh_number(plain, negative) + (scale[1] if scale else "") + zh_name
    sign = "minus " if negative else ""
    if scale:
        return f"{sign}{_en_number(number)} {scale[0]} {plural}"
    whole, _, frac = number.replace(",", "").partition(".")
    if frac and sub_one and len(frac) <= 2:
        units, cents = int(whole or "0"), int(frac.ljust(2, "0"))
        said = []
        if units or not cents:
            said.append(f"{en.cardinal(units)} {singular if units == 1 else plural}")
        if cents:
            said.append(f"{en.cardinal(cents)} {sub_one if cents == 1 else sub_many}")
        return sign + " and ".join(said)
    if frac:
        return f"{sign}{_en_number(number)} {plural}"
    return f"{sign}{_en_number(number)} {singular if whole == '1' else plural}"


def _h_height(ctx: _Context, m: re.Match) -> str:
    """A height in feet and inches: 6'2" -> 'six foot two'."""
    feet, inches = re.findall(r"\d+", m.group())
    if ctx.zh_at(m.start(), m.end()):
        return f"{zh.cardinal(feet)}英尺{zh.cardinal(inches)}英寸"
    return f"{en.cardinal(int(feet))} foot {en.cardinal(int(inches))}"


def _h_version(ctx: _Context, m: re.Match) -> str:
    text = m.group()
    prefix = ""
    if text[0] in "vV":
        prefix, text = "version ", text[1:]
    numbers = text.split(".")
    if ctx.zh_at(m.start(), m.end()):
        return ("版本" if prefix else "") + "点".join(_zh_number(n) for n in numbers)
    # Four numbers up to 255 are an IP address, said with "dot"; a version says "point".
    is_ip = not prefix and len(numbers) == 4 and all(int(n) <= 255 for n in numbers)
    joiner = " dot " if is_ip else " point "
    return prefix + joiner.join(_en_number(n) for n in numbers)


# Denominators read as fractions ("three quarters"); others ("24/7", "9/11", "50/50") are read as
# two numbers.
_FRACTION_DENOMINATORS = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 32, 64, 100})


def _h_fraction(ctx: _Context, m: re.Match) -> str:
    a, b = (int(x) for x in m.group().split("/"))
    if ctx.zh_at(m.start(), m.end()):
        if not b:
            return _read_numbers(ctx, m.group(), m.start(), m.end())
        return f"{zh.cardinal(str(b))}分之{zh.cardinal(str(a))}"
    if b in _FRACTION_DENOMINATORS and 0 < a <= 2 * b:
        return en.fraction(a, b)
    return f"{en.cardinal(a)} {en.cardinal(b)}"


def _h_mult(ctx: _Context, m: re.Match) -> str:
    numbers = re.findall(r"\d+(?:\.\d+)?", m.group())
    zh_ctx = ctx.zh_at(m.start(), m.end())
    reader = _zh_number if zh_ctx else _en_number
    if len(numbers) == 1:  # "3x faster"
        return reader(numbers[0]) + ("倍" if zh_ctx else " times")
    return ("乘" if zh_ctx else " by ").join(reader(n) for n in numbers)


def _h_ratio(ctx: _Context, m: re.Match) -> str:
    a, b = m.group().split(":")
    if ctx.zh_at(m.start(), m.end()):
        return f"{_zh_number(a)}比{_zh_number(b)}"
    return f"{_en_number(a)} to {_en_number(b)}"


_DECADE_CONTEXT = frozenset("the his her their my your our its early mid late in during".split())


def _h_decade(ctx: _Context, m: re.Match) -> str:
    """1990s, '90s; a bare '30s' is only a decade after 'the', 'her', 'early'... else seconds."""
    text = m.group().lstrip("'’")
    digits = text[:-1]
    if len(digits) == 2 and not m.group()[0] in "'’":
        prev, _ = ctx.prev_word(m.start())
        if prev.lower().rstrip("-") not in _DECADE_CONTEXT:
            return _quantity(ctx, m)
    if len(digits) == 4:
        return en.plural_word(en.year(int(digits)))
    return en.plural_word(en.cardinal(int(digits)))


def _h_vulgar(ctx: _Context, m: re.Match) -> str:
    """'1½' -> 'one and a half', '¾' -> 'three quarters'."""
    whole, (num, den) = m.group()[:-1], _VULGAR[m.group()[-1]]
    if ctx.zh_at(m.start(), m.end()):
        part = f"{zh.cardinal(str(den))}分之{zh.cardinal(str(num))}"
        return f"{zh.cardinal(whole)}又{part}" if whole else part
    part = en.fraction(num, den)
    if not whole:
        return part
    if num == 1:
        part = "a " + part.split(" ", 1)[1]
    return f"{_en_number(whole)} and {part}"


def _h_ordinal(ctx: _Context, m: re.Match) -> str:
    n = int(m.group()[:-2].replace(",", ""))
    if ctx.zh_at(m.start(), m.end()):
        return "第" + zh.cardinal(str(n))
    return en.ordinal(n)


def _h_quantity(ctx: _Context, m: re.Match) -> str:
    return _quantity(ctx, m)


def _h_abbr(ctx: _Context, m: re.Match) -> str | None:
    text = m.group()
    if text == "vs":
        return "versus"
    kind, spoken = _ABBREVIATIONS[text[:-1]]
    if kind == "title":
        return spoken
    if kind == "number":
        return spoken if ctx.next_char(m.end())[:1].isdecimal() else None
    if kind in ("doctor", "saint"):
        # After a name ("Elm St.", "Oak Dr.") it is a street; before one ("St. Paul", "Dr. Smith")
        # a title. A sentence-initial word is not taken as a name ("Visit St. Paul").
        prev, initial = ctx.prev_word(m.start())
        after_name = bool(prev) and prev[0].isupper() and not initial
        if kind == "doctor":
            return _with_final_period(ctx, m, "Drive") if after_name else spoken
        if not after_name and ctx.next_capitalised(m.end()):
            return spoken
        return _with_final_period(ctx, m, "Street")
    if kind == "after":
        return _with_final_period(ctx, m, spoken)
    return spoken


def _h_initialism(ctx: _Context, m: re.Match) -> str:
    # "the U.S. Army": an initialism often stands before a capitalised word mid-sentence
    return _with_final_period(ctx, m, " ".join(m.group().replace(".", "")), before_capital=False)


_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_LINE_START = re.compile(r"(?:^|\n)[ \t]*$")
_HEADING_AFTER = re.compile(r"[.):][ \t]|[ \t]*(?:\n|$)")


def _roman_value(text: str) -> int:
    total = 0
    for ch, nxt in zip(text, text[1:] + " "):
        value = _ROMAN_VALUES[ch]
        total += -value if nxt != " " and _ROMAN_VALUES[nxt] > value else value
    return total


_AFTER_LONE_I = re.compile(r"[.,;:)\]]|[ \t]*(?:\n|$)")


def _h_roman(ctx: _Context, m: re.Match) -> str | None:
    """Only with context: after a heading word (Chapter IV, World War II) or at the start of a
    heading line ('IV. The Return') a number; after a ruler's name (Henry VIII) 'the eighth'; after
    another capitalised word mid-sentence (Rocky II) a number.

    A lone 'I' is the pronoun far more often, so it needs more: a capitalised heading word
    ('Part I', but not 'after the war I left'), or a ruler's name with a royal title before it
    ('Queen Elizabeth I') or punctuation after it ('Elizabeth I.'; 'told Mary I would' stays)."""
    text = m.group()
    value = _roman_value(text)
    lone_i = text == "I"
    prev, initial = ctx.prev_word(m.start())
    if prev.lower() in HEADING_WORDS and (not lone_i or prev[0].isupper()):
        return en.cardinal(value)
    if _LINE_START.search(ctx.text, max(0, m.start() - LOOKBACK), m.start()) and _HEADING_AFTER.match(
        ctx.text, m.end()
    ):
        return en.cardinal(value)
    if not prev or not prev[0].isupper() or value > ROMAN_MAX_REGNAL:
        return None
    titled = ctx.prev_word_before(m.start()) in ROYAL_TITLES
    if titled or (prev in REGNAL_NAMES and (not lone_i or _AFTER_LONE_I.match(ctx.text, m.end()))):
        return "the " + en.ordinal(value)
    if len(text) >= 2 and value <= ROMAN_MAX_SEQUEL and not initial and prev.lower() not in _FUNCTION_WORDS:
        return en.cardinal(value)
    return None


def _intra_word(ctx: _Context, start: int, end: int) -> bool:
    before = ctx.text[start - 1 : start] if start else ""
    after = ctx.text[end : end + 1]
    return bool(before) and bool(after) and before.isalnum() and after.isalnum()


def _h_punct(ctx: _Context, m: re.Match):
    """A mark spoken as its name at or above its level; below it, kept for prosody or dropped."""
    mark = m.group()
    start, end = m.start(), m.end()
    level = ctx.level
    if (len(mark) >= 3 and mark not in ("...", "……")) or mark.startswith("##"):
        # separator lines (-----, =====, ***) and Markdown heading marks
        return _SPACE
    if mark == "#" and ctx.next_char(end)[:1].isdecimal():
        return "number" if level >= SOME else _SPACE
    if mark == "~" and ctx.next_char(end)[:1].isdecimal() and level >= SOME:
        return "about"
    if mark in ("'", "’") and _intra_word(ctx, start, end):
        return None  # an apostrophe inside a word is part of the word ("don't")
    english, chinese, speak_from, silent = _SYMBOLS[mark]
    if mark == "-" and _intra_word(ctx, start, end):
        speak_from = ALL  # a hyphen in "well-known" is only spoken when every mark is
    if level < speak_from:
        if silent == "drop":
            return _SPACE
        return "—" if mark == "--" else None
    if english is None or (chinese is not None and ctx.lang != "en" and _zh_mark_context(ctx, start, end)):
        name = chinese
    else:
        name = english
    if mark in _SENTENCE_END and (end == len(ctx.text) or ctx.text[end].isspace() or ctx.text[end] in "\"'”’)]」』"):
        return name + mark
    return name


def _zh_mark_context(ctx: _Context, start: int, end: int) -> bool:
    if ctx.lang == "zh":
        return True
    before = ctx.text[max(0, start - 1) : start]
    after = ctx.text[end : end + 1]
    return bool(before and _ZH_CONTEXT_CHAR.match(before)) or bool(after and _ZH_CONTEXT_CHAR.match(after))


_HANDLERS: dict[str, Callable] = {
    "invisible": _h_invisible,
    "url": _h_url,
    "email": _h_email,
    "named": _h_named,
    "isodate": _h_isodate,
    "numdate": _h_numdate,
    "mdate": _h_mdate,
    "dmdate": _h_dmdate,
    "time": _h_time,
    "phone": _h_phone,
    "height": _h_height,
    "digits": _h_digits,
    "money": _h_money,
    "version": _h_version,
    "fraction": _h_fraction,
    "mult": _h_mult,
    "ratio": _h_ratio,
    "decade": _h_decade,
    "vulgar": _h_vulgar,
    "ordinal": _h_ordinal,
    "quantity": _h_quantity,
    "abbr": _h_abbr,
    "initialism": _h_initialism,
    "roman": _h_roman,
    "punct": _h_punct,
}


@lru_cache(maxsize=None)
def _handler_for(group: str) -> Callable:
    return _HANDLERS[group.rpartition("_")[0]]


def _rewrite(ctx: _Context, out: _Builder, start: int, end: int) -> None:
    pos = start
    for m in _master(ctx.level).finditer(ctx.text, start, end):
        spoken = _handler_for(m.lastgroup)(ctx, m)
        if spoken is None:
            continue
        out.keep(pos, m.start())
        if spoken is _SPACE:
            out.space(m.start(), m.end())
        else:
            out.replace(m.start(), m.end(), spoken)
        pos = m.end()
    out.keep(pos, end)


def normalize(
    text: str,
    *,
    lang: str = "auto",
    punctuation: str = "some",
    dictionary: PronunciationDictionary | None = None,
) -> Spoken:
    """The spoken form of `text`, with a map back to it.

    lang: "en", "zh", or "auto" (numbers touching Han text are read in Chinese, others in English).
    punctuation: none, some, most or all (see PUNCTUATION_LEVELS), as in NVDA and Orca.
    dictionary: the user's entries, applied first; each replacement is itself read as text (so
    "version 2" says "two") but not matched against the dictionary again.
    """
    if lang not in LANGS:
        raise SettingsError(f"Language {lang!r} is unknown; use one of {', '.join(LANGS)}.")
    if punctuation not in PUNCTUATION_LEVELS:
        raise SettingsError(
            f"Punctuation level {punctuation!r} is unknown; use one of {', '.join(PUNCTUATION_LEVELS)}."
        )
    level = PUNCTUATION_LEVELS.index(punctuation)
    work = text.translate(_FULLWIDTH)
    if "\uff1a" in work:
        work = _FULLWIDTH_COLON_IN_TIME.sub(":", work)
    ctx = _Context(work, lang, level)
    out = _Builder(work)
    pos = 0
    if dictionary is not None and len(dictionary):
        capped = PUNCTUATION_LEVELS[min(level, DICTIONARY_PUNCTUATION_CAP)]
        for start, end, replacement in dictionary.apply(text):
            _rewrite(ctx, out, pos, start)
            out.replace(start, end, normalize(replacement, lang=lang, punctuation=capped).text)
            pos = end
    _rewrite(ctx, out, pos, len(work))
    return out.finish(text)
