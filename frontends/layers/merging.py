"""Merging layers (keras/src/layers/merging/): element-wise joins of two or more tensors, and
Concatenate."""

from __future__ import annotations

from compiler.ir import Node

from .base import LayerContext, LayerFn, keras_layer, normalize_axis


def _merge(op: str) -> LayerFn:
    """A Keras merge layer as the n-ary IR op of the same meaning."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        if len(inputs) < 2:
            raise ctx.unsupported(f"needs at least 2 inputs, got {len(inputs)}")
        return ctx.add(op, inputs, main=True)

    return build


keras_layer("Add")(_merge("Add"))
keras_layer("Subtract")(_merge("Sub"))
keras_layer("Multiply")(_merge("Mul"))
keras_layer("Maximum")(_merge("Max"))
keras_layer("Minimum")(_merge("Min"))
keras_layer("Average")(_merge("Mean"))


@keras_layer("Concatenate")
def concatenate(ctx: LayerContext, inputs: list[Node]) -> Node:
    axis = normalize_axis(ctx, ctx.get("axis", -1), len(inputs[0].shape))
    if axis == 0:
        raise ctx.unsupported("concatenation along the batch axis")
    return ctx.add("Concat", inputs, attrs={"axis": axis}, main=True)
