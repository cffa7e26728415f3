"""Audio out: a streaming WAV writer (sink.py) and the default output device (device.py)."""

from __future__ import annotations

from reader.errors import ReaderError


class AudioError(ReaderError):
    """Audio cannot be played or written: no device, PortAudio missing, a file that cannot be written."""

    title = "Audio"
