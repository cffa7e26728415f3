"""The speech pipeline on tiny real ONNX packs: order, cancellation, timeouts, memory budget, broken packs,
the speaker-embedding (cloning) path, style instructions, and clean joins of long sentences."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import soundfile

from models.tiny_packs import FRAMES_PER_TOKEN, HOP, edit_manifest, make_tiny_pack
from reader.settings import Settings
from reader.speech import packs
from reader.speech.acoustic import AcousticConfig, AcousticStage
from reader.speech.errors import PackError
from reader.speech.g2p import UnsupportedAlphabet
from reader.speech.pipeline import Pipeline
from reader.speech.prosody import MODEL_RATE_MAX, RATE_MAX, Prosody, parse_style
from reader.speech.runtime import RunControl, load_session, run_session
from reader.speech.speaker import SpeakerAudioError
from reader.speech.synthesizer import SpeechText, SynthesisOptions, Synthesizer
from reader.speech.vocoder import VocoderStage, WindowPlan, crossfade

SENTENCES = ["One.", "Two words.", "Three small words.", "Four of them here.", "And five at the end."]


class SlowSession(ort.InferenceSession):
    """A real tiny session that first sleeps when `slow(feeds)` says so, checking RunOptions.terminate
    every 10 ms as onnxruntime does between kernels; then it runs for real (and onnxruntime itself
    refuses to run if the flag is set)."""

    def __init__(self, path: Path, delay: float, slow=lambda feeds: True) -> None:
        super().__init__(str(path), providers=["CPUExecutionProvider"])
        self.delay = delay
        self.slow = slow
        self.calls = 0

    def run(self, output_names, input_feed, run_options=None):
        self.calls += 1
        if self.slow(input_feed):
            end = time.perf_counter() + self.delay
            while time.perf_counter() < end:
                if run_options is not None and run_options.terminate:
                    break
                time.sleep(0.01)
        return super().run(output_names, input_feed, run_options)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def tiny(tmp_path) -> Path:
    return make_tiny_pack(tmp_path / "tiny-style")


def _pipeline(pack_dir: Path, settings: Settings, **kwargs) -> Pipeline:
    return Pipeline.load(packs.open_pack(pack_dir), settings, **kwargs)


def _slow_pipeline(pack_dir: Path, settings: Settings, delay: float, slow=lambda feeds: True) -> Pipeline:
    pack = packs.open_pack(pack_dir)
    pipeline = Pipeline.load(pack, settings)
    pipeline.acoustic = AcousticStage(SlowSession(pack.stage_path("acoustic"), delay, slow),
                                      AcousticConfig.from_pack(pack), label="slow acoustic")
    return pipeline


def _rehash(pack_dir: Path, rel: str) -> None:
    """Make the manifest agree with a file changed on purpose (so the next check sees the content)."""
    data = (pack_dir / rel).read_bytes()
    sha = hashlib.sha256(data).hexdigest()

    def change(m):
        for stage in m["stages"].values():
            if stage["file"] == rel:
                stage["sha256"], stage["bytes"] = sha, len(data)
        for f in m["files"]:
            if f["path"] == rel:
                f["sha256"], f["bytes"] = sha, len(data)

    edit_manifest(pack_dir, change)


# --- order and streaming -------------------------------------------------------------------------


def test_chunks_come_in_order_and_every_sentence_is_there(tiny, settings):
    synth = Synthesizer({"tiny-style": _pipeline(tiny, settings)}, settings=settings)
    chunks = list(synth.stream([SpeechText(i, s) for i, s in enumerate(SENTENCES)]))
    ids = [c.sentence_id for c in chunks]
    assert ids == sorted(ids)
    assert set(ids) == set(range(len(SENTENCES)))
    assert [c.sentence_id for c in chunks if c.last] == list(range(len(SENTENCES)))
    for c in chunks:
        assert c.samples.dtype == np.float32 and c.samples.ndim == 1 and c.sample_rate == 16_000
    # Every sentence reports its stage times on its last chunk.
    for c in chunks:
        if c.last:
            assert c.times.acoustic_ms > 0 and c.times.vocoder_ms > 0 and c.times.audio_s > 0
    assert len(synth.reports) == len(SENTENCES)
    assert synth.join(1.0)


def test_audio_length_follows_the_phonemes(tiny, settings):
    pipeline = _pipeline(tiny, settings)
    pieces = pipeline.pieces("abc abc abc")
    audio, times = pipeline.render("abc abc abc")
    tokens = sum(len(p.ids) + 2 for p in pieces)  # the pad at each end makes frames too
    assert len(audio) == tokens * FRAMES_PER_TOKEN * HOP
    assert times.audio_s == pytest.approx(len(audio) / 16_000)


def test_cancel_mid_stream_stops_at_once(tiny, settings):
    synth = Synthesizer({"tiny-style": _pipeline(tiny, settings)}, settings=settings, queue_chunks=1)
    stream = synth.stream([f"Sentence number {i}." for i in range(200)])
    got = [next(stream), next(stream)]
    t0 = time.perf_counter()
    synth.cancel()
    assert time.perf_counter() - t0 < 0.02
    assert list(stream) == []  # nothing after cancel
    assert synth.join(0.5), "the worker thread should end within milliseconds"
    assert got[0].sentence_id == 0


def test_cancel_terminates_a_running_model(tiny, settings):
    pipeline = _slow_pipeline(tiny, settings, delay=10.0)
    synth = Synthesizer({"tiny-style": pipeline}, settings=settings)
    stream = synth.stream(["This takes ten seconds."])
    worker_started = threading.Event()

    def consume():
        worker_started.set()
        list(stream)

    consumer = threading.Thread(target=consume)
    consumer.start()
    worker_started.wait()
    time.sleep(0.2)  # the acoustic model is now "running"
    t0 = time.perf_counter()
    synth.cancel()
    assert time.perf_counter() - t0 < 0.02
    assert synth.join(0.5)
    consumer.join(1.0)
    assert not consumer.is_alive()


def test_a_sentence_over_the_time_limit_is_skipped_and_reading_goes_on(tiny, settings):
    # Only the long sentence is slow: its acoustic calls get many tokens.
    pipeline = _slow_pipeline(tiny, settings, delay=5.0, slow=lambda feeds: feeds["tokens"].shape[1] > 6)
    notices = []
    synth = Synthesizer({"tiny-style": pipeline}, settings=settings.with_(sentence_timeout_s=0.3),
                        on_notice=notices.append)
    t0 = time.perf_counter()
    chunks = list(synth.stream(["Hi.", "A much longer sentence here.", "Bye."]))
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.5, "the slow sentence must be abandoned at its deadline, not waited for"
    assert {c.sentence_id for c in chunks if c.last} == {0, 2}
    assert [n.kind for n in notices] == ["timeout"]
    assert "took more than 0.3 s" in notices[0].message and "next one" in notices[0].message
    assert notices[0].sentence_id == 1


# --- memory budget -------------------------------------------------------------------------------


def test_a_small_memory_budget_releases_stages_and_reloads_them_lazily(tiny, settings):
    pipeline = _pipeline(tiny, settings.with_(memory_budget_mb=0))
    assert pipeline.resident() == []  # nothing loads before it is used
    pipeline.render("One.")
    pipeline.render("Two.")
    # With no budget only the stage in use stays; each was loaded again for the second sentence.
    assert len(pipeline.resident()) <= 1
    assert pipeline.acoustic.session.loads >= 2
    assert pipeline.vocoder.session.loads >= 2


def test_a_large_memory_budget_keeps_stages_resident(tiny, settings):
    pipeline = _pipeline(tiny, settings.with_(memory_budget_mb=10_000))
    pipeline.render("One.")
    pipeline.render("Two.")
    assert sorted(pipeline.resident()) == ["tiny-style acoustic", "tiny-style vocoder"]
    assert pipeline.acoustic.session.loads == 1
    assert pipeline.vocoder.session.loads == 1


def test_precision_setting_picks_a_variant_the_pack_offers(tiny, settings):
    # A pack may list another precision of a stage among its (hashed) files, role "<stage>.<precision>".
    data = (tiny / "acoustic.onnx").read_bytes()
    (tiny / "acoustic-int8.onnx").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    edit_manifest(tiny, lambda m: m["files"].append(
        {"path": "acoustic-int8.onnx", "sha256": sha, "bytes": len(data), "role": "acoustic.int8", "sources": []}))
    from reader.speech.runtime import stage_file

    pack = packs.open_pack(tiny)
    assert stage_file(pack, "acoustic", "int8").name == "acoustic-int8.onnx"
    assert stage_file(pack, "acoustic", "fp32").name == "acoustic.onnx"  # not offered: the stage's own file
    assert stage_file(pack, "acoustic", "auto").name == "acoustic.onnx"
    audio, _ = Pipeline.load(pack, settings.with_(precision="int8")).render("abc")
    assert len(audio) > 0
    from reader.errors import SettingsError

    with pytest.raises(SettingsError, match="precision"):
        Pipeline.load(pack, settings.with_(precision="fp8"))


# --- broken packs --------------------------------------------------------------------------------


def test_corrupt_model_file_is_refused(tiny, settings):
    (tiny / "acoustic.onnx").write_bytes(b"this is not an onnx model" * 10)
    _rehash(tiny, "acoustic.onnx")
    with pytest.raises(PackError, match=r"acoustic\.onnx: not a readable ONNX model"):
        packs.open_pack(tiny)
    # Loading it directly (a pack that skipped verification) is a PackError too, not a traceback.
    with pytest.raises(PackError, match=r"acoustic.*acoustic\.onnx cannot be loaded"):
        load_session(tiny / "acoustic.onnx", label="acoustic")


def test_missing_file_is_refused(tiny):
    (tiny / "vocoder.onnx").unlink()
    with pytest.raises(PackError, match=r"missing file vocoder\.onnx"):
        packs.open_pack(tiny)
    with pytest.raises(PackError, match="vocoder model file .* is missing"):
        load_session(tiny / "vocoder.onnx", label="vocoder")


def test_hash_mismatch_is_refused(tiny):
    data = bytearray((tiny / "voices.npz").read_bytes())
    data[-1] ^= 0xFF
    (tiny / "voices.npz").write_bytes(bytes(data))
    with pytest.raises(PackError, match=r"voices\.npz: sha256 .* manifest says"):
        packs.open_pack(tiny)


def test_manifest_input_names_that_differ_from_the_model_are_refused(tiny):
    edit_manifest(tiny, lambda m: m["stages"]["acoustic"]["inputs"][0].update(name="phoneme_ids"))
    with pytest.raises(PackError, match="acoustic.onnx: the model has no input 'phoneme_ids'"):
        packs.open_pack(tiny)


def test_a_model_with_inputs_the_reader_cannot_fill_is_refused(tiny, settings):
    # A consistent pack (manifest matches the model) whose acoustic stage calls its ids "phoneme_ids".
    model = onnx.load(str(tiny / "acoustic.onnx"))
    for node in model.graph.node:
        node.input[:] = ["phoneme_ids" if i == "tokens" else i for i in node.input]
    model.graph.input[0].name = "phoneme_ids"
    onnx.save(model, str(tiny / "acoustic.onnx"))
    inputs, _ = packs.onnx_io(tiny / "acoustic.onnx")
    _rehash(tiny, "acoustic.onnx")
    edit_manifest(tiny, lambda m: m["stages"]["acoustic"].update(
        inputs=[{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in inputs]))
    pack = packs.open_pack(tiny)  # verifies: the files are what the manifest says
    with pytest.raises(PackError, match="phoneme_ids"):
        Pipeline.load(pack, settings)


def test_wrong_feeds_and_failing_runs_become_pack_errors(tiny):
    session = load_session(tiny / "vocoder.onnx", label="vocoder")
    with pytest.raises(PackError, match="no inputs named mel"):
        run_session(session, {"features": np.zeros((1, 8, 4), np.float32), "f0": np.zeros((1, 8), np.float32),
                              "energy": np.zeros((1, 8), np.float32), "style": np.zeros((1, 256), np.float32),
                              "mel": np.zeros(1, np.float32)}, label="vocoder")
    with pytest.raises(PackError, match="The vocoder model failed to run"):
        run_session(session, {"features": np.zeros((1, 3, 4), np.float32), "f0": np.zeros((1, 8), np.float32),
                              "energy": np.zeros((1, 8), np.float32), "style": np.zeros((1, 256), np.float32)},
                    label="vocoder")


# --- the speaker-embedding (cloning) path ----------------------------------------------------------


def _speech_like(seed: int, seconds: float = 3.5, rate: int = 16_000) -> np.ndarray:
    """A voiced signal with its own pitch and formant-like colouring (different per seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 60 * seed
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.3 * wave * envelope + 0.01 * rng.normal(size=len(t))).astype(np.float32)


