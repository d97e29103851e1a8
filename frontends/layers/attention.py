"""Attention layers (keras/src/layers/attention/): MultiHeadAttention, Attention, AdditiveAttention.

MultiHeadAttention's four EinsumDense sublayers (``query``, ``key``, ``value``,
``attention_output``, and ``gate`` with ``use_gate``) become ordinary Dense ops on a packed
``heads·dim`` axis: the kernel (in, heads, dim) is the matrix (in, heads·dim), and the query's
1/√key_dim is folded into its kernel and bias, so no op is left to scale. The attention itself
is AttentionScores (the per-head masked softmax of q·kᵀ) then AttentionApply (the product with
the values); ``passes.fuse_attention`` joins them when nothing else reads the scores.

``attention_axes`` other than the one sequence axis are brought to that form: the axes that are
not attended over move next to the batch (they broadcast through both MatMuls), the attended
ones are flattened into one (2-D attention over an image is attention over its h·w pixels), and
the output and the scores get Keras's shapes back at the end.

Masks are applied as Keras applies them (the lowering says how): tf.keras adds -1e9 to dropped
logits; Keras 3 replaces them, and its Softmax layer (used unless the fast path runs: rank-3
inputs, no scores returned, no dropout) also zeroes dropped probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from compiler.errors import ShapeError
from compiler.ir import Node

from .base import LayerContext, is_int, keras_layer, positive, zero_masked

#: What Keras 3's fast path (``dot_product_attention``) puts in dropped logits: -0.7·float32 max.
KERAS3_FILL = -0.7 * 3.38953e38


def _sub_params(ctx: LayerContext, sub: str, specs: list[tuple[str, tuple[int, ...], Any]]) -> dict[str, np.ndarray]:
    """The weights of one of the layer's own sublayers, saved under ``layer/<sub>`` (or, in
    tf-keras's nameless ``.weights.h5``, under its attribute, ``_query_dense``)."""
    scope = ctx.scope
    alias = ctx.weights.aliases.get(scope)
    if alias is not None:
        attribute = {"attention_output": "output"}.get(sub, sub)
        ctx.weights.aliases.setdefault((*scope, sub), (*alias, f"#_{attribute}_dense"))
    ctx.scope = (*scope, sub)
    try:
        return ctx.params(specs)
    finally:
        ctx.scope = scope


def _node_or_none(value: Any) -> Node | None:
    return value if isinstance(value, Node) else None


def _known(ctx: LayerContext, x: Node, what: str) -> None:
    if any(d is None for d in x.shape[1:]):
        raise ShapeError(
            f"{ctx.class_name}: the {what} needs known sizes after the batch, got {x.shape}",
            file=ctx.file,
            layer=ctx.name,
        )


def _attention_axes(ctx: LayerContext, rank: int) -> tuple[int, ...]:
    """``attention_axes`` in input coordinates, as Keras normalizes them (None: every axis
    between the batch and the features; negative ones counted from the projected rank)."""
    axes = ctx.get("attention_axes")
    if axes is None:
        return tuple(range(1, rank - 1))
    if is_int(axes):
        axes = [axes]
    if not isinstance(axes, Sequence) or not all(is_int(a) for a in axes):
        raise ctx.unsupported(f"attention_axes {axes!r:.60}", hint="an int or a list of ints")
    out = tuple(a if a >= 0 else rank + a for a in axes)
    if len(set(out)) != len(out) or not all(1 <= a <= rank - 2 for a in out):
        raise ctx.unsupported(
            f"attention_axes {list(axes)} for inputs of rank {rank}",
            hint=f"the axes between the batch and the features: 1 to {rank - 2}",
        )
    return out


def _to_sequence(ctx: LayerContext, x: Node, attended: tuple[int, ...], what: str) -> Node:
    """(B, d1…dn, C) → (B, <other axes>, prod(attended), C)."""
    rank = len(x.shape)
    others = [a for a in range(1, rank - 1) if a not in attended]
    perm = (0, *others, *attended, rank - 1)
    if list(attended) == [rank - 2]:
        return x
    _known(ctx, x, what)
    if perm != tuple(range(rank)):
        x = ctx.add("Transpose", [x], attrs={"perm": perm})
    steps = math.prod(x.shape[len(others) + 1 : -1])
    return ctx.add("Reshape", [x], attrs={"shape": (*x.shape[1 : len(others) + 1], steps, x.shape[-1])})


