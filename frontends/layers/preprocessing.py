"""Preprocessing layers (keras/src/layers/preprocessing/) that are part of inference:
Rescaling and Normalization (a per-channel Affine, which folds) and Resizing; and the
augmentation layers, which are not: they compile to nothing, and the report says so.
RandomCrop is the identity in Keras 3 at inference and tf.keras's centred crop and resize."""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.ir import Node

from .base import LayerContext, channels_last, keras_layer, normalize_axis, positive


def config_array(value: Any) -> Any:
    """A config value as written: Keras serializes arrays as {"class_name": "__numpy__"|"__tensor__", ...}."""
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        return np.asarray(value["config"]["value"], dtype=np.float64)
    return value


def _per_channel(ctx: LayerContext, value: Any, channels: int, what: str) -> np.ndarray:
    arr = np.asarray(config_array(value), dtype=np.float64).reshape(-1)
    if arr.size == 1:
        return np.full(channels, arr[0])
    if arr.size != channels:
        raise ctx.unsupported(f"{what} has {arr.size} values for {channels} channels")
    return arr


@keras_layer("Rescaling")
def rescaling(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    channels = x.shape[-1]
    scale = _per_channel(ctx, ctx.get("scale", 1.0), channels, "scale")
    offset = _per_channel(ctx, ctx.get("offset", 0.0), channels, "offset")
    params = {"scale": scale.astype(np.float32), "shift": offset.astype(np.float32)}
    return ctx.add("Affine", [x], attrs={"axis": len(x.shape) - 1}, params=params, main=True)


def _kept_axes(ctx: LayerContext, x: Node) -> tuple[int, ...]:
    """Normalization's ``axis``: the axes that keep their own statistics (None: one for all)."""
    axis = ctx.get("axis", -1)
    axes = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    rank = len(x.shape)
    kept = tuple(sorted({normalize_axis(ctx, a, rank) for a in axes}))
    if len(kept) != len(axes) or 0 in kept:
        raise ctx.unsupported(f"axis {axis!r}", hint="name each non-batch axis at most once")
    if any(x.shape[d] is None for d in kept):
        raise ctx.unsupported(f"axis {axis!r} over an axis of unknown size (Keras needs it known too)")
    return kept


def _statistic(ctx: LayerContext, value: Any, sizes: tuple[int, ...], what: str) -> np.ndarray:
    """A configured mean/variance broadcast to the kept axes, as Keras broadcasts it."""
    arr = np.asarray(config_array(value), dtype=np.float64)
    try:
        return np.broadcast_to(arr, sizes)
    except ValueError:
        raise ctx.unsupported(f"{what} of shape {arr.shape} does not broadcast to the kept axes' {sizes}") from None


@keras_layer("Normalization")
def normalization(ctx: LayerContext, inputs: list[Node]) -> Node:
    """(x − mean) / max(√var, 1e-7), or its inverse (Keras's epsilon is 1e-7), with statistics
    per position of the kept ``axis`` (one axis, several, or none: a single pair)."""
    (x,) = inputs
    kept = _kept_axes(ctx, x)
    sizes = tuple(x.shape[d] for d in kept)
    if config_array(ctx.get("mean")) is not None:
        mean = _statistic(ctx, ctx.get("mean"), sizes, "mean")
        var = _statistic(ctx, ctx.get("variance"), sizes, "variance")
    else:
        w = ctx.params([("mean", sizes, "zeros"), ("variance", sizes, "ones"), ("count", (), "zeros")])
        mean, var = w["mean"].astype(np.float64), w["variance"].astype(np.float64)
    std = np.maximum(np.sqrt(var), 1e-7)
    if ctx.get("invert", False):
        scale, shift = std, mean
    else:
        scale, shift = 1.0 / std, -mean / std
    if not kept:  # one statistic for the whole tensor: per channel, all equal, so it folds
        channels = x.shape[-1]
        if channels is None:
            raise ctx.unsupported("axis=None on a tensor whose last dimension is unknown")
        scale, shift, kept = np.full(channels, scale), np.full(channels, shift), (len(x.shape) - 1,)
    params = {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)}
    axis = kept[0] if len(kept) == 1 else kept
    return ctx.add("Affine", [x], attrs={"axis": axis}, params=params, main=True)


#: TensorFlow's bicubic resize reads its Keys kernel from a 1024-entry table, about 1e-3 off the
#: exact kernel ONNX's cubic mode computes; area and lanczos have no ONNX counterpart.
RESIZE_MODES = ("nearest", "bilinear")


