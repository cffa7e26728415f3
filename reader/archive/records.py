"""One archived recording's metadata (`ArchiveEntry`), its JSON form, the field table the exports and
reader/archive/SCHEMA.md follow, and the ids and vault names of an entry's two records."""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from reader.archive import ArchiveError
from reader.terminal import safe_text

SCHEMA_VERSION = 1

# Vault record kinds (reader/vault/records.py KNOWN_KINDS): the FLAC audio, and the metadata as JSON.
AUDIO_KIND = "archive"
META_KIND = "archive-meta"
# Each entry's two records share a vault group of their own, so removing the entry is one atomic
# delete_group that also shreds the group's key. The prefix keeps these groups apart from voices.
GROUP_PREFIX = "archive:"

# Ids shown to the user: "a" and 6 hex digits (16.7 million; a clash is retried, not hoped away).
ID_PREFIX = "a"
ID_HEX_DIGITS = 6
ID_PATTERN = re.compile(rf"{ID_PREFIX}[0-9a-f]{{{ID_HEX_DIGITS}}}")
MAX_ID_TRIES = 100

# One-line fields (names, places, topic) and multi-line ones (transcript, romanization, translation).
MAX_LINE_CHARS = 200
MAX_TEXT_CHARS = 1_000_000
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
DEFAULT_CONSENT_PURPOSE = "keeping this recording in the family's dialect archive"


@dataclass(frozen=True)
class Field:
    """One metadata field as the exports write it: name, JSON type, what it holds, an example."""

    name: str
    type: str
    description: str
    example: Any


@dataclass(frozen=True)
class ArchiveEntry:
    """Everything the archive knows about one recording (the audio itself is a record of its own)."""

    id: str
    date: str
    dialect_code: str | None
    dialect: str
    dialect_zh: str | None
    region: str | None
    speaker: str | None
    speaker_voice: str | None
    topic: str | None
    transcript: str | None
    romanization: str | None
    translation: str | None
    consent_by: str
    consent_purpose: str
    duration_seconds: float
    frames: int
    sample_rate: int
    channels: int
    bits_per_sample: int
    original_file: str
    original_format: str
    sha256: str
    flac_sha256: str
    archived_at: str
    schema_version: int = SCHEMA_VERSION

    @property
    def group(self) -> str:
        return group_for(self.id)

    @property
    def dialect_label(self) -> str:
        return f"{self.dialect} {self.dialect_zh}" if self.dialect_zh else self.dialect

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def for_display(self) -> "ArchiveEntry":
        """A copy fit to print or show: control characters (terminal escapes) taken out of every text,
        line breaks kept only in the transcript, romanization and translation."""
        multiline = {"transcript", "romanization", "translation"}
        return replace(self, **{f.name: safe_text(getattr(self, f.name), keep_newlines=f.name in multiline)
                                for f in fields(self) if isinstance(getattr(self, f.name), str)})

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, allow_nan=False).encode("utf-8")

    @classmethod
    def from_json(cls, obj: object) -> "ArchiveEntry":
        """An entry from its JSON object; ArchiveError when it is not one (a newer schema, a damaged record)."""
        if not isinstance(obj, dict):
            raise ArchiveError("An archive description is not a JSON object; the record is damaged.")
        version = obj.get("schema_version")
        if type(version) is int and version > SCHEMA_VERSION:
            raise ArchiveError("This archive was written by a newer version of the reader; update the reader.")
        names = {f.name for f in fields(cls)}
        missing = names - set(obj) - {"schema_version"}
        if missing:
            raise ArchiveError(f"An archive description lacks {', '.join(sorted(missing))}; the record is damaged.")
        values = {k: obj[k] for k in names if k in obj}
        for field in FIELDS:
            value = values.get(field.name)
            if not _has_type(value, field.type):
                raise ArchiveError(f"The archive field {field.name} holds {safe_text(repr(value))[:80]}, not "
                                   f"{field.type}; the record is damaged.")
        # The id names files in an export: a description from a backup may be hostile ("../../x").
        if not ID_PATTERN.fullmatch(values["id"]):
            raise ArchiveError("An archive description has an id that is not \"a\" and 6 hex digits; "
                               "the record is damaged.")
        return cls(**values)

    @classmethod
    def from_bytes(cls, data: bytes) -> "ArchiveEntry":
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ArchiveError("An archive description is not valid JSON; the record is damaged.") from None
        return cls.from_json(obj)


def _has_type(value: object, type_name: str) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "string or null": lambda v: v is None or isinstance(v, str),
        "integer": lambda v: type(v) is int,
        "number": lambda v: type(v) in (int, float),
    }
    return checks[type_name](value)


