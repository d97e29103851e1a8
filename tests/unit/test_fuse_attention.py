"""passes.fuse_attention and the attention lowerings on hand-made graphs, against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler import Graph
from unit_kit import assert_equivalent, onnx_ops, rand, run_graph, transformed


def reference(q, k, v, heads, mask=None, causal=False, zero_masked=False):
    """softmax(q·kᵀ) per head, Keras 3's replacement of dropped logits, then ·v, heads merged."""
    b, t, width = q.shape
    s = k.shape[1]
    d, dv = width // heads, v.shape[-1] // heads
    qh = q.reshape(b, t, heads, d).transpose(0, 2, 1, 3)
    kh = k.reshape(b, s, heads, d).transpose(0, 2, 3, 1)
    vh = v.reshape(b, s, heads, dv).transpose(0, 2, 1, 3)
    logits = qh @ kh
    keep = np.ones((b, 1, t, s), bool)
    if mask is not None:
        keep &= (mask != 0)[:, None]
    if causal:
        keep &= np.tril(np.ones((t, s), bool))
    logits = np.where(keep, logits, -1e30)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    if zero_masked:
        p = np.where(keep, p, 0.0)
    return (p @ vh).transpose(0, 2, 1, 3).reshape(b, t, heads * dv), p


def attention_graph(heads=2, masked=False, causal=False, scores_out=False, zero_masked=False):
    def build():
        g = Graph()
        q = g.add_input("q", (None, 5, 8))
        k = g.add_input("k", (None, 6, 8))
        v = g.add_input("v", (None, 6, 6))
        extra = [g.add_input("m", (None, 5, 6))] if masked else []
        attrs = {
            "heads": heads,
            "causal": causal,
            "masks": ("attention",) if masked else (),
            "fill": -0.7 * 3.38953e38,
            "zero_masked": zero_masked,
        }
        p = g.add("AttentionScores", [q, k, *extra], name="scores", attrs=attrs)
        out = g.add("AttentionApply", [p, v], name="out", attrs={"heads": heads})
        g.set_outputs([out, p] if scores_out else [out], ["out", "scores"] if scores_out else ["out"])
        return g

    return build


def feeds(masked=False):
    f = {"q": rand((2, 5, 8), 1), "k": rand((2, 6, 8), 2), "v": rand((2, 6, 6), 3)}
    if masked:
        m = (rand((2, 5, 6), 4) > -0.4).astype(np.float32)
        m[0, 1] = 0  # a row with nothing to attend to
        f["m"] = m
    return f


@pytest.mark.parametrize("masked, causal", [(False, False), (True, False), (False, True), (True, True)])
def test_scores_then_apply_become_one_op(masked, causal):
    ref, g, (report,) = transformed(attention_graph(masked=masked, causal=causal), "fuse_attention")
    assert report.summary == "fused 1 attention"
    assert g.op_counts().get("MultiHeadAttention") == 1 and "AttentionScores" not in g.op_counts()
    f = feeds(masked)
    want, _ = reference(f["q"], f["k"], f["v"], 2, f.get("m"), causal)
    assert_equivalent(ref, g, f, [want])


def test_scores_read_elsewhere_stay_apart():
    _, g, (report,) = transformed(attention_graph(scores_out=True), "fuse_attention")
    assert report.summary == "fused 0 attention"
    assert {"AttentionScores", "AttentionApply"} <= set(g.op_counts())


def test_zeroed_rows_match_keras_softmax_layer():
    f = feeds(True)
    want, p = reference(f["q"], f["k"], f["v"], 2, f["m"], zero_masked=True)
    got = run_graph(attention_graph(masked=True, scores_out=True, zero_masked=True)(), f)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], p, rtol=1e-5, atol=1e-6)
    assert not np.any(got[1][0, :, 1])  # the blank row: zeros, not uniform weights


@pytest.mark.parametrize("masked", [False, True])
def test_ort_target_runs_the_contrib_kernel(masked):
    _, g, _ = transformed(attention_graph(masked=masked, causal=True), "fuse_attention")
    f = feeds(masked)
    want, _ = reference(f["q"], f["k"], f["v"], 2, f.get("m"), True)
    proto = compiler.to_onnx(g, target="ort")
    assert "MultiHeadAttention" in onnx_ops(proto) and "Softmax" not in onnx_ops(proto)
    got = run_graph(g, f, target="ort")
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
