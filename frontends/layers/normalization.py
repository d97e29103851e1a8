"""Normalization layers (keras/src/layers/normalization/): BatchNormalization with its moving
statistics, LayerNormalization over the last axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.errors import ShapeError
from compiler.ir import Node

from .base import LayerContext, keras_layer, normalize_axis


def _affine_specs(ctx: LayerContext, n: tuple[int, ...]) -> list[tuple[str, tuple[int, ...], Any]]:
    """gamma and beta, each only when the layer learns it (``scale``, ``center``)."""
    specs = []
    if ctx.get("scale", True):
        specs.append(("gamma", n, ctx.get("gamma_initializer", "ones")))
    if ctx.get("center", True):
        specs.append(("beta", n, ctx.get("beta_initializer", "zeros")))
    return specs


def _with_defaults(params: dict[str, np.ndarray], n: tuple[int, ...]) -> dict[str, np.ndarray]:
    """A layer without ``scale``/``center`` scales by 1 and shifts by 0."""
    params = dict(params)
    params.setdefault("gamma", np.ones(n, np.float32))
    params.setdefault("beta", np.zeros(n, np.float32))
    return params


@keras_layer("BatchNormalization")
def batch_norm(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Inference-mode batch normalization with the moving statistics; ``renorm`` only changes training."""
    (x,) = inputs
    rank = len(x.shape)
    axis = normalize_axis(ctx, ctx.get("axis", -1), rank)
    channels = x.shape[axis]
    if channels is None:
        raise ShapeError("BatchNormalization needs a known size on its axis", file=ctx.file, layer=ctx.name)
    n = (channels,)
    specs = _affine_specs(ctx, n) + [
        ("mean", n, ctx.get("moving_mean_initializer", "zeros")),
        ("var", n, ctx.get("moving_variance_initializer", "ones")),
    ]
    params = _with_defaults(ctx.params(specs), n)
    attrs = {"epsilon": float(ctx.get("epsilon", 1e-3)), "axis": axis}
    return ctx.add("BatchNorm", [x], attrs=attrs, params=params, main=True)


@keras_layer("LayerNormalization")
def layer_norm(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    rank = len(x.shape)
    axis = normalize_axis(ctx, ctx.get("axis", -1), rank)
    if axis != rank - 1:
        raise ctx.unsupported(f"axis {ctx.get('axis')!r}", hint="only normalization over the last axis is supported")
    if ctx.get("rms_scaling"):
        raise ctx.unsupported("rms_scaling=True", hint="Keras deprecates it; use keras.layers.RMSNormalization")
    n = (x.shape[-1],)
    params = _with_defaults(ctx.params(_affine_specs(ctx, n)), n)
    return ctx.add(
        "LayerNorm", [x], attrs={"axis": axis, "epsilon": float(ctx.get("epsilon", 1e-3))}, params=params, main=True
    )
