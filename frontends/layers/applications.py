"""Layers that keras.applications defines in its model modules (keras/src/applications/):
InceptionResNetV2's CustomScaleLayer, ConvNeXt's LayerScale and StochasticDepth."""

from __future__ import annotations

import numpy as np

from compiler.ir import Node

from .base import LayerContext, keras_layer, scalar_affine, whole


@keras_layer("CustomScaleLayer")
def custom_scale(ctx: LayerContext, inputs: list[Node]) -> Node:
    """InceptionResNetV2's residual join: x + scale·r."""
    if len(inputs) != 2:
        raise ctx.unsupported(f"{len(inputs)} inputs (it joins a shortcut and a residual)")
    x, r = inputs
    scaled = scalar_affine(ctx, r, float(ctx.get("scale")), 0.0, main=False)
    return ctx.add("Add", [x, scaled], main=True)


@keras_layer("LayerScale")
def layer_scale(ctx: LayerContext, inputs: list[Node]) -> Node:
    """ConvNeXt's LayerScale: x · γ per channel."""
    (x,) = inputs
    n = (whole(ctx.get("projection_dim", x.shape[-1]), "projection_dim", 1),)
    gamma = ctx.params([("gamma", n, {"class_name": "Constant", "config": {"value": ctx.get("init_values", 1e-6)}})])
    params = {"scale": gamma["gamma"], "shift": np.zeros(n, np.float32)}
    return ctx.add("Affine", [x], attrs={"axis": len(x.shape) - 1}, params=params, main=True)


@keras_layer("StochasticDepth")
def stochastic_depth(ctx: LayerContext, inputs: list[Node]) -> Node:
    """ConvNeXt's StochasticDepth drops residual paths in training only: the identity at inference."""
    return ctx.add("Identity", inputs, main=True)
