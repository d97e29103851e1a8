"""Operations of ``keras.src.ops.nn``: activation functions called on tensors
(``keras.ops.relu(x)``, ``keras.ops.gelu(x, approximate=True)``), with their keyword arguments
read from the config, and softmax over an axis."""

from __future__ import annotations

from collections.abc import Sequence

from compiler.ir import Node

from ..layers.base import LayerContext, hard_sigmoid_attrs, normalize_axis
from . import tensors as T
from .base import activation_op, keras_op, operand

keras_op("Relu")(activation_op("relu"))
keras_op("Relu6")(activation_op("relu6"))
keras_op("Sigmoid")(activation_op("sigmoid"))
keras_op("Softplus")(activation_op("softplus"))
keras_op("Softsign")(activation_op("softsign"))
keras_op("Silu")(activation_op("silu"))
keras_op("Swish")(activation_op("swish"))
keras_op("Selu")(activation_op("selu"))
keras_op("HardSilu")(activation_op("hard_silu"))
keras_op("HardSwish")(activation_op("hard_swish"))
keras_op("Mish")(activation_op("mish"))
keras_op("HardTanh")(activation_op("hard_tanh"))


@keras_op("Gelu")
def gelu(ctx: LayerContext, inputs: list[Node]) -> Node:
    approximate = bool(ctx.get("approximate", True))  # keras.ops.gelu defaults to the tanh form
    return ctx.add("Gelu", [operand(ctx, inputs)], attrs={"approximate": approximate}, main=True)


@keras_op("LeakyRelu")
def leaky_relu(ctx: LayerContext, inputs: list[Node]) -> Node:
    slope = float(ctx.get("negative_slope", 0.2))
    return ctx.add("LeakyRelu", [operand(ctx, inputs)], attrs={"alpha": slope}, main=True)


@keras_op("Elu")
def elu(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Elu", [operand(ctx, inputs)], attrs={"alpha": float(ctx.get("alpha", 1.0))}, main=True)


@keras_op("HardSigmoid")
def hard_sigmoid(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("HardSigmoid", [operand(ctx, inputs)], attrs=hard_sigmoid_attrs(ctx), main=True)


@keras_op("Softmax", "LogSoftmax")
def softmax(ctx: LayerContext, inputs: list[Node]) -> Node:
    x = operand(ctx, inputs)
    axis = ctx.get("axis", -1)
    if isinstance(axis, Sequence):
        raise ctx.unsupported(f"axis {axis} (a softmax over several axes)")
    op = "LogSoftmax" if ctx.class_name == "LogSoftmax" else "Softmax"
    return ctx.add(op, [x], attrs={"axis": normalize_axis(ctx, axis, len(x.shape))}, main=True)


@keras_op("DepthToSpace", "SpaceToDepth")
def depth_to_space(ctx: LayerContext, inputs: list[Node]) -> Node:
    x = operand(ctx, inputs)
    return T.depth_space(ctx, ctx.class_name, x, ctx.get("block_size"), ctx.get("data_format", "channels_last"))
