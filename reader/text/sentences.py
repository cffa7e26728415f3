"""Sentence splitting for English, Chinese and mixed text: (start, end) spans into the original string,
aware of abbreviations, initials, numbers, URLs and lists; over-long sentences are cut at clause marks."""

from __future__ import annotations

import re

from reader.settings import DEFAULT_MAX_TOKENS
from reader.text.document import Document, Sentence

# --- Character classes -------------------------------------------------------------------------------

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
CJK = HAN + KANA + HANGUL
# CJK symbols and full-width forms: a "…" after one of these is Chinese punctuation, not an English ellipsis.
CJK_PUNCT = "\u3000-\u303f\uff00-\uff65"
# Combining marks stay with the letter they modify, so a cut never separates them.
COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"

SENTENCE_ENDS = ".!?…。！？；．｡‼⁇⁈⁉‽"
# Marks that end a sentence whatever follows: Chinese writing puts no space between sentences.
CJK_ENDS = frozenset("。！？；．｡")
EXCLAMATIONS = frozenset("!?‼⁇⁈⁉‽")
CLOSERS = "\"'”’»›)]}」』）》】〉〕〗〙〛｣"
OPENERS = "\"'“‘«‹([{「『（《【〈〔〖〘〚｢¿¡"
CJK_OPENERS = frozenset("「『（《【〈〔〖〘〚｢“‘")
# After a Chinese end mark these mean the sentence goes on (e.g. "……，").
CONTINUATIONS = frozenset("，,、：:")
ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
HORIZONTAL_SPACE = frozenset(" \t\u3000\u00a0")

# --- Abbreviations -----------------------------------------------------------------------------------

# Titles before a name: never a sentence end ("Dr. Smith"). Matched only when capitalized, since some
# ("rep", "gen", "col") are also ordinary words.
TITLES = frozenset(
    "mr mrs ms mx dr prof rev fr hon gen col capt cpt lt sgt cmdr adm maj gov sen rep pres supt messrs "
    "mme mlle mt ft".split()
)
# Latin and connective abbreviations that are always followed by more of the same sentence.
NEVER_FINAL = frozenset("e.g i.e cf vs viz approx incl excl esp resp w.r.t a.k.a".split())
# Abbreviations that stand before a number ("No. 5", "Fig. 3", "Vol. II"): no break before a number.
BEFORE_NUMBER = frozenset(
    "no nos fig figs vol vols p pp ch chap sec sect art eq eqs ref refs op para pt pts ex tab nr ed ca".split()
)
# Abbreviations that may also end a sentence; `_is_sentence_end` says when they do.
SENTENCE_FINAL = frozenset(
    "etc a.m p.m inc ltd co corp llc plc jr sr st bros esq al ave blvd rd univ assn dept "
    "u.s u.k u.n e.u u.s.a d.c ph.d b.a m.a b.sc m.sc m.d".split()
)
# Months count only when capitalized ("Jan. 5"); "mar" or "dec" in lower case are something else.
MONTHS = frozenset("jan feb mar apr jun jul aug sep sept oct nov dec".split())
# Abbreviations with a dot inside that are not single letters ("ph.d", "w.r.t").
DOTTED_WORDS = frozenset(w for w in NEVER_FINAL | SENTENCE_FINAL if "." in w)
# The longest abbreviation we look back for; bounds the backward scan.
MAX_ABBREVIATION_LENGTH = 12

# After an ambiguous abbreviation or an initial, one of these words starts a new sentence.
SENTENCE_STARTERS = frozenset(
    """The A An I We It He She They You This That These Those There Then But And Or So In On At If When
    What Why How Who Where Which My Our Your His Her Their Its As After Before However Now Many Most Some
    All Each Every Also Yet For To By With Meanwhile Later Finally Next Here Since While Although Though
    Because Yes No Not One Both Even Still Thus Therefore Instead Unfortunately Fortunately Today Tomorrow
    Yesterday Tonight Please Let Do Does Did Is Are Was Were Can Could Will Would Should During From
    Despite Once Soon Such Other Another Everyone Nobody Nothing Everything Someone Afterwards""".split()
)

