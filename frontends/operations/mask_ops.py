"""Operations of ``keras.src.ops.numpy`` that Keras 3 records while it computes masks.

A Keras 3 model file holds its masks explicitly: Embedding(mask_zero=True) is followed by a
``NotEqual(ids, 0)`` operation, Masking by ``NotEqual`` and ``Any``, Concatenate's mask by
``ExpandDims``/``ZerosLike``/``LogicalOr``/``Concatenate``/``Any``, and each layer that takes a
mask is called with it as its ``mask`` keyword. These entries turn those operations into the
bool IR ops the mask interface uses (frontends/layers/base.py), so the masks Keras runs are the
masks compiled.
"""

from __future__ import annotations

from typing import Any

from compiler.ir import Node

from ..layers.base import LayerContext, whole
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


def _scalar(ctx: LayerContext, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.unsupported(f"comparison with {value!r:.40} (a number is supported)")
    return float(value)


def _tensor_and_constant(ctx: LayerContext) -> tuple[Node, float]:
    args = ctx.args or []
    tensors = [a for a in args if isinstance(a, Node)]
    consts = [a for a in args if not isinstance(a, Node)]
    if len(tensors) != 1 or len(consts) != 1:
        raise ctx.unsupported("a comparison of two tensors (a tensor and a number are supported)")
    return tensors[0], _scalar(ctx, consts[0])


@keras_op("NotEqual")
def not_equal(ctx: LayerContext, inputs: list[Node]) -> Node:
    x, value = _tensor_and_constant(ctx)
    return ctx.add("NotEqual", [x], attrs={"value": value}, main=True)


@keras_op("Equal")
def equal(ctx: LayerContext, inputs: list[Node]) -> Node:
    x, value = _tensor_and_constant(ctx)
    return ctx.add("Not", [ctx.add("NotEqual", [x], attrs={"value": value})], main=True)


def _as_bool(ctx: LayerContext, x: Node) -> Node:
    return x if x.dtype == "bool" else ctx.add("NotEqual", [x], attrs={"value": 0.0})


@keras_op("Any", "All")
def any_all(ctx: LayerContext, inputs: list[Node]) -> Node:
    """any(x, axis) as a ReduceAny; all(x) as not(any(not x))."""
    x = _as_bool(ctx, operand(ctx, inputs))
    attrs = {"axis": _axis(ctx, x), "keepdims": bool(ctx.get("keepdims", False))}
    if ctx.class_name == "Any":
        return ctx.add("ReduceAny", [x], attrs=attrs, main=True)
    anywhere_false = ctx.add("ReduceAny", [ctx.add("Not", [x])], attrs=attrs)
    return ctx.add("Not", [anywhere_false], main=True)


def _logical(op: str) -> Any:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        xs = [_as_bool(ctx, a) for a in (ctx.args or []) if isinstance(a, Node)]
        if len(xs) != 2:
            raise ctx.unsupported(f"{len(xs)} tensor arguments (expects two)")
        return ctx.add(op, xs, main=True)

    return build


keras_op("LogicalOr")(_logical("Or"))
keras_op("LogicalAnd")(_logical("And"))


@keras_op("LogicalNot")
def logical_not(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Not", [_as_bool(ctx, operand(ctx, inputs))], main=True)


def _reshaped(ctx: LayerContext, x: Node, shape: list[int | None]) -> Node:
    if sum(d is None for d in shape) > 1:
        raise ctx.unsupported(f"a reshape to {tuple(shape)} with more than one unknown dimension")
    return ctx.add("Reshape", [x], attrs={"shape": tuple(-1 if d is None else d for d in shape)}, main=True)


@keras_op("ExpandDims")
def expand_dims(ctx: LayerContext, inputs: list[Node]) -> Node:
    x = operand(ctx, inputs)
    rank = len(x.shape) + 1
    axis = whole(ctx.get("axis"), "axis")
    if not -rank <= axis < rank or axis % rank == 0:
        raise ctx.unsupported(f"axis {axis} for a rank-{rank} result")
    shape = list(x.shape[1:])
    shape.insert(axis % rank - 1, 1)
    return _reshaped(ctx, x, shape)


@keras_op("Squeeze")
def squeeze(ctx: LayerContext, inputs: list[Node]) -> Node:
    x = operand(ctx, inputs)
    axis = _axis(ctx, x)
    if x.shape[axis] != 1:
        raise ctx.unsupported(f"squeezing axis {axis} of size {x.shape[axis]}")
    return _reshaped(ctx, x, [d for i, d in enumerate(x.shape) if i not in (0, axis)])


@keras_op("ZerosLike", "OnesLike")
def filled_like(ctx: LayerContext, inputs: list[Node]) -> Node:
    x = operand(ctx, inputs)
    dtype = str(ctx.get("dtype") or x.dtype)
    value = 0 if ctx.class_name == "ZerosLike" else 1
    return ctx.add("Fill", [x], attrs={"value": value, "dtype": dtype}, main=True)


@keras_op("Cast")
def cast(ctx: LayerContext, inputs: list[Node]) -> Node:
    dtype = ctx.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    return ctx.add("Cast", [operand(ctx, inputs)], attrs={"to": str(dtype or "float32")}, main=True)


@keras_op("Concatenate")
def concatenate(ctx: LayerContext, inputs: list[Node]) -> Node:
    """``ops.concatenate([a, b], axis)``: its tensors come as one list argument."""
    if len(inputs) < 1:
        raise ctx.unsupported("no tensors to join")
    axis = _axis(ctx, inputs[0])
    return ctx.add("Concat", inputs, attrs={"axis": axis}, main=True)
