"""Normalization layers (keras/src/layers/normalization/): BatchNormalization with its moving
statistics; LayerNormalization and RMSNormalization over any axes; GroupNormalization;
UnitNormalization.

The statistics-based layers become one IR op each (``LayerNorm``, ``GroupNorm``, ``UnitNorm``)
whose lowering picks the fastest exact ONNX form for the tensor's physical layout; a frontend
entry only fixes the axes and the weights, laid out as Keras broadcasts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compiler.errors import ShapeError
from compiler.ir import Node

from .base import LayerContext, is_int, keras_layer, normalize_axis


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


def _axes(ctx: LayerContext, x: Node, *, sort: bool, sized: bool = True) -> tuple[list[int], tuple[int, ...]]:
    """The layer's ``axis`` as Keras builds it: (the axes in the order its weights are shaped by,
    the same axes counted from 0 and sorted).

    Keras 3 sorts the axes as written (negative ones first), tf.keras keeps their order after
    counting negative ones from the end; either way the weight of shape ``x.shape[axes]`` is
    reshaped, not transposed, onto the sorted axes, so a weight's memory order is what counts.
    """
    raw = ctx.get("axis", -1)
    listed = [raw] if is_int(raw) else list(raw) if isinstance(raw, Sequence) and not isinstance(raw, str) else None
    if not listed or not all(is_int(a) for a in listed):
        raise ctx.unsupported(f"axis {raw!r:.60}", hint="an int or a list of ints")
    rank = len(x.shape)
    for a in listed:
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} is out of range for rank {rank}", file=ctx.file, layer=ctx.name)
    ordered = sorted(listed) if sort else [a % rank for a in listed]
    axes = tuple(sorted(a % rank for a in listed))
    if len(set(axes)) != len(axes) or 0 in axes:
        raise ctx.unsupported(f"axis {raw!r:.60}", hint="name each non-batch axis at most once")
    if sized and any(x.shape[a] is None for a in axes):
        raise ShapeError(f"axis {raw!r:.60} has an axis of unknown size", file=ctx.file, layer=ctx.name)
    return ordered, axes


def _normalized(
    ctx: LayerContext, x: Node, specs: list[tuple[str, tuple[int, ...], Any]], axes: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """The layer's weights, each reshaped (as Keras reshapes it) to the sizes of the sorted axes."""
    sizes = tuple(x.shape[a] for a in axes)
    return {k: np.ascontiguousarray(v).reshape(sizes) for k, v in ctx.params(specs).items()}


def _layer_norm_node(
    ctx: LayerContext, x: Node, axes: tuple[int, ...], params: dict, epsilon: Any, rms: str | None
) -> Node:
    """One LayerNorm node; ``rms`` names what the divisor is the root of when no mean is removed."""
    sizes = tuple(x.shape[a] for a in axes)
    attrs: dict[str, Any] = {"axis": axes[0] if len(axes) == 1 else axes, "epsilon": float(epsilon)}
    if rms:
        attrs["rms"] = rms
    return ctx.add("LayerNorm", [x], attrs=attrs, params=_with_defaults(params, sizes), main=True)


@keras_layer("LayerNormalization")
def layer_norm(ctx: LayerContext, inputs: list[Node]) -> Node:
    """(x − mean) / √(var + ε) · γ + β over ``axis`` (one or several axes). Keras 3's
    ``rms_scaling`` divides x itself by √(var + ε), subtracts no mean and has no β; it learns
    γ even with ``scale=False``."""
    (x,) = inputs
    ordered, axes = _axes(ctx, x, sort=ctx.keras_major >= 3)
    shape = tuple(x.shape[a] for a in ordered)
    rms = bool(ctx.get("rms_scaling", False))
    specs = []
    if ctx.get("scale", True) or rms:
        specs.append(("gamma", shape, ctx.get("gamma_initializer", "ones")))
    if ctx.get("center", True) and not rms:
        specs.append(("beta", shape, ctx.get("beta_initializer", "zeros")))
    params = _normalized(ctx, x, specs, axes)
    return _layer_norm_node(ctx, x, axes, params, ctx.get("epsilon", 1e-3), "variance" if rms else None)


@keras_layer("RMSNormalization")
def rms_norm(ctx: LayerContext, inputs: list[Node]) -> Node:
    """x / √(mean(x²) + ε) · scale over ``axis``; Keras's ε defaults to 1e-6 here."""
    (x,) = inputs
    ordered, axes = _axes(ctx, x, sort=True)
    specs = [("gamma", tuple(x.shape[a] for a in ordered), "ones")]
    return _layer_norm_node(ctx, x, axes, _normalized(ctx, x, specs, axes), ctx.get("epsilon", 1e-6), "square")


@keras_layer("GroupNormalization")
def group_norm(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Statistics over each group of ``groups`` consecutive channels on ``axis`` and every other
    non-batch axis; γ and β per channel. ``groups=-1`` is one group per channel."""
    (x,) = inputs
    rank = len(x.shape)
    axis = normalize_axis(ctx, ctx.get("axis", -1), rank)
    if axis == 0:
        raise ctx.unsupported("axis 0 (the batch)")
    channels = x.shape[axis]
    if channels is None:
        raise ShapeError("GroupNormalization needs a known size on its axis", file=ctx.file, layer=ctx.name)
    groups = ctx.get("groups", 32)
    if groups == -1:
        groups = channels
    if not is_int(groups) or groups < 1 or groups > channels or channels % groups:
        raise ctx.unsupported(f"groups {groups!r:.40} for {channels} channels", hint="a divisor of the channels")
    n = (channels,)
    params = _with_defaults(ctx.params(_affine_specs(ctx, n)), n)
    attrs = {"axis": axis, "groups": groups, "epsilon": float(ctx.get("epsilon", 1e-3))}
    return ctx.add("GroupNorm", [x], attrs=attrs, params=params, main=True)


@keras_layer("UnitNormalization")
def unit_norm(ctx: LayerContext, inputs: list[Node]) -> Node:
    """x / max(‖x‖₂, 1e-12) over ``axis`` (Keras: x · min(1/‖x‖₂, 1e12), the same numbers)."""
    (x,) = inputs
    _, axes = _axes(ctx, x, sort=True, sized=False)
    return ctx.add("UnitNorm", [x], attrs={"axis": axes[0] if len(axes) == 1 else axes}, main=True)
