"""Remove what inference does not need: Dropout and identities, then unreachable nodes.

Dropout is the identity at inference; so are Keras's noise layers and ``Activation('linear')``.
"""

from __future__ import annotations

from compiler.ir import Graph, Node
from compiler.ops import Kind, is_a, ops_of
from compiler.pipeline import register_pass

PASS_THROUGH = ops_of(Kind.IDENTITY)


@register_pass("remove_identity")
def remove_identity(graph: Graph) -> tuple[Graph, str]:
    """Bypass Dropout and Identity nodes."""
    counts: dict[str, int] = {}
    noops: dict[str, int] = {}  # Keras layers that act only in training, by class
    for node in graph.nodes(PASS_THROUGH):
        graph.bypass(node)
        counts[node.op] = counts.get(node.op, 0) + 1
        if node.attrs.get("inference_noop"):
            noops[node.attrs["inference_noop"]] = noops.get(node.attrs["inference_noop"], 0) + 1
    parts = [f"removed {n} {op}" for op, n in sorted(counts.items())]
    parts += [f"{cls}: inference no-op" + (f" (×{n})" if n > 1 else "") for cls, n in sorted(noops.items())]
    return graph, ", ".join(parts) or "nothing to remove"


def _merge_transposes(graph: Graph) -> int:
    """Fold Transpose(Transpose(x)) into one, and drop identity transposes."""
    merged = 0
    for node in graph.nodes("Transpose"):
        if node.name not in graph:
            continue
        src = node.input
        perm = tuple(node.attrs["perm"])
        if src.op == "Transpose":  # read through it; it stays while something else reads it
            inner = src.attrs["perm"]
            perm = tuple(inner[p] for p in perm)
            graph.set_inputs(node, [src.input])
            node.attrs["perm"] = perm
            if not src.uses() and not src.is_output:
                graph.remove(src)
            merged += 1
        if perm == tuple(range(len(perm))):
            graph.bypass(node)
            merged += 1
    return merged


@register_pass("remove_dead")
def remove_dead(graph: Graph) -> tuple[Graph, str]:
    """Merge transpose chains and drop nodes no output depends on."""
    merged = _merge_transposes(graph)
    dead = graph.remove_dead()
    parts = [f"merged {merged} Transpose" if merged else "", f"removed {dead} dead nodes" if dead else ""]
    return graph, ", ".join(p for p in parts if p) or "nothing to remove"


def _merge_pad(graph: Graph, outer: Node, inner: Node) -> Node:
    pads = tuple((a[0] + b[0], a[1] + b[1]) for a, b in zip(inner.attrs["pads"], outer.attrs["pads"], strict=False))
    return graph.add(
        "Pad", inner.inputs, name=outer.name, attrs={**outer.attrs, "pads": pads}, layer=outer.layer, shape=outer.shape
    )


def _merge_reshape(graph: Graph, outer: Node, inner: Node) -> Node:
    return graph.add(
        "Reshape",
        inner.inputs,
        name=outer.name,
        attrs={"shape": tuple(outer.shape[1:])},
        layer=outer.layer,
        shape=outer.shape,
    )


@register_pass("merge_shape_ops")
def merge_shape_ops(graph: Graph) -> tuple[Graph, str]:
    """Merge Pad(Pad(x)), Reshape/Flatten chains, and a global pool's Reshape back to (1, 1, C)."""
    merged = 0
    for node in graph.nodes(("Pad", *ops_of(Kind.RESHAPE))):
        if node.name not in graph:
            continue
        inner = node.inputs[0]
        if not inner.has_single_use():
            continue
        if node.op == "Pad" and inner.op == "Pad":
            new = _merge_pad(graph, node, inner)
        elif (
            node.op == "Reshape"
            and is_a(inner, Kind.GLOBAL_POOL)
            and not inner.attrs.get("keepdims")
            and len(inner.inputs[0].shape) == 4
            and tuple(node.shape[1:]) == (1, 1, inner.shape[-1])
        ):
            # squeeze-and-excitation's GlobalAveragePooling2D + Reshape((1, 1, C)): keep the dims
            new = graph.add(
                inner.op,
                inner.inputs,
                name=node.name,
                attrs={**inner.attrs, "keepdims": True},
                layer=inner.layer,
                shape=node.shape,
            )
        elif is_a(node, Kind.RESHAPE) and is_a(inner, Kind.RESHAPE) and None not in node.shape[1:]:
            new = _merge_reshape(graph, node, inner)
        else:
            continue
        graph.replace_all_uses(node, new)
        graph.prune(node)
        merged += 1
    return graph, f"merged {merged} Pad/Reshape chains"
