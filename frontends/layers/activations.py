"""Activation layers (keras/src/layers/activations/): Activation, ReLU, LeakyReLU, ELU, Softmax, PReLU.

An ``activation=`` argument of any layer is :func:`~.base.apply_activation`; these are the
layers that are nothing but an activation, with their own knobs.
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.ir import Node

from .base import LayerContext, apply_activation, keras_layer, normalize_axis, whole


def keras_relu(ctx: LayerContext, x: Node, negative_slope: float, max_value: float | None, threshold: float) -> Node:
    """Keras's ReLU with all three knobs, mapped to the plainest op that is exact."""
    negative_slope = float(negative_slope or 0.0)
    threshold = float(threshold or 0.0)
    max_value = None if max_value is None else float(max_value)
    if threshold == 0.0 and negative_slope == 0.0:
        if max_value is None:
            return ctx.add("Relu", [x], main=True)
        return ctx.add("Clip", [x], attrs={"min": 0.0, "max": max_value}, main=True)
    if threshold == 0.0 and max_value is None:
        return ctx.add("LeakyRelu", [x], attrs={"alpha": negative_slope}, main=True)
    attrs = {"negative_slope": negative_slope, "max_value": max_value, "threshold": threshold}
    return ctx.add("KerasRelu", [x], attrs=attrs, main=True)


@keras_layer("Activation")
def activation(ctx: LayerContext, inputs: list[Node]) -> Node:
    return apply_activation(ctx, inputs[0], ctx.get("activation"), main=True)


@keras_layer("ReLU")
def relu(ctx: LayerContext, inputs: list[Node]) -> Node:
    return keras_relu(ctx, inputs[0], ctx.get("negative_slope", 0.0), ctx.get("max_value"), ctx.get("threshold", 0.0))


@keras_layer("LeakyReLU")
def leaky_relu(ctx: LayerContext, inputs: list[Node]) -> Node:
    default = 0.3  # both Keras generations default to 0.3 for the layer
    slope = ctx.get("negative_slope", ctx.get("alpha", default))
    return ctx.add("LeakyRelu", inputs, attrs={"alpha": float(slope)}, main=True)


@keras_layer("ELU")
def elu(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Elu", inputs, attrs={"alpha": float(ctx.get("alpha", 1.0))}, main=True)


@keras_layer("Softmax")
def softmax(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Softmax over one axis or, as both Keras generations allow, several at once (one
    distribution over all their positions). A ``mask`` call argument is refused by the caller
    that passes it; the layer's own config has none."""
    axis, rank = ctx.get("axis", -1), len(inputs[0].shape)
    if isinstance(axis, Sequence) and not isinstance(axis, str) and len(axis) > 1:
        axes = sorted({normalize_axis(ctx, a, rank) for a in axis})
        if len(axes) != len(axis) or axes[0] < 1:
            raise ctx.unsupported(f"axis {axis!r:.60}", hint="distinct non-batch axes")
        return ctx.add("Softmax", inputs, attrs={"axis": tuple(axes)}, main=True)
    return ctx.add("Softmax", inputs, attrs={"axis": normalize_axis(ctx, axis, rank)}, main=True)


@keras_layer("PReLU")
def prelu(ctx: LayerContext, inputs: list[Node]) -> Node:
    """max(x, 0) + α·min(x, 0) with α learned per element of the sample, shared along
    ``shared_axes`` (1 there, as Keras builds it)."""
    (x,) = inputs
    shape = list(x.shape[1:])
    shared = ctx.get("shared_axes")
    shared = [] if shared is None else ([shared] if isinstance(shared, int) else list(shared))
    for axis in shared:
        axis = whole(axis, "shared_axes")
        if not 1 <= axis <= len(shape):
            raise ctx.unsupported(f"shared_axes {shared} (axes count from 1, the batch is 0)")
        shape[axis - 1] = 1
    if None in shape:
        raise ctx.unsupported("a slope over an axis of unknown size", hint="share it: shared_axes=[...]")
    alpha = ctx.params([("alpha", tuple(shape), ctx.get("alpha_initializer", "zeros"))])
    return ctx.add("PRelu", [x], params={"alpha": alpha["alpha"]}, main=True)
