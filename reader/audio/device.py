"""The default audio output device (sounddevice / PortAudio): blocking writes of chunks as they come.

sounddevice is imported when a player opens, so commands that do not play never load PortAudio.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from reader.audio import AudioError

log = logging.getLogger(__name__)

NO_DEVICE_HINT = "use --out FILE.wav to write the speech to a file instead"


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError:  # sounddevice raises OSError when libportaudio is not installed
        raise AudioError(
            "Audio output needs the PortAudio library, which is not installed (on Debian: "
            f"apt-get install libportaudio2); {NO_DEVICE_HINT}."
        ) from None
    return sounddevice


class DevicePlayer:
    """Plays mono float32 chunks on the default output device with blocking writes (so it also works on
    unpaced devices). The stream opens at the first chunk's rate; later chunks of another rate are
    resampled."""

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self.sample_rate: int | None = None
        self.frames = 0
        self._stream: Any = None

    def open(self, rate: int) -> None:
        """Open the output stream now (play() opens it at the first chunk otherwise)."""
        sd = _sounddevice()
        try:
            if self.device is None:
                sd.query_devices(kind="output")  # raises when there is no output device at all
            self._stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32", device=self.device)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise AudioError(f"No audio output device can be opened ({_short(exc)}); {NO_DEVICE_HINT}.") from None
        self.sample_rate = rate

    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        if self._stream is None:
            self.open(int(sample_rate))
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if sample_rate != self.sample_rate and len(samples):
            import soxr

            samples = soxr.resample(samples, sample_rate, self.sample_rate).astype(np.float32)
        if not len(samples):
            return
        sd = _sounddevice()
        try:
            self._stream.write(np.ascontiguousarray(samples.reshape(-1, 1)))
        except sd.PortAudioError as exc:
            raise AudioError(f"Audio playback failed ({_short(exc)}); {NO_DEVICE_HINT}.") from None
        self.frames += len(samples)

    def play_chunk(self, chunk: Any) -> None:
        self.play(chunk.samples, chunk.sample_rate)

    def stop(self) -> None:
        """Stop at once, dropping what is buffered."""
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            finally:
                self._stream = None

    def close(self) -> None:
        """Let the buffered audio play out, then close."""
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None

    def __enter__(self) -> "DevicePlayer":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.stop()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text.splitlines()[0] if text else type(exc).__name__
