"""Tensor operations on hand-made graphs: the lowerings that index a permuted (NCHW) operand
where it is, checked against NumPy, and arithmetic with a constant operand node (a traced
layer's weight) folding into the convolution before it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler import Graph
from frontends.layers.base import LayerContext, WeightSource
from frontends.operations import OPERATIONS, TF_FUNCTIONS
from unit_kit import assert_equivalent, conv2d, onnx_ops, rand, run_graph, transformed

CONV = {"strides": (1, 1), "dilations": (1, 1), "padding": "valid", "group": 1}
KERNEL = rand((3, 1, 4, 3), 1)
BIAS = rand((3,), 2)


def _tile_reference(y: np.ndarray) -> np.ndarray:
    return np.tile(y, (1, 2, 1, 3))


#: op -> (attrs, the same op in NumPy on the convolution's NHWC output)
CASES = {
    "Slice": (
        {"slices": ((None, None, None), (None, None, None), (1, -1, 2), (None, None, -1))},
        lambda y: y[:, :, 1:-1:2, ::-1],
    ),
    "Squeeze": ({"axes": (1,)}, lambda y: y[:, 0]),
    "Unsqueeze": ({"axes": (2, 5)}, lambda y: y[:, :, None, :, :, None]),
    "ReduceMean": ({"axes": (2, 3), "keepdims": False}, lambda y: y.mean(axis=(2, 3))),
    "ReduceMax": ({"axes": (3,), "keepdims": True}, lambda y: y.max(axis=3, keepdims=True)),
    "Tile": ({"repeats": (1, 2, 1, 3)}, _tile_reference),
    "Repeat": ({"repeats": 2, "axis": 3}, lambda y: np.repeat(y, 2, axis=3)),
    "PadAxes": (
        {"pads": ((0, 0), (0, 0), (0, 2), (1, 1)), "mode": "constant", "value": 0.5},
        lambda y: np.pad(y, ((0, 0), (0, 0), (0, 2), (1, 1)), constant_values=0.5),
    ),
}


@pytest.mark.parametrize("op", list(CASES))
def test_lowering_follows_the_nchw_layout(op):
    """Conv (3×1 kernel on a 3-row image: height 1 left) then the op: no Transpose but at the edges."""
    attrs, reference = CASES[op]
    g = Graph()
    x = g.add_input("x", (None, 3, 6, 4))
    c = g.add("Conv", [x], attrs=CONV, params={"kernel": KERNEL, "bias": BIAS})
    g.set_outputs([g.add(op, [c], attrs=attrs)])
    feed = np.random.default_rng(0).normal(size=(2, 3, 6, 4)).astype(np.float32)
    want = reference(conv2d(feed, KERNEL, BIAS))
    got = run_graph(g, {"x": feed})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert onnx_ops(compiler.to_onnx(g)).count("Transpose") <= 2  # into the NCHW conv, out to Keras order


def test_weight_operand_becomes_an_affine_that_folds_into_the_conv():
    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 5, 6, 4))
        c = g.add("Conv", [x], attrs={**CONV, "padding": "same"}, params={"kernel": rand((3, 3, 4, 4), 1)})
        w = g.add("Constant", [], params={"value": rand((4,), 3)})
        ctx = LayerContext(g, "Multiply", "scale", {}, ("scale",), WeightSource(None), args=[c, w])
        g.set_outputs([OPERATIONS["Multiply"](ctx, [c, w])])
        return g

    reference, graph, _ = transformed(build, "remove_dead", "fold_affine")
    assert reference.nodes("Affine") and not graph.nodes("Affine") and not graph.nodes("Mul")
    assert_equivalent(reference, graph, {"x": np.random.default_rng(1).normal(size=(2, 5, 6, 4)).astype(np.float32)})


def _readme_lists() -> tuple[str, str]:
    """The README's lists of supported operations, as the registries give them."""
    ops = sorted(n for n in OPERATIONS if n not in ("TFOpLambda", "SlicingOpLambda"))
    functions = sorted(n for n in TF_FUNCTIONS if not n.startswith("compat.v1."))
    return (
        f"Keras 3 operations ({len(ops)}): " + ", ".join(f"`{n}`" for n in ops) + ".",
        f"tf.keras TensorFlow functions ({len(functions)}, each also under `compat.v1.`): "
        + ", ".join(f"`{n}`" for n in functions)
        + ".",
    )


def test_readme_lists_the_registered_operations():
    """The README's Tensor operations section names exactly what the registries convert."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for line in _readme_lists():
        assert line in text, f"README.md needs, in its Tensor operations section:\n{line}"


def test_arithmetic_on_weights_alone_folds_to_one_constant():
    """What a traced layer computes from its weights only (w / 2 + 1, rsqrt(v)) costs nothing at run time."""

    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 3, 4))
        w = g.add("Constant", [], params={"value": rand((3, 4), 5)})
        v = g.add("Constant", [], params={"value": rand((4,), 6) ** 2 + 1.0})
        ctx = LayerContext(g, "Divide", "half", {}, ("half",), WeightSource(None), args=[w, v])
        ratio = OPERATIONS["Divide"](ctx, [w, v])
        ctx = LayerContext(g, "Add", "shifted", {}, ("shifted",), WeightSource(None), args=[x, ratio])
        g.set_outputs([OPERATIONS["Add"](ctx, [x, ratio])])
        return g

    reference, graph, _ = transformed(build, "fold_constants", "remove_dead")
    assert "Div" in reference.op_counts() and "Div" not in graph.op_counts()
    assert_equivalent(reference, graph, {"x": np.random.default_rng(2).normal(size=(2, 3, 4)).astype(np.float32)})
