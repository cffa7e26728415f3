"""Plays speech to the speakers: one PortAudio output stream fed from a queue of audio chunks, with pause,
an instant stop, skip and seek, and the position of what is being heard (not what is being synthesized)."""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from reader.audio import AudioError

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

# Frames per callback. About 11 ms at 22.05/24 kHz (256) and 48 kHz (512): the callback notices stop(),
# pause() and skip_to() at its next call, so this bounds how late the cut is, at ~90 callbacks a second.
SMALL_BLOCKSIZE = 256
LARGE_BLOCKSIZE = 512
LARGE_BLOCKSIZE_FROM_HZ = 32_000
# A cut (stop, skip, seek, pause) ramps the sound down over 3 ms instead of jumping to zero: a jump is an
# audible click, and 3 ms is far below anything a listener notices as delay.
FADE_SECONDS = 0.003
# How often the notifier thread looks at the position (50 Hz: finer than any highlight needs).
POLL_SECONDS = 0.02
# Pieces of output kept to map "the frame being heard now" back to a sentence: two per callback at most,
# so 1024 cover seconds of history, far more than any output latency.
RUNS_KEPT = 1024
# Audio kept for seek() (a recording being replayed); older audio is let go so a long reading does not
# hold hours of samples. 300 s of 24 kHz float32 mono is 29 MB.
DEFAULT_HISTORY_SECONDS = 300.0
# An output latency reported above this is nonsense from a host API; fall back to the stream's latency.
MAX_SANE_DELAY_SECONDS = 2.0
# After this long with nothing to play (or paused) the stream is closed, so its callback stops running: on
# a device without a clock (ALSA's file plugin) a running callback stream is called flat out and writes
# gigabytes of zeros on a busy core, and on real hardware it holds the device and keeps the card awake.
# The next enqueue() or resume() opens it again in a few ms (bench: restart_ms; budget 50 ms), so a short
# idle time costs little; 3 s outlasts the usual wait for the next sentence of a reading, which the stream
# then bridges without closing.
IDLE_CLOSE_SECONDS = 3.0

PORTAUDIO_MISSING = "The audio library PortAudio is missing; install it with: apt-get install libportaudio2."
NO_DEVICE = ("No audio output device was found; connect speakers or headphones, "
             "or write the speech to a WAV file instead (--out FILE.wav, or e in the reader).")
DEVICE_BUSY = ("The audio output device could not be opened; close other programs that use it and try "
               "again, or write the speech to a WAV file instead (--out FILE.wav, or e in the reader).")
DEVICE_LOST_AT = ("The audio device stopped working; reading is paused at sentence {number}; "
                  "press space to try again.")
DEVICE_LOST = "The audio device stopped working; reading is paused; press space to try again."


class DeviceLost(AudioError):
    """The output device stopped in the middle of reading. The player is paused where the sound stopped;
    `sentence_id` is the sentence being heard then (None if nothing had been heard), and resume() tries
    the device again."""

    def __init__(self, message: str, *, sentence_id: int | None = None) -> None:
        super().__init__(message)
        self.sentence_id = sentence_id


class PlayableChunk(Protocol):
    """What the player plays: a piece of one sentence's audio (the synthesizer's AudioChunk is one)."""

    @property
    def samples(self) -> np.ndarray: ...  # float32 mono, -1..1

    @property
    def sample_rate(self) -> int: ...

    @property
    def sentence_id(self) -> int: ...


@dataclass(frozen=True)
class Position:
    """What is being heard now.

    `sample_in_sentence` counts samples at the chunks' own sample rate (so it indexes the synthesized
    audio); `played_total_seconds` is the place in the current chunk list (everything enqueued since the
    last stop()), the value seek() takes.
    """

    sentence_id: int | None
    sample_in_sentence: int
    seconds_in_sentence: float
    played_total_seconds: float


START = Position(None, 0, 0.0, 0.0)


