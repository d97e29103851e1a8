"""Operations of ``keras.src.ops.numpy``: arithmetic on tensors (``x + 3.0``, ``x * y``,
``keras.ops.maximum``), ``-x``, and the element-wise functions that are activations.

Tensor-tensor arithmetic becomes the merge op; tensor-scalar arithmetic an Affine, which the
folding passes merge into the convolution or BatchNorm next to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.ir import Node

from ..layers.base import LayerContext, LayerFn, scalar_affine
from . import tensors as T
from .base import activation_op, keras_op, operand
from .tensors import constant_array, elementwise

#: binary kind -> the IR op for two tensors
TENSOR_OPS = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min"}


def binary(kind: str) -> LayerFn:
    """``a <kind> b`` with a tensor on either side (``kind``: add, sub, mul, div, max, min)."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        args = ctx.args or []
        if len(args) != 2:
            raise ctx.unsupported(f"{len(args)} arguments")
        a, b = args
        if isinstance(a, Node) and isinstance(b, Node) and (a.op == "Constant") != (b.op == "Constant"):
            # a weight a traced layer holds: its values are known, so it scales or shifts like an array
            x, c = (a, b) if b.op == "Constant" else (b, a)
            return array_operand(ctx, kind, x, c.params["value"], x is a)
        if isinstance(a, Node) and isinstance(b, Node):
            return ctx.add(TENSOR_OPS[kind], [a, b], main=True)
        if not isinstance(a, Node) and not isinstance(b, Node):
            raise ctx.unsupported("an operation on constants only")
        tensor_first = isinstance(a, Node)
        x, c = (a, b) if tensor_first else (b, a)
        if not isinstance(c, int | float):
            return array_operand(ctx, kind, x, constant_array(ctx, c), tensor_first)
        c = float(c)
        if kind == "add":
            return scalar_affine(ctx, x, 1.0, c)
        if kind == "sub":
            return scalar_affine(ctx, x, 1.0, -c) if tensor_first else scalar_affine(ctx, x, -1.0, c)
        if kind == "mul":
            return scalar_affine(ctx, x, c, 0.0)
        if kind == "div":
            if not tensor_first:
                return elementwise(ctx, "Div", [c, x])
            return scalar_affine(ctx, x, 1.0 / c, 0.0)
        low, high = (c, np.inf) if kind == "max" else (-np.inf, c)  # maximum(x, c) / minimum(x, c)
        return ctx.add("Clip", [x], attrs={"min": low, "max": high}, main=True)

    return build


keras_op("Add")(binary("add"))
keras_op("Subtract")(binary("sub"))
keras_op("Multiply")(binary("mul"))
keras_op("Divide", "TrueDivide")(binary("div"))
keras_op("Maximum")(binary("max"))
keras_op("Minimum")(binary("min"))
keras_op("Tanh")(activation_op("tanh"))
keras_op("Exp")(activation_op("exponential"))


@keras_op("Negative")
def negative(ctx: LayerContext, inputs: list[Node]) -> Node:
    """``-x`` on a Keras tensor: an Affine with scale −1, which folds into its neighbours."""
    return scalar_affine(ctx, operand(ctx, inputs), -1.0, 0.0)


def array_operand(ctx: LayerContext, kind: str, x: Node, c: np.ndarray, tensor_first: bool) -> Node:
    """``x <kind> c`` with an array constant: a per-axis Affine when ``c`` only scales or shifts
    ``x`` along some of its axes (it folds like Keras's Rescaling), else the op on a Constant."""
    rank = len(x.shape)
    c = c.astype(np.float32)
    if c.ndim <= rank and kind in ("add", "sub", "mul", "div") and (kind != "div" or tensor_first):
        full = c.reshape((1,) * (rank - c.ndim) + c.shape)
        axes = tuple(i for i, d in enumerate(full.shape) if d != 1)
        if all(x.shape[i] == full.shape[i] for i in axes) and 0 not in axes and np.all(c != 0) | (kind != "div"):
            values = full.reshape([full.shape[i] for i in axes]) if axes else full.reshape(())
            one, zero = np.ones_like(values), np.zeros_like(values)
            scale, shift = {
                "add": (one, values),
                "sub": (one, -values) if tensor_first else (-one, values),
                "mul": (values, zero),
                "div": (1.0 / values if np.all(values != 0) else None, zero),
            }[kind]
            if scale is not None and axes:
                axis = axes[0] if len(axes) == 1 else axes
                attrs = {"axis": axis}
                return ctx.add("Affine", [x], attrs=attrs, params={"scale": scale, "shift": shift}, main=True)
            if scale is not None:
                return scalar_affine(ctx, x, float(scale), float(shift))
    op = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min"}[kind]
    if c.ndim < rank:  # the merge ops' lowering lays out operands of the tensor's rank
        c = c.reshape((1,) * (rank - c.ndim) + c.shape)
    return elementwise(ctx, op, [x, c] if tensor_first else [c, x])


def _args(ctx: LayerContext, n: int) -> list[Any]:
    """The call's first ``n`` positional arguments (missing ones None)."""
    args = list(ctx.args or [])
    return args + [None] * (n - len(args))


