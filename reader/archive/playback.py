"""Plays an archived recording through the reading Player (reader/audio/player.py), streamed from the vault:
the FLAC is decrypted a 64 KiB segment at a time and decoded a second at a time, a little ahead of what is
heard, so a recording of any length plays in a few MB and seeks anywhere. Pause, resume, stop, seek and the
position work alike on a player of its own and on the TUI's reading player."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from reader.archive.records import ArchiveEntry
from reader.errors import ReaderError

if TYPE_CHECKING:
    import numpy as np

    from reader.archive.store import ArchiveStore
    from reader.audio.player import Player

log = logging.getLogger(__name__)

# Chunks of about a second: each enqueue is one small copy, and a seek lands within a chunk of its target.
CHUNK_SECONDS = 1.0
# Decoded before play() and seek() return (so an unpaced device never meets an empty queue at the start,
# and a short recording is queued whole) and kept queued ahead of what is heard while it plays.
PREFILL_SECONDS = 5.0
AHEAD_SECONDS = 20.0
# How often the feeder looks at the queue, and wait() at a shared player (whose on_finished is its owner's).
POLL_SECONDS = 0.05
# A chunk's sentence id is (list number << LIST_SHIFT) | its first frame in the recording: the Player's
# position then says which queued list is heard and where in the recording (2**40 frames: 250 days at 48 kHz).
LIST_SHIFT = 40
FRAME_MASK = (1 << LIST_SHIFT) - 1


@dataclass(frozen=True)
class ArchiveChunk:
    """A PlayableChunk: about a second of the recording, mono; the id encodes where it begins."""

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

    With no `player`, play() opens a Player of its own at the recording's rate (closed by close()); the TUI
    passes its reading Player instead. `on_finished` (own player) runs on the player's notifier thread;
    `on_error` gets the ReaderError of a device failure, or of a recording that turns out damaged (or a
    vault locked) while it plays. Reading the recording needs the vault unlocked for as long as it plays.
    """

    def __init__(self, store: "ArchiveStore", *, player: "Player | None" = None, device: int | str | None = None,
                 on_finished: Callable[[], None] | None = None,
                 on_error: Callable[[ReaderError], None] | None = None) -> None:
        self.store = store
        self._shared = player is not None
        self._player: Player | None = player
        self._rate = 0
        self._device = device
        self._on_finished = on_finished
        self._on_error = on_error
        self._finished = threading.Event()
        self._errors: list[ReaderError] = []
        self._paused = False
        self._stopped = False
        self.entry: ArchiveEntry | None = None
        self._lock = threading.RLock()
        self._decoder: Any = None  # soundfile.SoundFile over the vault record
        self._reader: Any = None
        self._list = 0  # which queued list is current (see LIST_SHIFT)
        self._list_start = 0  # the frame the current list begins at
        self._decoded_to = 0  # the frame the feeder reads next
        self._eof = False
        self._feeder: threading.Thread | None = None

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

            # No seek history: a seek decodes from the vault again.
            player = Player(device=self._device, samplerate=rate, on_finished=self._finished_cb,
                            on_error=self._error_cb, history_seconds=0.0)
            player.start()
            self._player, self._rate = player, rate
        return self._player

    def _finished_cb(self) -> None:
        self._finished.set()
        if self._on_finished is not None:
            self._on_finished()

    def _error_cb(self, error: ReaderError) -> None:
        self._errors.append(error)
        self._finished.set()
        if self._on_error is not None:
            self._on_error(error)

    # --- the recording ------------------------------------------------------------------------------

    def _open(self, entry: ArchiveEntry) -> None:
        import soundfile as sf

        from reader.archive import ArchiveError

        self._close_decoder()
        reader = self.store.open_reader(entry)
        try:
            decoder = sf.SoundFile(reader)
        except sf.SoundFileError:
            reader.close()
            raise ArchiveError(f"The audio of recording {entry.id} cannot be decoded; "
                               "`reader vault check` tells whether the vault is damaged.") from None
        self._reader, self._decoder = reader, decoder

    def _close_decoder(self) -> None:
        decoder, reader, self._decoder, self._reader = self._decoder, self._reader, None, None
        for thing in (decoder, reader):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # a damaged or vanished file: nothing is left to release
                    log.debug("closing the archive decoder failed", exc_info=True)

    def _start_list(self, frame: int, *, paused: bool) -> None:
        """Queue the recording from `frame` as a new list (under the lock): the old one is dropped, about
        PREFILL_SECONDS are decoded now, and the feeder keeps the rest coming."""
        player = self._player
        assert player is not None and self.entry is not None
        player.stop()
        # Paused while the first seconds are queued, so an unpaced device cannot play the moments between
        # two enqueues as silence; resumed below unless the list is to wait.
        player.pause()
        self._list += 1
        self._list_start = self._decoded_to = frame
        self._eof = False
        self._finished.clear()
        self._errors.clear()
        self._decoder.seek(frame)
        self._fill(self._list, PREFILL_SECONDS)
        self._paused = paused
        self._stopped = False
        if not paused:
            player.resume()
        if not self._eof and (self._feeder is None or not self._feeder.is_alive()):
            self._feeder = threading.Thread(target=self._feed, name="archive-feeder", daemon=True)
            self._feeder.start()

    def _fill(self, generation: int, seconds: float) -> None:
        """Decode and queue up to `seconds` more of the current list (under the lock)."""
        entry, player = self.entry, self._player
        assert entry is not None and player is not None
        step = max(1, round(CHUNK_SECONDS * entry.sample_rate))
        for _ in range(max(1, int(seconds / CHUNK_SECONDS))):
            if self._eof or generation != self._list:
                return
            try:
                block = self._decoder.read(step, dtype="float32", always_2d=True)
            except ReaderError:  # the vault: a damaged segment, or locked meanwhile
                raise
            except Exception as exc:  # libsndfile on data that authenticated but does not decode
                from reader.archive import ArchiveError

                log.debug("decoding %s failed", entry.id, exc_info=True)
                raise ArchiveError(f"The audio of recording {entry.id} cannot be decoded; "
                                   "`reader vault check` tells whether the vault is damaged.") from exc
            if len(block):
                chunk_id = (self._list << LIST_SHIFT) | self._decoded_to
                player.enqueue(ArchiveChunk(mono(block), entry.sample_rate, chunk_id))
                self._decoded_to += len(block)
            if len(block) < step:
                self._eof = True
                player.end_of_stream()

    def _feed(self) -> None:
        """Keep AHEAD_SECONDS queued while a list plays or waits paused; ends at the end of the recording."""
        while True:
            with self._lock:
                player = self._player
                if player is None or self.entry is None or self._decoder is None or self._stopped or self._eof:
                    self._feeder = None
                    return
                if player.queued_seconds() < AHEAD_SECONDS - CHUNK_SECONDS:
                    try:
                        self._fill(self._list, CHUNK_SECONDS)
                    except ReaderError as exc:
                        self._feeder = None
                        self._failed(exc)
                        return
                    continue
            time.sleep(POLL_SECONDS)

    def _failed(self, error: ReaderError) -> None:
        log.warning("archive playback stopped: %s", error.message)
        self._errors.append(error)
        if self._player is not None:
            self._player.end_of_stream()  # what was queued still plays; then it ends
        self._eof = True
        self._finished.set()
        if self._on_error is not None:
            self._on_error(error)

    # --- control ------------------------------------------------------------------------------------

    def play(self, entry_id: str, *, start_seconds: float = 0.0, paused: bool = False) -> ArchiveEntry:
        """Play the recording `entry_id` from `start_seconds` (or hold it there, paused). Raises ArchiveError
        for an unknown id or a recording that cannot be decoded, and AudioError when no output device can
        be opened."""
        entry = self.store.entry(entry_id)
        with self._lock:
            self._open(entry)
            self._player_for(entry.sample_rate)
            self.entry = entry
            self._start_list(self._frame_of(start_seconds), paused=paused)
        return entry

    def pause(self) -> None:
        if self._player is not None and self.entry is not None:
            self._player.pause()
            self._paused = True

    def resume(self) -> None:
        """Go on from where the sound stopped; after stop(), from where stop() left it; once the recording
        was heard to the end, from its beginning again."""
        with self._lock:
            if self._player is None or self.entry is None:
                return
            if self._stopped:
                self._start_list(self._frame_of(self.position_seconds()), paused=False)
            elif self.finished:
                self._start_list(0, paused=False)
            else:
                self._paused = False
                self._player.resume()

    def stop(self) -> None:
        """Silence now. The position stays where the sound stopped; seek() or resume() go on from there."""
        with self._lock:
            if self._player is None or self.entry is None:
                return
            at = self._frame_of(self.position_seconds())
            self._player.stop()
            self._list += 1  # what the player still reports belongs to the old list
            self._list_start = at
            self._stopped = True
            self._finished.set()

    def seek(self, seconds: float) -> None:
        """Move to `seconds` into the recording; playing goes on from there, a paused or stopped recording
        stays silent (paused) until resume()."""
        with self._lock:
            if self._player is None or self.entry is None:
                return
            paused = self._paused or self._stopped
            self._start_list(self._frame_of(seconds), paused=paused)

    def _frame_of(self, seconds: float) -> int:
        if self.entry is None:
            return 0
        return min(max(0, round(float(seconds) * self.entry.sample_rate)), self.entry.frames)

    # --- state --------------------------------------------------------------------------------------

    @property
    def duration_seconds(self) -> float:
        if self.entry is None:
            return 0.0
        return self.entry.frames / self.entry.sample_rate

    def position_seconds(self) -> float:
        """Seconds into the recording of the sound being heard now (where a new list begins, until its
        first sound is heard)."""
        if self._player is None or self.entry is None:
            return 0.0
        position = self._player.position()
        sid = position.sentence_id
        if sid is None or sid < 0 or sid >> LIST_SHIFT != self._list:
            frame = self._list_start
        else:
            frame = (sid & FRAME_MASK) + position.sample_in_sentence
        return min(frame, self.entry.frames) / self.entry.sample_rate

    @property
    def finished(self) -> bool:
        """True once the recording has been heard to its end (not after stop())."""
        if self.entry is None or self._stopped:
            return False
        return self._finished.is_set() or (self._shared and self._eof and self._heard_all())

    @property
    def is_paused(self) -> bool:
        return self._paused and not self._stopped

    @property
    def is_playing(self) -> bool:
        return self._player is not None and self.entry is not None and self._player.is_playing

    @property
    def error(self) -> ReaderError | None:
        """Why the recording stopped before its end, if it did."""
        return self._errors[0] if self._errors else None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the recording has been heard to the end or stop() was called; True then, False on
        timeout. Raises the error if the device failed or the recording could not be read meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Short waits, so Ctrl-C is noticed at once and a shared player's end is seen by polling.
            step = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
            done = self._finished.wait(step)
            if self._errors:
                raise self._errors[0]
            if done or (self._shared and self._eof and self._heard_all()):
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
        with self._lock:
            self._close_decoder()
            self.entry = None
        if not self._shared and self._player is not None:
            self._player.close()
            self._player = None

    def __enter__(self) -> "ArchivePlayback":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
