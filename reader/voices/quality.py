"""Checks a voice recording before anything of it is kept, and brings its level to a normal one.

A recording is refused only for what no processing can fix: no speech, too little speech, clipping on
most of the speech, or more than one voice. Everything else a phone recording of a grandparent tends to
have (quiet, room noise, some clipping, a short take, an echoing room) is a warning: the clip is kept,
its level normalized, and one sentence says what to do better next time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reader.errors import ReaderError
from reader.speech import features

SAMPLE_RATE = features.SAMPLE_RATE  # everything here runs on 16 kHz mono, the speaker encoders' rate

# --- finding the speech -----------------------------------------------------------------------------------
# Energy on 30 ms frames: webrtcvad's (and resemblyzer's vad_window_length) frame length.
FRAME_MS = 30
FRAME = SAMPLE_RATE * FRAME_MS // 1000
# The noise floor is a low percentile of 10 ms frame energies ("minimum statistics"): even continuous
# read speech (a LibriSpeech chapter, with hardly a pause) has stop closures and gaps between words of
# 10-50 ms, which 30 ms frames and a 10th percentile miss (the old estimate put the floor inside the
# speech and called clean audiobooks noisy). Frames of digital silence are left out: a recorder's zero
# lead-in must not hide the room's noise.
FLOOR_FRAME = SAMPLE_RATE // 100
NOISE_PERCENTILE = 5
# A frame can be speech when it is over the noise floor (no margin: in 10 dB SNR noise the weak
# consonants and onsets sit within a few dB of it, and a 6 dB margin lost 20-45 % of the speech there,
# refusing clips as too short; voicing, below, is what tells speech from noise)...
VAD_MARGIN_DB = 0.0
# Speech comes and goes with its syllables (3-8 a second): its louder frames (90th percentile) stand
# well over the floor even in 10 dB SNR noise (13 dB and more in calibration). A steady signal (a tone,
# mains hum, a modem) does not, however periodic it is: under this, nothing is speech.
MIN_MODULATION_DB = 6.0
# ...and not more than this far below the loudest frame (TRIM_TOP_DB in reader.speech.features).
VAD_RANGE_DB = features.TRIM_TOP_DB
# Frames under this are digital silence whatever the floor (16-bit dither sits near -100 dBFS).
SILENCE_DBFS = -80.0
# Loud is not enough: room noise, a fan or a passing car are loud too. Speech is voiced (periodic) in
# its vowels, so a frame counts as speech only near a voiced stretch. Voicing is YIN's cumulative mean
# normalized difference (de Cheveigne & Kawahara 2002) on 8 kHz audio high-passed at 150 Hz (brown noise
# and mains hum are periodic-looking below that; a phone line has no fundamental anyway), over the pitch
# range of adult and children's voices. Measured (tests/calibrate_voice_quality.py): at 0.45 with runs of
# two frames, 10 s of white, pink or brown noise gave no speech at all; the speech found in a clip with
# pink noise at 10 dB SNR was 80-100 % of what was found in the clean clip (0.5: noise gave 0.36 s).
VOICING_RATE = 8_000
VOICING_HIGHPASS_HZ = 150.0
PITCH_RANGE_HZ = (60.0, 400.0)
VOICED_CMNDF = 0.45
VOICED_RUN = 2  # frames: a vowel lasts 60 ms or more; an isolated periodic-looking frame is chance
# Speech around a voiced stretch: the consonants next to a vowel (150 ms each way).
VOICED_REACH = 5  # frames
# Under this much voiced speech there is no speech at all (noise, tones, a modem, silence).
MIN_VOICED_S = 0.5
# Speaker encoders need 3 s of speech (reader.speech.speaker.MIN_SECONDS, resemblyzer's advice).
MIN_SPEECH_S = 3.0
# Under this much speech the clip is kept with a warning: two GE2E windows' worth of speech and more
# (the part-similarity table below shows 3-4 s clips giving noisy halves).
SHORT_SPEECH_S = 4.0

# --- level ------------------------------------------------------------------------------------------------
# The level speech is brought to: RMS over the speech frames at -23 dBFS, the EBU R128 programme level
# (-23 LUFS); the measured clean recordings (the VERIFY_THRESHOLD corpus in enroll.py) were -15 to -25.
TARGET_SPEECH_DBFS = -23.0
# Peaks after the gain are held under -1 dBFS by a look-ahead limiter (EBU R128's true-peak ceiling).
PEAK_CEILING = 10 ** (-1.0 / 20)
LIMITER_WINDOW_S = 0.005  # attack and release: 5 ms, under a pitch period of a low voice
# Gain is capped: speech 40 dB under the target (-63 dBFS) is raised no further (16-bit quantization
# noise, -98 dBFS, then stays 35 dB under the speech).
MAX_GAIN_DB = 40.0
# Speech quieter than this gets a warning (it is normalized anyway): 15 dB under the quietest of the
# measured clean recordings, where a phone's own hiss becomes a large part of what the encoder hears.
QUIET_SPEECH_DBFS = -40.0

# --- noise, clipping, reverberation (warnings) ------------------------------------------------------------
# Speech (median of speech frames) over the noise floor. The clean recordings of that corpus gave 25-65
# dB, an HF radio recording (codec2's ve9qrp, audibly noisy) 14-21 dB. Under 15 dB the clip is kept
# with a warning; the calibration's clips with pink, brown or white noise at 10-15 dB all got it, no
# clean one did. GE2E moves with noise: such a clip is verified in its own room's noise
# (reader.voices.enroll.matched_embeddings).
NOISY_SNR_DB = 15.0
# Clipping: a sample within 1 % of the clip's own peak (a clip driven into full scale and then scaled
# down is still clipped), counted at the file's own rate (resampling rings around clipped tops and would
# hide them). A clean clip has a handful of samples there (its few highest crests), a clipped one runs.
CLIP_LEVEL = 0.99
# The peak must be flat-topped to count: at least this many samples at the peak level in the clip (a
# clean clip's highest crest gives 1-3).
MIN_CLIPPED_SAMPLES = 8
# Some clipping (a warning): more than 0.1 % of the samples (~16 a second at 16 kHz).
SOME_CLIPPED_SHARE = 0.001
# Clipping on most of the speech (a refusal): more than half of the speech frames hold clipped samples.
# Measured: clips driven so 1 % of their samples clip were all accepted (with the warning) and verified
# (min 0.89); speech at -23 dBFS driven 26 dB (20x) into full scale had 70-95 % of its speech frames
# clipped and all 30 were refused. (GE2E itself is robust to clipping; a clip that is mostly clipping is
# refused because it is no longer the person's voice to fit a reading voice to.)
MAX_CLIPPED_SPEECH = 0.5
# Reverberation: the fastest energy decays after speech stops. A voice stops within a few ms; a room
# keeps sounding, decaying by 60 dB in its reverberation time RT60. The 95th percentile of decay rates
# over 80 ms windows (10 ms frames) that start 25 dB and end 10 dB over the noise gives an estimate,
# measured on the level-normalized clip (calibration script): clean speech 0.16-0.30 s (p10-p90), phone
# band 0.15-0.26, the real recordings 0.25-0.34; synthetic rooms with RT60 0.4 s 0.34-0.44 and 0.8 s
# 0.46-0.60 (the estimate reads low: the direct sound hides the start of the decay). Warned over 0.35 s.
# Noisy clips (speech under ~25 dB over the noise) leave too few such windows: no estimate, no warning.
DECAY_WINDOW = 8  # 10 ms frames
DECAY_PERCENTILE = 95
DECAY_START_DB = 25.0
DECAY_END_DB = 10.0
MIN_DECAY_WINDOWS = 20
REVERB_RT60_S = 0.35
# The telephone band: a clip with next to no energy above 4.1 kHz (just over an 8 kHz file's Nyquist
# frequency, past soxr's transition band) was recorded or sent through a phone line, or is 8 kHz audio.
# Speech frames' energy above it over all of it: the wideband clips of the calibration gave -12 to -35 dB
# (fricatives live up there), phone-band and 8 kHz ones under -60 dB.
NARROWBAND_HZ = 4100.0
NARROWBAND_DB = -40.0
# Pauses longer than this are cut before embedding (keeping 150 ms each side): the encoder's own energy
# trim keeps a pause's room noise when it is within 40 dB of the speech, and windows of noise alone pull
# the embedding away from the voice (calibration: 2 s pauses in 30 dB SNR noise, 4 of 23 clips under the
# verification threshold, none with the pauses cut).
MAX_PAUSE_FRAMES = 10  # 300 ms

# --- one voice --------------------------------------------------------------------------------------------
# The single-speaker check embeds parts of the speech separately: consecutive 2 s parts (one or two GE2E
# partials of 1.6 s each), at most MAX_PARTS spread over the clip, and takes the lowest similarity
# between any two parts. One voice stays alike everywhere; two voices give at least one unlike pair
# however they share the clip (one after the other, taking turns, or one talking over the other).
PART_S = 2.0
MAX_PARTS = 8
# A clip with under 2 x PART_S of speech is cut in two halves of at least this (3 s of speech, the least
# that passes, gives two 1.5 s halves: one GE2E partial each, zero-padded by 0.1 s).
MIN_PART_S = 1.5
# Calibrated with tests/calibrate_voice_quality.py (GE2E): 30 single-speaker clips (the bundled voices
# and four real people: pyannote's sample, codec2's ve9qrp and vk5qi) x 16 degradations (phone band,
# quiet, pink/brown/white noise at 10-15 dB, reverb 0.4-0.8 s, clipping, long pauses, combinations);
# 880 two-speaker clips (55 pairs one after the other, taking 2 s turns, talking over the second half
# at 0 dB or from 30 % at -6 dB; each clean, in pink noise at 10 dB, phone band, reverb 0.6 s) and 12
# real ones (pyannote's dialogue, codec2's hts1a+hts2a and all.wav). With the bars below:
#   one voice refused  21 / 478 (4.4 %): 16 in reverberant rooms, 3 phone band + 10 dB noise + quiet,
#                      2 of one stretch of ve9qrp's radio (refused 5 times in all, 0.706 clean: it may
#                      hold a second station); none clean, phone, quiet, pink/white noise, pauses
#   two voices missed  110 / 892 (12.3 %): clean 7 / 224, reverb 4 / 220, pink noise 10 dB 42 / 224,
#                      phone band 57 / 224 (GE2E finds voices alike there); all 12 real ones caught
# Other bars (wideband clips, an earlier run without the reverberant pairs): 0.66 missed 21.7 % of two
# voices, 0.74 refused 7.4 % of one voice. The old score (the lowest similarity across a cut between the
# first k parts and the rest, at its 0.77 / 0.70 bars) refused 3.1 % and missed 22.6 %, pyannote's
# dialogue among them. Two halves (under 4 s of speech) are noisier: their bar is lower.
SINGLE_SPEAKER_MIN = 0.70
SINGLE_SPEAKER_MIN_SHORT = 0.66

# --- what the user is told ------------------------------------------------------------------------------
# Refusals: nothing of the clip is kept.
NO_SPEECH = "No speech was found in the recording; record someone speaking for at least 3 s."
NOT_ENOUGH = "Only {seconds:.1f} s of speech was found; record at least 3 s of someone speaking."
CLIPPED = ("Most of the speech is clipped (too loud for the microphone); record again farther from the "
           "microphone or with the input level turned down.")
SEVERAL_VOICES = "The clip seems to hold more than one voice; record one person at a time."
# Warnings: the clip is kept (normalized); the sentence says what happened and what to do next time.
TOO_QUIET = ("The speech was very quiet ({dbfs:.0f} dBFS) and was raised to a normal level; next time "
             "hold the microphone closer.")
NOISY = ("There is background noise (the speech is only {snr:.0f} dB above it); the recording was kept, "
         "but a quieter room will give a closer voice.")
SOME_CLIPPING = ("Some of the speech is clipped (too loud for the microphone); the recording was kept, but "
                 "speak a little farther from the microphone next time.")
SHORT = ("There is only {seconds:.1f} s of speech; the recording was kept, but 4 s or more gives a closer "
         "voice.")
REVERBERANT = ("The room echoes; the recording was kept, but holding the microphone closer, or a smaller "
               "room with soft furnishings, gives a closer voice.")


class QualityError(ReaderError):
    """A recording failed a quality check; nothing of it was kept."""

    title = "Voice recording"

    def __init__(self, message: str, *, problem: str = "", report: "QualityReport | None" = None) -> None:
        super().__init__(message)
        self.problem = problem
        self.report = report


@dataclass(frozen=True)
class QualityReport:
    """What the checks measured on one clip. `problems` are refusals and `warnings` what was accepted but
    could be better, both as (code, sentence) pairs, worst first; `ok` means the clip can be kept."""

    seconds: float
    speech_s: float
    clipped_share: float  # of all samples
    speech_dbfs: float
    noise_dbfs: float
    snr_db: float
    part_similarity: float | None  # speaker_change_similarity; None if not checked
    problems: tuple[tuple[str, str], ...] = field(default=())
    warnings: tuple[tuple[str, str], ...] = field(default=())
    voiced_s: float = 0.0
    clipped_speech: float = 0.0  # share of speech frames holding clipped samples
    rt60_s: float | None = None  # estimated reverberation time; None where it could not be measured
    gain_db: float = 0.0  # what normalize() applies to bring the speech to TARGET_SPEECH_DBFS
    high_band_db: float = 0.0  # speech energy above 4.1 kHz over all of it

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def narrowband(self) -> bool:
        """Recorded through a phone line or at 8 kHz: compared with wideband clips in the phone band."""
        return self.high_band_db < NARROWBAND_DB

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.problems + self.warnings)

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 2), "speech_s": round(self.speech_s, 2),
                "voiced_s": round(self.voiced_s, 2), "clipped_share": round(self.clipped_share, 5),
                "clipped_speech": round(self.clipped_speech, 3), "speech_dbfs": round(self.speech_dbfs, 1),
                "noise_dbfs": round(self.noise_dbfs, 1), "snr_db": round(self.snr_db, 1),
                "rt60_s": None if self.rt60_s is None else round(self.rt60_s, 2),
                "gain_db": round(self.gain_db, 1), "narrowband": self.narrowband,
                "part_similarity": None if self.part_similarity is None else round(self.part_similarity, 3),
                "warnings": [code for code, _ in self.warnings]}


# --- measurements -----------------------------------------------------------------------------------------

def frame_energies(wav16k: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """Mean-square energy in dBFS of each whole frame (30 ms by default; a full-scale square wave is 0 dBFS)."""
    x = np.asarray(wav16k, dtype=np.float64).ravel()
    n = len(x) // frame
    if n == 0:
        return np.zeros(0)
    frames = x[: n * frame].reshape(n, frame)
    return 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)


def noise_floor(wav16k: np.ndarray) -> float:
    """The noise floor (dBFS): a low percentile of the 10 ms frames that are not digital silence."""
    e = frame_energies(wav16k, FLOOR_FRAME)
    e = e[e > SILENCE_DBFS]
    return float(np.percentile(e, NOISE_PERCENTILE)) if len(e) else -120.0


def voicing(wav16k: np.ndarray) -> np.ndarray:
    """YIN's lowest cumulative mean normalized difference over the pitch range, per 30 ms frame
    (near 0: periodic, a vowel; near 1 or above: noise). Digital silence gives 1."""
    import soxr

    x = soxr.resample(np.asarray(wav16k, dtype=np.float32), SAMPLE_RATE, VOICING_RATE).astype(np.float64)
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / VOICING_RATE)
    x = np.fft.irfft(spec * np.clip((f - VOICING_HIGHPASS_HZ + 25) / 50, 0, 1), len(x))
    win = VOICING_RATE * FRAME_MS // 1000
    lo, hi = int(VOICING_RATE / PITCH_RANGE_HZ[1]), int(VOICING_RATE / PITCH_RANGE_HZ[0])
    n = len(wav16k) // FRAME
    out = np.ones(n)
    x = np.pad(x, (0, max(0, n * win + win + hi - len(x))))
    size = 1 << (win + hi).bit_length()
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    for start in range(0, n, 1024):  # frames in blocks: memory stays small for long files
        idx = np.arange(start, min(n, start + 1024))
        if not len(idx):
            break
        a = x[idx[:, None] * win + np.arange(win)[None, :]]
        b = x[idx[:, None] * win + np.arange(win + hi)[None, :]]
        r = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)[:, 1: hi + 1]
        first = idx * win
        lags = np.arange(1, hi + 1)
        e0 = sq[first + win] - sq[first]
        e_tau = sq[first[:, None] + lags[None, :] + win] - sq[first[:, None] + lags[None, :]]
        d = np.maximum(e0[:, None] + e_tau - 2 * r, 0.0)
        cmndf = d / (np.cumsum(d, axis=1) / lags[None, :] + 1e-20)
        best = cmndf[:, lo - 1:].min(axis=1)
        silent = e0 < win * 10 ** (SILENCE_DBFS / 10)
        out[idx] = np.where(silent, 1.0, best)
    return out


def _runs_at_least(mask: np.ndarray, length: int) -> np.ndarray:
    """`mask` with its runs of True shorter than `length` cleared."""
    out = np.zeros_like(mask)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    for s, e in zip(edges[::2], edges[1::2]):
        if e - s >= length:
            out[s:e] = True
    return out


def _dilate(mask: np.ndarray, reach: int) -> np.ndarray:
    if not len(mask):
        return mask
    kernel = np.ones(2 * reach + 1)
    return np.convolve(mask.astype(float), kernel, mode="full")[reach: reach + len(mask)] > 0


@dataclass(frozen=True)
class SpeechFrames:
    """Where the speech is in a clip: per 30 ms frame, its energy, whether it is speech, whether voiced."""

    energies: np.ndarray
    speech: np.ndarray
    voiced: np.ndarray
    floor: float


def find_speech(wav16k: np.ndarray) -> SpeechFrames:
    """Speech frames: loud enough (over the noise floor and within 40 dB of the loudest) and within
    150 ms of a voiced stretch."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    energies = frame_energies(x)
    floor = noise_floor(x)
    if len(energies) == 0:
        empty = np.zeros(0, bool)
        return SpeechFrames(energies, empty, empty, floor)
    gate = max(floor + VAD_MARGIN_DB, float(energies.max()) - VAD_RANGE_DB, SILENCE_DBFS)
    loud = energies > gate
    if float(np.percentile(energies, 90)) - floor < MIN_MODULATION_DB:
        loud[:] = False  # steady: a tone, hum or modem, however periodic
    voiced = _runs_at_least((voicing(x) < VOICED_CMNDF) & loud, VOICED_RUN)
    return SpeechFrames(energies, loud & _dilate(voiced, VOICED_REACH), voiced, floor)


