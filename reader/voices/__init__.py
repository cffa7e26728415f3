"""Family voices: consent, checked recordings, speaker embeddings and reading presets, kept in the vault.
Importing the package is cheap; numpy, the vault and the speech stages load when a name below is used."""

from __future__ import annotations

from reader.lazy import lazy_getattr

# settings.voice of a voice whose preset is a speaker embedding: this prefix and the preset record's id.
VAULT_PREFIX = "vault:"
PRESET_NAME = "preset"  # the vault record name of a voice's reading preset

_EXPORTS = {
    "VoiceBook": "reader.voices.enroll",
    "Clip": "reader.voices.enroll",
    "load_clip": "reader.voices.enroll",
    "resolve_voice": "reader.voices.enroll",
    "VERIFY_THRESHOLD": "reader.voices.enroll",
    "Consent": "reader.voices.consent",
    "fit_preset": "reader.voices.fit",
    "QualityError": "reader.voices.quality",
    "register": "reader.voices.commands",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
