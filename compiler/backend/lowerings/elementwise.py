"""Lowerings of the element-wise ops: activations, Keras's merge layers and the fused Add+ReLU.
They keep whatever physical layout their operands have, so they cost no transposes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ..emitter import EmitFn, Emitter, Value, emitter


def emit_activation(em: Emitter, x: str, act: dict[str, Any], base: str) -> str:
    """An activation a linear op carries (its ``activation`` attribute), as standard ONNX ops."""
    op = act["op"]
    if op == "Clip":  # its bounds are inputs since opset 11
        return em.op("Clip", [x, em.scalar(act["min"]), em.scalar(act["max"])], base)
    attrs = {k: float(v) for k, v in act.items() if k in ("alpha", "beta")}
    return em.op(op, [x], base, **attrs)


def _unary(op_type: str, **fixed: Any) -> EmitFn:
    """The same-named ONNX op, with the node's ``alpha``/``beta`` as float attributes."""

    def emit(em: Emitter, node: Node) -> Value:
        v = em.value(node.inputs[0])
        attrs = {**fixed, **{k: float(val) for k, val in node.attrs.items() if k in ("alpha", "beta")}}
        return Value(em.op(op_type, [v.name], node.name, **attrs), v.rank, v.perm, v.rows)

    return emit


for _op in ("Relu", "Sigmoid", "Tanh", "Softplus", "Softsign", "Exp", "HardSigmoid", "LeakyRelu", "Elu"):
    emitter(_op)(_unary(_op))
emitter("Selu")(_unary("Selu", alpha=1.6732632423543772, gamma=1.0507009873554805))