def test_speaker_embedding_pack_is_conditioned_by_the_encoder(tmp_path, settings):
    clone = make_tiny_pack(tmp_path / "clone", "speaker_embedding")
    pipeline = _pipeline(clone, settings)
    assert pipeline.conditioning == "speaker_embedding"
    a, b = _speech_like(1), _speech_like(3)
    emb_a = pipeline.speaker.embed(a, 16_000)
    emb_b = pipeline.speaker.embed(b, 16_000)
    assert emb_a.shape == (256,) and np.linalg.norm(emb_a) == pytest.approx(1.0, abs=1e-4)
    assert not np.allclose(emb_a, emb_b)
    audio_a, _ = pipeline.render("hello there", voice=pipeline.embedding_voice(emb_a))
    audio_b, _ = pipeline.render("hello there", voice=pipeline.embedding_voice(emb_b))
    audio_a2, _ = pipeline.render("hello there", voice=pipeline.embedding_voice(emb_a))
    assert len(audio_a) == len(audio_b)
    assert np.abs(audio_a - audio_b).max() > 1e-3  # another speaker, other audio
    np.testing.assert_array_equal(audio_a, audio_a2)  # same speaker, same audio


def test_cloning_from_a_recording_counts_the_encoder_once(tmp_path, settings):
    clone = make_tiny_pack(tmp_path / "clone", "speaker_embedding")
    wav = tmp_path / "me.wav"
    soundfile.write(wav, _speech_like(2, rate=22_050), 22_050)
    synth = Synthesizer({"tiny-clone": _pipeline(clone, settings)}, settings=settings)
    chunks = list(synth.stream(["First one.", "Second one."], SynthesisOptions(voice=str(wav))))
    last = [c for c in chunks if c.last]
    assert len(last) == 2
    assert last[0].times.speaker_ms > 0
    assert last[1].times.speaker_ms == 0


