"""Exports of the archive: the open layout in plaintext (FLAC files, metadata.json, metadata.csv), only when
asked for, or an encrypted bundle in the vault's own backup format, which `reader vault import` opens."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from reader.archive import ArchiveError
from reader.archive.records import AUDIO_KIND, FIELD_NAMES, FIELDS, ID_PATTERN, META_KIND, ArchiveEntry, safe_text
from reader.fileio import write_atomic

if TYPE_CHECKING:
    from reader.archive.store import ArchiveStore
    from reader.vault.crypto import KdfParams

log = logging.getLogger(__name__)

RECORDINGS_DIR = "recordings"
FLAC_SUFFIX = ".flac"
METADATA_JSON = "metadata.json"
METADATA_CSV = "metadata.csv"
README_TXT = "README.txt"
BUNDLE_PREFIX = "archive-"
BUNDLE_SUFFIX = ".rvbundle"
# Plaintext exports hold voices and names: readable by the user only, who can loosen it when sharing.
PLAINTEXT_MODE = 0o600
# The only file names an export writes for recordings: an entry id and the FLAC suffix.
ID_FILE_NAME = re.compile(ID_PATTERN.pattern + re.escape(".flac"))
# Excel opens a CSV as UTF-8 only when it starts with a byte order mark; without it Chinese text is garbled.
CSV_ENCODING = "utf-8-sig"
# The staging vault's passphrase is 256 random bits held only in memory, so a costly KDF would add nothing
# against guessing it: Argon2id's minimum (RFC 9106: 8 KiB a lane, 1 pass).
STAGING_KDF_MEMORY_KIB = 8
STAGING_PASSPHRASE_BYTES = 32


@dataclass(frozen=True)
class PlainExport:
    folder: Path
    recordings: tuple[Path, ...]
    metadata: tuple[Path, ...]


@dataclass(frozen=True)
class BundleExport:
    path: Path
    entries: int


# --- the open layout ------------------------------------------------------------------------------------


def metadata_json(entries: Sequence[ArchiveEntry]) -> bytes:
    """metadata.json: a list of objects, one per recording, with every field (reader/archive/SCHEMA.md)."""
    text = json.dumps([e.to_json() for e in entries], ensure_ascii=False, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _csv_cell(value: object) -> str:
    return "" if value is None else str(value)


def metadata_csv(entries: Sequence[ArchiveEntry]) -> bytes:
    """metadata.csv: a header row of the field names, then one row per recording; empty cell for null."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes where needed (transcripts span lines)
    writer.writerow(FIELD_NAMES)
    for entry in entries:
        obj = entry.to_json()
        writer.writerow([_csv_cell(obj[name]) for name in FIELD_NAMES])
    return out.getvalue().encode(CSV_ENCODING)


def readme_text(count: int) -> str:
    """README.txt of a plaintext export: enough to use the files without the reader."""
    lines = [
        "Dialect archive export",
        "",
        f"{count} recording(s). Each is recordings/<id>.flac: lossless FLAC, the original sample rate,",
        "channels and bit depth. metadata.json (a list of objects) and metadata.csv (UTF-8 with BOM, one",
        "row per recording) describe them with these fields; null is an empty cell in the CSV:",
        "",
    ]
    for field in FIELDS:
        lines.append(f"  {field.name} ({field.type}): {field.description}")
    lines += ["", "This folder is not encrypted: it holds voices and names. Keep it private or delete it.", ""]
    return "\n".join(lines)


def _check_target(store: "ArchiveStore", folder: Path, entries: Sequence[ArchiveEntry]) -> None:
    if not entries:
        raise ArchiveError("There are no recordings to export.")
    vault_folder = store.vault.folder.resolve()
    target = folder.resolve()
    if target == vault_folder or vault_folder in target.parents:
        raise ArchiveError("Export to a folder outside the vault folder, e.g. on a USB stick.")


def _inside(folder: Path, name: str) -> Path:
    """folder/name, refused unless it is a plain file name inside `folder` (an id from a backup may try
    "../x" or an absolute path): exports are written only under the chosen folder."""
    if (not ID_FILE_NAME.fullmatch(name) or Path(name).name != name
            or folder.resolve() not in (folder / name).resolve().parents):
        raise ArchiveError(f"A recording's id ({safe_text(name)[:40]!r}) is not a plain file name; nothing "
                           "more was exported. `reader vault check` tells whether the vault is damaged.")
    return folder / name