def _projection(
    ctx: LayerContext, x: Node, sub: str, heads: int, dim: int, scale: float = 1.0, activation: str | None = None
) -> Node:
    """EinsumDense ``abc,cde->abde`` as a Dense to heads·dim: kernel (in, heads, dim), bias (heads, dim)."""
    width = x.shape[-1]
    if width is None:
        raise ShapeError(f"{ctx.class_name}: the {sub} needs a known last dimension", file=ctx.file, layer=ctx.name)
    specs = [("kernel", (width, heads, dim), ctx.get("kernel_initializer"))]
    if ctx.get("use_bias", True):
        specs.append(("bias", (heads, dim), ctx.get("bias_initializer")))
    p = _sub_params(ctx, sub, specs)
    params = {"kernel": (p["kernel"].reshape(width, heads * dim) * np.float32(scale)).astype(np.float32)}
    if "bias" in p:
        params["bias"] = (p["bias"].reshape(heads * dim) * np.float32(scale)).astype(np.float32)
    y = _dense(ctx, x, params, sub)
    if activation == "sigmoid":
        y = ctx.add("Sigmoid", [y])
    return y


def _dense(ctx: LayerContext, x: Node, params: dict[str, np.ndarray], sub: str) -> Node:
    """A Dense node named after the sublayer (``mha/query``)."""
    try:
        return ctx.graph.add("Dense", [x], name=f"{ctx.name}/{sub}", layer=ctx.name, params=params)
    except ShapeError as err:
        raise err.with_context(file=ctx.file, layer=ctx.name) from err


def _masks(ctx: LayerContext) -> list[Node | None]:
    """The Keras masks of the positional inputs (from Embedding(mask_zero=True), Masking)."""
    return list(getattr(ctx, "masks", None) or [])


def _mask_operands(
    ctx: LayerContext,
    attention_mask: Node | None,
    query_mask: Node | None,
    value_mask: Node | None,
    key_mask: Node | None = None,
) -> tuple[list[Node], tuple[str, ...]]:
    """The masks present, in the order the op takes them, and their roles."""
    nodes, roles = [], []
    masks = (("attention", attention_mask), ("query", query_mask), ("value", value_mask), ("key", key_mask))
    for role, m in masks:
        if m is not None:
            nodes.append(m)
            roles.append(role)
    return nodes, tuple(roles)