# --- Regular expressions -----------------------------------------------------------------------------

# An inline list: "1.) The first item 2.) The second item", "a. one b. two", "• 9. one • 10. two". A
# label that starts a block, a line or follows a colon begins a list; each later label that is the next
# number (or letter) in the same style starts a new item, so an item needs no end mark of its own.
LIST_BULLETS = "•⁃‣◦▪●"
_INLINE_LABEL_RE = re.compile(
    rf"(?:(?<=\s)|^)(?P<bullet>[{LIST_BULLETS}][^\S\n]?)?(?P<label>\d{{1,3}}|[A-Za-z])(?P<style>\.\)|\)|\.)(?=[^\S\n])",
    re.M,
)
# A book or film title in 《》 holds its own marks: "《摔跤吧！爸爸》好吗？" is one sentence.
_TITLE_RE = re.compile(r"《[^《》\n]{1,64}》")
# Dots spaced out as an ellipsis: ". . ." (three: an omission inside a sentence) or ". . . ." (four: an
# omission and the sentence's full stop).
_SPACED_DOTS_RE = re.compile(r"\.(?:[ \u00a0]\.)+")
# A full stop with no space before the next sentence: "Hello world.Today", "1,000.That". The word after
# is capitalized and then lower case, and neither side is part of an address ("Jane.Doe@example.com",
# "www.Example.Com/a"; the side before is checked by _is_plain_word_before).
_ATTACHED_NEXT_RE = re.compile(r"[A-Z][a-z]+(?![\w@/\\-]|\.[A-Za-z])")
# Times that may end a sentence ("at 6 P.M. Mr. Smith then went"): after this many words of the sentence
# a time is more likely its end than the adverb that opens it ("At 5 a.m. Mr. Smith went").
TIME_OPENS_SENTENCE_WORDS = 3
TIMES = frozenset({"a.m", "p.m"})
# A citation right after a closing quotation mark: "(Smith 55)." ends the quotation's sentence.
_CITATION_RE = re.compile(r"\([^()\n]{1,60}\)[.!?]")
# How far back a word glued to the next sentence is looked for ("world.Today").
MAX_ATTACHED_WORD = 40

# One scan finds every place a sentence may end: a blank line, a line break (extractors join wrapped
# lines, so one left inside a block is meant), or a run of end marks with the closing quotes and
# brackets after it. An English run directly followed by anything but white space, CJK or a capitalized
# word ("3.14", "example.com", "Yahoo!Inc") never ends a sentence, so the scan skips it rather than hand
# it to Python, and so does one followed by a lower-case word ('"Stop." he said', "e.g. the"): that keeps
# the loop over candidates short.
_ENDS = re.escape(SENTENCE_ENDS)
_CLOSE = re.escape(CLOSERS)
_SCAN_RE = re.compile(
    r"(?P<para>\n[^\S\n]*\n(?:[^\S\n]*\n)*|\u2029)"
    r"|(?P<line>\n)"
    rf"|(?P<end>[{_ENDS}]+)(?:(?<=[{re.escape(''.join(CJK_ENDS))}…])"
    rf"|(?=[{_CLOSE}]*(?:\s|\Z|[{CJK}{re.escape(''.join(CJK_OPENERS))}]))"
    rf"(?![{_CLOSE}]*\s+[{re.escape(OPENERS)}]*[a-z])"
    r"|(?<=[a-z\d]\.)(?=[A-Z][a-z]))"
    rf"(?P<close>[{_CLOSE}]*)"
)
# What follows a candidate end: white space, opening quotes or brackets, then the first real character.
_FOLLOW_RE = re.compile(rf"(\s*)[{re.escape(OPENERS)}]*(.?)", re.S)
_ASCII_WORD_RE = re.compile(r"[A-Za-z]+")
_ROMAN_RE = re.compile(r"[IVXLC]+\b")
_LIST_LABEL_RE = re.compile(r"\d{1,3}|[IVXivx]{1,4}|[A-Za-z]")
_DOTTED_RE = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S.A, N.Y, e.g
_CJK_CHAR_RE = re.compile(f"[{CJK}]")
_CJK_CONTEXT_RE = re.compile(f"[{CJK}{CJK_PUNCT}]")
_CONTENT_RE = re.compile(r"[^\W_]")
_NON_SPACE_RE = re.compile(r"\S")

