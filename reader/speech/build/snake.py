"""Graph edit for speed: the Snake activation's sin(alpha * x)^2 as a polynomial.

Kokoro's generator (iSTFTNet) applies Snake, x + sin(alpha * x)^2 / alpha with alpha per channel, 48 times
at audio rate; exported, each is Mul(alpha, x) -> Sin -> Pow(2) -> Mul(1 / alpha) -> Add(x). onnxruntime's
Sin is a single Eigen loop (it was 18% of the decoder's time, with its Pow another 2.5%). Here the first
three are replaced by ordinary, multithreaded arithmetic on the same input:

    q = x * (alpha / pi),  f = q - round(q)  (in [-1/2, 1/2]: sin^2 has period pi),  u = f^2,
    sin(alpha * x)^2 = sin(pi f)^2 = u * P(u)

with P of degree 4, fitted by least squares on [0, 1/4] (COEFFICIENTS; the largest error in float32 is
1.5e-6, far below the int8 rounding of the next convolution's input). The output keeps the Pow's name, so
the Mul by 1 / alpha and the Add after it are untouched.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from reader.speech.build.dequant import _maps, prune
from reader.speech.errors import PackBuildError

# sin(pi f)^2 = u * (c1 + c2 u + c3 u^2 + c4 u^3 + c5 u^4), u = f^2, |f| <= 1/2 (least squares on 200001
# points; their Taylor coefficients are pi^2, -pi^4/3, 2 pi^6/45, -pi^8/315, 2 pi^10/14175).
COEFFICIENTS = (9.86954131, -32.46588586, 42.65361466, -29.48005765, 10.67784814)
MAX_ERROR = 2e-6  # checked at build time against numpy's sin, in float32


def polynomial_error() -> float:
    """The largest error of the float32 polynomial, evaluated as the graph does, over one period."""
    x = np.linspace(-4.0, 4.0, 400_001, dtype=np.float32)
    q = x / np.float32(math.pi)
    f = q - np.round(q)
    u = f * f
    p = np.float32(COEFFICIENTS[-1]) * u
    for c in COEFFICIENTS[-2:0:-1]:
        p = (p + np.float32(c)) * u
    p = (p + np.float32(COEFFICIENTS[0])) * u
    return float(np.max(np.abs(p.astype(np.float64) - np.sin(x.astype(np.float64)) ** 2)))


def _scalar_exponent(inits: dict, name: str) -> float | None:
    if name not in inits:
        return None
    value = numpy_helper.to_array(inits[name])
    return float(value) if value.size == 1 else None


def snake_as_polynomial(model: onnx.ModelProto) -> int:
    """Replace each Mul(alpha, x) -> Sin -> Pow(2) with the polynomial above; returns how many. A Sin not
    in that shape (the harmonic source's) is left alone."""
    error = polynomial_error()
    if error > MAX_ERROR:
        raise PackBuildError(f"The Snake polynomial is {error:.2e} from sin^2, more than {MAX_ERROR:.0e}.")
    graph = model.graph
    producer, consumers, inits = _maps(graph)
    coefficient_names = []
    for k, c in enumerate(COEFFICIENTS):
        name = f"snake_poly_c{k + 1}"
        graph.initializer.append(numpy_helper.from_array(np.array(c, dtype=np.float32), name))
        coefficient_names.append(name)
    replace: dict[str, list[onnx.NodeProto]] = {}  # the Pow's output -> the nodes computed in its place
    dropped: set[str] = set()  # outputs of the nodes removed
    for sin in list(graph.node):
        if sin.op_type != "Sin":
            continue
        scale = producer.get(sin.input[0])
        users = consumers.get(sin.output[0], [])
        if scale is None or scale.op_type != "Mul" or len(users) != 1 or users[0].op_type != "Pow":
            continue
        power = users[0]
        if _scalar_exponent(inits, power.input[1]) != 2.0 or len(consumers.get(scale.output[0], [])) != 1:
            continue
        alphas = [i for i in scale.input if i in inits]
        if len(alphas) != 1:
            continue
        alpha = numpy_helper.to_array(inits[alphas[0]]).astype(np.float32)
        x = scale.input[1] if scale.input[0] == alphas[0] else scale.input[0]
        tag = f"{power.name or power.output[0]}/snake_poly"
        over_pi = f"{tag}/alpha_over_pi"
        graph.initializer.append(numpy_helper.from_array((alpha / np.float32(math.pi)).astype(np.float32),
                                                         over_pi))
        nodes = [helper.make_node("Mul", [x, over_pi], [f"{tag}/q"], name=f"{tag}/q"),
                 helper.make_node("Round", [f"{tag}/q"], [f"{tag}/k"], name=f"{tag}/k"),
                 helper.make_node("Sub", [f"{tag}/q", f"{tag}/k"], [f"{tag}/f"], name=f"{tag}/f"),
                 helper.make_node("Mul", [f"{tag}/f", f"{tag}/f"], [f"{tag}/u"], name=f"{tag}/u")]
        acc = f"{tag}/u"
        h = f"{tag}/h5"
        nodes.append(helper.make_node("Mul", [acc, coefficient_names[-1]], [h], name=h))
        for k in range(len(COEFFICIENTS) - 2, -1, -1):
            added = f"{tag}/a{k + 1}"
            nodes.append(helper.make_node("Add", [h, coefficient_names[k]], [added], name=added))
            h = f"{tag}/h{k + 1}" if k else power.output[0]
            nodes.append(helper.make_node("Mul", [added, acc], [h], name=h if k else f"{tag}/out"))
        replace[power.output[0]] = nodes
        dropped.update((scale.output[0], sin.output[0]))
    if not replace:
        raise PackBuildError("The decoder has no Snake activation (Mul -> Sin -> Pow 2) to replace.")
    kept: list[onnx.NodeProto] = []
    for n in graph.node:
        if n.output and n.output[0] in dropped:
            continue
        kept.extend(replace.get(n.output[0], [n]) if n.output else [n])
    del graph.node[:]
    graph.node.extend(kept)
    prune(model)
    return len(replace)
