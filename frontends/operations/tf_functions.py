"""tf.keras (Keras 2) TFOpLambda layers: TensorFlow functions called on tensors, named by the
function (``__operators__.add`` for ``x + y``, ``math.multiply``, ``nn.relu``).

The ``TFOpLambda`` operation looks its function up in :data:`~.base.TF_FUNCTIONS`; these are
the element-wise ones, as binary arithmetic or activations, and the tensor functions
(``reshape``, ``concat``, ``math.reduce_mean``, ``nn.depth_to_space``, ``__operators__.getitem``
of a ``SlicingOpLambda`` …), which read their arguments by TensorFlow's names and build the same
IR as the Keras 3 operations (:mod:`.tensors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compiler.errors import UnsupportedLayerError
from compiler.ir import Node

from ..layers.base import LayerContext, LayerFn, apply_activation, scalar_affine
from . import tensors as T
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


# -- the tensor functions, read from their serialized name and arguments (never run) -------------
def _first(ctx: LayerContext) -> Any:
    return (ctx.args or [None])[0]


def _kw(ctx: LayerContext, *names: str, default: Any = None) -> Any:
    """A keyword argument by any of its TensorFlow names (``axis``, the older ``squeeze_dims``)."""
    kwargs = ctx.kwargs or {}
    for name in names:
        if name in kwargs:
            return kwargs[name]
    return default


def _x(ctx: LayerContext) -> Node:
    return T.tensor(ctx, _first(ctx), "the first argument")


def _entry(*names: str) -> Callable[[Callable[[LayerContext], Any]], Callable[[LayerContext], Any]]:
    """Register ``fn(ctx)`` for TensorFlow function names, with and without ``compat.v1.``."""

    def register(fn: Callable[[LayerContext], Any]) -> Callable[[LayerContext], Any]:
        def build(ctx: LayerContext, inputs: list[Node]) -> Any:
            return fn(ctx)

        tf_function(*names, *(f"compat.v1.{n}" for n in names))(build)
        return fn

    return register


@_entry("__operators__.getitem")
def _getitem(ctx: LayerContext) -> Node:
    return T.getitem(ctx, _x(ctx), _kw(ctx, "slice_spec"))


@_entry("reshape")
def _reshape(ctx: LayerContext) -> Node:
    return T.reshape(ctx, _x(ctx), _kw(ctx, "shape"))


@_entry("transpose", "linalg.matrix_transpose")
def _transpose(ctx: LayerContext) -> Node:
    if _kw(ctx, "conjugate"):
        raise ctx.unsupported("conjugate=True")
    if str(ctx.get("function")).endswith("matrix_transpose"):
        rank = len(_x(ctx).shape)
        return T.transpose(ctx, _x(ctx), (*range(rank - 2), rank - 1, rank - 2))
    return T.transpose(ctx, _x(ctx), _kw(ctx, "perm", "a_perm"))


@_entry("expand_dims")
def _expand_dims(ctx: LayerContext) -> Node:
    return T.expand_dims(ctx, _x(ctx), _kw(ctx, "axis", "dim"))


@_entry("squeeze")
def _squeeze(ctx: LayerContext) -> Node:
    return T.squeeze(ctx, _x(ctx), _kw(ctx, "axis", "squeeze_dims"))


@_entry("concat")
def _concat(ctx: LayerContext) -> Node:
    return T.concatenate(ctx, _first(ctx), _kw(ctx, "axis", "concat_dim"))


@_entry("stack")
def _stack(ctx: LayerContext) -> Node:
    return T.stack(ctx, _first(ctx), _kw(ctx, "axis", default=0))


@_entry("split")
def _split(ctx: LayerContext) -> list[Node]:
    if _kw(ctx, "num") is not None:
        raise ctx.unsupported("num=", hint="give num_or_size_splits")
    pieces = _kw(ctx, "num_or_size_splits")
    return T.split(ctx, _x(ctx), pieces, _kw(ctx, "axis", default=0), sizes=True)


@_entry("tile")
def _tile(ctx: LayerContext) -> Node:
    return T.tile(ctx, _x(ctx), _kw(ctx, "multiples"))


@_entry("repeat")
def _repeat(ctx: LayerContext) -> Node:
    return T.repeat(ctx, _x(ctx), _kw(ctx, "repeats"), _kw(ctx, "axis"))


@_entry("pad")
def _pad(ctx: LayerContext) -> Node:
    mode = str(_kw(ctx, "mode", default="CONSTANT")).lower()
    return T.pad(ctx, _x(ctx), _kw(ctx, "paddings"), mode, _kw(ctx, "constant_values", default=0))


@_entry("linalg.matmul", "matmul")
def _matmul(ctx: LayerContext) -> Node:
    for flag in ("adjoint_a", "adjoint_b", "a_is_sparse", "b_is_sparse"):
        if _kw(ctx, flag):
            raise ctx.unsupported(f"{flag}=True")
    b = _kw(ctx, "b")
    return T.matmul(ctx, _x(ctx), b, bool(_kw(ctx, "transpose_a")), bool(_kw(ctx, "transpose_b")))


@_entry("einsum")
def _einsum(ctx: LayerContext) -> Node:
    raise ctx.unsupported(
        "tf.einsum: tf.keras does not record its operands in the model file",
        hint="write it with keras.ops.einsum in Keras 3, or with tf.matmul and tf.transpose",
    )


def _math(op: str) -> Callable[[LayerContext], Node]:
    def build(ctx: LayerContext) -> Node:
        return ctx.add(op, [_x(ctx)], main=True)

    return build


for _fn, _op in (
    ("math.abs", "Abs"),
    ("math.sqrt", "Sqrt"),
    ("math.rsqrt", "Rsqrt"),
    ("math.log", "Log"),
    ("math.erf", "Erf"),
    ("math.sign", "Sign"),
    ("math.floor", "Floor"),
    ("math.ceil", "Ceil"),
    ("math.round", "Round"),
    ("math.square", "Square"),
    ("math.reciprocal", "Reciprocal"),
    ("math.logical_not", "Not"),
):
    _entry(_fn, _fn.split(".")[1])(_math(_op))


@_entry("math.negative")
def _negative(ctx: LayerContext) -> Node:
    return scalar_affine(ctx, _x(ctx), -1.0, 0.0)


@_entry("math.pow", "pow")
def _pow(ctx: LayerContext) -> Node:
    return T.power(ctx, _first(ctx), _kw(ctx, "y"))


@_entry("clip_by_value")
def _clip(ctx: LayerContext) -> Node:
    return T.clip(ctx, _x(ctx), _kw(ctx, "clip_value_min"), _kw(ctx, "clip_value_max"))


@_entry("cast", "dtypes.cast")
def _cast(ctx: LayerContext) -> Node:
    return T.cast(ctx, _x(ctx), _kw(ctx, "dtype"))


@_entry("where", "where_v2")
def _where(ctx: LayerContext) -> Node:
    x, y = _kw(ctx, "x"), _kw(ctx, "y")
    if x is None or y is None:
        raise ctx.unsupported("tf.where(condition) without x and y (its size depends on the values)")
    return T.elementwise(ctx, "Where", [_first(ctx), x, y])


def _compare(op: str) -> Callable[[LayerContext], Node]:
    def build(ctx: LayerContext) -> Node:
        return T.elementwise(ctx, op, [_first(ctx), _kw(ctx, "y")], dtype="bool")

    return build


for _fn, _op in (
    ("math.greater", "Greater"),
    ("math.greater_equal", "GreaterOrEqual"),
    ("math.less", "Less"),
    ("math.less_equal", "LessOrEqual"),
    ("math.equal", "Equal"),
    ("math.not_equal", "NotEqual"),
    ("math.logical_and", "And"),
    ("math.logical_or", "Or"),
):
    _entry(_fn)(_compare(_op))


def _reduction(kind: str) -> Callable[[LayerContext], Node]:
    def build(ctx: LayerContext) -> Node:
        keep = _kw(ctx, "keepdims", "keep_dims", default=False)
        return T.reduce(ctx, kind, _x(ctx), _kw(ctx, "axis", "reduction_indices"), keep)

    return build


for _kind in ("mean", "sum", "max", "min", "prod"):
    _entry(f"math.reduce_{_kind}", f"reduce_{_kind}")(_reduction(_kind))


def _arg(op: str) -> Callable[[LayerContext], Node]:
    def build(ctx: LayerContext) -> Node:
        dtype = str(_kw(ctx, "output_type", default="int64"))
        return T.arg_extreme(ctx, op, _x(ctx), _kw(ctx, "axis", "dimension", default=0), False, dtype)

    return build


_entry("math.argmax", "argmax")(_arg("ArgMax"))
_entry("math.argmin", "argmin")(_arg("ArgMin"))


@_entry("nn.softmax", "math.softmax", "nn.log_softmax", "math.log_softmax")
def _softmax(ctx: LayerContext) -> Node:
    x = _x(ctx)
    axis = _kw(ctx, "axis", "dim", default=-1)
    op = "LogSoftmax" if "log_softmax" in str(ctx.get("function")) else "Softmax"
    return ctx.add(op, [x], attrs={"axis": T.axis_of(ctx, axis, len(x.shape), x)}, main=True)


@_entry("image.resize")
def _resize(ctx: LayerContext) -> Node:
    if _kw(ctx, "preserve_aspect_ratio"):
        raise ctx.unsupported("preserve_aspect_ratio=True", hint="resize to a fixed size")
    method = str(_kw(ctx, "method", default="bilinear")).lower().replace("resizemethod.", "")
    return T.resize(ctx, _x(ctx), _kw(ctx, "size"), method, _kw(ctx, "antialias", default=False))


@_entry("nn.depth_to_space", "nn.space_to_depth")
def _depth_space(ctx: LayerContext) -> Node:
    op = "DepthToSpace" if "depth_to_space" in str(ctx.get("function")) else "SpaceToDepth"
    return T.depth_space(ctx, op, _x(ctx), _kw(ctx, "block_size"), _kw(ctx, "data_format", default="NHWC"))


keras_op("SlicingOpLambda")(tf_op_lambda)
