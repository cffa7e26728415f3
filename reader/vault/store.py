"""The encrypted voice vault: `header`, sealed `index` and `records/*.rec` in READER_HOME/vault/.
Format, keys and what crypto-shredding guarantees: reader/vault/README.md."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from reader.fileio import write_atomic
from reader.vault import records
from reader.vault.crypto import (
    SALT_BYTES,
    KdfParams,
    KdfTooCostly,
    SecretKey,
    derive_kek,
    new_vault_params,
    random_bytes,
    unwrap_key,
    wrap_key,
)
from reader.vault.errors import (
    BackupError,
    DamagedData,
    InvalidRecord,
    PassphraseError,
    RecordDamaged,
    RecordNotFound,
    VaultDamaged,
    VaultError,
    VaultExists,
    VaultLocked,
    VaultMissing,
    VaultTooNew,
    VaultWriteError,
    WrongPassphrase,
)
from reader.vault.records import (
    FILE_BACKUP,
    FILE_INDEX,
    FILE_RECORD,
    FILE_VAULT_HEADER,
    Index,
    IndexEntry,
    KeyHeader,
    RecordInfo,
    StreamContext,
)
from reader.vault.strength import passphrase_problem

log = logging.getLogger(__name__)

T = TypeVar("T")

HEADER_FILE = "header"
INDEX_FILE = "index"
RECORDS_DIR = "records"
LOCK_FILE = "lock"
# A re-key's commit point: the new header (KEY_HEADER_BYTES) followed by the new sealed index, in one file
# renamed into place once every record is re-encrypted; `_finish_rekey` installs both from it.
REKEY_FILE = "rekey"
RECORD_SUFFIX = ".rec"
TEMP_SUFFIX = ".tmp"  # reader.fileio.write_atomic's and _AtomicWriter's temp files: ".NAME.XXXX.tmp"
# check(repair=True) leaves alone leftovers touched this recently: another process may be writing them.
LEFTOVER_MIN_AGE_S = 60.0
# Records of a backup up to this size are held in memory while importing, for their checks (embeddings,
# presets, consent, descriptions); larger ones (audio) are checked by their size and meta only.
SMALL_RECORD_BYTES = 8 * 1024 * 1024

EMPTY_PASSPHRASE = "The passphrase is empty; an empty passphrase would leave the vault open to anyone."
# The header holds the wrapped data key: without it (or with a forged one) nothing can be decrypted, and a
# new vault over the folder would lose every record. Only a copy of the same header brings it back.
RESTORE_HEADER = ("put back the file `header` from a backup copy of the vault folder (it never changes but "
                  "with `reader vault passwd`), or move the folder away, make a new vault with `reader vault "
                  "init` and `reader vault import` your latest export into it.")
INDEX_DAMAGED = ("The vault index is damaged or was tampered with; no record can be found without it, "
                 "so restore the vault from a backup (`reader vault import` into a new vault).")
REKEYED_MEANWHILE = "The vault was re-keyed while the records were being written; nothing was saved, try again."
REKEYED_ELSEWHERE = ("The vault's index no longer opens with the key this program holds: another program "
                     "re-keyed the vault (`reader vault rekey`) or the index was damaged; unlock it again.")
INDEX_MISSING = ("The vault index is missing; restore the vault from a backup "
                 "(`reader vault import` into a new vault).")

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


@dataclass(frozen=True)
class Problem:
    """One finding of `check`: `kind` is "damaged", "missing", "too-new" (a record) or "leftover" (a file
    from an interrupted write, harmless) or "unknown" (a file the vault did not make)."""

    kind: str
    message: str
    record_id: str | None = None
    name: str | None = None
    path: Path | None = None
    repaired: bool = False

    @property
    def is_damage(self) -> bool:
        return self.kind in ("damaged", "missing", "too-new")


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


class _AtomicWriter:
    """A streamed write_atomic: temp file in the target folder, fsync, rename, fsync the folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)  # mode 0600
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)
        _fsync_dir(self.path.parent)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """An OSError while writing (disk full, permissions) becomes one sentence; the write was atomic."""
    try:
        yield
    except OSError as exc:
        raise VaultWriteError(f"{path} cannot be written ({exc.strerror or exc}); nothing was changed.") from None


def _write_stream(path: Path, pieces: Iterable[bytes]) -> None:
    with _writing(path):
        writer = _AtomicWriter(path)
        try:
            for piece in pieces:
                writer.write(piece)
            writer.commit()
        except BaseException:
            writer.abort()
            raise