def test_cloning_needs_three_seconds(tmp_path, settings):
    pipeline = _pipeline(make_tiny_pack(tmp_path / "clone", "speaker_embedding"), settings)
    with pytest.raises(SpeakerAudioError, match="at least 3 s"):
        pipeline.speaker.embed(_speech_like(1, seconds=2.0), 16_000)


# --- style instructions --------------------------------------------------------------------------


@pytest.mark.parametrize("instruction, check", [
    ("read slowly and softly", lambda p: p.rate < 0.9 and p.volume < 0.8),
    ("sadly", lambda p: p.rate < 1 and p.pitch < 1 and p.volume < 1),
    ("excited", lambda p: p.rate > 1 and p.pitch > 1 and p.energy > 1),
    ("happily", lambda p: p.pitch > 1 and p.rate > 1),
    ("whisper", lambda p: p.volume <= 0.5),
    ("慢一点", lambda p: 0.85 < p.rate < 1.0),
    ("悲伤地", lambda p: p.rate < 1 and p.pitch < 1),
    ("大声", lambda p: p.volume > 1.2),
    ("快一点", lambda p: 1.0 < p.rate < 1.2),
    ("高兴地读", lambda p: p.pitch > 1 and p.rate > 1),  # 高兴 is happy, not 高 (high)
    ("nothing I know", lambda p: p == Prosody()),
])
def test_style_instructions_map_to_prosody(instruction, check):
    assert check(parse_style(instruction)), parse_style(instruction)


