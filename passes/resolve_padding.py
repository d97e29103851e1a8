"""Turn Keras padding modes into explicit pads, and merge ZeroPadding2D into the next op.

``padding='same'`` follows TensorFlow: total = max((⌈n/s⌉ − 1)·s + k_eff − n, 0), with the odd
pixel at the bottom/right (:func:`compiler.ops.same_pads`). Resolving it here, where the input
size is known, gives the backend plain symmetric-or-not pads and no ``auto_pad`` ambiguity.

A ``Pad`` (zeros) feeding a window op is merged into that op's pads when that is exact:

* Conv / DepthwiseConv: always, since convolution pads with zeros;
* AveragePool without pads of its own: the pool then counts the padded zeros
  (``count_include_pad``), which is what averaging zero-padded data means. Where the merged pads
  would reach the kernel size (which onnxruntime's pools reject) the pool becomes the depthwise
  convolution it is — a constant 1/(kh·kw) kernel — which takes any pads;
* MaxPool: when the padded tensor cannot be negative (it comes from a ReLU-like op) a zero
  border never beats real values, so the pool's own ignored border is the same; otherwise the
  pool records the zero part as ``zero_pads`` and the backend restores those zeros with one
  ``Max`` against a constant mask (so sizes must be known). Pads reaching the kernel size stay a
  ``Pad``; onnxruntime folds a zero Pad into a following MaxPool as if the zeros were ignored
  (wrong for negative data), so the backend emits every MaxPool that reads a Pad in a form that
  fusion leaves alone.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node
from compiler.ops import Kind, is_a, never_negative, ops_of, spatial_pads, window_size
from compiler.pipeline import register_pass

WINDOW_OPS = ops_of(Kind.WINDOW)


def _explicit(node: Node) -> tuple[tuple[int, int], ...] | None:
    shape = node.inputs[0].shape
    if node.attrs["padding"] in ("same",) and None in shape[1:-1]:
        return None
    kernel = window_size(node)
    dil = node.attrs.get("dilations", (1,) * len(kernel))
    return tuple(spatial_pads(node.attrs["padding"], shape[1:-1], kernel, node.attrs["strides"], dil))


def _merged_pads(pad: Node, op: Node) -> tuple[tuple[int, int], ...] | None:
    own = _explicit(op)
    if own is None or not pad.has_single_use() or op.attrs.get("count_include_pad"):
        return None
    if is_a(op, Kind.POOL) and len(op.shape) != 4:
        return None  # the zero mask and the pool-as-convolution are written for images only
    if op.op == "AveragePool" and any(p != (0, 0) for p in own):
        return None  # its own border is excluded from the average, the Pad's is not: keep both
    if op.op == "MaxPool" and not never_negative(pad.input) and None in op.inputs[0].shape[1:3]:
        return None  # the zero mask needs known sizes
    return tuple((a[0] + b[0], a[1] + b[1]) for a, b in zip(own, pad.attrs["pads"], strict=False))


def _fits(pads: tuple[tuple[int, int], ...], kernel: tuple[int, int]) -> bool:
    return all(max(p) < k for p, k in zip(pads, kernel, strict=False))


def _average_as_conv(graph: Graph, pool: Node, source: Node, pads: tuple[tuple[int, int], ...]) -> Node:
    kh, kw = pool.attrs["window"]
    channels = pool.shape[-1]
    kernel = np.full((kh, kw, channels, 1), 1.0 / (kh * kw), np.float32)
    attrs = {"strides": pool.attrs["strides"], "dilations": (1, 1), "padding": pads}
    conv = graph.add(
        "DepthwiseConv",
        [source],
        name=pool.name,
        attrs=attrs,
        params={"kernel": kernel},
        layer=pool.layer,
        shape=pool.shape,
    )
    graph.replace_all_uses(pool, conv)
    graph.remove(pool)
    return conv


@register_pass("resolve_padding")
def resolve_padding(graph: Graph) -> tuple[Graph, str]:
    """Make every window op's pads explicit and merge zero Pad nodes into them."""
    resolved = merged = 0
    for node in graph.nodes(WINDOW_OPS):
        src = node.inputs[0]
        pads = _merged_pads(src, node) if src.op == "Pad" else None
        if pads is not None and is_a(node, Kind.POOL) and not _fits(pads, window_size(node)):
            if node.op == "AveragePool":
                _average_as_conv(graph, node, src.input, pads)
                graph.remove(src)
                merged += 1
            continue
        if pads is not None:
            node.attrs["padding"] = pads
            if node.op == "AveragePool":
                node.attrs["count_include_pad"] = True
            if node.op == "MaxPool" and not never_negative(src.input):
                node.attrs["zero_pads"] = tuple(tuple(p) for p in src.attrs["pads"])
            graph.set_inputs(node, [src.input])
            graph.remove(src)
            merged += 1
            continue
        if isinstance(node.attrs["padding"], str):
            explicit = _explicit(node)
            if explicit is not None:
                node.attrs["padding"] = explicit
                resolved += 1
    return graph, f"resolved {resolved} padding modes, merged {merged} ZeroPadding2D"
