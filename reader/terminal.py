"""Text from records and backups made fit to show on a terminal or a screen: what was stored may hold
escape sequences (a crafted backup), and printing them would let the file drive the terminal."""

from __future__ import annotations

import json
import re
import unicodedata


# What a terminal or a screen must never receive from stored text: C0 and C1 controls (ESC starts a
# terminal escape sequence), DEL, and the bidirectional overrides that reorder what is shown.
_UNSAFE = {c for c in range(0x20)} | {0x7F} | set(range(0x80, 0xA0)) | {
    0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F}


def safe_text(value: object, *, keep_newlines: bool = False) -> str:
    """`value` as text fit to show: control characters (terminal escapes) removed, tabs and, unless kept,
    line breaks as spaces. For everything read from a record or a backup before it is printed."""
    text = "" if value is None else str(value)
    keep = "\n" if keep_newlines else ""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in keep:
            out.append(ch)
        elif ch in "\t\r\n":
            out.append(" ")
        elif code in _UNSAFE or unicodedata.category(ch) == "Cs":
            continue
        else:
            out.append(ch)
    return "".join(out)


# json.dumps escapes C0 controls itself (and writes line breaks of `indent` outside strings).
_UNSAFE_PATTERN = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_UNSAFE) if c >= 0x20) + "]")


def safe_json(obj: object, **kwargs: object) -> str:
    """json.dumps(obj, ensure_ascii=False, ...) with every control or bidi character written as a \\uXXXX
    escape: the same data for a program, nothing a terminal acts on."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    return _UNSAFE_PATTERN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
