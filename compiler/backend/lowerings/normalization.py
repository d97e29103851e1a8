"""Lowerings of the normalizations: BatchNorm and Affine (per-channel scale and shift, whatever
``passes.fold_affine`` could not fold) and LayerNorm."""

from __future__ import annotations

import numpy as np

from ...ir import Node
from ...ops import batchnorm_scale_shift
from ..emitter import Emitter, Value, emitter


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
    """x·scale + shift along one physical axis; a unit scale or a zero shift is left out."""
    shape = [1] * v.rank
    shape[axis] = -1
    y, scaled, shifted = x, bool(np.any(scale != 1)), bool(np.any(shift))
    if scaled or not shifted:
        y = em.op(
            "Mul",
            [x, em.const(f"{node.name}.scale", scale.reshape(shape))],
            f"{node.name}_scale" if shifted else node.name,
        )
    if shifted:
        y = em.op("Add", [y, em.const(f"{node.name}.shift", shift.reshape(shape))], node.name)
    return Value(y, v.rank, v.perm)


@emitter("LayerNorm")
def _layer_norm(em: Emitter, node: Node) -> Value:
    """ONNX LayerNormalization where the normalized axis is physically last; else spelled out
    with ReduceMean over that axis, so an NCHW tensor needs no transpose."""
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    axis, eps = v.axis(node.attrs["axis"]), float(node.attrs["epsilon"])
    gamma, beta = node.params["gamma"], node.params["beta"]
    if axis == v.rank - 1:
        names = [em.const(f"{node.name}.gamma", gamma), em.const(f"{node.name}.beta", beta)]
        return Value(em.op("LayerNormalization", [x, *names], node.name, axis=-1, epsilon=eps), v.rank, v.perm)
    shape = [1] * v.rank
    shape[axis] = -1
    mean = _reduce_mean(em, x, axis, f"{node.name}_mean")
    centred = em.op("Sub", [x, mean], f"{node.name}_centred")
    var = _reduce_mean(em, em.op("Mul", [centred, centred], f"{node.name}_sq"), axis, f"{node.name}_var")
    std = em.op("Sqrt", [em.op("Add", [var, em.scalar(eps)], f"{node.name}_var_eps")], f"{node.name}_std")
    normed = em.op("Div", [centred, std], f"{node.name}_normed")
    scaled = em.op("Mul", [normed, em.const(f"{node.name}.gamma", gamma.reshape(shape))], f"{node.name}_scaled")
    return Value(em.op("Add", [scaled, em.const(f"{node.name}.beta", beta.reshape(shape))], node.name), v.rank, v.perm)


def _reduce_mean(em: Emitter, x: str, axis: int, base: str) -> str:
    """ReduceMean over one axis, keeping it; opset 18 moved ``axes`` from attribute to input."""
    if em.opset >= 18:
        return em.op("ReduceMean", [x, em.const("axes", np.asarray([axis], np.int64))], base, keepdims=1)
    return em.op("ReduceMean", [x], base, axes=[axis], keepdims=1)
