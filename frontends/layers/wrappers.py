"""Wrapper layers (keras/src/layers/rnn/time_distributed.py): TimeDistributed runs the layer it
wraps on every time step, through that layer's own entry of the table."""

from __future__ import annotations

from compiler.errors import UnsupportedLayerError
from compiler.ir import Node

from .base import INTEGER_INPUTS, LAYERS, LayerContext, float_inputs, keras_layer


@keras_layer("TimeDistributed")
def time_distributed(ctx: LayerContext, inputs: list[Node]) -> Node:
    """(batch, time, ...) folded to (batch·time, ...), the inner layer's entry on that, and the
    result split back to (batch, time, ...): one op per inner op, whatever the number of steps.

    The inner layer's weights are the wrapper's (Keras saves them under the wrapper); the
    wrapper's mask passes through (Keras's TimeDistributed supports masking), and the inner
    layer is given none, as Keras gives none to a layer whose call takes no mask.
    """
    (x,) = inputs
    if len(x.shape) < 3:
        raise ctx.unsupported(f"an input of shape {x.shape} (TimeDistributed needs (batch, time, ...))")
    spec = ctx.get("layer")
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ctx.unsupported("no wrapped layer in the config")
    cls, cfg = str(spec.get("class_name")), spec["config"]
    fn = LAYERS.get(cls)
    if fn is None or cls in ("TimeDistributed", "Bidirectional"):
        raise ctx.unsupported(f"wrapping a {cls}", hint="TimeDistributed wraps a single built-in layer")
    inner_name = str(cfg.get("name") or cls.lower())
    inner = LayerContext(
        ctx.graph,
        cls,
        f"{ctx.name}/{inner_name}",
        cfg,
        ctx.scope,
        ctx.weights,
        ctx.file,
        ctx.keras_major,
        masks=[None],
    )
    steps = ctx.add("FoldTime", [x])
    if cls not in INTEGER_INPUTS:
        (steps,), _ = float_inputs(inner, [steps])
    try:
        out = fn(inner, [steps])
    except UnsupportedLayerError as err:
        raise UnsupportedLayerError(
            f"TimeDistributed({cls}): {err.message}", file=ctx.file, layer=ctx.name, hint=err.hint
        ) from err
    if isinstance(out, list):
        raise ctx.unsupported(f"wrapping {cls}, which has several outputs")
    return ctx.add("SplitTime", [out, x], main=True)