def export_plaintext(store: "ArchiveStore", folder: Path | str, entries: Sequence[ArchiveEntry]) -> PlainExport:
    """Write the open layout into `folder`: recordings/<id>.flac (the archived FLAC byte for byte), then
    metadata.json, metadata.csv and README.txt. Each file is written atomically."""
    folder = Path(folder)
    _check_target(store, folder, entries)
    try:
        (folder / RECORDINGS_DIR).mkdir(parents=True, exist_ok=True)
        written = []
        for entry in entries:
            path = _inside(folder / RECORDINGS_DIR, f"{entry.id}{FLAC_SUFFIX}")
            data = store.flac(entry)
            if hashlib.sha256(data).hexdigest() != entry.flac_sha256:
                raise ArchiveError(f"The audio of recording {entry.id} is not the one archived; "
                                   "`reader vault check` tells whether the vault is damaged.")
            write_atomic(path, data, mode=PLAINTEXT_MODE)
            written.append(path)
        metadata = []
        for name, data in ((METADATA_JSON, metadata_json(entries)), (METADATA_CSV, metadata_csv(entries)),
                           (README_TXT, readme_text(len(entries)).encode("utf-8"))):
            write_atomic(folder / name, data, mode=PLAINTEXT_MODE)
            metadata.append(folder / name)
    except OSError as exc:
        raise ArchiveError(f"{folder} cannot be written ({exc.strerror or exc}).") from None
    log.info("exported %d recordings in plaintext", len(entries))
    return PlainExport(folder, tuple(written), tuple(metadata))


# --- the encrypted bundle -------------------------------------------------------------------------------


def bundle_path(folder: Path, today: dt.date | None = None) -> Path:
    """DIR/archive-<date>.rvbundle, or -2, -3 ... when that exists: an older bundle is never replaced."""
    stem = f"{BUNDLE_PREFIX}{(today or dt.date.today()).isoformat()}"
    path = folder / f"{stem}{BUNDLE_SUFFIX}"
    number = 1
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}{BUNDLE_SUFFIX}"
    return path


def export_bundle(store: "ArchiveStore", folder: Path | str, passphrase: str, entries: Sequence[ArchiveEntry],
                  *, kdf_params: "KdfParams | None" = None, today: dt.date | None = None) -> BundleExport:
    """Write the entries' records as a vault backup sealed under `passphrase` (open it with `reader vault
    import`). Vault.export takes every record, so the entries are first copied, still sealed, into a staging
    vault in a hidden folder inside `folder` whose passphrase exists only in memory; that vault is exported
    and removed. Only ciphertext ever reaches the disk."""
    from reader.vault.crypto import KdfParams
    from reader.vault.store import Vault

    folder = Path(folder)
    _check_target(store, folder, entries)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = bundle_path(folder, today)
        with tempfile.TemporaryDirectory(prefix=".archive-bundle-", dir=folder) as tmp:
            staging_kdf = KdfParams(memory_kib=STAGING_KDF_MEMORY_KIB, iterations=1, lanes=1)
            staging = Vault.create(Path(tmp) / "vault", secrets.token_urlsafe(STAGING_PASSPHRASE_BYTES),
                                   kdf_params=staging_kdf)
            with staging:
                for entry in entries:
                    for kind in (AUDIO_KIND, META_KIND):
                        info = store.vault.find(kind, entry.id, entry.group)
                        if info is None:
                            raise ArchiveError(f"Part of recording {entry.id} is missing from the vault; "
                                               "nothing was exported.")
                        with store.vault.open_stream(info.id) as stream:
                            staging.put_stream(kind, info.name, stream, meta=info.meta, group=info.group)
                report = staging.export(target, passphrase, kdf_params=kdf_params)
    except OSError as exc:
        raise ArchiveError(f"{folder} cannot be written ({exc.strerror or exc}).") from None
    log.info("exported %d recordings as an encrypted bundle", len(entries))
    return BundleExport(report.path, len(entries))
