"""Give convolutions their residual add and activation, the way runtimes execute them.

Two rules, applied after BatchNorm folding and Add+ReLU fusion:

* residual join, ``FusedAddRelu(Conv(x), z)`` or ``Add(Conv(x), z)`` → ``Conv(x, z)`` whose second
  operand is added to the convolution's output before its activation: y = act(W·x + B + z).
  Of two convolution operands the later one takes the other as ``z``, so ``z`` is ready first.
* activation, ``Relu|Clip|LeakyRelu|Sigmoid|Tanh|HardSigmoid(Conv|DepthwiseConv|ConvTranspose|Dense)``
  → the linear op with an ``activation`` attribute. The op table says which ops take a residual,
  which are linear and which activations they can carry (:attr:`Kind.ACTIVATION`), with the
  attributes that travel along.

Both require that nothing else reads the intermediate tensor. The ``ort`` target lowers the
result to one ``com.microsoft.FusedConv`` per node; standard ONNX gets Conv, Add and the
activation back as separate ops (which onnxruntime and TensorRT fuse again themselves).
"""

from __future__ import annotations

from typing import Any

from compiler.ir import Graph, Node
from compiler.ops import OPS, Kind, ops_of
from compiler.pipeline import register_pass
from compiler.rewrite import Match, P, Rule, apply_rules

CONVS = tuple(name for name, spec in OPS.items() if spec.residual)
LINEAR = ops_of(Kind.LINEAR)
ACTIVATIONS = ops_of(Kind.ACTIVATION)


def _plain(node: Node) -> bool:
    """A conv that has nothing fused yet and whose output only the join reads."""
    return node.op in CONVS and not node.attrs.get("activation") and len(node.inputs) == 1 and node.has_single_use()


def _pick_conv(join: Node) -> tuple[Node, Node] | None:
    """(conv to fuse into, the other operand), or None."""
    if len(join.inputs) != 2:
        return None
    a, b = join.inputs
    if a is b:
        return None
    # Both operands must have the output's shape: FusedConv adds Z element by element, no broadcast.
    candidates = [(c, z) for c, z in ((a, b), (b, a)) if _plain(c) and c.shape == join.shape == z.shape]
    if not candidates:
        return None
    return max(candidates, key=lambda cz: cz[0]._order)


def _fuse_residual(graph: Graph, m: Match) -> Node | None:
    join = m["join"]
    picked = _pick_conv(join)
    if picked is None:
        return None
    conv, z = picked
    attrs = dict(conv.attrs)
    if join.op == "FusedAddRelu":
        attrs["activation"] = {"op": "Relu"}
    return graph.add(
        conv.op,
        [conv.inputs[0], z],
        name=join.name,
        attrs=attrs,
        params=conv.params,
        layer=conv.layer,
        shape=join.shape,
    )


def activation_attr(node: Node) -> dict[str, Any]:
    """The ``activation`` attribute that stands for ``node``: its op and the parameters that travel along."""
    params = OPS[node.op].activation_params
    return {"op": node.op, **{k: v for k, v in node.attrs.items() if k in params}}


def _fuse_activation(graph: Graph, m: Match) -> Node:
    linear, act = m["linear"], m["act"]
    attrs = {**linear.attrs, "activation": activation_attr(act)}
    return graph.add(
        linear.op, linear.inputs, name=act.name, attrs=attrs, params=linear.params, layer=linear.layer, shape=act.shape
    )


RESIDUAL = Rule("conv_add", P(("FusedAddRelu", "Add"), name="join"), rewrite=_fuse_residual)
ACTIVATION = Rule(
    "conv_activation",
    P(ACTIVATIONS, P(LINEAR, name="linear"), name="act"),
    rewrite=_fuse_activation,
    check=lambda m: not m["linear"].attrs.get("activation") and m["linear"].has_single_use(),
)


@register_pass("fuse_conv")
def fuse_conv(graph: Graph) -> tuple[Graph, str]:
    """Fuse residual adds and activations into the convolution before them."""
    residual = apply_rules(graph, [RESIDUAL])["conv_add"]
    activation = apply_rules(graph, [ACTIVATION])["conv_activation"]
    return graph, f"fused {residual} residual Add, {activation} activations into Conv/Dense"