def speech_only(wav16k: np.ndarray, frames: SpeechFrames | None = None) -> np.ndarray:
    """The speech frames of a clip, joined (pauses, silence and noise between phrases dropped)."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    mask = (frames or find_speech(x)).speech
    n = len(mask)
    if n == 0 or not mask.any():
        return x[:0]
    return x[: n * FRAME].reshape(n, FRAME)[mask].ravel()


def level_db(energies: np.ndarray) -> float:
    """The level of frames together (RMS of their samples), not an average of decibels."""
    return float(10 * np.log10(np.mean(10 ** (energies / 10)) + 1e-12)) if len(energies) else -120.0


def clipping(samples: np.ndarray, rate: int, speech: np.ndarray) -> tuple[float, float]:
    """(share of samples clipped, share of speech frames holding a clipped sample), at the file's own
    rate. A sample is clipped when within 1 % of the clip's peak and the peak is flat-topped."""
    x = np.abs(np.asarray(samples, dtype=np.float32).ravel())
    if not len(x):
        return 0.0, 0.0
    peak = float(x.max())
    hit = x >= CLIP_LEVEL * peak
    if peak <= 0 or int(hit.sum()) < MIN_CLIPPED_SAMPLES:
        return 0.0, 0.0
    share = float(hit.mean())
    if not speech.any():
        return share, 0.0
    # Each clipped sample's 30 ms frame (its time at the file's rate on the 16 kHz frame grid).
    where = np.flatnonzero(hit) * 1000 // (rate * FRAME_MS)
    where = where[where < len(speech)]
    clipped_frames = np.zeros(len(speech), bool)
    clipped_frames[where] = True
    return share, float(clipped_frames[speech].mean())


