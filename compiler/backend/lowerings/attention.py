"""Lowerings of dot-product attention: AttentionScores, AttentionApply and their fusion,
MultiHeadAttention.

The projections before and after are ordinary Dense ops (MatMul + Add on the packed
``heads·dim`` axis); the frontend has already folded the 1/√d scale into the query weights, so
what is left here is the per-head part::

    q (B, …, T, H·d) ─Reshape─► (B, …, T, H, d) ─Transpose─► (B, …, H, T, d) ┐
    k (B, …, S, H·d) ─Reshape─► (B, …, S, H, d) ─Transpose─► (B, …, H, d, S) ┴ MatMul ─► logits
    logits ─ mask ─ Softmax(-1) [─ zero the masked rows] ─► p (B, …, H, T, S)
    p · v(B, …, H, S, dv) ─► (B, …, H, T, dv) ─Transpose─► (B, …, T, H, dv) ─Reshape─► (B, …, T, H·dv)

Masks (boolean, "keep where true") are combined into one (B, 1, T, S) tensor: an
``attention_mask`` (B, T, S) (non-zero keeps), a query mask (B, T), value/key masks (B, S) and
the causal lower triangle. Keras applies them in one of two ways, which the node's attributes
say: ``additive`` (tf.keras: logits + (1 - m)·-1e9) or a replacement (Keras 3:
where(m, logits, fill)); and Keras 3's Softmax layer also zeroes masked probabilities
(``zero_masked``), which only matters for a row with nothing to attend to.

A target may run the fused op as one kernel (``Target.multi_head_attention``: onnxruntime's
com.microsoft.MultiHeadAttention for ``ort``); the portable form above is the default.
"""

from __future__ import annotations

import numpy as np
import onnx

from ...ir import Node
from ..emitter import Emitter, Value, emitter


def _ints(em: Emitter, base: str, values: list[int]) -> str:
    return em.const(base, np.asarray(values, np.int64))


def _split(em: Emitter, x: str, lead: int, heads: int, dim: int, name: str, last: tuple[int, ...]) -> str:
    """Reshape (…, T, H·d) to (…, T, H, d) and move the axes so the trailing ones read ``last``
    (indices into (T, H, d)); the leading axes stay in place."""
    shaped = em.op("Reshape", [x, _ints(em, f"{name}.shape", [0] * lead + [-1, heads, dim])], f"{name}_heads")
    perm = list(range(lead)) + [lead + i for i in last]
    return em.op("Transpose", [shaped], name, perm=perm)


def _combined_mask(em: Emitter, node: Node, operands: list[Value], t: int | None, s: int | None) -> str | None:
    """One boolean (B|1, 1, T, S) mask from the node's mask operands and its causal flag."""
    roles = tuple(node.attrs.get("masks", ()))
    parts: list[str] = []
    for role, v in zip(roles, operands, strict=False):
        m = em.ensure(v, None)
        src = node.inputs[len(node.inputs) - len(roles) + roles.index(role)]
        if src.dtype != "bool":  # Keras casts: any non-zero value keeps
            m = em.op("Cast", [m], f"{node.name}_{role}_keep", to=onnx.TensorProto.BOOL)
        axes = {"attention": [1], "query": [1, 3]}.get(role, [1, 2])
        parts.append(em.op("Unsqueeze", [m, _ints(em, f"{node.name}.{role}_axes", axes)], f"{node.name}_{role}_mask"))
    if node.attrs.get("causal"):
        tri = np.tril(np.ones((t, s), bool))[None, None]  # Keras: row index ≥ column index
        parts.append(em.const(f"{node.name}.causal", tri))
    if not parts:
        return None
    mask = parts[0]
    for i, other in enumerate(parts[1:]):
        mask = em.op("And", [mask, other], f"{node.name}_mask_{i}")
    return mask