@keras_layer("MultiHeadAttention")
def multi_head_attention(ctx: LayerContext, inputs: list[Node]) -> Node | list[Node]:
    kw = ctx.kwargs or {}
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else _node_or_none(kw.get("value"))
    key = inputs[2] if len(inputs) > 2 else _node_or_none(kw.get("key"))
    if value is None:
        raise ctx.unsupported("called without a value tensor", hint="call it as mha(query, value[, key])")
    key = value if key is None else key
    heads, key_dim = positive(ctx, "num_heads"), positive(ctx, "key_dim")
    value_dim = positive(ctx, "value_dim") if ctx.get("value_dim") is not None else key_dim
    if ctx.get("softmax_robust_masking"):
        raise ctx.unsupported("softmax_robust_masking=True", hint="tf.keras's default, False, is supported")
    if ctx.get("sliding_window") is not None:
        raise ctx.unsupported("sliding_window", hint="a causal or attention_mask input expresses a band as well")
    rank = len(query.shape)
    if len(value.shape) != rank or len(key.shape) != rank or rank < 3:
        raise ShapeError(
            f"MultiHeadAttention: query {query.shape}, value {value.shape} and key {key.shape} need one rank >= 3",
            file=ctx.file,
            layer=ctx.name,
        )
    if value.shape[1:-1] != key.shape[1:-1]:
        raise ShapeError(
            f"MultiHeadAttention: value {value.shape} and key {key.shape} differ before the last axis",
            file=ctx.file,
            layer=ctx.name,
        )
    attended = _attention_axes(ctx, rank)
    attention_mask = _node_or_none(kw.get("attention_mask"))
    causal = bool(kw.get("use_causal_mask", False))
    return_scores = bool(kw.get("return_attention_scores", False))
    masks = _masks(ctx)
    query_mask = masks[0] if masks else None
    value_mask = masks[1] if len(masks) > 1 and len(inputs) > 1 else None
    key_mask = _node_or_none(kw.get("key_mask")) or (masks[2] if len(masks) > 2 else None)
    if key_mask is value_mask:
        key_mask = None  # key is value: the same mask once
    masked = any(m is not None for m in (attention_mask, query_mask, value_mask, key_mask)) or causal
    if masked and rank != 3:
        raise ctx.unsupported(
            "masks with inputs of rank > 3",
            hint="attention_mask, causal and propagated masks need (batch, steps, features)",
        )
    if causal and None in (query.shape[1], value.shape[1]):
        raise ctx.unsupported("use_causal_mask with a sequence length unknown at compile time")
    if attention_mask is not None and len(attention_mask.shape) != 3:
        raise ctx.unsupported(f"an attention_mask of shape {attention_mask.shape}", hint="(batch, T, S)")

    q_in = _to_sequence(ctx, query, attended, "query")
    k_in = _to_sequence(ctx, key, attended, "key")
    v_in = _to_sequence(ctx, value, attended, "value")
    q = _projection(ctx, q_in, "query", heads, key_dim, 1.0 / math.sqrt(key_dim))
    k = _projection(ctx, k_in, "key", heads, key_dim)
    gate = _projection(ctx, q_in, "gate", heads, value_dim, activation="sigmoid") if ctx.get("use_gate") else None
    v = _projection(ctx, v_in, "value", heads, value_dim)

    operands, roles = _mask_operands(ctx, attention_mask, query_mask, value_mask, key_mask)
    tf_keras = ctx.keras_major < 3
    fast = rank == 3 and not return_scores and not float(ctx.get("dropout", 0.0) or 0.0) > 0
    attrs = {
        "heads": heads,
        "causal": causal,
        "masks": roles,
        "additive": tf_keras,
        "fill": KERAS3_FILL,
        "zero_masked": not tf_keras and not fast,
    }
    scores = ctx.add("AttentionScores", [q, k, *operands], attrs=attrs)
    context = ctx.add("AttentionApply", [scores, v], attrs={"heads": heads})
    if gate is not None:
        context = ctx.add("Mul", [context, gate])

    out_dims = ctx.get("output_shape")
    if is_int(out_dims):
        out_dims = (out_dims,)
    out_dims = tuple(out_dims) if out_dims else (query.shape[-1],)
    specs = [("kernel", (heads, value_dim, *out_dims), ctx.get("kernel_initializer"))]
    if ctx.get("use_bias", True):
        specs.append(("bias", out_dims, ctx.get("bias_initializer")))
    p = _sub_params(ctx, "attention_output", specs)
    width = math.prod(out_dims)
    params = {"kernel": p["kernel"].reshape(heads * value_dim, width)}
    if "bias" in p:
        params["bias"] = p["bias"].reshape(width)
    out = _dense(ctx, context, params, "attention_output")
    out = _from_sequence(ctx, out, query, attended, out_dims)
    ctx.output_masks = [query_mask, None][: 1 + return_scores]  # the output keeps the query's mask
    if not return_scores:
        return out
    return [out, _scores_shape(ctx, scores, query, key, attended)]


def _from_sequence(ctx: LayerContext, y: Node, query: Node, attended: tuple[int, ...], out_dims: tuple) -> Node:
    """(B, <other axes>, T, width) back to the query's shape with ``out_dims`` last."""
    rank = len(query.shape)
    others = [a for a in range(1, rank - 1) if a not in attended]
    if list(attended) == [rank - 2] and len(out_dims) == 1:
        return ctx.add("Identity", [y], main=True)
    order = (*others, *attended)
    shaped = (*(query.shape[a] for a in order), *out_dims)
    if list(attended) != [rank - 2] or len(out_dims) > 1:
        y = ctx.add("Reshape", [y], attrs={"shape": tuple(-1 if d is None else d for d in shaped)}, main=False)
    perm = [0] + [1 + order.index(a) for a in range(1, rank - 1)] + list(range(rank - 1, rank - 1 + len(out_dims)))
    if perm != list(range(len(perm))):
        y = ctx.add("Transpose", [y], attrs={"perm": tuple(perm)})
    return ctx.add("Identity", [y], main=True)


def _scores_shape(ctx: LayerContext, scores: Node, query: Node, key: Node, attended: tuple[int, ...]) -> Node:
    """(B, <others>, H, T, S) → Keras's (B, <others>, H, <query attended axes>, <key attended axes>)."""
    rank = len(query.shape)
    if len(attended) == 1:
        return scores
    others = [a for a in range(1, rank - 1) if a not in attended]
    shape = (
        *(query.shape[a] for a in others),
        scores.shape[-3],
        *(query.shape[a] for a in attended),
        *(key.shape[a] for a in attended),
    )
    return ctx.add("Reshape", [scores], attrs={"shape": shape})


