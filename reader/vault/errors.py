"""Errors of the voice vault: each is one sentence a user can act on, and none says more than it must."""

from __future__ import annotations

from reader.errors import ReaderError

WRONG_PASSPHRASE = "Wrong passphrase."
NO_VAULT = "There is no vault yet; create one with `reader vault init`."
TOO_NEW = "This vault was made by a newer version of the reader; update the reader to open it."
LOCKED = "The vault is locked; unlock it with your passphrase."


class VaultError(ReaderError):
    """Any failure of the voice vault."""

    title = "Voice vault"


class VaultMissing(VaultError):
    """There is no vault in the folder."""

    def __init__(self, message: str = NO_VAULT) -> None:
        super().__init__(message)


class VaultExists(VaultError):
    """`create` was asked for a folder that already holds a vault."""


class WrongPassphrase(VaultError):
    """The passphrase did not unwrap the key. Deliberately says nothing about which part failed."""

    title = "Wrong passphrase"

    def __init__(self, message: str = WRONG_PASSPHRASE) -> None:
        super().__init__(message)


class PassphraseError(VaultError):
    """A passphrase could not be read, was empty, or the confirmation differed."""

    title = "Passphrase"


class VaultTooNew(VaultError):
    """A vault, record or backup of a format version newer than this reader understands."""

    def __init__(self, message: str = TOO_NEW) -> None:
        super().__init__(message)


class VaultLocked(VaultError):
    """The keys were wiped (lock or idle timeout); open the vault again."""

    def __init__(self, message: str = LOCKED) -> None:
        super().__init__(message)


class DamagedData(VaultError):
    """Bytes that fail authentication or do not parse. Low level: the store names the record before a user sees it."""

    def __init__(self, message: str = "The data is damaged or was tampered with.") -> None:
        super().__init__(message)


class VaultDamaged(VaultError):
    """The vault header or index is damaged; no record can be found without them."""


class RecordDamaged(VaultError):
    """One record is damaged, missing or tampered with; the others are unaffected."""

    def __init__(self, message: str, *, record_id: str, name: str) -> None:
        super().__init__(message)
        self.record_id = record_id
        self.name = name


class RecordNotFound(VaultError):
    """No record with that id (or group with that name) is in the index."""


class InvalidRecord(VaultError):
    """A kind, name, group or meta given to `put` is not allowed."""


class VaultWriteError(VaultError):
    """A file of the vault could not be written (disk full, no permission); the vault is as it was."""


class BackupError(VaultError):
    """An export could not be written or a backup could not be imported; nothing was merged."""

    title = "Vault backup"
