"""The microphone: a sounddevice InputStream read block by block (16 kHz mono float32), with a text level
meter for standard error. Blocks go to the caller as they come, so the audio can be sealed straight into
the vault; nothing is written to disk here."""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from typing import Any, Callable, Iterator, TextIO

import numpy as np

from reader.errors import ReaderError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what the speaker encoders take; a device that cannot record it is resampled
# 100 ms blocks: the meter moves ten times a second, and a block is 3.2 KB of PCM to seal.
BLOCK_S = 0.1
# One prompted sentence takes 3-8 s to read; a recording left running stops by itself after this.
MAX_SECONDS = 30.0
# The meter spans -60 dBFS (a quiet room) to 0 dBFS (full scale) in METER_WIDTH steps.
METER_FLOOR_DB = -60.0
METER_WIDTH = 30
# A block this close to full scale is shown as clipping in the meter.
CLIP_WARN = 0.99

NO_PORTAUDIO = ("Recording needs the PortAudio library, which is not installed (on Debian: apt-get install "
                "libportaudio2); {instead}.")
NO_INPUT = "No microphone can be opened ({detail}); connect one, {instead}."
# What to do instead of recording, said with NO_PORTAUDIO and NO_INPUT (the archive passes its own).
ENROLL_INSTEAD = "or enroll from files with --from FILE"


class CaptureError(ReaderError):
    """The microphone cannot be opened or stopped working."""

    title = "Microphone"


def _sounddevice(instead: str) -> Any:
    try:
        import sounddevice
    except OSError:  # raised by sounddevice when libportaudio is missing
        raise CaptureError(NO_PORTAUDIO.format(instead=instead)) from None
    return sounddevice


def device_of(value: str | int | None) -> int | str | None:
    """A device as the user wrote it (--device, the microphone setting): a number is an index."""
    if isinstance(value, str):
        value = value.strip()
        return int(value) if value.isdigit() else (value or None)
    return value


def input_devices(sd: Any = None) -> list[tuple[str, str]]:
    """(value for the microphone setting, what to show) of every input device PortAudio sees; CaptureError
    when PortAudio is missing."""
    sd = sd or _sounddevice("or enroll from files")
    found = []
    for device in sd.query_devices():
        if device.get("max_input_channels", 0) > 0:
            api = sd.query_hostapis(device["hostapi"])["name"]
            found.append((device["name"], f"{device['name']} ({api}, {int(device['default_samplerate'])} Hz)"))
    return found


def level_db(block: np.ndarray) -> float:
    x = np.asarray(block, dtype=np.float64)
    return float(10 * np.log10(np.mean(x * x) + 1e-12)) if len(x) else -120.0


def meter_line(db: float, seconds: float, *, clipping: bool = False) -> str:
    """"level [##########..........] -24 dB   3.4 s" (one line, redrawn with a carriage return)."""
    filled = int(round(np.clip((db - METER_FLOOR_DB) / -METER_FLOOR_DB, 0, 1) * METER_WIDTH))
    bar = "#" * filled + "." * (METER_WIDTH - filled)
    warn = "  TOO LOUD" if clipping else ""
    return f"level [{bar}] {max(db, -99):4.0f} dB {seconds:5.1f} s{warn}"


class Microphone:
    """Records from an input device. `sd` is the sounddevice module (tests pass a stand-in)."""

    def __init__(self, device: int | str | None = None, *, sd: Any = None, rate: int | None = SAMPLE_RATE,
                 instead: str = ENROLL_INSTEAD) -> None:
        """`rate`: the rate of the blocks (resampled when the device cannot record at it); None takes the
        device's own rate, which `rate_used` then tells once blocks() has started. `instead`: what the
        error says to do when there is no microphone."""
        self.device = device
        self.instead = instead
        self._sd = sd
        self.rate = rate
        self.rate_used = rate or 0

    def blocks(self, stop: threading.Event, *, max_seconds: float = MAX_SECONDS,
               on_level: Callable[[float, float, bool], None] | None = None) -> Iterator[np.ndarray]:
        """16 kHz mono float32 blocks until `stop` is set (or max_seconds). Closing the iterator closes the stream."""
        sd = self._sd or _sounddevice(self.instead)
        blocks: queue.Queue = queue.Queue()
        rate = self._rate(sd)
        target = self.rate or rate
        self.rate_used = target

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            if status:
                log.warning("microphone: %s", status)
            blocks.put(np.array(indata, dtype=np.float32).reshape(frames, -1).mean(axis=1))

        try:
            stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32", device=self.device,
                                    blocksize=int(rate * BLOCK_S), callback=callback)
            stream.start()
        except (getattr(sd, "PortAudioError", OSError), ValueError) as exc:
            raise CaptureError(NO_INPUT.format(detail=str(exc).split("\n")[0], instead=self.instead)) from None
        resampler = None
        if rate != target:
            import soxr

            resampler = soxr.ResampleStream(rate, target, 1, dtype="float32")
        got = 0
        # Wall time too: a device that stops delivering blocks must not keep the recording open for ever.
        deadline = time.monotonic() + max_seconds + 1.0
        try:
            while not stop.is_set() and got < max_seconds * target and time.monotonic() < deadline:
                try:
                    block = blocks.get(timeout=BLOCK_S)
                except queue.Empty:
                    if not stream.active:  # the device went away
                        break
                    continue
                clipping = bool(np.abs(block).max(initial=0.0) >= CLIP_WARN)
                if resampler is not None:
                    block = resampler.resample_chunk(block)
                got += len(block)
                if on_level is not None:
                    on_level(level_db(block), got / target, clipping)
                yield block
        finally:
            try:
                stream.stop()
                stream.close()
            except Exception:  # closing a stream of a vanished device may fail; nothing is left to save
                log.debug("closing the input stream failed", exc_info=True)
        while not blocks.empty() and got < max_seconds * target:  # what came in before the stop
            block = blocks.get_nowait()
            if resampler is not None:
                block = resampler.resample_chunk(block)
            got += len(block)
            yield block

    def _rate(self, sd: Any) -> int:
        """The rate asked for when the device takes it, else its own default rate (resampled afterwards)."""
        try:
            if self.rate is None:
                raise ValueError("the device's own rate")
            sd.check_input_settings(device=self.device, samplerate=self.rate, channels=1, dtype="float32")
            return self.rate
        except Exception:
            try:
                info = sd.query_devices(self.device, kind="input")
            except Exception as exc:
                raise CaptureError(NO_INPUT.format(detail=str(exc).split("\n")[0], instead=self.instead)) from None
            return int(info["default_samplerate"])


class Meter:
    """Draws the level meter on one line of a text stream (standard error), at most every 100 ms."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self._last = 0.0

    def __call__(self, db: float, seconds: float, clipping: bool) -> None:
        now = time.monotonic()
        if now - self._last < BLOCK_S and not clipping:
            return
        self._last = now
        self.out.write("\r" + meter_line(db, seconds, clipping=clipping))
        self.out.flush()

    def done(self) -> None:
        self.out.write("\n")
        self.out.flush()


def wait_for_enter(stop: threading.Event, ask_line: Callable[[str], str] = input) -> threading.Thread:
    """A daemon thread that sets `stop` when Enter is pressed (or input ends)."""

    def wait() -> None:
        try:
            ask_line("")
        except (EOFError, OSError):
            pass
        finally:
            stop.set()

    thread = threading.Thread(target=wait, name="enter-to-stop", daemon=True)
    thread.start()
    return thread
