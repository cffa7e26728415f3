"""What unlocks the vault, changed: a new passphrase (`change_passphrase`), or a new data key with every
record re-encrypted (`rekey`), committed by one rename of the file `rekey` that the next open installs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from reader.vault import records
from reader.vault.crypto import KdfParams, KdfTooCostly, SecretKey, new_vault_params, wrap_key
from reader.vault.errors import (
    DamagedData,
    RecordDamaged,
    VaultDamaged,
    VaultError,
    VaultTooNew,
    VaultWriteError,
    WrongPassphrase,
)
from reader.vault.files import (
    HEADER_FILE,
    INDEX_FILE,
    REKEY_FILE,
    _fsync_dir,
    _write_file,
    _write_stream,
    _writing,
)
from reader.vault.header import (
    RESTORE_HEADER,
    _check_new_passphrase,
    _check_passphrase,
    _new_key_header,
    _read_header,
    _unwrap_header,
)
from reader.vault.lock import _folder_lock
from reader.vault.reading import describe
from reader.vault.records import FILE_INDEX, FILE_VAULT_HEADER, Index, IndexEntry, KeyHeader, StreamContext

log = logging.getLogger(__name__)


def _install_rekey(folder: Path) -> None:
    """Put the header and index of a committed re-key in place, then drop its file. Call under the lock.

    Idempotent: a crash anywhere in here leaves the re-key file, and the next open installs it again."""
    path = folder / REKEY_FILE
    with _writing(path):
        data = path.read_bytes()
    head, index = data[:records.KEY_HEADER_BYTES], data[records.KEY_HEADER_BYTES:]
    try:
        KeyHeader.parse(head, file_type=FILE_VAULT_HEADER)
        records.StreamHeader.parse(index[:records.STREAM_HEADER_BYTES], file_type=FILE_INDEX)
    except (DamagedData, KdfTooCostly, VaultTooNew):
        raise VaultDamaged(f"The file {path} of an interrupted re-key is damaged; {RESTORE_HEADER}") from None
    _write_file(folder / INDEX_FILE, index)
    _write_file(folder / HEADER_FILE, head)
    with _writing(path):
        path.unlink()
        _fsync_dir(folder)


def _finish_rekey(folder: Path) -> None:
    """A re-key that was committed (its file renamed into place) but not installed: install it now."""
    if not (folder / REKEY_FILE).exists():
        return
    with _folder_lock(folder):
        if (folder / REKEY_FILE).exists():  # not finished by another process meanwhile
            _install_rekey(folder)
            log.info("finished an interrupted re-key of the vault in %s", folder)


class RekeyMixin:
    """The Vault's `change_passphrase` and `rekey`."""

    def change_passphrase(self, old: str, new: str, *, kdf_params: KdfParams | None = None) -> None:
        """Re-wrap the data key under `new` (fresh salt); records and the index are not touched."""
        old = _check_passphrase(old)
        new = _check_new_passphrase(new)
        self.touch()
        with self._file_lock():
            self._require_unlocked()
            self._check_current_passphrase(old)
            new_header = _new_key_header(FILE_VAULT_HEADER, new, self._data_key, kdf_params or new_vault_params(),
                                         self._vault_id)
            _write_file(self.folder / HEADER_FILE, new_header.to_bytes())
            self._header = new_header
        log.info("changed the vault passphrase")

    def _check_current_passphrase(self, passphrase: str) -> None:
        """WrongPassphrase unless `passphrase` unwraps, from the header on disk, the data key we hold."""
        header = _read_header(self.folder)
        if header.vault_id != self._vault_id:
            raise VaultDamaged(f"The vault header in {self.folder} belongs to another vault.")
        current = _unwrap_header(header, passphrase)
        try:
            if not current.equals(self._data_key):
                raise WrongPassphrase()
        finally:
            current.wipe()

    def rekey(self, passphrase: str, *, new_passphrase: str | None = None, kdf_params: KdfParams | None = None,
              progress: Callable[[int, int], None] | None = None) -> int:
        """A new data key, new group and record keys, and every record re-encrypted with them; returns the
        number of records. Unlike `change_passphrase`, a copy of the old header (with the old passphrase)
        then opens nothing written from now on, nor the new files of the old records.

        `passphrase` is the current one; the new header wraps the new key under `new_passphrase` (or the
        same passphrase, fresh salt). `progress(done, total)` is called before each record. Crash-safe:
        the new records are written beside the old ones under new names, then one rename of the file
        `rekey` (new header + new index) is the commit point; before it the old vault is whole, after it
        the next open installs the new header and index if this did not get to. Old files go last.
        A record that cannot be read stops the re-key with nothing changed (it would otherwise be lost).
        """
        passphrase = _check_passphrase(passphrase)
        target = passphrase if new_passphrase is None else _check_new_passphrase(new_passphrase)
        self.touch()
        with self._file_lock():
            self._require_unlocked()
            self._check_current_passphrase(passphrase)
            self._remove_stale_index_temps()
            old_index, stamp = self._load_index()
            self._set_index(old_index, stamp)
            data_key = SecretKey.generate()
            new_keys: dict[str, SecretKey] = {}
            new_index = Index(vault_id=self._vault_id)
            written: list[str] = []

            def new_key() -> tuple[str, SecretKey]:
                key, key_id = SecretKey.generate(), records.new_id()
                self._in_flight.add(key)
                new_keys[key_id] = key
                new_index.keys[key_id] = wrap_key(data_key, key, records.record_key_ad(self._vault_id, key_id))
                return key_id, key

            self._in_flight.add(data_key)
            try:
                for group in old_index.groups:  # groups without records too: they stay
                    new_index.groups[group] = new_key()[0]
                entries = sorted(old_index.records.values(), key=lambda e: (e.info.created, e.info.name, e.info.id))
                for done, entry in enumerate(entries):
                    if progress is not None:
                        progress(done, len(entries))
                    info = entry.info
                    if info.group is None:
                        key_id, key = new_key()
                    else:
                        key_id = new_index.groups[info.group]
                        key = new_keys[key_id]
                    file_id = records.new_id()
                    written.append(file_id)
                    ctx = StreamContext(vault_id=self._vault_id, record_id=info.id, kind=info.kind, file_id=file_id)
                    try:
                        with self.open_stream(info.id) as stream:
                            _write_stream(self._record_path(file_id),
                                          records.seal_record(key, ctx, stream))
                    except (RecordDamaged, VaultTooNew):
                        raise RecordDamaged(
                            f"{describe(info)} cannot be read, so nothing was re-keyed (the vault is as it was); "
                            "delete that record or restore it from a backup, then re-key again.",
                            record_id=info.id, name=info.name) from None
                    new_index.records[info.id] = IndexEntry(info=info, file_id=file_id, key_id=key_id)
                if progress is not None:
                    progress(len(entries), len(entries))
                new_header = _new_key_header(FILE_VAULT_HEADER, target, data_key,
                                             kdf_params or new_vault_params(), self._vault_id)
                # The commit point: before this rename the old header and index are untouched.
                _write_file(self.folder / REKEY_FILE, new_header.to_bytes() + self._seal_index(new_index, data_key))
            except BaseException:
                self._remove_files(written)
                for key in (data_key, *new_keys.values()):
                    key.wipe()
                    self._in_flight.discard(key)
                raise
            for key in (data_key, *new_keys.values()):
                self._in_flight.discard(key)
            self._generation += 1  # transactions begun with the old key must not commit into the new index
            try:
                _install_rekey(self.folder)
            except VaultError:
                for key in (data_key, *new_keys.values()):
                    key.wipe()
                self.lock()
                raise VaultWriteError("The vault was re-keyed, but its new header and index could not be put in "
                                      "place; they are in the file `rekey`, which the next unlock installs.") from None
            old_key = self._data_key
            if old_key.wiped:  # locked meanwhile: the vault on disk is re-keyed, this object stays locked
                for key in (data_key, *new_keys.values()):
                    key.wipe()
            else:
                self._data_key, self._header = data_key, new_header
                for key in self._keys.values():
                    key.wipe()
                self._keys = dict(new_keys)
                self._set_index(new_index, self._stamp())
                old_key.wipe()
        self._remove_files(e.file_id for e in old_index.records.values())
        log.info("re-keyed the vault: %d records re-encrypted", len(entries))
        return len(entries)
