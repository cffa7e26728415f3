"""English number words: cardinals, ordinals, years, decimals, digit strings and fractions."""

from __future__ import annotations

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
# Short-scale names, as American and modern British English use them.
SCALES = ((10**15, "quadrillion"), (10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
# Past this, a number is read digit by digit: nobody says "one quintillion ..." for an ID.
MAX_CARDINAL = 10**18 - 1

_IRREGULAR_ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}

# Denominators read as fraction words ("three quarters"); others are read "X over Y".
_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def _below_thousand(n: int) -> str:
    words = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words.append(f"{ONES[hundreds]} hundred")
    if rest:
        if rest < 20:
            words.append(ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            words.append(TENS[tens] + (f"-{ONES[ones]}" if ones else ""))
    return " ".join(words)


def cardinal(n: int) -> str:
    """123 -> 'one hundred twenty-three'; no 'and', as in American usage."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n > MAX_CARDINAL:
        return digits(str(n))
    if n < 1000:
        return _below_thousand(n) if n else ONES[0]
    words = []
    for value, name in SCALES:
        count, n = divmod(n, value)
        if count:
            words.append(f"{_below_thousand(count)} {name}")
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal_word(words: str) -> str:
    """Turn the last word of a cardinal into its ordinal: 'twenty-one' -> 'twenty-first'."""
    head, sep, last = words.rpartition(" ")
    prefix, hyphen, unit = last.rpartition("-")
    if unit in _IRREGULAR_ORDINALS:
        unit = _IRREGULAR_ORDINALS[unit]
    elif unit.endswith("y"):
        unit = unit[:-1] + "ieth"
    else:
        unit += "th"
    return head + sep + prefix + hyphen + unit


def ordinal(n: int) -> str:
    return ordinal_word(cardinal(n))


def plural_word(words: str) -> str:
    """'nineteen ninety' -> 'nineteen nineties' (decades); 'hundred' -> 'hundreds'."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith("x"):
        return words + "es"
    return words + "s"


def digits(text: str) -> str:
    """'0421' -> 'zero four two one'; non-digits are skipped."""
    return " ".join(ONES[int(ch)] for ch in text if ch.isdecimal())


def year(n: int) -> str:
    """1999 -> nineteen ninety-nine, 1905 -> nineteen oh five, 1900 -> nineteen hundred,
    2000..2009 -> two thousand (five), 2026 -> twenty twenty-six."""
    if n < 0 or n > 9999:
        return cardinal(n)
    if n < 1000 or (2000 <= n <= 2009) or n % 1000 == 0:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    if low < 10:
        return f"{cardinal(high)} oh {ONES[low]}"
    return f"{cardinal(high)} {cardinal(low)}"


def decimal(text: str) -> str:
    """'1,234.50' -> 'one thousand two hundred thirty-four point five zero'."""
    text = text.replace(",", "")
    negative = text.startswith(("-", "\u2212"))
    if negative:
        text = text[1:]
    whole, _, frac = text.partition(".")
    if len(whole) > 1 and whole.startswith("0"):
        spoken = digits(whole)
    else:
        spoken = cardinal(int(whole or "0"))
    if frac:
        spoken += " point " + digits(frac)
    return ("minus " + spoken) if negative else spoken


def fraction(numerator: int, denominator: int) -> str:
    """1/2 -> one half, 3/4 -> three quarters, 2/3 -> two thirds, 5/8 -> five eighths."""
    num = cardinal(numerator)
    if denominator in _DENOMINATORS:
        singular, plural = _DENOMINATORS[denominator]
    else:
        singular = ordinal(denominator)
        plural = singular + "s"
    return f"{num} {singular if numerator == 1 else plural}"