def _x(ctx: LayerContext) -> Node:
    return T.tensor(ctx, _args(ctx, 1)[0], "the first argument")


@keras_op("GetItem")
def get_item(ctx: LayerContext, inputs: list[Node]) -> Node:
    x, key = _args(ctx, 2)
    return T.getitem(ctx, T.tensor(ctx, x), key)


@keras_op("Reshape")
def reshape(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.reshape(ctx, _x(ctx), ctx.get("newshape", ctx.get("new_shape")))


@keras_op("Transpose")
def transpose(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.transpose(ctx, _x(ctx), ctx.get("axes"))


@keras_op("ExpandDims")
def expand_dims(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.expand_dims(ctx, _x(ctx), ctx.get("axis"))


@keras_op("Squeeze")
def squeeze(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.squeeze(ctx, _x(ctx), ctx.get("axis"))


@keras_op("Concatenate")
def concatenate(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.concatenate(ctx, _args(ctx, 1)[0], ctx.get("axis", 0))


@keras_op("Stack")
def stack(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.stack(ctx, _args(ctx, 1)[0], ctx.get("axis", 0))


@keras_op("Split")
def split(ctx: LayerContext, inputs: list[Node]) -> list[Node]:
    return T.split(ctx, _x(ctx), ctx.get("indices_or_sections"), ctx.get("axis", 0), sizes=False)


@keras_op("Tile")
def tile(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.tile(ctx, _x(ctx), ctx.get("repeats"))


@keras_op("Repeat")
def repeat(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.repeat(ctx, _x(ctx), ctx.get("repeats"), ctx.get("axis"))


@keras_op("Pad")
def pad(ctx: LayerContext, inputs: list[Node]) -> Node:
    value = (ctx.kwargs or {}).get("constant_values", ctx.get("constant_values"))
    return T.pad(ctx, _x(ctx), ctx.get("pad_width"), ctx.get("mode", "constant"), value)


@keras_op("Matmul")
def matmul(ctx: LayerContext, inputs: list[Node]) -> Node:
    a, b = _args(ctx, 2)
    return T.matmul(ctx, a, b)


@keras_op("Einsum")
def einsum(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.einsum(ctx, ctx.get("subscripts"), list(ctx.args or []))


@keras_op("Power")
def power(ctx: LayerContext, inputs: list[Node]) -> Node:
    a, b = _args(ctx, 2)
    return T.power(ctx, a, b)


@keras_op("Where")
def where(ctx: LayerContext, inputs: list[Node]) -> Node:
    cond, a, b = _args(ctx, 3)
    if a is None or b is None:
        raise ctx.unsupported("where(condition) without x and y (its size depends on the values)")
    return T.elementwise(ctx, "Where", [cond, a, b])


@keras_op("Clip")
def clip(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.clip(ctx, _x(ctx), ctx.get("x_min"), ctx.get("x_max"))


def _unary_op(op: str) -> LayerFn:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        return ctx.add(op, [operand(ctx, inputs)], main=True)

    return build


for _cls, _op in (
    ("Absolute", "Abs"),
    ("Sqrt", "Sqrt"),
    ("Log", "Log"),
    ("Square", "Square"),
    ("Sign", "Sign"),
    ("Floor", "Floor"),
    ("Ceil", "Ceil"),
    ("Reciprocal", "Reciprocal"),
    ("LogicalNot", "Not"),
):
    keras_op(_cls)(_unary_op(_op))


@keras_op("Round")
def round_(ctx: LayerContext, inputs: list[Node]) -> Node:
    if ctx.get("decimals", 0):
        raise ctx.unsupported(f"decimals={ctx.get('decimals')}", hint="round to whole numbers")
    return ctx.add("Round", [operand(ctx, inputs)], main=True)


def _compare(op: str) -> LayerFn:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        a, b = _args(ctx, 2)
        return T.elementwise(ctx, op, [a, b], dtype="bool")

    return build


for _cls, _op in (
    ("Greater", "Greater"),
    ("GreaterEqual", "GreaterOrEqual"),
    ("Less", "Less"),
    ("LessEqual", "LessOrEqual"),
    ("Equal", "Equal"),
    ("NotEqual", "NotEqual"),
    ("LogicalAnd", "And"),
    ("LogicalOr", "Or"),
):
    keras_op(_cls)(_compare(_op))


def _reduction(kind: str) -> LayerFn:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        return T.reduce(ctx, kind, _x(ctx), ctx.get("axis"), ctx.get("keepdims", False))

    return build


for _cls, _kind in (("Mean", "mean"), ("Sum", "sum"), ("Max", "max"), ("Min", "min"), ("Prod", "prod")):
    keras_op(_cls)(_reduction(_kind))


@keras_op("Argmax", "Argmin")
def arg_extreme(ctx: LayerContext, inputs: list[Node]) -> Node:
    op = "ArgMax" if ctx.class_name == "Argmax" else "ArgMin"
    return T.arg_extreme(ctx, op, _x(ctx), ctx.get("axis"), ctx.get("keepdims", False), "int32")
