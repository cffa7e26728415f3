"""Letter-to-sound rules for English words missing from the lexicons, in misaki's US alphabet.

A compact context-rule set in the style of the NRL rules (Elovitz et al., 1976), plus a stress guess.
"""

from __future__ import annotations

import functools
import re

# Context shorthands: V a vowel letter, C a consonant letter, # the word boundary.
_SHORTHANDS = {"V": "[aeiouy]", "C": "[bcdfghjklmnpqrstvwxz]", "#": "#"}
# The right context of a vowel in an open "magic e" syllable (time, taped, hoping).
_MAGIC = "C(?:e|es|ed|ing)#"

# (graphemes, left context, right context, phonemes): the first match, in order, wins.
_RULES: tuple[tuple[str, str, str, str], ...] = (
    # a
    ("augh", "", "", "ɔ"), ("au", "", "", "ɔ"), ("aw", "", "", "ɔ"),
    ("ai", "", "", "A"), ("ay", "", "", "A"),
    ("are", "", "#", "ɛɹ"), ("arr", "", "", "ɛɹ"), ("ar", "w", "", "ɔɹ"),
    ("ar", "", "[aiouy]", "ɛɹ"), ("ar", "", "", "ɑɹ"),
    ("all", "", "", "ɔl"), ("alk", "", "", "ɔk"), ("alt", "", "", "ɔlt"), ("al", "V.*", "#", "əl"),
    ("ation", "", "", "A|ʃən"), ("age", "VC+", "#", "ɪʤ"), ("ate", "V.*", "#", "ət"),
    ("a", "w", "(?:sh|tch|t[^e]|nt|nd|sp|d)", "ɑ"),
    ("a", "", _MAGIC, "A"), ("a", "", "C(?:er|y|ies)#", "A"), ("a", "V.*", "#", "ə"), ("a", "", "", "æ"),
    # e
    ("eau", "", "", "O"), ("eigh", "", "", "A"), ("eer", "", "", "ɪɹ"), ("ee", "", "", "i"),
    ("ear", "", "#", "ɪɹ"), ("ear", "", "C", "ɜɹ"), ("ea", "", "", "i"),
    ("ei", "c", "", "i"), ("ei", "", "", "A"), ("ey", "", "#", "i"), ("ey", "", "", "A"),
    ("ew", "[fvmpbkh]", "", "ju"), ("ew", "", "", "u"), ("eu", "", "", "u"),
    ("ere", "", "#", "ɪɹ"), ("er", "", "[aiouy]", "ɛɹ"), ("er", "", "", "əɹ"),
    ("es", "(?:[sxz]|ch|sh|[cg])", "#", "ᵻz"), ("es", "V.*C", "#", "z"),
    ("ed", "[td]", "#", "ᵻd"), ("ed", "V.*C", "#", "d"),
    ("e", "#C{1,2}", "#", "i"), ("e", "V.*", "#", ""),
    ("e", "", "C(?:e|es|ed)#", "i"), ("e", "", "", "ɛ"),
    # i
    ("igh", "", "", "I"), ("ie", "#C+", "#", "I"), ("ier", "", "#", "i|əɹ"), ("ie", "", "#", "i"),
    ("ie", "", "C", "i"), ("ire", "", "#", "I|əɹ"), ("ir", "", "[aeiouy]", "Iɹ"), ("ir", "", "", "ɜɹ"),
    ("ind", "", "#", "Ind"), ("ild", "", "#", "Ild"), ("ign", "", "#", "In"), ("ique", "", "#", "ik"),
    ("ive", "#C+", "#", "Iv"), ("ive", "", "#", "ɪv"), ("ine", "#C+", "#", "In"), ("ine", "", "#", "in"),
    ("ice", "#C+", "#", "Is"), ("ice", "", "#", "ɪs"), ("ion", "C", "", "jən"),
    ("ious", "", "#", "i|əs"), ("ia", "", "", "i|ə"), ("io", "", "", "i|O"), ("iu", "", "", "i|ə"),
    ("i", "", "C(?:e|es|ed|ing)#", "I"), ("i", "", "", "ɪ"),
    # o
    ("ough", "", "t", "ɔ"), ("ough", "", "", "O"), ("ould", "", "", "ʊd"), ("oo", "", "k", "ʊ"),
    ("oor", "", "", "ɔɹ"), ("oo", "", "", "u"), ("our", "", "", "ɔɹ"), ("ous", "", "#", "əs"),
    ("ou", "", "", "W"), ("ow", "", "#", "O"), ("ow", "", "", "W"), ("oi", "", "", "Y"), ("oy", "", "", "Y"),
    ("oa", "", "", "O"), ("oe", "", "#", "O"), ("ore", "", "#", "ɔɹ"), ("or", "", "", "ɔɹ"),
    ("old", "", "", "Old"), ("olt", "", "", "Olt"), ("oll", "", "#", "Ol"),
    ("o", "", _MAGIC, "O"), ("o", "", "#", "O"), ("o", "", "", "ɑ"),
    # u
    ("ue", "", "#", "u"), ("ui", "", "", "u"), ("ure", "", "#", "jʊɹ"), ("ur", "", "", "ɜɹ"),
    ("us", "V.*", "#", "əs"), ("u", "#", "C[aeiouy]", "ju"), ("u", "#", "", "ʌ"),
    ("u", "(?:[rlj]|ch|sh|s)", _MAGIC, "u"), ("u", "", _MAGIC, "ju"), ("u", "", "", "ʌ"),
    # y
    ("y", "#", "V", "j"), ("y", "#C+", "#", "I"), ("y", "if", "#", "I"), ("y", "", "#", "i"),
    ("y", "", "C(?:e|es|ed)#", "I"),
    ("y", "", "V", "j"), ("y", "", "", "ɪ"),
    # consonants
    ("bb", "", "", "b"), ("b", "", "", "b"),
    ("ch", "", "", "ʧ"), ("ck", "", "", "k"), ("cc", "", "[eiy]", "ks"), ("cc", "", "", "k"),
    ("cial", "", "", "ʃəl"), ("cian", "", "", "ʃən"), ("cious", "", "", "ʃəs"), ("c", "", "[eiy]", "s"),
    ("c", "", "", "k"),
    ("dge", "", "", "ʤ"), ("dd", "", "", "d"), ("d", "", "", "d"),
    ("ff", "", "", "f"), ("ful", "[a-z]", "#", "fəl"), ("f", "", "", "f"),
    ("gh", "#", "", "ɡ"), ("gh", "", "", ""), ("gn", "", "#", "n"), ("gn", "#", "", "n"),
    ("gg", "", "", "ɡ"), ("g", "", "[eiy]", "ʤ"), ("g", "", "", "ɡ"),
    ("h", "#", "", "h"), ("h", "", "V", "h"), ("h", "", "", ""),
    ("j", "", "", "ʤ"),
    ("kn", "#", "", "n"), ("k", "", "", "k"),
    ("ll", "", "", "l"), ("le", "C", "#", "ᵊl"), ("les", "C", "#", "ᵊlz"), ("led", "C", "#", "ᵊld"),
    ("l", "", "", "l"),
    ("mm", "", "", "m"), ("mb", "", "#", "m"), ("m", "", "", "m"),
    ("nn", "", "", "n"), ("ng", "", "", "ŋ"), ("nk", "", "", "ŋk"), ("n", "", "", "n"),
    ("ph", "", "", "f"), ("ps", "#", "", "s"), ("pp", "", "", "p"), ("p", "", "", "p"),
    ("que", "", "#", "k"), ("qu", "", "", "kw"), ("q", "", "", "k"),
    ("rr", "", "", "ɹ"), ("rh", "#", "", "ɹ"), ("r", "", "", "ɹ"),
    ("sch", "#", "", "sk"), ("sh", "", "", "ʃ"), ("ssion", "", "", "ʃən"), ("sion", "V", "", "ʒən"),
    ("sion", "", "", "ʃən"), ("ss", "", "", "s"), ("sure", "V", "", "ʒəɹ"), ("sure", "", "", "ʃəɹ"),
    ("sm", "V", "#", "zəm"), ("s", "V", "V", "z"), ("s", "[bdglmnrvwy]", "#", "z"), ("s", "", "", "s"),
    ("tch", "", "", "ʧ"), ("th", "", "", "θ"), ("tion", "", "", "ʃən"), ("tial", "", "", "ʃəl"),
    ("tious", "", "", "ʃəs"), ("ture", "", "", "ʧəɹ"), ("tt", "", "", "t"), ("t", "", "", "t"),
    ("v", "", "", "v"),
    ("wh", "#", "", "w"), ("wr", "#", "", "ɹ"), ("w", "", "", "w"),
    ("x", "#", "", "z"), ("x", "", "", "ks"),
    ("zz", "", "", "z"), ("z", "", "", "z"),
)