def test_style_intensity_words_scale_the_effect():
    slow, bit, very = parse_style("slowly").rate, parse_style("a bit slower").rate, parse_style("very slowly").rate
    assert very < slow < bit < 1.0
    assert parse_style("非常慢").rate < parse_style("慢").rate < parse_style("慢一点").rate < 1.0
    assert parse_style("a bit faster").rate == pytest.approx(parse_style("快一点").rate)
    # Keywords combine, and the result stays in bounds.
    both = parse_style("slowly and loudly")
    assert both.rate < 1 and both.volume > 1
    assert parse_style("extremely very fast fast fast quickly").rate <= RATE_MAX
    assert parse_style("extremely fast fast fast fast fast fast fast quickly").rate == RATE_MAX


def test_style_and_explicit_options_combine():
    p = SynthesisOptions(rate=1.2, style="slowly", volume=0.5).prosody()
    assert p.rate == pytest.approx(1.2 * 0.8)
    assert p.volume == pytest.approx(0.5)


def test_rate_pitch_energy_and_volume_reach_the_model_and_the_audio(tiny, settings):
    pack = packs.open_pack(tiny)
    pipeline = Pipeline.load(pack, settings)
    recorder = SlowSession(pack.stage_path("acoustic"), delay=0.0)
    seen = []
    recorder.slow = lambda feeds: seen.append(feeds) or False
    pipeline.acoustic = AcousticStage(recorder, AcousticConfig.from_pack(pack))
    base, _ = pipeline.render("abc def ghi")
    loud, _ = pipeline.render("abc def ghi", prosody=Prosody(rate=1.5, volume=1.5))
    assert seen[0]["speed"][0] == pytest.approx(1.0) and seen[-1]["speed"][0] == pytest.approx(1.5)
    pipeline.render("abc def ghi", prosody=Prosody(rate=3.0))
    assert seen[-1]["speed"][0] == pytest.approx(MODEL_RATE_MAX)  # the audio is time-stretched for the rest
    assert np.abs(loud).max() > np.abs(base).max() * 1.3
    assert np.abs(loud).max() < 1.0  # the soft limiter keeps loud speech inside full scale
    frames = pipeline.acoustic.infer(pipeline.pieces("abc")[0].ids, pipeline.voice(None))
    higher = pipeline.acoustic.infer(pipeline.pieces("abc")[0].ids, pipeline.voice(None), Prosody(pitch=1.2, energy=1.3))
    np.testing.assert_allclose(higher.f0, frames.f0 * 1.2, rtol=1e-5)  # pitch scales F0 between the stages
    np.testing.assert_allclose(higher.energy, frames.energy * 1.3, rtol=1e-5)


