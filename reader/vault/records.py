"""The vault's on-disk formats: key headers, segmented sealed streams (records padded), the index and backup frames.
Parsers treat bytes as hostile: lengths bounded, every field checked, any failure a VaultError."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import struct
import unicodedata
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator

from reader.vault import crypto
from reader.vault.crypto import KdfParams, SecretKey
from reader.vault.errors import DamagedData, InvalidRecord, VaultError, VaultTooNew

MAGIC = b"RVLT"
# Bumped when a reader of this version could no longer read what a newer one writes. Version 2: record
# files are padded (PADDED_VERSION). Version 3: a backup's stream may hold a padding frame
# (BACKUP_PADDED_VERSION), so a reader that does not know it says the backup is too new, not damaged. Key
# headers and the index are still written as version 1.
FORMAT_VERSION = 3
PADDED_VERSION = 2
BACKUP_PADDED_VERSION = 3
WRITTEN_VERSION = 1  # of key headers and the index: unchanged, so an older reader still opens the
                     # vault, and says of each padded record that a newer reader made it

# The kind of a file, in its plaintext header (the record kind is never in plaintext: it goes into the
# associated data only, so the folder does not say which files are recordings).
FILE_VAULT_HEADER = 1
FILE_RECORD = 2
FILE_INDEX = 3
FILE_BACKUP = 4
# The stream versions each file type may have.
_STREAM_VERSIONS = {FILE_RECORD: (1, PADDED_VERSION), FILE_BACKUP: (1, BACKUP_PADDED_VERSION)}
STREAM_FILE_TYPES = (FILE_RECORD, FILE_INDEX, FILE_BACKUP)
KEY_HEADER_FILE_TYPES = (FILE_VAULT_HEADER, FILE_BACKUP)

KDF_ARGON2ID = 1
CIPHER_AES256_GCM = 1

# Audio is sealed in 64 KiB pieces (the figure): big enough that the 28 bytes of nonce and tag
# are 0.04 %, small enough that playback can start after one piece.
SEGMENT_BYTES = 64 * 1024
MIN_SEGMENT_BYTES = 1024
MAX_SEGMENT_BYTES = 1024 * 1024
SEGMENT_OVERHEAD = crypto.NONCE_BYTES + crypto.TAG_BYTES

# Padding, so a file's size does not give a clip's exact length (16 kHz 16-bit audio is 32 000 bytes a
# second). A record's plaintext is sealed as data || zeros || u64 length of the data, and that whole is
# padded_size(len(data) + 8): a power of two from 256 bytes up to one segment (embeddings, presets and
# consent records are told apart by size no better than that), then whole 64 KiB segments (every sealed
# segment full: a recording's length is known to about 2 s) and, from 4 MiB on (about 2 minutes of such
# audio), Padme's steps (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication
# with PURBs", PETS 2019): the size is rounded to its top log2(log2(size)) + 1 bits, at most 1/32 = 3.1 %
# more, so a long recording's length is known to about 3 %.
PAD_MIN_BYTES = 256
PAD_LENGTH = struct.Struct(">Q")

KNOWN_KINDS = ("recording", "embedding", "preset", "consent", "archive", "archive-meta")
KIND_PATTERN = re.compile(r"[a-z-]{1,32}")
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
ID_BYTES = 16
MAX_NAME_CHARS = 200
MAX_META_BYTES = 64 * 1024
# The index holds names and meta of every record; 64 MiB is some hundred thousand records.
MAX_INDEX_BYTES = 64 * 1024 * 1024
MAX_FRAME_JSON_BYTES = 1024 * 1024

_KEY_HEADER = struct.Struct(">4sHBBIIIBBBB")  # magic version type kdf memory passes lanes idlen saltlen wraplen 0
_STREAM_HEADER = struct.Struct(">4sHBBIBBH")  # magic version type cipher segment nonce tag 0
_CHECKSUM_BYTES = 32
STREAM_HEADER_BYTES = _STREAM_HEADER.size
KEY_HEADER_BYTES = (_KEY_HEADER.size + ID_BYTES + crypto.SALT_BYTES + crypto.WRAPPED_KEY_BYTES
                    + _CHECKSUM_BYTES)

_WRAP_AD = b"RVLT/wrap-data-key\0"
_GROUP_KEY_AD = b"RVLT/wrap-record-key\0"
_SEGMENT_AD = b"RVLT/segment\0"


def _version_gate(data: bytes) -> None:
    """Magic and version first: a newer file may have any layout after them."""
    if len(data) < 6 or data[:4] != MAGIC:
        raise DamagedData()
    (version,) = struct.unpack(">H", data[4:6])
    if version > FORMAT_VERSION:
        raise VaultTooNew()
    if version < 1:
        raise DamagedData()


# --- key headers: the vault header file and the head of a backup ------------------------------------


@dataclass(frozen=True)
class KeyHeader:
    """Who the keys belong to and how to unwrap them: id, Argon2id parameters, salt, the wrapped key."""

    file_type: int
    vault_id: bytes
    kdf: KdfParams
    salt: bytes
    wrapped_key: bytes

    def _body(self) -> bytes:
        return (_KEY_HEADER.pack(MAGIC, WRITTEN_VERSION, self.file_type, KDF_ARGON2ID, self.kdf.memory_kib,
                                 self.kdf.iterations, self.kdf.lanes, ID_BYTES, crypto.SALT_BYTES,
                                 crypto.WRAPPED_KEY_BYTES, 0)
                + self.vault_id + self.salt)

    def wrap_ad(self) -> bytes:
        """Associated data of the key wrap: everything in the header but the wrapped key itself."""
        return _WRAP_AD + self._body()

    def to_bytes(self) -> bytes:
        body = self._body() + self.wrapped_key
        # A plain checksum (not a secret) tells a damaged header apart from a wrong passphrase; a forger
        # can recompute it, and then the key wrap fails as "Wrong passphrase." - which tells them nothing.
        return body + hashlib.sha256(body).digest()

    @classmethod
    def parse(cls, data: bytes, *, file_type: int) -> "KeyHeader":
        _version_gate(data)
        if len(data) != KEY_HEADER_BYTES:
            raise DamagedData()
        body, checksum = data[:-_CHECKSUM_BYTES], data[-_CHECKSUM_BYTES:]
        if hashlib.sha256(body).digest() != checksum:
            raise DamagedData()
        (_magic, _version, ftype, kdf_id, memory, passes, lanes, id_len, salt_len, wrap_len,
         reserved) = _KEY_HEADER.unpack_from(body)
        if (ftype != file_type or kdf_id != KDF_ARGON2ID or id_len != ID_BYTES
                or salt_len != crypto.SALT_BYTES or wrap_len != crypto.WRAPPED_KEY_BYTES or reserved != 0):
            raise DamagedData()
        try:
            kdf = KdfParams(memory_kib=memory, iterations=passes, lanes=lanes)
        except crypto.KdfTooCostly:
            raise  # said as it is: "asks for Argon2id with 1024 MiB ..., so it was refused"
        except VaultError:
            raise DamagedData() from None
        pos = _KEY_HEADER.size
        vault_id = body[pos:pos + ID_BYTES]
        pos += ID_BYTES
        salt = body[pos:pos + salt_len]
        pos += salt_len
        wrapped = body[pos:pos + wrap_len]
        return cls(file_type=ftype, vault_id=bytes(vault_id), kdf=kdf, salt=bytes(salt), wrapped_key=bytes(wrapped))


def record_key_ad(vault_id: bytes, key_id: str) -> bytes:
    """Associated data of a group or record key wrapped by the data key: bound to its vault and key id."""
    return _GROUP_KEY_AD + _lp(vault_id) + _lp(key_id.encode("ascii"))


# --- segmented sealed streams: records, the index, backups --------------------------------------------


def padded_size(size: int, segment_bytes: int = SEGMENT_BYTES) -> int:
    """The bucket `size` bytes (the data and its 8-byte length) are padded to: see PAD_MIN_BYTES."""
    if size <= segment_bytes:
        return max(PAD_MIN_BYTES, 1 << (size - 1).bit_length())
    exponent = size.bit_length() - 1  # floor(log2(size))
    step = max(segment_bytes, 1 << (exponent - exponent.bit_length()))  # Padme: 2^(E - floor(log2 E) - 1)
    return -(-size // step) * step


def stored_size(size: int, version: int, segment_bytes: int = SEGMENT_BYTES) -> int:
    """Plaintext bytes sealed in a stream for `size` bytes of data: padded in version 2, as they are before."""
    return padded_size(size + PAD_LENGTH.size, segment_bytes) if version >= PADDED_VERSION else size


def byte_view(chunk: bytes) -> memoryview:
    """A chunk of record data as bytes, without a copy; InvalidRecord for anything that is not bytes."""
    try:
        return memoryview(chunk).cast("B")
    except TypeError:
        raise InvalidRecord("Record data must be bytes (or a contiguous array).") from None


def _padded(chunks: Iterable[bytes], segment_bytes: int) -> Iterator[bytes]:
    """The chunks, then the zeros and the length that make them a padded plaintext."""
    size = 0
    for chunk in chunks:
        view = byte_view(chunk)
        size += len(view)
        yield view
    zeros = padded_size(size + PAD_LENGTH.size, segment_bytes) - size - PAD_LENGTH.size
    while zeros:
        piece = min(zeros, segment_bytes)
        yield bytes(piece)
        zeros -= piece
    yield PAD_LENGTH.pack(size)


def check_padding(tail: bytes, size: int) -> None:
    """The bytes after the data of a padded stream must be zeros and then the data's length."""
    if tail[-PAD_LENGTH.size:] != PAD_LENGTH.pack(size) or tail[:-PAD_LENGTH.size].count(0) != len(tail) - 8:
        raise DamagedData()