# Marks a syllable boundary inside one rule's phonemes (nation = n + A|ʃən).
_CHUNK_SPLIT = "|"
VOWEL_SYMBOLS = frozenset("AIOWYaeiouæɑɔəɛɜɪʊʌᵻᵊ")
# Vowels that English reduces to a schwa when unstressed.
_REDUCIBLE = {"æ": "ə", "ɑ": "ə", "ʌ": "ə", "ɛ": "ə"}
_VOICELESS = frozenset("ptkfθ")
_ED_VOICELESS = frozenset("pkfθsʃʧ")

# Suffixes that put the stress on the syllable just before them, with their syllable count.
_PRE_STRESSING_SUFFIXES = (
    ("ically", 3), ("ical", 2), ("ity", 2), ("ety", 2), ("ify", 2), ("ogy", 2), ("graphy", 2),
    ("ometer", 3), ("ian", 2), ("ial", 2), ("ious", 2), ("eous", 2), ("ual", 2), ("uous", 2),
    ("tion", 1), ("sion", 1), ("cian", 1), ("cial", 1), ("tial", 1), ("cious", 1), ("tious", 1),
    ("ic", 1), ("ics", 1), ("ular", 2),
)
_FINAL_STRESSING_SUFFIXES = ("ee", "eer", "ese", "ette", "oon", "ique", "esque")
# Prefixes that are usually unstressed in a word of two or more syllables (about, begin, deny).
_UNSTRESSED_PREFIXES = re.compile(
    r"^(?:a(?=[bcdfgjlmnpstvz][aeiouy])|a(?=([bcdfglmnpst])\1)|be|de|re|pre|con|com|ex|ob|per)"
)
# American English flaps a t between a vowel (or r) and an unstressed vowel: water, party.
_FLAP = re.compile(r"(?<=[AIOWYiuæɑəɛɪɹʊʌɔ])t(?=[əɪiᵊoO])")
FLAP = "ɾ"

