"""Graph edits for speed: a dynamically quantized convolution (ConvInteger, with its activation quantized
at run time) turned back into a float Conv on the same, dequantized weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from reader.speech.errors import PackBuildError

_FLOAT = onnx.TensorProto.FLOAT


@dataclass(frozen=True)
class Replaced:
    """One ConvInteger made float: its name and its weight count."""

    name: str
    weights: int


def _maps(graph: onnx.GraphProto):
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = {i.name: i for i in graph.initializer}
    return producer, consumers, inits


def _sole(consumers: dict, name: str, op: str, where: str) -> onnx.NodeProto:
    users = consumers.get(name, [])
    if len(users) != 1 or users[0].op_type != op:
        raise PackBuildError(f"{where}: expected one {op} after it, found {[u.op_type for u in users]}.")
    return users[0]


def _array(inits: dict, name: str, where: str) -> np.ndarray:
    if name not in inits:
        raise PackBuildError(f"{where}: {name} is not a constant.")
    return numpy_helper.to_array(inits[name])


def _per_channel(values: np.ndarray, rank: int) -> np.ndarray:
    """A scale or zero point (scalar or one per output channel) shaped to broadcast over a weight."""
    return values.reshape((-1,) + (1,) * (rank - 1)) if values.ndim == 1 else values


def float_convs(model: onnx.ModelProto, *, select: Callable[[str, int], bool] = lambda name, weights: True,
                weight_type: str = "float32") -> list[Replaced]:
    """Replace each selected ConvInteger, as onnxruntime's quantize_dynamic writes it,

        x -> DynamicQuantizeLinear -> ConvInteger(w_q, w_zp) [+ round(bias / scale)] -> Cast -> Mul(x_scale * w_scale),

    by Conv(x, (w_q - w_zp) * w_scale, bias): the same weights, the activation no longer rounded to 8 bits.
    weight_type "float16" stores the weights in half precision behind a Cast (onnxruntime folds it at
    load, so memory is the same as float32; the file is smaller). Nodes left unused are removed."""
    if weight_type not in ("float32", "float16"):
        raise PackBuildError(f"Unknown weight type {weight_type!r}.")
    graph = model.graph
    producer, consumers, inits = _maps(graph)
    replaced: list[Replaced] = []
    new_nodes: dict[str, list[onnx.NodeProto]] = {}  # ConvInteger name -> its replacement nodes
    dropped: set[str] = set()
    for node in graph.node:
        if node.op_type != "ConvInteger":
            continue
        where = f"ConvInteger {node.name}"
        weights = _array(inits, node.input[1], where)
        if not select(node.name, int(weights.size)):
            continue
        quantize = producer.get(node.input[0])
        if quantize is None or quantize.op_type != "DynamicQuantizeLinear":
            raise PackBuildError(f"{where}: its input is not quantized at run time.")
        if len(node.input) > 2 and node.input[2] and node.input[2] != quantize.output[2]:
            raise PackBuildError(f"{where}: its input zero point is not the quantizer's.")
        w_zp = _array(inits, node.input[3], where) if len(node.input) > 3 and node.input[3] else np.zeros((), np.int32)
        after = consumers.get(node.output[0], [])
        bias = None
        chain = []
        if len(after) == 1 and after[0].op_type == "Add":
            add = after[0]
            chain.append(add)
            # The bias was quantized at run time too: Reshape(Cast(Floor(Div(bias, x_scale * w_scale)))).
            q_bias = next(i for i in add.input if i != node.output[0])
            reshape = producer.get(q_bias)
            cast = producer.get(reshape.input[0]) if reshape is not None else None
            floor = producer.get(cast.input[0]) if cast is not None else None
            div = producer.get(floor.input[0]) if floor is not None else None
            if not (reshape and cast and floor and div) or [n.op_type for n in (reshape, cast, floor, div)] != [
                    "Reshape", "Cast", "Floor", "Div"]:
                raise PackBuildError(f"{where}: its bias is not the one quantize_dynamic writes.")
            bias = div.input[0]
            _array(inits, bias, where)
            to_float = _sole(consumers, add.output[0], "Cast", where)
        else:
            to_float = _sole(consumers, node.output[0], "Cast", where)
        chain.append(to_float)
        rescale = _sole(consumers, to_float.output[0], "Mul", where)
        chain.append(rescale)
        scale_name = next(i for i in rescale.input if i != to_float.output[0])
        scale_node = producer.get(scale_name)
        if scale_node is None or scale_node.op_type != "Mul" or quantize.output[1] not in scale_node.input:
            raise PackBuildError(f"{where}: its output scale is not x_scale * w_scale.")
        w_scale = _array(inits, next(i for i in scale_node.input if i != quantize.output[1]), where)

        real = (weights.astype(np.int32) - _per_channel(w_zp.astype(np.int32), weights.ndim)).astype(np.float32)
        real *= _per_channel(w_scale.astype(np.float32), weights.ndim)
        w_name = f"{node.name}.float_weight"
        nodes = []
        if weight_type == "float16":
            graph.initializer.append(numpy_helper.from_array(real.astype(np.float16), f"{w_name}.f16"))
            nodes.append(helper.make_node("Cast", [f"{w_name}.f16"], [w_name], to=_FLOAT, name=f"{w_name}.cast"))
        else:
            graph.initializer.append(numpy_helper.from_array(real, w_name))
        conv_inputs = [quantize.input[0], w_name] + ([bias] if bias else [])
        conv = helper.make_node("Conv", conv_inputs, [rescale.output[0]], name=node.name.replace("_quant", "") + "_float")
        conv.attribute.extend(node.attribute)
        nodes.append(conv)
        new_nodes[node.name] = nodes
        dropped.update(n.name for n in chain)
        replaced.append(Replaced(node.name, int(weights.size)))
    if not replaced:
        return replaced
    kept = []
    for node in graph.node:
        if node.name in new_nodes:
            kept.extend(new_nodes[node.name])
        elif node.name not in dropped:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    prune(model)
    return replaced


def prune(model: onnx.ModelProto) -> None:
    """Drop nodes none of whose outputs is used, and initializers no node reads."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        kept = [n for n in graph.node if any(o in used for o in n.output if o)]
        if len(kept) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(kept)
    used = {i for n in graph.node for i in n.input}
    inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    values = [v for v in graph.value_info if v.name in used or v.name in outputs]
    del graph.value_info[:]
    graph.value_info.extend(values)


