"""Give a Dense's bias to the gelu after it: ``Gelu(Dense(x) + b)`` → ``BiasGelu(Dense(x), b)``.

y = gelu(W·x + b) is unchanged; only where the + b happens moves, so that a runtime with a
one-pass kernel for gelu(x + b) (onnxruntime's BiasGelu, or FastGelu for the tanh form) reads the
matrix product once instead of writing it, adding the bias and running five to nine element-wise
ops over it. Standard ONNX gets the Add and the gelu back as separate ops.

Legal when the Dense carries no activation of its own, has a bias and nothing else reads its
output; only for Dense on vectors and sequences (rank ≤ 3), where the bias runs along the last
axis as the kernels want it (a Dense on a feature map is a 1×1 convolution, which keeps its bias).
"""

from __future__ import annotations

from compiler.ir import Graph, Node
from compiler.pipeline import register_pass
from compiler.rewrite import Match, P, Rule, apply_rules


def biased_dense(node: Node) -> bool:
    """A Dense whose bias may move into the op that alone reads it."""
    return (
        node.op == "Dense"
        and "bias" in node.params
        and not node.attrs.get("activation")
        and len(node.shape) <= 3
        and node.has_single_use()
        and not node.is_output
    )


def without_bias(graph: Graph, dense: Node) -> Node:
    """The Dense's matrix product alone (its bias goes to the op after it)."""
    params = {k: v for k, v in dense.params.items() if k != "bias"}
    return graph.add(
        "Dense", dense.inputs, name=dense.name, attrs=dense.attrs, params=params, layer=dense.layer, shape=dense.shape
    )


def _fuse(graph: Graph, m: Match) -> Node:
    dense, gelu = m["dense"], m["gelu"]
    return graph.add(
        "BiasGelu",
        [without_bias(graph, dense)],
        name=gelu.name,
        attrs={"approximate": bool(gelu.attrs.get("approximate"))},
        params={"bias": dense.params["bias"]},
        layer=gelu.layer,
        shape=gelu.shape,
    )


RULE = Rule(
    "bias_gelu",
    P("Gelu", P("Dense", name="dense"), name="gelu"),
    check=lambda m: biased_dense(m["dense"]),
    rewrite=_fuse,
)


@register_pass("fuse_bias_gelu")
def fuse_bias_gelu(graph: Graph) -> tuple[Graph, str]:
    """Move a Dense's bias into the gelu that follows it."""
    return graph, f"fused {apply_rules(graph, [RULE])['bias_gelu']} Dense bias+Gelu"
