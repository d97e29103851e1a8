"""Lowerings of integer ids and Keras masks: Gather (Embedding), ReduceAny, Fill, and the time
folding of TimeDistributed (comparisons, casts, Where and Tile are the tensor operations').

Masks are bool tensors of shape (batch, time); the data they select may be channels-first
inside (after a Conv1D), so the ops here read each operand's physical layout and convert only
what an op defined on logical axes needs.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ...ir import Node
from ..emitter import Emitter, Perm, Value, canon, emitter


def onnx_type(dtype: str) -> int:
    """The ONNX element type of a numpy (Keras) dtype name."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def dropped_axis(perm: Perm, rank: int, axis: int) -> Perm:
    """The layout left when logical ``axis`` of a ``rank``-D tensor in layout ``perm`` is removed."""
    order = [a for a in (perm or tuple(range(rank))) if a != axis]
    return canon([a - (a > axis) for a in order])


@emitter("Gather")
def _gather(em: Emitter, node: Node) -> Value:
    """Embedding: rows of the table by id. ONNX Gather takes ids in [-n, n): negative ids count
    from the end (as Keras's ``ops.take`` does); onnxruntime refuses ids outside that range at run
    time."""
    ids = em.ensure(em.value(node.inputs[0]), None)
    table = em.const(f"{node.name}.table", node.params["table"])
    return Value(em.op("Gather", [table, ids], node.name, axis=0), len(node.shape))


@emitter("ReduceAny")
def _reduce_any(em: Emitter, node: Node) -> Value:
    """Logical axes reduced where they live physically, as a max over 0/1."""
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    keep = bool(node.attrs.get("keepdims"))
    axes = sorted(node.attrs["axes"])
    as_int = em.op("Cast", [x], f"{node.name}_int", to=onnx_type("int32"))
    y = em.reduce("ReduceMax", as_int, [v.axis(a) for a in axes], f"{node.name}_max", keep)
    out = em.op("Cast", [y], node.name, to=onnx_type("bool"))
    perm, rank = v.perm, v.rank
    if not keep:
        for a in reversed(axes):  # highest first: the lower axes keep their numbers
            perm, rank = dropped_axis(perm, rank, a), rank - 1
    return Value(out, len(node.shape), perm)


@emitter("Fill")
def _fill(em: Emitter, node: Node) -> Value:
    """A tensor of ``x``'s shape holding one value (``zeros_like(x, dtype="bool")`` of a mask)."""
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    shape = em.op("Shape", [x], f"{node.name}_shape")
    value = helper.make_tensor("value", onnx_type(node.dtype), [1], [node.attrs["value"]])
    return Value(em.op("ConstantOfShape", [shape], node.name, value=value), v.rank, v.perm)


def _shape_of(em: Emitter, v: Value, axes: list[int], base: str) -> str:
    """The sizes of logical ``axes`` of ``v``, read from its physical tensor (an int64 vector)."""
    physical = [v.axis(a) for a in axes]
    if physical == list(range(physical[0], physical[0] + len(physical))):
        return em.op("Shape", [v.name], f"{base}_dims", start=physical[0], end=physical[0] + len(physical))
    shape = em.op("Shape", [v.name], f"{base}_shape")
    idx = em.const(f"{base}.axes", np.asarray(physical, np.int64))
    return em.op("Gather", [shape, idx], f"{base}_dims", axis=0)


@emitter("FoldTime")
def _fold_time(em: Emitter, node: Node) -> Value:
    """(batch, time, ...) → (batch·time, ...) in the physical layout the data has, as long as
    batch and time lead it (a TimeDistributed chain of convolutions stays channels-first)."""
    src = node.inputs[0]
    if src.op == "SplitTime":  # TimeDistributed after TimeDistributed: the steps are folded already
        return em.value(src.inputs[0])
    v = em.value(src)
    p = v.perm or tuple(range(v.rank))
    if p[:2] != (0, 1):
        v = Value(em.ensure(v, None), v.rank, None, shape=v.shape)
        p = tuple(range(v.rank))
    rest = em.op("Shape", [v.name], f"{node.name}_rest", start=2)
    lead = em.const(f"{node.name}.lead", np.asarray([-1], np.int64))
    dims = em.op("Concat", [lead, rest], f"{node.name}_dims", axis=0)
    return Value(em.op("Reshape", [v.name, dims], node.name), v.rank - 1, canon([0, *(a - 1 for a in p[2:])]))


@emitter("SplitTime")
def _split_time(em: Emitter, node: Node) -> Value:
    """(batch·time, ...) → (batch, time, ...), batch and time read from the folded input."""
    y, x = (em.value(i) for i in node.inputs)
    q = y.perm or tuple(range(y.rank))
    if y.rows is not None:
        y = Value(em.ensure(y, y.perm), y.rank, y.perm)
    lead = _shape_of(em, x, [0, 1], f"{node.name}_lead")
    rest = em.op("Shape", [y.name], f"{node.name}_rest", start=1)
    dims = em.op("Concat", [lead, rest], f"{node.name}_dims", axis=0)
    return Value(em.op("Reshape", [y.name, dims], node.name), y.rank + 1, canon([0, 1, *(a + 1 for a in q[1:])]))