@dataclass(frozen=True)
class StreamHeader:
    file_type: int
    segment_bytes: int = SEGMENT_BYTES
    version: int = 1

    def to_bytes(self) -> bytes:
        return _STREAM_HEADER.pack(MAGIC, self.version, self.file_type, CIPHER_AES256_GCM, self.segment_bytes,
                                   crypto.NONCE_BYTES, crypto.TAG_BYTES, 0)

    @classmethod
    def parse(cls, data: bytes, *, file_type: int) -> "StreamHeader":
        _version_gate(data)
        if len(data) != STREAM_HEADER_BYTES:
            raise DamagedData()
        _magic, version, ftype, cipher, segment, nonce_len, tag_len, reserved = _STREAM_HEADER.unpack(data)
        if (ftype != file_type or cipher != CIPHER_AES256_GCM or nonce_len != crypto.NONCE_BYTES
                or tag_len != crypto.TAG_BYTES or reserved != 0
                or not MIN_SEGMENT_BYTES <= segment <= MAX_SEGMENT_BYTES
                or version not in _STREAM_VERSIONS.get(ftype, (1,))):  # records and backups are padded
            raise DamagedData()
        return cls(file_type=ftype, segment_bytes=segment, version=version)

    @property
    def padded(self) -> bool:
        """A record file padded to its bucket (a backup's padding is a frame inside its plaintext)."""
        return self.file_type == FILE_RECORD and self.version >= PADDED_VERSION


