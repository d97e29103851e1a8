"""Fold constant per-channel arithmetic into the weights around it.

Keras models scale their inputs (``Rescaling(1/255)``, ``Normalization``), and a BatchNorm that
follows no convolution is, at inference, the same per-channel affine map y = a·x + b. This pass
turns every remaining BatchNorm into such an ``Affine`` and then removes Affines by folding:

* into the linear op **before** it (Conv, DepthwiseConv, ConvTranspose, Dense):
  W' = W·a (output channels), B' = B·a + b — always legal;
* into the convolution or Dense **after** it: W'[…, i, o] = W[…, i, o]·a[i] and
  B'[o] = B[o] + Σ W[…, i, o]·b[i] — legal when b = 0 or the convolution pads nothing (a padded
  border would be zeros, not b);
* into the Affine after it: a = a₁a₂, b = a₂b₁ + b₂; an identity Affine (a = 1, b = 0) vanishes;
* half into a convolution that pads its input: a·x + b = a·(x + b/a) when no a is 0, so the
  scale folds into the kernel as above and only the shift b/a stays (torch preprocessing's
  ``(x / 255 - mean) / std`` before DenseNet's padded first convolution becomes one Add).

Run after ``resolve_padding``, so convolution pads are explicit.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node
from compiler.ops import OPS, Kind, batchnorm_scale_shift, ops_of
from compiler.pipeline import register_pass
from compiler.rewrite import ANY, Match, P, Rule, apply_rules

from .fold_batchnorm import scale_kernel

LINEAR = ops_of(Kind.LINEAR)
#: The linear ops an Affine before them folds into: those whose kernel keeps the input channels
#: second to last, as :func:`_into_consumer` scales them (a ConvTranspose kernel keeps them last).
CONSUMERS = tuple(op for op in LINEAR if OPS[op].kernel is not None and OPS[op].kernel.in_axis == -2)


def _plain(node: Node) -> bool:
    return not node.attrs.get("activation") and len(node.inputs) == 1


def _last_axis(node: Node) -> bool:
    return node.attrs["axis"] == len(node.shape) - 1


def _replace(graph: Graph, old: Node, inputs: list[Node], params: dict, shape=None) -> Node:
    return graph.add(
        old.op, inputs, name=old.name, attrs=dict(old.attrs), params=params, layer=old.layer, shape=shape or old.shape
    )


def _bn_to_affine(graph: Graph, m: Match) -> Node:
    bn = m["bn"]
    scale, shift = batchnorm_scale_shift(bn)
    params = {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)}
    return graph.add(
        "Affine",
        bn.inputs,
        name=bn.name,
        attrs={"axis": bn.attrs["axis"]},
        params=params,
        layer=bn.layer,
        shape=bn.shape,
    )


def _into_producer(graph: Graph, m: Match) -> Node:
    affine, linear = m["affine"], m["linear"]
    a, b = affine.params["scale"], affine.params["shift"].astype(np.float64)
    bias = linear.params.get("bias")
    bias = np.zeros_like(b) if bias is None else bias.astype(np.float64)
    params = {"kernel": scale_kernel(linear, a), "bias": (bias * a + b).astype(np.float32)}
    return _replace(graph, linear, linear.inputs, params, shape=affine.shape)


def _pads_nothing(node: Node) -> bool:
    padding = node.attrs.get("padding")
    return padding == "valid" or (isinstance(padding, tuple | list) and all(p == (0, 0) for p in map(tuple, padding)))


def _consumer_legal(m: Match) -> bool:
    affine, consumer = m["affine"], m["consumer"]
    if not (_last_axis(affine) and affine.has_single_use() and _plain(consumer)):
        return False
    if consumer.op == "Dense":
        return True
    return not np.any(affine.params["shift"]) or _pads_nothing(consumer)


def _into_consumer(graph: Graph, m: Match) -> Node:
    affine, consumer = m["affine"], m["consumer"]
    a, b = affine.params["scale"], affine.params["shift"].astype(np.float64)
    k = consumer.params["kernel"]
    if consumer.op == "Dense":  # (in, out)
        kernel, extra = k * a[:, None], b @ k.astype(np.float64)
    elif consumer.op == "DepthwiseConv":  # (kh, kw, cin, mult)
        kernel = k * a[None, None, :, None]
        extra = np.einsum("hwcm,c->cm", k.astype(np.float64), b).reshape(-1)
    else:  # Conv (kh, kw, cin/g, cout), (kd, kh, kw, …) for volumes: o reads the channels of its group
        per_group, cout = k.shape[-2:]
        groups = consumer.attrs.get("group", 1)
        index = (np.arange(cout) // (cout // groups))[None, :] * per_group + np.arange(per_group)[:, None]
        kernel = k * a[index]
        extra = np.einsum("sio,io->o", k.reshape(-1, per_group, cout).astype(np.float64), b[index])
    bias = consumer.params.get("bias")
    bias = np.zeros(kernel.shape[-1] if consumer.op != "DepthwiseConv" else extra.size) if bias is None else bias
    params = {"kernel": kernel.astype(np.float32), "bias": (bias + extra).astype(np.float32)}
    return _replace(graph, consumer, affine.inputs, params)


def _scale_legal(m: Match) -> bool:
    affine, consumer = m["affine"], m["consumer"]
    scale = affine.params["scale"]
    return (
        _last_axis(affine)
        and affine.has_single_use()
        and _plain(consumer)
        and consumer.op != "Dense"
        and bool(np.all(scale != 0))
        and bool(np.any(scale != 1))
    )


def _scale_into_consumer(graph: Graph, m: Match) -> Node:
    """The shift b/a stays as an Affine of its own; the scale a goes into the consumer's kernel."""
    affine, consumer = m["affine"], m["consumer"]
    a, b = affine.params["scale"].astype(np.float64), affine.params["shift"].astype(np.float64)
    shift = graph.add(
        "Affine",
        affine.inputs,
        name=graph.unique_name(affine.name),
        attrs=dict(affine.attrs),
        params={"scale": np.ones_like(affine.params["scale"]), "shift": (b / a).astype(np.float32)},
        layer=affine.layer,
        shape=affine.shape,
    )
    scaled = {"scale": affine.params["scale"], "shift": np.zeros_like(affine.params["shift"])}
    kernel_only = graph.add(
        "Affine",
        [shift],
        name=graph.unique_name(affine.name),
        attrs=dict(affine.attrs),
        params=scaled,
        layer=affine.layer,
        shape=affine.shape,
    )
    return _into_consumer(graph, {"affine": kernel_only, "consumer": consumer})