def reverberation_time(wav16k: np.ndarray, floor_db: float) -> float | None:
    """An RT60 estimate (s) from the fastest energy decays; None when the clip has too few decays above
    its noise to measure."""
    e = frame_energies(wav16k, FLOOR_FRAME)
    if len(e) <= DECAY_WINDOW:
        return None
    start, end = e[:-DECAY_WINDOW], e[DECAY_WINDOW:]
    usable = (end > floor_db + DECAY_END_DB) & (start > floor_db + DECAY_START_DB) & (start > end)
    if int(usable.sum()) < MIN_DECAY_WINDOWS:
        return None
    rate = (start - end)[usable] / (DECAY_WINDOW * FLOOR_FRAME / SAMPLE_RATE)  # dB per second
    fastest = float(np.percentile(rate, DECAY_PERCENTILE))
    return 60.0 / fastest if fastest > 0 else None


def high_band_db(wav16k: np.ndarray, speech: np.ndarray) -> float:
    """Energy of the speech frames above NARROWBAND_HZ over all their energy (dB)."""
    x = np.asarray(wav16k, dtype=np.float64)
    n = len(speech)
    if not n or not speech.any():
        return 0.0
    frames = x[: n * FRAME].reshape(n, FRAME)[speech]
    power = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2
    f = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    total = float(power.sum()) + 1e-20
    return float(10 * np.log10(float(power[:, f >= NARROWBAND_HZ].sum()) / total + 1e-12))


