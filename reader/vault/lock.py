"""Locks: the writers' exclusive file lock on `vault/lock`, and AutoLock, which wipes an idle vault's keys."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Iterator, TYPE_CHECKING

from reader.vault.errors import VaultError
from reader.vault.files import LOCK_FILE

if TYPE_CHECKING:
    from reader.vault.store import Vault

log = logging.getLogger(__name__)


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
