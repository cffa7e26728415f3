"""The consent record kept with every voice: who is recorded, who records, who consented, what for, when,
and optionally the person's own spoken consent. Asked before anything is recorded; no consent, no voice."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass
from typing import Any, Callable

from reader.errors import ReaderError

# Read aloud by the person, when they give spoken consent; {name}, {purpose} filled in.
CONSENT_SENTENCE = ("I, {name}, agree that my voice is recorded and kept on this computer for this purpose: "
                    "{purpose}; I know it can be deleted at any time.")
CONSENT_FORMAT = 1
# Answers of a few words; a purpose or a name longer than this was pasted by mistake.
MAX_ANSWER_CHARS = 500


class ConsentError(ReaderError):
    """Consent was not given, or a consent answer is missing; nothing was recorded or stored."""

    title = "Consent"


REFUSED = "Enrollment stopped: without the person's consent no voice is recorded or kept."


@dataclass(frozen=True)
class Consent:
    """One voice's consent. `spoken` tells whether a spoken consent recording is stored with it."""

    subject: str  # whose voice is recorded
    consent_by: str  # who gave consent (the person, or a guardian for a child)
    recorded_by: str  # who makes the recording
    purpose: str  # what the voice will be used for
    given_at: str  # ISO 8601 date and time with offset
    spoken: bool = False
    format: int = CONSENT_FORMAT

    def __post_init__(self) -> None:
        for field_name in ("subject", "consent_by", "recorded_by", "purpose"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not value.strip():
                raise ConsentError(f"The consent record needs {_QUESTION_NAMES[field_name]}; {REFUSED}")
            if len(value) > MAX_ANSWER_CHARS:
                raise ConsentError(f"The answer for {_QUESTION_NAMES[field_name]} is longer than "
                                   f"{MAX_ANSWER_CHARS} characters; shorten it.")

    @classmethod
    def now(cls, subject: str, consent_by: str, purpose: str, recorded_by: str | None = None,
            *, spoken: bool = False) -> "Consent":
        return cls(subject=subject.strip(), consent_by=consent_by.strip(),
                   recorded_by=(recorded_by or consent_by).strip(), purpose=purpose.strip(),
                   given_at=_dt.datetime.now().astimezone().isoformat(timespec="seconds"), spoken=spoken)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> "Consent":
        try:
            doc = json.loads(data.decode("utf-8"))
            return cls(**{k: doc[k] for k in ("subject", "consent_by", "recorded_by", "purpose", "given_at")},
                       spoken=bool(doc.get("spoken", False)), format=int(doc.get("format", CONSENT_FORMAT)))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise ConsentError("The consent record of this voice cannot be read; delete the voice and "
                               "enroll it again.") from None

    def summary(self) -> str:
        """One line for `voices list`: "by Anna for reading stories, 2025-03-01 (spoken)"."""
        who = self.consent_by if self.consent_by == self.subject else f"{self.consent_by} for {self.subject}"
        spoken = ", spoken consent kept" if self.spoken else ""
        return f"consent by {who} to {self.purpose}, {self.given_at[:10]}{spoken}"


_QUESTION_NAMES = {"subject": "whose voice is recorded", "consent_by": "who gives consent",
                   "recorded_by": "who makes the recording", "purpose": "what the voice is for"}


def ask(subject: str, *, ask_line: Callable[[str], str] | None = None, say: Callable[[str], None] = print,
        consent_by: str | None = None, recorded_by: str | None = None, purpose: str | None = None) -> Consent:
    """Ask each consent question at a prompt (answers given on the command line are not asked again).

    Refuses (ConsentError) on an empty answer to a required question, on any answer but yes to the
    consent question itself, and on end of input.
    """
    ask_line = ask_line or input
    say(f"Before {subject}'s voice is recorded, a few questions about consent. The answers are kept, "
        "encrypted, with the voice.")
    try:
        consent_by = consent_by or _required(ask_line(f"Who gives consent for recording {subject}'s voice "
                                                      f"({subject}, or a parent or guardian)? "), "consent_by")
        recorded_by = recorded_by or ask_line(f"Who is making the recording? [{consent_by}] ").strip() or consent_by
        purpose = purpose or _required(ask_line("What will the voice be used for (e.g. reading books aloud "
                                                "to the family)? "), "purpose")
        answer = ask_line(f"Does {consent_by} agree that {subject}'s voice is recorded and kept on this "
                          f"computer for that, knowing it can be deleted at any time? (yes/no) ")
    except (EOFError, OSError):  # no terminal: standard input closed or not readable
        raise ConsentError(f"No answer was given; {REFUSED}") from None
    if answer.strip().lower() not in ("y", "yes"):
        raise ConsentError(REFUSED)
    return Consent.now(subject, consent_by, purpose, recorded_by)


def _required(answer: str, field_name: str) -> str:
    if not answer.strip():
        raise ConsentError(f"No answer for {_QUESTION_NAMES[field_name]}; {REFUSED}")
    return answer.strip()


def consent_sentence(consent: Consent) -> str:
    return CONSENT_SENTENCE.format(name=consent.subject, purpose=consent.purpose.rstrip("."))


def consent_meta(consent: Consent) -> dict[str, Any]:
    """What goes into the (encrypted) index entry: nothing beyond the record itself."""
    return {"format": consent.format, "spoken": consent.spoken}
