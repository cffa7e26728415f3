"""Stage 3, the vocoder: acoustic frames -> waveform, whole or in growing windows for a fast first sound.

Windows overlap by a few frames of context on each side and are joined with a power-preserving
crossfade, so the joins do not click.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

import numpy as np

from reader.speech.acoustic import AcousticFrames
from reader.speech.errors import PackError
from reader.speech.runtime import RunControl, SessionPool, input_names, lazy_stage, run_session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowPlan:
    """How a sentence's frames are decoded, in seconds of audio. The first window is short so the first
    sound comes early (Kokoro: 0.5 s of audio = 20 frames decode in ~0.25 s here). Each next window is
    `growth` times longer and must be decoded while the audio before it plays: Kokoro's decoder costs
    ~11 ms a frame on 2 cores for 25 ms of audio, so with 4 frames of context each side window 2
    (32 + 8 frames, ~0.44 s) is ready before window 1's 0.5 s has played, and the lead grows from there;
    a growth of 2 would leave a gap. `largest` bounds memory (onnxruntime's arena grows with the window).
    `context` lets the convolutions and instance norms see their neighbours; `overlap` of it is
    crossfaded. `snap` lets a cut move to the quietest nearby frame."""

    first_s: float = 0.5
    growth: float = 1.6
    largest_s: float = 4.0
    context_s: float = 0.1
    overlap_s: float = 0.05
    snap_s: float = 0.1

    def frames(self, seconds: float, fps: float) -> int:
        return max(1, int(round(seconds * fps)))


WHOLE = WindowPlan(first_s=1e9, largest_s=1e9)  # one window: whole-sentence decoding


def crossfade(fade_out: np.ndarray, fade_in: np.ndarray) -> np.ndarray:
    """Join two renderings of the same stretch of audio: raised-cosine gains scaled so that the power
    stays constant for the measured correlation of the two (equal-power for unrelated signals, where
    the gains' squares sum to 1; equal-gain for identical ones, where an equal-power fade would bulge
    by 3 dB). Windows of Kokoro's vocoder start their harmonic phase anew, so both cases happen."""
    n = len(fade_out)
    if n == 0:
        return fade_out
    a = fade_out.astype(np.float64)
    b = fade_in.astype(np.float64)
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    r = float(np.dot(a, b) / denom) if denom > 0 else 1.0
    r = min(max(r, 0.0), 1.0)  # anti-phase: fall back to equal power rather than boost
    t = (np.arange(n) + 0.5) / n
    g_in = 0.5 - 0.5 * np.cos(np.pi * t)
    g_out = 1.0 - g_in
    power = g_in**2 + g_out**2 + 2 * r * g_in * g_out
    norm = 1.0 / np.sqrt(power)
    return (a * g_out * norm + b * g_in * norm).astype(np.float32)


class Vocoder(Protocol):
    def decode(self, frames: AcousticFrames, *, control: RunControl | None = None) -> np.ndarray: ...

    def stream(self, frames: AcousticFrames, *, control: RunControl | None = None) -> Iterator[np.ndarray]: ...


class VocoderStage:
    """Runs a vocoder session on all frames or on windows of them."""

    def __init__(self, session: Any, *, sample_rate: int, hop_size: int, plan: WindowPlan = WindowPlan(),
                 label: str = "vocoder") -> None:
        self.session = session
        self.sample_rate = int(sample_rate)
        self.hop = int(hop_size)
        self.plan = plan
        self.label = label
        self.inputs = set(input_names(session))
        unknown = self.inputs - {"features", "f0", "energy", "style"}
        if unknown or "features" not in self.inputs:
            raise PackError(
                f"The {label} takes inputs {', '.join(sorted(self.inputs))}; the reader can fill features, "
                "f0, energy and style, and needs 'features'."
            )

    @classmethod
    def load(cls, pack: Any, *, threads: int | None = None, precision: str = "auto",
             pool: SessionPool | None = None, plan: WindowPlan = WindowPlan()) -> "VocoderStage":
        m = pack.manifest
        if m.synthesis is None:
            raise PackError(f"Pack {pack.name} does not say how many samples a frame makes (synthesis.hop_size).")
        session = lazy_stage(pack, "vocoder", threads=threads, precision=precision, pool=pool)
        return cls(session, sample_rate=m.sample_rate, hop_size=m.synthesis.hop_size, plan=plan,
                   label=f"{pack.name} vocoder")

    @property
    def fps(self) -> float:
        return self.sample_rate / self.hop

    def _feeds(self, frames: AcousticFrames, a: int, b: int) -> dict[str, np.ndarray]:
        feeds = {"features": np.ascontiguousarray(frames.features[:, :, a:b])}
        for name, curve in (("f0", frames.f0), ("energy", frames.energy)):
            if name in self.inputs:
                if curve is None:
                    raise PackError(f"The {self.label} needs '{name}' but the acoustic model gave none.")
                per_frame = curve.shape[-1] // max(frames.n_frames, 1)  # Kokoro: 2 values a frame
                feeds[name] = np.ascontiguousarray(curve[:, a * per_frame : b * per_frame])
        if "style" in self.inputs:
            if frames.style is None:
                raise PackError(f"The {self.label} needs a style vector but the voice has none.")
            feeds["style"] = frames.style
        return feeds

    def _run(self, frames: AcousticFrames, a: int, b: int, control: RunControl | None) -> np.ndarray:
        out = run_session(self.session, self._feeds(frames, a, b), label=self.label, control=control)
        audio = np.asarray(next(iter(out.values())), dtype=np.float32).reshape(-1)
        expected = (b - a) * self.hop
        if len(audio) != expected:  # a vocoder whose hop differs from the manifest's: keep timing right
            audio = np.interp(np.linspace(0, len(audio) - 1, expected), np.arange(len(audio)), audio)
            audio = audio.astype(np.float32)
        return audio

    def decode(self, frames: AcousticFrames, *, control: RunControl | None = None) -> np.ndarray:
        """All frames at once."""
        return self._run(frames, 0, frames.n_frames, control)

    def windows(self, frames: AcousticFrames) -> list[tuple[int, int]]:
        """The (start, end) frame ranges the sentence is decoded in."""
        n = frames.n_frames
        plan = self.plan
        fps = self.fps
        size = plan.frames(plan.first_s, fps)
        largest = plan.frames(plan.largest_s, fps)
        snap = plan.frames(plan.snap_s, fps) if frames.energy is not None else 0
        level = None
        if snap and frames.energy is not None:
            per = frames.energy.shape[-1] // max(n, 1)
            level = frames.energy[0, : n * per].reshape(n, per).mean(axis=1) if per else None
        bounds: list[tuple[int, int]] = []
        start = 0
        while start < n:
            end = start + size
            # A last window shorter than half the next size is merged into this one.
            if end + size * plan.growth / 2 >= n:
                end = n
            elif level is not None:
                lo, hi = max(start + 1, end - snap), min(n - 1, end + snap)
                if hi > lo:
                    end = lo + int(np.argmin(level[lo:hi]))  # cut where the voice is quietest
            bounds.append((start, end))
            start = end
            size = min(largest, int(round(size * plan.growth)))
        return bounds

    def stream(self, frames: AcousticFrames, *, control: RunControl | None = None,
               bounds: list[tuple[int, int]] | None = None) -> Iterator[np.ndarray]:
        """Audio window by window (`bounds`, default windows()), in order; together the whole sentence."""
        n = frames.n_frames
        context = self.plan.frames(self.plan.context_s, self.fps)
        overlap = min(context, self.plan.frames(self.plan.overlap_s, self.fps))
        hop = self.hop
        tail: np.ndarray | None = None  # the last window's rendering of the next window's first frames
        for start, end in bounds if bounds is not None else self.windows(frames):
            a = max(0, start - context)
            b = min(n, end + context)
            audio = self._run(frames, a, b, control)
            core = audio[(start - a) * hop : (end - a) * hop].copy()
            if tail is not None:
                k = min(len(tail), len(core))
                core[:k] = crossfade(tail[:k], core[:k])
            stop = min(b, end + overlap)
            tail = audio[(end - a) * hop : (stop - a) * hop] if stop > end else None
            yield core
