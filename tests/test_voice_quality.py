"""Voice-recording checks on recordings as people make them (tests/voice_material.py): every
single-speaker degraded clip is accepted with the right warnings, and its level normalized; silence, noise,
heavy clipping and two speakers are refused; an enrollment from phone-quality, quiet clips still verifies
against a clean clip. Real files on disk, the real GE2E encoder."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile

from reader.voices import quality
from reader.voices.enroll import VERIFY_THRESHOLD, VoiceBook, load_clip, prepare
from tests import voice_material as vm

SR = vm.SR


def _file(tmp_path, name: str, samples: np.ndarray, rate: int = SR, subtype: str = "PCM_16"):
    """The clip as a user's file (16-bit WAV unless said), read back the way enrollment reads it."""
    path = tmp_path / name
    soundfile.write(str(path), samples, rate, subtype=subtype)
    return load_clip(path)


def _assess(clip, encoder):
    return quality.assess(clip.samples, original=clip.original, original_rate=clip.original_rate, encoder=encoder)


# (name, how to make it from a clean clip, the warnings it must get, rate of the file)
DEGRADED = [
    ("phone", lambda x: vm.phone(x), set(), vm.PHONE_RATE),
    ("quiet", lambda x: vm.at_level(x, -45), {"quiet"}, SR),
    ("pink noise 12 dB", lambda x: vm.noisy(x, 12, "pink"), {"noisy"}, SR),
    ("brown noise 10 dB", lambda x: vm.noisy(x, 10, "brown", seed=2), {"noisy"}, SR),
    ("reverb", lambda x: vm.reverberant(x, 0.8), {"reverberant"}, SR),
    ("a little clipping", lambda x: vm.clipped(x, 0.003), {"some-clipping"}, SR),
    ("pauses", lambda x: vm.noisy(vm.with_pauses(x), 30, "pink"), set(), SR),
    ("phone, noisy and quiet", lambda x: vm.at_level(vm.phone(vm.noisy(x, 12, "pink")), -42), {"noisy", "quiet"},
     vm.PHONE_RATE),
]


@pytest.mark.parametrize("name, make, expected, rate", DEGRADED, ids=[d[0] for d in DEGRADED])
def test_degraded_single_speaker_clips_are_accepted_with_warnings(name, make, expected, rate, speakers, encoder,
                                                                  tmp_path):
    for who, clean in (("joe", speakers["joe"][0]), ("blend", speakers["blend"][0])):
        clip = _file(tmp_path, f"{who}.wav", make(clean), rate, subtype="FLOAT")
        report = _assess(clip, encoder)
        assert report.ok, (who, report)
        got = {code for code, _ in report.warnings} - {"short-warning"}
        assert got == expected, (who, report)
        assert report.narrowband == (rate == vm.PHONE_RATE)


def test_a_quiet_clip_is_brought_to_the_normal_level(speakers):
    quiet = vm.at_level(speakers["joe"][0], -50)
    report = quality.assess(quiet)
    assert report.ok and "quiet" in report.codes
    assert report.gain_db == pytest.approx(quality.TARGET_SPEECH_DBFS - report.speech_dbfs)
    louder = quality.normalize(quiet, report)
    again = quality.assess(louder)
    assert again.speech_dbfs == pytest.approx(quality.TARGET_SPEECH_DBFS, abs=1.0)
    assert "quiet" not in again.codes
    assert np.abs(louder).max() <= quality.PEAK_CEILING + 1e-6


def test_the_limiter_holds_peaks_without_steps():
    t = np.arange(SR) / SR
    x = 0.3 * np.sin(2 * np.pi * 200 * t)
    x[8000:8040] *= 6  # a 2.5 ms spike to 1.8
    y = quality.limit_peaks(x)
    assert np.abs(y).max() <= quality.PEAK_CEILING + 1e-9
    assert np.allclose(y[:7000], x[:7000]) and np.allclose(y[9000:], x[9000:])  # untouched away from it
    gain = np.abs(y[7800:8300]) / np.maximum(np.abs(x[7800:8300]), 1e-3)
    assert np.max(np.abs(np.diff(gain[np.abs(x[7800:8300]) > 0.05]))) < 0.2  # smooth, no click


def _silence():
    return np.zeros(6 * SR, np.float32)


def _noise(kind):
    return lambda: (vm.colored_noise(10 * SR, kind, 5) * 0.05).astype(np.float32)