@dataclass(frozen=True)
class StreamContext:
    """What a sealed stream must be: the associated data of every segment (from the index, never the file).

    A record file renamed to another record's name, or put into another vault, fails because its id,
    write id, kind or vault id differ from what was sealed.
    """

    vault_id: bytes
    record_id: str
    kind: str
    file_id: str

    def ad_prefix(self, header: bytes) -> bytes:
        return (_SEGMENT_AD + header + _lp(self.vault_id) + _lp(self.record_id.encode("utf-8"))
                + _lp(self.kind.encode("utf-8")) + _lp(self.file_id.encode("utf-8")))


def _lp(data: bytes) -> bytes:
    """Length-prefixed, so the concatenated associated data is unambiguous."""
    return struct.pack(">H", len(data)) + data


def _segment_ad(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">QB", index, 1 if last else 0)


def seal_stream(key: SecretKey, ctx: StreamContext, chunks: Iterable[bytes], *, file_type: int,
                segment_bytes: int = SEGMENT_BYTES, pad: bool = False, version: int = 1) -> Iterator[bytes]:
    """The file's bytes: header, then each segment sealed with its index and a last flag in the AD.

    A segment is only sealed once more data is known to follow it, so the last one (which may be empty,
    or full) always carries the flag and a file cut at a segment boundary fails to open. With `pad` (record
    files) the plaintext is padded to its bucket, its length inside, and the header says version 2; else
    the header says `version`.
    """
    header = StreamHeader(file_type, segment_bytes, PADDED_VERSION if pad else version).to_bytes()
    if pad:
        chunks = _padded(chunks, segment_bytes)
    prefix = ctx.ad_prefix(header)
    yield header
    pending = bytearray()
    index = 0
    for chunk in chunks:
        try:
            pending += memoryview(chunk).cast("B")
        except TypeError:
            raise InvalidRecord("Record data must be bytes (or a contiguous array).") from None
        while len(pending) > segment_bytes:
            # Views released before the del: a bytearray with a live view cannot shrink.
            with memoryview(pending) as view, view[:segment_bytes] as piece:
                sealed = crypto.seal(key, piece, _segment_ad(prefix, index, False))
            del pending[:segment_bytes]
            index += 1
            yield sealed
    yield crypto.seal(key, pending, _segment_ad(prefix, index, True))


