"""Recording a dialect speaker with the microphone straight into the archive: the blocks are encoded to
FLAC in memory as they come, at the device's own rate, and sealed into the vault when the recording
stops. Nothing of it is written to disk in the clear."""

from __future__ import annotations

import threading
from typing import Any, Callable

from reader.archive import ArchiveError
from reader.archive.store import EncodedAudio, FlacRecorder

# A family interview runs long; an hour of 48 kHz mono FLAC is about 150 MB in memory before it is
# sealed, which is what bounds a single recording. Longer sessions are recorded in parts.
MAX_SECONDS = 60 * 60
# A recording whose loudest sample stays under -50 dBFS holds nothing but the noise of a muted or
# unplugged microphone (speech at a normal distance peaks above -20 dBFS).
SILENT_PEAK = 10 ** (-50 / 20)

# What to do when there is no microphone (reader.voices.capture's errors end with it).
INSTEAD = "or record elsewhere and add the file with `reader archive add FILE`"
NOTHING_RECORDED = "Nothing was recorded; nothing was archived."
SILENT = ("The recording is silent: the microphone may be muted or unplugged. Nothing was archived; check the "
          "microphone and record again.")


class ArchiveRecording:
    """One recording from the microphone into FLAC in memory. `mic` is a reader.voices.capture.Microphone
    (tests may pass one over another device); by default the default input device at its own rate."""

    def __init__(self, device: int | str | None = None, *, mic: Any = None) -> None:
        if mic is None:
            from reader.voices.capture import Microphone

            mic = Microphone(device, rate=None, instead=INSTEAD)
        self.mic = mic
        self.recorder: FlacRecorder | None = None
        self.peak = 0.0

    @property
    def seconds(self) -> float:
        return 0.0 if self.recorder is None else self.recorder.seconds

    def run(self, stop: threading.Event, *, on_level: Callable[[float, float, bool], None] | None = None,
            max_seconds: float = MAX_SECONDS) -> EncodedAudio:
        """Record until `stop` is set (or max_seconds); the FLAC, or ArchiveError if nothing or only
        silence was heard. Raises CaptureError when the microphone cannot be opened."""
        import numpy as np

        for block in self.mic.blocks(stop, max_seconds=max_seconds, on_level=on_level):
            if self.recorder is None:
                self.recorder = FlacRecorder(self.mic.rate_used)
            self.recorder.write(block)
            self.peak = max(self.peak, float(np.abs(block).max(initial=0.0)))
        if self.recorder is None or self.recorder.frames == 0:
            raise ArchiveError(NOTHING_RECORDED)
        if self.peak < SILENT_PEAK:
            raise ArchiveError(SILENT)
        return self.recorder.finish()
