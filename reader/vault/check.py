"""Checking a vault: every record read to the end, leftovers of interrupted writes found and collected."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from reader.vault import records
from reader.vault.errors import RecordDamaged, VaultTooNew
from reader.vault.files import (
    HEADER_FILE,
    INDEX_FILE,
    LEFTOVER_MIN_AGE_S,
    LOCK_FILE,
    RECORDS_DIR,
    RECORD_SUFFIX,
    REKEY_FILE,
    TEMP_SUFFIX,
    _remove_if_old,
)


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


class CheckMixin:
    """The Vault's `check` and `clean_leftovers`."""

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
