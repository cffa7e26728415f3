"""Backups: `export` seals every readable record into one file under its own passphrase; `import_` merges
one after verifying all of it, asking before it replaces a record."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from reader.vault import records
from reader.vault.check import Problem
from reader.vault.crypto import KdfParams, KdfTooCostly, SecretKey, new_vault_params, random_bytes, wrap_key
from reader.vault.errors import BackupError, DamagedData, RecordDamaged, RecordNotFound, VaultTooNew
from reader.vault.files import _write_stream
from reader.vault.header import _check_new_passphrase, _check_passphrase, _new_key_header, _unwrap_header
from reader.vault.index import _copy_info, _same_record
from reader.vault.records import FILE_BACKUP, Index, IndexEntry, KeyHeader, RecordInfo, StreamContext

log = logging.getLogger(__name__)


# Records of a backup up to this size are held in memory while importing, for their checks (embeddings,
# presets, consent, descriptions); larger ones (audio) are checked by their size and meta only.
SMALL_RECORD_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Difference:
    """A record both the vault and a backup hold, with different content: which one stays is the user's
    choice (`import_(decide=...)`), never a clock's."""

    ours: RecordInfo
    theirs: RecordInfo


@dataclass(frozen=True)
class ImportReport:
    """What `import_` did with each record of the backup (the RecordInfo is the backup's)."""

    added: tuple[RecordInfo, ...] = ()
    replaced: tuple[RecordInfo, ...] = ()  # differed from ours, and the user chose the backup's
    kept: tuple[RecordInfo, ...] = ()  # differed from ours, and ours stayed
    skipped: tuple[RecordInfo, ...] = ()  # the same content as ours: nothing to do
    refused: tuple[tuple[RecordInfo, str], ...] = ()  # failed its checks: (record, what is wrong), not imported


@dataclass(frozen=True)
class ExportReport:
    path: Path
    records: tuple[RecordInfo, ...]
    damaged: tuple[Problem, ...]  # records left out of the backup because they could not be read


def _backup_context(backup_id: bytes) -> StreamContext:
    return StreamContext(vault_id=backup_id, record_id="backup", kind="backup", file_id="backup")


@dataclass
class _ImportPlan:
    info: RecordInfo
    action: str  # "added", "differs" (until decided), "replaced", "kept", "skipped" or "refused"
    file_id: str | None = None
    key_id: str | None = None
    record_wrapped: bytes | None = None  # the record's own key, when it has no group
    group_wrapped: bytes | None = None  # the group's key, when the group is new to this vault
    local_files: frozenset = frozenset()  # the files of our records it would replace, as planned
    local: tuple[RecordInfo, ...] = ()
    data: bytes | None = None  # the plaintext of a small record, for its checks
    sha256: str = ""
    local_sha256: tuple[str | None, ...] = ()
    reason: str = ""


def _decide_import(plans: list[_ImportPlan], check, decide) -> None:  # noqa: ANN001
    """Refuse the groups that fail `check`, skip records identical to ours, and let `decide` choose for
    the records that differ (ours stay unless it names them)."""
    if check is not None:
        groups: dict[object, list[_ImportPlan]] = {}
        for plan in plans:
            groups.setdefault(plan.info.group or ("", plan.info.id), []).append(plan)
        for key, members in groups.items():
            problem = check(key if isinstance(key, str) else None, [(p.info, p.data) for p in members])
            if problem:
                for plan in members:
                    plan.action, plan.reason = "refused", problem
    differing: list[Difference] = []
    for plan in plans:
        if plan.action != "differs":
            continue
        ours = plan.local[0]
        if (len(plan.local) == 1 and plan.local_sha256[0] == plan.sha256 and ours.meta == plan.info.meta
                and (ours.kind, ours.name, ours.group) == (plan.info.kind, plan.info.name, plan.info.group)):
            plan.action = "skipped"
        else:
            differing.append(Difference(ours=_copy_info(ours), theirs=_copy_info(plan.info)))
    chosen = set(decide(differing)) if (decide is not None and differing) else set()
    for plan in plans:
        if plan.action == "differs":
            plan.action = "replaced" if plan.info.id in chosen else "kept"


