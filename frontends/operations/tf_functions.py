"""tf.keras (Keras 2) TFOpLambda layers: TensorFlow functions called on tensors, named by the
function (``__operators__.add`` for ``x + y``, ``math.multiply``, ``nn.relu``).

The ``TFOpLambda`` operation looks its function up in :data:`~.base.TF_FUNCTIONS`; these are
the element-wise ones, as binary arithmetic or activations.
"""

from __future__ import annotations

from compiler.errors import UnsupportedLayerError
from compiler.ir import Node

from ..layers.base import LayerContext, LayerFn, apply_activation
from .base import TF_FUNCTIONS, keras_op, operand, tf_function
from .numpy_ops import binary


def _refuse(ctx: LayerContext) -> UnsupportedLayerError:
    """The refusal of a TensorFlow function without an entry (or called other than it takes)."""
    return ctx.unsupported(
        f"the TensorFlow function '{str(ctx.get('function'))}'", hint="supported: " + ", ".join(sorted(TF_FUNCTIONS))
    )


@keras_op("TFOpLambda")
def tf_op_lambda(ctx: LayerContext, inputs: list[Node]) -> Node:
    fn = TF_FUNCTIONS.get(str(ctx.get("function")))
    if fn is None:
        raise _refuse(ctx)
    return fn(ctx, inputs)


def _unary(name: str) -> LayerFn:
    """A TensorFlow function that is the Keras activation ``name``, called on one tensor."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        if len(ctx.args or []) != 1:
            raise _refuse(ctx)
        return apply_activation(ctx, operand(ctx, inputs), name, main=True)

    return build


tf_function("__operators__.add", "math.add")(binary("add"))
tf_function("math.subtract")(binary("sub"))
tf_function("math.multiply")(binary("mul"))
tf_function("math.truediv", "math.divide")(binary("div"))
tf_function("math.maximum")(binary("max"))
tf_function("math.minimum")(binary("min"))
tf_function("nn.relu")(_unary("relu"))
tf_function("nn.relu6")(_unary("relu6"))
tf_function("math.sigmoid", "nn.sigmoid")(_unary("sigmoid"))
tf_function("math.tanh")(_unary("tanh"))
tf_function("nn.silu")(_unary("silu"))
tf_function("nn.swish")(_unary("swish"))
tf_function("nn.gelu")(_unary("gelu"))
tf_function("nn.elu")(_unary("elu"))
tf_function("nn.selu")(_unary("selu"))
tf_function("math.softplus", "nn.softplus")(_unary("softplus"))
tf_function("math.exp")(_unary("exponential"))
