"""Checks a voice recording before anything of it is kept: enough speech, not clipped, not too quiet, not
too noisy, and one speaker only. Each failure is one sentence that says what to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reader.errors import ReaderError
from reader.speech import features

SAMPLE_RATE = features.SAMPLE_RATE  # everything here runs on 16 kHz mono, the speaker encoders' rate

# Energy VAD on 30 ms frames: webrtcvad's (and resemblyzer's vad_window_length) frame length.
FRAME_MS = 30
FRAME = SAMPLE_RATE * FRAME_MS // 1000
# The noise floor is the energy of the quietest frames: every recording of speech has pauses (between
# phrases, at stop closures), so the 10th percentile of 30 ms frames lands in them, not in speech.
NOISE_PERCENTILE = 10
# A frame is speech when it is this far above the noise floor: 2x the amplitude of the floor, above the
# +-2-3 dB a steady noise's frames scatter by.
VAD_MARGIN_DB = 6.0
# ...and not more than this far below the loudest frame (TRIM_TOP_DB in reader.speech.features).
VAD_RANGE_DB = features.TRIM_TOP_DB
# Frames under this are digital silence whatever the floor (16-bit dither sits near -100 dBFS).
SILENCE_DBFS = -80.0
# Speaker encoders need 3 s of speech (reader.speech.speaker.MIN_SECONDS, resemblyzer's advice).
MIN_SPEECH_S = 3.0
# Clipping: a sample within 1 % of full scale; a clean recording has next to none (a peak-normalised one a
# handful), a clipped one has runs of them. 0.1 % of samples is ~16 a second at 16 kHz.
CLIP_LEVEL = 0.99
MAX_CLIPPED_SHARE = 0.001
# Speech RMS of the measured recordings (the VERIFY_THRESHOLD corpus) was -15 to -25 dBFS, Kokoro -19,
# Piper -24. -40 dBFS, 15 dB under the quietest of them, is a judgment, not a standard: below it a
# microphone's own hiss and the room are a large part of what the encoder hears.
MIN_SPEECH_DBFS = -40.0
# Speech (median of speech frames) over the noise floor, as estimated here: the clean prompts and
# samples of that corpus gave 16-65 dB (the lowest where there were hardly any pauses, so the quietest
# frames were speech: the estimate errs low, never high), Kokoro 55-70 dB, Piper 25-34 dB; an HF radio
# recording (codec2's ve9qrp, audibly noisy) 14-21 dB. 15 dB flags the radio's noisiest stretches and
# none of the clean recordings: a judgment from these measurements.
MIN_SNR_DB = 15.0
# The single-speaker check embeds parts of the speech separately. 2 s parts hold one or two GE2E
# partials (1.6 s each); at most MAX_PARTS, spread over the clip.
PART_S = 2.0
MAX_PARTS = 6
# A clip with under 2 x PART_S of speech is cut in two halves of at least this (3 s of speech, the least
# that passes, gives two 1.5 s halves: one GE2E partial each, zero-padded by 0.1 s).
MIN_PART_S = 1.5
# For each way of cutting the parts in two (first k parts | the rest), the similarity of the two sides'
# mean embeddings; the lowest over all cuts is the clip's score. Measured with GE2E (corpus: see
# reader/voices/enroll.py, VERIFY_THRESHOLD), one real speaker's clip vs half one person, half another,
# as share of single-speaker clips flagged / share of two-speaker clips missed:
#   speech   threshold 0.66     0.70        0.73        0.77
#   3 s      7 % / 3 %          7 % / 1 %   14 % / 1 %  25 % / 1 %    (n = 28 / 153)
#   4 s      4 % / 5 %          4 % / 2 %   4 % / 2 %   15 % / 0 %    (n = 27 / 105)
#   5 s      0 % / 8 %          0 % / 3 %   4 % / 3 %   4 % / 0 %     (n = 26 / 78)
#   6 s      0 % / 55 %         0 % / 22 %  0 % / 12 %  0 % / 4 %     (n = 22 / 78)
#   8 s      0 % / 20 %         0 % / 11 %  0 % / 8 %   0 % / 2 %     (n = 15 / 66)
# (Over whole 5-23 s clips: one speaker >= 0.802, two <= 0.739.) Short clips give noisier halves, so the
# bar is lower under LONG_CLIP_S of speech. Kokoro's jf_* styles are too alike for GE2E to split at any
# of these (up to 33 % missed), which says more about them than about people.
SINGLE_SPEAKER_MIN = 0.77
SINGLE_SPEAKER_MIN_SHORT = 0.70
LONG_CLIP_S = 6.0

NOT_ENOUGH = "Only {seconds:.1f} s of speech was found; record at least 3 s of someone speaking."
CLIPPED = "The recording is clipped; move back from the microphone or turn the input level down."
TOO_QUIET = "The speech is too quiet; move closer to the microphone."
NOISY = "The background noise is loud; record somewhere quieter."
SEVERAL_VOICES = "The clip seems to hold more than one voice; record one person at a time."


class QualityError(ReaderError):
    """A recording failed a quality check; nothing of it was kept."""

    title = "Voice recording"

    def __init__(self, message: str, *, problem: str = "", report: "QualityReport | None" = None) -> None:
        super().__init__(message)
        self.problem = problem
        self.report = report


@dataclass(frozen=True)
class QualityReport:
    """What the checks measured on one clip; `problems` holds (code, sentence) pairs, first is worst."""

    seconds: float
    speech_s: float
    clipped_share: float
    speech_dbfs: float
    noise_dbfs: float
    snr_db: float
    part_similarity: float | None  # speaker_change_similarity; None if not checked
    problems: tuple[tuple[str, str], ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 2), "speech_s": round(self.speech_s, 2),
                "clipped_share": round(self.clipped_share, 5), "speech_dbfs": round(self.speech_dbfs, 1),
                "noise_dbfs": round(self.noise_dbfs, 1), "snr_db": round(self.snr_db, 1),
                "part_similarity": None if self.part_similarity is None else round(self.part_similarity, 3)}


def frame_energies(wav16k: np.ndarray) -> np.ndarray:
    """Mean-square energy in dBFS of each whole 30 ms frame (a full-scale square wave is 0 dBFS)."""
    x = np.asarray(wav16k, dtype=np.float64).ravel()
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0)
    frames = x[: n * FRAME].reshape(n, FRAME)
    return 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)


def speech_mask(energies: np.ndarray) -> tuple[np.ndarray, float]:
    """Which frames are speech, and the noise floor (dBFS) they were measured against."""
    if len(energies) == 0:
        return np.zeros(0, bool), -120.0
    floor = float(np.percentile(energies, NOISE_PERCENTILE))
    gate = max(floor + VAD_MARGIN_DB, float(energies.max()) - VAD_RANGE_DB, SILENCE_DBFS)
    return energies > gate, floor


def speech_only(wav16k: np.ndarray) -> np.ndarray:
    """The speech frames of a clip, joined (pauses and silence dropped)."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    mask, _ = speech_mask(frame_energies(x))
    n = len(mask)
    if n == 0 or not mask.any():
        return x[:0]
    return x[: n * FRAME].reshape(n, FRAME)[mask].ravel()