def _additive_keep(em: Emitter, node: Node, operands: list[Value], mask: str) -> str:
    """tf.keras's float "keep" factor of (1 - keep)·-1e9: a lone float ``attention_mask`` as it
    is (tf.keras casts it to bool only to combine it with other masks), else the boolean mask."""
    roles = tuple(node.attrs.get("masks", ()))
    src = node.inputs[-1] if roles else None
    if roles == ("attention",) and not node.attrs.get("causal") and src is not None and src.dtype != "bool":
        m = em.ensure(operands[0], None)
        if src.dtype != "float32":
            m = em.op("Cast", [m], f"{node.name}_keep_float", to=onnx.TensorProto.FLOAT)
        return em.op("Unsqueeze", [m, _ints(em, f"{node.name}.keep_axes", [1])], f"{node.name}_keep")
    return em.op("Cast", [mask], f"{node.name}_keep", to=1)


def _probabilities(em: Emitter, node: Node, logits: str, mask: str | None, keep: str | None = None) -> str:
    """Softmax over the keys with the mask applied as Keras applies it."""
    a = node.attrs
    if mask is not None:
        if a.get("additive"):
            keep = keep or em.op("Cast", [mask], f"{node.name}_keep", to=1)
            penalty = em.op("Sub", [keep, em.scalar(1.0)], f"{node.name}_dropped")
            logits = em.op(
                "Add", [logits, em.op("Mul", [penalty, em.scalar(1e9)], f"{node.name}_penalty")], f"{node.name}_masked"
            )
        else:
            logits = em.op("Where", [mask, logits, em.scalar(float(a["fill"]))], f"{node.name}_masked")
    p = em.op("Softmax", [logits], f"{node.name}_softmax", axis=-1)
    if mask is not None and a.get("zero_masked"):
        p = em.op("Where", [mask, p, em.scalar(0.0)], f"{node.name}_kept")
    return p


def _additive_logits(em: Emitter, node: Node, q: str, k: str) -> str:
    """Σ_d w_d·tanh(c·(q_t + k_s)) as one (B, 1, T, S) tensor: the sum is a MatMul by w."""
    name = node.name
    qe = em.op("Unsqueeze", [q, _ints(em, f"{name}.q_axes", [2])], f"{name}_q")  # (B, T, 1, d)
    ke = em.op("Unsqueeze", [k, _ints(em, f"{name}.k_axes", [1])], f"{name}_k")  # (B, 1, S, d)
    pre = em.op("Add", [qe, ke], f"{name}_sum")
    inner = float(node.attrs.get("inner", 1.0))
    if inner != 1.0:
        pre = em.op("Mul", [pre, em.scalar(inner)], f"{name}_inner")
    w = em.const(f"{name}.weight", node.params["weight"].reshape(-1, 1).astype(np.float32))
    summed = em.op("MatMul", [em.op("Tanh", [pre], f"{name}_tanh"), w], f"{name}_weighted")  # (B, T, S, 1)
    squeezed = em.op("Squeeze", [summed, _ints(em, f"{name}.last", [-1])], f"{name}_squeezed")
    return em.op("Unsqueeze", [squeezed, _ints(em, f"{name}.head_axis", [1])], f"{name}_logits")


def _scores(em: Emitter, node: Node, q_node: Node, k_node: Node, masks: list[Node]) -> str:
    heads = node.attrs["heads"]
    rank = len(q_node.shape)
    lead = rank - 2
    dim = q_node.shape[-1] // heads
    if node.attrs.get("score") == "additive":
        q_in, k_in = em.ensure(em.value(q_node), None), em.ensure(em.value(k_node), None)
        logits = _additive_logits(em, node, q_in, k_in)
    else:
        q = _split(em, em.ensure(em.value(q_node), None), lead, heads, dim, f"{node.name}_q", (1, 0, 2))
        k = _split(em, em.ensure(em.value(k_node), None), lead, heads, dim, f"{node.name}_k", (1, 2, 0))
        logits = em.op("MatMul", [q, k], f"{node.name}_logits")
        scale = float(node.attrs.get("scale", 1.0))
        if scale != 1.0:
            logits = em.op("Mul", [logits, em.scalar(scale)], f"{node.name}_scaled")
    operands = [em.value(m) for m in masks]
    mask = _combined_mask(em, node, operands, q_node.shape[-2], k_node.shape[-2])
    keep = _additive_keep(em, node, operands, mask) if mask is not None and node.attrs.get("additive") else None
    return _probabilities(em, node, logits, mask, keep)


