"""Lowerings of integer ids and Keras masks: Gather (Embedding), casts, comparisons, boolean
joins, reductions over one axis, Where and Tile.

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


def reduce(em: Emitter, op_type: str, x: str, axes: list[int], keepdims: bool, base: str) -> str:
    """An ONNX Reduce* op: its axes are an attribute before the opset that made them an input
    (13 for ReduceSum, 18 for the others)."""
    as_input = em.opset >= (13 if op_type == "ReduceSum" else 18)
    if as_input:
        return em.op(op_type, [x, em.const(f"{base}.axes", np.asarray(axes, np.int64))], base, keepdims=int(keepdims))
    return em.op(op_type, [x], base, axes=axes, keepdims=int(keepdims))


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


@emitter("Cast")
def _cast(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    if node.inputs[0].dtype == node.dtype:
        return v
    return Value(em.op("Cast", [v.name], node.name, to=onnx_type(node.dtype)), v.rank, v.perm, v.rows)


@emitter("NotEqual")
def _not_equal(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    value = em.const(f"{node.name}.value", np.asarray(node.attrs["value"], np.dtype(node.inputs[0].dtype)))
    equal = em.op("Equal", [v.name, value], f"{node.name}_eq")
    return Value(em.op("Not", [equal], node.name), v.rank, v.perm, v.rows)


@emitter("Not")
def _not(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    return Value(em.op("Not", [v.name], node.name), v.rank, v.perm, v.rows)


@emitter("Where")
def _where(em: Emitter, node: Node) -> Value:
    """``x`` where the condition holds, else ``y`` (slot 2) or the constant ``other``, in ``x``'s layout."""
    vals = [em.value(i) for i in node.inputs]
    rank = len(node.shape)
    perm = vals[1].perm if vals[1].rank == rank else None
    names = [em.ensure(v, perm if v.rank == rank else None) for v in vals]
    if len(names) == 2:
        names.append(em.const(f"{node.name}.other", np.asarray(node.attrs.get("other", 0), np.dtype(node.dtype))))
    return Value(em.op("Where", names, node.name), rank, perm)


@emitter("ReduceAny", "ReduceSum", "ReduceMax", "ReduceMean")
def _reduce(em: Emitter, node: Node) -> Value:
    """One logical axis reduced where it lives physically; ReduceAny is a max over 0/1."""
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    keep = bool(node.attrs.get("keepdims"))
    axis = node.attrs["axis"]
    if node.op == "ReduceAny":
        as_int = em.op("Cast", [x], f"{node.name}_int", to=onnx_type("int32"))
        y = reduce(em, "ReduceMax", as_int, [v.axis(axis)], keep, f"{node.name}_max")
        out = em.op("Cast", [y], node.name, to=onnx_type("bool"))
    else:
        out = reduce(em, node.op, x, [v.axis(axis)], keep, node.name)
    perm = v.perm if keep else dropped_axis(v.perm, v.rank, axis)
    return Value(out, len(node.shape), perm)


@emitter("Tile")
def _tile(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    reps = node.attrs["repeats"]
    physical = [reps[a] for a in (v.perm or range(v.rank))]
    out = em.op("Tile", [x, em.const(f"{node.name}.repeats", np.asarray(physical, np.int64))], node.name)
    return Value(out, v.rank, v.perm)


@emitter("Fill")
def _fill(em: Emitter, node: Node) -> Value:
    """A tensor of ``x``'s shape holding one value (``zeros_like(x, dtype="bool")`` of a mask)."""
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    shape = em.op("Shape", [x], f"{node.name}_shape")
    value = helper.make_tensor("value", onnx_type(node.dtype), [1], [node.attrs["value"]])
    return Value(em.op("ConstantOfShape", [shape], node.name, value=value), v.rank, v.perm)
