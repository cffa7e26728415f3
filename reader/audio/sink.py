"""A streaming 16-bit PCM WAV writer: chunks are written as they come, into a temp file in the same
folder that is renamed over the target only when the speech is complete (a stop leaves no half file)."""

from __future__ import annotations

import os
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

from reader.audio import AudioError

PCM_MAX = 32767  # full scale of 16-bit PCM


def to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> little-endian int16 bytes (clipped, rounded)."""
    x = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return np.round(x * PCM_MAX).astype("<i2").tobytes()


class WavSink:
    """Write AudioChunks (or arrays) to a mono WAV file. The file's rate is the first chunk's; chunks of
    another rate (a sentence read by the other pack) are resampled with soxr."""

    def __init__(self, path: Path | str, sample_rate: int | None = None) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.frames = 0
        self._wave: wave.Wave_write | None = None
        self._tmp: Path | None = None
        self._handle: Any = None
        if self.path.is_dir():
            raise AudioError(f"{self.path} is a folder; give a file name ending in .wav.")
        if not self.path.parent.exists():
            raise AudioError(f"The folder {self.path.parent} does not exist.")

    def _open(self, rate: int) -> None:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        except OSError as exc:
            raise AudioError(f"Cannot write to {self.path.parent} ({exc.strerror}).") from None
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "wb")
        self._wave = wave.open(self._handle, "wb")
        self._wave.setnchannels(1)
        self._wave.setsampwidth(2)
        self._wave.setframerate(rate)
        self.sample_rate = rate

    def write(self, samples: np.ndarray, sample_rate: int | None = None) -> None:
        rate = int(sample_rate or self.sample_rate or 0)
        if rate <= 0:
            raise ValueError("the first write needs a sample rate")
        if self._wave is None:
            self._open(self.sample_rate or rate)
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if rate != self.sample_rate and len(samples):
            import soxr

            samples = soxr.resample(samples, rate, self.sample_rate).astype(np.float32)
        try:
            self._wave.writeframesraw(to_pcm16(samples))
        except OSError as exc:
            self.abort()
            raise AudioError(f"Cannot write {self.path} ({exc.strerror}).") from None
        self.frames += len(samples)

    def write_chunk(self, chunk: Any) -> None:
        self.write(chunk.samples, chunk.sample_rate)

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def close(self) -> Path:
        """Finish the header, fsync, and rename the temp file over the target."""
        if self._wave is None:
            self._open(self.sample_rate or 24000)  # an empty but valid WAV
        self._wave.close()  # patches the header's sizes
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._wave = None
        return self.path

    def abort(self) -> None:
        """Drop what was written; the target is left as it was."""
        if self._wave is not None:
            try:
                self._wave.close()
            except Exception:
                pass
            try:
                self._handle.close()
            except Exception:
                pass
            self._wave = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "WavSink":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