@emitter("Clip")
def _clip(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    act = {"op": "Clip", "min": node.attrs["min"], "max": node.attrs["max"]}
    return Value(emit_activation(em, v.name, act, node.name), v.rank, v.perm, v.rows)


@emitter("PRelu")
def _prelu(em: Emitter, node: Node) -> Value:
    """Keras's PReLU: a learned slope per element of the sample shape (1 on shared axes),
    laid out like the tensor it multiplies."""
    v = em.value(node.inputs[0])
    slope = node.params["alpha"].reshape(1, *node.params["alpha"].shape)
    if v.perm is not None:
        slope = slope.transpose(v.perm)
    if v.rows is not None:
        slope = slope[:, np.asarray(v.rows)] if slope.shape[1] > 1 else slope
    out = em.op("PRelu", [v.name, em.const(f"{node.name}.slope", np.ascontiguousarray(slope))], node.name)
    return Value(out, v.rank, v.perm, v.rows)


@emitter("Softmax", "LogSoftmax")
def _softmax(em: Emitter, node: Node) -> Value:
    """The ONNX op over one axis; over several, exp(x − max) / Σ exp(x − max) with the
    reductions over those axes (LogSoftmax: x − max − log Σ exp(x − max))."""
    v = em.value(node.inputs[0])
    axis = node.attrs["axis"]
    if isinstance(axis, int):
        return Value(em.op(node.op, [v.name], node.name, axis=v.axis(axis)), v.rank, v.perm, v.rows)
    x = em.ensure(v, v.perm)
    phys = sorted(v.axis(a) for a in axis)
    top = em.reduce("ReduceMax", x, phys, f"{node.name}_max")
    shifted = em.op("Sub", [x, top], f"{node.name}_shifted")
    exp = em.op("Exp", [shifted], f"{node.name}_exp")
    total = em.reduce("ReduceSum", exp, phys, f"{node.name}_sum")
    if node.op == "LogSoftmax":
        out = em.op("Sub", [shifted, em.op("Log", [total], f"{node.name}_log")], node.name)
    else:
        out = em.op("Div", [exp, total], node.name)
    return Value(out, v.rank, v.perm)


@emitter("Swish")
def _swish(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    gate = em.op("Sigmoid", [v.name], f"{node.name}_gate")
    return Value(em.op("Mul", [v.name, gate], node.name), v.rank, v.perm, v.rows)


@emitter("Mish")
def _mish(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    t = em.op("Tanh", [em.op("Softplus", [v.name], f"{node.name}_sp")], f"{node.name}_tanh")
    return Value(em.op("Mul", [v.name, t], node.name), v.rank, v.perm, v.rows)


@emitter("Gelu")
def _gelu(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    out = gelu(em, v.name, None, bool(node.attrs.get("approximate")), node.name)
    return Value(out, v.rank, v.perm, v.rows)


@emitter("BiasGelu")
def _bias_gelu(em: Emitter, node: Node) -> Value:
    """gelu(x + bias) with the bias a Dense gave up (passes.fuse_bias_gelu); the bias runs along
    the logical last axis, which a target's one-node form needs physically last too."""
    v = em.value(node.inputs[0])
    bias = node.params["bias"].astype(np.float32)
    if v.axis(v.rank - 1) == v.rank - 1:
        if v.rows is not None:
            bias = bias[np.asarray(v.rows)]
        return Value(gelu(em, v.name, bias, bool(node.attrs.get("approximate")), node.name), v.rank, v.perm, v.rows)
    x = em.ensure(v, v.perm)
    shape = [1] * v.rank
    shape[v.axis(v.rank - 1)] = -1
    biased = em.op("Add", [x, em.const(f"{node.name}.bias", bias.reshape(shape))], f"{node.name}_biased")
    return Value(gelu(em, biased, None, bool(node.attrs.get("approximate")), node.name), v.rank, v.perm)


def gelu(em: Emitter, x: str, bias: np.ndarray | None, approximate: bool, name: str) -> str:
    """gelu(x + bias): the target's one-node form, else the bias Add, then ONNX Gelu at opset 20
    or the formula, spelled as onnxruntime's Gelu fusions recognize it (x / √2 for erf)."""
    fused = em.target.gelu(em, x, bias, approximate, name)
    if fused is not None:
        return fused
    if bias is not None:
        x = em.op("Add", [x, em.const(f"{name}.bias", bias)], f"{name}_biased")
    if em.opset >= 20:
        return em.op("Gelu", [x], name, approximate="tanh" if approximate else "none")
    if approximate:  # x·(0.5·(1 + tanh(√(2/π)(x + 0.044715x³))))
        cube = em.op("Mul", [em.op("Mul", [x, x], f"{name}_sq"), x], f"{name}_cube")
        inner = em.op("Add", [x, em.op("Mul", [cube, em.scalar(0.044715)], f"{name}_c")], f"{name}_in")
        arg = em.op("Mul", [inner, em.scalar(float(np.sqrt(2 / np.pi)))], f"{name}_arg")
        one_plus = em.op("Add", [em.op("Tanh", [arg], f"{name}_tanh"), em.scalar(1.0)], f"{name}_1p")
        return em.op("Mul", [x, em.op("Mul", [one_plus, em.scalar(0.5)], f"{name}_half")], name)
    # x·(1 + erf(x/√2))·0.5
    core = em.op("Erf", [em.op("Div", [x, em.scalar(float(np.sqrt(2)))], f"{name}_arg")], f"{name}_erf")
    one_plus = em.op("Add", [core, em.scalar(1.0)], f"{name}_1p")
    return em.op("Mul", [em.op("Mul", [x, one_plus], f"{name}_x1p"), em.scalar(0.5)], name)


@emitter("KerasRelu")
def _keras_relu(em: Emitter, node: Node) -> Value:
    """x if x > t else 0, clipped to [0, max], minus slope·relu(t − x) — Keras's ReLU exactly."""
    v = em.value(node.inputs[0])
    a, x = node.attrs, v.name
    t = em.scalar(a["threshold"])
    above = em.op("Greater", [x, t], f"{node.name}_above")
    y = em.op("Where", [above, x, em.scalar(0.0)], f"{node.name}_pos")
    if a.get("max_value") is not None:
        y = em.op("Clip", [y, em.scalar(0.0), em.scalar(a["max_value"])], f"{node.name}_clip")
    if a.get("negative_slope"):
        neg = em.op("Relu", [em.op("Sub", [t, x], f"{node.name}_tx")], f"{node.name}_neg")
        scaled = em.op("Mul", [neg, em.scalar(a["negative_slope"])], f"{node.name}_negs")
        y = em.op("Sub", [y, scaled], f"{node.name}_out")
    return Value(y, v.rank, v.perm, v.rows)


def _common_layout(em: Emitter, node: Node) -> tuple[list[str], Value]:
    """The operands in one physical layout (the first full-rank operand's), and that layout."""
    vals = [em.value(i) for i in node.inputs]
    rank = max(v.rank for v in vals)
    same_rank = all(v.rank == rank for v in vals)
    ref = next(v for v in vals if v.rank == rank)
    perm = ref.perm if same_rank else None
    rows = ref.rows if same_rank and all(v.rows == ref.rows for v in vals) else None
    if rows is not None:
        return [v.name for v in vals], Value("", rank, perm, rows)
    return [em.ensure(v, perm if v.rank == rank else None) for v in vals], Value("", rank, perm)


def _nary(op_type: str, variadic: bool) -> EmitFn:
    """Keras's merge layers: one variadic ONNX op, or a chain of binary ones."""

    def emit(em: Emitter, node: Node) -> Value:
        xs, layout = _common_layout(em, node)
        if variadic:
            out = em.op(op_type, xs, node.name)
        else:
            out = xs[0]
            for i, x in enumerate(xs[1:], 1):
                out = em.op(op_type, [out, x], node.name if i == len(xs) - 1 else f"{node.name}_{i}")
        return Value(out, layout.rank, layout.perm, layout.rows)

    return emit


emitter("Add")(_nary("Add", False))
emitter("Sub")(_nary("Sub", False))
emitter("Mul")(_nary("Mul", False))
emitter("Max")(_nary("Max", True))
emitter("Min")(_nary("Min", True))
emitter("Mean")(_nary("Mean", True))


@emitter("FusedAddRelu")
def _add_relu(em: Emitter, node: Node) -> Value:
    xs, layout = _common_layout(em, node)
    out = xs[0]
    for i, x in enumerate(xs[1:], 1):
        out = em.op("Add", [out, x], f"{node.name}_add{i}")
    return Value(em.op("Relu", [out], node.name), layout.rank, layout.perm, layout.rows)
