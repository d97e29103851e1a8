"""Fold inference BatchNormalization into the preceding linear op.

With σ = √(var + ε), BatchNorm computes y = γ·(x − μ)/σ + β per channel. When x = W·a + B is a
convolution or a dense layer, the same y comes from new weights

    W' = W · γ/σ   (scaled along the output-channel axis)
    B' = (B − μ) · γ/σ + β

so the BatchNorm disappears. The pattern is ``BatchNorm(linear op)`` (Conv, DepthwiseConv,
ConvTranspose, Dense: :attr:`Kind.LINEAR` in the op table), legal when the BatchNorm normalizes
the channel axis and nothing else reads the un-normalized tensor. The variants differ only in
where the output channel sits in the Keras kernel, which the op table's kernel layout says.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node
from compiler.ops import Kind, batchnorm_scale_shift, kernel_layout, ops_of
from compiler.pipeline import register_pass
from compiler.rewrite import ANY, Match, P, Rule, apply_rules


def scale_kernel(linear: Node, scale: np.ndarray) -> np.ndarray:
    """The linear node's kernel times ``scale`` along the output channel, wherever its layout keeps it."""
    kernel = linear.params["kernel"]
    return kernel * scale.reshape(kernel_layout(linear).output_shape(kernel))


def _legal(m: Match) -> bool:
    bn, linear = m["bn"], m["linear"]
    plain = not linear.attrs.get("activation") and len(linear.inputs) == 1
    return plain and bn.attrs["axis"] == len(bn.shape) - 1 and linear.has_single_use()


def _fold(graph: Graph, m: Match) -> Node:
    bn, linear = m["bn"], m["linear"]
    scale, shift = batchnorm_scale_shift(bn)  # per-channel vectors, computed in float64
    bias = linear.params.get("bias")
    bias = np.zeros_like(scale) if bias is None else bias.astype(np.float64)
    params = {
        "kernel": scale_kernel(linear, scale.astype(np.float32)),
        "bias": (bias * scale + shift).astype(np.float32),
    }
    # A new node, not an in-place edit: a shared Keras layer shares its arrays between calls.
    return graph.add(
        linear.op,
        linear.inputs,
        name=linear.name,
        attrs=dict(linear.attrs),
        params=params,
        layer=linear.layer,
        shape=bn.shape,
    )


RULE = Rule(
    "fold_batchnorm",
    P("BatchNorm", P(ops_of(Kind.LINEAR), ANY, name="linear"), name="bn"),
    rewrite=_fold,
    check=_legal,
)


@register_pass("fold_batchnorm")
def fold_batchnorm(graph: Graph) -> tuple[Graph, str]:
    """Fold BatchNorm into the Conv/Dense before it."""
    fired = apply_rules(graph, [RULE])["fold_batchnorm"]
    left = len(graph.nodes("BatchNorm"))
    return graph, f"folded {fired} BatchNorm" + (f", {left} left (no foldable producer)" if left else "")
