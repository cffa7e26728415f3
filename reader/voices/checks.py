"""What a voice's records must be, checked before they are trusted: when a backup is imported (a crafted
one may hold any `voice:X` group) and when a record is read. Each check returns a problem sentence or
None; no numpy, no speech stack, so `reader vault import` stays light."""

from __future__ import annotations

import json
import math
import struct
from typing import Any, Iterable

GROUP_PREFIX = "voice:"  # reader.voices.enroll.GROUP_PREFIX (that module loads numpy)
CONSENT_NAME = "consent"
EMBEDDING_NAME = "ge2e-speaker"
# A speaker embedding is float32; GE2E's has 256 values. Bounds, not the exact size, so another encoder's
# embedding can be kept too; anything outside them is not an embedding.
MIN_EMBEDDING_DIM = 16
MAX_EMBEDDING_DIM = 4096
GE2E_DIM = 256  # the size of the embedding named EMBEDDING_NAME, which verification compares with
PRESET_KINDS = ("embedding", "style", "blend", "stock")
# Small records are read whole for their checks; recordings are checked by their size and meta only.
MAX_CHECKED_BYTES = 8 * 1024 * 1024
KNOWN_KINDS = ("consent", "recording", "embedding", "preset")


def _finite_floats(data: bytes) -> list[float] | None:
    if len(data) % 4:
        return None
    values = list(struct.unpack(f"<{len(data) // 4}f", data))
    return values if all(math.isfinite(v) for v in values) else None


def embedding_problem(data: bytes, meta: dict | None = None) -> str | None:
    values = _finite_floats(data)
    if values is None or not MIN_EMBEDDING_DIM <= len(values) <= MAX_EMBEDDING_DIM:
        return "its speaker embedding is not a list of numbers"
    if (meta or {}).get("dim") not in (None, len(values)):
        return "its speaker embedding has another size than its description says"
    if math.fsum(v * v for v in values) < 1e-12:
        return "its speaker embedding is all zeros"
    return None


def _numbers(value: object) -> bool:
    return (isinstance(value, list) and MIN_EMBEDDING_DIM <= len(value) <= MAX_EMBEDDING_DIM
            and all(type(v) in (int, float) and math.isfinite(v) for v in value))


def _fit_problem(entry: object) -> str | None:
    if not isinstance(entry, dict):
        return "its reading preset is not a preset"
    if entry.get("kind") not in PRESET_KINDS:
        return "its reading preset is of an unknown kind"
    if not isinstance(entry.get("pack"), str) or not isinstance(entry.get("spec", ""), str):
        return "its reading preset names no voice pack"
    if entry["kind"] == "embedding" and not _numbers(entry.get("embedding")):
        return "its reading preset's embedding is not a list of numbers"
    if entry["kind"] == "style":
        table = entry.get("table")
        if not isinstance(table, dict) or not isinstance(table.get("float32"), str) \
                or not isinstance(table.get("shape"), list) \
                or not all(type(x) is int and x > 0 for x in table["shape"]):
            return "its reading preset's style table is damaged"
    similarity = entry.get("similarity", 0)
    if type(similarity) not in (int, float) or not math.isfinite(similarity):
        return "its reading preset's similarity is not a number"
    return None


def preset_problem(data: bytes) -> str | None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "its reading preset is not valid JSON"
    if not isinstance(doc, dict) or "fits" not in doc:
        return _fit_problem(doc)
    # A voice fitted for several languages keeps each fit under "fits"; the top level only repeats the
    # first one's summary, without its style table (reader.voices.fit.merge_preset).
    fits = doc["fits"]
    if not isinstance(fits, dict) or not fits or not all(isinstance(k, str) for k in fits):
        return "its reading preset's languages are damaged"
    return next((p for p in map(_fit_problem, fits.values()) if p), None)


def consent_problem(data: bytes) -> str | None:
    from reader.voices.consent import Consent, ConsentError

    try:
        Consent.from_bytes(data)
    except ConsentError:
        return "its consent record cannot be read"
    return None


def recording_problem(size: int, meta: dict | None) -> str | None:
    rate = (meta or {}).get("sample_rate", 16000)
    if size % 2 or type(rate) is not int or not 8000 <= rate <= 192000:
        return "one of its recordings is not 16-bit audio"
    return None


def record_problem(kind: str, name: str, size: int, meta: dict | None, data: bytes | None) -> str | None:
    """What is wrong with one record of a voice (None: nothing); `data` is None for a recording."""
    if kind == "recording":
        return recording_problem(size, meta)
    if kind not in KNOWN_KINDS:
        return f"it holds a record of an unknown kind ({kind!r})"
    if data is None:
        return "one of its records is too large for what it should be"
    if kind == "embedding":
        problem = embedding_problem(data, meta)
        if problem is None and name == EMBEDDING_NAME and len(data) != 4 * GE2E_DIM:
            problem = f"its speaker embedding has {len(data) // 4} values, not {GE2E_DIM}"
        return problem
    if kind == "preset":
        return preset_problem(data)
    return consent_problem(data) if name == CONSENT_NAME else None


def group_problem(group: str, records: Iterable[tuple[Any, bytes | None]]) -> str | None:
    """What is wrong with a voice group as a whole (RecordInfo-like records with their data, when small):
    a voice needs its consent record, its speaker embedding and one recording or more, each sound."""
    items = list(records)
    for info, data in items:
        problem = record_problem(info.kind, info.name, info.size, info.meta, data)
        if problem:
            return problem
    kinds = {(info.kind, info.name) for info, _ in items}
    if ("consent", CONSENT_NAME) not in kinds:
        return "it has no consent record"
    if ("embedding", EMBEDDING_NAME) not in kinds:
        return "it has no speaker embedding"
    if not any(info.kind == "recording" for info, _ in items):
        return "it has no recordings"
    return None
