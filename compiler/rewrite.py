"""Pattern rewrites: a fusion written as *pattern → check → replacement*.

A pattern is a tree of :class:`P` matched from a root node towards its inputs::

    BN_OF_CONV = P("BatchNorm", P(("Conv", "Dense"), name="conv"), name="bn")

``P(None)`` (or :data:`ANY`) matches any tensor. A :class:`Rule` adds a ``check`` on the match
(weights are constants, the intermediate has no other consumer) and a ``rewrite`` that returns
the node replacing the root. :func:`apply_rules` visits every node once in topological order,
so a rule set costs time linear in the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .ir import Graph, Node

Match = dict[str, Node]


@dataclass(frozen=True)
class P:
    """A node pattern: op name(s), operand patterns (in slot order), and a name to bind."""

    op: str | tuple[str, ...] | None = None
    inputs: tuple[P, ...] = ()
    name: str | None = None

    def __init__(self, op: str | Sequence[str] | None = None, *inputs: P, name: str | None = None) -> None:
        object.__setattr__(self, "op", tuple(op) if isinstance(op, list | tuple) else op)
        object.__setattr__(self, "inputs", tuple(inputs))
        object.__setattr__(self, "name", name)

    def match(self, node: Node, bound: Match | None = None) -> Match | None:
        bound = {} if bound is None else bound
        if self.op is not None:
            ops = (self.op,) if isinstance(self.op, str) else self.op
            if node.op not in ops:
                return None
        if self.inputs:
            actual = node.inputs
            if len(actual) != len(self.inputs):
                return None
            for pattern, operand in zip(self.inputs, actual, strict=False):
                if pattern.match(operand, bound) is None:
                    return None
        if self.name is not None:
            if self.name in bound and bound[self.name] is not node:
                return None
            bound[self.name] = node
        return bound


ANY = P(None)


@dataclass
class Rule:
    """One rewrite: where it applies, when it is legal, and what replaces the root."""

    name: str
    pattern: P
    rewrite: Callable[[Graph, Match], Node | None]
    check: Callable[[Match], bool] = field(default=lambda m: True)


def apply_rules(graph: Graph, rules: Iterable[Rule]) -> dict[str, int]:
    """Apply each rule wherever it matches; returns how often each fired.

    The replaced root's consumers are rewired to the replacement and nodes left without
    consumers are dropped.
    """
    rules = list(rules)
    fired = {r.name: 0 for r in rules}
    order: list[Node | None] = list(graph.nodes())
    for i in range(len(order)):
        node, order[i] = order[i], None  # hold no reference once visited: replaced weights can go
        if node is None or node.name not in graph:
            continue  # consumed by an earlier rewrite
        for rule in rules:
            match = rule.pattern.match(node)
            if match is None or not rule.check(match):
                continue
            new = rule.rewrite(graph, match)
            if new is None:
                continue
            if new is not node:
                graph.replace_all_uses(node, new)
                graph.prune(node)
            fired[rule.name] += 1
            break
        del node
    if any(fired.values()):
        graph.remove_dead()
    return fired
