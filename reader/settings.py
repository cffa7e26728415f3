"""Where the app keeps its files and the few numbers a user may tune; one frozen dataclass."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from reader.errors import SettingsError

APP_NAME = "reader"

# The speech stage's context limit in tokens (words, CJK characters, punctuation marks): long
# sentences are cut under it at clause boundaries. Kokoro takes 510 phoneme tokens; 150 text tokens
# stays under that for English (about 3 phonemes a token) and for Chinese (about 2.5 a character).
DEFAULT_MAX_TOKENS = 150

PUNCTUATION_LEVELS = ("none", "some", "most", "all")
# How much of a document's structure is announced as it is entered (NVDA's document formatting).
STRUCTURE_LEVELS = ("off", "headings", "all")


def default_home() -> Path:
    """READER_HOME, or the platform's user data folder."""
    env = os.environ.get("READER_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class Settings:
    home: Path
    max_tokens: int = DEFAULT_MAX_TOKENS
    punctuation: str = "some"
    threads: int = 2
    memory_budget_mb: int = 500
    # Speech (reader.speech): "auto" takes each stage file the pack ships; "int8" or "fp32" picks that
    # variant when a pack offers both (none of the default packs does).
    precision: str = "auto"
    # A sentence whose synthesis takes longer than this is abandoned and reading goes on.
    sentence_timeout_s: float = 30.0
    # Running real-time factor above which the rich voice gives way to the fast one.
    slow_rtf: float = 0.8
    # The app speaks its own interface with the fast voice; off for people who run their own screen reader.
    self_voicing: bool = True
    # The unlocked vault key lives in memory only; the app locks the vault after this much idle time.
    vault_idle_lock_s: float = 300.0
    # The reading voice chosen with `reader voices use NAME`: a voice spec (a stock voice or a blend like
    # "jf_alpha:0.6,jm_kumo:0.4"), or "vault:" + a preset record id for a voice whose preset is a speaker
    # embedding (reader.voices.resolve_voice turns it into the voice; the id does not say whose it is).
    voice: str | None = None
    # Reading preferences for every document (a document may override them: see reader.reading).
    rate: float = 1.0
    pitch: float = 1.0
    structure: str = "all"
    # The microphone for recording voices and the dialect archive: a sounddevice device number or name
    # (`python -m sounddevice` lists them); None for the system's default input.
    microphone: str | None = None
    # How long fitting an enrolled voice to a pack that cannot clone may take (`reader voices fit
    # --minutes` overrides it; "keep improving" adds 5 minutes).
    fit_minutes: float = 3.0

    def __post_init__(self) -> None:
        if not 0.1 <= float(self.fit_minutes) <= 120:
            raise SettingsError("fit_minutes must be between 0.1 and 120; 3 is the default.")
        if self.punctuation not in PUNCTUATION_LEVELS:
            raise SettingsError(
                f"Punctuation level {self.punctuation!r} is unknown; use one of {', '.join(PUNCTUATION_LEVELS)}."
            )
        if self.structure not in STRUCTURE_LEVELS:
            raise SettingsError(
                f"Structure level {self.structure!r} is unknown; use one of {', '.join(STRUCTURE_LEVELS)}."
            )
        if not 8 <= self.max_tokens <= 1000:
            raise SettingsError("max_tokens must be between 8 and 1000; 150 is the default.")

    @property
    def settings_file(self) -> Path:
        return self.home / "settings.json"

    @property
    def dictionary_file(self) -> Path:
        return self.home / "pronunciations.json"

    @classmethod
    def load(cls, home: Path | None = None) -> "Settings":
        """Settings from READER_HOME/settings.json; a missing file means the defaults."""
        home = home or default_home()
        path = home / "settings.json"
        values: dict = {}
        if path.exists():
            try:
                values = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SettingsError(
                    f"The settings file {path} is damaged ({exc}); fix it or delete it to go back to the defaults."
                ) from None
        known = {f.name for f in fields(cls)} - {"home"}
        return cls(home=home, **{k: v for k, v in values.items() if k in known})

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    def save(self) -> None:
        from reader.fileio import write_atomic

        data = {k: v for k, v in asdict(self).items() if k != "home"}
        write_atomic(self.settings_file, json.dumps(data, indent=2).encode("utf-8"))