def _merge(graph: Graph, m: Match) -> Node:
    outer, inner = m["outer"], m["inner"]
    a1, b1 = inner.params["scale"].astype(np.float64), inner.params["shift"].astype(np.float64)
    a2, b2 = outer.params["scale"].astype(np.float64), outer.params["shift"].astype(np.float64)
    params = {"scale": (a1 * a2).astype(np.float32), "shift": (a2 * b1 + b2).astype(np.float32)}
    return _replace(graph, outer, inner.inputs, params)


def _identity(graph: Graph, m: Match) -> Node:
    return m["affine"].inputs[0]


BN_TO_AFFINE = Rule("bn_to_affine", P("BatchNorm", name="bn"), rewrite=_bn_to_affine)
INTO_PRODUCER = Rule(
    "into_producer",
    P("Affine", P(LINEAR, ANY, name="linear"), name="affine"),
    rewrite=_into_producer,
    check=lambda m: _last_axis(m["affine"]) and _plain(m["linear"]) and m["linear"].has_single_use(),
)
INTO_CONSUMER = Rule(
    "into_consumer",
    P(CONSUMERS, P("Affine", name="affine"), name="consumer"),
    rewrite=_into_consumer,
    check=_consumer_legal,
)
SCALE_INTO_CONSUMER = Rule(
    "scale_into_consumer",
    P(CONSUMERS, P("Affine", name="affine"), name="consumer"),
    rewrite=_scale_into_consumer,
    check=_scale_legal,
)
MERGE = Rule(
    "merge",
    P("Affine", P("Affine", name="inner"), name="outer"),
    rewrite=_merge,
    check=lambda m: m["inner"].has_single_use() and m["inner"].attrs["axis"] == m["outer"].attrs["axis"],
)
IDENTITY = Rule(
    "identity",
    P("Affine", name="affine"),
    rewrite=_identity,
    check=lambda m: bool(np.all(m["affine"].params["scale"] == 1) and not np.any(m["affine"].params["shift"])),
)


@register_pass("fold_affine")
def fold_affine(graph: Graph) -> tuple[Graph, str]:
    """Fold BatchNorm leftovers, Rescaling and Normalization into neighbouring weights."""
    converted = apply_rules(graph, [BN_TO_AFFINE])["bn_to_affine"]
    fired = apply_rules(graph, [MERGE])
    fired.update(apply_rules(graph, [IDENTITY, INTO_PRODUCER]))  # a merged chain may cancel out
    fired.update({k: v + fired.get(k, 0) for k, v in apply_rules(graph, [INTO_CONSUMER]).items()})
    fired.update(apply_rules(graph, [SCALE_INTO_CONSUMER]))  # what could not fold whole, by halves
    folded = fired["into_producer"] + fired["into_consumer"] + fired["merge"] + fired["identity"]
    folded += fired["scale_into_consumer"]
    left = len(graph.nodes("Affine"))
    return graph, (
        f"folded {folded} constant scale/shift ({converted} from BatchNorm)"
        + (f", {left} left as Mul+Add" if left else "")
    )
