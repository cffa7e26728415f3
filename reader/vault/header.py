"""The vault header and passphrases: checking a passphrase, reading the header (bounded, checksummed),
wrapping a key under Argon2id(passphrase) and unwrapping it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reader.vault import records
from reader.vault.crypto import (
    KdfParams,
    KdfTooCostly,
    SALT_BYTES,
    SecretKey,
    derive_kek,
    random_bytes,
    unwrap_key,
    wrap_key,
)
from reader.vault.errors import (
    DamagedData,
    PassphraseError,
    VaultDamaged,
    VaultError,
    VaultMissing,
    WrongPassphrase,
)
from reader.vault.files import HEADER_FILE, _has_vault_files
from reader.vault.records import FILE_VAULT_HEADER, KeyHeader
from reader.vault.strength import passphrase_problem


EMPTY_PASSPHRASE = "The passphrase is empty; an empty passphrase would leave the vault open to anyone."
# The header holds the wrapped data key: without it (or with a forged one) nothing can be decrypted, and a
# new vault over the folder would lose every record. Only a copy of the same header brings it back.
RESTORE_HEADER = ("put back the file `header` from a backup copy of the vault folder (it never changes but "
                  "with `reader vault passwd`), or move the folder away, make a new vault with `reader vault "
                  "init` and `reader vault import` your latest export into it.")


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


def missing_vault(folder: Path | str) -> VaultError:
    """The error for a folder without a header: no vault yet (VaultMissing), or a vault whose header
    is gone (VaultDamaged, saying how to restore it: `vault init` there would lose every record)."""
    folder = Path(folder)
    if _has_vault_files(folder):
        return VaultDamaged(f"The vault header {folder / HEADER_FILE} is missing but the vault's index and "
                            f"records are there (nothing was changed); {RESTORE_HEADER}")
    return VaultMissing()


def _read_header(folder: Path) -> KeyHeader:
    path = folder / HEADER_FILE
    try:
        with open(path, "rb") as handle:
            data = handle.read(records.KEY_HEADER_BYTES + 1)
    except FileNotFoundError:
        raise missing_vault(folder) from None
    except OSError as exc:
        raise VaultError(f"The vault header {path} cannot be read ({exc.strerror}).") from None
    try:
        return KeyHeader.parse(data, file_type=FILE_VAULT_HEADER)
    except DamagedData:
        raise VaultDamaged(f"The vault header {path} is damaged; {RESTORE_HEADER}") from None
    except KdfTooCostly as exc:
        raise VaultDamaged(f"The vault header {path} asks for {exc.message[0].lower()}{exc.message[1:-1]}: "
                           f"it was forged or damaged; {RESTORE_HEADER}") from None


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
