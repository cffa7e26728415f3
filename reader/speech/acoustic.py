"""Stage 2, the acoustic model: phoneme ids + a voice + prosody -> acoustic frames (features, F0, energy).

One class serves every pack: the session's input names say what it takes (models/README.md):
Kokoro `tokens, style, speed`; Piper `tokens, token_lengths, scales`; cloning packs `tokens,
speaker_embedding, speed`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from reader.speech.errors import PackError
from reader.speech.prosody import NEUTRAL, Prosody
from reader.speech.runtime import RunControl, SessionPool, input_names, lazy_stage, run_session

log = logging.getLogger(__name__)

# Piper's defaults when a manifest gives none (piper's SynthesisConfig).
PIPER_NOISE_SCALE = 0.667
PIPER_NOISE_W = 0.8
# What a token Piper made one frame long at a fast rate would have lasted at rate 1, at most (frames;
# least squares over 23 sentences: 1.16 at 1.4x, 1.34-1.40 at 1.6-2.2x, 1.5 at 2.5x).
ONE_FRAME_AT_RATE_1 = 1.4


@dataclass(frozen=True)
class AcousticConfig:
    """The model's own synthesis settings (from the manifest); None means the model's default."""

    noise_scale: float | None = None
    length_scale: float | None = None
    noise_w: float | None = None
    speed: float | None = None
    pad_id: int | None = None  # wrap ids in this pad (Kokoro: 0), or None

    @classmethod
    def from_pack(cls, pack: Any) -> "AcousticConfig":
        s = pack.manifest.synthesis
        table = pack.phonemes() if pack.manifest.phonemes else {}
        pad = table.get("pad_id") if table.get("wrap_with_pad") else None
        if s is None:
            return cls(pad_id=pad)
        return cls(s.noise_scale, s.length_scale, s.noise_w, s.speed, pad)


@dataclass(frozen=True)
class VoiceCondition:
    """What conditions the acoustic stage: a stock style table, a blend of them, a speaker embedding, or
    nothing (a one-voice pack)."""

    name: str
    style_table: np.ndarray | None = None  # [rows, 1, D] or [rows, D]: row n-1 is for n phoneme tokens
    embedding: np.ndarray | None = None  # [D], unit length
    speaker_ms: float = 0.0  # time the speaker encoder took to make `embedding` (0: none computed)

    def style_for(self, n_tokens: int) -> np.ndarray:
        if self.style_table is None:
            raise PackError(f"The voice {self.name} has no style vectors; this pack needs a stock voice.")
        table = self.style_table.reshape(self.style_table.shape[0], -1)
        row = min(max(n_tokens, 1), table.shape[0]) - 1
        return table[row : row + 1].astype(np.float32)


@dataclass(frozen=True)
class AcousticFrames:
    """The acoustic stage's output for one piece of text."""

    features: np.ndarray  # [1, C, frames]
    f0: np.ndarray | None = None  # [1, 2 * frames] in Hz (Kokoro), already scaled for pitch
    energy: np.ndarray | None = None  # [1, 2 * frames]
    durations: np.ndarray | None = None  # [1, tokens] frames per token
    style: np.ndarray | None = None  # [1, D]: the vocoder of a style pack takes it too
    # How many times shorter these frames are than the model's own pace (its rate 1.0), estimated from
    # the durations: what the model actually did with the rate it was asked for (model_rate below).
    rate: float = 1.0

    @property
    def n_frames(self) -> int:
        return int(self.features.shape[-1])


class AcousticModel(Protocol):
    def infer(self, ids: Sequence[int], voice: VoiceCondition, prosody: Prosody = NEUTRAL, *,
              length_factor: float = 1.0, control: RunControl | None = None) -> AcousticFrames: ...