def _write_file(path: Path, data: bytes) -> None:
    with _writing(path):
        write_atomic(path, data)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_if_old(path: Path, min_age_s: float) -> bool:
    try:
        if time.time() - path.stat().st_mtime < min_age_s:
            return False
        path.unlink()
    except FileNotFoundError:
        pass
    return True


def _check_passphrase(passphrase: object) -> str:
    if not isinstance(passphrase, str) or not passphrase:
        raise PassphraseError(EMPTY_PASSPHRASE)
    return passphrase


def _check_new_passphrase(passphrase: object) -> str:
    """A passphrase for a new vault, a new passphrase or a backup: not empty, and not too weak."""
    passphrase = _check_passphrase(passphrase)
    problem = passphrase_problem(passphrase)
    if problem:
        raise PassphraseError(problem + " Nothing was changed.")
    return passphrase


def _read_header(folder: Path) -> KeyHeader:
    path = folder / HEADER_FILE
    try:
        with open(path, "rb") as handle:
            data = handle.read(records.KEY_HEADER_BYTES + 1)
    except FileNotFoundError:
        raise Vault.missing(folder) from None
    except OSError as exc:
        raise VaultError(f"The vault header {path} cannot be read ({exc.strerror}).") from None
    try:
        return KeyHeader.parse(data, file_type=FILE_VAULT_HEADER)
    except DamagedData:
        raise VaultDamaged(f"The vault header {path} is damaged; {RESTORE_HEADER}") from None
    except KdfTooCostly as exc:
        raise VaultDamaged(f"The vault header {path} asks for {exc.message[0].lower()}{exc.message[1:-1]}: "
                           f"it was forged or damaged; {RESTORE_HEADER}") from None


