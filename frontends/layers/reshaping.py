"""Reshaping layers (keras/src/layers/reshaping/): zero padding, cropping and upsampling of 1, 2
or 3 spatial axes, Flatten, Reshape, Permute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compiler.ir import Node

from .base import LayerContext, LayerFn, channels_last, ints, keras_layer, pair, whole


def spatial_padding(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D's padding: int, (sym_h, sym_w) or ((top, bottom), (left, right))."""
    if isinstance(value, int):
        return ((value, value), (value, value))
    h, w = value
    return (pair(h, "padding"), pair(w, "padding"))


def _edge_pairs(ctx: LayerContext, value: Any, n: int, key: str) -> tuple[tuple[int, int], ...]:
    """ZeroPadding/Cropping amounts: an int, one int per axis, or a (before, after) pair per axis;
    1-D layers take an int or one (before, after) pair."""
    if n == 1:
        return (ints(value, 2, key),)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != n:
        raise ctx.unsupported(f"{key} {value!r:.60} (expects an int, {n} ints or {n} (before, after) pairs)")
    return tuple(ints(v, 2, key) for v in value)


def _edges(op: str, key: str, rank: int, default: Any) -> LayerFn:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        edges = _edge_pairs(ctx, ctx.get(key, default), rank - 2, key)
        attrs = {"pads" if op == "Pad" else "crops": edges}
        return channels_last(ctx, inputs[0], lambda t: ctx.add(op, [t], attrs=attrs, main=True), rank)

    return build


@keras_layer("ZeroPadding2D")
def zero_padding(ctx: LayerContext, inputs: list[Node]) -> Node:
    pads = spatial_padding(ctx.get("padding", 1))
    return channels_last(ctx, inputs[0], lambda t: ctx.add("Pad", [t], attrs={"pads": pads}, main=True))


@keras_layer("Cropping2D")
def cropping2d(ctx: LayerContext, inputs: list[Node]) -> Node:
    crops = spatial_padding(ctx.get("cropping", ((0, 0), (0, 0))))
    return channels_last(ctx, inputs[0], lambda t: ctx.add("Crop", [t], attrs={"crops": crops}, main=True))


keras_layer("ZeroPadding1D")(_edges("Pad", "padding", 3, 1))
keras_layer("ZeroPadding3D")(_edges("Pad", "padding", 5, 1))
keras_layer("Cropping1D")(_edges("Crop", "cropping", 3, (1, 1)))
keras_layer("Cropping3D")(_edges("Crop", "cropping", 5, 1))


@keras_layer("UpSampling2D")
def upsampling(ctx: LayerContext, inputs: list[Node]) -> Node:
    scale = pair(ctx.get("size", 2), "size", 1)
    mode = str(ctx.get("interpolation", "nearest"))
    if mode not in ("nearest", "bilinear"):
        raise ctx.unsupported(f"interpolation '{mode}'", hint="supported: nearest, bilinear")
    attrs = {"scale": scale, "mode": mode}
    return channels_last(ctx, inputs[0], lambda t: ctx.add("Resize", [t], attrs=attrs, main=True))


def _upsampling(rank: int) -> LayerFn:
    """UpSampling1D/3D repeat every step (voxel) ``size`` times: nearest-neighbour resizing."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        scale = ints(ctx.get("size", 2), rank - 2, "size", 1)
        attrs = {"scale": scale, "mode": "nearest"}
        return channels_last(ctx, inputs[0], lambda t: ctx.add("Resize", [t], attrs=attrs, main=True), rank)

    return build


keras_layer("UpSampling1D")(_upsampling(3))
keras_layer("UpSampling3D")(_upsampling(5))


@keras_layer("Flatten")
def flatten(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    if ctx.get("data_format", "channels_last") == "channels_first" and len(x.shape) > 2:
        perm = (0, *range(2, len(x.shape)), 1)
        x = ctx.add("Transpose", [x], attrs={"perm": perm})
    return ctx.add("Flatten", [x], main=True)


@keras_layer("Reshape")
def reshape(ctx: LayerContext, inputs: list[Node]) -> Node:
    target = tuple(whole(d, "target_shape", -1) for d in ctx.get("target_shape"))
    return ctx.add("Reshape", inputs, attrs={"shape": target}, main=True)


@keras_layer("Permute")
def permute(ctx: LayerContext, inputs: list[Node]) -> Node:
    dims = tuple(whole(d, "dims", 1) for d in ctx.get("dims"))
    return ctx.add("Transpose", inputs, attrs={"perm": (0, *dims)}, main=True)


@keras_layer("RepeatVector")
def repeat_vector(ctx: LayerContext, inputs: list[Node]) -> Node:
    """(batch, features) → (batch, n, features): the vector as one step, tiled n times."""
    (x,) = inputs
    if len(x.shape) != 2:
        raise ctx.unsupported(f"an input of shape {x.shape} (RepeatVector takes (batch, features))")
    n = whole(ctx.get("n"), "n", 1)
    features = -1 if x.shape[1] is None else x.shape[1]
    step = ctx.add("Reshape", [x], attrs={"shape": (1, features)})
    return ctx.add("Tile", [step], attrs={"repeats": (1, n, 1)}, main=True)