def _aspect_box(size: int, other: int, target: int, target_other: int, grow: bool) -> tuple[int, int]:
    """(start, extent) of Keras's centred crop (or pad) box on one axis, in its float32 arithmetic."""
    extent = int(np.float32(other * target) / np.float32(target_other))
    extent = max(size, extent) if grow else max(min(size, extent), 1)
    start = int(np.float32(abs(extent - size)) / np.float32(2))
    return start, extent


@keras_layer("Resizing")
def resizing(ctx: LayerContext, inputs: list[Node]) -> Node:
    """TensorFlow's image resize to a fixed size (pixel centres, no antialias), optionally after
    Keras's centred crop or zero pad to the target's aspect ratio."""
    height, width = positive(ctx, "height"), positive(ctx, "width")
    mode = str(ctx.get("interpolation", "bilinear")).lower()
    if mode not in RESIZE_MODES:
        raise ctx.unsupported(f"interpolation '{mode}'", hint="supported: " + ", ".join(RESIZE_MODES))
    if ctx.get("antialias"):
        raise ctx.unsupported("antialias=True", hint="use antialias=False")
    crop, pad = bool(ctx.get("crop_to_aspect_ratio")), bool(ctx.get("pad_to_aspect_ratio"))
    if pad and (ctx.get("fill_mode", "constant") != "constant" or float(ctx.get("fill_value", 0.0) or 0.0) != 0.0):
        raise ctx.unsupported("pad_to_aspect_ratio with a fill other than constant 0")

    def build(t: Node) -> Node:
        h, w = t.shape[1:3]
        if (crop or pad) and None in (h, w):
            raise ctx.unsupported("crop_to_aspect_ratio/pad_to_aspect_ratio on an image of unknown size")
        if crop or pad:
            (hs, he), (ws, we) = (_aspect_box(h, w, height, width, pad), _aspect_box(w, h, width, height, pad))
            if pad:
                edges = ((hs, he - h - hs), (ws, we - w - ws))
                t = ctx.add("Pad", [t], attrs={"pads": edges}) if any(map(any, edges)) else t
            else:
                edges = ((hs, h - hs - he), (ws, w - ws - we))
                t = ctx.add("Crop", [t], attrs={"crops": edges}) if any(map(any, edges)) else t
        return ctx.add("Resize", [t], attrs={"size": (height, width), "mode": mode, "scale": None}, main=True)

    return channels_last(ctx, inputs[0], build)


#: Augmentation layers that return their input unchanged at inference (``training=False``), in
#: Keras 3 and, for the first eight, tf.keras too; RandomHeight and RandomWidth are tf.keras's.
#: Whatever their config says (``factor``, ``seed``, ``value_range``, ``fill_mode``, ``interpolation``,
#: ``data_format``, …) only matters in training.
AUGMENTATIONS = (
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "RandomHeight",
    "RandomWidth",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "AugMix",
    "CutMix",
    "MixUp",
    "RandAugment",
)


def inference_noop(ctx: LayerContext, x: Node) -> Node:
    """The identity, marked with the layer's class so the pass that removes it names it."""
    return ctx.add("Identity", [x], attrs={"inference_noop": ctx.class_name}, main=True)


@keras_layer(*AUGMENTATIONS)
def augmentation(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Random augmentation, applied only in training."""
    return inference_noop(ctx, inputs[0])


@keras_layer("RandomCrop")
def random_crop(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Keras 3 crops only in training: at inference its output is its input, whatever size its
    config names (``model.predict`` returns the uncropped image). tf.keras crops the largest
    centred box of the target's aspect ratio and resizes it (bilinear) to (height, width)."""
    height, width = positive(ctx, "height"), positive(ctx, "width")
    if ctx.keras_major >= 3:
        return inference_noop(ctx, inputs[0])

    def build(t: Node) -> Node:
        h, w = t.shape[1:3]
        if None in (h, w):
            raise ctx.unsupported("an image of unknown size (tf.keras crops it to the target's aspect ratio)")
        (hs, he), (ws, we) = _aspect_box(h, w, height, width, False), _aspect_box(w, h, width, height, False)
        edges = ((hs, h - hs - he), (ws, w - ws - we))
        if (he, we) == (height, width):
            return ctx.add("Crop", [t], attrs={"crops": edges}, main=True) if any(map(any, edges)) else t
        t = ctx.add("Crop", [t], attrs={"crops": edges}) if any(map(any, edges)) else t
        return ctx.add("Resize", [t], attrs={"size": (height, width), "mode": "bilinear", "scale": None}, main=True)

    out = channels_last(ctx, inputs[0], build)
    return out if out is not inputs[0] else inference_noop(ctx, out)
