"""The vault folder's files: their names, atomic writes of ciphertext (temp file, fsync, rename, fsync
the folder) and the removal of leftovers."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

from reader.fileio import write_atomic
from reader.vault.errors import VaultWriteError


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


def _has_vault_files(folder: Path) -> bool:
    """Whether `folder` holds anything of a vault besides its header (an index, a record file)."""
    records_dir = folder / RECORDS_DIR
    return (folder / INDEX_FILE).exists() or (records_dir.is_dir() and any(records_dir.iterdir()))
