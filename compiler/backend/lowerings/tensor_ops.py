"""Lowerings of the tensor operations models record on their tensors (``keras.ops``, TFOpLambda):
constants, element-wise math, slicing, squeezing, tiling, padding, reductions, matrix products.

Their axes are Keras (logical) axes. Ops that only index axes (slices, reductions, tiles, pads,
squeezes) follow whatever physical layout their operand has, so a slice of a convolution's output
costs no Transpose; ops whose meaning depends on the memory order (MatMul, Einsum) take their
operands in Keras order, and DepthToSpace/SpaceToDepth in ONNX's channels-first order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import helper

from ...ir import Node
from ..emitter import NCHW, EmitFn, Emitter, Perm, Value, canon, channels_first, emitter, onnx_pads

#: the IR's dtypes as ONNX element types, for Cast
ONNX_TYPES = {name: helper.np_dtype_to_tensor_dtype(np.dtype(name)) for name in ("float16", "float32", "float64")}
ONNX_TYPES.update({name: helper.np_dtype_to_tensor_dtype(np.dtype(name)) for name in ("int8", "int16", "int32")})
ONNX_TYPES.update({name: helper.np_dtype_to_tensor_dtype(np.dtype(name)) for name in ("int64", "uint8", "bool")})


def _plain(em: Emitter, node: Node) -> Value:
    """The operand in its own physical layout, with a Flatten's feature order undone."""
    v = em.value(node)
    if v.rows is None:
        return v
    return Value(em.ensure(v, v.perm), v.rank, v.perm)


def _order(v: Value) -> tuple[int, ...]:
    return v.perm or tuple(range(v.rank))


def _drop(perm: Sequence[int], axes: Sequence[int]) -> Perm:
    """The layout left when the logical ``axes`` are removed from a tensor laid out as ``perm``."""
    return canon([a - sum(x < a for x in axes) for a in perm if a not in axes])


def _ints(em: Emitter, node: Node, key: str, values: Sequence[int]) -> str:
    return em.const(f"{node.name}.{key}", np.asarray(list(values), np.int64))


