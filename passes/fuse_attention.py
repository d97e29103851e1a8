"""Fuse ``AttentionApply(AttentionScores(q, k, masks…), v)`` into one ``MultiHeadAttention``.

softmax(mask(q·kᵀ))·v per head is one computation; as one op the backend can hand it to a
fused kernel (onnxruntime's com.microsoft.MultiHeadAttention for ``--target ort``) and writes
the portable MatMul/Softmax form for the other targets. Legal when the probabilities have no
other reader: a layer called with ``return_attention_scores=True`` keeps them as an output.
"""

from __future__ import annotations

from compiler.ir import Graph, Node
from compiler.pipeline import register_pass
from compiler.rewrite import ANY, Match, P, Rule, apply_rules


def _fuse(graph: Graph, m: Match) -> Node:
    scores, apply = m["scores"], m["apply"]
    q, k, *masks = scores.inputs
    v = apply.inputs[1]
    return graph.add(
        "MultiHeadAttention",
        [q, k, v, *masks],
        name=apply.name,
        layer=apply.layer,
        attrs=dict(scores.attrs),
        params=dict(scores.params),
        shape=apply.shape,
    )


RULE = Rule(
    "fuse_attention",
    P("AttentionApply", P("AttentionScores", name="scores"), ANY, name="apply"),
    rewrite=_fuse,
    check=lambda m: m["scores"].has_single_use(),
)


@register_pass("fuse_attention")
def fuse_attention(graph: Graph) -> tuple[Graph, str]:
    """Fuse attention scores and their application to the values."""
    return graph, f"fused {apply_rules(graph, [RULE])['fuse_attention']} attention"
