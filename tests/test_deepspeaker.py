"""The Deep Speaker steering pack (deepspeaker-speaker): its front end, its ONNX graph and the built pack."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from reader.speech import features, packs
from reader.speech.build import deepspeaker
from reader.speech.errors import PackBuildError
from reader.speech.speaker import SpeakerStage, similarity
from tests import voice_material as vm
from tests.speakers import pack_dir

SR = features.SAMPLE_RATE


def test_front_end_on_hand_computed_cases():
    bank = features.speech_features_filterbank()
    assert bank.shape == (64, 257)
    # HTK mel points 0, 27.7, 56.4, 86.4 Hz fall in FFT bins floor(513 * hz / 16000) = 0, 0, 1, 2: the two
    # lowest bands are single bins; every band peaks at 1; the top one stops before bin 256 (8 kHz).
    np.testing.assert_array_equal(bank[0, :3], [1, 0, 0])
    np.testing.assert_array_equal(bank[1, :3], [0, 1, 0])
    assert bank.max(axis=1).tolist() == [1.0] * 64 and bank[:, 256].max() == 0

    # An impulse: pre-emphasis makes it [1, -0.97], so |X_k|^2 = 1 + 0.97^2 - 2 * 0.97 cos(2 pi k / 512),
    # over 512; bands 0 and 1 are bins 0 and 1.
    impulse = np.zeros(400)
    impulse[0] = 1
    raw = features.speech_features_fbank(impulse)
    assert raw.shape == (1, 64)
    power = [(1 + 0.97 ** 2 - 2 * 0.97 * np.cos(2 * np.pi * k / 512)) / 512 for k in (0, 1)]
    np.testing.assert_allclose(raw[0, :2], power, rtol=1e-12)
    assert raw[0, 0] == pytest.approx(0.03 ** 2 / 512)

    # Per-frame normalization: bands alternating 1 and 3 have mean 2 and deviation 1.
    np.testing.assert_allclose(features.normalize_frames(np.tile([1.0, 3.0], (2, 32))), np.tile([-1.0, 1.0], (2, 32)))
    # Silence: every band is machine epsilon, the deviation 0, so the frame is all zeros (no division by 0).
    assert not features.deepspeaker_fbank(np.zeros(1000)).any()

    # 3 s: 1 + ceil((48000 - 400) / 160) = 299 frames; windows of 160 every 80: 2 of them, NHWC.
    assert features.deepspeaker_fbank(np.ones(3 * SR)).shape == (299, 64)
    assert features.deepspeaker_windows(np.random.default_rng(0).normal(size=3 * SR)).shape == (2, 160, 64, 1)
    assert features.deepspeaker_windows(np.ones(SR // 2)).shape == (1, 160, 64, 1)  # short: padded with zeros
    assert features.FRONTENDS["deepspeaker-fbank64"] is features.deepspeaker_windows


def test_front_end_matches_python_speech_features_reference_values():
    # Numbers from python_speech_features 0.6 (fbank(signal, samplerate=16000, nfilt=64), then Deep Speaker's
    # normalize_frames) on this exact signal; it is not a dependency.
    t = np.arange(SR) / SR
    wav = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t)).astype(np.float32)
    raw = features.speech_features_fbank(wav)
    assert raw.shape == (99, 64) and raw[50].argmax() == 12
    np.testing.assert_allclose([raw[50, 10], raw[0, 10], raw.sum()],
                               [0.006579568872902397, 0.006277852117523992, 48.638361994897565], rtol=1e-5)
    assert features.speech_features_filterbank()[30].sum() == 3.0
    norm = features.deepspeaker_fbank(wav)
    np.testing.assert_allclose([norm[50, 10], norm[50].max(), norm[3, 0]], [-0.032059815, 6.2660427, -0.22813638],
                               atol=1e-4)


@pytest.fixture(scope="module")
def steer() -> SpeakerStage:
    return SpeakerStage.load(packs.open_pack(pack_dir(deepspeaker.NAME)), threads=1)


def _pyannote() -> np.ndarray:
    path = vm.pyannote_sample()
    if path is None:
        pytest.skip(f"pyannote-audio {vm.PYANNOTE_VERSION} is not installed (pip install --no-deps "
                    f"pyannote-audio=={vm.PYANNOTE_VERSION})")
    x, rate = soundfile.read(str(path), dtype="float32")
    assert rate == SR
    return x


def test_built_pack_loads_and_gives_unit_512d_embeddings(steer):
    manifest = packs.load_manifest(pack_dir(deepspeaker.NAME))
    assert manifest.frontend.kind == "deepspeaker-fbank64" and steer.frontend == "deepspeaker-fbank64"
    (source,) = manifest.stages["speaker"].sources
    assert (source.package, source.version, source.license) == ("speaker-verification", "0.1.2", "MIT")
    assert manifest.build["source"]["wheel_sha256"] == deepspeaker.WHEEL_SHA256
    emb = steer.embed(vm.stretches(_pyannote(), vm.SHEILA[1:]), SR)
    assert emb.shape == (512,) and emb.dtype == np.float32
    assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-5


def test_same_voice_is_closer_than_another_voice(steer):
    x = _pyannote()  # two women of one recording: the harder case
    diane = [vm.stretches(x, vm.DIANE[:1]), vm.stretches(x, vm.DIANE[1:])]
    sheila = [vm.stretches(x, vm.SHEILA[:1]), vm.stretches(x, vm.SHEILA[1:])]
    d, s = [steer.embed(c, SR) for c in diane], [steer.embed(c, SR) for c in sheila]
    same = min(similarity(*d), similarity(*s))
    different = max(similarity(a, b) for a in d for b in s)
    print(f"deepspeaker on pyannote: same voice >= {same:.3f}, different voices <= {different:.3f}")
    assert same > different + 0.03  # measured 0.902 vs 0.845


def test_same_synthetic_voice_is_closer_than_another(steer, speakers):
    joe = [steer.embed(c, SR) for c in speakers["joe"][:2]]
    kumo = steer.embed(speakers["kumo"][0], SR)
    same, different = similarity(*joe), max(similarity(j, kumo) for j in joe)
    print(f"deepspeaker on Joe / kumo: same voice {same:.3f}, different voices <= {different:.3f}")
    assert same > different + 0.05


def test_onnx_graph_matches_the_numpy_network():
    """Transposes, 'same' padding and the folded BatchNorm, on a length that is no multiple of 16."""
    try:
        wheel = deepspeaker.obtain_wheel(offline=True)
    except PackBuildError as exc:
        pytest.skip(exc.message)
    ckpt = deepspeaker.read_checkpoint(wheel)
    fbank = features.deepspeaker_windows(vm.stretches(_pyannote(), vm.SHEILA[1:]))[:1, :120]
    (ours,) = packs.open_pack(pack_dir(deepspeaker.NAME)).session("speaker").run(None, {"fbank": fbank})
    reference = deepspeaker.numpy_reference(ckpt, fbank)
    assert float(ours[0] @ reference[0]) > 0.99999 and np.abs(ours - reference).max() < 1e-4


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path):
    fake = tmp_path / deepspeaker.WHEEL
    fake.write_bytes(b"PK\x03\x04 not the wheel")
    root = tmp_path / "packs"
    with pytest.raises(PackBuildError, match=r"is not the pinned speaker-verification==0\.1\.2 .*it was not used"):
        deepspeaker.build(root, wheel=fake)
    assert not root.exists() or list(root.iterdir()) == []


def test_offline_without_a_cached_wheel_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(deepspeaker, "cache_dir", lambda: tmp_path / "wheels")
    with pytest.raises(PackBuildError) as caught:
        deepspeaker.obtain_wheel(offline=True)
    assert caught.value.message.startswith("The wheel speaker-verification==0.1.2 is not in the cache")


def test_an_encoder_set_scores_the_mean_of_its_encoders(steer, speakers):
    """The fit can be steered by several encoders at once (bench_fit_people --steer): an EncoderSet's
    similarity is the mean of its encoders' own, through both ways of embedding (a clip, any length)."""
    from reader.speech.speaker import EncoderSet
    from reader.voices.quality import embed_any_length

    ge2e = SpeakerStage.load(packs.open_pack(pack_dir("ge2e-speaker")), threads=1)
    both = EncoderSet([ge2e, steer], ["ge2e-speaker", deepspeaker.NAME])
    a, b = speakers["joe"][0], speakers["kumo"][0]
    for embed in (lambda e, x: e.embed(x, SR), embed_any_length):
        pair = embed(both, a), embed(both, b)
        assert pair[0].shape == (256 + 512,) and abs(float(np.linalg.norm(pair[0])) - 1.0) < 1e-5
        mean = (similarity(embed(ge2e, a), embed(ge2e, b)) + similarity(embed(steer, a), embed(steer, b))) / 2
        assert abs(similarity(*pair) - mean) < 1e-5
    with pytest.raises(ValueError):
        EncoderSet([ge2e], [])