# --- long sentences and joins --------------------------------------------------------------------


def test_long_sentence_is_cut_into_pieces_that_join_without_clicks(tiny, settings):
    pipeline = _pipeline(tiny, settings)
    text = ("this is a rather long sentence, with several clauses in it, that the tiny model cannot take "
            "at once, so it must be cut into pieces and joined again")
    chunks = list(pipeline.synthesize(text))
    assert max(c.piece for c in chunks) >= 3  # the tiny pack takes 16 phonemes at a time
    audio = np.concatenate([c.samples for c in chunks])
    steps = np.abs(np.diff(audio))
    # The tiny vocoder's tone changes by at most ~0.2 a sample; a click would jump far more.
    natural = np.percentile(steps, 99.9)
    starts = np.cumsum([len(c.samples) for c in chunks])[:-1]
    for j in starts:
        assert abs(audio[j] - audio[j - 1]) <= natural * 1.05
    assert steps.max() <= natural * 1.5
    # Pieces are separated by a pause, and faded in and out.
    assert np.count_nonzero(audio == 0) > 0.1 * 16_000


def test_windowed_decoding_of_a_frame_wise_vocoder_equals_whole_decoding(tiny, settings):
    pipeline = _pipeline(tiny, settings)
    pieces = pipeline.pieces("abcdefghijklmno")
    voice = pipeline.voice(None)
    frames = pipeline.acoustic.infer(pieces[0].ids, voice)
    plan = WindowPlan(first_s=0.02, growth=1.5, largest_s=0.05, context_s=0.01, overlap_s=0.01, snap_s=0.0)
    vocoder = VocoderStage(pipeline.vocoder.session, sample_rate=16_000, hop_size=HOP, plan=plan)
    windows = vocoder.windows(frames)
    assert len(windows) >= 3 and windows[0][0] == 0 and windows[-1][1] == frames.n_frames
    whole = vocoder.decode(frames)
    streamed = np.concatenate(list(vocoder.stream(frames)))
    # The tiny vocoder works frame by frame, so windows with context must reproduce it exactly.
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_crossfade_keeps_level_for_equal_and_unrelated_signals():
    n = 2000
    t = np.arange(n) / 16_000
    a = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    np.testing.assert_allclose(crossfade(a, a), a, atol=1e-6)  # same signal: no bump
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32)
    mixed = crossfade(x, y)
    mid = slice(n // 2 - 100, n // 2 + 100)
    assert np.sqrt(np.mean(mixed[mid] ** 2)) == pytest.approx(1.0, abs=0.2)  # equal power


# --- routing between packs -----------------------------------------------------------------------


def test_chinese_on_the_fast_pack_falls_back_to_the_rich_pack(tmp_path, settings):
    fast = make_tiny_pack(tmp_path / "fast", name="tiny-fast")
    edit_manifest(fast, lambda m: m.update(tier="fast"))
    rich = make_tiny_pack(tmp_path / "rich", name="tiny-rich")
    edit_manifest(rich, lambda m: m.update(languages=["en", "zh"]))
    notices = []
    synth = Synthesizer({"tiny-fast": _pipeline(fast, settings), "tiny-rich": _pipeline(rich, settings)},
                        settings=settings, default_pack="tiny-fast", on_notice=notices.append)
    chunks = list(synth.stream(["Hello there.", "你好。", "Bye now."]))
    packs_used = {c.sentence_id: c.pack for c in chunks if c.last}
    assert packs_used == {0: "tiny-fast", 1: "tiny-rich", 2: "tiny-fast"}
    assert [n.kind for n in notices] == ["fallback"]
    assert "cannot read Chinese" in notices[0].message


def test_chinese_without_a_pack_that_reads_it_is_a_clear_error(tiny, settings):
    synth = Synthesizer({"tiny-style": _pipeline(tiny, settings)}, settings=settings)
    with pytest.raises(UnsupportedAlphabet, match="cannot read Chinese.*reader packs build"):
        list(synth.stream(["你好。"]))


def test_a_machine_too_slow_for_the_rich_pack_downgrades_to_the_fast_one(tmp_path, settings):
    rich = make_tiny_pack(tmp_path / "rich", name="tiny-rich")
    fast = make_tiny_pack(tmp_path / "fast", name="tiny-fast")
    edit_manifest(fast, lambda m: m.update(tier="fast"))
    # 0.2 s of work for ~0.1 s of audio: a real-time factor near 2, over the 0.8 limit.
    slow_rich = _slow_pipeline(rich, settings, delay=0.2)
    notices = []
    synth = Synthesizer({"tiny-rich": slow_rich, "tiny-fast": _pipeline(fast, settings)}, settings=settings,
                        default_pack="tiny-rich", on_notice=notices.append)
    chunks = list(synth.stream([f"Sentence {i}." for i in range(5)]))
    used = [c.pack for c in chunks if c.last]
    assert used[:3] == ["tiny-rich"] * 3 and used[3:] == ["tiny-fast"] * 2
    assert [n.kind for n in notices] == ["downgrade"]
    assert "too slow" in notices[0].message and "tiny-fast" in notices[0].message


def test_run_control_cancels_before_a_run(tiny):
    session = load_session(tiny / "vocoder.onnx", label="vocoder")
    control = RunControl()
    control.cancel()
    from reader.speech.runtime import Cancelled

    with pytest.raises(Cancelled):
        run_session(session, {"features": np.zeros((1, 8, 4), np.float32), "f0": np.zeros((1, 8), np.float32),
                              "energy": np.zeros((1, 8), np.float32), "style": np.zeros((1, 256), np.float32)},
                    label="vocoder", control=control)
