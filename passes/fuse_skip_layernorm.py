"""Fuse a residual join into the layer normalization after it:
``LayerNorm(a + b)`` → ``SkipLayerNorm(a, b)``, and ``LayerNorm(Dense(x) + b + bias)`` with the
Dense's bias given to it: ``SkipLayerNorm(Dense(x), b, bias)``.

LN(a + b + bias) is the same number either way; the fused node lets a runtime with one kernel
for the whole join (onnxruntime's SkipLayerNormalization) read a and b once instead of writing
the sum and normalizing it in a second pass. Standard ONNX gets the Adds and LayerNormalization
back.

Legal for a normalization over the last axis only (the kernels' contract), without the RMS
forms, of an Add of exactly two operands of the same shape (no broadcasting) that nothing else
reads. The Dense giving up its bias must be plain (see :func:`passes.fuse_bias_gelu.biased_dense`).
"""

from __future__ import annotations

from compiler.ir import Graph, Node
from compiler.pipeline import register_pass
from compiler.rewrite import Match, P, Rule, apply_rules

from .fuse_bias_gelu import biased_dense, without_bias


def _joinable(m: Match) -> bool:
    add, ln = m["add"], m["ln"]
    rank = len(ln.shape)
    a, b = add.inputs if len(add.inputs) == 2 else (None, None)
    return (
        a is not None
        and a is not b
        and a.shape == b.shape == add.shape
        and add.has_single_use()
        and not add.is_output
        and ln.attrs.get("rms") is None
        and ln.attrs["axis"] in (rank - 1, (rank - 1,))
    )


def _fuse(graph: Graph, m: Match) -> Node:
    add, ln = m["add"], m["ln"]
    a, b = add.inputs
    params = {"gamma": ln.params["gamma"], "beta": ln.params["beta"]}
    if biased_dense(b) and not biased_dense(a):
        a, b = b, a
    if biased_dense(a):
        params["bias"] = a.params["bias"]
        a = without_bias(graph, a)
    attrs = {"axis": len(ln.shape) - 1, "epsilon": ln.attrs["epsilon"]}
    return graph.add("SkipLayerNorm", [a, b], name=ln.name, attrs=attrs, params=params, layer=ln.layer, shape=ln.shape)


RULE = Rule("skip_layernorm", P("LayerNorm", P("Add", name="add"), name="ln"), check=_joinable, rewrite=_fuse)


@register_pass("fuse_skip_layernorm")
def fuse_skip_layernorm(graph: Graph) -> tuple[Graph, str]:
    """Fuse a residual Add (and a Dense's bias) into the LayerNorm after it."""
    return graph, f"fused {apply_rules(graph, [RULE])['skip_layernorm']} Add+LayerNorm"
