"""Merging layers (keras/src/layers/merging/): element-wise joins of two or more tensors, and
Concatenate."""

from __future__ import annotations

from compiler.ir import Node

from .base import LayerContext, LayerFn, concatenated_mask, keras_layer, mask_for, merged_mask, normalize_axis


def _merge(op: str) -> LayerFn:
    """A Keras merge layer as the n-ary IR op of the same meaning.

    Keras 3 multiplies, and takes maxima and minima, around masked steps (its
    ``Multiply._merge_function`` and ``Merge._apply_merge_op_and_or_mask``); Add, Subtract and
    Average, and every tf.keras merge, compute on the values as they are.
    """

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        if len(inputs) < 2:
            raise ctx.unsupported(f"needs at least 2 inputs, got {len(inputs)}")
        if ctx.keras_major >= 3 and any(m is not None for m in ctx.masks):
            if op == "Mul":
                return _masked_product(ctx, inputs)
            if op in ("Max", "Min"):
                return _masked_extreme(ctx, op, inputs)
        out = ctx.add(op, inputs, main=True)
        ctx.output_masks = [merged_mask(ctx)]
        return out

    return build


def _masked_product(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Masked steps count as 1; when every input is masked the union of the masks is the output's
    mask and the steps outside it are 0."""
    factors = [
        x if m is None else ctx.add("Where", [mask_for(ctx, m, x), x], attrs={"other": 1.0})
        for x, m in zip(inputs, ctx.masks, strict=False)
    ]
    if any(m is None for m in ctx.masks):
        ctx.output_masks = [None]
        return ctx.add("Mul", factors, main=True)
    union = ctx.add("Or", list(ctx.masks))
    product = ctx.add("Mul", factors)
    ctx.output_masks = [union]
    return ctx.add("Where", [mask_for(ctx, union, product), product], attrs={"other": 0.0}, main=True)


def _masked_extreme(ctx: LayerContext, op: str, inputs: list[Node]) -> Node:
    """Keras 3's running maximum (minimum): a masked step of either side takes the other side's
    value before the two are compared; the output is masked while every input is."""
    out, out_mask = inputs[0], ctx.masks[0]
    for i, (x, m) in enumerate(zip(inputs[1:], ctx.masks[1:], strict=False), 1):
        if m is not None:
            x = ctx.add("Where", [mask_for(ctx, m, x), x, out])
        if out_mask is not None:
            out = ctx.add("Where", [mask_for(ctx, out_mask, out), out, x])
        out_mask = ctx.add("Or", [out_mask, m]) if m is not None and out_mask is not None else None
        out = ctx.add(op, [out, x], main=i == len(inputs) - 1)
    ctx.output_masks = [out_mask]
    return out


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
    out = ctx.add("Concat", inputs, attrs={"axis": axis}, main=True)
    ctx.output_masks = [concatenated_mask(ctx, inputs, axis)]
    return out
