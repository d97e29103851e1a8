"""Pooling layers (keras/src/layers/pooling/): max and average windows over 1, 2 or 3 spatial
axes, and their global forms."""

from __future__ import annotations

from compiler.ir import Node

from .base import (
    LAYOUTS,
    LayerContext,
    LayerFn,
    channels_last,
    expect_rank,
    height1,
    ints,
    keras_layer,
    mask_for,
    padding_mode,
)


def _pool(op: str, rank: int = 4) -> LayerFn:
    """Max/average pooling over 1, 2 or 3 spatial axes; 1-D runs as the 2-D op on a height-1
    image (:func:`~.base.height1`), so TensorFlow's 'same' rule and the padding merges are the 2-D ones."""
    n = rank - 2

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        kernel = ints(ctx.get("pool_size", 2), n, "pool_size", 1)
        strides = ctx.get("strides")
        strides = kernel if strides is None else ints(strides, n, "strides", 1)
        attrs = {"window": kernel, "strides": strides, "padding": padding_mode(ctx)}
        if n == 1:
            attrs.update(window=(1, *kernel), strides=(1, *strides))
            return height1(ctx, inputs[0], lambda t: ctx.add(op, [t], attrs=attrs))
        return channels_last(ctx, inputs[0], lambda t: ctx.add(op, [t], attrs=attrs, main=True), rank)

    return build


keras_layer("MaxPooling1D", "MaxPool1D")(_pool("MaxPool", 3))
keras_layer("MaxPooling2D", "MaxPool2D")(_pool("MaxPool"))
keras_layer("MaxPooling3D", "MaxPool3D")(_pool("MaxPool", 5))
keras_layer("AveragePooling1D", "AvgPool1D")(_pool("AveragePool", 3))
keras_layer("AveragePooling2D", "AvgPool2D")(_pool("AveragePool"))
keras_layer("AveragePooling3D", "AvgPool3D")(_pool("AveragePool", 5))


def _global_pool(op: str, rank: int = 4) -> LayerFn:
    """The mean or max over every spatial axis, per channel; ``keepdims`` keeps them as size 1."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        keep = bool(ctx.get("keepdims", False))
        expect_rank(ctx, inputs[0], rank, LAYOUTS[rank])
        ctx.output_masks = [None]  # a global pool consumes the mask
        mask = ctx.masks[0] if ctx.masks else None
        if mask is not None and op == "GlobalAveragePool" and rank == 3:
            return masked_average(ctx, inputs[0], mask, keep)
        if ctx.get("data_format", "channels_last") == "channels_first":
            x = ctx.add("Transpose", inputs, attrs={"perm": (0, *range(2, rank), 1)})
            y = ctx.add(op, [x], attrs={"keepdims": keep}, main=not keep)
            back = (0, rank - 1, *range(1, rank - 1))
            return ctx.add("Transpose", [y], attrs={"perm": back}, main=True) if keep else y
        return ctx.add(op, inputs, attrs={"keepdims": keep}, main=True)

    return build


def masked_average(ctx: LayerContext, x: Node, mask: Node, keep: bool) -> Node:
    """GlobalAveragePooling1D with a mask, as Keras 3 computes it: the sum over unmasked steps
    (masked ones replaced by 0) divided by their count, so an all-masked sample gives 0/0."""
    first = ctx.get("data_format", "channels_last") == "channels_first"
    if first:  # (batch, channels, steps): the mask is over the last axis
        x = ctx.add("Transpose", [x], attrs={"perm": (0, 2, 1)})
    steps = mask_for(ctx, mask, x)
    kept = ctx.add("Where", [steps, x], attrs={"other": 0.0})
    total = ctx.add("ReduceSum", [kept], attrs={"axis": 1, "keepdims": keep})
    weights = ctx.add("Cast", [steps], attrs={"to": "float32"})
    count = ctx.add("ReduceSum", [weights], attrs={"axis": 1, "keepdims": keep})
    if first and keep:
        y = ctx.add("Div", [total, count])
        return ctx.add("Transpose", [y], attrs={"perm": (0, 2, 1)}, main=True)
    return ctx.add("Div", [total, count], main=True)


for _rank, _suffix in ((3, "1D"), (4, "2D"), (5, "3D")):
    keras_layer(f"GlobalAveragePooling{_suffix}", f"GlobalAvgPool{_suffix}")(_global_pool("GlobalAveragePool", _rank))
    keras_layer(f"GlobalMaxPooling{_suffix}", f"GlobalMaxPool{_suffix}")(_global_pool("GlobalMaxPool", _rank))
