"""The intermediate representation: a small, explicit dataflow graph over networkx.

One :class:`Node` is one op producing one tensor. Edges carry the consumer's input slot
(``index``) so operand order is explicit even when the same tensor feeds an op twice
(``Add([x, x])``). The IR keeps Keras semantics: tensors are NHWC and shapes are Keras shapes
with ``None`` for the batch dimension; the backend chooses the physical layout.

The API follows torch.fx's spirit: nodes are printable, the graph can be linted with
:meth:`Graph.check`, and passes mutate it through a handful of helpers (``add``,
``replace_all_uses``, ``remove``, ``set_inputs``) rather than touching networkx directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import networkx as nx
import numpy as np

from .errors import GraphError
from .ops import DTYPES, infer_dtype, infer_shape

Shape = tuple[int | None, ...]


class Node:
    """One op and the tensor it produces."""

    __slots__ = ("graph", "name", "op", "attrs", "params", "layer", "shape", "dtype", "_order")

    def __init__(
        self,
        graph: Graph,
        name: str,
        op: str,
        attrs: dict[str, Any],
        params: dict[str, np.ndarray],
        layer: str | None,
        shape: Shape | None,
        dtype: str,
        order: int,
    ) -> None:
        self.graph = graph
        self.name = name
        self.op = op
        self.attrs = attrs
        self.params = params
        self.layer = layer
        self.shape = shape
        self.dtype = dtype
        self._order = order

    # -- navigation -------------------------------------------------------------------------
    @property
    def inputs(self) -> list[Node]:
        """Operands in slot order."""
        g = self.graph._g
        slots = sorted((data["index"], src) for src, _, data in g.in_edges(self.name, data=True))
        return [g.nodes[src]["node"] for _, src in slots]

    def uses(self) -> list[tuple[Node, int]]:
        """Every (consumer, input slot) reading this node, in a stable order."""
        g = self.graph._g
        found = [(g.nodes[dst]["node"], data["index"]) for _, dst, data in g.out_edges(self.name, data=True)]
        return sorted(found, key=lambda u: (u[0]._order, u[1]))

    @property
    def users(self) -> list[Node]:
        """Distinct consumers, in graph order."""
        seen: dict[str, Node] = {}
        for user, _ in self.uses():
            seen.setdefault(user.name, user)
        return list(seen.values())

    @property
    def is_output(self) -> bool:
        return any(o is self for o in self.graph.outputs)

    def has_single_use(self) -> bool:
        """True when exactly one consumer slot reads this tensor and it is not a graph output."""
        return len(self.uses()) == 1 and not self.is_output

    @property
    def input(self) -> Node:
        """The sole operand of a unary op."""
        ins = self.inputs
        if len(ins) != 1:
            raise GraphError(f"{self.op} node '{self.name}' has {len(ins)} inputs, expected 1")
        return ins[0]

    def __repr__(self) -> str:
        args = ", ".join(f"%{n.name}" for n in self.inputs)
        attrs = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(self.attrs.items()) if v is not None)
        params = ", ".join(f"{k}:{tuple(v.shape)}" for k, v in self.params.items())
        extra = "".join(f"[{s}]" for s in (attrs, params) if s)
        kind = "" if self.dtype == "float32" else f" {self.dtype}"
        return f"%{self.name} = {self.op}{extra}({args}) : {_fmt(self.shape)}{kind}"


def _fmt(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "(" + ",".join("?" if v is None else _fmt(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Graph:
    """A dataflow graph of :class:`Node` with ordered inputs and named outputs."""

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self._g = nx.MultiDiGraph()
        self._counter = itertools.count()
        self._topo: list[Node] | None = None
        self.inputs: list[Node] = []
        self.outputs: list[Node] = []
        self.output_names: list[str] = []
        self.meta: dict[str, str] = {}

    # -- construction -----------------------------------------------------------------------
    def add(
        self,
        op: str,
        inputs: Sequence[Node] = (),
        *,
        name: str | None = None,
        attrs: dict[str, Any] | None = None,
        params: dict[str, np.ndarray] | None = None,
        layer: str | None = None,
        shape: Shape | None = None,
        dtype: str | None = None,
        infer: bool = True,
    ) -> Node:
        """Create a node; its shape and element type are inferred from its inputs unless given."""
        node = Node(
            self,
            self.unique_name(name or layer or op.lower()),
            op,
            dict(attrs or {}),
            dict(params or {}),
            layer,
            shape,
            dtype or "float32",
            next(self._counter),
        )
        self._g.add_node(node.name, node=node)
        for index, src in enumerate(inputs):
            self._g.add_edge(src.name, node.name, index=index)
        self._topo = None
        if dtype is None:
            node.dtype = infer_dtype(node)
        if infer and shape is None:
            try:
                node.shape = infer_shape(node)
            except Exception:
                self._g.remove_node(node.name)  # leave the graph as it was
                raise
        return node

    def unique_name(self, base: str) -> str:
        if base not in self._g:
            return base
        for i in itertools.count(1):
            candidate = f"{base}_{i}"
            if candidate not in self._g:
                return candidate
        raise AssertionError("unreachable")

    def add_input(self, name: str, shape: Shape, dtype: str = "float32") -> Node:
        """A graph input of Keras's element type (float32 images, int32/int64 token ids, uint8 pixels…)."""
        if dtype not in DTYPES:
            raise GraphError(f"input '{name}' has the element type '{dtype}', not one of {', '.join(DTYPES)}")
        node = self.add("Input", name=name, layer=name, shape=tuple(shape), dtype=dtype)
        self.inputs.append(node)
        return node

    def set_outputs(self, nodes: Sequence[Node], names: Sequence[str] | None = None) -> None:
        self.outputs = list(nodes)
        self.output_names = list(names) if names is not None else [n.name for n in nodes]

    # -- mutation helpers for passes ------------------------------------------------------------
    def set_inputs(self, node: Node, inputs: Sequence[Node]) -> None:
        """Rewire a node's operands (its shape is left as is: the caller keeps it valid)."""
        for src, dst, key in list(self._g.in_edges(node.name, keys=True)):
            self._g.remove_edge(src, dst, key)
        for index, src in enumerate(inputs):
            self._g.add_edge(src.name, node.name, index=index)
        self._topo = None

    def replace_all_uses(self, old: Node, new: Node) -> None:
        """Make every consumer of ``old`` (graph outputs included) read ``new`` instead."""
        if old is new:
            return
        for _, dst, key, data in list(self._g.out_edges(old.name, keys=True, data=True)):
            self._g.remove_edge(old.name, dst, key)
            self._g.add_edge(new.name, dst, index=data["index"])
        self.outputs = [new if o is old else o for o in self.outputs]
        self._topo = None

    def remove(self, node: Node) -> None:
        """Delete a node that nothing reads any more."""
        if self._g.out_degree(node.name) or node.is_output:
            raise GraphError(f"cannot remove '{node.name}': it still has users")
        self._g.remove_node(node.name)
        if node in self.inputs:
            self.inputs.remove(node)
        self._topo = None

    def bypass(self, node: Node) -> None:
        """Remove a unary pass-through node, wiring its consumers to its operand."""
        self.replace_all_uses(node, node.input)
        self.remove(node)

    def prune(self, node: Node) -> int:
        """Remove ``node`` if nothing reads it, then whatever it read that became unread.

        Rewrites call this right away so replaced weights are freed during a pass, not after it.
        """
        removed = 0
        stack = [node]
        while stack:
            n = stack.pop()
            if n.name not in self._g or self._g.out_degree(n.name) or n.is_output or n.op == "Input":
                continue
            stack.extend(n.inputs)
            self._g.remove_node(n.name)
            self._topo = None
            removed += 1
        return removed

    def remove_dead(self) -> int:
        """Drop nodes that cannot reach an output; returns how many went."""
        live: set[str] = set()
        stack = [o.name for o in self.outputs]
        while stack:
            name = stack.pop()
            if name in live:
                continue
            live.add(name)
            stack.extend(self._g.predecessors(name))
        dead = [n for n in self._g.nodes if n not in live and self._g.nodes[n]["node"] not in self.inputs]
        self._g.remove_nodes_from(dead)
        if dead:
            self._topo = None
        return len(dead)

    # -- queries --------------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        return self._g.nodes[name]["node"]

    def __contains__(self, name: object) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def nodes(self, op: str | Iterable[str] | None = None) -> list[Node]:
        """Nodes in a deterministic topological order, optionally only those of some ops.

        Returns a list (a snapshot), so a pass may mutate the graph while iterating.
        """
        if self._topo is None:
            g = self._g
            order = nx.lexicographical_topological_sort(g, key=lambda n: g.nodes[n]["node"]._order)
            self._topo = [g.nodes[n]["node"] for n in order]
        if op is None:
            return list(self._topo)
        ops = {op} if isinstance(op, str) else set(op)
        return [n for n in self._topo if n.op in ops]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes())

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes():
            counts[n.op] = counts.get(n.op, 0) + 1
        return dict(sorted(counts.items()))

    def num_params(self) -> int:
        seen: set[int] = set()
        total = 0
        for n in self.nodes():
            for arr in n.params.values():
                if id(arr) not in seen:
                    seen.add(id(arr))
                    total += int(arr.size)
        return total

    def infer_shapes(self) -> None:
        """Infer every node's shape again from the inputs' (after an input's shape was fixed)."""
        for node in self.nodes():
            if node.op != "Input":
                node.shape = infer_shape(node)

    # -- validation -----------------------------------------------------------------------------
    def check(self) -> None:
        """Lint the graph: acyclic, dense input slots, outputs present, shapes consistent."""
        if not nx.is_directed_acyclic_graph(self._g):
            raise GraphError("graph has a cycle")
        for o in self.outputs:
            if o.name not in self._g:
                raise GraphError(f"output '{o.name}' is not in the graph")
        if len(self.output_names) != len(self.outputs):
            raise GraphError("outputs and output names differ in length")
        for node in self.nodes():
            slots = sorted(d["index"] for _, _, d in self._g.in_edges(node.name, data=True))
            if slots != list(range(len(slots))):
                raise GraphError(f"node '{node.name}' has input slots {slots}")
            if node.op != "Input":
                expected = infer_shape(node)
                if tuple(expected) != tuple(node.shape or ()):
                    raise GraphError(
                        f"node '{node.name}' ({node.op}) records shape {node.shape}, inputs give {expected}"
                    )
                if node.dtype != infer_dtype(node):
                    raise GraphError(
                        f"node '{node.name}' ({node.op}) records dtype {node.dtype}, inputs give {infer_dtype(node)}"
                    )

    def __str__(self) -> str:
        lines = [f"graph {self.name}("]
        lines += [f"    %{n.name} : {_fmt(n.shape)}," for n in self.inputs]
        lines.append("):")
        lines += [f"    {n!r}" for n in self.nodes() if n.op != "Input"]
        outs = ", ".join(f"{name}=%{n.name}" for name, n in zip(self.output_names, self.outputs, strict=False))
        lines.append(f"    return {outs}")
        return "\n".join(lines)

    def to_dot(self) -> str:
        """The graph in Graphviz DOT: one box per node (op, layer, shape), edges labelled by slot."""

        def quote(text: str) -> str:
            return '"' + text.replace('"', "'") + '"'

        lines = [f"digraph {quote(self.name)} {{", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
        for node in self.nodes():
            label = f"{node.op}\\n{node.name}\\n{_fmt(node.shape)}"
            style = ', style=filled, fillcolor="#dde8f8"' if node.op == "Input" or node.is_output else ""
            lines.append(f"  {quote(node.name)} [label={quote(label)}{style}];")
        for src, dst, data in sorted(self._g.edges(data=True), key=lambda e: (e[1], e[2]["index"])):
            slot = f' [label="{data["index"]}"]' if len(self.node(dst).inputs) > 1 else ""
            lines.append(f"  {quote(src)} -> {quote(dst)}{slot};")
        lines.append("}")
        return "\n".join(lines) + "\n"
