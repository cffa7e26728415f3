"""The archive inside the vault: a recording is read with soundfile, encoded to FLAC in memory and sealed
into the vault beside its metadata; entries are listed, read back and removed from there."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from reader.archive import ArchiveError
from reader.archive.dialects import choose_dialect, dialect_matches
from reader.archive.records import (
    AUDIO_KIND,
    DATE_PATTERN,
    DEFAULT_CONSENT_PURPOSE,
    ID_PATTERN,
    META_KIND,
    ArchiveEntry,
    clean_line,
    clean_text,
    group_for,
    is_archive_group,
    new_entry_id,
    normalize_id,
)
from reader.terminal import safe_text

if TYPE_CHECKING:
    import numpy as np

    from reader.vault.store import RecordReader, RecordStream, Vault

log = logging.getLogger(__name__)

NOT_FOUND = "There is no recording {id} in the archive; `reader archive list` shows them."
NOT_AUDIO = "The file {path} is not an audio file soundfile can read (WAV, FLAC or OGG)."
NO_CONSENT = "A recording needs consent: say who agreed with --consent-by."
# original_file and original_format of a recording made with the microphone here: the FLAC is the original.
RECORDED_HERE = "(recorded with the microphone)"
RECORDED_FORMAT = "microphone PCM_16"

# The vault group of a family voice is this prefix and the voice's name (reader/voices/enroll.py
# GROUP_PREFIX, not imported: that module loads numpy and the speech stack; a test keeps the two equal).
VOICE_GROUP_PREFIX = "voice:"

# libsndfile subtypes that decode to at most 16 bits: 16-bit FLAC holds them without loss.
SUBTYPES_16_BIT = frozenset({
    "PCM_S8", "PCM_U8", "PCM_16", "ULAW", "ALAW", "DPCM_8", "DPCM_16", "DWVW_12", "DWVW_16", "ALAC_16",
    "IMA_ADPCM", "MS_ADPCM", "GSM610", "VOX_ADPCM", "G721_32", "G723_24", "G723_40",
})
# Subtypes that decode to 17-24 bits: 24-bit FLAC holds them without loss.
SUBTYPES_24_BIT = frozenset({"PCM_24", "DWVW_24", "ALAC_20", "ALAC_24"})
# Everything else (32-bit integers, floats, lossy codecs such as Vorbis) becomes 24-bit FLAC, the most FLAC
# holds: 144 dB of range, more than any microphone delivers.
FLAC_SUBTYPES = {16: "PCM_16", 24: "PCM_24"}
# The FLAC format's limit (RFC 9639 section 8.2: 3 bits of channel count).
FLAC_MAX_CHANNELS = 8
# Frames read and encoded at a time: only the FLAC is held whole in memory, never the decoded PCM.
BLOCK_FRAMES = 64 * 1024
HASH_BLOCK_BYTES = 1024 * 1024
# The FLAC goes to the vault in pieces of one vault segment (reader/vault/records.py SEGMENT_BYTES).
PUT_PIECE_BYTES = 64 * 1024


@dataclass(frozen=True)
class EncodedAudio:
    """A recording as FLAC bytes (in memory only) and what was learnt reading it."""

    flac: bytes
    sample_rate: int
    channels: int
    frames: int
    bits_per_sample: int
    original_format: str
    sha256: str

    @property
    def flac_sha256(self) -> str:
        return hashlib.sha256(self.flac).hexdigest()

    @property
    def duration_seconds(self) -> float:
        return round(self.frames / self.sample_rate, 3)


@dataclass(frozen=True)
class Listing:
    """What scan() found: the readable entries, and the ids of entries whose description is damaged."""

    entries: list[ArchiveEntry]
    damaged: list[str]

    def warning(self) -> str | None:
        """One sentence about the damaged entries (None when there are none)."""
        if not self.damaged:
            return None
        ids = ", ".join(self.damaged)
        which = (f"The description of recording {ids} is damaged" if len(self.damaged) == 1 else
                 f"The descriptions of {len(self.damaged)} recordings ({ids}) are damaged")
        return (f"{which} and cannot be read; the others are fine. `reader vault check` tells more; "
                f"`reader archive remove ID` removes a damaged recording, or `reader vault import` restores "
                "it from a backup.")


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(HASH_BLOCK_BYTES):
                digest.update(block)
    except FileNotFoundError:
        raise ArchiveError(f"The file {path} does not exist.") from None
    except IsADirectoryError:
        raise ArchiveError(f"{path} is a folder; give the audio file itself.") from None
    except OSError as exc:
        raise ArchiveError(f"The file {path} cannot be read ({exc.strerror or exc}).") from None
    return digest.hexdigest()


def encode_flac(path: Path | str) -> EncodedAudio:
    """Read an audio file with soundfile and encode it to FLAC in a BytesIO, keeping its rate, channels and
    bit depth. No temp file: the only plaintext outside memory is the file the user gave."""
    import numpy as np
    import soundfile as sf

    path = Path(path)
    sha256 = _hash_file(path)
    try:
        source = sf.SoundFile(str(path))
    except sf.SoundFileError:
        raise ArchiveError(NOT_AUDIO.format(path=path)) from None
    with source:
        if source.channels > FLAC_MAX_CHANNELS:
            raise ArchiveError(f"The file {path} has {source.channels} channels; FLAC, and so the archive, "
                               f"keeps at most {FLAC_MAX_CHANNELS}.")
        if source.subtype in SUBTYPES_16_BIT:
            bits, dtype = 16, "int16"
        elif source.subtype in SUBTYPES_24_BIT:
            bits, dtype = 24, "int32"  # libsndfile scales 24-bit samples into int32 and back exactly
        else:
            bits, dtype = 24, "float64"
        buffer = io.BytesIO()
        frames = 0
        try:
            with sf.SoundFile(buffer, "w", samplerate=source.samplerate, channels=source.channels,
                              subtype=FLAC_SUBTYPES[bits], format="FLAC") as out:
                for block in source.blocks(BLOCK_FRAMES, dtype=dtype, always_2d=True):
                    if dtype == "float64":
                        # libsndfile wraps out-of-range floats around instead of clipping them.
                        np.clip(block, -1.0, 1.0, out=block)
                    out.write(block)
                    frames += len(block)
        except sf.SoundFileError as exc:
            raise ArchiveError(f"The file {path} cannot be stored as FLAC ({exc}).") from None
        if frames == 0:
            raise ArchiveError(f"The file {path} holds no audio.")
        return EncodedAudio(flac=buffer.getvalue(), sample_rate=int(source.samplerate),
                            channels=int(source.channels), frames=frames, bits_per_sample=bits,
                            original_format=f"{source.format} {source.subtype}", sha256=sha256)


class FlacRecorder:
    """Encodes audio to 16-bit FLAC in memory as it comes (the microphone's blocks), so a long recording
    takes its compressed size and never touches the disk in the clear; finish() gives the EncodedAudio."""

    def __init__(self, sample_rate: int, channels: int = 1) -> None:
        import soundfile as sf

        self.sample_rate = int(sample_rate)
        self.channels = channels
        self.frames = 0
        self._buffer = io.BytesIO()
        self._out = sf.SoundFile(self._buffer, "w", samplerate=self.sample_rate, channels=channels,
                                 subtype=FLAC_SUBTYPES[16], format="FLAC")

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    @property
    def flac_bytes(self) -> int:
        return self._buffer.tell()

    def write(self, block: "np.ndarray") -> None:
        """Float samples in -1..1 (clipped: libsndfile would wrap them around)."""
        import numpy as np

        samples = np.clip(np.asarray(block, dtype=np.float32), -1.0, 1.0)
        self._out.write(samples)
        self.frames += len(samples)

    def finish(self) -> EncodedAudio:
        self._out.close()
        if self.frames == 0:
            raise ArchiveError("Nothing was recorded; nothing was archived.")
        flac = self._buffer.getvalue()
        return EncodedAudio(flac=flac, sample_rate=self.sample_rate, channels=self.channels, frames=self.frames,
                            bits_per_sample=16, original_format=RECORDED_FORMAT,
                            sha256=hashlib.sha256(flac).hexdigest())


def parse_date(text: str | None, *, today: dt.date | None = None) -> str:
    """The recording day as YYYY-MM-DD: today when not given; refused when malformed or in the future."""
    today = today or dt.date.today()
    if text is None or not text.strip():
        return today.isoformat()
    text = text.strip()
    try:
        if not DATE_PATTERN.fullmatch(text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ArchiveError(f"The date {text!r} is not a day written YYYY-MM-DD, e.g. 2024-02-10.") from None
    if day > today:
        raise ArchiveError(f"The date {text} is in the future; give the day the recording was made.")
    return text


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pieces(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), PUT_PIECE_BYTES):
        yield view[start:start + PUT_PIECE_BYTES]


class ArchiveStore:
    """The dialect archive in an unlocked vault. Each entry is two records in a group of its own:
    kind "archive" (the FLAC) and kind "archive-meta" (ArchiveEntry as JSON), both named by the entry id."""

    def __init__(self, vault: "Vault") -> None:
        self.vault = vault

    # --- adding -------------------------------------------------------------------------------------

    def voices(self) -> list[str]:
        """Names of the family voices in the vault (reader/voices), which a speaker may be."""
        return sorted(group[len(VOICE_GROUP_PREFIX):] for group in self.vault.groups()
                      if group.startswith(VOICE_GROUP_PREFIX))

    def add(self, source: Path | str, **description: str | None) -> ArchiveEntry:
        """Archive the audio file `source` with its description (the keywords of describe()); everything
        is checked before the audio is read."""
        checked = self.describe(**description)
        return self._store(encode_flac(source), Path(source).name, checked)

    def add_recording(self, audio: EncodedAudio, **description: str | None) -> ArchiveEntry:
        """Archive audio recorded here (FlacRecorder), with its description."""
        return self._store(audio, RECORDED_HERE, self.describe(**description))

    @staticmethod
    def describe(*, dialect: str, consent_by: str | None, consent_purpose: str | None = None,
                 region: str | None = None, speaker: str | None = None, date: str | None = None,
                 transcript: str | None = None, romanization: str | None = None, translation: str | None = None,
                 topic: str | None = None) -> dict:
        """The description checked and cleaned (ArchiveError in one sentence for what is wrong): consent
        first, then the dialect, the date and the texts."""
        consent_by = clean_line(consent_by, "name of who consented")
        if consent_by is None:
            raise ArchiveError(NO_CONSENT)
        choice = choose_dialect(dialect)
        return {
            "consent_by": consent_by,
            "consent_purpose": clean_line(consent_purpose, "consent purpose") or DEFAULT_CONSENT_PURPOSE,
            "dialect_code": choice.code, "dialect": choice.name, "dialect_zh": choice.chinese,
            "date": parse_date(date),
            "speaker": clean_line(speaker, "speaker"),
            "region": clean_line(region, "region"),
            "topic": clean_line(topic, "topic"),
            "transcript": clean_text(transcript, "transcript"),
            "romanization": clean_text(romanization, "romanization"),
            "translation": clean_text(translation, "translation"),
        }

    def _store(self, audio: EncodedAudio, original_file: str, checked: dict) -> ArchiveEntry:
        speaker = checked["speaker"]
        voice = None
        if speaker is not None:
            voices = self.voices()
            voice = next((v for v in voices if v == speaker), None)
            voice = voice or next((v for v in voices if v.casefold() == speaker.casefold()), None)
        entry_id = new_entry_id(self._taken_ids())
        entry = ArchiveEntry(
            id=entry_id, speaker_voice=voice, duration_seconds=audio.duration_seconds, frames=audio.frames,
            sample_rate=audio.sample_rate, channels=audio.channels, bits_per_sample=audio.bits_per_sample,
            original_file=original_file, original_format=audio.original_format, sha256=audio.sha256,
            flac_sha256=audio.flac_sha256, archived_at=_utc_now(), **checked)
        group = group_for(entry_id)
        # One transaction: the audio and its description appear together at its one index write; a crash
        # before it leaves only files nothing names, which the next open removes.
        with self.vault.transaction() as tx:
            tx.put_stream(AUDIO_KIND, entry_id, _pieces(audio.flac), group=group)
            tx.put(META_KIND, entry_id, entry.to_bytes(), group=group)
        log.info("archived %s (%.1f s, %d Hz, %d channels)", entry_id, entry.duration_seconds,
                 entry.sample_rate, entry.channels)
        return entry

    def _taken_ids(self) -> set[str]:
        return {info.name for info in self.vault.list() if info.kind in (AUDIO_KIND, META_KIND)}

    # --- reading ------------------------------------------------------------------------------------

    def scan(self, dialect: str | None = None) -> Listing:
        """Every readable entry (or those of one dialect: code, English or Chinese name, or a free entry's
        text) by recording date, and the ids of the entries whose description is damaged: one damaged
        record does not hide the others."""
        from reader.vault.errors import RecordDamaged

        found, damaged = [], []
        for info in self.vault.list(kind=META_KIND):
            if not is_archive_group(info.group):
                continue
            try:
                entry = ArchiveEntry.from_bytes(self.vault.get(info.id))
                if entry.id != info.name or entry.group != info.group:  # a description moved (or forged)
                    raise ArchiveError("An archive description names another recording; the record is damaged.")
            except (RecordDamaged, ArchiveError):
                log.warning("the description of archive recording %s cannot be read", info.name, exc_info=True)
                damaged.append(info.name)
                continue
            if dialect is None or dialect_matches(dialect, entry.dialect_code, entry.dialect):
                found.append(entry)
        return Listing(sorted(found, key=lambda e: (e.date, e.archived_at, e.id)), sorted(damaged))

    def entries(self, dialect: str | None = None) -> list[ArchiveEntry]:
        """The readable entries of scan()."""
        return self.scan(dialect).entries

    def entry(self, entry_id: str) -> ArchiveEntry:
        """The entry with this id (as typed: case and spaces do not matter); ArchiveError if there is none."""
        wanted = normalize_id(entry_id)
        info = (self.vault.find(META_KIND, wanted, group_for(wanted))
                if ID_PATTERN.fullmatch(wanted) else None)
        if info is None:
            raise ArchiveError(NOT_FOUND.format(id=safe_text(entry_id.strip())))
        entry = ArchiveEntry.from_bytes(self.vault.get(info.id))
        if entry.id != wanted:
            raise ArchiveError(f"The description of recording {wanted} names another recording; the record is damaged.")
        return entry

    def _audio_id(self, entry: ArchiveEntry) -> str:
        info = self.vault.find(AUDIO_KIND, entry.id, entry.group)
        if info is None:
            raise ArchiveError(f"The audio of recording {entry.id} is missing from the vault; "
                               f"`reader archive remove {entry.id}` removes what is left of it.")
        return info.id

    def open_audio(self, entry: ArchiveEntry) -> "RecordStream":
        """The FLAC as a stream of authenticated pieces."""
        return self.vault.open_stream(self._audio_id(entry))

    def open_reader(self, entry: ArchiveEntry) -> "RecordReader":
        """The FLAC as a seekable file, decrypted and authenticated a segment at a time as it is read."""
        return self.vault.open_reader(self._audio_id(entry))

    def flac(self, entry: ArchiveEntry) -> bytes:
        """The FLAC as archived, verified to the last byte."""
        with self.open_audio(entry) as stream:
            return b"".join(stream)

    def read_samples(self, entry: ArchiveEntry, dtype: str = "float32") -> "np.ndarray":
        """The decoded audio, shape (frames, channels), decoded in memory."""
        import soundfile as sf

        try:
            samples, _ = sf.read(io.BytesIO(self.flac(entry)), dtype=dtype, always_2d=True)
        except sf.SoundFileError:
            raise ArchiveError(f"The audio of recording {entry.id} cannot be decoded; "
                               "`reader vault check` tells whether the vault is damaged.") from None
        return samples

    # --- removing -----------------------------------------------------------------------------------

    def remove(self, entry_id: str) -> ArchiveEntry | None:
        """Remove the entry's audio and metadata in one index write, shredding their key. Also removes the
        audio an interrupted `add` left without metadata (then there is no entry to return: None)."""
        from reader.vault.errors import RecordDamaged

        wanted = normalize_id(entry_id)
        try:
            entry = self.entry(entry_id)
        except (ArchiveError, RecordDamaged):  # no description, or a damaged one: remove what is there
            if ID_PATTERN.fullmatch(wanted) and group_for(wanted) in self.vault.groups():
                self.vault.delete_group(group_for(wanted))
                return None
            raise
        self.vault.delete_group(entry.group)
        log.info("removed %s from the archive", entry.id)
        return entry
