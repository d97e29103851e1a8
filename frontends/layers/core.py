"""Core layers (keras/src/layers/core/): Dense, and Lambda, which is refused."""

from __future__ import annotations

from compiler.errors import ShapeError
from compiler.ir import Node

from .base import LayerContext, keras_layer, linear_layer, positive, with_bias


@keras_layer("Dense")
def dense(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    units = positive(ctx, "units")
    fan_in = x.shape[-1]
    if fan_in is None:
        raise ShapeError("Dense needs a known last dimension", file=ctx.file, layer=ctx.name)
    specs = with_bias(ctx, [("kernel", (fan_in, units), ctx.get("kernel_initializer"))], units)
    return linear_layer(ctx, "Dense", x, {}, specs)


@keras_layer("Lambda")
def lambda_layer(ctx: LayerContext, inputs: list[Node]) -> Node:
    """A Lambda holds Python code (often pickled bytecode); a compiler cannot read it safely."""
    raise ctx.unsupported(
        "not supported: a Lambda holds Python code, which kerascc never runs from a model file "
        "(Keras's safe_mode refuses it too)",
        hint="build the computation from Keras layers (Rescaling, Multiply, Add, Activation, Reshape, "
        "Permute, Resizing …) or keras.ops calls on the tensors (x * 2.0, keras.ops.maximum(x, y), "
        "keras.ops.gelu …), which the model file records",
    )
