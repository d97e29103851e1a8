"""Operations of ``keras.src.ops.math``, ``.core`` and ``.image``: ``erf``, ``rsqrt``, ``cast``,
``image.resize`` and ``image.extract_patches`` called on tensors."""

from __future__ import annotations

import numpy as np

from compiler.ir import Node

from ..layers.base import LayerContext, ints, is_int, known_channels, padding_mode
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


@keras_op("ConvertToTensor")
def convert_to_tensor(ctx: LayerContext, inputs: list[Node]) -> Node:
    """A constant made a tensor (what a layer called on ``keras.ops.arange(n)`` in a custom
    layer's call reads): a Constant node, which the layer's ops then fold or gather from."""
    if inputs:
        return T.cast(ctx, inputs[0], ctx.get("dtype")) if ctx.get("dtype") else ctx.add("Identity", inputs, main=True)
    array = T.constant_array(ctx, ctx.args[0] if ctx.args else None)
    if ctx.get("dtype"):
        array = array.astype(str(ctx.get("dtype")))
    return ctx.add("Constant", [], params={"value": np.ascontiguousarray(array)}, main=True)


@keras_op("Resize")
def resize(ctx: LayerContext, inputs: list[Node]) -> Node:
    if ctx.get("crop_to_aspect_ratio") or ctx.get("pad_to_aspect_ratio"):
        raise ctx.unsupported("crop_to_aspect_ratio/pad_to_aspect_ratio", hint="resize to a fixed size")
    if ctx.get("data_format") not in (None, "channels_last"):
        raise ctx.unsupported(f"data_format {ctx.get('data_format')}", hint="channels_last")
    x = operand(ctx, inputs)
    return T.resize(ctx, x, ctx.get("size"), ctx.get("interpolation", "bilinear"), ctx.get("antialias", False))


@keras_op("ExtractPatches")
def extract_patches(ctx: LayerContext, inputs: list[Node]) -> Node:
    """``keras.ops.image.extract_patches`` (ViT's and MLP-Mixer's ``Patches``): Keras computes it as
    a convolution whose kernel is the identity reshaped to (h, w, C, h·w·C), so each output channel
    is one (row, column, channel) of the patch in that order; it is that Conv node here, which the
    passes may then fold with the projection after it."""
    x = operand(ctx, inputs)
    size = ctx.get("size")
    if not is_int(size) and len(size) != 2:
        raise ctx.unsupported(f"size {size} (3-D patches)", hint="2-D patches: size=p or (ph, pw)")
    if ctx.get("data_format") not in (None, "channels_last"):
        raise ctx.unsupported(f"data_format {ctx.get('data_format')}", hint="channels_last")
    if len(x.shape) != 4:
        raise ctx.unsupported(f"a rank-{len(x.shape)} input", hint="a batch of images (batch, height, width, channels)")
    ph, pw = ints(size, 2, "size", 1)
    strides = ints(ctx.get("strides") or (ph, pw), 2, "strides", 1)
    dilations = ints(ctx.get("dilation_rate", 1), 2, "dilation_rate", 1)
    channels = known_channels(ctx, x)
    n = ph * pw * channels
    kernel = np.eye(n, dtype=np.float32).reshape(ph, pw, channels, n)
    attrs = {"strides": strides, "dilations": dilations, "group": 1, "padding": padding_mode(ctx)}
    return ctx.add("Conv", [x], attrs=attrs, params={"kernel": kernel}, main=True)
