"""Convolution layers (keras/src/layers/convolutional/), rank-generic as Keras's BaseConv is.

One definition per kind serves every rank: :func:`conv` is Conv1D/2D/3D, :func:`depthwise_conv`
DepthwiseConv1D/2D, :func:`separable_conv` SeparableConv1D/2D, :func:`conv_transpose`
Conv1DTranspose/Conv2DTranspose. Their window is read and checked once (:func:`conv_config`), their input
channels too (:func:`input_channels`). A 1-D convolution runs as the 2-D op on a height-1 image
(:func:`~.base.height1`), so TensorFlow's 'same' rule and the bias/BatchNorm folding are the 2-D
ones; its weights keep Keras's 1-D shapes (what a weights file holds) and gain a leading 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.errors import ShapeError
from compiler.ir import Node

from .base import (
    LayerContext,
    LayerFn,
    apply_activation,
    channels_last,
    height1,
    ints,
    keras_layer,
    known_channels,
    padding_mode,
    positive,
    with_bias,
)


@dataclass(frozen=True)
class ConvConfig:
    """The window of a convolution as its config states it, over ``rank`` spatial axes."""

    rank: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    padding: str

    @property
    def lifted(self) -> bool:
        """A 1-D convolution runs as the 2-D op on a height-1 image."""
        return self.rank == 1

    @property
    def op_rank(self) -> int:
        """The IR op's spatial axes: 2 for a 1-D convolution."""
        return max(self.rank, 2)

    def window(self) -> dict[str, Any]:
        """The IR op's strides and dilations (of the height-1 image for 1-D)."""
        lead = (1,) * (self.op_rank - self.rank)
        return {"strides": (*lead, *self.strides), "dilations": (*lead, *self.dilations)}

    def op_weights(self, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Weights in Keras's shapes as the IR op takes them: a 1-D kernel gains a height of 1."""
        if not self.lifted:
            return weights
        return {label: w if label == "bias" else w.reshape(1, *w.shape) for label, w in weights.items()}


def conv_config(ctx: LayerContext, rank: int, *, causal: bool = False, dilated_strides: bool = False) -> ConvConfig:
    """kernel_size, strides, dilation_rate and padding, as every Keras convolution spells them.

    Keras's BaseConv refuses strides > 1 together with dilation_rate > 1; ``dilated_strides``
    lets the kinds through that never checked it here (Keras 3's depthwise and separable
    convolutions do not check it either).
    """
    kernel = ints(ctx.get("kernel_size"), rank, "kernel_size", 1)
    strides = ints(ctx.get("strides", 1), rank, "strides", 1)
    dilations = ints(ctx.get("dilation_rate", 1), rank, "dilation_rate", 1)
    padding = padding_mode(ctx, causal=causal)
    if not dilated_strides and max(strides) > 1 and max(dilations) > 1:
        raise ctx.unsupported("strides > 1 together with dilation_rate > 1 (Keras rejects this too)")
    return ConvConfig(rank, kernel, strides, dilations, padding)


def input_channels(ctx: LayerContext, x: Node, groups: int = 1, filters: int | None = None) -> int:
    """The input's channel count, which the kernel is shaped by; ``groups`` must divide it and
    the filters."""
    channels = known_channels(ctx, x)
    if channels % groups or (filters is not None and filters % groups):
        raise ShapeError(
            f"groups={groups} must divide both {channels} input channels and {filters} filters",
            file=ctx.file,
            layer=ctx.name,
        )
    return channels


def _spatial(ctx: LayerContext, x: Node, cfg: ConvConfig, build: Callable[[Node], Node]) -> Node:
    """Run ``build`` on channels-last data with the op's spatial axes: the height-1 image for 1-D."""
    if cfg.lifted:
        return height1(ctx, x, build)
    return channels_last(ctx, x, build, cfg.rank + 2)


def _linear(
    ctx: LayerContext, cfg: ConvConfig, op: str, x: Node, attrs: dict[str, Any], specs: list, activate: bool = True
) -> Node:
    """The convolution op with its weights (the layer's output unless 1-D, where the Reshape back
    is), then its ``activation=`` unless the caller applies it later."""
    y = ctx.add(op, [x], attrs=attrs, params=cfg.op_weights(ctx.params(specs)), main=not cfg.lifted)
    return apply_activation(ctx, y, ctx.get("activation")) if activate else y


def conv(rank: int) -> LayerFn:
    """Conv1D/2D/3D: ``groups`` split the channels; 1-D 'causal' pads (k−1)·d zeros in front, as
    Keras does."""

    def convert(ctx: LayerContext, inputs: list[Node]) -> Node:
        (x,) = inputs
        filters = positive(ctx, "filters")
        groups = positive(ctx, "groups", 1)
        cfg = conv_config(ctx, rank, causal=rank == 1)

        def build(t: Node) -> Node:
            cin = input_channels(ctx, t, groups, filters)
            specs = with_bias(
                ctx, [("kernel", (*cfg.kernel, cin // groups, filters), ctx.get("kernel_initializer"))], filters
            )
            padding = cfg.padding
            if padding == "causal":
                t = ctx.add("Pad", [t], attrs={"pads": ((0, 0), ((cfg.kernel[0] - 1) * cfg.dilations[0], 0))})
                padding = "valid"
            attrs = {**cfg.window(), "group": groups, "padding": padding}
            return _linear(ctx, cfg, "Conv", t, attrs, specs, activate=not cfg.lifted)

        if cfg.lifted:  # Conv1D's activation runs on the steps, after the Reshape back from the image
            return height1(ctx, x, build, after=lambda y: apply_activation(ctx, y, ctx.get("activation")))
        return _spatial(ctx, x, cfg, build)

    return convert


def depthwise_conv(rank: int) -> LayerFn:
    """DepthwiseConv1D/2D: each input channel convolved with its own ``depth_multiplier`` filters."""

    def convert(ctx: LayerContext, inputs: list[Node]) -> Node:
        (x,) = inputs
        mult = positive(ctx, "depth_multiplier", 1)
        cfg = conv_config(ctx, rank, dilated_strides=rank > 1)

        def build(t: Node) -> Node:
            cin = input_channels(ctx, t)
            specs = with_bias(ctx, [("kernel", (*cfg.kernel, cin, mult), ctx.get("depthwise_initializer"))], cin * mult)
            return _linear(ctx, cfg, "DepthwiseConv", t, {**cfg.window(), "padding": cfg.padding}, specs)

        return _spatial(ctx, x, cfg, build)

    return convert


def separable_conv(rank: int) -> LayerFn:
    """SeparableConv1D/2D: a depthwise convolution (strides, padding, dilation) followed by a
    pointwise (1×1) one, which carries the bias and the activation."""

    def convert(ctx: LayerContext, inputs: list[Node]) -> Node:
        (x,) = inputs
        filters = positive(ctx, "filters")
        mult = positive(ctx, "depth_multiplier", 1)
        cfg = conv_config(ctx, rank, dilated_strides=rank > 1)

        def build(t: Node) -> Node:
            cin = input_channels(ctx, t)
            specs = with_bias(
                ctx,
                [
                    ("depthwise", (*cfg.kernel, cin, mult), ctx.get("depthwise_initializer")),
                    ("pointwise", (*(1,) * rank, cin * mult, filters), ctx.get("pointwise_initializer")),
                ],
                filters,
            )
            w = cfg.op_weights(ctx.params(specs))
            dw = ctx.add(
                "DepthwiseConv", [t], attrs={**cfg.window(), "padding": cfg.padding}, params={"kernel": w["depthwise"]}
            )
            pw_params = {"kernel": w["pointwise"], **({"bias": w["bias"]} if "bias" in w else {})}
            ones = (1,) * cfg.op_rank
            pw_attrs = {"strides": ones, "dilations": ones, "group": 1, "padding": "valid"}
            y = ctx.add("Conv", [dw], attrs=pw_attrs, params=pw_params, main=not cfg.lifted)
            return apply_activation(ctx, y, ctx.get("activation"))

        return _spatial(ctx, x, cfg, build)

    return convert


def conv_transpose(rank: int) -> LayerFn:
    """Conv1DTranspose/Conv2DTranspose: the gradient of a convolution; ``output_padding`` adds to
    the output's size, as Keras computes it. 1-D runs as the 2-D op on a height-1 image."""

    def convert(ctx: LayerContext, inputs: list[Node]) -> Node:
        (x,) = inputs
        filters = positive(ctx, "filters")
        cfg = conv_config(ctx, rank, dilated_strides=True)
        output_padding = ctx.get("output_padding")
        output_padding = None if output_padding is None else ints(output_padding, rank, "output_padding")
        if positive(ctx, "groups", 1) != 1:
            raise ctx.unsupported("groups > 1")

        def build(t: Node) -> Node:
            specs = with_bias(
                ctx,
                [("kernel", (*cfg.kernel, filters, input_channels(ctx, t)), ctx.get("kernel_initializer"))],
                filters,
            )
            extra = output_padding
            if extra is not None and cfg.lifted:  # the height-1 image's own axis gains nothing
                extra = (0, *extra)
            attrs = {**cfg.window(), "padding": cfg.padding, "output_padding": extra}
            return _linear(ctx, cfg, "ConvTranspose", t, attrs, specs)

        return _spatial(ctx, x, cfg, build)

    return convert


keras_layer("Conv1D", "Convolution1D")(conv(1))
keras_layer("Conv2D", "Convolution2D")(conv(2))
keras_layer("Conv3D", "Convolution3D")(conv(3))
keras_layer("DepthwiseConv1D")(depthwise_conv(1))
keras_layer("DepthwiseConv2D")(depthwise_conv(2))
keras_layer("SeparableConv1D", "SeparableConvolution1D")(separable_conv(1))
keras_layer("SeparableConv2D", "SeparableConvolution2D")(separable_conv(2))
keras_layer("Conv1DTranspose", "Convolution1DTranspose")(conv_transpose(1))
keras_layer("Conv2DTranspose", "Convolution2DTranspose")(conv_transpose(2))
