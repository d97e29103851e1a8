"""Operations of ``keras.src.ops.math``, ``.core`` and ``.image``: ``erf``, ``rsqrt``, ``cast``
and ``image.resize`` called on tensors."""

from __future__ import annotations

from compiler.ir import Node

from ..layers.base import LayerContext
from . import tensors as T
from .base import keras_op, operand


@keras_op("Erf")
def erf(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Erf", [operand(ctx, inputs)], main=True)


@keras_op("Rsqrt")
def rsqrt(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Rsqrt", [operand(ctx, inputs)], main=True)


@keras_op("Cast")
def cast(ctx: LayerContext, inputs: list[Node]) -> Node:
    return T.cast(ctx, operand(ctx, inputs), ctx.get("dtype"))


@keras_op("Resize")
def resize(ctx: LayerContext, inputs: list[Node]) -> Node:
    if ctx.get("crop_to_aspect_ratio") or ctx.get("pad_to_aspect_ratio"):
        raise ctx.unsupported("crop_to_aspect_ratio/pad_to_aspect_ratio", hint="resize to a fixed size")
    if ctx.get("data_format") not in (None, "channels_last"):
        raise ctx.unsupported(f"data_format {ctx.get('data_format')}", hint="channels_last")
    x = operand(ctx, inputs)
    return T.resize(ctx, x, ctx.get("size"), ctx.get("interpolation", "bilinear"), ctx.get("antialias", False))