class AcousticStage:
    """Runs an acoustic session; prosody goes in through its own knobs (speed, length scale) and F0 and
    energy are scaled between the stages when the model exposes them."""

    def __init__(self, session: Any, config: AcousticConfig = AcousticConfig(), *,
                 label: str = "acoustic model") -> None:
        self.session = session
        self.config = config
        self.label = label
        self.inputs = set(input_names(session))
        known = {"tokens", "token_lengths", "scales", "style", "speed", "speaker_embedding"}
        unknown = self.inputs - known
        if unknown or "tokens" not in self.inputs:
            raise PackError(
                f"The {label} takes inputs {', '.join(sorted(self.inputs))}; the reader can fill "
                f"{', '.join(sorted(known))} and needs 'tokens'."
            )

    @classmethod
    def load(cls, pack: Any, *, threads: int | None = None, precision: str = "auto",
             pool: SessionPool | None = None) -> "AcousticStage":
        session = lazy_stage(pack, "acoustic", threads=threads, precision=precision, pool=pool)
        return cls(session, AcousticConfig.from_pack(pack), label=f"{pack.name} acoustic model")

    @property
    def has_f0(self) -> bool:
        """Whether pitch can be set by scaling F0 between the stages."""
        return "f0" in {o.name for o in self.session.get_outputs()}

    @property
    def conditioning(self) -> str:
        if "speaker_embedding" in self.inputs:
            return "speaker_embedding"
        return "style_vector" if "style" in self.inputs else "none"

    def infer(self, ids: Sequence[int], voice: VoiceCondition, prosody: Prosody = NEUTRAL, *,
              length_factor: float = 1.0, control: RunControl | None = None) -> AcousticFrames:
        """Frames for one piece. `length_factor` stretches durations (used to shift pitch by resampling
        on models without an F0 output)."""
        if not ids:
            raise ValueError("no phoneme ids")
        cfg = self.config
        tokens = list(ids)
        if cfg.pad_id is not None:
            tokens = [cfg.pad_id, *tokens, cfg.pad_id]
        stretch = length_factor / prosody.rate
        feeds: dict[str, np.ndarray] = {"tokens": np.asarray([tokens], dtype=np.int64)}
        if "token_lengths" in self.inputs:
            feeds["token_lengths"] = np.asarray([len(tokens)], dtype=np.int64)
        if "scales" in self.inputs:
            noise = PIPER_NOISE_SCALE if cfg.noise_scale is None else cfg.noise_scale
            noise_w = PIPER_NOISE_W if cfg.noise_w is None else cfg.noise_w
            length = 1.0 if cfg.length_scale is None else cfg.length_scale
            feeds["scales"] = np.asarray([noise, length * stretch, noise_w], dtype=np.float32)
        if "speed" in self.inputs:
            speed = 1.0 if cfg.speed is None else cfg.speed
            feeds["speed"] = np.asarray([speed / stretch], dtype=np.float32)
        style = None
        if "style" in self.inputs:
            style = voice.style_for(len(ids))
            feeds["style"] = style
        if "speaker_embedding" in self.inputs:
            if voice.embedding is None:
                raise PackError(f"The {self.label} clones a voice: it needs a speaker embedding, not {voice.name}.")
            feeds["speaker_embedding"] = np.asarray(voice.embedding, dtype=np.float32).reshape(1, -1)
        out = run_session(self.session, feeds, label=self.label, control=control)
        if "features" not in out:
            raise PackError(f"The {self.label} has no output named 'features'.")
        f0 = out.get("f0")
        if f0 is not None and prosody.pitch != 1.0:
            f0 = f0 * np.float32(prosody.pitch)
        energy = out.get("energy")
        if energy is not None and prosody.energy != 1.0:
            # Kokoro's energy curve is mostly negative (about -9 in silence); scaling it by 1.2 raised
            # the output RMS by ~5% here and stresses the voiced parts: emphasis rather than loudness.
            energy = energy * np.float32(prosody.energy)
        durations = out.get("durations")
        rounding = "ceil" if "scales" in self.inputs else "round"
        return AcousticFrames(features=out["features"], f0=f0, energy=energy, durations=durations,
                              style=style, rate=model_rate(durations, prosody.rate, rounding))


def model_rate(durations: np.ndarray | None, asked: float, rounding: str) -> float:
    """The speed-up a model achieved when asked for `asked`, from its whole-frame durations.

    Durations are whole frames, so a model asked to go 1.6x faster does less: Piper rounds every
    phoneme up (ceil(w / 1.6)), and 40% of its phonemes and blanks are already one frame long at 1.0,
    so it reaches only ~1.4x (1.9x when asked for 3.5x). For d = ceil(w / m) frames the length at rate 1
    lies in (m (d - 1), m d]: about m (d - 1/2) + 1/2 frames (ceil adds half a frame on average). A
    one-frame token is mostly a short one (a blank), so it counts at most ONE_FRAME_AT_RATE_1: fitted on
    23 sentences x 3 draws, the estimate is within 1% of the true length for m 1.4-2.5 (sd 3%).
    Kokoro rounds to the nearest frame (at least one), for which m d is the unbiased estimate: the
    model did what it was asked."""
    if durations is None or asked == 1.0:
        return asked
    d = np.asarray(durations, dtype=np.float64).ravel()
    spoken = d[d >= 1]
    made = float(spoken.sum())
    if made <= 0 or rounding != "ceil":
        return asked
    longer = spoken[spoken >= 2]
    natural = float(np.sum(asked * (longer - 0.5) + 0.5))
    natural += (len(spoken) - len(longer)) * min(0.5 * (asked + 1.0), ONE_FRAME_AT_RATE_1)
    return max(natural / made, 1e-3)
