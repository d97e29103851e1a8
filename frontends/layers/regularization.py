"""Regularization layers (keras/src/layers/regularization/): all of them act in training only,
so at inference each is the identity (Dropout keeps its rate for ``inspect``)."""

from __future__ import annotations

from compiler.ir import Node

from .base import LayerContext, keras_layer


@keras_layer("Dropout", "SpatialDropout2D", "SpatialDropout1D", "GaussianDropout", "AlphaDropout")
def dropout(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Dropout", inputs, attrs={"rate": float(ctx.get("rate", 0.0))}, main=True)


@keras_layer("GaussianNoise", "ActivityRegularization")
def inference_identity(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Identity", inputs, main=True)
