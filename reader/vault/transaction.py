"""Transactions: records sealed into files at once and named by the index together, at one commit, or never."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Iterator, TYPE_CHECKING

from reader.vault import records
from reader.vault.crypto import SecretKey, wrap_key
from reader.vault.errors import RecordNotFound, VaultError
from reader.vault.files import _write_stream
from reader.vault.index import _copy_info, _same_record
from reader.vault.records import Index, IndexEntry, RecordInfo, StreamContext, byte_view

if TYPE_CHECKING:
    from reader.vault.store import Vault


REKEYED_MEANWHILE = "The vault was re-keyed while the records were being written; nothing was saved, try again."


class GroupConflict(VaultError):
    """Another writer made the group a transaction was creating; nothing of the transaction was saved."""


@dataclass
class _Pending:
    """A record of an open transaction: its file is written, the index does not name it yet."""

    record_id: str
    kind: str
    name: str
    group: str | None
    meta: dict
    size: int
    file_id: str
    key_id: str
    own_wrapped: bytes | None  # the record's own key, wrapped, when it has no group
    key: SecretKey


class Transaction:
    """Records sealed into files now and indexed together by one index write (`commit`), or never.

    Use it as a context manager: the block's end commits, an exception aborts (the files go, the keys are
    wiped). Until the commit nothing of it is visible to `list`, `find` or another process.
    """

    def __init__(self, vault: "Vault") -> None:
        self._vault = vault
        self._pending: dict[tuple[str, str, str | None], _Pending] = {}
        # Groups new to the vault: group -> (key id, key, wrapped key); they enter the index at the commit.
        self._new_groups: dict[str, tuple[str, SecretKey, bytes]] = {}
        self._group_keys: dict[str, tuple[str, SecretKey]] = {}  # groups already in the index
        self._open = True
        self._generation = vault._generation  # keys are wrapped with this data key
        self.committed: list[RecordInfo] = []

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def _require_open(self) -> None:
        if not self._open:
            raise VaultError("This vault transaction has ended; start a new one.")

    def _group_key(self, group: str) -> tuple[str, SecretKey]:
        vault = self._vault
        if group in self._new_groups:
            key_id, key, _ = self._new_groups[group]
            return key_id, key
        if group in self._group_keys:
            return self._group_keys[group]
        with vault._mutex:
            index = vault._current_index()
            if group in index.groups:
                key_id = index.groups[group]
                self._group_keys[group] = (key_id, vault._record_key(index, key_id))
                return self._group_keys[group]
        key, key_id = SecretKey.generate(), records.new_id()
        vault._in_flight.add(key)
        wrapped = wrap_key(vault._data_key, key, records.record_key_ad(vault._vault_id, key_id))
        self._new_groups[group] = (key_id, key, wrapped)
        return key_id, key

    def put(self, kind: str, name: str, data: bytes, *, meta: dict | None = None,
            group: str | None = None) -> RecordInfo:
        return self.put_stream(kind, name, [data], meta=meta, group=group)

    def put_stream(self, kind: str, name: str, chunks: Iterable[bytes], *, meta: dict | None = None,
                   group: str | None = None) -> RecordInfo:
        """Seal a record into a new file (replacing one of the same kind, group and name at the commit,
        or one put earlier in this transaction at once). Returns what the index will say about it."""
        self._require_open()
        vault = self._vault
        kind = records.validate_kind(kind)
        name = records.validate_name(name)
        group = records.validate_group(group)
        meta = records.validate_meta(meta)
        if isinstance(chunks, (bytes, bytearray, memoryview)):
            chunks = [chunks]  # one blob, not an iterable of ints
        vault.touch()
        earlier = self._pending.get((kind, name, group))
        if earlier is not None:
            record_id = earlier.record_id
        else:
            with vault._mutex:
                existing = vault._current_index().find(kind, name, group)
            record_id = existing.info.id if existing else records.new_id()
        own_wrapped: bytes | None = None
        if group is not None:
            key_id, key = self._group_key(group)
        else:
            # No group: the record gets its own key, so deleting it shreds it too.
            key, key_id = SecretKey.generate(), records.new_id()
            vault._in_flight.add(key)
            own_wrapped = wrap_key(vault._data_key, key, records.record_key_ad(vault._vault_id, key_id))
        file_id = records.new_id()
        size = 0

        def counted() -> Iterator[memoryview]:
            nonlocal size
            for chunk in chunks:
                view = byte_view(chunk)
                size += len(view)
                vault.touch()  # recording is use: the idle timer must not lock the vault mid-recording
                yield view

        ctx = StreamContext(vault_id=vault._vault_id, record_id=record_id, kind=kind, file_id=file_id)
        try:
            _write_stream(vault._record_path(file_id),
                          records.seal_record(key, ctx, counted()))
        except BaseException:
            if own_wrapped is not None:
                key.wipe()
                vault._in_flight.discard(key)
            raise
        if earlier is not None:
            self._drop(earlier)
        self._pending[(kind, name, group)] = _Pending(record_id, kind, name, group, meta, size, file_id, key_id,
                                                      own_wrapped, key)
        now = time.time()
        return RecordInfo(id=record_id, kind=kind, name=name, group=group, meta=records.validate_meta(meta),
                          created=now, updated=now, size=size)

    def discard(self, kind: str, name: str, group: str | None = None) -> None:
        """Forget a record put earlier in this transaction (its file goes at once)."""
        self._require_open()
        pending = self._pending.pop((kind, name, group), None)
        if pending is not None:
            self._drop(pending)

    def _drop(self, pending: _Pending) -> None:
        self._vault._remove_files([pending.file_id])
        if pending.own_wrapped is not None:
            pending.key.wipe()
            self._vault._in_flight.discard(pending.key)

    def commit(self) -> list[RecordInfo]:
        """Name every record of the transaction in the index in one atomic write: the commit point."""
        self._require_open()
        vault = self._vault
        old_files: list[str] = []
        pending = list(self._pending.values())

        def add(index: Index) -> list[RecordInfo]:
            if vault._generation != self._generation:
                raise VaultError(REKEYED_MEANWHILE)
            for group, (key_id, _key, wrapped) in self._new_groups.items():
                if group in index.groups:
                    raise GroupConflict(f"The group '{group}' was made by another writer meanwhile; "
                                        "nothing was saved, try again.")
            for group, (key_id, _key) in self._group_keys.items():
                if index.groups.get(group) != key_id:
                    raise RecordNotFound(f"The group '{group}' was deleted while the records were being "
                                         "written; nothing was saved.")
            for group, (key_id, _key, wrapped) in self._new_groups.items():
                if any(p.group == group for p in pending):
                    index.groups[group] = key_id
                    index.keys[key_id] = wrapped
            now = time.time()
            done = []
            for p in pending:
                created = now
                for other in _same_record(index, p.record_id, p.kind, p.name, p.group):
                    created = min(created, other.info.created)
                    old_files.append(other.file_id)
                    del index.records[other.info.id]
                if p.own_wrapped is not None:
                    index.keys[p.key_id] = p.own_wrapped
                info = RecordInfo(id=p.record_id, kind=p.kind, name=p.name, group=p.group, meta=p.meta,
                                  created=created, updated=now, size=p.size)
                index.records[p.record_id] = IndexEntry(info=info, file_id=p.file_id, key_id=p.key_id)
                done.append(info)
            return done

        try:
            done = vault._commit(add) if pending else []
        except BaseException:
            self.abort()
            raise
        self._open = False
        with vault._mutex:
            for p in pending:
                if p.own_wrapped is not None and not vault.locked:
                    vault._keys[p.key_id] = p.key
            for group, (key_id, key, _) in self._new_groups.items():
                if not vault.locked and any(p.group == group for p in pending):
                    vault._keys[key_id] = key
                else:
                    key.wipe()
        self._forget_in_flight()
        vault._remove_files(old_files)
        self.committed = [_copy_info(i) for i in done]
        return list(self.committed)

    def abort(self) -> None:
        """Remove every file of the transaction and wipe the keys made for it; the index is untouched."""
        if not self._open:
            return
        self._open = False
        self._vault._remove_files(p.file_id for p in self._pending.values())
        for p in self._pending.values():
            if p.own_wrapped is not None:
                p.key.wipe()
        for _key_id, key, _ in self._new_groups.values():
            key.wipe()
        self._forget_in_flight()
        self._pending.clear()

    def _forget_in_flight(self) -> None:
        for p in self._pending.values():
            self._vault._in_flight.discard(p.key)
        for _key_id, key, _ in self._new_groups.values():
            self._vault._in_flight.discard(key)