def seal_record(key: SecretKey, ctx: StreamContext, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """A record file's bytes: a padded sealed stream (what every record write uses)."""
    return seal_stream(key, ctx, chunks, file_type=FILE_RECORD, pad=True)


def open_stream(key: SecretKey, ctx: StreamContext, source: BinaryIO, *, file_type: int,
                expected_size: int | None = None) -> Iterator[bytes]:
    """Plaintext segments of a sealed stream, each authenticated before it is yielded.

    Raises DamagedData for a bad tag, a missing last segment, reordering, trailing bytes or a size that
    differs from the index. A caller that acts on segments before the end must be ready to undo.
    """
    header = source.read(STREAM_HEADER_BYTES)
    parsed = StreamHeader.parse(header, file_type=file_type)
    padded = parsed.padded
    if padded and expected_size is None:  # the index always knows a record's size
        raise DamagedData()
    stored = None if expected_size is None else stored_size(expected_size, parsed.version, parsed.segment_bytes)
    prefix = ctx.ad_prefix(header)
    on_disk = parsed.segment_bytes + SEGMENT_OVERHEAD
    index = 0
    total = 0
    tail = bytearray()  # of a padded stream: what follows the data (less than a segment and 8 bytes)
    current = source.read(on_disk)
    while True:
        if len(current) < SEGMENT_OVERHEAD:
            raise DamagedData()
        following = source.read(on_disk) if len(current) == on_disk else b""
        last = not following
        plaintext = crypto.open_sealed(key, current, _segment_ad(prefix, index, last))
        start = total
        total += len(plaintext)
        if stored is not None and total > stored:
            raise DamagedData()
        if padded and total > expected_size:
            keep = max(0, expected_size - start)
            tail += plaintext[keep:]
            plaintext = plaintext[:keep]
        if last:
            if stored is not None and total != stored:
                raise DamagedData()
            if padded:
                check_padding(tail, expected_size)
            if plaintext or not padded:
                yield plaintext
            return
        if plaintext or not padded:
            yield plaintext
        current = following
        index += 1


def sealed_size(plain_size: int, segment_bytes: int = SEGMENT_BYTES) -> int:
    """Bytes on disk for `plain_size` bytes of plaintext (header and every segment's nonce and tag)."""
    segments = max(1, math.ceil(plain_size / segment_bytes))
    return STREAM_HEADER_BYTES + plain_size + segments * SEGMENT_OVERHEAD


class SegmentFile:
    """Random access to a sealed stream's plaintext: any segment, authenticated when it is read.

    The file's length must be exactly what `size` bytes seal to, and each segment is opened with its index
    and (for the last) the last flag in the associated data: truncation, reordering and swapped segments
    fail as they do when the stream is read through.
    """

    def __init__(self, key: SecretKey, ctx: StreamContext, source: BinaryIO, *, file_type: int, size: int) -> None:
        header = source.read(STREAM_HEADER_BYTES)
        parsed = StreamHeader.parse(header, file_type=file_type)
        self.segment_bytes = parsed.segment_bytes
        self.size = size
        self._padded = parsed.padded
        self._stored = stored_size(size, parsed.version, self.segment_bytes)
        self.count = max(1, math.ceil(self._stored / self.segment_bytes))
        source.seek(0, 2)
        if source.tell() != sealed_size(self._stored, self.segment_bytes):
            raise DamagedData()
        self._key = key
        self._source = source
        self._prefix = ctx.ad_prefix(header)

    def segment(self, index: int) -> bytes:
        """The data in segment `index` (0 .. count - 1), without padding; the last one's padding is checked."""
        if not 0 <= index < self.count:
            raise IndexError(index)
        last = index == self.count - 1
        start = index * self.segment_bytes
        plain = self._stored - start if last else self.segment_bytes
        self._source.seek(STREAM_HEADER_BYTES + index * (self.segment_bytes + SEGMENT_OVERHEAD))
        sealed = self._source.read(plain + SEGMENT_OVERHEAD)
        if len(sealed) != plain + SEGMENT_OVERHEAD:
            raise DamagedData()
        plaintext = crypto.open_sealed(self._key, sealed, _segment_ad(self._prefix, index, last))
        if len(plaintext) != plain:
            raise DamagedData()
        if self._padded and start + plain > self.size:
            keep = max(0, self.size - start)
            if last:
                check_padding(plaintext[keep:], self.size)
            plaintext = plaintext[:keep]
        return plaintext


class ChunkReader:
    """Exact-length reads over an iterator of plaintext segments (for framed content such as backups)."""

    def __init__(self, segments: Iterator[bytes]) -> None:
        self._segments = segments
        self._buf = bytearray()
        self._done = False

    def _fill(self) -> bool:
        if self._done:
            return False
        try:
            self._buf += next(self._segments)
        except StopIteration:
            self._done = True
            return False
        return True

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise DamagedData()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def iter_exact(self, n: int) -> Iterator[bytes]:
        """`n` bytes as a series of pieces, without holding them all."""
        remaining = n
        while remaining:
            if not self._buf and not self._fill():
                raise DamagedData()
            piece = bytes(self._buf[:remaining])
            del self._buf[:len(piece)]
            remaining -= len(piece)
            yield piece

    def at_end(self) -> bool:
        """True when every segment was consumed (which also runs the stream's end-of-file checks)."""
        while not self._buf:
            if not self._fill():
                return True
        return False


# --- validation of what callers put in ------------------------------------------------------------


def validate_kind(kind: object) -> str:
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise InvalidRecord(f"A record kind is 1 to 32 letters a-z and dashes, like 'recording'; {kind!r} is not.")
    return kind


def _validate_label(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecord(f"A {what} must be a non-empty text.")
    if len(value) > MAX_NAME_CHARS:
        raise InvalidRecord(f"A {what} is at most {MAX_NAME_CHARS} characters long.")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise InvalidRecord(f"A {what} cannot hold control characters.")
    return value


def validate_name(name: object) -> str:
    return _validate_label(name, "record name")


def validate_group(group: object) -> str | None:
    return None if group is None else _validate_label(group, "group name")


def validate_meta(meta: object) -> dict:
    """A JSON-able dict, copied (so the caller cannot change the index behind our back), at most 64 KiB."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InvalidRecord("Record meta must be a dict.")
    try:
        encoded = json.dumps(meta, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        raise InvalidRecord("Record meta must hold only JSON values (text, numbers, lists, dicts).") from None
    if len(encoded.encode("utf-8")) > MAX_META_BYTES:
        raise InvalidRecord(f"Record meta is at most {MAX_META_BYTES // 1024} KiB.")
    return json.loads(encoded)


def new_id() -> str:
    return crypto.random_bytes(ID_BYTES).hex()


# --- the index ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordInfo:
    """What the index says about a record. `created` and `updated` are Unix times in seconds."""

    id: str
    kind: str
    name: str
    group: str | None
    meta: dict
    created: float
    updated: float
    size: int


@dataclass(frozen=True)
class IndexEntry:
    info: RecordInfo
    file_id: str  # random per write: the file name, and in the AD so an old copy of the file fails
    key_id: str  # the group's key, or the record's own key when it has no group

    def to_json(self) -> dict:
        i = self.info
        return {"id": i.id, "kind": i.kind, "name": i.name, "group": i.group, "meta": i.meta,
                "created": i.created, "updated": i.updated, "size": i.size, "file": self.file_id,
                "key": self.key_id}


@dataclass
class Index:
    """The decrypted index: records, group -> key id, key id -> key wrapped by the data key."""

    vault_id: bytes
    records: dict[str, IndexEntry] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)

    def find(self, kind: str, name: str, group: str | None) -> IndexEntry | None:
        for entry in self.records.values():
            i = entry.info
            if i.kind == kind and i.name == name and i.group == group:
                return entry
        return None

    def prune_keys(self) -> None:
        """Drop keys nothing refers to: a key gone from the index is a key shredded."""
        used = set(self.groups.values()) | {e.key_id for e in self.records.values()}
        for key_id in [k for k in self.keys if k not in used]:
            del self.keys[key_id]

    def to_bytes(self) -> bytes:
        self.prune_keys()
        doc = {
            "format": WRITTEN_VERSION,
            "vault_id": self.vault_id.hex(),
            "records": [e.to_json() for e in self.records.values()],
            "groups": dict(self.groups),
            "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self.keys.items()},
        }
        return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _need(condition: bool) -> None:
    if not condition:
        raise DamagedData()


def _number(value: object) -> float:
    _need(type(value) in (int, float) and math.isfinite(value) and value >= 0)
    return float(value)


def parse_record_info(obj: object) -> RecordInfo:
    """A RecordInfo from its JSON form (index entry or backup frame), every field checked."""
    _need(isinstance(obj, dict))
    try:
        record_id = obj["id"]
        _need(isinstance(record_id, str) and ID_PATTERN.fullmatch(record_id) is not None)
        kind = validate_kind(obj["kind"])
        name = validate_name(obj["name"])
        group = validate_group(obj["group"])
        meta = validate_meta(obj["meta"])
        size = obj["size"]
        _need(type(size) is int and size >= 0)
        return RecordInfo(id=record_id, kind=kind, name=name, group=group, meta=meta,
                          created=_number(obj["created"]), updated=_number(obj["updated"]), size=size)
    except (KeyError, InvalidRecord):
        raise DamagedData() from None


def parse_index(data: bytes, *, vault_id: bytes) -> Index:
    """The index from its decrypted bytes. It was authenticated, but is checked as if it were not."""
    _need(len(data) <= MAX_INDEX_BYTES)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DamagedData() from None
    _need(isinstance(doc, dict))
    version = doc.get("format")
    _need(type(version) is int and version >= 1)
    if version > FORMAT_VERSION:
        raise VaultTooNew()
    _need(doc.get("vault_id") == vault_id.hex())
    records, groups, keys = doc.get("records"), doc.get("groups"), doc.get("keys")
    _need(isinstance(records, list) and isinstance(groups, dict) and isinstance(keys, dict))
    index = Index(vault_id=vault_id)
    for key_id, wrapped in keys.items():
        _need(ID_PATTERN.fullmatch(key_id) is not None and isinstance(wrapped, str))
        try:
            raw = base64.b64decode(wrapped.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise DamagedData() from None
        _need(len(raw) == crypto.WRAPPED_KEY_BYTES)
        index.keys[key_id] = raw
    for group, key_id in groups.items():
        _need(isinstance(key_id, str) and key_id in index.keys)
        try:
            validate_group(group)
        except InvalidRecord:
            raise DamagedData() from None
        index.groups[group] = key_id
    files: set[str] = set()
    triples: set[tuple] = set()
    for obj in records:
        info = parse_record_info(obj)
        file_id, key_id = obj.get("file"), obj.get("key")
        _need(isinstance(file_id, str) and ID_PATTERN.fullmatch(file_id) is not None and file_id not in files)
        _need(isinstance(key_id, str) and key_id in index.keys)
        _need(info.id not in index.records and (info.kind, info.name, info.group) not in triples)
        if info.group is not None:
            _need(index.groups.get(info.group) == key_id)
        files.add(file_id)
        triples.add((info.kind, info.name, info.group))
        index.records[info.id] = IndexEntry(info=info, file_id=file_id, key_id=key_id)
    return index


# --- backup frames --------------------------------------------------------------------------------
# The plaintext of a backup: for each record b"R", u32 length, its RecordInfo as JSON, then `size` bytes of
# data; then (backups written since padding) b"P", u32 n and n zero bytes, which make the whole plaintext
# one of padded_size's buckets; at the end b"E" and the u32 count of records. Sealed as one stream, so it
# is verified end to end.

FRAME_RECORD = b"R"
FRAME_PADDING = b"P"
FRAME_END = b"E"
_U32 = struct.Struct(">I")
_FRAME_HEAD = 1 + _U32.size


def info_to_json(info: RecordInfo) -> dict:
    return {"id": info.id, "kind": info.kind, "name": info.name, "group": info.group, "meta": info.meta,
            "created": info.created, "updated": info.updated, "size": info.size}


def record_frame_head(info: RecordInfo) -> bytes:
    doc = json.dumps(info_to_json(info), ensure_ascii=False, allow_nan=False).encode("utf-8")
    return FRAME_RECORD + _U32.pack(len(doc)) + doc


def end_frame(count: int) -> bytes:
    return FRAME_END + _U32.pack(count)


def padding_frames(content: int) -> Iterator[bytes]:
    """The padding frame that, with the end frame, makes `content` bytes of record frames a padded_size
    bucket, so a backup's size tells its records' total length only to a bucket (as a record file's does)."""
    zeros = padded_size(content + 2 * _FRAME_HEAD) - content - 2 * _FRAME_HEAD
    yield FRAME_PADDING + _U32.pack(zeros)
    while zeros:
        piece = min(zeros, SEGMENT_BYTES)
        yield bytes(piece)
        zeros -= piece


def read_frame_head(reader: ChunkReader) -> RecordInfo | int:
    """The next frame's RecordInfo, or the record count of the end frame (after which nothing may follow).
    A padding frame (all zeros, only right before the end frame) is read past."""
    tag = reader.read_exact(1)
    if tag == FRAME_PADDING:
        (zeros,) = _U32.unpack(reader.read_exact(_U32.size))
        for piece in reader.iter_exact(zeros):
            _need(piece.count(0) == len(piece))
        tag = reader.read_exact(1)
        _need(tag == FRAME_END)
    if tag == FRAME_END:
        (count,) = _U32.unpack(reader.read_exact(_U32.size))
        _need(reader.at_end())
        return count
    _need(tag == FRAME_RECORD)
    (length,) = _U32.unpack(reader.read_exact(_U32.size))
    _need(length <= MAX_FRAME_JSON_BYTES)
    try:
        obj = json.loads(reader.read_exact(length).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DamagedData() from None
    return parse_record_info(obj)