def without_pauses(wav16k: np.ndarray, frames: SpeechFrames) -> np.ndarray:
    """The clip with every pause over 300 ms cut to 300 ms (150 ms kept on each side)."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    n = len(frames.speech)
    if not n or not frames.speech.any():
        return x
    keep = np.ones(n, bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[1], frames.speech.astype(np.int8), [1]])))
    half = MAX_PAUSE_FRAMES // 2
    for s, e in zip(edges[::2], edges[1::2]):  # runs of non-speech
        if e - s > MAX_PAUSE_FRAMES:
            keep[s + (half if s > 0 else 0): e - (half if e < n else 0)] = False
    return np.concatenate([x[: n * FRAME].reshape(n, FRAME)[keep].ravel(), x[n * FRAME:] if keep[-1] else x[:0]])


def room_noise(wav16k: np.ndarray, frames: SpeechFrames | None = None) -> np.ndarray | None:
    """The clip's own background (its pauses, 60 ms or more away from speech), joined; None when there
    is under 0.3 s of it."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    frames = frames or find_speech(x)
    n = len(frames.speech)
    if not n:
        return None
    quiet = ~_dilate(frames.speech, 2) & (frames.energies > SILENCE_DBFS)
    if int(quiet.sum()) * FRAME < 0.3 * SAMPLE_RATE:
        return None
    return x[: n * FRAME].reshape(n, FRAME)[quiet].ravel()


