"""The registries of Keras operations: what a model records when code computes on its tensors.

Keras 3 records ``x + 1.0`` or ``keras.ops.relu(x)`` on a symbolic tensor as an *operation*
(``{"module": "keras.src.ops.numpy", "class_name": "Add", ...}``) whose arguments, tensors
and constants, are kept in its call; :data:`OPERATIONS` maps its class name to an entry.
tf.keras (Keras 2) records a TensorFlow function called on tensors as a ``TFOpLambda`` layer
named by the function (``math.add``); :data:`TF_FUNCTIONS` maps that name to an entry.

Entries have the layers' signature (:data:`~frontends.layers.base.LayerFn`): the context's
``args`` holds the call's arguments (nodes and constants), its config the keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.ir import Node

from ..layers.base import LayerContext, LayerFn, apply_activation

#: Keras 3 operation class name (``Add``, ``Relu``) -> its entry
OPERATIONS: dict[str, LayerFn] = {}
#: TensorFlow function name of a tf.keras TFOpLambda layer (``math.add``, ``nn.relu``) -> its entry
TF_FUNCTIONS: dict[str, LayerFn] = {}


def keras_op(*class_names: str) -> Callable[[LayerFn], LayerFn]:
    """Register an entry for Keras 3 operation classes (``keras.src.ops.*``)."""

    def register(fn: LayerFn) -> LayerFn:
        for name in class_names:
            OPERATIONS[name] = fn
        return fn

    return register


def tf_function(*function_names: str) -> Callable[[LayerFn], LayerFn]:
    """Register an entry for TensorFlow functions that tf.keras records as TFOpLambda layers."""

    def register(fn: LayerFn) -> LayerFn:
        for name in function_names:
            TF_FUNCTIONS[name] = fn
        return fn

    return register


def operand(ctx: LayerContext, inputs: list[Node]) -> Node:
    """The one tensor argument of a unary operation."""
    args = [a for a in (ctx.args or inputs) if isinstance(a, Node)]
    if len(args) != 1:
        raise ctx.unsupported(f"{len(args)} tensor arguments (expects one)")
    return args[0]


def activation_op(name: str) -> LayerFn:
    """An operation that is the Keras activation ``name`` applied to its one tensor."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        return apply_activation(ctx, operand(ctx, inputs), name, main=True)

    return build
