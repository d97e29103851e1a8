"""Turn Keras padding modes into explicit pads, and merge ZeroPadding2D into the next op.

``padding='same'`` follows TensorFlow: total = max((⌈n/s⌉ − 1)·s + k_eff − n, 0), with the odd
pixel at the bottom/right (:func:`compiler.ops.same_pads`). Resolving it here, where the input
size is known, gives the backend plain symmetric-or-not pads and no ``auto_pad`` ambiguity.

A ``Pad`` (zeros) feeding a window op is merged into that op's pads when that is exact:

* Conv / DepthwiseConv: always — convolution pads with zeros;
* AveragePool: when the pool's own pads are zero — then the pool counts the padded zeros
  (``count_include_pad``), which is what averaging over zero-padded data means;
* MaxPool: when the padded tensor cannot be negative (it comes from a ReLU-like op), so a zero
  border never wins over real values, just as an ignored border would not.
"""
from __future__ import annotations

from compiler.ir import Graph, Node
from compiler.ops import spatial_pads
from compiler.pipeline import register_pass

WINDOW_OPS = ("Conv", "DepthwiseConv", "MaxPool", "AveragePool")
NON_NEGATIVE = ("Relu", "FusedAddRelu", "Sigmoid", "Softmax", "Exp", "Softplus", "HardSigmoid")


def _kernel(node: Node) -> tuple[int, int]:
    return tuple(node.attrs["kernel"]) if "kernel" in node.attrs else node.params["kernel"].shape[:2]


def _explicit(node: Node) -> tuple[tuple[int, int], ...] | None:
    shape = node.inputs[0].shape
    if node.attrs["padding"] in ("same",) and None in shape[1:3]:
        return None
    dil = node.attrs.get("dilations", (1, 1))
    return tuple(spatial_pads(node.attrs["padding"], shape[1:3], _kernel(node), node.attrs["strides"], dil))


def _non_negative(node: Node) -> bool:
    if node.op in NON_NEGATIVE:
        return True
    return node.op == "Clip" and node.attrs.get("min", -1) >= 0


def _mergeable(pad: Node, op: Node) -> bool:
    if not pad.has_single_use() or op.attrs.get("count_include_pad"):
        return False
    own = _explicit(op)
    if own is None:
        return False
    if op.op == "AveragePool":
        return all(p == (0, 0) for p in own)
    if op.op == "MaxPool":
        return _non_negative(pad.input)
    return True


@register_pass("resolve_padding", default=True)
def resolve_padding(graph: Graph) -> tuple[Graph, str]:
    """Make every window op's pads explicit and merge zero Pad nodes into them."""
    resolved = merged = 0
    for node in graph.nodes(WINDOW_OPS):
        src = node.inputs[0]
        if src.op == "Pad" and _mergeable(src, node):
            own = _explicit(node)
            extra = src.attrs["pads"]
            node.attrs["padding"] = tuple((a[0] + b[0], a[1] + b[1]) for a, b in zip(own, extra))
            if node.op == "AveragePool":
                node.attrs["count_include_pad"] = True
            graph.set_inputs(node, [src.input])
            graph.remove(src)
            merged += 1
        elif isinstance(node.attrs["padding"], str):
            explicit = _explicit(node)
            if explicit is None:
                continue
            node.attrs["padding"] = explicit
            resolved += 1
    return graph, f"resolved {resolved} padding modes, merged {merged} ZeroPadding2D"
