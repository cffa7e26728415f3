"""Plays an archived recording through the reading Player (reader/audio/player.py): decoded from the vault in
memory and handed over in chunks of about a second, with pause, resume, stop, seek and the position."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from reader.archive.records import ArchiveEntry

if TYPE_CHECKING:
    import numpy as np

    from reader.archive.store import ArchiveStore
    from reader.audio import AudioError
    from reader.audio.player import Player

log = logging.getLogger(__name__)

# Chunks of about a second: the Player's position and sentence ids move in steps a listener can follow, and
# each enqueue is one small copy.
CHUNK_SECONDS = 1.0
# How often wait() looks at a shared player, whose on_finished belongs to its owner (the TUI).
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ArchiveChunk:
    """A PlayableChunk: about a second of the recording, mono; `sentence_id` is the chunk's index."""

    samples: "np.ndarray"
    sample_rate: int
    sentence_id: int


def mono(samples: "np.ndarray") -> "np.ndarray":
    """The Player plays one channel: the channels are averaged (the stored recording keeps them all)."""
    import numpy as np

    if samples.ndim == 1:
        return np.ascontiguousarray(samples, dtype=np.float32)
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0], dtype=np.float32)
    return np.ascontiguousarray(samples.mean(axis=1, dtype=np.float64), dtype=np.float32)


class ArchivePlayback:
    """Play, pause, resume, stop and seek one archived recording at a time.

    With no `player`, each play() opens a Player of its own at the recording's rate (closed by close());
    the TUI passes its reading Player instead, made with history_seconds=None (or at least the length of
    the longest recording) so that seek() can reach the whole recording. `on_finished` and `on_error`
    (own player only) run on the player's notifier thread. play() reads, decrypts and decodes the whole
    recording before it returns: call it from a worker thread, not a UI thread.
    """

    def __init__(self, store: "ArchiveStore", *, player: "Player | None" = None, device: int | str | None = None,
                 on_finished: Callable[[], None] | None = None,
                 on_error: Callable[["AudioError"], None] | None = None) -> None:
        self.store = store
        self._shared = player is not None
        self._player: Player | None = player
        self._rate = 0
        self._device = device
        self._on_finished = on_finished
        self._on_error = on_error
        self._finished = threading.Event()
        self._errors: list[AudioError] = []
        self._paused = False
        self._stopped = False
        self.entry: ArchiveEntry | None = None

    # --- the player ---------------------------------------------------------------------------------

    def _player_for(self, rate: int) -> "Player":
        if self._shared and self._player is not None:
            self._player.start()
            return self._player
        if self._player is not None and self._rate != rate:
            self._player.close()
            self._player = None
        if self._player is None:
            from reader.audio.player import Player

            # history_seconds=None: the whole recording stays seekable, however long.
            player = Player(device=self._device, samplerate=rate, on_finished=self._finished_cb,
                            on_error=self._error_cb, history_seconds=None)
            player.start()
            self._player, self._rate = player, rate
        return self._player

    def _finished_cb(self) -> None:
        self._finished.set()
        if self._on_finished is not None:
            self._on_finished()

    def _error_cb(self, error: "AudioError") -> None:
        self._errors.append(error)
        self._finished.set()
        if self._on_error is not None:
            self._on_error(error)

    # --- control ------------------------------------------------------------------------------------

    def play(self, entry_id: str, *, start_seconds: float = 0.0, paused: bool = False) -> ArchiveEntry:
        """Play the recording `entry_id` from `start_seconds` (or hold it there, paused). Raises ArchiveError
        for an unknown id and AudioError when no output device can be opened."""
        entry = self.store.entry(entry_id)
        samples = mono(self.store.read_samples(entry, dtype="float32"))
        player = self._player_for(entry.sample_rate)
        player.stop()  # whatever was playing: a new list of chunks begins
        # Paused while the queue fills, so an unpaced device cannot play the moments between two
        # enqueues as silence; resumed below.
        player.pause()
        self._finished.clear()
        self._errors.clear()
        step = max(1, round(CHUNK_SECONDS * entry.sample_rate))
        for index, begin in enumerate(range(0, len(samples), step)):
            player.enqueue(ArchiveChunk(samples[begin:begin + step], entry.sample_rate, index))
        player.end_of_stream()
        self.entry = entry
        self._stopped = False
        self._paused = paused
        player.seek(self._clamp(start_seconds))  # also makes position() start at the chunk list's start
        if not paused:
            player.resume()
        return entry

    def pause(self) -> None:
        if self._player is not None and self.entry is not None:
            self._player.pause()
            self._paused = True

    def resume(self) -> None:
        """Go on from where the sound stopped; after stop(), from where stop() left it; once the recording
        was heard to the end, from its beginning again."""
        if self._player is None or self.entry is None:
            return
        if self._stopped:
            self._requeue(self.position_seconds())
        elif self.finished:
            self._requeue(0.0)
        self._paused = False
        self._player.resume()

    def stop(self) -> None:
        """Silence now. The position stays where the sound stopped; seek() or resume() go on from there."""
        if self._player is None or self.entry is None:
            return
        self._player.stop()
        self._stopped = True
        self._finished.set()

    def seek(self, seconds: float) -> None:
        """Move to `seconds` into the recording; playing goes on from there, a paused or stopped recording
        stays silent (paused) until resume()."""
        if self._player is None or self.entry is None:
            return
        if self._stopped:
            self._paused = True
            self._player.pause()
        self._requeue(self._clamp(seconds))

    def _requeue(self, seconds: float) -> None:
        player = self._player
        if player is None:
            return
        if self._paused:
            player.pause()
        player.seek(seconds)
        player.end_of_stream()  # stop() cleared it, and on_finished should fire at the end again
        self._stopped = False
        self._finished.clear()

    def _clamp(self, seconds: float) -> float:
        duration = self.duration_seconds
        return min(max(0.0, float(seconds)), duration)

    # --- state --------------------------------------------------------------------------------------

    @property
    def duration_seconds(self) -> float:
        if self.entry is None:
            return 0.0
        return self.entry.frames / self.entry.sample_rate

    def position_seconds(self) -> float:
        """Seconds into the recording of the sound being heard now."""
        if self._player is None or self.entry is None:
            return 0.0
        return self._clamp(self._player.position().played_total_seconds)

    @property
    def finished(self) -> bool:
        """True once the recording has been heard to its end (not after stop())."""
        if self.entry is None or self._stopped:
            return False
        return self._finished.is_set() or (self._shared and self._heard_all())

    @property
    def is_paused(self) -> bool:
        return self._paused and not self._stopped

    @property
    def is_playing(self) -> bool:
        return self._player is not None and self.entry is not None and self._player.is_playing

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the recording has been heard to the end or stop() was called; True then, False on
        timeout. Raises the AudioError if the device failed meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Short waits, so Ctrl-C is noticed at once and a shared player's end is seen by polling.
            step = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
            done = self._finished.wait(step)
            if self._errors:
                raise self._errors[0]
            if done or (self._shared and self._heard_all()):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _heard_all(self) -> bool:
        player = self._player
        return (player is not None and self.entry is not None and not self._paused
                and not player.is_playing and player.queued_seconds() == 0.0)

    def close(self) -> None:
        """Stop, and release the output device if this object opened it."""
        self.stop()
        if not self._shared and self._player is not None:
            self._player.close()
            self._player = None

    def __enter__(self) -> "ArchivePlayback":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
