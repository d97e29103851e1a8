"""Lowerings of the normalizations: BatchNorm and Affine (per-channel scale and shift, whatever
``passes.fold_affine`` could not fold), LayerNorm over any axes (with its RMS forms), GroupNorm and
UnitNorm. Each works in the operand's physical layout: weights are laid out like the data, and the
reductions run over wherever the normalized axes physically are."""

from __future__ import annotations

import numpy as np

from ...ir import Node
from ...ops import batchnorm_scale_shift
from ..emitter import Emitter, Value, canon, emitter


@emitter("BatchNorm")
def _batch_norm(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    p, eps = node.params, node.attrs["epsilon"]
    axis = v.axis(node.attrs["axis"])
    if axis == 1:
        names = [em.const(f"{node.name}.{k}", p[k]) for k in ("gamma", "beta", "mean", "var")]
        return Value(em.op("BatchNormalization", [x, *names], node.name, epsilon=float(eps)), v.rank, v.perm)
    scale, shift = batchnorm_scale_shift(node)
    return _scale_shift(em, node, v, x, axis, scale.astype(np.float32), shift.astype(np.float32))


@emitter("Affine")
def _affine(em: Emitter, node: Node) -> Value:
    """x·scale + shift along one axis (Keras Rescaling/Normalization, unfoldable BatchNorm), or
    along several (``axis`` a tuple, the parameters shaped like those axes: Normalization)."""
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    axis = node.attrs["axis"]
    if isinstance(axis, int):
        return _scale_shift(em, node, v, x, v.axis(axis), node.params["scale"], node.params["shift"])
    logical = [1] * v.rank
    for a, size in zip(axis, node.params["scale"].shape, strict=False):
        logical[a] = size

    def laid_out(array: np.ndarray) -> np.ndarray:
        array = array.reshape(logical)
        return np.ascontiguousarray(array.transpose(v.perm)) if v.perm else array

    scaled = em.op("Mul", [x, em.const(f"{node.name}.scale", laid_out(node.params["scale"]))], f"{node.name}_scale")
    shift = em.const(f"{node.name}.shift", laid_out(node.params["shift"]))
    return Value(em.op("Add", [scaled, shift], node.name), v.rank, v.perm)


def _scale_shift(em: Emitter, node: Node, v: Value, x: str, axis: int, scale: np.ndarray, shift: np.ndarray) -> Value:
    """x·scale + shift along one physical axis; a unit scale or a zero shift is left out.

    Both, along the channels of an image tensor (axis 1 of NCHW: DenseNet's BatchNorm after a
    Concat, which no convolution precedes), are one BatchNormalization with a zero mean, a unit
    variance and no epsilon, which computes exactly x·scale + shift: onnxruntime runs it inside its
    blocked-channel (NCHWc) convolution layout, while a Mul and an Add take each tensor out of that
    layout and back (12-19% of DenseNet121's latency, benchmarks/cpu_engines.py)."""
    shape = [1] * v.rank
    shape[axis] = -1
    y, scaled, shifted = x, bool(np.any(scale != 1)), bool(np.any(shift))
    if scaled and shifted and axis == 1 and v.rank == 4:
        stats = [
            em.const(f"{node.name}.scale", scale.reshape(-1)),
            em.const(f"{node.name}.shift", shift.reshape(-1)),
            em.const(f"{node.name}.mean", np.zeros(scale.size, np.float32)),
            em.const(f"{node.name}.var", np.ones(scale.size, np.float32)),
        ]
        return Value(em.op("BatchNormalization", [x, *stats], node.name, epsilon=0.0), v.rank, v.perm)
    if scaled or not shifted:
        y = em.op(
            "Mul",
            [x, em.const(f"{node.name}.scale", scale.reshape(shape))],
            f"{node.name}_scale" if shifted else node.name,
        )
    if shifted:
        y = em.op("Add", [y, em.const(f"{node.name}.shift", shift.reshape(shape))], node.name)
    return Value(y, v.rank, v.perm)


def _axes(node: Node) -> tuple[int, ...]:
    """A node's ``axis`` attribute as a tuple of logical axes: one axis or several."""
    axis = node.attrs["axis"]
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _operand(em: Emitter, node: Node, axes: tuple[int, ...]) -> tuple[str, Value]:
    """The operand and its layout; a 2-D tensor whose features are permuted (after Flatten) is
    read as it is when the op works over all the features, whose statistics ignore the order."""
    v = em.value(node.inputs[0])
    if v.rows is not None and axes == (1,):
        return v.name, Value("", v.rank, v.perm, v.rows)
    return em.ensure(v, v.perm), Value("", v.rank, v.perm)


def _laid_out(array: np.ndarray, axes: tuple[int, ...], layout: Value) -> np.ndarray:
    """A weight over the logical ``axes`` as a tensor that broadcasts against the physical data."""
    logical = [1] * layout.rank
    for a, size in zip(axes, array.shape, strict=True):
        logical[a] = size
    out = array.reshape(logical)
    if layout.perm is not None:
        out = out.transpose(layout.perm)
    if layout.rows is not None:
        out = out[:, np.asarray(layout.rows)]
    return np.ascontiguousarray(out, dtype=np.float32)


@emitter("LayerNorm")
def _layer_norm(em: Emitter, node: Node) -> Value:
    """ONNX LayerNormalization where the normalized axes are the physically last ones; elsewhere
    (and for the RMS forms) spelled out with ReduceMean over them, so an NCHW tensor needs no
    transpose. ``rms`` "variance" (Keras 3's ``rms_scaling``) divides x itself by √(var + ε),
    "square" (RMSNormalization) by √(mean(x²) + ε)."""
    axes = _axes(node)
    x, layout = _operand(em, node, axes)
    eps, rms = float(node.attrs["epsilon"]), node.attrs.get("rms")
    return _normalize(em, node.name, x, layout, axes, node.params, eps, rms)


def _normalize(
    em: Emitter,
    name: str,
    x: str,
    layout: Value,
    axes: tuple[int, ...],
    params: dict[str, np.ndarray],
    eps: float,
    rms: str | None = None,
) -> Value:
    """Layer normalization of ``x`` (laid out as ``layout``) over the logical ``axes``."""
    rank = layout.rank
    gamma = _laid_out(params["gamma"], axes, layout)
    beta = _laid_out(params["beta"], axes, layout)
    phys = sorted(layout.axis(a) for a in axes)
    first = rank - len(phys)
    if rms is None and phys == list(range(first, rank)):
        names = [em.const(f"{name}.gamma", gamma.reshape(gamma.shape[first:]))]
        if np.any(beta):
            names.append(em.const(f"{name}.beta", beta.reshape(beta.shape[first:])))
        out = em.op("LayerNormalization", [x, *names], name, axis=-len(phys), epsilon=eps)
        return Value(out, rank, layout.perm, layout.rows)
    if rms == "square":
        power = em.reduce("ReduceMean", em.op("Mul", [x, x], f"{name}_sq"), phys, f"{name}_ms")
        top = x
    else:
        mean = em.reduce("ReduceMean", x, phys, f"{name}_mean")
        centred = em.op("Sub", [x, mean], f"{name}_centred")
        power = em.reduce("ReduceMean", em.op("Mul", [centred, centred], f"{name}_sq"), phys, f"{name}_var")
        top = x if rms == "variance" else centred
    std = em.op("Sqrt", [em.op("Add", [power, em.scalar(eps)], f"{name}_var_eps")], f"{name}_std")
    scaled, shifted = bool(np.any(gamma != 1)), bool(np.any(beta))
    y = em.op("Div", [top, std], name if not (scaled or shifted) else f"{name}_normed")
    if scaled:
        y = em.op("Mul", [y, em.const(f"{name}.gamma", gamma)], name if not shifted else f"{name}_scaled")
    if shifted:
        y = em.op("Add", [y, em.const(f"{name}.beta", beta)], name)
    return Value(y, rank, layout.perm, layout.rows)


@emitter("SkipLayerNorm")
def _skip_layer_norm(em: Emitter, node: Node) -> Value:
    """LayerNorm(a + b [+ bias]) over the last axis (passes.fuse_skip_layernorm): the target's
    one-node form where both operands are in Keras's own layout, else the Adds and the norm."""
    va, vb = (em.value(i) for i in node.inputs)
    rank, last, eps = va.rank, (va.rank - 1,), float(node.attrs["epsilon"])
    bias = node.params.get("bias")
    if va.perm is None and vb.perm is None and va.rows is None and vb.rows is None:
        fused = em.target.skip_layer_norm(em, va.name, vb.name, node.params, eps, rank, node.name)
        if fused is not None:
            return Value(fused, rank)
    if va.perm == vb.perm and va.rows == vb.rows:
        a, b, layout = va.name, vb.name, Value("", rank, va.perm, va.rows)
    else:
        a, b, layout = em.ensure(va, None), em.ensure(vb, None), Value("", rank)
    if bias is not None:  # back on the Dense's product first: the order onnxruntime's own fusion looks for
        a = em.op("Add", [a, em.const(f"{node.name}.bias", _laid_out(bias, last, layout))], f"{node.name}_bias")
    total = em.op("Add", [a, b], f"{node.name}_sum")
    return _normalize(em, node.name, total, layout, last, node.params, eps)


@emitter("GroupNorm")
def _group_norm(em: Emitter, node: Node) -> Value:
    """Each sample's channels viewed as (groups, the rest): InstanceNormalization of that view
    computes every group's statistics in one kernel (onnxruntime and TensorRT both run it fast),
    then γ and β per channel. The grouped axis must be physically second: where the layout has it
    elsewhere the data is moved once, so an NCHW feature map needs no transpose."""
    v = em.value(node.inputs[0])
    axis, groups, name = node.attrs["axis"], node.attrs["groups"], node.name
    if v.rows is None and v.axis(axis) == 1:
        perm = v.perm
    else:
        perm = canon((0, axis, *[a for a in range(1, v.rank) if a != axis]))
    x = em.ensure(v, perm)
    grouped = em.op("Reshape", [x, em.const("group_shape", np.asarray([0, groups, -1], np.int64))], f"{name}_grouped")
    ones, zeros = np.ones(groups, np.float32), np.zeros(groups, np.float32)
    stats = [em.const(f"{name}.unit", ones), em.const(f"{name}.zero", zeros)]
    normed = em.op("InstanceNormalization", [grouped, *stats], f"{name}_normed", epsilon=float(node.attrs["epsilon"]))
    back = em.op("Reshape", [normed, em.op("Shape", [x], f"{name}_shape")], f"{name}_ungrouped")
    out = Value(back, v.rank, perm)
    p = node.params
    if not np.any(p["gamma"] != 1) and not np.any(p["beta"]):
        return Value(em.op("Identity", [back], name), v.rank, perm)
    return _scale_shift(em, node, out, back, 1, p["gamma"].astype(np.float32), p["beta"].astype(np.float32))


@emitter("UnitNorm")
def _unit_norm(em: Emitter, node: Node) -> Value:
    """x / max(√Σx², floor) over the axes, in whatever layout the data has."""
    axes = _axes(node)
    x, layout = _operand(em, node, axes)
    phys = sorted(layout.axis(a) for a in axes)
    norm = em.op("Sqrt", [em.reduce("ReduceSumSquare", x, phys, f"{node.name}_ss")], f"{node.name}_norm")
    floor = em.op("Max", [norm, em.scalar(float(node.attrs.get("floor", 1e-12)))], f"{node.name}_floor")
    return Value(em.op("Div", [x, floor], node.name), layout.rank, layout.perm, layout.rows)