_LETTER = rf"(?:[^\W_{CJK}]|[{COMBINING}])"
# Bounded: a "word" of a million letters (a hostile or broken file) is read as many tokens, so the
# regular expressions never keep a backtracking state per character (that cost ~110 bytes a character).
MAX_TOKEN_CHARS = 64
_WORD = (rf"[^\W_{CJK}]{_LETTER}{{0,{MAX_TOKEN_CHARS - 1}}}"
         rf"(?:['’.\-]{_LETTER}{{1,{MAX_TOKEN_CHARS}}}){{0,{MAX_TOKEN_CHARS // 4}}}")
# A token: a word (internal ' ’ . - allowed), one CJK character, or one punctuation mark (a run of the
# same mark, like "..." or "——", is one mark).
_TOKEN = rf"{_WORD}|[{CJK}][{COMBINING}]{{0,8}}|([^\w\s]|_)\1{{0,{MAX_TOKEN_CHARS - 1}}}"
_TOKEN_RE = re.compile(_TOKEN)
_HAN_RE = re.compile(f"[{HAN}]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")

# detect_lang: "zh" when Han characters are at least this share of the letters (Han + Latin).
ZH_SHARE = 0.3

# Cutting long sentences: a clause cut is taken only if the piece before it has at least this share of
# the limit, so a long sentence is not cut into a string of two-word scraps (else: the last space).
MIN_CLAUSE_PIECE_SHARE = 0.25
# Chinese marks and em dashes are clause marks wherever they stand; ", ; :" only before white space (not
# "1,000", "12:30", "http://"); a hyphen or en dash only with spaces around it ("a - b", not "well-known"
# or "1990–2000"); "--" stands for a dash. Closing quotes right after the mark go with it ("，”").
_CLAUSE_RE = re.compile(
    rf"([，、；：—―‒]+|--+|[,;:](?=\s|\Z)|(?<=\s)[-–](?=\s))([{re.escape(CLOSERS)}]*)"
)
_LAST_SPACE_RE = re.compile(r"(?s:.*\S)(?=\s)")  # up to the last white space inside the window
_LAST_CJK_RE = re.compile(rf"(?s:.*)[{CJK}][{COMBINING}]*")  # up to the end of the last CJK character


# --- Public API --------------------------------------------------------------------------------------


def count_tokens(text: str) -> int:
    """Words, CJK characters and punctuation marks: the unit of the speech stage's length limit."""
    return len(_TOKEN_RE.findall(text))


def detect_lang(text: str) -> str:
    """"zh" when Han characters make up at least ~30% of the letters (Han + Latin), else "en"."""
    han = len(_HAN_RE.findall(text))
    if not han:
        return "en"
    latin = len(_LATIN_RE.findall(text))
    return "zh" if han >= ZH_SHARE * (han + latin) else "en"


