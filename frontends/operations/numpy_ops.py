"""Operations of ``keras.src.ops.numpy``: arithmetic on tensors (``x + 3.0``, ``x * y``,
``keras.ops.maximum``), ``-x``, and the element-wise functions that are activations.

Tensor-tensor arithmetic becomes the merge op; tensor-scalar arithmetic an Affine, which the
folding passes merge into the convolution or BatchNorm next to it.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import Node

from ..layers.base import LayerContext, LayerFn, scalar_affine
from .base import activation_op, keras_op, operand

#: binary kind -> the IR op for two tensors (division of two tensors has none yet)
TENSOR_OPS = {"add": "Add", "sub": "Sub", "mul": "Mul", "max": "Max", "min": "Min"}


def binary(kind: str) -> LayerFn:
    """``a <kind> b`` with a tensor on either side (``kind``: add, sub, mul, div, max, min)."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        args = ctx.args or []
        if len(args) != 2:
            raise ctx.unsupported(f"{len(args)} arguments")
        a, b = args
        if isinstance(a, Node) and isinstance(b, Node):
            op = TENSOR_OPS.get(kind)
            if op is None:
                raise ctx.unsupported("division of two tensors")
            return ctx.add(op, [a, b], main=True)
        if not isinstance(a, Node) and not isinstance(b, Node):
            raise ctx.unsupported("an operation on constants only")
        tensor_first = isinstance(a, Node)
        x, c = (a, b) if tensor_first else (b, a)
        if not isinstance(c, int | float):
            raise ctx.unsupported(f"constant operand {c!r} (only scalars are supported)")
        c = float(c)
        if kind == "add":
            return scalar_affine(ctx, x, 1.0, c)
        if kind == "sub":
            return scalar_affine(ctx, x, 1.0, -c) if tensor_first else scalar_affine(ctx, x, -1.0, c)
        if kind == "mul":
            return scalar_affine(ctx, x, c, 0.0)
        if kind == "div":
            if not tensor_first:
                raise ctx.unsupported("a constant divided by a tensor")
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