def convs_as_2d(model: onnx.ModelProto, *, select: Callable[[onnx.NodeProto], bool] = lambda node: True) -> int:
    """Run each selected 1-D float Conv with constant weights as a 2-D one of height 1 (Unsqueeze, Conv,
    Squeeze): onnxruntime's blocked (NCHWc) convolution kernels take only 2-D convolutions."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    out = []
    count = 0
    axes = "convs_as_2d.axes"
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "Conv" or node.input[1] not in inits or len(inits[node.input[1]].dims) != 3 \
                or not select(node):
            out.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(w[:, :, None, :], node.input[1]))
        k = attrs.get("kernel_shape", [w.shape[-1]])
        pads = attrs.get("pads", [0, 0])
        new = dict(attrs, kernel_shape=[1, *k], pads=[0, pads[0], 0, pads[1]],
                   strides=[1, *attrs.get("strides", [1])], dilations=[1, *attrs.get("dilations", [1])])
        if new.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"):
            new.pop("auto_pad", None)
        x4, y4 = f"{node.name}.in4d", f"{node.name}.out4d"
        out.append(helper.make_node("Unsqueeze", [node.input[0], axes], [x4], name=f"{node.name}.unsqueeze"))
        out.append(helper.make_node("Conv", [x4, *node.input[1:]], [y4], name=node.name, **new))
        out.append(helper.make_node("Squeeze", [y4, axes], [node.output[0]], name=f"{node.name}.squeeze"))
        count += 1
    if count:
        graph.initializer.append(numpy_helper.from_array(np.array([2], np.int64), axes))
        del graph.node[:]
        graph.node.extend(out)
    return count



def _conv_integer_chain(node, producer, consumers, inits):
    """The nodes around a ConvInteger as quantize_dynamic writes them: (quantizer, int32 bias Add or None,
    Cast, rescale Mul)."""
    where = f"ConvInteger {node.name}"
    quantize = producer.get(node.input[0])
    if quantize is None or quantize.op_type != "DynamicQuantizeLinear":
        raise PackBuildError(f"{where}: its input is not quantized at run time.")
    if len(node.input) < 4 or node.input[2] != quantize.output[2] or node.input[3] not in inits:
        raise PackBuildError(f"{where}: its zero points are not the quantizer's and a constant.")
    after = consumers.get(node.output[0], [])
    add = after[0] if len(after) == 1 and after[0].op_type == "Add" else None
    to_float = _sole(consumers, (add or node).output[0], "Cast", where)
    rescale = _sole(consumers, to_float.output[0], "Mul", where)
    return quantize, add, to_float, rescale


def convs_as_matmul(model: onnx.ModelProto, *, select: Callable[[str, int], bool] = lambda name, weights: True
                    ) -> list[Replaced]:
    """Compute each selected 1-D ConvInteger as one integer matrix product over the unfolded input:

        y[t, o] = sum over j, i of x_q[t*stride + j*dilation - pad, i] * w[o, i, j]

    x_q is transposed to [1, T, C] and padded with its zero point (ConvInteger's own padding), its rows
    gathered K at a time into [1, T_out, K*C], and the weights stored as int8 [K*C, C_out] (w - 128 with
    zero point - 128: the same integers). onnxruntime fuses the product with its rescale and bias into
    MatMulIntegerToFloat, u8 x s8 (VNNI) with the weights packed once at load, where its ConvInteger
    unfolds and multiplies u8 x u8 on every run. The integer products are the same; the bias is added in
    float after the rescale instead of rounded down to the accumulator's grid first (one step of
    x_scale * w_scale at most, ~1e-4 here)."""
    graph = model.graph
    producer, consumers, inits = _maps(graph)
    replaced: list[Replaced] = []
    new_nodes: dict[str, list[onnx.NodeProto]] = {}
    added: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, name))
        return name

    for node in graph.node:
        if node.op_type != "ConvInteger":
            continue
        weights = numpy_helper.to_array(inits[node.input[1]]) if node.input[1] in inits else None
        if weights is None or weights.ndim != 3 or not select(node.name, int(weights.size)):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("group", 1) != 1 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        quantize, add, to_float, rescale = _conv_integer_chain(node, producer, consumers, inits)
        w_zp = numpy_helper.to_array(inits[node.input[3]])
        if weights.dtype != np.uint8 or w_zp.ndim != 0:
            continue
        bias = None
        if add is not None:  # Reshape(Cast(Floor(Div(bias, scale)))): the float bias is the Div's input
            chain = producer[next(i for i in add.input if i != node.output[0])]
            for _ in range(3):
                chain = producer[chain.input[0]]
            if chain.op_type != "Div" or chain.input[0] not in inits:
                raise PackBuildError(f"ConvInteger {node.name}: its bias is not the one quantize_dynamic writes.")
            bias = chain.input[0]
        c_out, c_in, k = weights.shape
        dilation = int(attrs.get("dilations", [1])[0])
        stride = int(attrs.get("strides", [1])[0])
        pad0, pad1 = (int(p) for p in attrs.get("pads", [0, 0]))
        p = node.name.replace("_quant", "") + "_matmul"
        b = (weights.astype(np.int16) - 128).astype(np.int8).transpose(2, 1, 0).reshape(k * c_in, c_out)
        nodes = [helper.make_node("Transpose", [node.input[0]], [f"{p}.xt"], perm=[0, 2, 1], name=f"{p}.transpose_in")]
        x = f"{p}.xt"
        if pad0 or pad1:
            nodes.append(helper.make_node("Pad", [x, const(f"{p}.pads", np.array([0, pad0, 0, 0, pad1, 0], np.int64)),
                                                  quantize.output[2]], [f"{p}.xp"], name=f"{p}.pad"))
            x = f"{p}.xp"
        if k == 1 and stride == 1:
            cols = x
        else:  # rows t*stride + j*dilation for j < k, gathered at once: one copy of the unfolded input
            span = dilation * (k - 1)
            nodes += [
                helper.make_node("Shape", [x], [f"{p}.len1"], start=1, end=2, name=f"{p}.shape"),
                helper.make_node("Sub", [f"{p}.len1", const(f"{p}.span", np.array([span], np.int64))], [f"{p}.n1"],
                                 name=f"{p}.sub"),
                helper.make_node("Squeeze", [f"{p}.n1"], [f"{p}.n"], name=f"{p}.squeeze"),
                helper.make_node("Range", [const(f"{p}.zero", np.array(0, np.int64)), f"{p}.n",
                                           const(f"{p}.stride", np.array(stride, np.int64))], [f"{p}.t"],
                                 name=f"{p}.range"),
                helper.make_node("Unsqueeze", [f"{p}.t", const(f"{p}.axis", np.array([1], np.int64))], [f"{p}.t2"],
                                 name=f"{p}.unsqueeze"),
                helper.make_node("Add", [f"{p}.t2", const(f"{p}.taps", (np.arange(k, dtype=np.int64) * dilation)
                                                          .reshape(1, k))], [f"{p}.rows"], name=f"{p}.rows"),
                helper.make_node("Gather", [x, f"{p}.rows"], [f"{p}.g"], axis=1, name=f"{p}.gather"),
                helper.make_node("Reshape", [f"{p}.g", const(f"{p}.cols_shape", np.array([1, -1, k * c_in], np.int64))],
                                 [f"{p}.cols"], name=f"{p}.unfold"),
            ]
            cols = f"{p}.cols"
        nodes.append(helper.make_node(
            "MatMulInteger", [cols, const(f"{p}.weight", np.ascontiguousarray(b)), quantize.output[2],
                              const(f"{p}.weight_zero_point", np.array(int(w_zp) - 128, np.int8))],
            [f"{p}.acc"], name=f"{p}.matmul"))
        nodes.append(helper.make_node("Cast", [f"{p}.acc"], [f"{p}.float"], to=_FLOAT, name=f"{p}.cast"))
        scale = next(i for i in rescale.input if i != to_float.output[0])
        y = f"{p}.yt"
        nodes.append(helper.make_node("Mul", [f"{p}.float", scale], [y if bias is None else f"{p}.scaled"],
                                      name=f"{p}.rescale"))
        if bias is not None:
            nodes.append(helper.make_node("Add", [f"{p}.scaled", bias], [y], name=f"{p}.bias"))
        nodes.append(helper.make_node("Transpose", [y], [rescale.output[0]], perm=[0, 2, 1],
                                      name=f"{p}.transpose_out"))
        # In place of the rescale: everything the new nodes read (the scale too) comes before it.
        new_nodes.update({n.name: [] for n in (node, add, to_float) if n is not None})
        new_nodes[rescale.name] = nodes
        replaced.append(Replaced(node.name, int(weights.size)))
    if not replaced:
        return replaced
    kept = []
    for node in graph.node:
        kept.extend(new_nodes.get(node.name, [node]))
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(added)
    prune(model)
    return replaced