def _query_value_key(ctx: LayerContext, inputs: list[Node]) -> tuple[Node, Node, Node]:
    if len(inputs) not in (2, 3):
        raise ctx.unsupported(
            f"called on {len(inputs)} tensors", hint="Attention layers take [query, value] or [query, value, key]"
        )
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    for x in (query, value, key):
        if len(x.shape) != 3:
            raise ShapeError(
                f"{ctx.class_name}: expects (batch, steps, features) inputs, got {x.shape}",
                file=ctx.file,
                layer=ctx.name,
            )
    if query.shape[-1] != key.shape[-1]:
        raise ShapeError(
            f"{ctx.class_name}: query {query.shape} and key {key.shape} differ in features",
            file=ctx.file,
            layer=ctx.name,
        )
    return query, value, key


def _single_head(
    ctx: LayerContext, query: Node, value: Node, key: Node, attrs: dict[str, Any], params: dict[str, np.ndarray]
) -> Node | list[Node]:
    """Attention and AdditiveAttention: one head, a value mask subtracting 1e9 from dropped
    logits (Keras's ``_apply_scores``), optional causal mask, the outputs of masked queries
    zeroed, then the scores' (B, T, S)."""
    kw = ctx.kwargs or {}
    masks = _masks(ctx)
    query_mask = masks[0] if masks else None
    value_mask = masks[1] if len(masks) > 1 else None
    causal = bool(kw.get("use_causal_mask", False))
    if causal and None in (query.shape[1], key.shape[1]):
        raise ctx.unsupported("use_causal_mask with a sequence length unknown at compile time")
    operands = [value_mask] if value_mask is not None else []
    attrs = {
        **attrs,
        "heads": 1,
        "causal": causal,
        "masks": ("value",) if operands else (),
        "additive": True,
        "fill": -1e9,
        "zero_masked": False,
    }
    scores = ctx.add("AttentionScores", [query, key, *operands], attrs=attrs, params=params)
    out = ctx.add("AttentionApply", [scores, value], attrs={"heads": 1})
    if query_mask is not None:  # Keras zeroes the outputs of masked queries
        out = zero_masked(ctx, out, query_mask)
    out = ctx.add("Identity", [out], main=True)
    ctx.output_masks = [query_mask, None][: 1 + bool(kw.get("return_attention_scores"))]  # the query's
    if not kw.get("return_attention_scores"):
        return out
    t, s = scores.shape[-2:]
    return [out, ctx.add("Reshape", [scores], attrs={"shape": (-1 if t is None else t, -1 if s is None else s)})]


@keras_layer("Attention")
def attention(ctx: LayerContext, inputs: list[Node]) -> Node | list[Node]:
    """Luong-style attention: scores q·kᵀ (times a learned ``scale``), or with
    ``score_mode="concat"`` w·Σ tanh(scale·(q + k))."""
    query, value, key = _query_value_key(ctx, inputs)
    mode = ctx.get("score_mode", "dot")
    if mode not in ("dot", "concat"):
        raise ctx.unsupported(f"score_mode {mode!r:.40}", hint="'dot' or 'concat'")
    specs = []
    if ctx.get("use_scale", False):
        specs.append(("scale", (), "ones"))
    if mode == "concat":
        specs.append(("concat_score_weight", (), "ones"))
    p = ctx.params(specs)
    scale = float(p["scale"]) if "scale" in p else 1.0
    dim = query.shape[-1]
    if mode == "dot":
        return _single_head(ctx, query, value, key, {"score": "dot", "scale": scale}, {})
    weight = np.full(dim, float(p["concat_score_weight"]), np.float32)
    return _single_head(ctx, query, value, key, {"score": "additive", "inner": scale}, {"weight": weight})


@keras_layer("AdditiveAttention")
def additive_attention(ctx: LayerContext, inputs: list[Node]) -> Node | list[Node]:
    """Bahdanau-style attention: scores Σ scale·tanh(q + k), ``scale`` a learned vector."""
    query, value, key = _query_value_key(ctx, inputs)
    dim = query.shape[-1]
    specs = [("scale", (dim,), "glorot_uniform")] if ctx.get("use_scale", True) else []
    p = ctx.params(specs)
    weight = p["scale"].astype(np.float32) if "scale" in p else np.ones(dim, np.float32)
    return _single_head(ctx, query, value, key, {"score": "additive", "inner": 1.0}, {"weight": weight})
