"""How strong a new passphrase must be: a floor that stops the passphrases an attacker tries first (one
letter, spaces, "password"), not a guarantee. Only new passphrases are checked; an old vault still opens."""

from __future__ import annotations

# At 0.5-1 s a guess (the calibrated Argon2id), 8 characters of a few kinds or three words are out of
# reach of a guessing run on one machine; fewer, or one character repeated, are not.
MIN_CHARS = 8
MIN_DISTINCT = 5
# The commonest passwords of the public leak lists that are 8 characters or longer; the floor above
# catches the rest of the short ones.
COMMON = frozenset({
    "password", "password1", "password123", "passw0rd", "12345678", "123456789", "1234567890", "qwertyuiop",
    "qwerty123", "iloveyou", "11111111", "00000000", "abcdefgh", "abcd1234", "1q2w3e4r", "1qaz2wsx",
    "sunshine", "princess", "football", "baseball", "whatever", "trustno1", "letmein1", "welcome1",
    "superman", "starwars", "asdfghjk", "zaq12wsx", "qazwsxedc", "87654321", "12341234", "admin123",
})


def passphrase_problem(passphrase: str) -> str | None:
    """One sentence on why `passphrase` is too weak for a new vault or backup, or None."""
    text = passphrase.strip()
    if not text:
        return "The passphrase is empty or only spaces; choose a few words only you would put together."
    if len(text) < MIN_CHARS:
        return (f"The passphrase has {len(text)} character{'s' if len(text) != 1 else ''}; use at least "
                f"{MIN_CHARS} (a few words only you would put together are easy to remember).")
    if len(set(text.casefold())) < MIN_DISTINCT:
        return f"The passphrase repeats too few characters; use at least {MIN_DISTINCT} different ones."
    if text.casefold() in COMMON:
        return "That passphrase is among the most common ones and is guessed first; choose another."
    return None