def clipped_share(samples: np.ndarray) -> float:
    """Share of samples at or within 1 % of full scale (measured at the file's own rate: resampling
    rings around clipped tops and would hide them)."""
    x = np.asarray(samples, dtype=np.float32).ravel()
    return float(np.mean(np.abs(x) >= CLIP_LEVEL)) if len(x) else 0.0


def part_embeddings(encoder: Any, speech16k: np.ndarray, part_s: float = PART_S,
                    max_parts: int = MAX_PARTS) -> list[np.ndarray]:
    """Embeddings of consecutive `part_s` pieces of speech (at most `max_parts`, spread evenly).

    Goes under SpeakerStage.embed's 3 s minimum on purpose: each part is 1-2 encoder windows, enough to
    tell two voices apart though not to enroll one.
    """
    size = int(part_s * SAMPLE_RATE)
    count = len(speech16k) // size
    if count < 2:
        size = len(speech16k) // 2
        if size < MIN_PART_S * SAMPLE_RATE:
            return []
        count = 2
    starts = np.linspace(0, len(speech16k) - size, min(count, max_parts)).astype(int)
    return [embed_any_length(encoder, speech16k[s: s + size]) for s in starts]


def embed_any_length(encoder: Any, wav16k: np.ndarray) -> np.ndarray:
    """A unit embedding of 16 kHz audio of any length with a SpeakerStage's front end and session."""
    from reader.speech.runtime import run_session

    wav = features.normalize_volume(np.asarray(wav16k, dtype=np.float32))
    windows = features.FRONTENDS[encoder.frontend](wav)
    name = encoder.session.get_inputs()[0].name
    outputs = run_session(encoder.session, {name: windows}, label=getattr(encoder, "label", "speaker encoder"))
    return features.aggregate(next(iter(outputs.values())))


