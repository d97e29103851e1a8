"""Core layers (keras/src/layers/core/): Dense, Embedding, Masking, and Lambda, which is refused."""

from __future__ import annotations

from compiler.errors import ShapeError
from compiler.ir import Node

from .base import LayerContext, keras_layer, linear_layer, positive, with_bias, zero_masked


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


@keras_layer("Embedding")
def embedding(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Rows of the embedding table by integer id, an ONNX Gather.

    Keras casts non-integer ids to int32 first (so 2.7 is row 2). Ids in [-input_dim, input_dim)
    pick a row, negative ones counted from the end as Keras's ``ops.take`` does; onnxruntime
    refuses any other id at run time (TensorFlow on CPU does too). ``mask_zero`` makes the mask
    ids != 0.
    """
    (ids,) = inputs
    input_dim = positive(ctx, "input_dim")
    output_dim = positive(ctx, "output_dim")
    if ids.dtype not in ("int32", "int64"):
        ids = ctx.add("Cast", [ids], attrs={"to": "int32"})
    init = ctx.get("embeddings_initializer") or {"class_name": "RandomUniform", "config": {}}
    table = ctx.params([("embeddings", (input_dim, output_dim), init)])["embeddings"]
    out = ctx.add("Gather", [ids], params={"table": table}, main=True)
    if ctx.get("mask_zero", False):
        ctx.output_masks = [ctx.add("NotEqual", [ids], attrs={"value": 0})]
    else:
        ctx.output_masks = [None]
    return out


@keras_layer("Masking")
def masking(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Steps whose every feature equals ``mask_value`` are masked, and set to 0 (Keras's
    ``ops.where(any(x != mask_value, -1), x, 0)``)."""
    (x,) = inputs
    value = ctx.get("mask_value", 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.unsupported(f"mask_value {value!r:.40} (a number is supported)")
    differs = ctx.add("NotEqual", [x], attrs={"value": float(value)})
    mask = ctx.add("ReduceAny", [differs], attrs={"axis": len(x.shape) - 1, "keepdims": False})
    out = zero_masked(ctx, x, mask, main=True)
    ctx.output_masks = [mask]
    return out