#: ops whose lowering writes a Constant operand itself, laid out as it needs (broadcast_layout)
BROADCAST_OPS = ("Div", "Pow", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal", "NotEqual", "And", "Or")
BROADCAST_OPS += ("Where",)


@emitter("Constant")
def _constant(em: Emitter, node: Node) -> Value:
    value = node.params["value"]
    if node.users and not node.is_output and all(u.op in BROADCAST_OPS for u in node.users):
        return Value("", value.ndim)  # each user writes its own laid-out copy
    return Value(em.const(node.name, value), value.ndim)


def _unary(*op_types: str) -> EmitFn:
    """A chain of one-input ONNX ops, keeping the operand's layout."""

    def emit(em: Emitter, node: Node) -> Value:
        v = em.value(node.inputs[0])
        out = v.name
        for i, op_type in enumerate(op_types):
            out = em.op(op_type, [out], node.name if i == len(op_types) - 1 else f"{node.name}_{op_type.lower()}")
        return Value(out, v.rank, v.perm, v.rows)

    return emit


for _op in ("Abs", "Sqrt", "Log", "Erf", "Sign", "Floor", "Ceil", "Round", "Reciprocal", "Neg", "Not"):
    emitter(_op)(_unary(_op))
emitter("Rsqrt")(_unary("Sqrt", "Reciprocal"))


@emitter("Square")
def _square(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    return Value(em.op("Mul", [v.name, v.name], node.name), v.rank, v.perm, v.rows)


@emitter("Cast")
def _cast(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    return Value(em.op("Cast", [v.name], node.name, to=ONNX_TYPES[node.attrs["dtype"]]), v.rank, v.perm, v.rows)


def broadcast_layout(em: Emitter, node: Node) -> tuple[list[str], Value]:
    """The operands in one physical layout, that of the first full-rank tensor operand.

    A ``Constant`` operand is written already laid out that way (its array given the full rank
    and transposed), so it costs no op; a lower-rank tensor operand puts everything in Keras order.
    """
    vals = [em.value(i) for i in node.inputs]
    rank = len(node.shape)
    tensors = [(i, v) for i, v in zip(node.inputs, vals, strict=True) if i.op != "Constant"]
    perm = next((v.perm for _, v in tensors if v.rank == rank), None)
    if any(v.rank != rank or v.rows is not None for _, v in tensors):
        perm = None
    names = []
    for i, v in zip(node.inputs, vals, strict=True):
        if i.op == "Constant":
            array = i.params["value"]
            array = array.reshape((1,) * (rank - array.ndim) + array.shape)
            if perm is not None:
                array = array.transpose(perm)
            names.append(em.const(f"{i.name}.laid_out", np.ascontiguousarray(array)))
        else:
            names.append(em.ensure(v, perm))
    return names, Value("", rank, perm)


def _broadcast(*op_types: str) -> EmitFn:
    """An ONNX op over broadcast operands (then the rest of ``op_types`` on its result)."""

    def emit(em: Emitter, node: Node) -> Value:
        xs, layout = broadcast_layout(em, node)
        out = em.op(op_types[0], xs, node.name if len(op_types) == 1 else f"{node.name}_{op_types[0].lower()}")
        for op_type in op_types[1:]:
            out = em.op(op_type, [out], node.name)
        return Value(out, layout.rank, layout.perm)

    return emit


for _op in BROADCAST_OPS:
    if _op != "NotEqual":
        emitter(_op)(_broadcast(_op))
emitter("NotEqual")(_broadcast("Equal", "Not"))


@emitter("Slice")
def _slice(em: Emitter, node: Node) -> Value:
    v = _plain(em, node.inputs[0])
    starts, ends, axes, steps = [], [], [], []
    big = np.iinfo(np.int64).max
    for axis, (start, stop, step) in enumerate(node.attrs["slices"]):
        step = 1 if step is None else step
        if start is None and stop is None and step == 1:
            continue
        starts.append((0 if step > 0 else big) if start is None else start)
        ends.append((big if step > 0 else -big) if stop is None else stop)
        axes.append(v.axis(axis))
        steps.append(step)
    if not axes:
        return v
    names = [_ints(em, node, k, a) for k, a in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps))]
    out = em.op("Slice", [v.name, *names], node.name)
    return Value(out, v.rank, v.perm)


@emitter("Squeeze")
def _squeeze(em: Emitter, node: Node) -> Value:
    v = _plain(em, node.inputs[0])
    axes = node.attrs["axes"]
    out = em.op("Squeeze", [v.name, _ints(em, node, "axes", sorted(v.axis(a) for a in axes))], node.name)
    return Value(out, v.rank - len(axes), _drop(_order(v), axes))


@emitter("Unsqueeze")
def _unsqueeze(em: Emitter, node: Node) -> Value:
    """New size-1 axes go last physically: any place is the same bytes, and the rest keeps its order."""
    v = _plain(em, node.inputs[0])
    axes = sorted(node.attrs["axes"])
    rank = v.rank + len(axes)
    if v.perm is None:
        return Value(em.op("Unsqueeze", [v.name, _ints(em, node, "axes", axes)], node.name), rank)
    kept = [i for i in range(rank) if i not in axes]  # old logical axis a is new axis kept[a]
    perm = [kept[a] for a in v.perm] + axes
    physical = list(range(v.rank, rank))
    return Value(em.op("Unsqueeze", [v.name, _ints(em, node, "axes", physical)], node.name), rank, canon(perm))


@emitter("ReshapeAll")
def _reshape_all(em: Emitter, node: Node) -> Value:
    x = em.ensure(em.value(node.inputs[0]), None)
    return Value(em.op("Reshape", [x, _ints(em, node, "shape", node.shape)], node.name), len(node.shape))


@emitter("Tile")
def _tile(em: Emitter, node: Node) -> Value:
    v = _plain(em, node.inputs[0])
    src = node.inputs[0].shape
    if v.rank == 3 and v.perm is None and src[1] == 1 and None not in src[1:]:
        # RepeatVector's one step: channels-first costs a Reshape here and saves the Conv1D or
        # Dense after it a Transpose.
        v = Value(em.ensure(v, channels_first(3)), 3, channels_first(3))
    reps = [node.attrs["repeats"][a] for a in _order(v)]
    return Value(em.op("Tile", [v.name, _ints(em, node, "repeats", reps)], node.name), v.rank, v.perm)


@emitter("Repeat")
def _repeat(em: Emitter, node: Node) -> Value:
    """NumPy's repeat as a Gather of each index ``repeats`` times."""
    v = _plain(em, node.inputs[0])
    axis = node.attrs["axis"]
    index = np.repeat(np.arange(node.inputs[0].shape[axis], dtype=np.int64), int(node.attrs["repeats"]))
    out = em.op("Gather", [v.name, em.const(f"{node.name}.index", index)], node.name, axis=v.axis(axis))
    return Value(out, v.rank, v.perm)


@emitter("PadAxes")
def _pad_axes(em: Emitter, node: Node) -> Value:
    v = _plain(em, node.inputs[0])
    pads = [tuple(node.attrs["pads"][a]) for a in _order(v)]
    inputs = [v.name, _ints(em, node, "pads", onnx_pads(pads))]
    mode = node.attrs.get("mode", "constant")
    if mode == "constant" and node.attrs.get("value"):
        inputs.append(em.scalar(float(node.attrs["value"])))
    return Value(em.op("Pad", inputs, node.name, mode=mode), v.rank, v.perm)


@emitter("MatMul")
def _matmul(em: Emitter, node: Node) -> Value:
    a, b = (em.ensure(em.value(i), None) for i in node.inputs)
    return Value(em.op("MatMul", [a, b], node.name), len(node.shape))


@emitter("Einsum")
def _einsum(em: Emitter, node: Node) -> Value:
    xs = [em.ensure(em.value(i), None) for i in node.inputs]
    return Value(em.op("Einsum", xs, node.name, equation=node.attrs["equation"]), len(node.shape))


@emitter("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd")
def _reduce(em: Emitter, node: Node) -> Value:
    v = _plain(em, node.inputs[0])
    axes = node.attrs["axes"]
    keep = bool(node.attrs.get("keepdims"))
    physical = sorted(v.axis(a) for a in axes)
    out = em.reduce(node.op, v.name, physical, node.name, keep)
    return Value(out, v.rank if keep else v.rank - len(axes), v.perm if keep else _drop(_order(v), axes))


@emitter("ArgMax", "ArgMin")
def _arg(em: Emitter, node: Node) -> Value:
    """The first index of the extreme value, as int32 like Keras's argmax."""
    v = _plain(em, node.inputs[0])
    (axis,) = node.attrs["axes"]
    keep = bool(node.attrs.get("keepdims"))
    index = em.op(node.op, [v.name], f"{node.name}_index", axis=v.axis(axis), keepdims=int(keep))
    out = em.op("Cast", [index], node.name, to=ONNX_TYPES[node.dtype])
    return Value(out, v.rank if keep else v.rank - 1, v.perm if keep else _drop(_order(v), [axis]))


@emitter("DepthToSpace", "SpaceToDepth")
def _depth_space(em: Emitter, node: Node) -> Value:
    """TensorFlow's channel order is ONNX's DCR order (depth, then column, then row of the block)."""
    x = em.nchw(node.inputs[0])
    attrs = {"blocksize": int(node.attrs["block_size"])}
    if node.op == "DepthToSpace":
        attrs["mode"] = "DCR"
    return Value(em.op(node.op, [x], node.name, **attrs), 4, NCHW)
