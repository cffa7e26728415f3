"""The real default packs (built in .venv/share/reader/packs by `make test`): plausible, clean speech;
rate and pitch work; the speaker encoder tells two stock voices apart; windowed Kokoro decoding matches
whole-sentence decoding."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reader.settings import Settings
from reader.speech import packs
from reader.speech.pipeline import Pipeline
from reader.speech.prosody import Prosody
from reader.speech.speaker import SpeakerStage, similarity
from reader.speech.voices import closest_voice
from tests.speakers import pack_dir

FAST, RICH, SPEAKER = "piper-joe-en", "kokoro-int8", "ge2e-speaker"
ENGLISH = "The quick brown fox jumps over the lazy dog near the river bank."
CHINESE = "今天天气很好，我们一起去公园散步吧。"
# Phonemes a second: conversational English is ~10-15 (about 4-6 syllables), read speech somewhat less.
PHONEMES_PER_SECOND = (6.0, 25.0)
HAN_PER_SECOND = (2.0, 8.0)  # Mandarin is read at ~4-5 syllables (characters) a second
_IPA_NOISE = re.compile(r"[\sˈˌ.,!?;:—…\"“”()↗↘↓→-]")


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def fast(settings) -> Pipeline:
    return Pipeline.load(packs.open_pack(pack_dir(FAST)), settings)


@pytest.fixture(scope="module")
def rich(settings) -> Pipeline:
    return Pipeline.load(packs.open_pack(pack_dir(RICH)), settings)


@pytest.fixture(scope="module")
def encoder(settings) -> SpeakerStage:
    return SpeakerStage.load(packs.open_pack(pack_dir(SPEAKER)), threads=settings.threads)


def _check_clean(audio: np.ndarray) -> None:
    assert audio.dtype == np.float32
    assert np.isfinite(audio).all()
    peak = float(np.abs(audio).max())
    assert peak < 1.0
    assert np.mean(np.abs(audio) >= 0.99) < 1e-4  # practically no samples at full scale
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    assert rms > 0.02, f"RMS {rms:.4f}: nearly silent"


def _phoneme_count(pipeline: Pipeline, text: str, lang: str) -> int:
    return sum(len(_IPA_NOISE.sub("", p.phonemes)) for p in pipeline.pieces(text, lang))


def f0_median(audio: np.ndarray, rate: int, fmin: float = 60.0, fmax: float = 450.0) -> float:
    """Median F0 (Hz) over voiced frames, by normalized autocorrelation (40 ms frames, 10 ms hop)."""
    frame, hop = int(0.04 * rate), int(0.01 * rate)
    lags = np.arange(int(rate / fmax), int(rate / fmin) + 1)
    x = audio.astype(np.float64)
    level = np.sqrt(np.mean(x ** 2))
    f0s = []
    for start in range(0, len(x) - frame - lags[-1], hop):
        seg = x[start : start + frame]
        if np.sqrt(np.mean(seg ** 2)) < 0.5 * level:
            continue  # quiet: a pause or a weak consonant
        seg = seg - seg.mean()
        best_lag, best_r = 0, 0.0
        for lag in lags:
            other = x[start + lag : start + lag + frame]
            other = other - other.mean()
            r = np.dot(seg, other) / (np.linalg.norm(seg) * np.linalg.norm(other) + 1e-12)
            if r > best_r:
                best_lag, best_r = lag, r
        if best_r > 0.7:  # clearly periodic: voiced
            f0s.append(rate / best_lag)
    assert len(f0s) > 20, "too few voiced frames to measure pitch"
    return float(np.median(f0s))


def test_fast_pack_english_is_plausible_speech(fast):
    audio, times = fast.render(ENGLISH, lang="en")
    _check_clean(audio)
    seconds = len(audio) / fast.sample_rate
    per_second = _phoneme_count(fast, ENGLISH, "en") / seconds
    assert PHONEMES_PER_SECOND[0] <= per_second <= PHONEMES_PER_SECOND[1], (seconds, per_second)
    assert times.acoustic_ms > 0 and times.vocoder_ms > 0 and times.speaker_ms == 0


def test_rich_pack_english_is_plausible_speech(rich):
    audio, _ = rich.render(ENGLISH, lang="en")
    _check_clean(audio)
    per_second = _phoneme_count(rich, ENGLISH, "en") / (len(audio) / rich.sample_rate)
    assert PHONEMES_PER_SECOND[0] <= per_second <= PHONEMES_PER_SECOND[1], per_second


def test_rich_pack_chinese_is_plausible_speech(rich):
    audio, _ = rich.render(CHINESE, lang="zh")
    _check_clean(audio)
    han = len(re.findall(r"[\u4e00-\u9fff]", CHINESE))
    per_second = han / (len(audio) / rich.sample_rate)
    assert HAN_PER_SECOND[0] <= per_second <= HAN_PER_SECOND[1], per_second


@pytest.mark.parametrize("which", ["fast", "rich"])
def test_rate_makes_speech_shorter(which, request):
    pipeline = request.getfixturevalue(which)
    text = "Every morning she walks to the station."
    normal, _ = pipeline.render(text, lang="en", stream=False)
    quick, _ = pipeline.render(text, lang="en", prosody=Prosody(rate=1.5), stream=False)
    assert len(quick) < 0.85 * len(normal)
    _check_clean(quick)


@pytest.mark.parametrize("which", ["fast", "rich"])
def test_pitch_up_raises_the_measured_f0(which, request):
    pipeline = request.getfixturevalue(which)
    text = "We were away a year ago, while all our lawn was overrun."  # voiced throughout
    normal, _ = pipeline.render(text, lang="en", stream=False)
    higher, _ = pipeline.render(text, lang="en", prosody=Prosody(pitch=1.3), stream=False)
    f0_normal = f0_median(normal, pipeline.sample_rate)
    f0_higher = f0_median(higher, pipeline.sample_rate)
    assert f0_higher > 1.12 * f0_normal, (f0_normal, f0_higher)
    # The duration is kept: only the pitch moves.
    assert abs(len(higher) - len(normal)) < 0.25 * len(normal)


def test_speaker_encoder_tells_two_stock_voices_apart(rich, encoder):
    one = "The north wind and the sun were arguing about which of them was the stronger one."
    two = "A traveller came along the road, wrapped in a warm cloak, and they agreed on a test."
    emb = {}
    for voice in ("jf_alpha", "jm_kumo"):
        for key, text in (("one", one), ("two", two)):
            audio, _ = rich.render(text, lang="en", voice=rich.voice(voice), stream=False)
            assert len(audio) / rich.sample_rate >= 3.0
            emb[voice, key] = encoder.embed(audio, rich.sample_rate)
    same_a = similarity(emb["jf_alpha", "one"], emb["jf_alpha", "two"])
    same_k = similarity(emb["jm_kumo", "one"], emb["jm_kumo", "two"])
    cross = max(similarity(emb["jf_alpha", a], emb["jm_kumo", b]) for a in ("one", "two") for b in ("one", "two"))
    assert same_a > cross + 0.05 and same_k > cross + 0.05, (same_a, same_k, cross)
    # ...so the closest stock voice to new speech of a speaker is that speaker's voice.
    presets = {"jf_alpha": emb["jf_alpha", "one"], "jm_kumo": emb["jm_kumo", "one"]}
    assert closest_voice(emb["jf_alpha", "two"], presets)[0] == "jf_alpha"
    assert closest_voice(emb["jm_kumo", "two"], presets)[0] == "jm_kumo"


def _log_mel(audio: np.ndarray, rate: int) -> np.ndarray:
    from reader.speech.features import mel_filterbank

    n_fft, hop = 1024, 256
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, n_fft // 2), n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    return np.maximum(10 * np.log10(power @ mel_filterbank(rate, n_fft, 80).T + 1e-10), -60.0)


def test_windowed_kokoro_decoding_matches_whole_decoding(rich):
    text = "Reading aloud takes practice, and a good reader lets the voice fall at the end of a sentence."
    piece = rich.pieces(text, "en")[0]
    frames = rich.acoustic.infer(piece.ids, rich.voice(None))
    windows = rich.vocoder.windows(frames)
    assert len(windows) >= 3 and windows[0][1] <= 30  # a short first window, then longer ones
    whole = rich.vocoder.decode(frames)
    parts = list(rich.vocoder.stream(frames, bounds=windows))
    streamed = np.concatenate(parts)
    assert len(streamed) == len(whole)
    a, b = _log_mel(whole, rich.sample_rate), _log_mel(streamed, rich.sample_rate)
    distance = float(np.mean(np.abs(a - b)))
    corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    # Measured here: ~2.5 dB and 0.98; another stock voice on the same frames is ~6.5 dB and 0.92.
    assert distance < 4.0 and corr > 0.96, (distance, corr)
    # No discontinuity at the joins: no step there beyond what the waveform does anyway.
    steps = np.abs(np.diff(streamed))
    natural = np.percentile(np.abs(np.diff(whole)), 99.9)
    for j in np.cumsum([len(p) for p in parts])[:-1]:
        assert steps[j - 3 : j + 2].max() <= natural, (j, steps[j - 3 : j + 2].max(), natural)
    # The level around each join stays that of whole decoding (no dip or bump from the crossfade).
    for j in np.cumsum([len(p) for p in parts])[:-1]:
        around = slice(max(0, j - 1200), j + 1200)
        rms_s = np.sqrt(np.mean(streamed[around] ** 2))
        rms_w = np.sqrt(np.mean(whole[around] ** 2))
        assert rms_s == pytest.approx(rms_w, rel=0.5, abs=0.01)
