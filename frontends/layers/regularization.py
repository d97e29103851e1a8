"""Regularization layers (keras/src/layers/regularization/): all of them act in training only,
so at inference each is the identity (Dropout keeps its rate for ``inspect``); every one but
Dropout itself is marked so that the pass removing it names it in the report."""

from __future__ import annotations

from typing import Any

from compiler.ir import Node

from .base import LayerContext, keras_layer


@keras_layer("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "AlphaDropout")
def dropout(ctx: LayerContext, inputs: list[Node]) -> Node:
    attrs: dict[str, Any] = {"rate": float(ctx.get("rate", 0.0))}
    if ctx.class_name != "Dropout":
        attrs["inference_noop"] = ctx.class_name
    return ctx.add("Dropout", inputs, attrs=attrs, main=True)


@keras_layer("GaussianNoise", "ActivityRegularization")
def inference_identity(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Identity", inputs, attrs={"inference_noop": ctx.class_name}, main=True)
