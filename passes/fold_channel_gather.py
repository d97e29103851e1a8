"""Fold a reordering of the channels into the kernel of the convolution or Dense that reads it.

``keras.applications`` "caffe" preprocessing (ResNet, VGG) flips RGB to BGR on the model's
input as ``stack([x[..., 2], x[..., 1], x[..., 0]], axis=-1)``: three slices, three squeezes,
three unsqueezes and a concat, ten ops at run time for what is only a permutation. A channel
gather y[…, c] = x[…, g(c)] followed by a linear op W is the linear op with the gathered kernel

    W'[…, j, o] = Σ_{c : g(c) = j} W[…, c, o]

exact for any g (repeated channels add up, unread ones get zero weight). When a per-channel
Affine (the mean subtraction, already merged by ``fold_affine``) sits between the gather and the
linear op and g is a permutation, the Affine moves before the gather with its parameters
permuted: a'[g(c)] = a[c], b'[g(c)] = b[c].

Run after ``fold_affine``, so Affine chains are merged and those that could fold have folded.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node
from compiler.ops import OPS, Kind, ops_of
from compiler.pipeline import register_pass
from compiler.rewrite import Match, P, Rule, apply_rules

#: Linear ops whose kernel keeps the input channels second to last, one group (Conv, Dense).
LINEAR_IN = tuple(
    op
    for op in ops_of(Kind.LINEAR)
    if OPS[op].kernel is not None and OPS[op].kernel.in_axis == -2 and len(OPS[op].kernel.out_axes) == 1
)


def _channel_slice(node: Node, channels: int) -> range | None:
    """The channels a Slice of the last axis alone reads, or None when it slices more than that."""
    slices = [tuple(s) for s in node.attrs["slices"]]
    if any(s not in ((None, None, None), (None, None, 1)) for s in slices[:-1]):
        return None
    start, stop, step = slices[-1]
    if step not in (None, 1):
        return None
    return range(channels)[slice(start, stop)]


def _piece(node: Node, rank: int) -> tuple[Node, range] | None:
    """(source, channels) of one concat operand: ``x[..., a:b]`` or ``x[..., i]`` put back as a channel."""
    if node.op == "Unsqueeze" and tuple(node.attrs["axes"]) == (rank - 1,) and node.has_single_use():
        node = node.input
        if node.op != "Squeeze" or tuple(node.attrs["axes"]) != (rank - 1,) or not node.has_single_use():
            return None
        node = node.input
    if node.op != "Slice" or not node.has_single_use():
        return None
    source = node.input
    if source.shape is None or len(source.shape) != rank or source.shape[-1] is None:
        return None
    picked = _channel_slice(node, source.shape[-1])
    return None if picked is None else (source, picked)


def channel_gather(concat: Node) -> tuple[Node, list[int]] | None:
    """(x, g) when ``concat`` is x[…, g] assembled from slices of one tensor x along its last axis."""
    rank = len(concat.shape)
    if concat.attrs.get("axis") != rank - 1:
        return None
    source, order = None, []
    for operand in concat.inputs:
        piece = _piece(operand, rank)
        if piece is None or (source is not None and piece[0] is not source):
            return None
        source = piece[0]
        order.extend(piece[1])
    return (source, order) if source is not None else None


def _gathered_kernel(kernel: np.ndarray, order: list[int], channels: int) -> np.ndarray:
    out = np.zeros(kernel.shape[:-2] + (channels, kernel.shape[-1]), dtype=np.float64)
    for c, j in enumerate(order):
        out[..., j, :] += kernel[..., c, :]
    return out.astype(np.float32)


def _linear_legal(linear: Node) -> bool:
    return linear.attrs.get("group", 1) == 1 and len(linear.inputs) == 1


def _permutation(m: Match) -> bool:
    gathered = channel_gather(m["concat"])
    return gathered is not None and sorted(gathered[1]) == list(range(len(gathered[1])))


def _replace_linear(graph: Graph, linear: Node, source: Node, order: list[int]) -> Node:
    params = dict(linear.params)
    params["kernel"] = _gathered_kernel(linear.params["kernel"], order, source.shape[-1])
    return graph.add(
        linear.op,
        [source],
        name=linear.name,
        attrs=dict(linear.attrs),
        params=params,
        layer=linear.layer,
        shape=linear.shape,
    )


def _into_linear(graph: Graph, m: Match) -> Node:
    source, order = channel_gather(m["concat"])
    return _replace_linear(graph, m["linear"], source, order)


def _through_affine(graph: Graph, m: Match) -> Node:
    (source, order), affine = channel_gather(m["concat"]), m["affine"]
    params = {}
    for key, value in affine.params.items():
        moved = np.empty_like(value)
        moved[order] = value
        params[key] = moved
    before = graph.add(
        "Affine",
        [source],
        name=graph.unique_name(affine.name),
        attrs=dict(affine.attrs),
        params=params,
        layer=affine.layer,
        shape=source.shape,
    )
    return _replace_linear(graph, m["linear"], before, order)


INTO_LINEAR = Rule(
    "into_linear",
    P(LINEAR_IN, P("Concat", name="concat"), name="linear"),
    rewrite=_into_linear,
    check=lambda m: (
        _linear_legal(m["linear"]) and m["concat"].has_single_use() and channel_gather(m["concat"]) is not None
    ),
)
THROUGH_AFFINE = Rule(
    "through_affine",
    P(LINEAR_IN, P("Affine", P("Concat", name="concat"), name="affine"), name="linear"),
    rewrite=_through_affine,
    check=lambda m: (
        _linear_legal(m["linear"])
        and m["affine"].has_single_use()
        and m["concat"].has_single_use()
        and m["affine"].attrs["axis"] == len(m["affine"].shape) - 1
        and _permutation(m)
    ),
)


@register_pass("fold_channel_gather")
def fold_channel_gather(graph: Graph) -> tuple[Graph, str]:
    """Fold channel reorderings (RGB→BGR) into the kernel of the Conv or Dense that reads them."""
    fired = apply_rules(graph, [INTO_LINEAR, THROUGH_AFFINE])
    return graph, f"folded {fired['into_linear'] + fired['through_affine']} channel gathers into kernels"
