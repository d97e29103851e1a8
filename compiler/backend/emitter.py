"""The emitter: IR nodes in, ONNX nodes and initializers out, with NCHW inside and the Keras
model's own layout at the edges.

Every emitted tensor carries a *physical layout* relative to its Keras (logical) shape:

* ``perm``: the physical tensor is ``transpose(logical, perm)`` — ``(0, 3, 1, 2)`` for the NCHW
  that ONNX convolutions want, ``None`` when physical == logical;
* ``rows``: for a 2-D tensor, a permutation of its features — what ``Flatten`` of an NCHW tensor
  produces. A ``Dense`` that reads it permutes its weight rows instead of transposing the data.

Ops that care about layout (Conv, pooling, Concat's axis, Softmax's axis, Pad's pads) convert
their operands with :meth:`Emitter.ensure`, which inserts one cached Transpose/Gather per
(tensor, layout); everything element-wise just passes the layout through. So a Keras graph costs
one Transpose per 4-D input and per 4-D output, and none inside.

Lowerings are registered per IR op with :func:`emitter`, one small function each, like tf2onnx's
handlers; the registry, not an if-chain, decides who converts what. What differs between targets
is asked of :attr:`Emitter.target` (see :mod:`compiler.backend.targets`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx
from onnx import helper

from ..errors import CompileError, UnsupportedLayerError
from ..ir import Graph, Node
from .targets import Target, get_target

Perm = tuple[int, ...] | None
NCHW = (0, 3, 1, 2)

EmitFn = Callable[["Emitter", Node], "Value"]
EMITTERS: dict[str, EmitFn] = {}


def emitter(*ops: str) -> Callable[[EmitFn], EmitFn]:
    """Register the decorated function as the lowering of IR ops ``ops``."""

    def register(fn: EmitFn) -> EmitFn:
        for op in ops:
            EMITTERS[op] = fn
        return fn

    return register


def canon(perm: Sequence[int] | None) -> Perm:
    """A permutation in its one spelling: None for the identity."""
    if perm is None or tuple(perm) == tuple(range(len(perm))):
        return None
    return tuple(perm)


def channels_first(rank: int) -> Perm:
    """The channels-first layout ONNX's window ops want, for any rank: NCL, NCHW, NCDHW."""
    return canon((0, rank - 1, *range(1, rank - 1))) if rank >= 3 else None


def onnx_pads(pads: Sequence[tuple[int, int]]) -> list[int]:
    """(before, after) per axis as ONNX spells pads: every axis's start, then every axis's end."""
    return [p[0] for p in pads] + [p[1] for p in pads]


@dataclass(frozen=True)
class Value:
    """An emitted tensor and how its physical layout relates to the Keras shape."""

    name: str
    rank: int
    perm: Perm = None
    rows: tuple[int, ...] | None = None
    shape: tuple[int | None, ...] | None = None  # the logical (Keras) shape, filled in by the emitter loop

    def axis(self, logical: int) -> int:
        """Where a logical axis lives physically."""
        return logical if self.perm is None else self.perm.index(logical)


def _same_order(shape: Sequence[int | None], src: Sequence[int], dst: Sequence[int]) -> bool:
    """Whether two layouts list the axes that are not of size 1 in the same order."""
    return [a for a in src if shape[a] != 1] == [a for a in dst if shape[a] != 1]