def split_sentences(text: str, max_tokens: int = DEFAULT_MAX_TOKENS) -> list[tuple[int, int]]:
    """Sentence spans (start, end) into `text`, stripped of white space, in order, each <= max_tokens."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    spans: list[tuple[int, int]] = []
    prev = 0
    for cut in [*_sentence_breaks(text), len(text)]:
        first = _NON_SPACE_RE.search(text, prev, cut)
        if first is not None:
            start = first.start()
            end = cut
            if text[end - 1].isspace():  # only after a blank line, a list break or at the end of text
                end = start + len(text[start:end].rstrip())
            # Tokens never outnumber characters, so short sentences skip the count; and the count stops
            # at the limit, so a huge run-on text is not counted in full.
            if end - start > max_tokens and _window_re(max_tokens).match(text, start, end).end() < end:
                spans.extend(_cut_long(text, start, end, max_tokens))
            else:
                spans.append((start, end))
        prev = cut
    return spans


def document_sentences(doc: Document, max_tokens: int = DEFAULT_MAX_TOKENS) -> list[Sentence]:
    """The document's sentences, block by block (a heading is never merged with its paragraph), with
    offsets in Document.text. A sentence with no letters (a lone number) takes its block's language."""
    sentences: list[Sentence] = []
    for index, block in enumerate(doc.blocks):
        block_lang: str | None = None
        for start, end in split_sentences(block.text, max_tokens):
            text = block.text[start:end]
            if _HAN_RE.search(text) or _LATIN_RE.search(text):
                lang = detect_lang(text)
            else:
                block_lang = block_lang or detect_lang(block.text)
                lang = block_lang
            sentences.append(
                Sentence(len(sentences), text, block.start + start, block.start + end, index, lang)
            )
    return sentences


# --- Finding sentence ends ---------------------------------------------------------------------------


def _sentence_breaks(text: str) -> list[int]:
    """Offsets where one sentence ends and the next may begin (white space between is stripped later)."""
    breaks: list[int] = []
    last = 0  # where the current sentence began
    has_content = False  # whether text[last:searched] has a letter, digit or CJK character
    searched = 0
    skip_until = 0  # end marks before this offset were already decided (the dots of a spaced ellipsis)
    items = _inline_list_items(text)
    item = 0
    titles = _TITLE_RE.finditer(text) if "《" in text else iter(())
    title = next(titles, None)
    for m in _SCAN_RE.finditer(text):
        start, close_stop = m.span()
        # An inline list item starts before this candidate: end the sentence before its label.
        while item < len(items) and items[item] <= start:
            if items[item] > last and _CONTENT_RE.search(text, last, items[item]) is not None:
                breaks.append(items[item])
                last = searched = items[item]
                has_content = False
            item += 1
        if m.lastgroup != "close":  # a blank line or a line break: always a break
            breaks.append(start)
            last = searched = close_stop
            has_content = False
            continue
        if start < skip_until:
            continue
        while title is not None and title.end() <= start:
            title = next(titles, None)
        if title is not None and title.start() < start:  # inside 《...》
            continue
        end_stop = m.end("end")
        # A run of marks with no word before it (a leading "..." or a stray "?") stays with its sentence.
        # The search resumes where the last one stopped, so a long run of bare marks stays linear.
        if not has_content:
            has_content = (start > 0 and text[start - 1].isalnum()) or (
                _CONTENT_RE.search(text, searched, start) is not None
            )
            searched = max(searched, start)
            if not has_content:
                continue
        dots = _SPACED_DOTS_RE.match(text, start) if end_stop == start + 1 and text[start] == "." else None
        if dots is not None:
            skip_until = dots.end()
            cut = _spaced_dots_end(text, start, dots.end(), last)
            if cut is not None:
                breaks.append(cut)
                last = searched = cut
                has_content = False
            continue
        if _is_sentence_end(text, start, end_stop, close_stop, last):
            breaks.append(close_stop)
            last = searched = close_stop
            has_content = False
    for pos in items[item:]:
        if pos > last and _CONTENT_RE.search(text, last, pos) is not None:
            breaks.append(pos)
            last = pos
    return breaks


def _inline_list_items(text: str) -> list[int]:
    """Where the second and later items of inline lists begin: "1.) A 2.) B", "a. one b. two"."""
    if len(text) < 8:
        return []
    starts: list[int] = []
    want: tuple[str, str] | None = None  # the next label and its style
    for m in _INLINE_LABEL_RE.finditer(text):
        label, style = m.group("label"), m.group("style")
        if want is not None and (label, style) == want:
            starts.append(m.start())
        elif _is_list_label(text, m.start(), 0) and (label.isdigit() or label in "aA"):
            pass  # a new list begins here
        else:
            continue
        nxt = str(int(label) + 1) if label.isdigit() else chr(ord(label) + 1)
        want = (nxt, style)
    return starts


