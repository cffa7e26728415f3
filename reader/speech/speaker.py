"""Stage 1, the speaker encoder: 3 s or more of speech -> a unit speaker embedding (GE2E-style, 256-d)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np

from reader.errors import ReaderError
from reader.speech import features
from reader.speech.runtime import RunControl, SessionPool, lazy_stage, run_session

log = logging.getLogger(__name__)

# Speaker encoders are trained on utterances of a few seconds; GE2E's partials are 1.6 s, and under
# ~3 s of speech its embeddings of one speaker scatter widely (resemblyzer's README recommends >= 3 s).
MIN_SECONDS = 3.0


class SpeakerAudioError(ReaderError):
    """The audio given to enroll or clone a voice is too short or not speech."""

    title = "Voice sample"


class SpeakerEncoder(Protocol):
    def embed(self, wav: np.ndarray, sample_rate: int, *, control: RunControl | None = None) -> np.ndarray: ...


class SpeakerStage:
    """Wraps an onnxruntime session of a speaker encoder with its audio front end (reader.speech.features)."""

    def __init__(self, session: Any, *, frontend: str = "ge2e-mel40", label: str = "speaker encoder") -> None:
        if frontend not in features.FRONTENDS:
            raise ValueError(f"unknown front end {frontend!r}")
        self.session = session
        self.frontend = frontend
        self.label = label

    @classmethod
    def load(cls, pack: Any, *, threads: int | None = None, precision: str = "auto",
             pool: SessionPool | None = None) -> "SpeakerStage":
        """The speaker stage of a verified pack (a `speaker` tier pack or a cloning pack)."""
        frontend = pack.manifest.frontend.kind if pack.manifest.frontend else "ge2e-mel40"
        session = lazy_stage(pack, "speaker", threads=threads, precision=precision, pool=pool)
        return cls(session, frontend=frontend, label=f"{pack.name} speaker encoder")

    def embed(self, wav: np.ndarray, sample_rate: int, *, control: RunControl | None = None) -> np.ndarray:
        """A unit embedding (float32) of one speaker's speech; SpeakerAudioError if under MIN_SECONDS."""
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim > 1:
            wav = wav.mean(axis=1)
        seconds = len(wav) / float(sample_rate)
        if seconds < MIN_SECONDS:
            raise SpeakerAudioError(
                f"The voice sample is {seconds:.1f} s long; record at least {MIN_SECONDS:.0f} s of speech."
            )
        if not np.isfinite(wav).all() or float(np.abs(wav).max(initial=0.0)) < 1e-4:
            raise SpeakerAudioError("The voice sample is silent; record some speech and try again.")
        wav16k = features.trim_silence(features.normalize_volume(features.to_16k(wav, sample_rate)))
        windows = features.FRONTENDS[self.frontend](wav16k)
        name = self.session.get_inputs()[0].name
        outputs = run_session(self.session, {name: windows}, label=self.label, control=control)
        return features.aggregate(next(iter(outputs.values())))


class EncoderSet:
    """Several speaker encoders heard as one: an embedding is their unit embeddings side by side, each
    divided by the square root of their number, so the cosine similarity of two such embeddings is the
    mean of the encoders' own similarities (and a unit vector stays one)."""

    def __init__(self, encoders: list[Any], names: list[str]) -> None:
        if not encoders or len(encoders) != len(names):
            raise ValueError("an encoder set needs one name for each of at least one encoder")
        self.encoders = list(encoders)
        self.names = list(names)
        self.label = " + ".join(names)

    def join(self, parts: list[np.ndarray]) -> np.ndarray:
        scale = 1.0 / np.sqrt(len(parts))
        return np.concatenate([np.asarray(p, dtype=np.float32).ravel() / (np.linalg.norm(p) + 1e-12) * scale
                               for p in parts]).astype(np.float32)

    def embed(self, wav: np.ndarray, sample_rate: int, *, control: RunControl | None = None) -> np.ndarray:
        return self.join([e.embed(wav, sample_rate, control=control) for e in self.encoders])


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (1.0: same direction)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
