"""Fuse ``Relu(Add(a, b))`` into one ``FusedAddRelu`` node: ResNet's residual join.

Legal when nothing else reads the sum. The backend lowers it to the target's best form.
"""

from __future__ import annotations

from compiler.ir import Graph, Node
from compiler.pipeline import register_pass
from compiler.rewrite import Match, P, Rule, apply_rules


def _fuse(graph: Graph, m: Match) -> Node:
    add, relu = m["add"], m["relu"]
    return graph.add("FusedAddRelu", add.inputs, name=relu.name, layer=relu.layer, shape=relu.shape)


RULE = Rule(
    "fuse_add_relu",
    P("Relu", P("Add", name="add"), name="relu"),
    rewrite=_fuse,
    check=lambda m: m["add"].has_single_use(),
)


@register_pass("fuse_add_relu")
def fuse_add_relu(graph: Graph) -> tuple[Graph, str]:
    """Fuse Add followed by Relu."""
    return graph, f"fused {apply_rules(graph, [RULE])['fuse_add_relu']} Add+Relu"
