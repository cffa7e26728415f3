"""The sealed index as the Vault uses it: read again when the file changed, changed and written under
the writers' lock (`_commit`, the commit point of every write), and the keys it wraps."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Callable, TypeVar

from reader.vault import records
from reader.vault.crypto import SecretKey, unwrap_key
from reader.vault.errors import DamagedData, VaultDamaged, VaultLocked, VaultTooNew
from reader.vault.files import HEADER_FILE, INDEX_FILE, REKEY_FILE, _write_file
from reader.vault.records import FILE_INDEX, Index, IndexEntry, RecordInfo, StreamContext


T = TypeVar("T")

INDEX_DAMAGED = ("The vault index is damaged or was tampered with; no record can be found without it, "
                 "so restore the vault from a backup (`reader vault import` into a new vault).")

REKEYED_ELSEWHERE = ("The vault's index no longer opens with the key this program holds: another program "
                     "re-keyed the vault (`reader vault rekey`) or the index was damaged; unlock it again.")
INDEX_MISSING = ("The vault index is missing; restore the vault from a backup "
                 "(`reader vault import` into a new vault).")


def _index_context(vault_id: bytes) -> StreamContext:
    return StreamContext(vault_id=vault_id, record_id="index", kind="index", file_id="index")


def _same_record(index: Index, record_id: str, kind: str, name: str, group: str | None) -> list[IndexEntry]:
    """Entries that a record with this id or this (kind, name, group) would replace: at most two."""
    found = []
    by_id = index.records.get(record_id)
    if by_id is not None:
        found.append(by_id)
    by_name = index.find(kind, name, group)
    if by_name is not None and by_name is not by_id:
        found.append(by_name)
    return found


def _copy_info(info: RecordInfo) -> RecordInfo:
    """A RecordInfo whose meta the caller may change without changing the index."""
    return replace(info, meta=records.validate_meta(info.meta))


class IndexMixin:
    """The Vault's index methods (state: `_index`, `_index_stamp`, `_keys`, `_data_key`, `_header`)."""

    def _stamp(self) -> tuple | None:
        try:
            st = os.stat(self.folder / INDEX_FILE)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load_index(self) -> tuple[Index, tuple]:
        path = self.folder / INDEX_FILE
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            raise VaultDamaged(INDEX_MISSING) from None
        with handle:
            st = os.fstat(handle.fileno())
            if st.st_size > records.sealed_size(records.MAX_INDEX_BYTES):
                raise VaultDamaged(INDEX_DAMAGED)
            try:
                data = b"".join(records.open_stream(self._data_key, _index_context(self._vault_id), handle,
                                                    file_type=FILE_INDEX))
                index = records.parse_index(data, vault_id=self._vault_id)
            except DamagedData:
                if self._rekeyed_elsewhere():
                    self.lock()
                    raise VaultLocked(REKEYED_ELSEWHERE) from None
                raise VaultDamaged(INDEX_DAMAGED) from None
            except VaultTooNew:
                raise VaultTooNew() from None
        return index, (st.st_ino, st.st_size, st.st_mtime_ns)

    def _rekeyed_elsewhere(self) -> bool:
        """Whether the header changed since this vault was opened (`passwd` or `rekey` by another program)."""
        if (self.folder / REKEY_FILE).exists():
            return True
        try:
            return (self.folder / HEADER_FILE).read_bytes() != self._header.to_bytes()
        except OSError:
            return False

    def _set_index(self, index: Index, stamp: tuple | None) -> None:
        self._index, self._index_stamp = index, stamp
        for key_id in [k for k in self._keys if k not in index.keys]:
            self._keys.pop(key_id).wipe()  # shredded (here or by another process): forget it here too

    def _current_index(self) -> Index:
        """The index, re-read when the file changed (another process wrote it). Call with the mutex held."""
        self._require_unlocked()
        index = self._index
        if index is None or self._stamp() != self._index_stamp:
            index, stamp = self._load_index()
            self._set_index(index, stamp)
        return index

    def _seal_index(self, index: Index, data_key: SecretKey) -> bytes:
        data = index.to_bytes()
        # Padded with spaces (JSON ignores them) to a size bucket, so its size says less about the records.
        data += b" " * (min(records.padded_size(len(data)), records.MAX_INDEX_BYTES) - len(data))
        return b"".join(records.seal_stream(data_key, _index_context(self._vault_id), [data], file_type=FILE_INDEX))

    def _write_index(self, index: Index) -> None:
        _write_file(self.folder / INDEX_FILE, self._seal_index(index, self._data_key))

    def _commit(self, change: Callable[[Index], T]) -> T:
        """Apply `change` to a freshly read index and write it atomically, all under the writer lock."""
        with self._file_lock():
            self._require_unlocked()
            index, _ = self._load_index()
            result = change(index)
            self._remove_stale_index_temps()
            self._write_index(index)
            self._set_index(index, self._stamp())
            return result

    def _record_key(self, index: Index, key_id: str) -> SecretKey:
        key = self._keys.get(key_id)
        if key is None or key.wiped:
            try:
                key = unwrap_key(self._data_key, index.keys[key_id], records.record_key_ad(self._vault_id, key_id))
            except (DamagedData, KeyError):
                raise VaultDamaged(INDEX_DAMAGED) from None
            self._keys[key_id] = key
        return key
