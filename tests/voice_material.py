"""Recordings as people make them, built from clean speech: phone band (300-3400 Hz at 8 kHz), quiet, room
noise (pink or brown, at a speech-to-noise ratio), reverb (a synthetic room impulse response), a little or
a lot of clipping, long pauses; and clips of two people (one after the other, taking turns, or talking over
each other). Pure numpy and soxr, seeded: the same clip every run. Used by the voice-quality tests and the
calibration in tests/calibrate_voice_quality.py.

Real speech for the same checks comes from two packages when they are installed (pinned below):
pyannote-audio's sample dialogue and Debian's codec2-examples (telephone-band speech).
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

import numpy as np

SR = 16_000
FRAME = 480  # 30 ms
PHONE_RATE = 8_000
PHONE_BAND = (300.0, 3400.0)  # the telephone voice band (ITU-T G.712)

# Real recordings. pyannote-audio (MIT) ships a 30 s, 16 kHz dialogue of two women with its speaker
# turns (sample.rttm); only the WAV is read, nothing of pyannote is imported. Install it without its
# dependencies (torch): pip install --no-deps pyannote-audio==4.0.7.
PYANNOTE_VERSION = "4.0.7"
PYANNOTE_SAMPLE = "pyannote/audio/sample/sample.wav"
PYANNOTE_SAMPLE_SHA256 = "c319b4abca767b124e41432d364fd7df006cb26bb79d09326c487d606a134e6e"
# Stretches of one voice only, from sample.rttm (turns that overlap another are left out).
DIANE = ((11.05, 14.45), (18.62, 21.45), (27.90, 29.95))  # speaker90
SHEILA = ((14.72, 17.90), (21.80, 27.80))  # speaker91
# Debian's codec2-examples (LGPL-2.1): /usr/share/codec2/wav, 8 kHz telephone-band speech.
CODEC2_VERSION = "1.0.5-1"
CODEC2_WAV = Path("/usr/share/codec2/wav")


def _frames(x: np.ndarray) -> np.ndarray:
    n = len(x) // FRAME
    return np.asarray(x[: n * FRAME], dtype=np.float64).reshape(n, FRAME)


def _loud(x: np.ndarray) -> np.ndarray:
    """Frames of a clean clip within 30 dB of its loudest: its speech (the material is built from clean
    speech, so this needs none of the estimates under test)."""
    e = 10 * np.log10(np.mean(_frames(x) ** 2, axis=1) + 1e-12)
    return e > e.max() - 30


def speech_rms_db(x: np.ndarray) -> float:
    """The speech-active level (dBFS) of a clean clip: RMS over its speech frames."""
    f = _frames(x)[_loud(x)]
    return float(10 * np.log10(np.mean(f * f) + 1e-12))


def speech_of(x: np.ndarray) -> np.ndarray:
    """The speech frames of a clean clip, joined."""
    return _frames(x)[_loud(x)].ravel().astype(np.float32)


def at_level(x: np.ndarray, dbfs: float) -> np.ndarray:
    """The clip scaled so its speech is at `dbfs`."""
    return (x * 10 ** ((dbfs - speech_rms_db(x)) / 20)).astype(np.float32)


def phone(x: np.ndarray) -> np.ndarray:
    """8 kHz audio band-limited to 300-3400 Hz, as a phone call or a phone's voice memo (at PHONE_RATE)."""
    import soxr

    y = soxr.resample(np.asarray(x, dtype=np.float32), SR, PHONE_RATE)
    return band_pass(y, PHONE_RATE, *PHONE_BAND)


def band_pass(x: np.ndarray, rate: int, low: float, high: float) -> np.ndarray:
    """A linear-phase band pass with 100 Hz raised-cosine edges (FFT filter)."""
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    f = np.fft.rfftfreq(2 * n, 1 / rate)
    edge = 100.0
    gain = np.clip((f - (low - edge / 2)) / edge, 0, 1) * np.clip(((high + edge / 2) - f) / edge, 0, 1)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    return np.fft.irfft(spec * gain, 2 * n)[:n].astype(np.float32)