def _tone():
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(6 * SR) / SR)).astype(np.float32)


@pytest.mark.parametrize("make, code", [
    (_silence, "no-speech"),
    (_noise("white"), "no-speech"),
    (_noise("pink"), "no-speech"),
    (_noise("brown"), "no-speech"),
    (_tone, "no-speech"),
], ids=["silence", "white noise", "pink noise", "brown noise", "tone"])
def test_no_speech_is_refused(make, code, encoder):
    report = quality.assess(make(), encoder=encoder)
    assert report.problems and report.problems[0] == (code, quality.NO_SPEECH)


def test_heavy_clipping_is_refused_and_a_little_is_not(speakers, tmp_path):
    joe = speakers["joe"][1]
    heavy = _file(tmp_path, "heavy.wav", np.clip(joe * 20, -1, 1))
    report = _assess(heavy, None)
    assert report.problems[0] == ("clipped", quality.CLIPPED) and report.clipped_speech > quality.MAX_CLIPPED_SPEECH
    # Driven into full scale and turned down afterwards: still clipped.
    scaled = _file(tmp_path, "scaled.wav", 0.5 * np.clip(joe * 20, -1, 1))
    assert _assess(scaled, None).problems[0][0] == "clipped"
    little = _file(tmp_path, "little.wav", vm.clipped(joe, 0.002))
    report = _assess(little, None)
    assert report.ok and "some-clipping" in report.codes


@pytest.mark.parametrize("how", ["one then other", "taking turns", "talking over"])
def test_two_speakers_are_refused(how, speakers, encoder):
    joe, kumo = speakers["joe"][2], speakers["kumo"][0]
    make = {"one then other": vm.one_then_other, "taking turns": vm.taking_turns,
            "talking over": lambda a, b: vm.talking_over(a, b, 0.0, 0.5)}[how]
    report = quality.assess(make(joe, kumo), encoder=encoder)
    assert ("voices", quality.SEVERAL_VOICES) in report.problems, report


def test_every_sentence_is_one_sentence():
    sentences = [quality.NO_SPEECH, quality.NOT_ENOUGH.format(seconds=1.5), quality.CLIPPED, quality.SEVERAL_VOICES,
                 quality.TOO_QUIET.format(dbfs=-47.2), quality.NOISY.format(snr=9.6), quality.SOME_CLIPPING,
                 quality.SHORT.format(seconds=3.5), quality.REVERBERANT]
    for s in sentences:
        assert s.endswith(".") and not re.search(r"[.!?] [A-Z]", s[:-1]), s


# --- enrollment: normalized audio stored and embedded; a degraded enrollment verifies -----------------------

@pytest.fixture
def book(tmp_path):
    from reader.vault.crypto import KdfParams
    from reader.vault.store import Vault

    vault = Vault.create(tmp_path / "vault", "a long family passphrase",
                         kdf_params=KdfParams(memory_kib=8 * 1024, iterations=1, lanes=1))
    yield VoiceBook(vault)
    vault.lock()


def _consent(name):
    from reader.voices.consent import Consent

    return Consent.now(name, "Åsa", "reading stories to the grandchildren", "Tom")


def test_a_phone_recording_of_a_quiet_grandparent_enrolls_and_verifies(book, speakers, encoder, tmp_path):
    joe = speakers["joe"]
    clips = [_file(tmp_path, "memo-1.wav", vm.at_level(vm.phone(vm.noisy(joe[0], 20, "pink")), -45), vm.PHONE_RATE),
             _file(tmp_path, "memo-2.wav", vm.at_level(vm.phone(joe[1]), -38), vm.PHONE_RATE),
             _file(tmp_path, "wideband.wav", vm.at_level(joe[2], -44))]  # and one not through a phone
    result = book.enroll("Grandpa", clips, _consent("Grandpa"), encoder)
    assert result.clips == 3
    warnings = result.warnings()
    assert any(w.startswith("memo-1.wav: The speech was very quiet") for w in warnings), warnings
    # What is stored is the normalized audio (and only as ciphertext).
    stored = book.recordings("Grandpa")
    for samples in stored:
        assert quality.assess(samples).speech_dbfs == pytest.approx(quality.TARGET_SPEECH_DBFS, abs=1.5)
    metas = [r.meta["quality"] for r in book.records("Grandpa", "recording")]
    assert [m["narrowband"] for m in metas] == [True, True, False] and "quiet" in metas[0]["warnings"]
    pcm = (np.clip(stored[0][SR: SR + 400], -1, 1) * 32767).round().astype("<i2").tobytes()
    for path in (tmp_path / "vault").rglob("*"):
        if path.is_file():
            assert pcm not in path.read_bytes()
    # A clean wideband clip of the same man is him, compared in the phone band and the memo's room.
    same = book.verify("Grandpa", _file(tmp_path, "clean.wav", joe[3]), encoder)
    assert same.same_speaker and same.similarity >= VERIFY_THRESHOLD, same
    # Other voices score under him. (In the phone band GE2E finds voices more alike: Kokoro's kumo comes
    # within a hair of the threshold here; see the false "same" figures of the calibration.)
    for other in (speakers["kumo"][0], speakers["blend"][1]):
        verdict = book.verify("Grandpa", _file(tmp_path, "other.wav", other), encoder)
        assert verdict.similarity < same.similarity - 0.05, (verdict, same)
    assert not book.verify("Grandpa", _file(tmp_path, "other.wav", speakers["blend"][1]), encoder).same_speaker