def _chain(*parts: Iterable[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield from part


class TransferMixin:
    """The Vault's `export` and `import_`."""

    def export(self, path: Path | str, export_passphrase: str, *,
               kdf_params: KdfParams | None = None) -> ExportReport:
        """Write every readable record and its index entry to one backup file sealed under `export_passphrase`.

        The backup does not depend on this vault's header or keys (it can be imported into a new vault).
        Damaged records are left out and listed in the report. Written atomically: temp file beside
        `path`, holding only ciphertext.
        """
        path = Path(path)
        export_passphrase = _check_new_passphrase(export_passphrase)
        if self.folder.resolve() in path.resolve().parents:
            raise BackupError("Write the backup outside the vault folder, e.g. to a USB stick.")
        self.touch()
        with self._mutex:
            entries = sorted(self._current_index().records.values(), key=lambda e: (e.info.created, e.info.name))
        good: list[RecordInfo] = []
        damaged: list[Problem] = []
        for entry in entries:  # read each record first, so a damaged one is left out rather than half-written
            try:
                with self.open_stream(entry.info.id) as stream:
                    for _ in stream:
                        pass
                good.append(entry.info)
            except (RecordDamaged, VaultTooNew) as exc:
                damaged.append(Problem("damaged", exc.message, record_id=entry.info.id, name=entry.info.name))
            except RecordNotFound:
                pass  # deleted meanwhile
        backup_id = random_bytes(records.ID_BYTES)
        backup_key = SecretKey.generate()
        self._in_flight.add(backup_key)
        try:
            head = _new_key_header(FILE_BACKUP, export_passphrase, backup_key, kdf_params or new_vault_params(), backup_id)

            def plaintext() -> Iterator[bytes]:
                content = 0
                for info in good:
                    frame_head = records.record_frame_head(info)
                    content += len(frame_head) + info.size
                    yield frame_head
                    with self.open_stream(info.id) as stream:
                        yield from stream
                yield from records.padding_frames(content)
                yield records.end_frame(len(good))

            pieces = records.seal_stream(backup_key, _backup_context(backup_id), plaintext(), file_type=FILE_BACKUP,
                                         version=records.BACKUP_PADDED_VERSION)
            _write_stream(path, _chain([head.to_bytes()], pieces))
        finally:
            backup_key.wipe()
            self._in_flight.discard(backup_key)
        log.info("exported %d records", len(good))
        return ExportReport(path=path, records=tuple(_copy_info(i) for i in good), damaged=tuple(damaged))

    def import_(self, path: Path | str, passphrase: str, *,
                decide: Callable[[list[Difference]], Iterable[str]] | None = None,
                check: Callable[[str | None, list[tuple[RecordInfo, bytes | None]]], str | None] | None = None,
                ) -> ImportReport:
        """Merge a backup made by `export`, after verifying all of it.

        Records are matched by id (and by kind, group and name). The same content as ours: skipped. New:
        added, unless `check(group, [(info, data), ...])` (data for records up to SMALL_RECORD_BYTES, else
        None) returns a problem sentence for its group: then the whole group is refused. Different from
        ours: `decide(differences)` returns the ids of the backup's records to take; without it ours are
        kept. The `updated` times in a backup decide nothing (a wrong clock must not replace a voice). A
        damaged or tampered backup merges nothing: the index is written once, at the end, after the last
        byte was authenticated.
        """
        path = Path(path)
        passphrase = _check_passphrase(passphrase)
        self._require_unlocked()
        self.touch()
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise BackupError(f"The backup {path} cannot be read ({exc.strerror}).") from None
        damaged = BackupError(f"The backup {path.name} is damaged or was tampered with; nothing was imported.")
        written: list[str] = []
        new_keys: list[SecretKey] = []
        generation = self._generation
        try:
            with handle:
                try:
                    head = KeyHeader.parse(handle.read(records.KEY_HEADER_BYTES), file_type=FILE_BACKUP)
                except DamagedData:
                    raise BackupError(f"The file {path.name} is damaged or is not a vault backup; "
                                      "nothing was imported.") from None
                except VaultTooNew:
                    raise VaultTooNew("This backup was made by a newer version of the reader; "
                                      "update the reader to import it.") from None
                except KdfTooCostly as exc:
                    raise BackupError(f"The backup {path.name} asks for {exc.message[0].lower()}"
                                      f"{exc.message[1:]}") from None
                backup_key = _unwrap_header(head, passphrase)
                new_keys.append(backup_key)
                self._in_flight.add(backup_key)
                try:
                    plans = self._import_records(handle, head, backup_key, written, new_keys)
                except (DamagedData, VaultTooNew):
                    raise damaged from None
            _decide_import(plans, check, decide)
            report, old_files = self._commit(lambda index: self._merge(index, plans, generation))
            self._remove_files(p.file_id for p in plans if p.file_id and p.action not in ("added", "replaced"))
        except BaseException:
            self._remove_files(written)
            raise
        finally:
            for key in new_keys:  # none of them is in self._keys: later reads unwrap them from the index
                key.wipe()
                self._in_flight.discard(key)
        self._remove_files(old_files)
        log.info("imported a backup: %d added, %d replaced, %d kept, %d skipped, %d refused", len(report.added),
                 len(report.replaced), len(report.kept), len(report.skipped), len(report.refused))
        return report

    def _local_sha256(self, entry: IndexEntry) -> str | None:
        digest = hashlib.sha256()
        try:
            with self.open_stream(entry.info.id) as stream:
                for piece in stream:
                    digest.update(piece)
        except (RecordDamaged, VaultTooNew, RecordNotFound):
            return None  # ours cannot be read: it differs from anything
        return digest.hexdigest()

    def _import_records(self, handle, head: KeyHeader, backup_key: SecretKey, written: list[str],
                        new_keys: list[SecretKey]) -> list["_ImportPlan"]:
        """Decrypt the backup, sealing each record into a new file of ours (not yet indexed)."""
        reader = records.ChunkReader(records.open_stream(backup_key, _backup_context(head.vault_id), handle,
                                                         file_type=FILE_BACKUP))
        with self._mutex:
            snapshot = self._current_index()
        plans: list[_ImportPlan] = []
        seen: set[str] = set()
        group_keys: dict[str, tuple[str, SecretKey, bytes | None]] = {}
        while True:
            frame = records.read_frame_head(reader)
            if isinstance(frame, int):
                if frame != len(plans):
                    raise DamagedData()
                return plans
            info = frame
            if info.id in seen:
                raise DamagedData()
            seen.add(info.id)
            local = _same_record(snapshot, info.id, info.kind, info.name, info.group)
            wrapped: bytes | None = None
            if info.group is None:
                key, key_id = SecretKey.generate(), records.new_id()
                new_keys.append(key)
                self._in_flight.add(key)
                wrapped = wrap_key(self._data_key, key, records.record_key_ad(self._vault_id, key_id))
            elif info.group in group_keys:
                key_id, key, _ = group_keys[info.group]
            elif info.group in snapshot.groups:
                key_id = snapshot.groups[info.group]
                with self._mutex:
                    key = self._record_key(snapshot, key_id)
                group_keys[info.group] = (key_id, key, None)
            else:  # a group new to this vault: its key enters the index with the records, at the end
                key, key_id = SecretKey.generate(), records.new_id()
                new_keys.append(key)
                self._in_flight.add(key)
                group_wrapped = wrap_key(self._data_key, key, records.record_key_ad(self._vault_id, key_id))
                group_keys[info.group] = (key_id, key, group_wrapped)
            file_id = records.new_id()
            ctx = StreamContext(vault_id=self._vault_id, record_id=info.id, kind=info.kind, file_id=file_id)
            digest = hashlib.sha256()
            small = bytearray() if info.size <= SMALL_RECORD_BYTES else None

            def pieces() -> Iterator[bytes]:
                for piece in reader.iter_exact(info.size):
                    digest.update(piece)
                    if small is not None:
                        small.extend(piece)
                    yield piece

            written.append(file_id)
            _write_stream(self._record_path(file_id),
                          records.seal_record(key, ctx, pieces()))
            plans.append(_ImportPlan(
                info, "added" if not local else "differs", file_id, key_id, wrapped,
                group_keys[info.group][2] if info.group is not None else None,
                local_files=frozenset(e.file_id for e in local), local=tuple(e.info for e in local),
                data=None if small is None else bytes(small), sha256=digest.hexdigest(),
                local_sha256=tuple(self._local_sha256(e) for e in local)))

    def _merge(self, index: Index, plans: list["_ImportPlan"], generation: int) -> tuple[ImportReport, list[str]]:
        """Put the records chosen into a fresh index; if another writer changed what a plan relied on, stop."""
        if generation != self._generation:
            raise BackupError("The vault was re-keyed while the backup was being imported; nothing was imported, "
                              "run the import again.")
        changed = BackupError("The vault changed while the backup was being imported; nothing was imported, "
                              "run the import again.")
        result: dict[str, list[RecordInfo]] = {"added": [], "replaced": [], "kept": [], "skipped": []}
        refused: list[tuple[RecordInfo, str]] = []
        old_files: list[str] = []
        now = time.time()
        for plan in plans:
            info = plan.info
            same = _same_record(index, info.id, info.kind, info.name, info.group)
            if frozenset(e.file_id for e in same) != plan.local_files:
                raise changed
            if plan.action == "refused":
                refused.append((info, plan.reason))
                continue
            result[plan.action].append(info)
            if plan.action not in ("added", "replaced"):
                continue
            if info.group is not None:
                if plan.group_wrapped is not None:
                    if index.groups.get(info.group, plan.key_id) != plan.key_id:
                        raise changed
                    index.groups[info.group] = plan.key_id
                    index.keys[plan.key_id] = plan.group_wrapped
                elif index.groups.get(info.group) != plan.key_id:
                    raise changed
            for other in same:
                old_files.append(other.file_id)
                del index.records[other.info.id]
            if plan.record_wrapped is not None:
                index.keys[plan.key_id] = plan.record_wrapped
            # A clock in a backup may be anywhere, years ahead too: no time after now enters the index.
            stored = replace(info, created=min(info.created, now), updated=min(info.updated, now))
            index.records[info.id] = IndexEntry(info=stored, file_id=plan.file_id, key_id=plan.key_id)
        report = ImportReport(**{k: tuple(_copy_info(i) for i in v) for k, v in result.items()},
                              refused=tuple((_copy_info(i), why) for i, why in refused))
        return report, old_files