class Emitter:
    """Accumulates ONNX nodes and initializers while walking the IR in order."""

    def __init__(self, graph: Graph, opset: int, input_layout: str, target: str = "onnx") -> None:
        self.graph = graph
        self.opset = opset
        self.input_layout = input_layout
        self.target: Target = get_target(target)
        self.domains: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[tuple[str, np.ndarray]] = []
        self.values: dict[str, Value] = {}
        self._used: set[str] = set()
        self._reserved = {n.name for n in graph.inputs} | set(graph.output_names)
        self._converted: dict[tuple[str, Perm, Any], str] = {}
        self._consts: dict[tuple[str, bytes], str] = {}

    # -- naming & building blocks -----------------------------------------------------------------
    def fresh(self, base: str) -> str:
        name, i = base, 0
        while name in self._used or name in self._reserved:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    def claim(self, name: str) -> None:
        """Mark a name as taken by the graph itself (an input), so no emitted tensor reuses it."""
        self._used.add(name)

    def is_reserved(self, name: str) -> bool:
        """Whether ``name`` belongs to a graph input or output."""
        return name in self._reserved

    def const(self, base: str, array: np.ndarray) -> str:
        """An initializer; identical small constants are shared. Large arrays stay views until written."""
        array = np.asarray(array)
        key = (str(array.dtype) + str(array.shape), array.tobytes()) if array.size <= 16 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.fresh(base)
        self.initializers.append((name, array))
        if key is not None:
            self._consts[key] = name
        return name

    def reduce(self, op_type: str, x: str, axes: Sequence[int], base: str, keepdims: bool = True) -> str:
        """An ONNX Reduce* over physical ``axes``: opset 18 made ``axes`` an input instead of an
        attribute (ReduceSum already at 13)."""
        if self.opset >= (13 if op_type == "ReduceSum" else 18):
            axes_input = self.const(f"{base}.axes", np.asarray(list(axes), np.int64))
            return self.op(op_type, [x, axes_input], base, keepdims=int(keepdims))
        return self.op(op_type, [x], base, axes=list(axes), keepdims=int(keepdims))

    def scalar(self, value: float) -> str:
        """A shared float32 scalar constant."""
        return self.const("const", np.asarray(value, np.float32))

    def op(self, op_type: str, inputs: Sequence[str], base: str, *, domain: str = "", **attrs: Any) -> str:
        out = self.fresh(base)
        if domain:
            self.domains.add(domain)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, domain=domain or None, **attrs))
        return out

    def ensure(self, value: Value, perm: Perm) -> str:
        """The tensor in the requested physical layout (feature order restored as well)."""
        perm = canon(perm)
        name = value.name
        if value.rows is not None:
            key = (value.name, None, "rows")
            if key not in self._converted:
                inverse = np.argsort(np.asarray(value.rows)).astype(np.int64)
                idx = self.const(f"{value.name}.order", inverse)
                self._converted[key] = self.op("Gather", [value.name, idx], f"{value.name}_ordered", axis=1)
            name = self._converted[key]
            value = Value(name, value.rank, value.perm)
        if value.perm == perm:
            return name
        key = (name, perm, value.perm)  # one tensor may carry two layouts (a Transpose relabels it)
        if key not in self._converted:
            src = value.perm or tuple(range(value.rank))
            dst = perm or tuple(range(value.rank))
            shape = value.shape
            if shape is not None and None not in shape[1:] and _same_order(shape, src, dst):
                # Only size-1 axes move: the bytes are already in order, a Reshape relabels them.
                dims = self.const(f"{name}.shape", np.asarray([0, *(shape[d] for d in dst[1:])], np.int64))
                self._converted[key] = self.op("Reshape", [name, dims], f"{name}_r")
            else:
                inv = [src.index(i) for i in range(value.rank)]
                self._converted[key] = self.op("Transpose", [name], f"{name}_t", perm=[inv[d] for d in dst])
        return self._converted[key]

    def value(self, node: Node) -> Value:
        return self.values[node.name]

    def nchw(self, node: Node) -> str:
        """Operand channels-first (NCHW, NCDHW for volumes), for ops defined on such data."""
        return self.ensure(self.value(node), channels_first(len(node.shape)))

    # -- whole graph --------------------------------------------------------------------------------
    def run(self) -> None:
        for node in self.graph.nodes():
            fn = EMITTERS.get(node.op)
            if fn is None:
                raise UnsupportedLayerError(f"no ONNX lowering for IR op {node.op}", layer=node.layer)
            try:
                value = fn(self, node)
                self.values[node.name] = value if value.shape is not None else replace(value, shape=node.shape)
            except CompileError as err:
                raise err.with_context(layer=node.layer) from err
