"""Fold the constant subgraphs that tensor operations create, so they cost nothing at run time.

An op whose every operand is a ``Constant`` (an ``arange``, a NumPy array argument, a weight a
custom layer reshapes or transposes, shape arithmetic on known sizes) is computed here with NumPy
and replaced by one ``Constant`` holding its value: ``Transpose(C) → C.transpose(perm)``,
``Reshape(C) → C.reshape(shape)``, ``Add(C₁, C₂) → C₁ + C₂`` and so on, one rule per op in
:data:`RULES`. Float values are computed in the op's own dtype, as the runtime would.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compiler.errors import ShapeError
from compiler.ir import Graph, Node
from compiler.pipeline import register_pass

Fold = Callable[[Node, list[np.ndarray]], np.ndarray]


def _slices(node: Node, a: np.ndarray) -> np.ndarray:
    return a[tuple(slice(*s) for s in node.attrs["slices"])]


def _rows(node: Node, ids: np.ndarray) -> np.ndarray:
    """An Embedding of constant ids (ViT's positions): its rows, ids counted from the end when negative."""
    table = node.params["table"]
    if ids.size and (ids.min() < -len(table) or ids.max() >= len(table)):
        raise ShapeError(f"layer '{node.layer}': ids {ids.min()}..{ids.max()} outside the {len(table)} rows")
    return np.take(table, ids.astype(np.int64), axis=0)


def _reduce(fn: Callable[..., np.ndarray]) -> Fold:
    return lambda n, a: fn(a[0], axis=tuple(n.attrs["axes"]), keepdims=bool(n.attrs.get("keepdims")))


#: IR op -> its value from its operands' values
RULES: dict[str, Fold] = {
    "Transpose": lambda n, a: a[0].transpose(n.attrs["perm"]),
    "Reshape": lambda n, a: a[0].reshape((a[0].shape[0], *n.attrs["shape"])),
    "ReshapeAll": lambda n, a: a[0].reshape(n.attrs["shape"]),
    "Squeeze": lambda n, a: np.squeeze(a[0], axis=tuple(n.attrs["axes"])),
    "Unsqueeze": lambda n, a: np.expand_dims(a[0], axis=tuple(n.attrs["axes"])),
    "Slice": lambda n, a: _slices(n, a[0]),
    "Concat": lambda n, a: np.concatenate(a, axis=n.attrs["axis"]),
    "Tile": lambda n, a: np.tile(a[0], n.attrs["repeats"]),
    "Repeat": lambda n, a: np.repeat(a[0], n.attrs["repeats"], axis=n.attrs["axis"]),
    "Flatten": lambda n, a: a[0].reshape(a[0].shape[0], -1),
    "Add": lambda n, a: sum(a[1:], a[0]),
    "Sub": lambda n, a: a[0] - a[1],
    "Mul": lambda n, a: np.prod(np.broadcast_arrays(*a), axis=0).astype(a[0].dtype),
    "Div": lambda n, a: a[0] / a[1],
    "Pow": lambda n, a: np.power(a[0], a[1]),
    "Max": lambda n, a: np.maximum.reduce(np.broadcast_arrays(*a)),
    "Min": lambda n, a: np.minimum.reduce(np.broadcast_arrays(*a)),
    "Neg": lambda n, a: -a[0],
    "Abs": lambda n, a: np.abs(a[0]),
    "Sqrt": lambda n, a: np.sqrt(a[0]),
    "Rsqrt": lambda n, a: 1 / np.sqrt(a[0]),
    "Reciprocal": lambda n, a: 1 / a[0],
    "Square": lambda n, a: a[0] * a[0],
    "Exp": lambda n, a: np.exp(a[0]),
    "Log": lambda n, a: np.log(a[0]),
    "Cast": lambda n, a: a[0].astype(n.attrs["dtype"]),
    "Affine": lambda n, a: _affine(n, a[0]),
    "MatMul": lambda n, a: np.matmul(a[0], a[1]),
    "Gather": lambda n, a: _rows(n, a[0]),
    "ReduceMean": _reduce(np.mean),
    "ReduceSum": _reduce(np.sum),
    "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
    "ReduceProd": _reduce(np.prod),
}


def _affine(node: Node, x: np.ndarray) -> np.ndarray:
    """x·scale + shift, the parameters spread over the Affine's axes."""
    axis = node.attrs["axis"]
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    shape = [1] * x.ndim
    for a, size in zip(axes, np.shape(node.params["scale"]), strict=False):
        shape[a] = size
    return x * node.params["scale"].reshape(shape) + node.params["shift"].reshape(shape)


def foldable(node: Node) -> bool:
    """Whether ``node`` is computed from constants only, by an op with a rule."""
    return node.op in RULES and bool(node.inputs) and all(i.op == "Constant" for i in node.inputs)


@register_pass("fold_constants")
def fold_constants(graph: Graph) -> tuple[Graph, str]:
    """Compute ops on constants when compiling: one Constant in their place."""
    folded = 0
    for node in graph.nodes():
        if not foldable(node):
            continue
        value = RULES[node.op](node, [i.params["value"] for i in node.inputs])
        value = np.ascontiguousarray(np.asarray(value).astype(np.dtype(node.dtype), copy=False))
        const = graph.add(
            "Constant", [], name=f"{node.name}.value", params={"value": value}, layer=node.layer, dtype=node.dtype
        )
        graph.replace_all_uses(node, const)
        graph.prune(node)
        folded += 1
    return graph, f"folded {folded} ops on constants"