def test_prepare_refuses_with_the_label(speakers, tmp_path):
    clip = _file(tmp_path, "noise.wav", vm.colored_noise(8 * SR, "pink", 1) * 0.1)
    with pytest.raises(quality.QualityError) as caught:
        prepare(clip)
    assert caught.value.message == f"noise.wav: {quality.NO_SPEECH}" and caught.value.problem == "no-speech"


# --- real recordings (installed by setup; see tests/voice_material.py) ---------------------------------------

def _pyannote():
    path = vm.pyannote_sample()
    if path is None:
        pytest.skip(f"pyannote-audio {vm.PYANNOTE_VERSION} is not installed (pip install --no-deps "
                    f"pyannote-audio=={vm.PYANNOTE_VERSION})")
    assert vm.sha256(path) == vm.PYANNOTE_SAMPLE_SHA256
    x, rate = soundfile.read(str(path), dtype="float32")
    assert rate == SR
    return x


def _codec2(name):
    path = vm.CODEC2_WAV / name
    if not path.is_file():
        pytest.skip(f"Debian's codec2-examples ({vm.CODEC2_VERSION}) is not installed")
    return load_clip(path)


def test_real_speakers_are_accepted_and_verify(speakers, encoder, tmp_path):
    x = _pyannote()
    sheila = vm.stretches(x, vm.SHEILA[1:])  # 6 s alone
    for make in (lambda y: y, lambda y: vm.at_level(y, -48), lambda y: vm.noisy(y, 12, "brown"),
                 lambda y: vm.phone(y)):
        degraded = make(sheila)
        rate = vm.PHONE_RATE if len(degraded) < len(sheila) else SR
        clip = _file(tmp_path, "sheila.wav", degraded, rate, subtype="FLOAT")
        report = _assess(clip, encoder)
        assert report.ok, report
    # The pyannote dialogue is two women GE2E finds alike (0.74-0.84 between them): not asserted here;
    # see the calibration figures in the report of tests/calibrate_voice_quality.py.


def test_real_radio_speech_is_accepted_and_real_modem_audio_refused(encoder):
    ve9qrp = _codec2("ve9qrp.wav")  # one man over HF radio, 8 kHz
    piece = ve9qrp.samples[: 12 * SR]
    report = quality.assess(piece, encoder=encoder)
    assert report.ok and report.narrowband, report
    modem = _codec2("david4.wav")  # FreeDV modem tones, no speech
    assert quality.assess(modem.samples, encoder=encoder).problems[0][0] == "no-speech"


def test_real_two_people_are_refused(encoder):
    a, b = _codec2("hts1a.wav"), _codec2("hts2a.wav")  # a man, then a woman
    report = quality.assess(vm.one_then_other(a.samples, b.samples), encoder=encoder)
    assert report.problems and report.problems[0][0] == "voices", report


def test_continuous_clean_speech_is_not_called_noisy(speakers, encoder):
    """An audiobook (LibriSpeech) hardly pauses: the old floor, the 10th percentile of 30 ms frames, fell
    inside the speech and called such clips noisy. Joe's clips with every pause cut, joined."""
    joined = np.concatenate([vm.speech_of(c) for c in speakers["joe"]])
    report = quality.assess(joined, encoder=encoder)
    assert report.ok and "noisy" not in report.codes and report.snr_db >= quality.NOISY_SNR_DB, report