FIELDS: tuple[Field, ...] = (
    Field("id", "string", "The recording's short id, \"a\" and 6 hex digits; stable for the life of the "
          "recording (also the FLAC file name in an export).", "a3f9c1e"),
    Field("date", "string", "The day it was recorded, ISO 8601 (YYYY-MM-DD); the day it was archived unless given.",
          "2024-02-10"),
    Field("dialect_code", "string or null", "Stable code of a known dialect (see the dialect table); "
          "null for a dialect typed in freely.", "sichuanese"),
    Field("dialect", "string", "English name of a known dialect, or the free entry exactly as typed.", "Sichuanese"),
    Field("dialect_zh", "string or null", "Chinese name of a known dialect; null for a free entry.", "四川话"),
    Field("region", "string or null", "Where the speaker's dialect is from (town, county, province).",
          "成都市金牛区 Chengdu"),
    Field("speaker", "string or null", "Who speaks, as typed.", "王秀英"),
    Field("speaker_voice", "string or null", "The name of the voice in the vault when the speaker is one "
          "(the same person's enrolled voice); null otherwise.", "grandma"),
    Field("topic", "string or null", "What the recording is about.", "过年包汤圆"),
    Field("transcript", "string or null", "What is said, in the dialect's own writing; may span lines.",
          "我们那个时候过年要包汤圆。"),
    Field("romanization", "string or null", "A romanization of the transcript (pinyin, Jyutping, POJ, ...).",
          "wǒmen nàge shíhou guònián yào bāo tāngyuán."),
    Field("translation", "string or null", "A translation (e.g. into Mandarin or English).",
          "In those days we made tangyuan for the New Year."),
    Field("consent_by", "string", "Who agreed to the recording being kept (required).", "王秀英"),
    Field("consent_purpose", "string", "What they agreed to.", DEFAULT_CONSENT_PURPOSE),
    Field("duration_seconds", "number", "Length in seconds (frames / sample_rate, rounded to the millisecond).",
          12.5),
    Field("frames", "integer", "Length in sample frames (one frame holds a sample of every channel).", 551250),
    Field("sample_rate", "integer", "Samples per second per channel, as recorded.", 44100),
    Field("channels", "integer", "Channels, as recorded (1 mono, 2 stereo).", 2),
    Field("bits_per_sample", "integer", "Bits per sample of the FLAC (16 or 24): the original's, or 24 for "
          "a float or 32-bit original (the most FLAC holds).", 16),
    Field("original_file", "string", "The name of the file it was archived from (without its folder); "
          "\"(recorded with the microphone)\" for a recording made in the reader.",
          "奶奶-2024-02-10.wav"),
    Field("original_format", "string", "The original's container and sample format, as libsndfile names them; "
          "\"microphone PCM_16\" for a recording made in the reader.",
          "WAV PCM_16"),
    Field("sha256", "string", "SHA-256 (hex) of the original file's bytes: tells whether a file elsewhere "
          "is the one archived (for a recording made in the reader, of the FLAC).",
          "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    Field("flac_sha256", "string", "SHA-256 (hex) of the FLAC as archived, which is recordings/<id>.flac "
          "of a plaintext export byte for byte.",
          "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"),
    Field("archived_at", "string", "When it was archived, ISO 8601 UTC to the second.", "2024-02-11T09:30:00Z"),
    Field("schema_version", "integer", f"Version of this layout ({SCHEMA_VERSION}); raised only when a "
          "field changes meaning.", SCHEMA_VERSION),
)

FIELD_NAMES = tuple(f.name for f in FIELDS)


def group_for(entry_id: str) -> str:
    return GROUP_PREFIX + entry_id


def is_archive_group(group: str | None) -> bool:
    """Whether a vault group holds an archive entry (a voice list should leave these out)."""
    return group is not None and group.startswith(GROUP_PREFIX)


def normalize_id(text: str) -> str:
    """An id as typed (" A3F9C1E") in the form stored ("a3f9c1e")."""
    return text.strip().lower()


def new_entry_id(taken: set[str]) -> str:
    for _ in range(MAX_ID_TRIES):
        candidate = ID_PREFIX + secrets.token_hex((ID_HEX_DIGITS + 1) // 2)[:ID_HEX_DIGITS]
        if candidate not in taken:
            return candidate
    raise ArchiveError("No free recording id was found; the archive is unusually full.")


def clean_line(value: str | None, what: str) -> str | None:
    """A one-line field: stripped, None when empty, refused when too long or holding control characters."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_LINE_CHARS:
        raise ArchiveError(f"The {what} is at most {MAX_LINE_CHARS} characters long.")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ArchiveError(f"The {what} must be one line of text.")
    return value


def clean_text(value: str | None, what: str) -> str | None:
    """A multi-line field: line breaks and tabs kept, other control characters refused."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_TEXT_CHARS:
        raise ArchiveError(f"The {what} is at most {MAX_TEXT_CHARS:,} characters long.")
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\r\t" for c in value):
        raise ArchiveError(f"The {what} holds control characters; give it as plain text.")
    return value



def group_problem(group: str, records: list) -> str | None:
    """What is wrong with an archive entry's group from a backup (RecordInfo-like records with their data,
    None when large): it must hold the FLAC and a description of the same id, and nothing else."""
    entry_id = group[len(GROUP_PREFIX):]
    if not ID_PATTERN.fullmatch(entry_id):
        return "its id is not \"a\" and 6 hex digits"
    kinds = sorted((info.kind, info.name) for info, _ in records)
    if kinds != sorted([(AUDIO_KIND, entry_id), (META_KIND, entry_id)]):
        return "it does not hold exactly one recording and its description"
    meta = next(data for info, data in records if info.kind == META_KIND)
    try:
        entry = ArchiveEntry.from_bytes(meta or b"")
    except ArchiveError as exc:
        return f"its description is damaged ({exc.message})"
    if entry.id != entry_id:
        return "its description names another recording"
    return None
