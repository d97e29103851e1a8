"""Merging layers (keras/src/layers/merging/): element-wise joins of two or more tensors, and
Concatenate."""

from __future__ import annotations

from compiler.ir import Node

from .base import (
    LayerContext,
    LayerFn,
    concatenated_mask,
    constant,
    keras_layer,
    mask_for,
    merged_mask,
    normalize_axis,
)


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
        x if m is None else ctx.add("Where", [mask_for(ctx, m, x), x, constant(ctx, 1.0, x.dtype)])
        for x, m in zip(inputs, ctx.masks, strict=False)
    ]
    if any(m is None for m in ctx.masks):
        ctx.output_masks = [None]
        return ctx.add("Mul", factors, main=True)
    union = ctx.add("Or", list(ctx.masks))
    product = ctx.add("Mul", factors)
    ctx.output_masks = [union]
    return ctx.add("Where", [mask_for(ctx, union, product), product, constant(ctx, 0.0, product.dtype)], main=True)


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


@keras_layer("Dot")
def dot(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Keras's ``batch_dot`` of two tensors over ``axes`` (one per input), the batch kept: two
    feature vectors give their inner product (batch, 1), two rank-3 tensors the matrix product
    with the contracted axes moved into place (PointNet's ``Dot(axes=(2, 1))`` is x @ T)."""
    if len(inputs) != 2:
        raise ctx.unsupported(f"{len(inputs)} inputs", hint="Dot takes exactly two")
    if ctx.get("normalize", False):
        raise ctx.unsupported("normalize=True", hint="put UnitNormalization on each input before Dot")
    x, y = inputs
    rx, ry = len(x.shape), len(y.shape)
    if (rx, ry) not in ((2, 2), (3, 3)):
        raise ctx.unsupported(f"inputs of rank {rx} and {ry}", hint="two rank-2 or two rank-3 tensors")
    axes = ctx.get("axes", -1)
    pair = (axes, axes) if isinstance(axes, int) else tuple(axes)
    if len(pair) != 2 or not all(isinstance(a, int) for a in pair):
        raise ctx.unsupported(f"axes {axes}", hint="an axis, or one per input")
    a, b = pair[0] % rx, pair[1] % ry
    if a == 0 or b == 0:
        raise ctx.unsupported(f"axes {axes} (the batch axis)", hint="contract a feature axis")
    if x.shape[a] is not None and y.shape[b] is not None and x.shape[a] != y.shape[b]:
        raise ctx.unsupported(f"axes {axes}: sizes {x.shape[a]} and {y.shape[b]} differ")
    if rx == 2:
        product = ctx.add("Mul", [x, y])
        return ctx.add("ReduceSum", [product], attrs={"axes": (1,), "keepdims": True}, main=True)
    if a == 1:  # contract x's rows: x^T
        x = ctx.add("Transpose", [x], attrs={"perm": (0, 2, 1)})
    if b == 2:  # contract y's columns: y^T
        y = ctx.add("Transpose", [y], attrs={"perm": (0, 2, 1)})
    return ctx.add("MatMul", [x, y], main=True)
