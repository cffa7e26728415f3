"""Speaker pack: resemblyzer's GE2E encoder converted from its PyTorch checkpoint to ONNX without torch."""

from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from reader.speech import features
from reader.speech.build.common import PackWriter, require
from reader.speech.errors import PackBuildError
from reader.speech.packs import Frontend

NAME = "ge2e-speaker"
RECIPE_VERSION = 1
DIST, MODULE = "resemblyzer", "resemblyzer"
CHECKPOINT = "pretrained.pt"

# resemblyzer/hparams.py: 3 LSTM layers of 256 over 40 mel bands, then linear 256 -> 256.
N_MELS = 40
HIDDEN = 256
LAYERS = 3
EMBEDDING = 256
OPSET = 17
NORM_EPS = 1e-12  # guards the L2 division for an all-zero ReLU output (torch would give NaN)

_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                   "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _Storage:
    def __init__(self, key: str, dtype: Any) -> None:
        self.key, self.dtype = key, dtype


class _TensorRef:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


class _Restricted(pickle.Unpickler):
    """Unpickles only what a state dict holds: tensors, storages, ordered dicts. Nothing else runs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *rest: _TensorRef(storage, offset, size, stride)
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, dtype, key, _location, _size = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        return _Storage(str(key), dtype)


def _collect(obj: Any, found: dict[str, _TensorRef], prefix: str = "") -> None:
    if isinstance(obj, _TensorRef):
        found[prefix] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _collect(value, found, f"{prefix}.{key}" if prefix else str(key))


def load_legacy_checkpoint(path: Path) -> dict[str, Any]:
    """A torch.save file of the pre-1.6 format as nested dicts of numpy arrays.

    Layout: magic, protocol, sys_info pickles; the object pickle (storages as persistent ids); the list
    of storage keys; then each storage as a little-endian int64 element count and its raw bytes.
    """
    with open(path, "rb") as handle:
        return _load_legacy(handle)


def _load_legacy(handle: BinaryIO) -> dict[str, Any]:
    if handle.read(2)[:1] == b"PK":
        raise PackBuildError("This checkpoint is in the zip format; the GE2E recipe reads the legacy format only.")
    handle.seek(0)
    _Restricted(handle).load()  # magic number
    _Restricted(handle).load()  # protocol version
    sys_info = _Restricted(handle).load()
    if not sys_info.get("little_endian", True):
        raise PackBuildError("The GE2E checkpoint was saved on a big-endian machine; it cannot be read.")
    obj = _Restricted(handle).load()
    keys = _Restricted(handle).load()
    refs: dict[str, _TensorRef] = {}
    _collect(obj, refs)
    dtypes = {ref.storage.key: ref.storage.dtype for ref in refs.values()}
    buffers = {}
    for key in keys:
        (count,) = struct.unpack("<q", handle.read(8))
        dtype = np.dtype(dtypes.get(key, np.float32))
        data = handle.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise PackBuildError("The GE2E checkpoint is truncated.")
        buffers[key] = np.frombuffer(data, dtype=dtype)

    def materialize(value: Any) -> Any:
        if isinstance(value, _TensorRef):
            flat = buffers[value.storage.key]
            item = flat.itemsize
            view = np.lib.stride_tricks.as_strided(flat[value.offset:], shape=value.size,
                                                   strides=tuple(s * item for s in value.stride))
            return np.array(view)  # copy: the storage may be shared by several tensors
        if isinstance(value, dict):
            return {k: materialize(v) for k, v in value.items()}
        return value

    return materialize(obj)


def _reorder_gates(w: np.ndarray) -> np.ndarray:
    """PyTorch stacks LSTM gates i, f, g, o; ONNX wants i, o, f, c (c is PyTorch's g)."""
    i, f, g, o = np.split(w, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def ge2e_onnx(state: dict[str, np.ndarray]) -> onnx.ModelProto:
    """mels [B, T, 40] -> unit embedding [B, 256]: three LSTM layers, last hidden state, linear, ReLU, L2."""
    nodes, inits = [], []

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    nodes.append(helper.make_node("Transpose", ["mels"], ["x0"], perm=[1, 0, 2]))  # LSTM wants [T, B, F]
    x = "x0"
    for layer in range(LAYERS):
        w = init(f"W{layer}", _reorder_gates(state[f"lstm.weight_ih_l{layer}"])[None])
        r = init(f"R{layer}", _reorder_gates(state[f"lstm.weight_hh_l{layer}"])[None])
        b = init(f"B{layer}", np.concatenate([_reorder_gates(state[f"lstm.bias_ih_l{layer}"]),
                                              _reorder_gates(state[f"lstm.bias_hh_l{layer}"])])[None])
        nodes.append(helper.make_node("LSTM", [x, w, r, b], [f"y{layer}", f"h{layer}"], hidden_size=HIDDEN,
                                      name=f"lstm{layer}"))
        if layer < LAYERS - 1:  # Y is [T, 1, B, H]; the next layer takes [T, B, H]
            nodes.append(helper.make_node("Squeeze", [f"y{layer}", _init_axes(inits, "axis1", 1)], [f"x{layer + 1}"]))
            x = f"x{layer + 1}"
    nodes.append(helper.make_node("Squeeze", [f"h{LAYERS - 1}", _init_axes(inits, "axis0", 0)], ["hidden"]))
    nodes.append(helper.make_node("MatMul", ["hidden", init("linear_wt", state["linear.weight"].T)], ["proj"]))
    nodes.append(helper.make_node("Add", ["proj", init("linear_b", state["linear.bias"])], ["proj_b"]))
    nodes.append(helper.make_node("Relu", ["proj_b"], ["raw"]))
    nodes.append(helper.make_node("ReduceL2", ["raw"], ["norm"], axes=[1], keepdims=1))
    nodes.append(helper.make_node("Max", ["norm", init("eps", np.array([NORM_EPS]))], ["norm_safe"]))
    nodes.append(helper.make_node("Div", ["raw", "norm_safe"], ["embedding"]))
    graph = helper.make_graph(
        nodes, "ge2e_speaker_encoder",
        [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["batch", "frames", N_MELS])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBEDDING])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="reader.speech.build")
    model.ir_version = 8  # onnxruntime reads IR 8 for opset 17 everywhere we run
    onnx.checker.check_model(model)
    return model


