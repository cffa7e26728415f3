"""Time-stretching without a change of pitch (WSOLA), for the part of a fast rate the models cannot do.

WSOLA (Verhelst & Roelands 1993) cuts the input into overlapping windowed frames taken `speed` times
further apart than they are laid down in the output, and moves each one by up to SEEK_S to where it
best continues the frame before it (cross-correlation), so the pitch periods line up and the overlap-add
neither beats nor clicks. Pitch and timbre stay; only the time between events shrinks.

`TimeStretch` works on a stream: it takes a sentence's audio window by window (the vocoder's chunks)
and keeps the frames that span a window boundary, so the joins are the same as inside a window.
"""

from __future__ import annotations

import math

import numpy as np

# Frame length: two to three pitch periods of a low voice (80-120 Hz), short enough that a frame does
# not smear two phonemes when it is laid down at twice the speed. Hops are half a frame, where the
# (half-sample-shifted) Hann windows sum exactly to one.
FRAME_S = 0.025
# How far a frame may move to line up with the previous one: more than half the longest pitch period
# (12.5 ms at 80 Hz), so an aligned position is always in reach.
SEEK_S = 0.008
# The search runs on every DECIMATE-th sample (speech's pitch energy is far below a quarter of the
# sample rate), then is refined at full rate within +-DECIMATE samples: ~4x cheaper, same joins.
DECIMATE = 4
# Below this difference from 1 the audio is passed through untouched.
NEUTRAL_SPEED = 1e-3


class TimeStretch:
    """Streamed WSOLA: `process(chunk)` returns the stretched audio that is final so far, `process(chunk,
    last=True)` the rest. The output lasts len(input) / speed, at the same pitch."""

    def __init__(self, speed: float, sample_rate: int, *, frame_s: float = FRAME_S, seek_s: float = SEEK_S) -> None:
        if not speed > 0 or not math.isfinite(speed):
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        self.speed = float(speed)
        self.sample_rate = int(sample_rate)
        self.n = 2 * max(8, int(round(frame_s * sample_rate / 2)))  # even frame length
        self.hop = self.n // 2  # synthesis hop (output)
        self.seek = max(1, int(round(seek_s * sample_rate)))
        self.window = (np.sin(np.pi * (np.arange(self.n) + 0.5) / self.n) ** 2).astype(np.float64)
        self._in = np.zeros(0, np.float32)
        self._in_start = 0  # absolute input index of _in[0]
        self._total_in = 0
        self._k = 0  # next output frame
        self._prev = 0  # input position of the previous frame
        self._acc = np.zeros(self.n, np.float64)  # overlap-add of output [_emitted, _emitted + n)
        self._wsum = np.zeros(self.n, np.float64)
        self._emitted = 0
        self._done = False

    @property
    def passthrough(self) -> bool:
        return abs(self.speed - 1.0) < NEUTRAL_SPEED

    def process(self, samples: np.ndarray, *, last: bool = False) -> np.ndarray:
        if self._done:
            raise RuntimeError("this stretch has already been given its last chunk")
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self.passthrough:
            self._done = last
            return x.copy()
        if len(x):
            self._in = np.concatenate([self._in, x]) if len(self._in) else x.copy()
            self._total_in += len(x)
        out: list[np.ndarray] = []
        target = int(round(self._total_in / self.speed)) if last else None
        while True:
            if last:
                if self._k * self.hop >= target:
                    break
            elif self._needed(self._k) > self._total_in:
                break
            self._add_frame(self._k)
            self._k += 1
            done = self._k * self.hop  # output before the next frame's start is final
            out.append(self._emit(done if target is None else min(done, target)))
        if last:
            out.append(self._emit(target))
            self._done = True
        self._trim()
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)

    # --- internals ---------------------------------------------------------------------------------

    def _ideal(self, k: int) -> int:
        return int(round(k * self.hop * self.speed))

    def _needed(self, k: int) -> int:
        """Input samples frame k reads up to (its search region and its template)."""
        if k == 0:
            return self.n
        return max(self._ideal(k) + self.seek + self.n, self._prev + self.hop + self.n)

    def _read(self, start: int, length: int) -> np.ndarray:
        """Input [start, start + length) in absolute indices; zeros past the end of the input."""
        a = start - self._in_start
        if a < 0:  # pragma: no cover - _trim keeps what any later frame can read
            raise RuntimeError("time stretch read before its buffer")
        seg = self._in[a : a + length]
        if len(seg) < length:
            seg = np.concatenate([seg, np.zeros(length - len(seg), np.float32)])
        return seg

    def _add_frame(self, k: int) -> None:
        n, seek = self.n, self.seek
        if k == 0:
            pos = 0
        else:
            ideal = self._ideal(k)
            lo = max(0, ideal - seek)
            hi = ideal + seek
            template = self._read(self._prev + self.hop, n)  # what naturally follows the last frame
            region = self._read(lo, hi - lo + n)
            pos = lo + _best_offset(region, template, DECIMATE)
        self._prev = pos
        frame = self._read(pos, n).astype(np.float64)
        start = k * self.hop - self._emitted
        end = start + n
        if end > len(self._acc):
            grow = end - len(self._acc)
            self._acc = np.concatenate([self._acc, np.zeros(grow)])
            self._wsum = np.concatenate([self._wsum, np.zeros(grow)])
        self._acc[start:end] += frame * self.window
        self._wsum[start:end] += self.window

    def _emit(self, upto: int) -> np.ndarray:
        """Output samples up to `upto` (absolute), which no later frame will touch."""
        m = upto - self._emitted
        if m <= 0:
            return np.zeros(0, np.float32)
        w = self._wsum[:m]
        # The first frame alone covers the start: dividing by its window gives the input back exactly.
        y = np.divide(self._acc[:m], w, out=np.zeros(m), where=w > 1e-9)
        self._acc = self._acc[m:]
        self._wsum = self._wsum[m:]
        self._emitted = upto
        return y.astype(np.float32)

    def _trim(self) -> None:
        """Drop input no later frame reads: the next template starts at _prev + hop, the next search at
        ideal(k) - seek."""
        keep = min(self._prev + self.hop, max(0, self._ideal(self._k) - self.seek)) if self._k else 0
        drop = keep - self._in_start
        if drop > 0:
            self._in = self._in[drop:]
            self._in_start = keep


def _best_offset(region: np.ndarray, template: np.ndarray, decimate: int) -> int:
    """The offset into `region` where `template` fits best (largest cross-correlation): searched on every
    `decimate`-th sample, then refined at full rate around the winner."""
    n = len(template)
    lags = len(region) - n + 1
    if decimate > 1 and lags > 4 * decimate:
        coarse = np.correlate(region[::decimate], template[::decimate], mode="valid")
        best = int(np.argmax(coarse)) * decimate
        lo, hi = max(0, best - decimate), min(lags - 1, best + decimate)
        fine = np.correlate(region[lo : hi + n], template, mode="valid")
        return lo + int(np.argmax(fine))
    return int(np.argmax(np.correlate(region, template, mode="valid")))


def time_stretch(samples: np.ndarray, speed: float, sample_rate: int) -> np.ndarray:
    """Whole-array WSOLA: the same audio `speed` times faster (shorter), at the same pitch."""
    return TimeStretch(speed, sample_rate).process(samples, last=True)