def _spaced_dots_end(text: str, start: int, stop: int, sentence_start: int) -> int | None:
    """Where a sentence ends at the spaced dots text[start:stop], if it does. Three dots are an omission
    inside the sentence; four are an omission and its full stop. Four dots right after a word are that
    word's full stop and then an omission that opens the next sentence ("compounds. . . . The")."""
    close_stop = stop
    while close_stop < len(text) and text[close_stop] in CLOSERS:
        close_stop += 1
    if (stop - start + 1) // 2 < 4:  # an omission: as "...", a new sentence only if one clearly begins
        follow = _FOLLOW_RE.match(text, close_stop)
        return close_stop if _opens_after_ellipsis(text, follow.group(2), follow.start(2)) else None
    if start > 0 and not text[start - 1].isspace():
        after = _FOLLOW_RE.match(text, close_stop).group(2)
        return start + 1 if _CONTENT_RE.match(after) else None
    return close_stop if _is_sentence_end(text, stop - 1, stop, close_stop, sentence_start) else None


def _opens_after_ellipsis(text: str, first: str, first_at: int) -> bool:
    """After an ellipsis a capital or Chinese begins a new sentence, but not "I", which is a capital
    inside sentences too ("the thing is . . . I didn't mean it")."""
    if _CJK_CHAR_RE.match(first):
        return True
    if not first.isupper():
        return False
    return not (first == "I" and not text[first_at + 1:first_at + 2].isalpha())


def _is_sentence_end(text: str, start: int, end_stop: int, close_stop: int, sentence_start: int) -> bool:
    """Decide whether the end marks text[start:end_stop], closers up to close_stop, end a sentence."""
    if close_stop >= len(text):
        return True
    marks = text[start:end_stop]
    closed = close_stop > end_stop
    nxt = text[close_stop]

    # "." alone is by far the most common case: skip the tests for the other kinds.
    plain = marks == "."
    chinese = not plain and (
        not CJK_ENDS.isdisjoint(marks)
        or ("…" in marks and start > 0 and _CJK_CONTEXT_RE.match(text, start - 1) is not None)
    )
    if chinese:
        if nxt.isspace():
            return True
        if nxt in CONTINUATIONS:
            return False
        # A full-width decimal point: "３．１４".
        return not (marks == "．" and text[start - 1 : start].isdigit() and nxt.isdigit())

    exclamation = not plain and not EXCLAMATIONS.isdisjoint(marks)
    ellipsis = not plain and not exclamation

    if not nxt.isspace():
        # Attached to what follows: "3.14", "example.com/a.b", "user.name@x.org", "Yahoo!Inc" go on;
        # Chinese right after an English mark ("I like it.我也是") is a new sentence, unless the mark
        # closes an abbreviation ("在U.S.A.读书"), and so is a capitalized word after a full stop that
        # ends a plain word ("Hello world.Today").
        if _CJK_CHAR_RE.match(nxt) or nxt in CJK_OPENERS:
            return not (plain and not closed and _abbreviation_kind(text, start, sentence_start))
        return (plain and not closed and _ATTACHED_NEXT_RE.match(text, close_stop) is not None
                and _is_plain_word_before(text, start, sentence_start)
                and _abbreviation_kind(text, start, sentence_start) is None)

    follow = _FOLLOW_RE.match(text, close_stop)
    newline = "\n" in follow.group(1)
    first = follow.group(2)
    first_at = follow.start(2)
    if not first:
        return True
    if first.islower():  # '"Stop." he said', "e.g. the", "Wait... what"
        return False
    cjk_next = _CJK_CHAR_RE.match(first) is not None
    if closed and text[first_at - 1] == "(" and _CITATION_RE.match(text, first_at - 1):
        return False  # '"... stairways [...]" (Smith 55).': the citation belongs to the quotation
    if ellipsis:
        return _opens_after_ellipsis(text, first, first_at)
    if plain and text[end_stop] == ")" and _abbreviation_kind(text, start, sentence_start) == "list":
        return False  # "1.) The first item"
    if exclamation or closed:
        return True
    if first in ".…":  # the middle of a spaced ellipsis ". . ."
        return False

    kind = _abbreviation_kind(text, start, sentence_start)
    if kind is None:
        return True
    if kind in ("title", "never", "list"):
        return False
    if kind == "number":
        return not (first.isdigit() or _ROMAN_RE.match(text, first_at))
    if kind == "initial":
        return _is_sentence_starter(text, first_at)
    # kind == "final": "etc.", "a.m.", "Inc.", "U.S." may end a sentence.
    if first.isdigit() or not (first.isupper() or cjk_next):
        return False
    if newline:
        return True
    if cjk_next:
        return False
    return _is_sentence_starter(text, first_at) or _is_closing_time(text, start, sentence_start)