def add_noise(wav16k: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`noise` (repeated to length) added `snr_db` under the clip's speech level: a clean clip put in
    the room another was recorded in, to compare the two in the same condition."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    frames = find_speech(x)
    level = level_db(frames.energies[frames.speech]) if frames.speech.any() else level_db(frames.energies)
    reps = int(np.ceil(len(x) / max(len(noise), 1)))
    bed = np.tile(np.asarray(noise, dtype=np.float64), reps)[: len(x)]
    bed_db = 10 * np.log10(np.mean(bed * bed) + 1e-20)
    return (x + bed * 10 ** ((level - snr_db - bed_db) / 20)).astype(np.float32)


def band_limit(wav16k: np.ndarray) -> np.ndarray:
    """The clip as a phone line carries it (300-3400 Hz), still at 16 kHz: for comparing a phone
    recording with a wideband one in the same band."""
    x = np.asarray(wav16k, dtype=np.float64).ravel()
    n = len(x)
    if not n:
        return x.astype(np.float32)
    spec = np.fft.rfft(x, 2 * n)
    f = np.fft.rfftfreq(2 * n, 1 / SAMPLE_RATE)
    gain = np.clip((f - 250.0) / 100.0, 0, 1) * np.clip((3450.0 - f) / 100.0, 0, 1)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    return np.fft.irfft(spec * gain, 2 * n)[:n].astype(np.float32)


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
    """A unit embedding of 16 kHz audio of any length with a SpeakerStage's front end and session (or
    with each encoder of an EncoderSet)."""
    from reader.speech.runtime import run_session
    from reader.speech.speaker import EncoderSet

    if isinstance(encoder, EncoderSet):
        return encoder.join([embed_any_length(e, wav16k) for e in encoder.encoders])

    wav = features.normalize_volume(np.asarray(wav16k, dtype=np.float32))
    windows = features.FRONTENDS[encoder.frontend](wav)
    name = encoder.session.get_inputs()[0].name
    outputs = run_session(encoder.session, {name: windows}, label=getattr(encoder, "label", "speaker encoder"))
    return features.aggregate(next(iter(outputs.values())))


def speaker_change_similarity(encoder: Any, speech16k: np.ndarray) -> float | None:
    """The lowest similarity between any two parts of the speech (None when it has under two parts)."""
    from reader.speech.speaker import similarity

    parts = part_embeddings(encoder, speech16k)
    if len(parts) < 2:
        return None
    return min(similarity(parts[i], parts[j]) for i in range(len(parts)) for j in range(i + 1, len(parts)))


# --- the checks -----------------------------------------------------------------------------------------

def assess(wav16k: np.ndarray, *, original: np.ndarray | None = None, original_rate: int | None = None,
           encoder: Any = None) -> QualityReport:
    """Measure one clip (16 kHz mono float32). `original` is the clip at its own rate (`original_rate`;
    the length ratio tells it when not given), for the clipping check; `encoder` (a SpeakerStage)
    enables the single-speaker check."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    frames = find_speech(x)
    speech_s = float(frames.speech.sum()) * FRAME_MS / 1000
    voiced_s = float(frames.voiced.sum()) * FRAME_MS / 1000
    raw = x if original is None else np.asarray(original, dtype=np.float32)
    if raw.ndim > 1:
        raw = raw.mean(axis=1)
    if original is None:
        rate = SAMPLE_RATE
    else:
        rate = original_rate or max(1, round(len(raw) * SAMPLE_RATE / max(len(x), 1)))
    clip_share, clip_speech = clipping(raw, rate, frames.speech)
    if frames.speech.any():
        speech = frames.energies[frames.speech]
        speech_dbfs = level_db(speech)
        snr = float(np.median(speech)) - frames.floor
        gain = float(np.clip(TARGET_SPEECH_DBFS - speech_dbfs, -MAX_GAIN_DB, MAX_GAIN_DB))
    else:
        speech_dbfs, snr, gain = -120.0, 0.0, 0.0
    # Decays measured after the gain: the silence gate must not cut a quiet clip's decays short.
    if frames.speech.any():
        louder = x * np.float32(10 ** (gain / 20))
        rt60 = reverberation_time(louder, noise_floor(louder))
    else:
        rt60 = None
    high = high_band_db(x, frames.speech)

    problems: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    if voiced_s < MIN_VOICED_S:
        problems.append(("no-speech", NO_SPEECH))
    elif speech_s < MIN_SPEECH_S:
        problems.append(("short", NOT_ENOUGH.format(seconds=_floor_tenth(speech_s))))
    if problems and problems[0][0] == "no-speech":
        pass  # a tone or a modem is "clipped" by its flat peaks; what matters is that there is no speech
    elif clip_speech > MAX_CLIPPED_SPEECH:
        problems.append(("clipped", CLIPPED))
    elif clip_share > SOME_CLIPPED_SHARE:
        warnings.append(("some-clipping", SOME_CLIPPING))
    part_sim = None
    if not problems:
        if snr < NOISY_SNR_DB:
            warnings.append(("noisy", NOISY.format(snr=snr)))
        if speech_dbfs < QUIET_SPEECH_DBFS:
            warnings.append(("quiet", TOO_QUIET.format(dbfs=speech_dbfs)))
        if rt60 is not None and rt60 > REVERB_RT60_S:
            warnings.append(("reverberant", REVERBERANT))
        if speech_s < SHORT_SPEECH_S:
            warnings.append(("short-warning", SHORT.format(seconds=_floor_tenth(speech_s))))
        if encoder is not None:
            part_sim = speaker_change_similarity(encoder, speech_only(x, frames))
            halves = speech_s < 2 * PART_S
            bar = SINGLE_SPEAKER_MIN_SHORT if halves else SINGLE_SPEAKER_MIN
            if part_sim is not None and part_sim < bar:
                problems.append(("voices", SEVERAL_VOICES))
    return QualityReport(seconds=len(x) / SAMPLE_RATE, speech_s=speech_s, clipped_share=clip_share,
                         speech_dbfs=speech_dbfs, noise_dbfs=frames.floor, snr_db=snr, part_similarity=part_sim,
                         problems=tuple(problems), warnings=tuple(warnings), voiced_s=voiced_s,
                         clipped_speech=clip_speech, rt60_s=rt60, gain_db=gain,
                         high_band_db=high)


def _floor_tenth(seconds: float) -> float:
    """2.96 s must not print as "3.0 s" in a sentence that asks for 3 s."""
    return np.floor(seconds * 10) / 10


def check(wav16k: np.ndarray, *, original: np.ndarray | None = None, original_rate: int | None = None,
          encoder: Any = None, label: str | None = None) -> QualityReport:
    """assess(), raising QualityError with the first refusal's sentence (prefixed by `label`) if any."""
    report = assess(wav16k, original=original, original_rate=original_rate, encoder=encoder)
    if report.problems:
        code, sentence = report.problems[0]
        raise QualityError(f"{label}: {sentence}" if label else sentence, problem=code, report=report)
    return report


# --- normalizing ------------------------------------------------------------------------------------------

def normalize(wav16k: np.ndarray, report: QualityReport) -> np.ndarray:
    """The clip with its speech at TARGET_SPEECH_DBFS (report.gain_db applied), peaks held under -1 dBFS
    by a look-ahead limiter. In memory only."""
    x = np.asarray(wav16k, dtype=np.float32).ravel()
    y = x.astype(np.float64) * 10 ** (report.gain_db / 20)
    return limit_peaks(y).astype(np.float32)


def limit_peaks(y: np.ndarray, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """Samples held under `ceiling` by a smooth gain: the gain each sample needs, the lowest over a
    window around it, then averaged over a window (the average of lows stays under every need in reach,
    so no sample goes over and the gain never steps)."""
    a = np.abs(y)
    if not len(a) or a.max() <= ceiling:
        return y
    w = max(1, int(LIMITER_WINDOW_S * SAMPLE_RATE))
    need = np.minimum(1.0, ceiling / np.maximum(a, 1e-12))
    padded = np.pad(need, w, mode="edge")
    low = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1).min(axis=1)
    kernel = np.ones(w + 1) / (w + 1)
    smooth = np.convolve(np.pad(low, (w // 2, w - w // 2), mode="edge"), kernel, mode="valid")
    return np.clip(y * smooth[: len(y)], -ceiling, ceiling)