def speaker_change_similarity(encoder: Any, speech16k: np.ndarray) -> float | None:
    """The lowest similarity between the speech before and after any cut between parts (None when the
    clip has under two parts). One voice stays high at every cut; A-then-B drops at the cut between them."""
    from reader.speech.speaker import similarity

    parts = part_embeddings(encoder, speech16k)
    if len(parts) < 2:
        return None
    return min(similarity(np.mean(parts[:k], axis=0), np.mean(parts[k:], axis=0)) for k in range(1, len(parts)))


def assess(wav16k: np.ndarray, *, original: np.ndarray | None = None, encoder: Any = None) -> QualityReport:
    """Measure one clip (16 kHz mono float32). `original` is the clip at its own rate, for the clipping
    check; `encoder` (a SpeakerStage) enables the single-speaker check."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    energies = frame_energies(x)
    mask, floor = speech_mask(energies)
    speech_s = float(mask.sum()) * FRAME_MS / 1000
    clip = clipped_share(x if original is None else original)
    if mask.any():
        speech = energies[mask]
        # The level of the speech frames together (RMS of their samples), not an average of decibels.
        speech_dbfs = float(10 * np.log10(np.mean(10 ** (speech / 10)) + 1e-12))
        snr = float(np.median(speech)) - floor
    else:
        speech_dbfs, snr = -120.0, 0.0
    problems: list[tuple[str, str]] = []
    part_sim = None
    if speech_s < MIN_SPEECH_S:
        problems.append(("short", NOT_ENOUGH.format(seconds=_floor_tenth(speech_s))))
    if clip > MAX_CLIPPED_SHARE:
        problems.append(("clipped", CLIPPED))
    if mask.any() and speech_dbfs < MIN_SPEECH_DBFS:
        problems.append(("quiet", TOO_QUIET))
    if mask.any() and snr < MIN_SNR_DB:
        problems.append(("noisy", NOISY))
    if not problems and encoder is not None:
        part_sim = speaker_change_similarity(encoder, speech_only(x))
        bar = SINGLE_SPEAKER_MIN if speech_s >= LONG_CLIP_S else SINGLE_SPEAKER_MIN_SHORT
        if part_sim is not None and part_sim < bar:
            problems.append(("voices", SEVERAL_VOICES))
    return QualityReport(seconds=len(x) / SAMPLE_RATE, speech_s=speech_s, clipped_share=clip,
                         speech_dbfs=speech_dbfs, noise_dbfs=floor, snr_db=snr, part_similarity=part_sim,
                         problems=tuple(problems))


def _floor_tenth(seconds: float) -> float:
    """2.96 s must not print as "3.0 s" in a sentence that asks for 3 s."""
    return np.floor(seconds * 10) / 10


def check(wav16k: np.ndarray, *, original: np.ndarray | None = None, encoder: Any = None,
          label: str | None = None) -> QualityReport:
    """assess(), raising QualityError with the first problem's sentence (prefixed by `label`) if any."""
    report = assess(wav16k, original=original, encoder=encoder)
    if report.problems:
        code, sentence = report.problems[0]
        raise QualityError(f"{label}: {sentence}" if label else sentence, problem=code, report=report)
    return report