def _is_closing_time(text: str, dot: int, sentence_start: int) -> bool:
    """ "at 6 P.M." well into a sentence, before a capitalized word, ends it; "At 5 a.m." opening one
    does not."""
    if text[max(0, dot - 3):dot].lower() not in TIMES or text[dot - 4:dot - 3].isalpha():
        return False
    return len(text[sentence_start:dot].split()) > TIME_OPENS_SENTENCE_WORDS


def _is_plain_word_before(text: str, dot: int, sentence_start: int) -> bool:
    """The token before the full stop at `dot` is a plain word or number ("world", "1,000"), not part of
    an address, a file name or a dotted abbreviation."""
    i = dot
    lo = max(sentence_start, dot - MAX_ATTACHED_WORD)
    while i > lo and not text[i - 1].isspace():
        if text[i - 1] in "./@:\\":
            return False
        i -= 1
    if i == lo and lo > sentence_start:
        return False
    return i < dot and (text[dot - 1].islower() or text[dot - 1].isdigit())


def _abbreviation_kind(text: str, dot: int, sentence_start: int) -> str | None:
    """What the word before the period at `dot` is: "title", "never" (e.g.), "number" (No.),
    "final" (etc.), "initial" (W.), "list" (a list label like "1." at a line start) or None."""
    lo = max(sentence_start, dot - MAX_ABBREVIATION_LENGTH)
    i = dot
    while i > lo and (text[i - 1] in ASCII_LETTERS or text[i - 1] == "."):
        i -= 1
    if i == dot:  # no letters: maybe a list number, or "N°."
        if text[max(0, dot - 2):dot] in ("N°", "n°"):
            return "number"
        while i > lo and text[i - 1].isdigit():
            i -= 1
        word = text[i:dot]
    else:
        word = text[i:dot].lstrip(".")
        if "." in word and word.lower() not in DOTTED_WORDS and not _DOTTED_RE.fullmatch(word):
            word = word.rsplit(".", 1)[1]  # "Tuesday.Mr": the abbreviation is "Mr"
        i = dot - len(word)
    if not word:
        return None
    before = text[i - 1] if i > 0 else ""
    # "3rd." or "café." is a word and "v2.0." a version, not an abbreviation or a list label; a CJK
    # character before ("在U.S.A.") is fine.
    if before and (before.isalnum() or (before == "." and word.isdigit())) and not _CJK_CHAR_RE.match(before):
        return None
    if _LIST_LABEL_RE.fullmatch(word) and _is_list_label(text, i, sentence_start):
        return "list"
    if word.isdigit():
        return None
    lower = word.lower()
    if lower in NEVER_FINAL:
        return "never"
    capitalized = word[0].isupper()
    if capitalized and lower in TITLES:
        return "title"
    if len(word) == 1 and capitalized:  # before BEFORE_NUMBER: "P. Smith" is an initial, "p. 5" a page
        return "initial"
    if lower in BEFORE_NUMBER:
        return "number"
    if lower in SENTENCE_FINAL or (capitalized and lower in MONTHS) or _DOTTED_RE.fullmatch(word):
        return "final"
    return None


