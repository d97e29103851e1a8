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
    return _plain(m["linear"]) and m["bn"].attrs["axis"] == len(m["bn"].shape) - 1


def _folded(graph: Graph, bn: Node, linear: Node, shape: tuple) -> Node:
    """The linear node with the BatchNorm in its weights."""
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
        shape=shape,
    )


def _plain(linear: Node) -> bool:
    return not linear.attrs.get("activation") and len(linear.inputs) == 1 and linear.has_single_use()


def _fold(graph: Graph, m: Match) -> Node:
    return _folded(graph, m["bn"], m["linear"], m["bn"].shape)


def _legal_through_transpose(m: Match) -> bool:
    """A channels_first layer's BatchNorm(axis=1) after a channels_first convolution: the
    Transpose back to channels_first sits between them and moves the channel axis to ``axis``."""
    bn, perm = m["bn"], m["perm"]
    order = tuple(perm.attrs["perm"])
    return _plain(m["linear"]) and perm.has_single_use() and order[bn.attrs["axis"]] == len(order) - 1


def _fold_through_transpose(graph: Graph, m: Match) -> Node:
    bn, perm, linear = m["bn"], m["perm"], m["linear"]
    folded = _folded(graph, bn, linear, linear.shape)
    return graph.add("Transpose", [folded], name=perm.name, attrs=dict(perm.attrs), layer=perm.layer, shape=bn.shape)


RULE = Rule(
    "fold_batchnorm",
    P("BatchNorm", P(ops_of(Kind.LINEAR), ANY, name="linear"), name="bn"),
    rewrite=_fold,
    check=_legal,
)
THROUGH_TRANSPOSE = Rule(
    "fold_batchnorm_transposed",
    P("BatchNorm", P("Transpose", P(ops_of(Kind.LINEAR), ANY, name="linear"), name="perm"), name="bn"),
    rewrite=_fold_through_transpose,
    check=_legal_through_transpose,
)


@register_pass("fold_batchnorm")
def fold_batchnorm(graph: Graph) -> tuple[Graph, str]:
    """Fold BatchNorm into the Conv/Dense before it."""
    counts = apply_rules(graph, [RULE, THROUGH_TRANSPOSE])
    fired = counts["fold_batchnorm"] + counts["fold_batchnorm_transposed"]
    left = len(graph.nodes("BatchNorm"))
    return graph, f"folded {fired} BatchNorm" + (f", {left} left (no foldable producer)" if left else "")