PRIMARY = "ˈ"


def _expand(context: str) -> str:
    return "".join(_SHORTHANDS.get(ch, ch) for ch in context)


@functools.cache
def _compiled() -> dict[str, list[tuple[str, re.Pattern[str] | None, re.Pattern[str] | None, str]]]:
    """Index the rules by first letter, contexts compiled once."""
    table: dict[str, list[tuple[str, re.Pattern[str] | None, re.Pattern[str] | None, str]]] = {}
    for graphemes, left, right, phonemes in _RULES:
        left_re = re.compile(f"(?:{_expand(left)})$") if left else None
        right_re = re.compile(f"(?:{_expand(right)})") if right else None
        table.setdefault(graphemes[0], []).append((graphemes, left_re, right_re, phonemes))
    return table


def _chunks(word: str) -> list[str]:
    """Phoneme chunks, one per rule applied, so syllables can be found afterwards."""
    rules = _compiled()
    padded = f"#{word}#"
    out: list[str] = []
    i = 1
    while i < len(padded) - 1:
        for graphemes, left_re, right_re, phonemes in rules.get(padded[i], ()):
            end = i + len(graphemes)
            if padded[i:end] != graphemes:
                continue
            if left_re is not None and not left_re.search(padded, 0, i):
                continue
            if right_re is not None and not right_re.match(padded, end):
                continue
            out.extend(phonemes.split(_CHUNK_SPLIT))
            i = end
            break
        else:  # a letter with no rule (only possible for non a-z input): skip it
            i += 1
    return out


def _stressed_syllable(word: str, syllables: int) -> int:
    if syllables < 2:
        return 0
    for suffix in _FINAL_STRESSING_SUFFIXES:
        if word.endswith(suffix):
            return syllables - 1
    for suffix, count in _PRE_STRESSING_SUFFIXES:
        if word.endswith(suffix) and syllables > count:
            return syllables - count - 1
    if _UNSTRESSED_PREFIXES.match(word):
        return 1
    return 0


def _is_nucleus(chunk: str) -> bool:
    # A syllabic l (ᵊl) makes a syllable but never takes the stress.
    return any(c in VOWEL_SYMBOLS for c in chunk) and not chunk.startswith("ᵊ")


def spell_out(word: str) -> str:
    """Phonemes for a lowercase a-z word by spelling rules, with one primary stress."""
    word = "".join(c for c in word.lower() if "a" <= c <= "z")
    if not word:
        return ""
    chunks = _chunks(word)
    nuclei = [k for k, ch in enumerate(chunks) if _is_nucleus(ch)]
    if nuclei:
        stressed = nuclei[min(_stressed_syllable(word, len(nuclei)), len(nuclei) - 1)]
        for k in nuclei:
            ch = chunks[k]
            if k == stressed:
                ch = ch.replace("əɹ", "ɜɹ").replace("ə", "ʌ")
                at = next(j for j, c in enumerate(ch) if c in VOWEL_SYMBOLS)
                ch = ch[:at] + PRIMARY + ch[at:]
            else:
                ch = ch.replace("ɜɹ", "əɹ")
                ch = "".join(_REDUCIBLE.get(c, c) for c in ch)
            chunks[k] = ch
    ps = _FLAP.sub(FLAP, "".join(chunks))
    # A final -s or -ed agrees in voicing with the sound before it (cats, walked).
    if len(ps) > 1 and ps[-1] == "z" and ps[-2] in _VOICELESS:
        ps = ps[:-1] + "s"
    if word.endswith("ed") and len(ps) > 1 and ps[-1] == "d" and ps[-2] in _ED_VOICELESS:
        ps = ps[:-1] + "t"
    return ps
