"""Small ONNX graph edits for splitting models into stages: extract, rename tensors, reshape outputs."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.utils import Extractor

from reader.speech.errors import PackBuildError


def extract(model: onnx.ModelProto, inputs: Sequence[str], outputs: Sequence[str]) -> onnx.ModelProto:
    """The subgraph computing `outputs` from `inputs` (onnx.utils.Extractor), opsets and metadata kept."""
    try:
        part = Extractor(model).extract_model(list(inputs), list(outputs))
    except Exception as exc:
        raise PackBuildError(f"Cannot cut the model at {list(inputs)} -> {list(outputs)}: {exc}.") from exc
    del part.opset_import[:]
    part.opset_import.extend(model.opset_import)
    part.ir_version = model.ir_version
    return part


def tensor_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {o.name for o in graph.output} | {i.name for i in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def rename(model: onnx.ModelProto, old: str, new: str) -> None:
    """Rename a tensor everywhere in the main graph (our cut points never cross into subgraphs)."""
    graph = model.graph
    if old == new:
        return
    if new in tensor_names(graph):
        raise PackBuildError(f"Cannot rename {old} to {new}: the graph already has a tensor {new}.")
    for node in graph.node:
        node.input[:] = [new if x == old else x for x in node.input]
        node.output[:] = [new if x == old else x for x in node.output]
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


def set_shape(model: onnx.ModelProto, name: str, dims: Sequence[int | str]) -> None:
    """Give a graph input/output a clean shape (named dynamic dims instead of unk__123)."""
    for value in list(model.graph.input) + list(model.graph.output):
        if value.name == name:
            shape = value.type.tensor_type.shape
            del shape.dim[:]
            for d in dims:
                dim = shape.dim.add()
                if isinstance(d, int):
                    dim.dim_value = d
                else:
                    dim.dim_param = d
            return
    raise PackBuildError(f"{name} is not an input or output of the graph.")


def _axes_initializer(model: onnx.ModelProto, name: str, axes: Sequence[int]) -> str:
    model.graph.initializer.append(numpy_helper.from_array(np.array(list(axes), np.int64), name))
    return name


def squeeze_output(model: onnx.ModelProto, old: str, new: str, axes: Sequence[int],
                   dims: Sequence[int | str]) -> None:
    """Replace graph output `old` by `new` = Squeeze(old, axes)."""
    _reshape_output(model, "Squeeze", old, new, axes, dims)


def unsqueeze_output(model: onnx.ModelProto, old: str, new: str, axes: Sequence[int],
                     dims: Sequence[int | str]) -> None:
    _reshape_output(model, "Unsqueeze", old, new, axes, dims)


def _reshape_output(model: onnx.ModelProto, op: str, old: str, new: str, axes: Sequence[int],
                    dims: Sequence[int | str]) -> None:
    graph = model.graph
    outputs = [o for o in graph.output if o.name == old]
    if not outputs:
        raise PackBuildError(f"{old} is not an output of the graph.")
    elem_type = outputs[0].type.tensor_type.elem_type
    axes_name = _axes_initializer(model, f"{new}_{op.lower()}_axes", axes)
    graph.node.append(helper.make_node(op, [old, axes_name], [new], name=f"{new}_{op}"))
    index = list(graph.output).index(outputs[0])
    graph.output.remove(outputs[0])
    graph.output.insert(index, helper.make_tensor_value_info(new, elem_type, list(dims)))


def first_node(model: onnx.ModelProto, predicate) -> onnx.NodeProto:
    for node in model.graph.node:
        if predicate(node):
            return node
    raise PackBuildError("The model's graph is not the one this recipe knows (a cut point is missing).")


def finish(model: onnx.ModelProto, producer: str) -> bytes:
    """Check and serialize an edited model."""
    model.producer_name = producer
    onnx.checker.check_model(model)
    return model.SerializeToString()