@dataclass(frozen=True)
class PlayerStats:
    """The stream as opened and what its callback has done (for benchmarks and diagnostics)."""

    samplerate: int
    channels: int
    blocksize: int
    latency_seconds: float
    callbacks: int
    callback_seconds: float  # time spent inside the callback, summed
    status_flags: int  # callbacks that reported an underflow or another PortAudio status flag
    cuts: int  # times the callback cut the sound short (stop, skip, seek, pause)
    idle_closes: int = 0  # times the stream was closed for having nothing to play
    running: bool = False  # a stream is open and started (its callback is being called)


@dataclass(frozen=True, slots=True)
class _Segment:
    """One enqueued chunk at the stream's rate, and where it sits in its sentence and in the list."""

    frames: Any  # np.ndarray of shape (n, 1), float32, C-contiguous
    sentence_id: int
    source_rate: int
    sentence_offset: int  # stream frames of the same sentence enqueued before this chunk
    list_offset: int  # stream frames of the chunk list before this chunk
    generation: int
    start: int = 0  # first frame to play (seek and resume start in the middle)


def _import_sounddevice() -> Any:
    """sounddevice, imported on first use: PortAudio reads the ALSA configuration at this import."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:
        raise AudioError(PORTAUDIO_MISSING) from exc
    return sounddevice


def _snapshot(items: collections.deque) -> tuple:
    """A copy of a deque the audio thread changes: tuple() runs in C under the GIL, but a garbage
    collection inside it can let the other thread in, which makes the copy fail; then try again."""
    for _ in range(100):
        try:
            return tuple(items)
        except RuntimeError:
            continue
    return ()


def _blocksize(rate: int) -> int:
    return LARGE_BLOCKSIZE if rate >= LARGE_BLOCKSIZE_FROM_HZ else SMALL_BLOCKSIZE


class Player:
    """One output stream fed from a queue of chunks by its callback.

    Call start() (or use it as a context manager) before enqueue(). The callback never blocks, logs or
    allocates beyond slicing: control methods flip flags and swap the queue, and the callback acts on
    them at its next call. on_position, on_error and on_finished are called from the player's notifier
    thread, never from the audio callback; they must not block for long.

    After `idle_close_seconds` with nothing to play, or paused, the notifier thread closes the stream (None:
    never), so no callback runs; enqueue(), resume(), seek() and end_of_stream() open it again, and
    positions, pause and errors are the same as if it had stayed open.

    `samplerate` is the rate the chunks will come at (the voice pack's): the stream opens at it when the
    device takes it, else at the device's default rate, and chunks at any other rate are resampled.
    """

    def __init__(
        self,
        device: int | str | None = None,
        latency: str | float = "low",
        on_position: Callable[[Position], None] | None = None,
        on_error: Callable[[AudioError], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        *,
        samplerate: int | None = None,
        history_seconds: float | None = DEFAULT_HISTORY_SECONDS,
        idle_close_seconds: float | None = IDLE_CLOSE_SECONDS,
    ) -> None:
        self._device = device
        self._latency = latency
        self._on_position = on_position
        self._on_error = on_error
        self._on_finished = on_finished
        self._preferred_rate = samplerate
        self._history_seconds = history_seconds
        self._idle_close_seconds = idle_close_seconds

        self._sd: Any = None
        self._np: Any = None
        self._stream: Any = None
        self._rate = 0
        self._channels = 0
        self._blocksize = 0
        self._stream_latency = 0.0
        self._lock = threading.RLock()  # control side only; the callback never takes it
        self._notifier: threading.Thread | None = None
        self._closed = threading.Event()
        self._started = False

        # Shared between control and callback: the control side writes, the callback reads.
        self._generation = 0
        self._queue: collections.deque[_Segment] = collections.deque()
        self._paused = False
        self._skip_below: int | None = None
        self._eos = False
        self._eos_token = 0

        # Written by the callback only.
        self._cur: _Segment | None = None
        self._cur_pos = 0
        self._cb_paused = False
        self._stream_frame = 0
        self._content_end = 0
        self._runs: collections.deque[tuple] = collections.deque(maxlen=RUNS_KEPT)
        self._last_block: tuple[int, int, float, float] | None = None  # start frame, frames, delay, time
        self._drained: tuple[int, int, int] | None = None  # generation, eos token, end frame
        self._callbacks = 0
        self._callback_seconds = 0.0
        self._status_flags = 0
        self._cuts = 0
        self._fade: Any = None
        self._scratch: Any = None

        # Idle close (under the lock). enqueue(), resume(), seek() and end_of_stream() count as activity,
        # and activity during a quiet spell cancels its close.
        self._idle_closed = False  # no stream because there was nothing to play; the next sound opens one
        self._reopen_failed = False  # opening it again failed: the notifier reports a lost device
        self._activity = 0
        self._quiet: tuple[float, int] | None = None  # (since when, activity then); the notifier's own
        self._idle_closes = 0

        # Stream failure, set from PortAudio's finished callback.
        self._closing_stream = False
        self._stream_failed = False
        self._failed_at: float | None = None
        self._callback_error: BaseException | None = None

        # Control side bookkeeping.
        self._base = START
        self._history: collections.deque[_Segment] = collections.deque()
        self._history_frames = 0
        self._list_open = True
        self._list_frames = 0
        self._last_sentence: int | None = None
        self._sentence_frames = 0
        self._reported_sentence: int | None = None
        self._fired: tuple[int, int] | None = None
        self.error: DeviceLost | None = None  # the last device failure, until resume() succeeds

    # ----------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Open the output stream; raises AudioError when PortAudio or an output device is missing."""
        with self._lock:
            if self._started:
                return
            self._sd = _import_sounddevice()
            import numpy

            self._np = numpy
            self._open_stream()
            self._started = True
            self._closed.clear()
            self._notifier = threading.Thread(target=self._notify_loop, name="player-notifier", daemon=True)
            self._notifier.start()

    def close(self) -> None:
        """Stop the sound at once, drop the queue and release the device."""
        with self._lock:
            self._closed.set()
            self._started = False
            self._close_stream()
            self._queue = collections.deque()
            self._history.clear()
            notifier, self._notifier = self._notifier, None
        if notifier is not None and notifier is not threading.current_thread():
            notifier.join(timeout=1.0)

    def __enter__(self) -> Player:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open_stream(self) -> None:
        sd = self._sd
        try:
            info = sd.query_devices(self._device, kind="output")
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(NO_DEVICE) from exc
        if int(info.get("max_output_channels", 0)) < 1:
            raise AudioError(NO_DEVICE)
        channels = self._pick_channels(info)
        rate = self._pick_rate(info, channels)
        blocksize = _blocksize(rate)
        # Set before the stream starts (its callback reads them), put back if it does not: the queue is
        # at the old rate until _reopen_stream() converts it, and the old clock tells what was heard.
        kept = (self._rate, self._channels, self._blocksize, self._fade, self._scratch, self._last_block)
        self._rate, self._channels, self._blocksize = rate, channels, blocksize
        fade_frames = max(1, round(FADE_SECONDS * rate))
        np = self._np
        self._fade = np.linspace(1.0, 0.0, fade_frames, dtype=np.float32).reshape(-1, 1)
        self._scratch = np.zeros((fade_frames, 1), dtype=np.float32)
        self._last_block = None
        try:
            self._start_stream()
        except AudioError:
            self._rate, self._channels, self._blocksize, self._fade, self._scratch, self._last_block = kept
            raise
        logger.debug("output stream: %d Hz, %d channel(s), %d frames a block, %.1f ms latency",
                     rate, channels, blocksize, self._stream_latency * 1000)

    def _start_stream(self) -> None:
        """Open and start a stream with the settings picked by _open_stream() (AudioError if it fails)."""
        sd = self._sd
        self._closing_stream = False
        self._stream_failed = False
        self._failed_at = None
        self._callback_error = None
        self._idle_closed = False
        try:
            stream = sd.OutputStream(
                device=self._device, samplerate=self._rate, channels=self._channels, dtype="float32",
                blocksize=self._blocksize, latency=self._latency, callback=self._callback,
                finished_callback=self._stream_finished,
            )
        except (sd.PortAudioError, ValueError) as exc:
            logger.info("opening the output stream failed: %s", exc)
            raise AudioError(DEVICE_BUSY) from exc
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close(ignore_errors=True)
            raise AudioError(DEVICE_BUSY) from exc
        self._stream = stream
        self._stream_latency = float(stream.latency)

    def _pick_channels(self, info: dict) -> int:
        try:
            self._sd.check_output_settings(device=self._device, channels=1, dtype="float32")
            return 1
        except (self._sd.PortAudioError, ValueError):
            return min(2, int(info["max_output_channels"]))

    def _pick_rate(self, info: dict, channels: int) -> int:
        default = int(round(float(info["default_samplerate"])))
        if self._preferred_rate:
            try:
                self._sd.check_output_settings(device=self._device, channels=channels, dtype="float32",
                                               samplerate=self._preferred_rate)
                return int(self._preferred_rate)
            except (self._sd.PortAudioError, ValueError):
                logger.info("the device does not take %d Hz; playing at %d Hz", self._preferred_rate, default)
        return default

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._idle_closed = False
        if stream is None:
            return
        self._closing_stream = True
        try:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        except Exception:  # a dead device can fail in any way here; nothing is left to release
            logger.debug("closing the output stream failed", exc_info=True)

    # ----------------------------------------------------------------------------------- control

    def enqueue(self, chunk: PlayableChunk) -> None:
        """Queue a chunk for playing after those queued before it (resampled here when needed)."""
        np = self._np
        if np is None:
            raise RuntimeError("start() the player before enqueue()")
        samples = np.asarray(chunk.samples)
        if samples.ndim == 2 and 1 in samples.shape:
            samples = samples.reshape(-1)
        if samples.ndim != 1:
            raise ValueError(f"a chunk must be mono samples, not an array of shape {samples.shape}")
        source_rate = int(chunk.sample_rate)
        if source_rate <= 0:
            raise ValueError(f"a chunk's sample rate must be positive, not {chunk.sample_rate}")
        if source_rate != self._rate and samples.size:
            import soxr

            samples = soxr.resample(samples.astype(np.float32, copy=False), source_rate, self._rate,
                                    quality="HQ")
        # A copy: the producer may reuse its buffer, and the callback must own what it plays.
        frames = np.array(samples, dtype=np.float32, copy=True).reshape(-1, 1)
        if not len(frames):
            return
        sentence_id = int(chunk.sentence_id)
        with self._lock:
            if not self._list_open:  # the first chunk after stop() begins a new list
                self._history.clear()
                self._history_frames = 0
                self._list_frames = 0
                self._last_sentence = None
                self._list_open = True
            if self._eos:  # more chunks after end_of_stream(): a new stream of chunks
                self._eos = False
            if sentence_id != self._last_sentence:
                self._last_sentence, self._sentence_frames = sentence_id, 0
            segment = _Segment(frames, sentence_id, source_rate, self._sentence_frames, self._list_frames,
                               self._generation)
            self._sentence_frames += len(frames)
            self._list_frames += len(frames)
            self._remember(segment)
            self._queue.append(segment)
            self._wake()

    def end_of_stream(self) -> None:
        """No more chunks are coming: on_finished fires once everything queued has been heard."""
        with self._lock:
            self._eos_token += 1  # before the flag: the callback reads the flag, then the token
            self._eos = True
            self._wake()  # the callback is what notices that everything queued has been played

    def pause(self) -> None:
        """Stop feeding sound; the position stays exactly where the sound stopped."""
        self._paused = True

    def resume(self) -> None:
        """Go on from the paused sample; after a device failure, reopen the device first (AudioError if
        it is still missing). A device that went away while the stream was closed for idling is reported
        through on_error (DeviceLost), as when it fails mid-sentence."""
        with self._lock:
            if self._started and self._stream is None and not self._idle_closed:
                self._reopen_stream()
                self.error = None
            self._paused = False
            self._wake()

    def _reopen_stream(self) -> None:
        """Open the device again after it failed, at the rate the queued audio is at if it takes it;
        otherwise convert the queue and the seek history to the rate it opened at."""
        old_rate, preferred = self._rate, self._preferred_rate
        self._preferred_rate = old_rate
        try:
            self._open_stream()
        finally:
            self._preferred_rate = preferred
        if self._rate == old_rate:
            return
        import soxr

        np, new_rate = self._np, self._rate

        def scaled(frames: int) -> int:
            return round(frames * new_rate / old_rate)

        def convert(segment: _Segment) -> _Segment:
            frames = soxr.resample(segment.frames[:, 0], old_rate, new_rate, quality="HQ")
            return dataclasses.replace(
                segment, frames=np.ascontiguousarray(frames, dtype=np.float32).reshape(-1, 1),
                sentence_offset=scaled(segment.sentence_offset), list_offset=scaled(segment.list_offset),
                start=scaled(segment.start))

        converted = {id(segment): convert(segment) for segment in (*self._history, *self._queue)}
        self._history = collections.deque(converted[id(segment)] for segment in self._history)
        self._history_frames = sum(len(segment.frames) for segment in self._history)
        self._queue = collections.deque(converted[id(segment)] for segment in self._queue)
        self._list_frames, self._sentence_frames = scaled(self._list_frames), scaled(self._sentence_frames)

    def stop(self) -> None:
        """Silence now and drop everything queued. The chunk list is kept for seek() until the next
        enqueue() starts a new one."""
        with self._lock:
            base = self.position()
            self._eos = False
            self._paused = False
            self._skip_below = None
            self._list_open = False
            self._base = base
            self._reported_sentence = None
            self._queue = collections.deque()
            self._generation += 1  # last: the callback sees the new generation with the new queue

    def skip_to(self, sentence_id: int) -> None:
        """Drop the sound before `sentence_id` (sentence ids grow in reading order): the queued chunks,
        the chunk playing now, and chunks enqueued later, until stop()."""
        with self._lock:
            self._skip_below = int(sentence_id)

    def seek(self, seconds: float) -> None:
        """Play from `seconds` into the current chunk list (a recording being replayed), paused or not.
        Only the last `history_seconds` of the list can be reached."""
        with self._lock:
            history = list(self._history)
            if not history or not self._rate:
                return
            first, last = history[0], history[-1]
            target = min(max(round(seconds * self._rate), first.list_offset),
                         last.list_offset + len(last.frames))
            generation = self._generation + 1
            segments: list[_Segment] = []
            base = START
            for segment in history:
                end = segment.list_offset + len(segment.frames)
                if end <= target:
                    base = self._position_of(segment, len(segment.frames))
                    continue
                start = max(0, target - segment.list_offset)
                if not segments:
                    base = self._position_of(segment, start)
                segments.append(dataclasses.replace(segment, start=start, generation=generation))
            self._list_open = True
            self._skip_below = None
            self._base = base
            self._reported_sentence = None
            self._queue = collections.deque(segments)
            self._generation = generation
            self._wake()

    def _remember(self, segment: _Segment) -> None:
        self._history.append(segment)
        self._history_frames += len(segment.frames)
        if self._history_seconds is None:
            return
        limit = self._history_seconds * self._rate
        while len(self._history) > 1 and self._history_frames - len(self._history[0].frames) >= limit:
            self._history_frames -= len(self._history.popleft().frames)

    # ----------------------------------------------------------------------------------- state

    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def is_playing(self) -> bool:
        """True while there is sound to hear and the player is neither paused nor stopped."""
        if not self._started or self._paused or self._stream is None:
            return False
        generation = self._generation
        if self._queue or (self._cur is not None and self._cur.generation >= generation):
            return True
        return self._unheard_frames(generation) > 0

    def position(self) -> Position:
        """The place being heard now (the stream's output latency taken into account)."""
        position, _ = self._heard_position()
        return position

    def queued_seconds(self) -> float:
        """Seconds of sound queued and not yet heard."""
        if not self._rate:
            return 0.0
        generation = self._generation
        frames = sum(len(s.frames) - s.start for s in _snapshot(self._queue) if s.generation >= generation)
        cur, pos = self._cur, self._cur_pos
        if cur is not None and cur.generation >= generation:
            frames += max(0, len(cur.frames) - pos)
        frames += self._unheard_frames(generation)
        return frames / self._rate

    def stats(self) -> PlayerStats:
        return PlayerStats(self._rate, self._channels, self._blocksize, self._stream_latency,
                           self._callbacks, self._callback_seconds, self._status_flags, self._cuts,
                           self._idle_closes, self._stream is not None)

    def _unheard_frames(self, generation: int) -> float:
        """Frames of this generation handed to the device and not heard yet."""
        try:
            run_generation, start, length, _, _ = self._runs[-1]
        except IndexError:
            return 0.0
        if run_generation < generation:
            return 0.0  # stopped or seeked since: what is still in the device buffer does not count
        return max(0.0, start + length - self._heard_frame())

    def _heard_frame(self) -> float:
        """The stream frame coming out of the speaker now, estimated from the last callback's DAC time."""
        block = self._last_block
        if block is None:
            return -1.0
        start, frames, delay, at = block
        now = time.monotonic()
        if self._failed_at is not None:
            now = min(now, self._failed_at)
        return min(start + (now - at - delay) * self._rate, float(start + frames))

    def _heard_position(self) -> tuple[Position, bool]:
        """The heard position, and whether it comes from sound played since the last stop/seek."""
        generation = self._generation
        runs = _snapshot(self._runs)
        heard = self._heard_frame()
        for run_generation, start, length, segment, offset in reversed(runs):
            if run_generation != generation:
                break  # runs of older generations come before; nothing of this one heard yet
            if start <= heard:
                into = min(int(heard - start), length)
                return self._position_of(segment, offset + into), True
        return self._base, False

    def _position_of(self, segment: _Segment, frame: int) -> Position:
        in_sentence = segment.sentence_offset + frame
        return Position(
            sentence_id=segment.sentence_id,
            sample_in_sentence=round(in_sentence * segment.source_rate / self._rate),
            seconds_in_sentence=in_sentence / self._rate,
            played_total_seconds=(segment.list_offset + frame) / self._rate,
        )

    # ----------------------------------------------------------------------------------- audio thread

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        started = time.perf_counter()
        if status:
            self._status_flags += 1
        try:
            self._fill(outdata, frames)
        except Exception as exc:  # reported by the notifier thread; logging here could block
            self._callback_error = exc
            outdata.fill(0)
            raise self._sd.CallbackAbort from exc
        current, dac = time_info.currentTime, time_info.outputBufferDacTime
        delay = dac - current if current and dac else -1.0
        if not 0.0 <= delay <= MAX_SANE_DELAY_SECONDS:
            delay = self._stream_latency
        self._last_block = (self._stream_frame, frames, delay, time.monotonic())
        self._stream_frame += frames
        self._callbacks += 1
        self._callback_seconds += time.perf_counter() - started

    def _fill(self, outdata: Any, frames: int) -> None:
        generation = self._generation
        skip = self._skip_below
        paused = self._paused
        cur, pos = self._cur, self._cur_pos
        written = 0
        cut = cur is not None and (cur.generation < generation
                                   or (skip is not None and cur.sentence_id < skip))
        if cur is not None and not self._cb_paused and (cut or paused):
            # Ramp down over the next few frames; on pause they are not consumed, so resume replays them.
            n = min(len(self._fade), len(cur.frames) - pos, frames)
            self._np.multiply(cur.frames[pos:pos + n], self._fade[:n], out=self._scratch[:n])
            outdata[:n] = self._scratch[:n]
            written = n
            self._cuts += 1
        if cut:
            cur = None
        self._cb_paused = paused
        if not paused:
            queue = self._queue
            while written < frames:
                if cur is None:
                    cur = self._next_segment(queue, generation, skip)
                    if cur is None:
                        break
                    pos = cur.start
                n = min(frames - written, len(cur.frames) - pos)
                outdata[written:written + n] = cur.frames[pos:pos + n]
                self._runs.append((cur.generation, self._stream_frame + written, n, cur, pos))
                pos += n
                written += n
                self._content_end = self._stream_frame + written
                if pos >= len(cur.frames):
                    cur = None
            if cur is None and self._eos:
                token = self._eos_token
                if not self._queue and (self._drained is None or self._drained[:2] != (generation, token)):
                    self._drained = (generation, token, self._content_end)
        self._cur, self._cur_pos = cur, pos
        if written < frames:
            outdata[written:] = 0

    def _next_segment(self, queue: collections.deque, generation: int, skip: int | None) -> _Segment | None:
        while True:
            try:
                segment = queue.popleft()
            except IndexError:
                return None
            if segment.generation >= generation and (skip is None or segment.sentence_id >= skip):
                return segment

    def _stream_finished(self) -> None:
        # PortAudio calls this when the stream ends: on close, or because the device failed.
        if not self._closing_stream:
            self._failed_at = time.monotonic()
            self._stream_failed = True

    # ----------------------------------------------------------------------------------- notifier

    def _notify_loop(self) -> None:
        while not self._closed.wait(POLL_SECONDS):
            try:
                self._tick()
            except Exception:  # the notifier must outlive a bad callback of the app
                logger.exception("player notifier failed")

    def _tick(self) -> None:
        if (self._stream_failed and self._stream is not None) or self._reopen_failed:
            self._device_lost()
            return
        self._close_when_idle()
        position, heard_now = self._heard_position()
        if heard_now and position.sentence_id != self._reported_sentence:
            self._reported_sentence = position.sentence_id
            if self._on_position is not None:
                self._on_position(position)
        drained = self._drained
        if (drained is not None and self._eos and drained[:2] == (self._generation, self._eos_token)
                and drained[:2] != self._fired and self._heard_frame() >= drained[2]):
            self._fired = drained[:2]
            if self._on_finished is not None:
                self._on_finished()

    # ----------------------------------------------------------------------------------- idle close

    def _wake(self) -> None:
        """(Under the lock.) Something new for the callback: count it, and open the stream again if it was
        closed for idling and there is sound to play. A device that does not open is a lost device,
        reported by the notifier as if it had failed mid-sentence; the caller gets no exception."""
        self._activity += 1
        if not self._idle_closed or self._paused or not self._started:
            return
        try:
            # The same device and settings as before: no device query, so this takes milliseconds.
            self._start_stream()
            return
        except AudioError as exc:
            logger.info("opening the output stream again failed (%s); trying the device afresh", exc)
        self._base = self.position()  # a fresh open forgets the old stream's clock; keep the place
        try:
            self._reopen_stream()  # the device may have changed: pick its rate again
        except AudioError as exc:
            logger.info("the output device did not open: %s", exc)
            self._idle_closed = False
            self._reopen_failed = True

    def _has_work(self) -> bool:
        """Whether the callback still has something to do: sound to play or to fade out, a pause or an end
        of stream it has not acted on, or sound it wrote that is not heard yet."""
        generation = self._generation
        if self._paused:
            if not self._cb_paused:
                return True
        elif self._queue or self._cur is not None:
            return True
        elif self._eos:
            key = (generation, self._eos_token)
            drained = self._drained
            if drained is None or drained[:2] != key or self._fired != key:
                return True  # on_finished comes from the callback noticing the end, then being heard
        return self._unheard_frames(generation) > 0

    def _close_when_idle(self) -> None:
        """Close the stream after `idle_close_seconds` of nothing to do, here in the notifier thread under
        the lock (PortAudio cannot close a stream from its own callback).

        Closed, not stopped: Pa_StartStream of PortAudio 19.6 on ALSA never returns when the device went
        away while the stream was stopped (the failed start in its audio thread leaves a mutex locked),
        while opening a stream on a missing device fails at once. A closed stream also lets other
        programs have the device. Reopening costs a few ms more than a start (bench: restart_ms)."""
        if self._idle_close_seconds is None or self._stream is None:
            self._quiet = None
            return
        if self._has_work():
            self._quiet = None
            return
        now, activity = time.monotonic(), self._activity
        if self._quiet is None or self._quiet[1] != activity:
            self._quiet = (now, activity)
            return
        if now - self._quiet[0] < self._idle_close_seconds:
            return
        with self._lock:
            # An enqueue() (or resume...) since the quiet spell began may be being played right now, in a
            # callback that has taken it off the queue and not yet recorded it: do not close then.
            if (self._activity != activity or self._stream is None or self._stream_failed
                    or self._has_work()):
                return
            self._close_stream()
            self._idle_closed = True
            self._idle_closes += 1
            if self._cur is not None:
                # Paused in the middle of a chunk: the callback is gone, so put the rest of the chunk back
                # at the head of the queue (where a reopen at another rate converts it, too).
                self._queue.appendleft(dataclasses.replace(self._cur, start=self._cur_pos))
                self._cur, self._cur_pos = None, 0
        self._quiet = None
        logger.debug("output stream closed after %.1f s with nothing to play", self._idle_close_seconds)

    # ----------------------------------------------------------------------------------- device lost

    def _device_lost(self) -> None:
        """Keep the place being heard, pause there, release the dead stream and tell the app."""
        with self._lock:
            self._reopen_failed = False
            if self._callback_error is not None:
                logger.error("the audio callback failed", exc_info=self._callback_error)
            generation = self._generation
            heard = self._heard_frame()
            runs = [run for run in tuple(self._runs) if run[0] == generation]
            heard_index = max((i for i, run in enumerate(runs) if run[1] <= heard), default=-1)
            # Replay from the frame being heard: the rest of its chunk, then every chunk that was written
            # (but not heard) after it, the chunk the callback was in, and the queue.
            replay: list[_Segment] = []
            seen: set[int] = set()

            def again(segment: _Segment, start: int) -> None:
                fresh = segment.generation >= generation and start < len(segment.frames)
                if fresh and id(segment) not in seen:
                    seen.add(id(segment))
                    replay.append(dataclasses.replace(segment, start=start, generation=generation + 1))

            if heard_index >= 0:
                _, start, length, segment, offset = runs[heard_index]
                position = self._position_of(segment, offset + min(int(heard - start), length))
                again(segment, offset + min(int(heard - start), length))
            else:
                position = self._base
            for _, _, _, segment, offset in runs[heard_index + 1:]:
                again(segment, offset)
            if self._cur is not None:
                again(self._cur, self._cur_pos)
            for segment in tuple(self._queue):
                again(segment, segment.start)
            self._close_stream()
            self._cur, self._cur_pos = None, 0
            self._paused = True
            self._base = position
            self._reported_sentence = None
            self._queue = collections.deque(replay)
            self._generation = generation + 1
            if position.sentence_id is None:
                error = DeviceLost(DEVICE_LOST)
            else:
                error = DeviceLost(DEVICE_LOST_AT.format(number=position.sentence_id + 1),
                                   sentence_id=position.sentence_id)
            self.error = error
        logger.warning("%s", error)
        if self._on_error is not None:
            self._on_error(error)


def available(device: int | str | None = None) -> str | None:
    """None when sound can be played on `device` (default: the system's), else the one-sentence reason."""
    try:
        sd = _import_sounddevice()
    except AudioError as exc:
        return exc.message
    try:
        info = sd.query_devices(device, kind="output")
    except (sd.PortAudioError, ValueError):
        return NO_DEVICE
    if int(info.get("max_output_channels", 0)) < 1:
        return NO_DEVICE
    try:
        stream = sd.OutputStream(device=device, channels=1, dtype="float32",
                                 samplerate=float(info["default_samplerate"]))
        stream.close(ignore_errors=True)
    except (sd.PortAudioError, ValueError):
        return DEVICE_BUSY
    return None


def play_blocking(chunks: Iterable[PlayableChunk], *, device: int | str | None = None) -> None:
    """Play chunks as they come (synthesis runs here, playback in the audio thread) and return when all
    has been heard. Raises AudioError; Ctrl-C stops the sound at once."""
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        return
    done = threading.Event()
    errors: list[AudioError] = []

    def failed(error: AudioError) -> None:
        errors.append(error)
        done.set()

    with Player(device=device, samplerate=int(first.sample_rate), on_error=failed,
                on_finished=done.set) as player:
        player.enqueue(first)
        for chunk in iterator:
            if errors:
                break
            player.enqueue(chunk)
        player.end_of_stream()
        while not done.wait(0.1):
            pass
    if errors:
        raise errors[0]
