"""Operations of ``keras.src.ops.numpy`` that Keras 3 records while it computes masks, beyond the
general tensor operations of :mod:`.numpy_ops`.

A Keras 3 model file holds its masks explicitly: Embedding(mask_zero=True) is followed by a
``NotEqual(ids, 0)`` operation, Masking by ``NotEqual`` and ``Any``, Concatenate's mask by
``ExpandDims``/``ZerosLike``/``LogicalOr``/``Concatenate``/``Any``, and each layer that takes a
mask is called with it as its ``mask`` keyword. The comparisons, joins and reshapes are the
general operations; ``Any``/``All`` and ``ZerosLike``/``OnesLike`` are here, so the masks Keras
runs are the masks compiled.
"""

from __future__ import annotations

from compiler.ir import Node

from ..layers.base import LayerContext, not_equal, whole
from .base import keras_op, operand


def _axis(ctx: LayerContext, x: Node, key: str = "axis") -> int:
    """One axis of ``x`` from the config (negative ones from the end); the batch axis is refused."""
    axis = ctx.get(key)
    if isinstance(axis, list | tuple) and len(axis) == 1:
        axis = axis[0]
    if axis is None or isinstance(axis, list | tuple):
        raise ctx.unsupported(f"{key}={axis!r:.40} (one axis is supported)")
    axis = whole(axis, key)
    rank = len(x.shape)
    if not -rank <= axis < rank or axis % rank == 0:
        raise ctx.unsupported(f"{key} {axis} of a rank-{rank} tensor (the batch axis cannot be reduced)")
    return axis % rank


def _as_bool(ctx: LayerContext, x: Node) -> Node:
    return x if x.dtype == "bool" else not_equal(ctx, x, 0)


@keras_op("Any", "All")
def any_all(ctx: LayerContext, inputs: list[Node]) -> Node:
    """any(x, axis) as a ReduceAny; all(x) as not(any(not x))."""
    x = _as_bool(ctx, operand(ctx, inputs))
    attrs = {"axes": (_axis(ctx, x),), "keepdims": bool(ctx.get("keepdims", False))}
    if ctx.class_name == "Any":
        return ctx.add("ReduceAny", [x], attrs=attrs, main=True)
    anywhere_false = ctx.add("ReduceAny", [ctx.add("Not", [x])], attrs=attrs)
    return ctx.add("Not", [anywhere_false], main=True)


@keras_op("ZerosLike", "OnesLike")
def filled_like(ctx: LayerContext, inputs: list[Node]) -> Node:
    x = operand(ctx, inputs)
    dtype = str(ctx.get("dtype") or x.dtype)
    value = 0 if ctx.class_name == "ZerosLike" else 1
    return ctx.add("Fill", [x], attrs={"value": value, "dtype": dtype}, main=True)