def _apply(em: Emitter, node: Node, p: str, v_node: Node, name: str) -> Value:
    heads = node.attrs["heads"]
    rank = len(v_node.shape)
    lead = rank - 2
    dim = v_node.shape[-1] // heads
    v = _split(em, em.ensure(em.value(v_node), None), lead, heads, dim, f"{name}_v", (1, 0, 2))
    context = em.op("MatMul", [p, v], f"{name}_context")  # (…, H, T, dv)
    merged = em.op("Transpose", [context], f"{name}_merge", perm=[*range(lead), lead + 1, lead, lead + 2])
    out = em.op("Reshape", [merged, _ints(em, f"{name}.merged", [0] * (lead + 1) + [heads * dim])], name)
    return Value(out, rank)


@emitter("AttentionScores")
def _attention_scores(em: Emitter, node: Node) -> Value:
    q, k, *masks = node.inputs
    return Value(_scores(em, node, q, k, masks), len(node.shape))


@emitter("AttentionApply")
def _attention_apply(em: Emitter, node: Node) -> Value:
    p, v = node.inputs
    return _apply(em, node, em.ensure(em.value(p), None), v, node.name)


@emitter("MultiHeadAttention")
def _multi_head_attention(em: Emitter, node: Node) -> Value:
    """The target's fused kernel where it has one, else the portable MatMul/Softmax form.

    A fused kernel adds the mask as a bias (0 where kept, Keras's fill where not) before its
    softmax, which is Keras's arithmetic except for Keras 3's zeroed rows (``zero_masked``):
    with masks that can blank a whole row, the portable form stays.
    """
    q, k, v, *masks = node.inputs
    rank = len(q.shape)
    plain = node.attrs.get("score", "dot") == "dot" and float(node.attrs.get("scale", 1.0)) == 1.0
    # Leading axes besides the batch (attention over one inner axis) fold into the batch.
    static = all(None not in x.shape[1:-2] for x in (q, k, v)) and q.shape[1:-2] == k.shape[1:-2] == v.shape[1:-2]
    if masks or node.attrs.get("causal"):  # the bias is spelled out (T, S)
        static = static and None not in (q.shape[-2], k.shape[-2])
    if plain and static and not (masks and node.attrs.get("zero_masked")):
        names = [em.ensure(em.value(x), None) for x in (q, k, v)]
        if rank > 3:
            names = [
                em.op("Reshape", [n, _ints(em, f"{n}.batched", [-1, *x.shape[-2:]])], f"{n}_batched")
                for n, x in zip(names, (q, k, v), strict=True)
            ]
        bias = None
        if masks or node.attrs.get("causal"):

            def bias() -> str:  # emitted only if the target fuses
                operands = [em.value(m) for m in masks]
                mask = _combined_mask(em, node, operands, q.shape[-2], k.shape[-2])
                # The kernel broadcasts the bias over batch and heads only: (B|1, 1, T, S).
                full = em.const(f"{node.name}.bias_shape", np.zeros((1, 1, q.shape[-2], k.shape[-2]), np.float32))
                if node.attrs.get("additive"):  # (keep - 1)·1e9, as tf.keras adds it
                    keep = em.op("Sub", [_additive_keep(em, node, operands, mask), em.scalar(1.0)], f"{node.name}_drop")
                    penalty = em.op("Mul", [keep, em.scalar(1e9)], f"{node.name}_penalty")
                    return em.op("Add", [penalty, full], f"{node.name}_bias")
                fill = em.scalar(float(node.attrs["fill"]))
                return em.op("Where", [mask, full, fill], f"{node.name}_bias")

        base = node.name if rank == 3 else f"{node.name}_batched"
        fused = em.target.multi_head_attention(em, base, names, bias, node.attrs["heads"])
        if fused is not None and rank > 3:
            shape = [-1, *q.shape[1:-1], v.shape[-1]]
            fused = em.op("Reshape", [fused, _ints(em, f"{node.name}.shape", shape)], node.name)
        if fused is not None:
            return Value(fused, rank)
    p = _scores(em, node, q, k, masks)
    return _apply(em, node, p, v, node.name)
