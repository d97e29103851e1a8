"""Lowerings of the ops that move or relabel data: graph inputs, identities, Flatten, Reshape,
Transpose, Concat, Pad, Crop and Resize. Most of them work on the physical layout the data
already has instead of transposing it back to Keras's."""

from __future__ import annotations

import numpy as np

from ...ir import Node
from ...ops import Kind, is_a
from ..emitter import NCHW, Emitter, Value, canon, channels_first, emitter, onnx_pads


@emitter("Input")
def _input(em: Emitter, node: Node) -> Value:
    rank = len(node.shape)
    em.claim(node.name)
    if rank == 4 and em.input_layout == "nchw":
        return Value(node.name, 4, NCHW)
    return Value(node.name, rank)


@emitter("Identity", "Dropout")
def _identity(em: Emitter, node: Node) -> Value:
    return em.value(node.inputs[0])


@emitter("Flatten")
def _flatten(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    src = node.inputs[0].shape
    if v.rank == 2:
        return v
    users_are_dense = node.users and all(u.op == "Dense" for u in node.users) and not node.is_output
    if v.perm is not None and v.rows is None and users_are_dense and None not in src[1:]:
        # Flatten the physical layout as is and let the Dense weights absorb the order.
        order = np.arange(int(np.prod(src[1:]))).reshape(src[1:]).transpose([p - 1 for p in v.perm[1:]])
        out = em.op("Flatten", [v.name], node.name, axis=1)
        return Value(out, 2, None, tuple(int(i) for i in order.ravel()))
    return Value(em.op("Flatten", [em.ensure(v, None)], node.name, axis=1), 2)


def _squeeze_layout(em: Emitter, node: Node, v: Value) -> Value | None:
    """A Reshape that only adds or drops size-1 axes keeps the data's physical order.

    Conv1D runs as a Conv2D on (N, 1, L, C): its result, NCHW inside, reshaped back to (N, L, C)
    stays (N, C, L) physically, and the next Conv1D's reshape to (N, 1, L, C) is NCHW again, so a
    chain of 1-D convolutions needs no transposes inside.
    """
    src, dst = node.inputs[0].shape, node.shape
    if v.perm is None or v.rows is not None or sum(d is None for d in dst[1:]) > 1:
        return None
    src_axes = [a for a, d in enumerate(src) if d != 1]
    dst_axes = [a for a, d in enumerate(dst) if d != 1]
    if [src[a] for a in src_axes] != [dst[a] for a in dst_axes] or sum(d is None for d in src[1:]) > 1:
        return None
    to_dst = dict(zip(src_axes, dst_axes, strict=False))
    order = [to_dst[a] for a in v.perm if src[a] != 1]  # dst's non-1 axes in physical order
    rank = len(dst)
    perm = channels_first(rank) or tuple(range(rank))
    if [a for a in perm if dst[a] != 1] != order:
        return None
    dims = [0] + [-1 if dst[a] is None else dst[a] for a in perm[1:]]
    out = em.op("Reshape", [v.name, em.const(f"{node.name}.shape", np.asarray(dims, np.int64))], node.name)
    return Value(out, rank, canon(perm))


def _feeds_channels_first(node: Node) -> bool:
    """Whether every reader of ``node`` computes on channels-first data (convolutions, pools)."""
    users = node.users
    return bool(users) and not node.is_output and all(is_a(u, Kind.WINDOW) or u.op == "ConvTranspose" for u in users)


@emitter("Reshape")
def _reshape(em: Emitter, node: Node) -> Value:
    src = node.inputs[0].shape
    if tuple(node.shape) == tuple(src) and sum(d is None for d in src[1:]) <= 1:
        # A 1-D layer's way back to (N, L, C) merged with the next one's way to (N, 1, L, C).
        return em.value(node.inputs[0])
    v = em.value(node.inputs[0])
    if v.perm is None and v.rows is None and len(node.shape) > len(src) >= 3 and _feeds_channels_first(node):
        # A 1-D layer's (N, L, C) → (N, 1, L, C) for a convolution or pool: move the data to
        # channels-first before the reshape, where the Transpose is the graph input's own.
        moved = Value(em.ensure(v, channels_first(len(src))), v.rank, channels_first(len(src)), shape=v.shape)
        kept = _squeeze_layout(em, node, moved)
        if kept is not None:
            return kept
    kept = _squeeze_layout(em, node, v)
    if kept is not None:
        return kept
    x = em.ensure(em.value(node.inputs[0]), None)
    shape = em.const(f"{node.name}.shape", np.asarray([0, *node.attrs["shape"]], np.int64))
    return Value(em.op("Reshape", [x, shape], node.name), len(node.shape))


@emitter("Transpose")
def _transpose(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    if v.rows is not None:
        v = Value(em.ensure(v, v.perm), v.rank, v.perm)
    q = node.attrs["perm"]
    q_inv = [q.index(i) for i in range(len(q))]
    p = v.perm or tuple(range(v.rank))
    return Value(v.name, v.rank, canon([q_inv[i] for i in p]))


@emitter("Concat")
def _concat(em: Emitter, node: Node) -> Value:
    first = em.value(node.inputs[0])
    perm = first.perm
    xs = [em.ensure(em.value(i), perm) for i in node.inputs]
    axis = Value("", first.rank, perm).axis(node.attrs["axis"])
    return Value(em.op("Concat", xs, node.name, axis=axis), first.rank, perm)


@emitter("Pad")
def _pad(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    logical = [(0, 0), *node.attrs["pads"], (0, 0)]
    physical = [logical[v.perm[i]] if v.perm else logical[i] for i in range(v.rank)]
    pads = em.const(f"{node.name}.pads", np.asarray(onnx_pads(physical), np.int64))
    return Value(em.op("Pad", [x, pads], node.name, mode="constant"), v.rank, v.perm)


@emitter("Crop")
def _crop(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    crops = [tuple(c) for c in node.attrs["crops"]]
    axes = [v.axis(i) for i in range(1, len(crops) + 1)]
    big = np.iinfo(np.int64).max
    starts = em.const(f"{node.name}.starts", np.asarray([before for before, _ in crops], np.int64))
    ends = em.const(f"{node.name}.ends", np.asarray([-after if after else big for _, after in crops], np.int64))
    axes_name = em.const(f"{node.name}.axes", np.asarray(axes, np.int64))
    return Value(em.op("Slice", [x, starts, ends, axes_name], node.name), v.rank, v.perm)


@emitter("Resize")
def _resize(em: Emitter, node: Node) -> Value:
    x = em.nchw(node.inputs[0])
    size = node.attrs.get("size")
    if size is not None:
        # Resizing: TensorFlow's resize (no antialias) samples at pixel centres for every mode;
        # nearest takes floor((i + 0.5)·in/out), which is half_pixel with round-half-up. The
        # batch is dynamic, so the target sizes are the input's (N, C) and the fixed (h, w).
        modes = {"nearest": {"mode": "nearest", "nearest_mode": "round_prefer_ceil"}, "bilinear": {"mode": "linear"}}
        attrs = {**modes[node.attrs["mode"]], "coordinate_transformation_mode": "half_pixel"}
        shape = em.op("Shape", [x], f"{node.name}_shape", start=0, end=2)
        sizes = em.op(
            "Concat", [shape, em.const(f"{node.name}.size", np.asarray(size, np.int64))], f"{node.name}_sizes", axis=0
        )
        return Value(em.op("Resize", [x, "", "", sizes], node.name, **attrs), 4, NCHW)
    scale = [float(f) for f in node.attrs["scale"]]
    rank = len(scale) + 2
    scales = em.const(f"{node.name}.scales", np.asarray([1, 1, *scale], np.float32))
    if node.attrs["mode"] == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:  # TensorFlow 2's resize samples at pixel centres
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    return Value(em.op("Resize", [x, "", scales], node.name, **attrs), rank, channels_first(rank))