def _is_list_label(text: str, label: int, sentence_start: int) -> bool:
    """A label like "1." or "IV." is a list label when it starts the sentence or a line, or follows ':'."""
    i = label
    while i > sentence_start and text[i - 1] in HORIZONTAL_SPACE:
        i -= 1
    if i > sentence_start and text[i - 1] in LIST_BULLETS:  # "• 9." or "⁃9."
        i -= 1
        while i > sentence_start and text[i - 1] in HORIZONTAL_SPACE:
            i -= 1
    return i <= sentence_start or text[i - 1] in "\n:："


def _is_sentence_starter(text: str, pos: int) -> bool:
    """A common sentence-opening word at pos ("The", "I", "We"), not itself an initial ("A. Smith")."""
    m = _ASCII_WORD_RE.match(text, pos)
    if m is None or text[m.end() : m.end() + 1] == ".":
        return False
    word = m.group()
    return word in SENTENCE_STARTERS or word.capitalize() in SENTENCE_STARTERS


# --- Cutting long sentences --------------------------------------------------------------------------


def _cut_long(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into pieces of at most max_tokens tokens, between tokens, preferring (in this
    order) the last clause mark, the last space, the last CJK character boundary, then any boundary.

    Each step is a regular expression over one window of max_tokens tokens, so a megabyte-long
    "sentence" (a text with no end marks) is cut in linear time."""
    window_re = _window_re(max_tokens)
    min_clause_piece = max(1, int(max_tokens * MIN_CLAUSE_PIECE_SHARE))
    pieces: list[tuple[int, int]] = []
    pos = start
    while True:
        window_end = window_re.match(text, pos, end).end()  # the end of the max_tokens-th token
        if window_end >= end:
            pieces.append((pos, end))
            return pieces
        cut = _clause_cut(text, pos, window_end, end)
        if cut is not None and count_tokens(text[pos:cut]) < min_clause_piece:
            cut = None
        if cut is None:
            space = _LAST_SPACE_RE.match(text, pos, window_end)
            cut = space.end() if space else _boundary_cut(text, pos, window_end)
        pieces.append((pos, cut))
        pos = _NON_SPACE_RE.search(text, cut, end).start()


_WINDOW_RES: dict[int, re.Pattern[str]] = {}


def _window_re(max_tokens: int) -> re.Pattern[str]:
    """A pattern that matches up to max_tokens tokens (and the white space between them)."""
    pattern = _WINDOW_RES.get(max_tokens)
    if pattern is None:
        # One copy of the token pattern, so its back reference (a run of one mark) stays group 1.
        pattern = _WINDOW_RES[max_tokens] = re.compile(rf"(?:\s*(?:{_TOKEN})){{1,{max_tokens}}}")
    return pattern


def _clause_cut(text: str, pos: int, window_end: int, end: int) -> int | None:
    """The end of the last clause mark (with the closing quotes right after it) inside the window."""
    best = None
    # One character past the window, so a comma at its very end can see the space after it.
    for m in _CLAUSE_RE.finditer(text, pos, min(window_end + 1, end)):
        if m.end(1) > window_end:
            break
        if m.start(1) == pos:  # a piece that is only a mark
            continue
        best = m.end() if m.end() <= window_end else m.end(1)
    return best


def _boundary_cut(text: str, pos: int, window_end: int) -> int:
    """No space in the window: cut next to a CJK character, else after the window's last token."""
    nxt = _NON_SPACE_RE.search(text, window_end)
    if _CJK_CHAR_RE.match(text, window_end - 1) or (nxt and _CJK_CHAR_RE.match(nxt.group())):
        return window_end
    last_cjk = _LAST_CJK_RE.match(text, pos, window_end)
    return last_cjk.end() if last_cjk else window_end
