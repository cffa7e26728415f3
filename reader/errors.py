"""Every failure a user can see is a ReaderError: one clear sentence, translated at the boundary."""

from __future__ import annotations


class ReaderError(Exception):
    """A failure the user can understand and act on.

    `message` is one sentence that says what happened and what to do. `exit_code` is what the CLI
    returns (2 for bad input, the convention of argparse and most Unix tools).
    """

    exit_code = 2
    title = "Error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class InputError(ReaderError):
    """A file, folder or stream the user named cannot be read as a document."""

    title = "Cannot open the document"


class ExtractError(ReaderError):
    """The document was found but its text could not be taken out (broken, scanned, encrypted)."""

    title = "Cannot read the document"


class PasswordRequired(ExtractError):
    """An encrypted document needs a password (or the one given was wrong)."""

    title = "Password needed"


class ClipboardError(ReaderError):
    """The clipboard is empty or no clipboard mechanism exists on this machine."""

    title = "Clipboard"


class DictionaryError(ReaderError):
    """The user pronunciation dictionary is damaged or an entry is invalid."""

    title = "Pronunciation dictionary"


class NetworkRefused(ReaderError):
    """Something tried to use the network; this app never does."""

    title = "Network refused"


class SettingsError(ReaderError):
    """A setting has a value the app cannot use."""

    title = "Settings"
