"""Reading a record: as a stream of authenticated segments, or as a seekable file; and how records are
named in messages."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

from reader.vault import records
from reader.vault.crypto import SecretKey
from reader.vault.errors import DamagedData, RecordDamaged, VaultTooNew
from reader.vault.records import FILE_RECORD, IndexEntry, RecordInfo, StreamContext

if TYPE_CHECKING:
    from reader.vault.store import Vault


# How a record is named in messages, by kind; other kinds read "the <kind> record".
KIND_NOUNS = {
    "recording": "recording",
    "embedding": "speaker embedding",
    "preset": "voice preset",
    "consent": "consent record",
    "archive": "archive recording",
    "archive-meta": "archive description",
}


def describe(info: RecordInfo) -> str:
    """The human name of a record for messages, e.g. "The recording 'grandma-1'"."""
    return f"The {KIND_NOUNS.get(info.kind, info.kind + ' record')} '{info.name}'"


def _damaged_message(info: RecordInfo) -> str:
    return f"{describe(info)} is damaged or was tampered with; the other records are fine."


class RecordStream:
    """Plaintext segments of one record, each authenticated before it is handed out.

    Iterate it, or use it as a context manager. A failure mid-way raises RecordDamaged naming the record:
    a player that already played earlier segments heard only authentic audio, but not all of it.
    """

    def __init__(self, vault: "Vault", entry: IndexEntry, key: SecretKey, path: Path) -> None:
        self.info = entry.info
        self._vault = vault
        try:
            self._file = open(path, "rb")
        except FileNotFoundError:
            raise RecordDamaged(f"{describe(self.info)} is missing from the vault folder; the other records are fine.",
                                record_id=self.info.id, name=self.info.name) from None
        except OSError as exc:
            raise RecordDamaged(f"{describe(self.info)} cannot be read ({exc.strerror}); the other records are fine.",
                                record_id=self.info.id, name=self.info.name) from None
        ctx = StreamContext(vault_id=vault._vault_id, record_id=self.info.id, kind=self.info.kind,
                            file_id=entry.file_id)
        self._segments = records.open_stream(key, ctx, self._file, file_type=FILE_RECORD,
                                             expected_size=self.info.size)

    def __iter__(self) -> "RecordStream":
        return self

    def __next__(self) -> bytes:
        try:
            segment = next(self._segments)
        except StopIteration:
            self.close()
            raise
        except DamagedData:
            self.close()
            raise RecordDamaged(_damaged_message(self.info), record_id=self.info.id, name=self.info.name) from None
        except VaultTooNew:
            self.close()
            raise VaultTooNew(f"{describe(self.info)} was made by a newer version of the reader; "
                              "update the reader to open it.") from None
        except OSError as exc:
            self.close()
            raise RecordDamaged(f"{describe(self.info)} cannot be read ({exc.strerror}); the other records are fine.",
                                record_id=self.info.id, name=self.info.name) from None
        self._vault.touch()
        return segment

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RecordStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()


class RecordReader(io.RawIOBase):
    """A record as a seekable, read-only binary file (what soundfile needs to decode a FLAC with seeks):
    each 64 KiB segment is decrypted and authenticated when read, and only the last one is kept."""

    def __init__(self, vault: "Vault", entry: IndexEntry, key: SecretKey, path: Path) -> None:
        super().__init__()
        self.info = entry.info
        self._vault = vault
        try:
            self._file = open(path, "rb")
        except OSError as exc:
            raise RecordDamaged(f"{describe(self.info)} is missing or cannot be read ({exc.strerror}); the other "
                                "records are fine.", record_id=self.info.id, name=self.info.name) from None
        ctx = StreamContext(vault_id=vault._vault_id, record_id=self.info.id, kind=self.info.kind,
                            file_id=entry.file_id)
        try:
            self._segments = records.SegmentFile(key, ctx, self._file, file_type=FILE_RECORD, size=self.info.size)
        except DamagedData:
            self._file.close()
            raise self._damaged() from None
        except BaseException:
            self._file.close()
            raise
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def _damaged(self) -> RecordDamaged:
        return RecordDamaged(_damaged_message(self.info), record_id=self.info.id, name=self.info.name)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.info.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:  # noqa: ANN001 - any writable buffer
        view = memoryview(buffer).cast("B")
        done = 0
        size = self._segments.segment_bytes
        while done < len(view) and self._pos < self.info.size:
            index, offset = divmod(self._pos, size)
            if self._cached is None or self._cached[0] != index:
                try:
                    self._cached = (index, self._segments.segment(index))
                except (DamagedData, OSError):
                    raise self._damaged() from None
            piece = self._cached[1][offset:offset + len(view) - done]
            view[done:done + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
        self._vault.touch()
        return done

    def close(self) -> None:
        self._cached = None
        self._file.close()
        super().close()