def colored_noise(n: int, kind: str, seed: int = 0) -> np.ndarray:
    """Unit-RMS noise: "white", "pink" (power 1/f, a room's hum and hiss) or "brown" (1/f^2, traffic,
    wind, a fan); above 50 Hz, as a phone's microphone hears it."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    power = {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind]
    shaped = spec / f ** (power / 2) * (f > 50)
    y = np.fft.irfft(shaped, n)
    return (y / (np.sqrt(np.mean(y * y)) + 1e-12)).astype(np.float32)


def noisy(x: np.ndarray, snr_db: float, kind: str = "pink", seed: int = 0) -> np.ndarray:
    """Noise added at `snr_db` under the speech-active level (the SNR a person would call it)."""
    level = 10 ** (speech_rms_db(x) / 20)
    return (x + colored_noise(len(x), kind, seed) * level * 10 ** (-snr_db / 20)).astype(np.float32)


def room_impulse(rt60: float, seed: int = 0, rate: int = SR) -> np.ndarray:
    """A synthetic room: the direct sound, then exponentially decaying noise (-60 dB after rt60 seconds)
    starting 5 ms later, at a direct-to-reverberant ratio of about 0 dB (a phone across a living room)."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * rate)
    t = np.arange(n) / rate
    tail = rng.normal(size=n) * 10 ** (-3 * t / rt60)
    tail[: int(0.005 * rate)] = 0
    tail /= np.sqrt(np.sum(tail * tail))
    ir = tail.copy()
    ir[0] = 1.0
    return ir.astype(np.float32)


def reverberant(x: np.ndarray, rt60: float = 0.6, seed: int = 0) -> np.ndarray:
    """The clip as heard in a room with reverberation time rt60, at the clip's own speech level."""
    ir = room_impulse(rt60, seed)
    n = len(x) + len(ir) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[:n]
    return at_level(y.astype(np.float32), speech_rms_db(x))


def clipped(x: np.ndarray, share: float) -> np.ndarray:
    """The clip driven into full scale so that `share` of its samples clip (0.002: a shout or two;
    0.2: a phone held against the mouth with the gain up)."""
    top = float(np.quantile(np.abs(x), 1 - share))
    return np.clip(x / top, -1.0, 1.0).astype(np.float32)


def with_pauses(x: np.ndarray, pause_s: float = 2.0, pieces: int = 3) -> np.ndarray:
    """The clip cut into `pieces` at its quietest moments, with `pause_s` of silence between them (a
    grandparent thinking of the next sentence)."""
    energies = np.mean(_frames(x) ** 2, axis=1)
    n = len(energies)
    cuts = []
    for k in range(1, pieces):
        lo, hi = int(n * (k / pieces - 0.1)), int(n * (k / pieces + 0.1))
        cuts.append((lo + int(np.argmin(energies[lo:hi]))) * FRAME)
    parts = np.split(x, cuts)
    gap = np.zeros(int(pause_s * SR), np.float32)
    out = [parts[0]]
    for p in parts[1:]:
        out += [gap, p]
    return np.concatenate(out).astype(np.float32)


def one_then_other(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A then B at the same speech level, 0.3 s apart."""
    b = at_level(b, speech_rms_db(a))
    return np.concatenate([a, np.zeros(int(0.3 * SR), np.float32), b]).astype(np.float32)


def taking_turns(a: np.ndarray, b: np.ndarray, turn_s: float = 2.0) -> np.ndarray:
    """A and B taking turns of about `turn_s` of speech each: A B A B ..."""
    a_sp, b_sp = speech_of(a), at_level(speech_of(b), speech_rms_db(a))
    size = int(turn_s * SR)
    gap = np.zeros(int(0.3 * SR), np.float32)
    out = []
    for i in range(max(len(a_sp), len(b_sp)) // size + 1):
        for sp in (a_sp, b_sp):
            piece = sp[i * size:(i + 1) * size]
            if len(piece) > SR // 2:
                out += [piece, gap]
    return np.concatenate(out).astype(np.float32)


def talking_over(a: np.ndarray, b: np.ndarray, relative_db: float = 0.0, start: float = 0.5) -> np.ndarray:
    """B talks over A from `start` (share of A's length) on, `relative_db` under A's speech level."""
    b = at_level(b, speech_rms_db(a) + relative_db)
    at = int(len(a) * start)
    n = max(len(a), at + len(b))
    out = np.zeros(n, np.float32)
    out[: len(a)] += a
    out[at: at + len(b)] += b
    return out


# --- real recordings -------------------------------------------------------------------------------------

def pyannote_sample() -> Path | None:
    """pyannote-audio's sample.wav when that package is installed (and is the pinned version), else None."""
    try:
        dist = metadata.distribution("pyannote-audio")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(PYANNOTE_SAMPLE)))
    if dist.version != PYANNOTE_VERSION or not path.is_file():
        return None
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stretches(x: np.ndarray, spans: tuple[tuple[float, float], ...]) -> np.ndarray:
    """The given (start, end) seconds of a 16 kHz clip, joined."""
    return np.concatenate([x[int(s * SR): int(e * SR)] for s, e in spans]).astype(np.float32)
