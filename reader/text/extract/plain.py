"""Plain text: find the encoding (BOM, strict UTF-8, then the most natural-looking of the candidate
decodings, as detectors guess badly on short texts) and split it into paragraphs."""

from __future__ import annotations

import codecs
import re
import unicodedata
from functools import lru_cache

from reader.errors import InputError
from reader.text.document import BlockKind, RawBlock
from reader.text.extract._common import Extracted, is_cjk, join_lines, squeeze

BOMS = (  # UTF-32 first: its little-endian BOM starts with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Control bytes that never occur in text (tab, line feed, form feed, carriage return, escape and the
# DOS end-of-file mark ^Z are allowed). More than this share of them means binary data.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 26, 27))
BINARY_CONTROL_RATIO = 0.01
_NON_ASCII_BYTES = bytes(range(128, 256))
# UTF-16 without a BOM: at least this share of the high (or low) bytes are NUL (ASCII-heavy text).
UTF16_NUL_RATIO = 0.3
# A broken UTF-8 file: keep UTF-8 (with replacement characters) if valid multi-byte characters
# outnumber the bad bytes by this factor.
UTF8_GOOD_PER_BAD = 5

# Legacy encodings tried in this order; on equal scores the earlier one wins.
CANDIDATE_ENCODINGS = (
    "gb18030", "big5", "cp950", "big5hkscs", "shift_jis", "cp932", "euc_jp", "euc_kr", "cp949",
    "cp1252", "cp1250", "cp1251", "koi8_r", "latin-1",
)
# How much of the text is scored (enough to decide, bounded so a big file stays fast).
SCORE_SAMPLE_CHARS = 8000
# A charset-normalizer guess with at least this coherence (it recognised a language) may win ties.
TRUSTED_COHERENCE = 0.2

CHARSET_NORMALIZER_GUESSES = 4  # its top guesses join the candidates

# Scores: a character that should not be in text at all, and one that is merely odd.
BAD_CHAR_WEIGHT = 10
ODD_CHAR_WEIGHT = 1


def is_binary(data: bytes) -> bool:
    if not data:
        return False
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    return controls / len(data) > BINARY_CONTROL_RATIO


def _utf16_without_bom(data: bytes) -> str | None:
    """The codec name if `data` looks like ASCII-heavy UTF-16 with no BOM."""
    if len(data) < 4 or len(data) % 2:
        return None
    half = len(data) // 2
    even_nuls = data[0::2].count(0) / half
    odd_nuls = data[1::2].count(0) / half
    if odd_nuls >= UTF16_NUL_RATIO and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls >= UTF16_NUL_RATIO and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def _binary_error(name: str) -> InputError:
    return InputError(
        f"{name} does not look like text (it contains binary data); "
        "open a PDF, EPUB, Word (.docx), HTML, Markdown or text file instead."
    )


def decode_text(data: bytes, *, name: str) -> tuple[str, str]:
    """Decode bytes of unknown encoding to text; returns (text, codec name). Never fails on a bad byte."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            text = data[len(bom):].decode(codec.replace("-sig", ""), errors="replace")
            if _text_is_binary(text):
                raise _binary_error(name)
            return text, codec
    codec = _utf16_without_bom(data)
    if codec:
        text = data.decode(codec, errors="replace")
        if not _text_is_binary(text):
            return text, codec
    if is_binary(data):
        raise _binary_error(name)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    # ASCII bytes decode to one character each, so the rest of the characters came from other bytes.
    ascii_bytes = len(data.translate(None, _NON_ASCII_BYTES))
    good = len(lenient) - ascii_bytes - bad
    if good >= UTF8_GOOD_PER_BAD * bad:
        return lenient, "utf-8"
    return _guess_legacy(data)


def _text_is_binary(text: str) -> bool:
    sample = text[:SCORE_SAMPLE_CHARS]
    if not sample:
        return False
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\n\v\f\r\x1a\x1b")
    return controls / len(sample) > BINARY_CONTROL_RATIO


def _guess_legacy(data: bytes) -> tuple[str, str]:
    """Try charset-normalizer's guesses and the usual legacy encodings; keep the most natural text."""
    ranks: dict[str, int] = {}  # codec -> tie-break rank (lower wins)
    for rank, codec in enumerate(CANDIDATE_ENCODINGS):
        ranks.setdefault(_canonical(codec), rank)
    guesses = _charset_normalizer_guesses(data)
    for rank, (codec, coherence) in enumerate(guesses):
        name = _canonical(codec)
        # Its first guess wins ties only when it recognised a language and no other guess did as well
        # (on a tie its order is arbitrary: it once preferred cp1250 for French).
        unique = all(other < coherence for _, other in guesses[1:])
        if rank == 0 and coherence >= TRUSTED_COHERENCE and unique:
            ranks[name] = -1
        else:
            ranks.setdefault(name, len(CANDIDATE_ENCODINGS) + rank)
    best: tuple[float, int, str, str] | None = None
    for name, rank in ranks.items():
        if not name or name.startswith(("utf-16", "utf-32")) or not _ascii_compatible(name):
            continue
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        score = weirdness(text[:SCORE_SAMPLE_CHARS]) + _language_penalty(name, text[:SCORE_SAMPLE_CHARS])
        if best is None or (score, rank) < best[:2]:
            best = (score, rank, name, text)
    if best is None:  # cannot happen (latin-1 decodes anything), but never fail on a bad byte
        return data.decode("utf-8", errors="replace"), "utf-8"
    return best[3], best[2]


_JAPANESE_CODECS = frozenset({"shift_jis", "cp932", "euc_jp"})
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_KOREAN_CODECS = frozenset({"euc_kr", "cp949"})
_HANGUL = re.compile(r"[\uac00-\ud7af]")
# Japanese prose without a single kana is implausible: that is Chinese read with a Japanese codec.
NO_KANA_PENALTY = 0.5
# Text that reads as nearly all common Hangul with no Han is Korean; Chinese read as EUC-KR mixes both.
KOREAN_SHARE = 0.8
KOREAN_BONUS = 0.5


def _language_penalty(codec: str, text: str) -> float:
    if codec in _JAPANESE_CODECS and not _KANA.search(text) and len(_HAN.findall(text)) >= 2:
        return NO_KANA_PENALTY
    if codec in _KOREAN_CODECS and not _HAN.search(text):
        nonascii = sum(1 for ch in text if ord(ch) > 127)
        if nonascii and len(_HANGUL.findall(text)) >= KOREAN_SHARE * nonascii:
            return -KOREAN_BONUS
    return 0.0


def _canonical(codec: str) -> str:
    try:
        return codecs.lookup(codec).name
    except LookupError:
        return ""


def _charset_normalizer_guesses(data: bytes) -> list[tuple[str, float]]:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional: the scored candidates below still work
        return []
    try:
        matches = from_bytes(data)
    except Exception:  # a detector failure must not stop us from reading the file
        return []
    return [(m.encoding, m.coherence) for m in list(matches)[:CHARSET_NORMALIZER_GUESSES]]


@lru_cache(maxsize=None)
def _ascii_compatible(codec: str) -> bool:
    try:
        return b"Az09 .,\n".decode(codec) == "Az09 .,\n"
    except (UnicodeDecodeError, LookupError):
        return False


@lru_cache(maxsize=8192)
def _is_common_han(ch: str) -> bool:
    """In the first (most frequent) level of GB2312, Big5 or JIS X 0208."""
    for codec, lo, hi in (("gb2312", 0xB0, 0xD7), ("big5", 0xA4, 0xC6), ("shift_jis", 0x88, 0x98)):
        try:
            lead = ch.encode(codec)[0]
        except UnicodeEncodeError:
            continue
        if lo <= lead <= hi:
            return True
    return False


@lru_cache(maxsize=8192)
def _is_common_hangul(ch: str) -> bool:
    """One of the 2350 syllables of KS X 1001 (the rest are rare and come from misreadings)."""
    try:
        # Python's euc_kr spells the other syllables as 8-byte jamo sequences (KS X 1001 annex 3).
        return len(ch.encode("euc_kr")) == 2
    except UnicodeEncodeError:
        return False


def _script(ch: str) -> str:
    code = ord(ch)
    if code < 0x250 or 0x1E00 <= code < 0x1F00:
        return "latin"
    if 0x370 <= code < 0x400:
        return "greek"
    if 0x400 <= code < 0x530:
        return "cyrillic"
    if 0x590 <= code < 0x600:
        return "hebrew"
    if 0x600 <= code < 0x700 or 0xFB50 <= code < 0xFF00:
        return "arabic"
    if 0xAC00 <= code < 0xD7B0 or 0x3130 <= code < 0x3190:
        return "hangul"
    if is_cjk(ch):
        return "cjk"
    return "other"


_WORD = re.compile(r"[^\W\d_]+")
# Alphabets that do not share a word with another alphabet; CJK may touch Latin ("用Python写").
_ALPHABETS = frozenset({"latin", "greek", "cyrillic", "hebrew", "arabic", "hangul"})


def _word_weirdness(word: str) -> int:
    """Misdecodings make words mix alphabets, flip case mid-word or wedge one ideograph into Latin."""
    scripts = [_script(ch) for ch in word]
    kinds = set(scripts)
    nonascii = sum(1 for ch in word if ord(ch) > 127)
    score = 0
    if len(kinds & _ALPHABETS) > 1 or ("cjk" in kinds and kinds & (_ALPHABETS - {"latin"})):
        score += ODD_CHAR_WEIGHT * nonascii
    for i in range(1, len(word)):
        prev, ch = word[i - 1], word[i]
        if prev.islower() and ch.isupper() and (ord(prev) > 127 or ord(ch) > 127):
            score += ODD_CHAR_WEIGHT
        if scripts[i] == "cjk" and scripts[i - 1] == "latin" and i + 1 < len(word) and scripts[i + 1] == "latin":
            score += ODD_CHAR_WEIGHT
    return score


def _char_weirdness(ch: str) -> int:
    code = ord(ch)
    category = unicodedata.category(ch)
    if category in ("Cc", "Cn", "Co", "Cs") or ch == "\ufffd":
        return BAD_CHAR_WEIGHT
    if 0x4E00 <= code <= 0x9FFF:
        return 0 if _is_common_han(ch) else ODD_CHAR_WEIGHT
    if 0xAC00 <= code <= 0xD7AF:
        return 0 if _is_common_hangul(ch) else ODD_CHAR_WEIGHT
    if (
        0x3400 <= code <= 0x4DBF  # rare ideographs
        or code >= 0x20000
        or 0xF900 <= code <= 0xFAFF
        or 0xFF61 <= code <= 0xFF9F  # half-width katakana: Shift-JIS misreading GBK/Big5
        or 0x2500 <= code <= 0x259F  # box drawing: a DOS code page misreading letters
        or 0x3100 <= code <= 0x312F  # bopomofo
        or 0xFE50 <= code <= 0xFE6F  # small form variants
    ):
        return ODD_CHAR_WEIGHT
    return 0


_SYMBOL_IN_WORD = re.compile(r"(?<=[^\W\d_])[\u00a1-\u00bf\u00d7\u00f7\u2020-\u2022\u2030\u2039\u203a\u20ac\u2122](?=[^\W\d_])")
_NONASCII_LATIN_RUN = re.compile(r"[\u00c0-\u024f]{3,}")


def weirdness(text: str) -> float:
    """How unnatural a decoding looks: weighted odd characters per non-ASCII character (0 = clean)."""
    nonascii = [ch for ch in text if ord(ch) > 127]
    if not nonascii:
        return 0.0
    score = sum(_char_weirdness(ch) for ch in nonascii)
    # Mojibake of UTF-8 or CJK in a Latin code page makes runs of accented letters ("Ã©Ã¨").
    score += sum(ODD_CHAR_WEIGHT * (len(m.group()) - 2) for m in _NONASCII_LATIN_RUN.finditer(text))
    score += sum(_word_weirdness(m.group()) for m in _WORD.finditer(text) if not m.group().isascii())
    # A symbol wedged between letters ("Za¿ó³æ") is a letter of another code page.
    score += ODD_CHAR_WEIGHT * len(_SYMBOL_IN_WORD.findall(text))
    return score / len(nonascii)


# --- paragraphs ---------------------------------------------------------------------------------------

_ATX = re.compile(r"^(#{1,6})\s+(.+?)(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_BULLET = re.compile(r"^\s*[-*+•·‣◦▪]\s+(?=\S)")
# A guessed heading is short and ends without punctuation.
MAX_HEADING_CHARS = 60
MAX_CJK_HEADING_CHARS = 20
MAX_HEADING_WORDS = 10
# Lines this short, one under another, are read line by line (see _is_short_lines), not as wrapped prose.
MAX_LIST_LINE_CHARS = 30
_JOINING_ENDS = tuple("-.!?;。！？；")
# Words that never end a phrase: a short line ending in one was wrapped, not meant as a line of its own.
_WRAPPING_WORDS = frozenset(
    """a an the of to in on at for with by from into onto over under about as than and or but nor if
    that which who whom whose is are was were be been has have had do does did will would can could shall
    should may might must my your his her its our their this these those not no very""".split()
)
_NO_HEADING_END = tuple(".,;:!?。，；：！？、…\"'”’)）»")


def _looks_like_heading(line: str, next_paragraph: list[str] | None) -> bool:
    """Conservative: a short line standing alone before a longer paragraph, with no end punctuation."""
    if next_paragraph is None or sum(len(part) for part in next_paragraph) <= len(line):
        return False
    cjk = sum(1 for ch in line if is_cjk(ch)) > len(line) / 2
    if len(line) > (MAX_CJK_HEADING_CHARS if cjk else MAX_HEADING_CHARS):
        return False
    if len(line.split()) > MAX_HEADING_WORDS or line.endswith(_NO_HEADING_END):
        return False
    if "," in line or ". " in line or line.replace(" ", "").isdigit():
        return False
    first = line[0]
    return first.isupper() or first.isdigit() or is_cjk(first)


def _paragraph_lines(text: str) -> list[list[str]]:
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for raw in text.replace("\f", "\n\n").split("\n"):
        line = squeeze(raw)
        if line:
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _is_short_lines(lines: list[str]) -> bool:
    """Short lines one under another ("features / contact manager / events, activities", an address, a
    poem) are meant line by line, not as wrapped prose. Chinese wraps short lines too, so lines that end
    in CJK are always joined."""
    return len(lines) > 1 and all(len(line) <= MAX_LIST_LINE_CHARS and not is_cjk(line[-1]) for line in lines)


def _join_short_lines(lines: list[str]) -> str:
    """Keep each line break of short lines (the sentence splitter reads each line on its own) except
    after a word that cannot end a phrase ("A first paragraph that has / a hard line break"), which was
    wrapped, and after an end mark, where the sentence ends anyway."""
    out = lines[0]
    for before, line in zip(lines, lines[1:]):
        last_word = before.rsplit(None, 1)[-1].lower()
        wrapped = last_word in _WRAPPING_WORDS or before.endswith(_JOINING_ENDS)
        out += (" " if wrapped else "\n") + line
    return out


def text_to_blocks(text: str) -> list[RawBlock]:
    """Blank lines separate paragraphs; lines inside one are joined (no space between CJK)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    paragraphs = _paragraph_lines(text)
    blocks: list[RawBlock] = []
    for index, lines in enumerate(paragraphs):
        following = paragraphs[index + 1] if index + 1 < len(paragraphs) else None
        if len(lines) == 1 and (match := _ATX.match(lines[0])):
            blocks.append(RawBlock(BlockKind.HEADING, match.group(2), level=len(match.group(1))))
        elif len(lines) == 2 and _SETEXT.match(lines[1]) and len(lines[1]) >= 3:
            level = 1 if lines[1].startswith("=") else 2
            blocks.append(RawBlock(BlockKind.HEADING, lines[0], level=level))
        elif len(lines) == 1 and _looks_like_heading(lines[0], following):
            blocks.append(RawBlock(BlockKind.HEADING, lines[0]))
        elif _BULLET.match(lines[0]):
            blocks.extend(_bullet_items(lines))
        elif _is_short_lines(lines):
            blocks.append(RawBlock(BlockKind.PARAGRAPH, _join_short_lines(lines)))
        else:
            blocks.append(RawBlock(BlockKind.PARAGRAPH, join_lines(lines)))
    return blocks


def _bullet_items(lines: list[str]) -> list[RawBlock]:
    """A paragraph of bullet lines: one list item per bullet; lines without one continue the item."""
    items: list[list[str]] = []
    for line in lines:
        match = _BULLET.match(line)
        if match:
            items.append([line[match.end():]])
        else:
            items[-1].append(line)
    return [RawBlock(BlockKind.LIST_ITEM, join_lines(item)) for item in items]


# The most text the reader opens at once: thousands of pages (a long novel is 1-3 MB). Beyond it every
# step (splitting, the map for highlighting) grows with the size, for no reader's benefit.
MAX_TEXT_BYTES = 32 << 20


def check_text_size(size: int, *, name: str) -> None:
    if size > MAX_TEXT_BYTES:
        raise InputError(f"{name} is {size / (1 << 20):.0f} MB of text, more than the reader opens at once "
                         f"({MAX_TEXT_BYTES >> 20} MB); split it into smaller files (for example `split -C 30M`).")


def extract_text(data: bytes, *, name: str) -> Extracted:
    check_text_size(len(data), name=name)
    text, encoding = decode_text(data, name=name)
    return Extracted(text_to_blocks(text), encoding=encoding)
