"""The encrypted voice vault: `header`, sealed `index` and `records/*.rec` in READER_HOME/vault/.
Format, keys and what crypto-shredding guarantees: reader/vault/README.md.

The Vault class: creating and opening a vault, its records (put, get, list, delete) and locking it.
Its other concerns are modules of their own: files.py (names, atomic writes), lock.py (the writers'
lock, AutoLock), header.py (passphrases, the header), index.py (reading and committing the index),
reading.py (record streams and readers), transaction.py, check.py, rekey.py (passwd and rekey) and
transfer.py (export and import). Names other code imports from here are imported here."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator

from reader.vault import records
from reader.vault.check import CheckMixin, Problem
from reader.vault.crypto import KdfParams, SecretKey, new_vault_params, random_bytes
from reader.vault.errors import RecordNotFound, VaultDamaged, VaultError, VaultExists, VaultLocked
from reader.vault.files import (
    HEADER_FILE,
    RECORDS_DIR,
    RECORD_SUFFIX,
    _fsync_dir,
    _has_vault_files,
    _write_file,
)
from reader.vault.header import (
    RESTORE_HEADER,
    _check_new_passphrase,
    _check_passphrase,
    _new_key_header,
    _read_header,
    _unwrap_header,
    missing_vault,
)
from reader.vault.index import IndexMixin, _copy_info, _index_context
from reader.vault.lock import AutoLock, _folder_lock
from reader.vault.reading import RecordReader, RecordStream, describe
from reader.vault.records import FILE_VAULT_HEADER, Index, IndexEntry, KeyHeader, RecordInfo
from reader.vault.rekey import RekeyMixin, _finish_rekey
from reader.vault.transaction import GroupConflict, Transaction
from reader.vault.transfer import Difference, ExportReport, ImportReport, TransferMixin

log = logging.getLogger(__name__)

__all__ = [
    "AutoLock",
    "Difference",
    "ExportReport",
    "GroupConflict",
    "ImportReport",
    "Problem",
    "RecordReader",
    "RecordStream",
    "Transaction",
    "Vault",
    "describe",
]


class Vault(IndexMixin, CheckMixin, RekeyMixin, TransferMixin):
    """An unlocked vault. Make one with `Vault.create` or `Vault.open`; `lock()` wipes its keys.

    Thread-safe; several processes may use one vault folder (writers take an exclusive file lock and
    re-read the index before changing it).
    """

    def __init__(self, folder: Path, header: KeyHeader, data_key: SecretKey) -> None:
        self.folder = folder
        self._header = header
        self._vault_id = header.vault_id
        self._data_key = data_key
        self._keys: dict[str, SecretKey] = {}  # unwrapped group and record keys, by key id
        self._in_flight: set[SecretKey] = set()  # per-record keys of writes not yet in the index
        self._index: Index | None = None
        self._index_stamp: tuple | None = None
        self._mutex = threading.RLock()
        self._last_used = time.monotonic()
        self._generation = 0  # of the data key: +1 at each re-key

    # --- creating and opening -------------------------------------------------------------------------

    @staticmethod
    def exists(folder: Path | str) -> bool:
        return (Path(folder) / HEADER_FILE).is_file()

    @staticmethod
    def missing(folder: Path | str) -> VaultError:
        """The error for a folder without a header: no vault yet (VaultMissing), or a vault whose header
        is gone (VaultDamaged, saying how to restore it: `vault init` there would lose every record)."""
        return missing_vault(folder)

    @classmethod
    def create(cls, folder: Path | str, passphrase: str, *, kdf_params: KdfParams | None = None) -> "Vault":
        """A new, empty vault in `folder`; VaultExists if there is one already."""
        folder = Path(folder)
        passphrase = _check_new_passphrase(passphrase)
        if cls.exists(folder):
            raise VaultExists(f"There is already a vault in {folder}; open it, or move it away to start a new one.")
        if _has_vault_files(folder):
            raise VaultDamaged(f"{folder} holds a vault whose header is missing; no new vault was made over "
                               f"it, {RESTORE_HEADER}")
        params = kdf_params or new_vault_params()
        (folder / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
        for path in (folder, folder / RECORDS_DIR):
            with contextlib.suppress(OSError):
                os.chmod(path, 0o700)
        data_key = SecretKey.generate()
        header = _new_key_header(FILE_VAULT_HEADER, passphrase, data_key, params, random_bytes(records.ID_BYTES))
        vault = cls(folder, header, data_key)
        with vault._file_lock():
            if cls.exists(folder):  # another process won the race
                data_key.wipe()
                raise VaultExists(f"There is already a vault in {folder}; open it, or move it away to start a new one.")
            # The index first: the header is what makes a vault exist, so a crash before it leaves no vault.
            vault._write_index(Index(vault_id=vault._vault_id))
            _write_file(folder / HEADER_FILE, header.to_bytes())
        log.info("created a vault in %s", folder)
        return vault

    @classmethod
    def open(cls, folder: Path | str, passphrase: str) -> "Vault":
        """Unlock the vault in `folder`: VaultMissing, WrongPassphrase, VaultTooNew or VaultDamaged if not."""
        folder = Path(folder)
        passphrase = _check_passphrase(passphrase)
        _finish_rekey(folder)
        header = _read_header(folder)
        data_key = _unwrap_header(header, passphrase)
        vault = cls(folder, header, data_key)
        try:
            with vault._mutex:
                vault._current_index()
        except BaseException:
            vault.lock()
            raise
        try:  # files of writes a crash interrupted: nothing names them, so they go (a minute old or more)
            vault.clean_leftovers()
        except (OSError, VaultError) as exc:  # a read-only folder still opens
            log.info("leftovers of interrupted writes were not removed: %s", exc)
        return vault

    # --- paths and locks (the index: index.py) ------------------------------------------------------

    def _record_path(self, file_id: str) -> Path:
        return self.folder / RECORDS_DIR / f"{file_id}{RECORD_SUFFIX}"

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Exclusive across processes (flock on the empty lock file), and across threads (the mutex)."""
        with self._mutex, _folder_lock(self.folder):
            yield

    def _require_unlocked(self) -> None:
        if self._data_key.wiped:
            raise VaultLocked()

    def _remove_files(self, file_ids: Iterable[str]) -> None:
        removed = False
        for file_id in file_ids:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._record_path(file_id))
                removed = True
        if removed:
            _fsync_dir(self.folder / RECORDS_DIR)

    # --- records ------------------------------------------------------------------------------------

    def put(self, kind: str, name: str, data: bytes, *, meta: dict | None = None,
            group: str | None = None) -> RecordInfo:
        """Store `data` as the record (kind, group, name), replacing one of the same kind, group and name."""
        return self.put_stream(kind, name, [data], meta=meta, group=group)

    def put_stream(self, kind: str, name: str, chunks: Iterable[bytes], *, meta: dict | None = None,
                   group: str | None = None) -> RecordInfo:
        """Store a record from an iterable of byte chunks (e.g. audio as it is recorded), sealing as it goes.

        Nothing but ciphertext reaches the disk. The record file is written (atomically) before the index
        refers to it, so a crash at any moment leaves the old record or the new, and at worst an orphan
        file that `check(repair=True)` removes.
        """
        with self.transaction() as tx:
            tx.put_stream(kind, name, chunks, meta=meta, group=group)
        return tx.committed[0]

    def transaction(self) -> "Transaction":
        """Several records that appear together or not at all: each is sealed into its own file at once,
        and the one index write at `commit()` (the end of a `with` block) makes all of them visible.

        A crash or an error before it leaves only files the index does not name, which the next open or
        `check(repair=True)` removes; a group new to the vault enters the index with its first records.
        """
        self._require_unlocked()
        return Transaction(self)

    def info(self, record_id: str) -> RecordInfo:
        with self._mutex:
            entry = self._current_index().records.get(record_id)
        if entry is None:
            raise RecordNotFound(f"There is no record {record_id!r} in the vault.")
        return _copy_info(entry.info)

    def find(self, kind: str, name: str, group: str | None = None) -> RecordInfo | None:
        with self._mutex:
            entry = self._current_index().find(kind, name, group)
        return None if entry is None else _copy_info(entry.info)

    def _opening(self, record_id: str) -> tuple[IndexEntry, SecretKey, Path]:
        """What reading a record needs: its index entry, its key and its file."""
        self.touch()
        with self._mutex:
            index = self._current_index()
            entry = index.records.get(record_id)
            if entry is None:
                raise RecordNotFound(f"There is no record {record_id!r} in the vault.")
            key = self._record_key(index, entry.key_id)
        return entry, key, self._record_path(entry.file_id)

    def open_stream(self, record_id: str) -> RecordStream:
        """The record's plaintext as an iterator of authenticated segments (at most 64 KiB each)."""
        return RecordStream(self, *self._opening(record_id))

    def open_reader(self, record_id: str) -> RecordReader:
        """The record as a seekable read-only file; each segment is authenticated when it is read."""
        return RecordReader(self, *self._opening(record_id))

    def get(self, record_id: str) -> bytes:
        """The whole record, verified to the last byte before it is returned."""
        with self.open_stream(record_id) as stream:
            return b"".join(stream)

    def list(self, kind: str | None = None, group: str | None = None) -> list[RecordInfo]:
        """Records from the encrypted index, oldest first, optionally of one kind and/or group."""
        if kind is not None:
            records.validate_kind(kind)
        self.touch()
        with self._mutex:
            entries = list(self._current_index().records.values())
        found = [e.info for e in entries
                 if (kind is None or e.info.kind == kind) and (group is None or e.info.group == group)]
        return [_copy_info(i) for i in sorted(found, key=lambda i: (i.created, i.name, i.id))]

    def groups(self) -> list[str]:
        with self._mutex:
            return sorted(self._current_index().groups)

    def delete(self, record_id: str) -> RecordInfo:
        """Remove a record from the index, then its file. An ungrouped record's own key goes with it."""
        self.touch()

        def remove(index: Index) -> IndexEntry:
            entry = index.records.pop(record_id, None)
            if entry is None:
                raise RecordNotFound(f"There is no record {record_id!r} in the vault.")
            return entry

        entry = self._commit(remove)
        self._remove_files([entry.file_id])
        return _copy_info(entry.info)

    def delete_group(self, group: str) -> list[RecordInfo]:
        """Crypto-shred a group: its records and its key leave the index in one atomic write.

        From then on no copy of the group's record files (a backup, a disk image) can be decrypted with
        this vault's passphrase, because the only wrapped copy of the group key was in the index. Not
        covered: copies of an older index (a backup of the whole folder), exports, plaintext that left the
        vault; reader/vault/README.md, "What deleting a voice guarantees", says exactly what is and is not.
        """
        group = records.validate_group(group)
        self.touch()

        def remove(index: Index) -> list[IndexEntry]:
            if group not in index.groups:
                raise RecordNotFound(f"There is no group '{group}' in the vault.")
            gone = [e for e in index.records.values() if e.info.group == group]
            for entry in gone:
                del index.records[entry.info.id]
            index.keys.pop(index.groups.pop(group), None)
            return gone

        gone = self._commit(remove)
        self._remove_files(e.file_id for e in gone)
        return [_copy_info(e.info) for e in sorted(gone, key=lambda e: (e.info.created, e.info.name))]

    # --- keys in memory (passwd and rekey: rekey.py) -----------------------------------------------

    @property
    def locked(self) -> bool:
        return self._data_key.wiped

    def lock(self) -> None:
        """Zero every key this object holds and drop the decrypted index (names are personal too).

        Python cannot promise more: the passphrase was a str, and plaintext that callers read is theirs.
        Takes no lock, so an idle timer can lock while another thread is in the middle of a write (which
        then fails with VaultLocked and leaves the vault as it was).
        """
        self._data_key.wipe()  # first, and without waiting: from here on nothing new can be unwrapped
        self._wipe_keys()
        with self._mutex:  # again, in case a thread was storing a key it unwrapped (or re-keying) just before
            self._data_key.wipe()
            self._wipe_keys()
            self._index = None
            self._index_stamp = None

    def _wipe_keys(self) -> None:
        for key in list(self._keys.values()) + list(self._in_flight):
            key.wipe()
        self._keys.clear()

    def touch(self) -> None:
        """Note use of the vault now (AutoLock counts idle time from the last touch)."""
        self._last_used = time.monotonic()

    def idle_seconds(self) -> float:
        return time.monotonic() - self._last_used

    def __enter__(self) -> "Vault":
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()
