"""The encrypted voice vault: a family's recordings, speaker embeddings, presets and consent records.
Importing the package is cheap; `cryptography` loads when a name below is first used."""

from __future__ import annotations

from reader.lazy import lazy_getattr

_EXPORTS = {
    "Vault": "reader.vault.store",
    "AutoLock": "reader.vault.store",
    "Problem": "reader.vault.store",
    "ImportReport": "reader.vault.store",
    "ExportReport": "reader.vault.store",
    "RecordStream": "reader.vault.store",
    "RecordInfo": "reader.vault.records",
    "KNOWN_KINDS": "reader.vault.records",
    "KdfParams": "reader.vault.crypto",
    "read_passphrase": "reader.vault.commands",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
