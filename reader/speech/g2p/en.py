"""English text -> misaki phonemes (the alphabet Kokoro was trained on), from misaki's US lexicons.

Lexicon logic adapted from misaki/en.py (Apache-2.0, hexgrad); context rules replace its spaCy tagger.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
import threading
import time
import unicodedata
from pathlib import Path
from dataclasses import dataclass

from reader.speech.g2p import lts
from reader.speech.g2p.ipa import to_espeak_ipa

__all__ = ["phonemize", "to_espeak_ipa", "load_lexicon", "Lexicon"]

log = logging.getLogger(__name__)

LEXICON_PACKAGE = "misaki.data"
GOLD_FILE = "us_gold.json"
SILVER_FILE = "us_silver.json"
PACKED_NAME = "en-us.lexicon"

PRIMARY = "ˈ"
SECONDARY = "ˌ"
STRESSES = SECONDARY + PRIMARY
VOWELS = frozenset("AIOQWYaiuæɑɒɔəɛɜɪʊʌᵻ")
CONSONANTS = frozenset("bdfhjklmnpstvwzðŋɡɹɾʃʒʤʧθ")
DIPHTHONGS = frozenset("AIOQWYʤʧ")
# Vowels (and ɹ) after which misaki turns a t into a flap: better, writing.
US_TAUS = frozenset("AIOWYiuæɑəɛɪɹʊʌ")
# Punctuation kept as phonemes: every one is a symbol of Kokoro's vocab.
PUNCTUATION = frozenset(';:,.!?—…"“”()')
NON_QUOTE_PUNCTUATION = frozenset(";:,.!?—…")
# Punctuation with no phoneme of its own but the same meaning as one that has.
PUNCTUATION_ALIASES = {"–": "—", "[": "(", "]": ")", "{": "(", "}": ")", "«": "“", "»": "”", "„": "“"}
# Symbols read as words (misaki's SYMBOLS).
SYMBOL_WORDS = {"%": "percent", "&": "and", "+": "plus", "@": "at"}
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Kokoro v1.0 was trained on misaki output with these rewrites (misaki's G2P for version != "2.0").
KOKORO_V1_REWRITES = str.maketrans({"ɾ": "T", "ʔ": "t"})
# misaki's stress for Capitalized and ALL-CAPS words (Lexicon.cap_stresses).
CAPITALIZED_STRESS = 0.5
ALL_CAPS_STRESS = 2
# All-caps words this long that the lexicon lacks are read letter by letter (USB, FAQ).
SPELLED_CAPS_LENGTHS = range(2, 6)
# Share of all-caps words above which a sentence is a heading, so its capitals are not acronyms.
HEADING_CAPS_SHARE = 0.6
# Recursion depth for morphological fallbacks (care-less-ness).
MORPHOLOGY_DEPTH = 2
MIN_STEM = 3

# --- context cues standing in for a part-of-speech tagger --------------------------------------
VERB_CUES = frozenset(
    "to will would can could shall should may might must do does did don't doesn't didn't won't "
    "wouldn't can't cannot couldn't shouldn't mustn't let's please let i'll you'll we'll they'll "
    "he'll she'll it'll gonna wanna".split()
)
PERFECT_CUES = frozenset("have has had having i've you've we've they've".split())
COPULA_CUES = frozenset(
    "is are was were be been being am it's that's he's she's get gets got getting become became "
    "seems seemed feel feels felt look looks looked very so too more most less quite".split()
)
NOMINAL_CUES = frozenset(
    "the a an this that these those my your his her its our their some any no every each another "
    "such whose of for in on at from with without into about under over by new old good great big "
    "small whole".split()
)
SUBJECT_CUES = frozenset("i you we they he she it who people nobody everyone someone".split())
THIRD_PERSON_SUBJECTS = frozenset("he she it someone everyone nobody".split())
OBJECT_STARTS = frozenset(
    "the a an this that these those it them me him her us my your his our their some all every "
    "each up down out off back".split()
)
PAST_CUES = frozenset("yesterday ago last earlier previously formerly once was were had did".split())
SKIPPABLE_ADVERBS = frozenset(
    "not never just also always often still really only already even then usually sometimes "
    "actually probably finally".split()
)
FUNCTION_WORDS = frozenset(
    "of in on at to for from by with and or but if as than that which who what is are was were be "
    "it its this these those there here".split()
)
# All-caps words that are shouted words, not acronyms.
CAPS_WORDS = frozenset(
    "to in on at of and or the no not is are was be do go so my me we he she you but all can now "
    "how why who yes oh ok hey a an i".split()
)
# "lead" is the one common homograph the lexicons do not key by part of speech: the metal (lɛd)
# before these nouns, or after these words at a phrase end ("made of lead."); the verb (lid) otherwise.
LEAD_METAL = "lˈɛd"
LEAD_METAL_NEXT = frozenset(
    "pipe pipes paint poisoning pencil pencils weight weights shot balloon crystal glass acetate "
    "ore oxide mine mines levels exposure sheet sheets".split()
)
LEAD_METAL_PREV = frozenset("of with from as".split())

# --- morphology fallbacks ------------------------------------------------------------------------
SUFFIXES = (
    ("ness", "nəs"), ("less", "ləs"), ("ment", "mənt"), ("ments", "mənts"), ("ful", "fəl"),
    ("ly", "li"), ("ers", "əɹz"), ("er", "əɹ"), ("est", "əst"), ("ism", "ˌɪzəm"), ("ist", "ɪst"),
    ("ists", "ɪsts"), ("able", "əbᵊl"), ("ish", "ɪʃ"), ("ize", "ˌIz"), ("ings", "ɪŋz"),
    ("ship", "ʃˌɪp"), ("hood", "hˌʊd"),
)
PREFIXES = (
    ("under", "ˌʌndəɹ"), ("over", "ˌOvəɹ"), ("super", "sˌupəɹ"), ("inter", "ˌɪntəɹ"),
    ("micro", "mˌIkɹO"), ("multi", "mˌʌlti"), ("anti", "ˌænti"), ("semi", "sˌɛmi"), ("mega", "mˌɛɡə"),
    ("auto", "ˌɔɾO"), ("non", "nˌɑn"), ("pre", "pɹˌi"), ("dis", "dˌɪs"), ("mis", "mˌɪs"),
    ("out", "ˌWt"), ("sub", "sˌʌb"), ("un", "ˌʌn"), ("re", "ɹˌi"), ("co", "kˌO"),
)
# Endings after an apostrophe that attach to any word: 's 'll 're 've 'd 'm and n't.
CLITICS = ("s", "ll", "re", "ve", "d", "m", "t")
# LEXICON_ORDS of misaki: the characters lexicon keys are made of.
_LEXICON_CHARS = frozenset("'-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

# Parts of a camelCase word: a lowercase run, or capitals followed by lowercase letters.
_CAMEL_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")

_TOKEN_RE = re.compile(
    r"""
    (?P<abbr>(?:[A-Za-z]\.){2,})                                # U.S., e.g.
   |(?P<word>['’]?[^\W\d_]+(?:['’\-][^\W\d_]+)*['’]?)         # words, inner ' and - included
   |(?P<digits>\d+)
   |(?P<ellipsis>\.{3,}|…)
   |(?P<dash>-{2,}|[—–]|(?<=\s)-(?=\s))
   |(?P<space>\s+)
   |(?P<other>.)
    """,
    re.VERBOSE,
)


def stress_weight(ps: str) -> int:
    return sum(2 if c in DIPHTHONGS else 1 for c in ps) if ps else 0


def apply_stress(ps: str | None, stress: float | None) -> str | None:
    """misaki's apply_stress: demote (<0), strip (<-1), add or promote (>0) a word's stresses."""

    def restress(ps: str) -> str:
        ips = list(enumerate(ps))
        moves = {i: next(j for j, v in ips[i:] if v in VOWELS) for i, p in ips if p in STRESSES}
        for i, j in moves.items():
            ips[i] = (j - 0.5, ips[i][1])
        return "".join(p for _, p in sorted(ips))

    if ps is None or stress is None:
        return ps
    if stress < -1:
        return ps.replace(PRIMARY, "").replace(SECONDARY, "")
    if stress == -1 or (stress in (0, -0.5) and PRIMARY in ps):
        return ps.replace(SECONDARY, "").replace(PRIMARY, SECONDARY)
    if stress in (0, 0.5, 1) and all(s not in ps for s in STRESSES):
        if all(v not in ps for v in VOWELS):
            return ps
        return restress(SECONDARY + ps)
    if stress >= 1 and PRIMARY not in ps and SECONDARY in ps:
        return ps.replace(SECONDARY, PRIMARY)
    if stress > 1 and all(s not in ps for s in STRESSES):
        if all(v not in ps for v in VOWELS):
            return ps
        return restress(PRIMARY + ps)
    return ps


def _parent_tag(tag: str | None) -> str | None:
    if tag is None:
        return None
    if tag.startswith("VB"):
        return "VERB"
    if tag.startswith("NN"):
        return "NOUN"
    if tag.startswith(("ADV", "RB")):
        return "ADV"
    if tag.startswith(("ADJ", "JJ")):
        return "ADJ"
    return tag


@dataclass(frozen=True)
class _Context:
    """What the words to the right tell the current one (misaki's TokenContext)."""

    future_vowel: bool | None = None  # None: a pause (punctuation or the end) follows
    future_to: bool = False


class Lexicon:
    """misaki's US gold and silver dictionaries with its lookup, stress and -s/-ed/-ing rules."""

    def __init__(self, gold: dict, silver: dict) -> None:
        self.gold = gold
        self.silver = silver

    # misaki grows both dictionaries with case variants; looking the variants up on demand gives
    # the same answers without doubling the memory.
    @staticmethod
    def _get(d: dict, word: str):
        v = d.get(word)
        if v is None and len(word) > 1:
            lower = word.lower()
            if word == lower:
                cap = word.capitalize()
                if cap != word and cap == cap.lower().capitalize():
                    v = d.get(cap)
            elif word == lower.capitalize() and lower != lower.capitalize():
                v = d.get(lower)
        return v

    def in_gold(self, word: str) -> bool:
        return self._get(self.gold, word) is not None

    def in_silver(self, word: str) -> bool:
        return self._get(self.silver, word) is not None

    def homograph(self, word: str) -> dict | None:
        """The part-of-speech keyed gold entry of a word ({"DEFAULT": ..., "VERB": ...}), if any."""
        entry = self._get(self.gold, word.lower())
        return entry if isinstance(entry, dict) else None

    def is_known(self, word: str) -> bool:
        if self.in_gold(word) or self.in_silver(word):
            return True
        if not word.isalpha() or not all(c in _LEXICON_CHARS for c in word):
            return False
        if len(word) == 1:
            return True
        if word == word.upper() and self.in_gold(word.lower()):
            return True
        # Unknown capitals are acronyms to spell, but only short ones (see SPELLED_CAPS_LENGTHS).
        return len(word) in SPELLED_CAPS_LENGTHS and word[1:] == word[1:].upper()

    def letters(self, word: str) -> str | None:
        """misaki's get_NNP: a word spelled letter by letter, the last letter stressed."""
        ps = [self._get(self.gold, c.upper()) for c in word if c.isalpha()]
        if not ps or any(p is None or isinstance(p, dict) for p in ps):
            return None
        joined = apply_stress("".join(ps), 0)
        if SECONDARY not in joined:
            return joined
        head, _, tail = joined.rpartition(SECONDARY)
        return f"{head}{PRIMARY}{tail}"

    def lookup(self, word: str, tag: str | None, stress: float | None, ctx: _Context | None) -> str | None:
        is_nnp = False
        if word == word.upper() and not self.in_gold(word):
            word = word.lower()
            is_nnp = tag == "NNP"
        ps = self._get(self.gold, word)
        if ps is None and not is_nnp:
            ps = self._get(self.silver, word)
        if isinstance(ps, dict):
            if ctx is not None and ctx.future_vowel is None and "None" in ps:
                tag = "None"
            elif tag not in ps:
                tag = _parent_tag(tag)
            ps = ps.get(tag, ps["DEFAULT"])
        if ps is None or (is_nnp and PRIMARY not in ps):
            spelled = self.letters(word)
            if spelled is not None:
                return spelled
        return apply_stress(ps, stress)

    def special_case(self, word: str, tag: str | None, stress: float | None, ctx: _Context) -> str | None:
        if word in SYMBOL_WORDS:
            return self.lookup(SYMBOL_WORDS[word], None, None, ctx)
        if "." in word.strip(".") and word.replace(".", "").isalpha() and len(max(word.split("."), key=len)) < 3:
            return self.letters(word)
        if word in ("a", "A"):
            return "ɐ" if tag == "DT" else "ˈA"
        if word in ("am", "Am", "AM"):
            if tag and tag.startswith("NN"):
                return self.letters(word)
            if ctx.future_vowel is None or word != "am" or (stress and stress > 0):
                return self.gold["am"]
            return "ɐm"
        if word in ("an", "An", "AN"):
            if word == "AN" and tag and tag.startswith("NN"):
                return self.letters(word)
            return "ɐn"
        if word == "I" and tag == "PRP":
            return f"{SECONDARY}I"
        if word in ("to", "To") or (word == "TO" and tag in ("TO", "IN")):
            return {None: self.gold["to"], False: "tə", True: "tʊ"}[ctx.future_vowel]
        if word in ("in", "In") or (word == "IN" and tag != "NNP"):
            return (PRIMARY if ctx.future_vowel is None or tag != "IN" else "") + "ɪn"
        if word in ("the", "The") or (word == "THE" and tag == "DT"):
            return "ði" if ctx.future_vowel is True else "ðə"
        if word in ("used", "Used", "USED"):
            return self.gold["used"]["VBD" if ctx.future_to else "DEFAULT"]
        return None

    # -- misaki's suffix rules ---------------------------------------------------------------------
    @staticmethod
    def add_s(stem: str | None) -> str | None:
        if not stem:
            return None
        if stem[-1] in "ptkfθ":
            return stem + "s"
        if stem[-1] in "szʃʒʧʤ":
            return stem + "ᵻz"
        return stem + "z"

    @staticmethod
    def add_ed(stem: str | None) -> str | None:
        if not stem:
            return None
        if stem[-1] in "pkfθʃsʧ":
            return stem + "t"
        if stem[-1] == "d":
            return stem + "ᵻd"
        if stem[-1] != "t":
            return stem + "d"
        if len(stem) < 2:
            return stem + "ɪd"
        if stem[-2] in US_TAUS:
            return stem[:-1] + "ɾᵻd"
        return stem + "ᵻd"

    @staticmethod
    def add_ing(stem: str | None) -> str | None:
        if not stem:
            return None
        if len(stem) > 1 and stem[-1] == "t" and stem[-2] in US_TAUS:
            return stem[:-1] + "ɾɪŋ"
        return stem + "ɪŋ"

    def stem_s(self, word, tag, stress, ctx):
        if len(word) < 3 or not word.endswith("s"):
            return None
        if not word.endswith("ss") and self.is_known(word[:-1]):
            stem = word[:-1]
        elif (
            word.endswith("'s") or (len(word) > 4 and word.endswith("es") and not word.endswith("ies"))
        ) and self.is_known(word[:-2]):
            stem = word[:-2]
        elif len(word) > 4 and word.endswith("ies") and self.is_known(word[:-3] + "y"):
            stem = word[:-3] + "y"
        else:
            return None
        return self.add_s(self.lookup(stem, tag, stress, ctx))

    def stem_ed(self, word, tag, stress, ctx):
        if len(word) < 4 or not word.endswith("d"):
            return None
        if not word.endswith("dd") and self.is_known(word[:-1]):
            stem = word[:-1]
        elif len(word) > 4 and word.endswith("ed") and not word.endswith("eed") and self.is_known(word[:-2]):
            stem = word[:-2]
        else:
            return None
        return self.add_ed(self.lookup(stem, tag, stress, ctx))

    def stem_ing(self, word, tag, stress, ctx):
        if len(word) < 5 or not word.endswith("ing"):
            return None
        if len(word) > 5 and self.is_known(word[:-3]):
            stem = word[:-3]
        elif self.is_known(word[:-3] + "e"):
            stem = word[:-3] + "e"
        elif len(word) > 5 and re.search(r"([bcdgklmnprstvxz])\1ing$|cking$", word) and self.is_known(word[:-4]):
            stem = word[:-4]
        else:
            return None
        return self.add_ing(self.lookup(stem, tag, stress, ctx))

    def get_word(self, word: str, tag: str | None, stress: float | None, ctx: _Context) -> str | None:
        """misaki's Lexicon.get_word: special cases, lookup with case folding, -s/-ed/-ing stems."""
        ps = self.special_case(word, tag, stress, ctx)
        if ps is not None:
            return ps
        wl = word.lower()
        if (
            len(word) > 1
            and word.replace("'", "").isalpha()
            and word != wl
            and (tag != "NNP" or len(word) > 7)
            and not self.in_gold(word)
            and not self.in_silver(word)
            and (word == word.upper() or word[1:] == word[1:].lower())
            and (
                self.in_gold(wl)
                or self.in_silver(wl)
                or any(fn(wl, tag, stress, ctx) for fn in (self.stem_s, self.stem_ed, self.stem_ing))
            )
        ):
            word = wl
        if self.is_known(word):
            return self.lookup(word, tag, stress, ctx)
        if word.endswith("s'") and self.is_known(word[:-2] + "'s"):
            return self.lookup(word[:-2] + "'s", tag, stress, ctx)
        if word.endswith("'") and self.is_known(word[:-1]):
            return self.lookup(word[:-1], tag, stress, ctx)
        for fn in (self.stem_s, self.stem_ed):
            ps = fn(word, tag, stress, ctx)
            if ps is not None:
                return ps
        return self.stem_ing(word, tag, 0.5 if stress is None else stress, ctx)

    # -- fallbacks for words no lexicon rule covers ---------------------------------------------
    def _known_or_morph(self, word: str, depth: int) -> str | None:
        ps = self.get_word(word, None, None, _Context(future_vowel=False))
        if ps is None and depth > 0:
            ps = self.morphology(word, depth - 1)
        return ps

    def morphology(self, word: str, depth: int = MORPHOLOGY_DEPTH) -> str | None:
        """Known stem + suffix, known prefix + word, or two known words run together."""
        w = word.lower()
        for stem_rule, add in (("s", self.add_s), ("es", self.add_s), ("ed", self.add_ed), ("ing", self.add_ing)):
            if w.endswith(stem_rule) and len(w) - len(stem_rule) >= MIN_STEM:
                for stem in _stem_candidates(w[: -len(stem_rule)]):
                    ps = self._known_or_morph(stem, depth)
                    if ps:
                        return add(ps)
        for suffix, suffix_ps in SUFFIXES:
            if w.endswith(suffix) and len(w) - len(suffix) >= MIN_STEM:
                for stem in _stem_candidates(w[: -len(suffix)]):
                    ps = self._known_or_morph(stem, depth)
                    if ps:
                        return ps + suffix_ps
        for prefix, prefix_ps in PREFIXES:
            if w.startswith(prefix) and len(w) - len(prefix) >= MIN_STEM:
                ps = self._known_or_morph(w[len(prefix):], depth)
                if ps:
                    return prefix_ps + ps
        for k in range(len(w) - MIN_STEM, MIN_STEM - 1, -1):
            left, right = w[:k], w[k:]
            if self.in_gold(left) and self.in_gold(right):
                lps = self.lookup(left, None, None, None)
                rps = self.lookup(right, None, None, None)
                if lps and rps:
                    return lps + apply_stress(rps, -1)
        return None


def _stem_candidates(stem: str) -> list[str]:
    """The stem as cut, with a silent e restored, a doubled consonant undone, or i back to y."""
    out = [stem, stem + "e"]
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "aeiousl":
        out.append(stem[:-1])
    if stem.endswith("i"):
        out.append(stem[:-1] + "y")
    return out


_lexicon: Lexicon | None = None
_lexicon_lock = threading.Lock()


def lexicon_places() -> list[Path]:
    """Where the packed lexicon is looked for, and made if missing: beside the built-in voice packs (made
    at setup), then the user's cache."""
    from reader.settings import default_home
    from reader.speech.packs import builtin_pack_dir

    return [builtin_pack_dir().parent / "lexicon", default_home() / "cache" / "lexicon"]


def load_lexicon(places: list[Path] | None = None) -> Lexicon:
    """Load both dictionaries once and keep them for the process: packed (reader.speech.g2p.packed),
    about 6 MB and a few milliseconds, where a packed copy of these very sources exists or can be made."""
    global _lexicon
    if _lexicon is None:
        with _lexicon_lock:
            if _lexicon is None:
                from reader.speech.g2p import packed

                start = time.perf_counter()
                files = importlib.resources.files(LEXICON_PACKAGE)
                sources = [files.joinpath(GOLD_FILE).read_bytes(), files.joinpath(SILVER_FILE).read_bytes()]
                gold, silver = packed.load_or_pack(sources, lexicon_places() if places is None else places,
                                                   PACKED_NAME)
                _lexicon = Lexicon(gold, silver)
                log.debug("English lexicons loaded in %.3f s", time.perf_counter() - start)
    return _lexicon


# --- tokens and context -------------------------------------------------------------------------
@dataclass
class _Token:
    text: str
    kind: str  # "word" or "punct"
    space_after: bool = False
    phonemes: str = ""


def _ascii_word(word: str) -> str:
    """Accents off (café -> cafe), curly apostrophes straight; letters outside a-z are dropped."""
    word = word.replace("’", "'")
    if word.isascii():
        return word
    stripped = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return "".join(c for c in stripped if c.isascii())


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for m in _TOKEN_RE.finditer(text):
        kind, value = m.lastgroup, m.group()
        if kind == "space":
            if tokens:
                tokens[-1].space_after = True
            continue
        if kind == "word" or kind == "abbr":
            word = _ascii_word(value)
            if word.strip("'-"):
                tokens.append(_Token(word, "word"))
            else:
                log.debug("dropping a word with no Latin letters: %r", value)
        elif kind == "digits":  # the text stage spells numbers out; read stray digits one by one
            tokens.extend(_Token(DIGIT_WORDS[int(d)], "word", space_after=True) for d in value)
            tokens[-1].space_after = False
        elif kind == "ellipsis":
            tokens.append(_Token("…", "punct"))
        elif kind == "dash":
            tokens.append(_Token("—", "punct"))
        elif value in SYMBOL_WORDS:
            tokens.append(_Token(SYMBOL_WORDS[value], "word"))
        else:
            mark = PUNCTUATION_ALIASES.get(value, value)
            if mark in PUNCTUATION:
                tokens.append(_Token(mark, "punct"))
            elif tokens and not tokens[-1].space_after:
                tokens[-1].space_after = True  # a dropped symbol (/, *, #) still separates words
    return tokens


_SENTENCE_ENDS = frozenset(".!?…")


def _clauses(tokens: list[_Token]) -> list[int]:
    """Sentence number of each token, to scope past-tense cues and heading detection."""
    out, n = [], 0
    for tk in tokens:
        out.append(n)
        if tk.kind == "punct" and tk.text in _SENTENCE_ENDS:
            n += 1
    return out


class _Tagger:
    """Just enough part of speech for misaki's POS-keyed homographs and special cases."""

    def __init__(self, tokens: list[_Token], lexicon: Lexicon) -> None:
        self.tokens = tokens
        self.lexicon = lexicon
        self.sentence = _clauses(tokens)
        words_by_sentence: dict[int, list[str]] = {}
        for tk, s in zip(tokens, self.sentence):
            if tk.kind == "word":
                words_by_sentence.setdefault(s, []).append(tk.text)
        self.past = {s: any(w.lower() in PAST_CUES for w in ws) for s, ws in words_by_sentence.items()}
        self.heading = {}
        for s, ws in words_by_sentence.items():
            long_words = [w for w in ws if len(w) > 1]
            caps = sum(1 for w in long_words if w.isupper())
            self.heading[s] = bool(long_words) and caps / len(long_words) >= HEADING_CAPS_SHARE and caps > 1

    def _prev_index(self, i: int) -> int | None:
        for j in range(i - 1, -1, -1):
            tk = self.tokens[j]
            if tk.kind != "word":
                return None
            if tk.text.lower() not in SKIPPABLE_ADVERBS:
                return j
        return None

    def _prev(self, i: int) -> str | None:
        j = self._prev_index(i)
        return None if j is None else self.tokens[j].text.lower()

    def _prev_is_name(self, i: int) -> bool:
        """A Capitalized word inside the sentence, like "Jones" in "Dr Jones read it"."""
        j = self._prev_index(i)
        if j is None:
            return False
        text = self.tokens[j].text
        if not (text[:1].isupper() and text[1:].islower()) or text.lower() in FUNCTION_WORDS:
            return False
        if j == 0 or self.sentence[j - 1] != self.sentence[j]:
            # Every first word is Capitalized: only a lexicon entry spelled so marks a name (Mary).
            return text in self.lexicon.gold
        return True

    def _next(self, i: int) -> str | None:
        if i + 1 < len(self.tokens) and self.tokens[i + 1].kind == "word":
            return self.tokens[i + 1].text.lower()
        return None

    def tag(self, i: int) -> str | None:
        word = self.tokens[i].text
        wl = word.lower()
        nxt = self._next(i)
        if wl in ("the", "an"):
            return "DT"
        if wl == "a":
            return "DT" if nxt is not None else "NN"
        if word == "I":
            return "PRP"
        if wl == "in":
            return "IN"
        if wl == "to":
            return "TO"
        if (
            word.isupper()
            and len(word) in SPELLED_CAPS_LENGTHS
            and word.isalpha()
            and wl not in CAPS_WORDS
            and not self.heading.get(self.sentence[i], False)
        ):
            return "NNP"
        entry = self.lexicon.homograph(wl)
        if entry is not None:
            return self._homograph_tag(i, entry, nxt)
        return None

    def _homograph_tag(self, i: int, entry: dict, nxt: str | None) -> str | None:
        """Penn-style tag from neighbours; lookup() maps it onto the entry's keys or DEFAULT."""
        prev = self._prev(i)
        if prev in VERB_CUES:
            return "VB"
        if prev in PERFECT_CUES:
            return "VBN"
        if prev in COPULA_CUES:
            return "VBN" if "VBN" in entry else "JJ"
        if prev in NOMINAL_CUES:
            return "JJ" if nxt is not None and nxt not in FUNCTION_WORDS else "NN"
        if prev in SUBJECT_CUES or self._prev_is_name(i):
            # A third-person subject with a bare verb form means the past: "she read it".
            if prev in THIRD_PERSON_SUBJECTS or prev not in SUBJECT_CUES or self.past.get(self.sentence[i], False):
                return "VBD"
            return "VB"
        if nxt in OBJECT_STARTS:
            return "VB"
        return None

    def lead_is_metal(self, i: int) -> bool:
        nxt = self._next(i)
        return nxt in LEAD_METAL_NEXT or (nxt is None and self._prev(i) in LEAD_METAL_PREV)


def _future_vowel(ps: str, current: bool | None) -> bool | None:
    """misaki's token_context: does the next sound start with a vowel, or is there a pause?"""
    for c in ps:
        if c in NON_QUOTE_PUNCTUATION:
            return None
        if c in VOWELS:
            return True
        if c in CONSONANTS:
            return False
    return current


def _join_parts(texts: list[str], parts: list[str]) -> str:
    """misaki's resolve_tokens for a hyphenated word: demote the weaker half of the stresses."""
    indices = [(PRIMARY in ps, stress_weight(ps), i) for i, ps in enumerate(parts) if ps]
    if len(indices) == 2 and len(texts[indices[0][2]]) == 1:
        i = indices[1][2]
        parts[i] = apply_stress(parts[i], -0.5)
    elif len(indices) >= 2 and sum(b for b, _, _ in indices) > (len(indices) + 1) // 2:
        for _, _, i in sorted(indices)[: len(indices) // 2]:
            parts[i] = apply_stress(parts[i], -0.5)
    return "".join(parts)


class _Phonemizer:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    def word(self, word: str, tag: str | None, ctx: _Context) -> str:
        lex = self.lexicon
        if word.startswith("'") and not lex.in_gold(word):  # an opening quote, not 'cause or 'em
            word = word.lstrip("'")
        if not word:
            return ""
        stress = None if word == word.lower() else (ALL_CAPS_STRESS if word == word.upper() else CAPITALIZED_STRESS)
        ps = lex.get_word(word, tag, stress, ctx)
        if ps is None and "-" in word:
            texts = [p for p in word.split("-") if p]
            ps = _join_parts(texts, [self.word(p, None, ctx) for p in texts])
        if ps is None:
            ps = self.fallback(word, tag, stress, ctx)
        return ps or ""

    def fallback(self, word: str, tag: str | None, stress: float | None, ctx: _Context) -> str | None:
        lex = self.lexicon
        base, apostrophe, clitic = word.rpartition("'")
        if apostrophe and base and clitic.lower() in CLITICS:
            return self._with_clitic(base, clitic.lower(), ctx)
        bare = word.replace("'", "")
        if not bare.isalpha():
            return None
        humps = _CAMEL_RE.findall(bare)
        if len(humps) > 1:  # iPhone, eBay, JavaScript: misaki's subtokenizer splits these too
            return _join_parts(humps, [self.word(h, None, ctx) for h in humps])
        if bare.isupper() and len(bare) in SPELLED_CAPS_LENGTHS:
            spelled = lex.letters(bare)
            if spelled:
                return spelled
        ps = lex.morphology(bare)
        if ps is None:
            ps = lts.spell_out(bare)
            log.debug("spelling rules for unknown word %r: %s", word, ps)
        return apply_stress(ps, stress)

    def _with_clitic(self, base: str, clitic: str, ctx: _Context) -> str | None:
        if clitic == "t" and base.lower().endswith("n"):  # mightn't, needn't: base + n't
            ps = self.word(base[:-1], None, ctx)
            return ps + ("nt" if ps and ps[-1] in VOWELS else "ᵊnt") if ps else None
        ps = self.word(base, None, ctx)
        if not ps:
            return None
        after_vowel = ps[-1] in VOWELS
        if clitic == "s":
            return Lexicon.add_s(ps)
        if clitic == "ll":
            return ps + ("l" if after_vowel else "ᵊl")
        if clitic == "re":
            return ps + ("ɹ" if after_vowel else "əɹ")
        if clitic == "ve":
            return ps + ("v" if after_vowel else "əv")
        if clitic == "d":
            return ps + ("d" if after_vowel else "ᵻd")
        if clitic == "m":
            return ps + "m"
        return ps

    def __call__(self, text: str) -> str:
        tokens = _tokenize(text)
        tagger = _Tagger(tokens, self.lexicon)
        ctx = _Context()
        # Right to left, as misaki does: "the" and "to" depend on the sound that follows them.
        for i in range(len(tokens) - 1, -1, -1):
            tk = tokens[i]
            if tk.kind == "punct":
                tk.phonemes = tk.text
            else:
                wl = tk.text.lower()
                if wl == "lead" and tagger.lead_is_metal(i):
                    tk.phonemes = LEAD_METAL
                else:
                    tk.phonemes = self.word(tk.text, tagger.tag(i), ctx)
            ctx = _Context(
                future_vowel=_future_vowel(tk.phonemes, ctx.future_vowel),
                future_to=tk.kind == "word" and tk.text in ("to", "To", "TO"),
            )
        out = []
        for tk in tokens:
            if tk.phonemes:
                out.append(tk.phonemes)
                if tk.space_after:
                    out.append(" ")
            elif out and tk.space_after and not out[-1].endswith(" "):
                out.append(" ")
        return "".join(out).strip().translate(KOKORO_V1_REWRITES)


def phonemize(text: str) -> str:
    """Normalized English text (numbers spelled out) -> misaki phonemes with punctuation kept.

    Words are separated by single spaces; ɾ and ʔ are written T and t as Kokoro v1.0 expects.
    """
    return _Phonemizer(load_lexicon())(text)
