"""passes.fuse_bias_gelu and passes.fuse_skip_layernorm on hand-made graphs, and their lowering
for the portable targets and for onnxruntime's contrib kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest

import compiler
from compiler import Graph
from unit_kit import assert_equivalent, onnx_ops, rand, run_model, transformed

ERF = np.vectorize(math.erf)


def gelu(x, approximate):
    x = x.astype(np.float64)
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + ERF(x / np.sqrt(2)))


def layer_norm(x, gamma, beta, eps):
    x = x.astype(np.float64)
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + eps) * gamma + beta


def mlp(shape, approximate, *, bias=True, gelu_op="Gelu"):
    """x → Dense(+b) → gelu → Dense(+b2), residual x + that, LayerNorm: a transformer's MLP half."""
    c, h = shape[-1], 12
    k1, b1, k2, b2 = rand((c, h), 1, 0.4), rand((h,), 2), rand((h, c), 3, 0.4), rand((c,), 4)
    gamma, beta = rand((c,), 5, 0.3, 1.0), rand((c,), 6, 0.3)

    def build():
        g = Graph()
        x = g.add_input("x", (None, *shape))
        d1 = g.add("Dense", [x], name="fc1", params={"kernel": k1, **({"bias": b1} if bias else {})})
        act = g.add(gelu_op, [d1], name="act", attrs={"approximate": approximate})
        d2 = g.add("Dense", [act], name="fc2", params={"kernel": k2, "bias": b2})
        s = g.add("Add", [x, d2], name="join")
        g.set_outputs(
            [
                g.add(
                    "LayerNorm",
                    [s],
                    name="ln",
                    attrs={"axis": len(shape), "epsilon": 1e-3},
                    params={"gamma": gamma, "beta": beta},
                )
            ],
            ["y"],
        )
        return g

    def numpy(x):
        hidden = gelu(x @ k1 + (b1 if bias else 0), approximate)
        return layer_norm(x + hidden @ k2 + b2, gamma, beta, 1e-3).astype(np.float32)

    return build, numpy


@pytest.mark.parametrize("approximate", [False, True], ids=["erf", "tanh"])
@pytest.mark.parametrize("shape", [(5,), (4, 5)], ids=["vectors", "sequences"])
def test_both_fusions_on_a_transformer_mlp(shape, approximate):
    build, numpy = mlp(shape, approximate)
    ref, g, reports = transformed(build, "fuse_bias_gelu", "fuse_skip_layernorm")
    assert [r.summary for r in reports] == ["fused 1 Dense bias+Gelu", "fused 1 Add+LayerNorm"]
    assert g.op_counts() == {"Input": 1, "Dense": 2, "BiasGelu": 1, "SkipLayerNorm": 1}
    assert all("bias" not in d.params for d in g.nodes("Dense"))
    (sln,) = g.nodes("SkipLayerNorm")
    assert set(sln.params) == {"gamma", "beta", "bias"}
    assert sln.inputs[0].op == "Dense"  # the operand that gave up its bias
    x = rand((3, *shape), 7)
    assert_equivalent(ref, g, {"x": x}, [numpy(x)])


@pytest.mark.parametrize("approximate", [False, True], ids=["erf", "tanh"])
@pytest.mark.parametrize("opset", [17, 20])
def test_ort_target_lowers_them_to_contrib_kernels(approximate, opset):
    build, numpy = mlp((4, 5), approximate)
    _, g, _ = transformed(build, "fuse_bias_gelu", "fuse_skip_layernorm")
    x = rand((2, 4, 5), 8)
    ort_model = compiler.to_onnx(g, opset=opset, target="ort")
    ops = onnx_ops(ort_model)
    assert ops.count("FastGelu" if approximate else "BiasGelu") == 1
    assert ops.count("SkipLayerNormalization") == 1 and "Erf" not in ops and "Tanh" not in ops
    plain = onnx_ops(compiler.to_onnx(g, opset=opset, target="onnx"))
    assert "SkipLayerNormalization" not in plain and plain.count("LayerNormalization") == 1
    assert plain.count("Gelu") == (1 if opset >= 20 else 0)
    for level in ("none", "all"):
        np.testing.assert_allclose(run_model(ort_model, {"x": x}, level)[0], numpy(x), rtol=1e-4, atol=1e-4)


def test_declines_what_it_may_not_fuse():
    """A Dense without a bias, a gelu on a Dense read twice, an Add read twice, a normalization
    over another axis and a broadcasting Add stay as they are."""
    k, gamma, beta = rand((5, 5), 9), rand((5,), 10), rand((5,), 11)
    ln = {"gamma": gamma, "beta": beta}

    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 5))
        plain = g.add("Dense", [x], name="plain", params={"kernel": k})
        act = g.add("Gelu", [plain], attrs={"approximate": False})
        shared = g.add("Dense", [act], name="shared", params={"kernel": k, "bias": beta})
        act2 = g.add("Gelu", [shared], attrs={"approximate": True})
        s = g.add("Add", [act2, shared])
        n1 = g.add("LayerNorm", [s], attrs={"axis": 2, "epsilon": 1e-3}, params=ln)
        s2 = g.add("Add", [n1, x])
        n2 = g.add("LayerNorm", [s2], attrs={"axis": 2, "epsilon": 1e-3, "rms": "square"}, params=ln)
        v = g.add_input("v", (None, 1, 5))
        s3 = g.add("Add", [n2, v])
        n3 = g.add("LayerNorm", [s3], attrs={"axis": 2, "epsilon": 1e-3}, params=ln)
        g.set_outputs([n3, s2, s])
        return g

    ref, g, reports = transformed(build, "fuse_bias_gelu", "fuse_skip_layernorm")
    assert [r.summary for r in reports] == ["fused 0 Dense bias+Gelu", "fused 0 Add+LayerNorm"]
    assert g.op_counts() == ref.op_counts()
    assert_equivalent(ref, g, {"x": rand((2, 4, 5), 12), "v": rand((2, 1, 5), 13)})


def test_bias_gelu_on_channels_first_data_keeps_the_layout():
    """A BiasGelu whose operand the layout machinery keeps channels-first adds the bias on the
    channel axis where it is: no Transpose, the same numbers."""
    kernel, bias = rand((1, 3, 3, 4), 14), rand((4,), 15)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 3))
        r = g.add("Reshape", [x], attrs={"shape": (1, 6, 3)})
        c = g.add(
            "Conv", [r], attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "same"}, params={"kernel": kernel}
        )
        back = g.add("Reshape", [c], attrs={"shape": (6, 4)})
        g.set_outputs([g.add("BiasGelu", [back], attrs={"approximate": False}, params={"bias": bias})])
        return g

    g = build()
    for target in ("onnx", "ort"):
        model = compiler.to_onnx(g, target=target)
        assert onnx_ops(model).count("Transpose") == 2  # into the conv and out at the end, none between
    x = rand((2, 6, 3), 16)
    want = run_model(compiler.to_onnx(build(), target="onnx"), {"x": x}, "none")[0]
    np.testing.assert_allclose(run_model(compiler.to_onnx(g, target="ort"), {"x": x}, "none")[0], want, rtol=1e-5)
