"""Lowerings of the pools: windowed max/average (with the zero padding ``passes.resolve_padding``
merged into them) and the global pools."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...ir import Node
from ..emitter import Emitter, Value, channels_first, emitter
from .conv import window_pads


@emitter("MaxPool", "AveragePool")
def _pool(em: Emitter, node: Node) -> Value:
    a = node.attrs
    rank = len(node.shape)
    extra = {"count_include_pad": int(bool(a.get("count_include_pad")))} if node.op == "AveragePool" else {}
    padding = window_pads(node, a["window"])
    x = em.nchw(node.inputs[0])
    attrs = dict(kernel_shape=list(a["window"]), strides=list(a["strides"]), **padding, **extra)
    if node.op == "MaxPool" and node.inputs[0].op == "Pad":
        out = em.target.max_pool_after_pad(em, x, node.name, attrs)
    else:
        out = em.op(node.op, [x], node.name, **attrs)
    if a.get("zero_pads"):
        src = node.inputs[0].shape[1:3]
        mask = _zero_mask(src, node.shape[1:3], a["window"], a["strides"], padding["pads"], a["zero_pads"])
        out = em.op("Max", [out, em.const(f"{node.name}.zeros", mask)], f"{node.name}_zeros")
    return Value(out, rank, channels_first(rank))


def _zero_mask(
    size: Sequence[int],
    out: Sequence[int],
    window: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    zero_pads: Sequence[tuple[int, int]],
) -> np.ndarray:
    """0 where a pooling window overlaps merged zero padding, -inf elsewhere.

    ``pads`` are the pool's ONNX pads (its own ignored border plus the zeros); ``zero_pads`` the
    part that came from a zero Pad and lies directly around the data. ``Max`` with this mask
    puts back the zeros a window would have seen.
    """
    hit = []
    for axis in range(2):
        before, after = zero_pads[axis]
        start = np.arange(out[axis]) * strides[axis] - pads[axis]
        stop = start + window[axis]
        low = (start < 0) & (stop > -before) & (before > 0)
        high = (stop > size[axis]) & (start < size[axis] + after) & (after > 0)
        hit.append(low | high)
    touched = hit[0][:, None] | hit[1][None, :]
    return np.where(touched, 0.0, -np.inf).astype(np.float32)[None, None]


@emitter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    if len(node.inputs[0].shape) == 3 and v.perm is None and v.rows is None:
        # A sequence in Keras's own (batch, steps, channels) order: a mean or max over the steps,
        # where a GlobalAveragePool would need it transposed to (batch, channels, steps) first.
        keep = bool(node.attrs.get("keepdims"))
        out = em.reduce("ReduceMean" if node.op == "GlobalAveragePool" else "ReduceMax", v.name, [1], node.name, keep)
        return Value(out, len(node.shape))
    out = em.op(node.op, [em.nchw(node.inputs[0])], node.name)
    if node.attrs.get("keepdims"):
        rank = len(node.shape)
        return Value(out, rank, channels_first(rank))
    return Value(em.op("Flatten", [out], f"{node.name}_flat", axis=1), 2)
