"""Chinese number words through cn2an (imported on first use), plus digit-by-digit reading."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

ZH_DIGITS = "零一二三四五六七八九"
# cn2an refuses integers longer than this; longer ones are read digit by digit.
CN2AN_MAX_DIGITS = 16
_DIGIT_TABLE = str.maketrans("0123456789", ZH_DIGITS)


@lru_cache(maxsize=1)
def _an2cn():
    import cn2an  # slow to import (it loads its own tables), so only when Chinese numbers appear

    return cn2an.an2cn


def _ascii(text: str) -> str:
    """Other scripts' decimal digits (Arabic-Indic, Devanagari...) as ASCII, which cn2an needs."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.digit(ch)) if ch.isdecimal() else ch for ch in text)


def digits(text: str) -> str:
    """'2026' -> '二零二六'; non-digits are dropped."""
    return "".join(ch for ch in _ascii(text) if ch.isdecimal()).translate(_DIGIT_TABLE)


def cardinal(text: str) -> str:
    """'-1,234.5' -> '负一千二百三十四点五'; leading zeros and over-long integers by digit."""
    text = _ascii(text).replace(",", "").replace("\u2212", "-")
    negative = text.startswith("-")
    body = text[1:] if negative else text
    whole, _, frac = body.partition(".")
    if (len(whole) > 1 and whole.startswith("0")) or len(whole) > CN2AN_MAX_DIGITS:
        spoken = digits(whole)
    else:
        spoken = _an2cn()(whole or "0")
    if frac:
        spoken += "点" + digits(frac)
    return ("负" + spoken) if negative else spoken


def two_digit(n: int) -> str:
    """Minutes and seconds: 5 -> '零五', 30 -> '三十'."""
    return "零" + ZH_DIGITS[n] if n < 10 else cardinal(str(n))
