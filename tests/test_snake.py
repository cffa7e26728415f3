"""The Snake edit (reader.speech.build.snake) on a small graph in the exporter's shape: the same numbers as
x + sin(alpha x)^2 / alpha, no Sin left in a Snake, and a Sin of another shape left alone."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from reader.speech.build import snake
from reader.speech.errors import PackBuildError

CHANNELS = 6


def _graph(alpha: np.ndarray) -> onnx.ModelProto:
    """x -> Snake(alpha) -> y, and sin(x) -> z (a Sin not followed by a square: the source's kind)."""
    inits = [numpy_helper.from_array(alpha.reshape(1, CHANNELS, 1), "alpha"),
             numpy_helper.from_array((1.0 / alpha).reshape(1, CHANNELS, 1), "inv_alpha"),
             numpy_helper.from_array(np.array(2.0, np.float32), "two")]
    nodes = [helper.make_node("Mul", ["alpha", "x"], ["ax"], name="snake/Mul"),
             helper.make_node("Sin", ["ax"], ["s"], name="snake/Sin"),
             helper.make_node("Pow", ["s", "two"], ["s2"], name="snake/Pow"),
             helper.make_node("Mul", ["inv_alpha", "s2"], ["t"], name="snake/Mul_1"),
             helper.make_node("Add", ["x", "t"], ["y"], name="snake/Add"),
             helper.make_node("Sin", ["x"], ["z"], name="source/Sin")]
    graph = helper.make_graph(nodes, "snake", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, CHANNELS, None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, CHANNELS, None]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, CHANNELS, None])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})


def test_snake_polynomial_gives_the_same_activation():
    rng = np.random.default_rng(7)
    alpha = rng.uniform(0.2, 3.0, CHANNELS).astype(np.float32)
    x = (rng.standard_normal((1, CHANNELS, 4000)) * 4).astype(np.float32)
    model = _graph(alpha)
    before = _run(model, x)
    assert snake.snake_as_polynomial(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Sin") == 1 and "Pow" not in ops and "Round" in ops  # the source's Sin stays
    after = _run(model, x)
    exact = x.astype(np.float64) + np.sin(alpha.reshape(1, -1, 1) * x.astype(np.float64)) ** 2 / alpha.reshape(1, -1, 1)
    assert np.abs(before[0] - exact).max() < 1e-5
    # sin^2 within MAX_ERROR, divided by the smallest alpha, plus float32 rounding of x + ...
    assert np.abs(after[0] - exact).max() < snake.MAX_ERROR / alpha.min() + 1e-5
    assert np.array_equal(after[1], before[1])


def test_snake_polynomial_error_is_within_its_bound():
    assert snake.polynomial_error() < snake.MAX_ERROR
    assert snake.polynomial_error() > 1e-8  # it is an approximation, and the check measures it


def test_a_graph_without_snake_is_refused():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, CHANNELS, None])
    graph = helper.make_graph([helper.make_node("Sin", ["x"], ["y"])], "plain", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, CHANNELS, None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(PackBuildError, match="no Snake"):
        snake.snake_as_polynomial(model)
    assert [n.op_type for n in model.graph.node] == ["Sin"]
