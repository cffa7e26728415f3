"""Audio out: the player (player.py, one callback stream fed from a queue) and a streaming WAV writer (sink.py)."""

from __future__ import annotations

from reader.errors import ReaderError


class AudioError(ReaderError):
    """Audio cannot be played or written: no device, PortAudio missing, a file that cannot be written."""

    title = "Audio"