def _init_axes(inits: list, name: str, axis: int) -> str:
    if name not in {i.name for i in inits}:
        inits.append(numpy_helper.from_array(np.array([axis], np.int64), name))
    return name


def numpy_reference(state: dict[str, np.ndarray], mels: np.ndarray) -> np.ndarray:
    """The same network as plain numpy in PyTorch's gate order, to check the conversion."""
    def sigmoid(v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-v))

    x = mels.astype(np.float64)
    batch, steps, _ = x.shape
    for layer in range(LAYERS):
        w_ih, w_hh = state[f"lstm.weight_ih_l{layer}"], state[f"lstm.weight_hh_l{layer}"]
        bias = state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"]
        h, c = np.zeros((batch, HIDDEN)), np.zeros((batch, HIDDEN))
        out = np.zeros((batch, steps, HIDDEN))
        for t in range(steps):
            gates = x[:, t] @ w_ih.T + h @ w_hh.T + bias
            i, f, g, o = np.split(gates, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            out[:, t] = h
        x = out
    raw = np.maximum(h @ state["linear.weight"].T + state["linear.bias"], 0)
    return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), NORM_EPS)


def load_state(path: Path) -> dict[str, np.ndarray]:
    checkpoint = load_legacy_checkpoint(path)
    state = checkpoint.get("model_state", checkpoint)
    missing = [k for k in ("lstm.weight_ih_l0", "linear.weight", "linear.bias") if k not in state]
    if missing:
        raise PackBuildError(f"The GE2E checkpoint lacks {', '.join(missing)}.")
    return state


def build(root: Path, *, quantize: bool = True) -> Path:
    del quantize  # 5.7 MB fp32 and ~10 ms a clip: INT8 would save little and cost accuracy
    package = require(DIST, MODULE)
    writer = PackWriter(root, NAME)
    try:
        source = writer.source(package)
        model = ge2e_onnx(load_state(package.file(CHECKPOINT)))
        writer.add_stage(
            "speaker", "speaker.onnx", model.SerializeToString(), quantization="fp32", sources=(source,),
            description="GE2E speaker encoder (resemblyzer): 3-layer LSTM, linear, ReLU, L2 norm.",
            tensor_notes={"mels": f"mel power frames (features.ge2e_windows): {features.GE2E_PARTIAL_FRAMES} "
                                  f"frames of {features.GE2E_HOP / features.SAMPLE_RATE * 1000:.0f} ms",
                          "embedding": "unit-length speaker embedding of each window; average and renormalize"},
            threads=1,  # a small LSTM: one thread ran 2x faster than two (thread hand-offs per step)
        )
        return writer.finish(
            title="GE2E speaker encoder (resemblyzer)",
            tier="speaker",
            languages=(),
            sample_rate=features.SAMPLE_RATE,
            conditioning="none",
            frontend=Frontend("ge2e-mel40", features.SAMPLE_RATE, {
                "n_fft": features.GE2E_N_FFT, "hop_length": features.GE2E_HOP, "n_mels": features.GE2E_N_MELS,
                "window": "hann", "center": True, "log": False, "window_frames": features.GE2E_PARTIAL_FRAMES,
                "partial_rate": features.GE2E_PARTIAL_RATE, "min_coverage": features.GE2E_MIN_COVERAGE,
            }),
            description="Speaker embeddings (256-d) for voice cloning and similarity, converted from "
                        "resemblyzer's pretrained.pt.",
            build={"recipe": f"{NAME}/{RECIPE_VERSION}", "sources": {DIST: package.version}},
        )
    except BaseException:
        writer.abandon()
        raise