def _has_vault_files(folder: Path) -> bool:
    """Whether `folder` holds anything of a vault besides its header (an index, a record file)."""
    records_dir = folder / RECORDS_DIR
    return (folder / INDEX_FILE).exists() or (records_dir.is_dir() and any(records_dir.iterdir()))


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """The writers' exclusive lock across processes: flock on the empty file `lock` in the vault folder."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one process at a time is the user's to ensure
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


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


def _new_key_header(file_type: int, passphrase: str, key: SecretKey, params: KdfParams,
                    vault_id: bytes) -> KeyHeader:
    """A header whose wrapped key is `key` under Argon2id(passphrase, fresh salt)."""
    header = KeyHeader(file_type=file_type, vault_id=vault_id, kdf=params, salt=random_bytes(SALT_BYTES),
                       wrapped_key=b"")
    kek = derive_kek(passphrase, header.salt, params)
    try:
        return replace(header, wrapped_key=wrap_key(kek, key, header.wrap_ad()))
    finally:
        kek.wipe()


def _unwrap_header(header: KeyHeader, passphrase: str) -> SecretKey:
    """The key in `header`; any failure is "Wrong passphrase." and nothing more (no hint which part failed)."""
    kek = derive_kek(passphrase, header.salt, header.kdf)
    try:
        return unwrap_key(kek, header.wrapped_key, header.wrap_ad())
    except DamagedData:
        raise WrongPassphrase() from None
    finally:
        kek.wipe()


def _index_context(vault_id: bytes) -> StreamContext:
    return StreamContext(vault_id=vault_id, record_id="index", kind="index", file_id="index")


def _backup_context(backup_id: bytes) -> StreamContext:
    return StreamContext(vault_id=backup_id, record_id="backup", kind="backup", file_id="backup")


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


class Vault:
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
        folder = Path(folder)
        if _has_vault_files(folder):
            return VaultDamaged(f"The vault header {folder / HEADER_FILE} is missing but the vault's index and "
                                f"records are there (nothing was changed); {RESTORE_HEADER}")
        return VaultMissing()

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

    # --- paths, locks, the index -------------------------------------------------------------------------

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

    # --- checking -----------------------------------------------------------------------------------

    def check(self, *, repair: bool = False, min_age_s: float = LEFTOVER_MIN_AGE_S) -> list[Problem]:
        """Read every record to the end; list damaged or missing ones and leftover files.

        With `repair`, leftovers (temp files and record files the index does not name, from interrupted
        writes) older than `min_age_s` are removed. Damaged records are only reported: deleting them is
        the user's decision.
        """
        self.touch()
        with self._mutex:
            entries = sorted(self._current_index().records.values(), key=lambda e: (e.info.created, e.info.name))
        problems: list[Problem] = []
        for entry in entries:
            info = entry.info
            try:
                with self.open_stream(info.id) as stream:
                    for _ in stream:
                        pass
            except RecordDamaged as exc:
                kind = "missing" if not self._record_path(entry.file_id).exists() else "damaged"
                problems.append(Problem(kind, exc.message, record_id=info.id, name=info.name))
            except VaultTooNew as exc:
                problems.append(Problem("too-new", exc.message, record_id=info.id, name=info.name))
        with self._file_lock():  # no writer may index a file between the listing and the removal
            referenced = {e.file_id for e in self._current_index().records.values()}
            for path, what in self._leftovers(referenced):
                repaired = repair and what == "leftover" and _remove_if_old(path, min_age_s)
                message = (f"{path.name} is left over from an interrupted write"
                           if what == "leftover" else f"{path.name} was not made by the vault")
                message += "; removed." if repaired else "; it is harmless and ignored."
                problems.append(Problem(what, message, path=path, repaired=repaired))
        return problems

    def clean_leftovers(self, *, min_age_s: float = LEFTOVER_MIN_AGE_S) -> list[Path]:
        """Remove leftovers of interrupted writes without reading the records (cheap: the app may call it
        after each unlock). Files touched in the last `min_age_s` may be another process's write; kept."""
        self._require_unlocked()
        with self._file_lock():
            referenced = {e.file_id for e in self._current_index().records.values()}
            return [path for path, what in self._leftovers(referenced)
                    if what == "leftover" and _remove_if_old(path, min_age_s)]

    def _remove_stale_index_temps(self) -> None:
        """Temp files of the index and header: only ever written under the writer lock, which we hold, so
        any that exist are leftovers of a crash. They go at once, because an old index holds the keys of
        groups deleted since: leaving it would undo crypto-shredding."""
        for path in self.folder.glob(".*" + TEMP_SUFFIX):
            if path.name.startswith((f".{INDEX_FILE}.", f".{HEADER_FILE}.", f".{REKEY_FILE}.")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _leftovers(self, referenced: set[str]) -> Iterator[tuple[Path, str]]:
        expected = {HEADER_FILE, INDEX_FILE, RECORDS_DIR, LOCK_FILE, REKEY_FILE}
        for folder, known in ((self.folder, expected), (self.folder / RECORDS_DIR, set())):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                name = path.name
                if name in known:
                    continue
                if name.startswith(".") and name.endswith(TEMP_SUFFIX) and path.is_file():
                    yield path, "leftover"
                elif (folder.name == RECORDS_DIR and name.endswith(RECORD_SUFFIX) and path.is_file()
                      and records.ID_PATTERN.fullmatch(name[:-len(RECORD_SUFFIX)])):
                    if name[:-len(RECORD_SUFFIX)] not in referenced:
                        yield path, "leftover"
                else:
                    yield path, "unknown"

    # --- passphrase and keys in memory -------------------------------------------------------------

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

    # --- backups --------------------------------------------------------------------------------------

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
                for info in good:
                    yield records.record_frame_head(info)
                    with self.open_stream(info.id) as stream:
                        yield from stream
                yield records.end_frame(len(good))

            pieces = records.seal_stream(backup_key, _backup_context(backup_id), plaintext(), file_type=FILE_BACKUP)
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


def _chain(*parts: Iterable[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield from part


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
                try:
                    view = memoryview(chunk).cast("B")
                except TypeError:
                    raise InvalidRecord("Record data must be bytes (or a contiguous array).") from None
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


class AutoLock:
    """Locks a vault after `idle_seconds` without use, watched by a daemon thread; the app sets the timeout.

    `on_lock` runs in the timer thread after the keys are wiped (e.g. to show the unlock screen).
    """

    def __init__(self, vault: Vault, idle_seconds: float, *, on_lock: Callable[[], None] | None = None) -> None:
        if not idle_seconds > 0:
            raise VaultError("The idle time before the vault locks must be more than 0 seconds.")
        self.vault = vault
        self.idle_seconds = float(idle_seconds)
        self._on_lock = on_lock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vault-autolock", daemon=True)

    def start(self) -> "AutoLock":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.vault.locked:
                return
            remaining = self.idle_seconds - self.vault.idle_seconds()
            if remaining <= 0:
                self.vault.lock()
                log.info("the vault locked itself after %.0f s idle", self.idle_seconds)
                if self._on_lock is not None:
                    try:
                        self._on_lock()
                    except Exception:  # a failing callback must not hide that the vault is locked
                        log.exception("the vault's on_lock callback failed")
                return
            self._stop.wait(remaining)

    def __enter__(self) -> "AutoLock":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
