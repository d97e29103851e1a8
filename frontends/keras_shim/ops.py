"""Stand-in ``keras.ops`` and the functions of ``keras.activations`` applied to tensors.

Keras 3 records ``x + 1.0``, ``keras.ops.maximum(x, y)`` or ``keras.activations.gelu(x)`` on a
symbolic tensor as an *operation* in the model (``{"module": "keras.src.ops.numpy",
"class_name": "Add", ...}``), auto-named from the class like a layer (``add``, ``multiply_1``)
and sharing the layers' counters. The tables below say which class and module Keras 3.15 uses
for each function and which keyword arguments become its config; the operations table
(``frontends.operations.OPERATIONS``) decides which of them kerascc compiles, so only those are offered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from compiler.errors import UnsupportedLayerError

from ..operations import OPERATIONS
from .core import TENSOR_OPERATIONS, KerasTensor, Operation, _json_like, flat_tensors, recorder

NUMPY = "keras.src.ops.numpy"
NN = "keras.src.ops.nn"

#: keras.ops function -> (operation class, module, keyword arguments stored in its config with defaults)
OPS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "add": ("Add", NUMPY, {}),
    "subtract": ("Subtract", NUMPY, {}),
    "multiply": ("Multiply", NUMPY, {}),
    "divide": ("Divide", NUMPY, {}),
    "true_divide": ("TrueDivide", NUMPY, {}),
    "maximum": ("Maximum", NUMPY, {}),
    "minimum": ("Minimum", NUMPY, {}),
    "negative": ("Negative", NUMPY, {}),
    "tanh": ("Tanh", NUMPY, {}),
    "exp": ("Exp", NUMPY, {}),
    "relu": ("Relu", NN, {}),
    "relu6": ("Relu6", NN, {}),
    "sigmoid": ("Sigmoid", NN, {}),
    "softplus": ("Softplus", NN, {}),
    "softsign": ("Softsign", NN, {}),
    "silu": ("Silu", NN, {}),
    "swish": ("Silu", NN, {}),
    "selu": ("Selu", NN, {}),
    "hard_silu": ("HardSilu", NN, {}),
    "hard_swish": ("HardSilu", NN, {}),
    "hard_tanh": ("HardTanh", NN, {}),
    "hard_sigmoid": ("HardSigmoid", NN, {}),
    "gelu": ("Gelu", NN, {"approximate": True}),
    "leaky_relu": ("LeakyRelu", NN, {"negative_slope": 0.2}),
    "elu": ("Elu", NN, {"alpha": 1.0}),
    "softmax": ("Softmax", NN, {"axis": -1}),
    "log_softmax": ("LogSoftmax", NN, {"axis": -1}),
}
BINARY = ("add", "subtract", "multiply", "divide", "true_divide", "maximum", "minimum")

#: keras.activations function -> keras.ops function it records (its own defaults differ for gelu).
ACTIVATION_OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "relu6": ("relu6", {}),
    "sigmoid": ("sigmoid", {}),
    "tanh": ("tanh", {}),
    "softmax": ("softmax", {"axis": -1}),
    "log_softmax": ("log_softmax", {"axis": -1}),
    "gelu": ("gelu", {"approximate": False}),
    "silu": ("silu", {}),
    "swish": ("silu", {}),
    "elu": ("elu", {"alpha": 1.0}),
    "selu": ("selu", {}),
    "leaky_relu": ("leaky_relu", {"negative_slope": 0.2}),
    "hard_sigmoid": ("hard_sigmoid", {}),
    "softplus": ("softplus", {}),
    "softsign": ("softsign", {}),
    "exponential": ("exp", {}),
}
#: keras.activations.relu(x) is recorded as its own operation class, with the ReLU layer's config.
RELU_ACTIVATION = (
    "ReLU",
    "keras.src.activations.activations",
    {"negative_slope": 0.0, "max_value": None, "threshold": 0.0},
)

#: Python operators on tensors -> keras.ops function (KerasTensor's dunder methods in Keras 3).
OPERATORS = {"+": "add", "-": "subtract", "*": "multiply", "/": "true_divide"}


def compiled(function: str) -> bool:
    """Does kerascc's operations table convert the operation ``keras.ops.<function>`` records?"""
    return function in OPS and OPS[function][0] in OPERATIONS


def supported_ops() -> list[str]:
    return [name for name in OPS if compiled(name)]


def refuse(what: str) -> UnsupportedLayerError:
    """The one-line error for an operation on tensors kerascc does not compile."""
    return recorder().error(
        f"{what} is not supported in model files",
        UnsupportedLayerError,
        hint="supported on tensors: + - * / ** @ with tensors or numbers, -x, x[...], keras.ops."
        + ", keras.ops.".join([*supported_ops(), *(n for n in CALLS if CALLS[n][0] in OPERATIONS), "einsum"]),
    )


def _record(
    function: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    defaults: dict[str, Any] | None = None,
    what: str | None = None,
) -> KerasTensor:
    cls, module, params = OPS[function]
    if not compiled(function):
        raise refuse(what or f"keras.ops.{function}")
    params = dict(params if defaults is None else defaults)
    n_tensors = 2 if function in BINARY else 1
    if len(args) > n_tensors:  # keyword arguments given positionally: keras.ops.softmax(x, 1)
        extra = args[n_tensors:]
        if len(extra) > len(params):
            raise recorder().error(
                f"keras.ops.{function}() takes {n_tensors + len(params)} positional arguments "
                f"but {len(args)} were given"
            )
        kwargs = {**dict(zip(params, extra, strict=False)), **kwargs}
        args = args[:n_tensors]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise recorder().error(f"keras.ops.{function}() got unexpected keyword arguments {unknown}")
    if len(args) != n_tensors:
        raise recorder().error(
            f"keras.ops.{function}() takes {n_tensors} tensor argument{'s' if n_tensors > 1 else ''}, got {len(args)}"
        )
    if not any(isinstance(a, KerasTensor) for a in args):
        raise recorder().error(
            f"keras.ops.{function}() needs a Keras tensor argument; on constants only it "
            "computes a value, which a model file does not need"
        )
    params.update(kwargs)
    return Operation(cls, module, params)(*[_argument(a) for a in args])


def operator(symbol: str, a: Any, b: Any) -> KerasTensor:
    """``a <symbol> b`` with a Keras tensor on either side, recorded as Keras records it."""
    if not isinstance(a, KerasTensor | int | float | np.ndarray) or not isinstance(
        b, KerasTensor | int | float | np.ndarray
    ):
        other = b if isinstance(a, KerasTensor) else a
        raise refuse(f"'{symbol}' between a tensor and {type(other).__name__}")
    return _record(OPERATORS[symbol], (a, b), {}, what=f"'{symbol}' on tensors")


def negate(x: KerasTensor) -> KerasTensor:
    """``-x``: Keras 3's ``KerasTensor.__neg__`` records a ``Negative`` operation, the same one
    ``keras.ops.negative(x)`` records, so both spellings compile alike."""
    return _record("negative", (x,), {}, what="-x (keras.ops.negative)")


def ops_function(function: str) -> Callable[..., KerasTensor]:
    def call(*args: Any, **kwargs: Any) -> KerasTensor:
        return _record(function, args, kwargs)

    call.__name__ = function
    call.__qualname__ = function
    return call


def activation_on_tensor(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``keras.activations.<name>(x, ...)``: the operation Keras 3 records for it."""
    if name == "linear":
        if len(args) != 1 or kwargs:
            raise recorder().error("keras.activations.linear() takes one tensor")
        return args[0]
    if name == "relu":
        cls, module, params = RELU_ACTIVATION
        if len(args) < 1 or not isinstance(args[0], KerasTensor):
            raise recorder().error("keras.activations.relu() needs a Keras tensor")
        config = dict(params)
        extra = dict(zip(params, args[1:], strict=False))
        unknown = sorted(set(kwargs) - set(params))
        if unknown or len(args) > 1 + len(params):
            extra_args = unknown or args[1 + len(params) :]
            raise recorder().error(f"keras.activations.relu() got unexpected arguments {extra_args}")
        config.update({**extra, **kwargs})
        return Operation(cls, module, config)(args[0])
    if name not in ACTIVATION_OPS:
        raise refuse(f"keras.activations.{name}(x) on a Keras tensor")
    function, defaults = ACTIVATION_OPS[name]
    return _record(function, args, kwargs, defaults, what=f"keras.activations.{name}(x)")


def ops_attrs() -> dict[str, Any]:
    """The ``keras.ops`` stand-in: the operations the layer table compiles; others fail by name."""
    return {**{name: ops_function(name) for name in supported_ops()}, **tensor_ops_attrs()}


TENSOR_OPERATIONS.update(operator=operator, negate=negate, refuse=refuse, activation=activation_on_tensor)


# -- tensor operations: arguments kept in the call, keyword arguments in the config ---------------
MATH = "keras.src.ops.math"
CORE = "keras.src.ops.core"
IMAGE = "keras.src.ops.image"
REQUIRED = object()

#: keras.ops function -> (class, module, how many leading positional arguments the call keeps —
#: ``None`` for all of them —, config keyword arguments with defaults, in Keras's order)
CALLS: dict[str, tuple[str, str, int | None, dict[str, Any]]] = {
    "reshape": ("Reshape", NUMPY, 1, {"newshape": REQUIRED}),
    "transpose": ("Transpose", NUMPY, 1, {"axes": None}),
    "expand_dims": ("ExpandDims", NUMPY, 1, {"axis": REQUIRED}),
    "squeeze": ("Squeeze", NUMPY, 1, {"axis": None}),
    "concatenate": ("Concatenate", NUMPY, 1, {"axis": 0}),
    "stack": ("Stack", NUMPY, 1, {"axis": 0}),
    "split": ("Split", NUMPY, 1, {"indices_or_sections": REQUIRED, "axis": 0}),
    "tile": ("Tile", NUMPY, 1, {"repeats": REQUIRED}),
    "repeat": ("Repeat", NUMPY, 1, {"repeats": REQUIRED, "axis": None}),
    "pad": ("Pad", NUMPY, 1, {"pad_width": REQUIRED, "mode": "constant"}),
    "matmul": ("Matmul", NUMPY, 2, {}),
    "power": ("Power", NUMPY, 2, {}),
    "where": ("Where", NUMPY, 3, {}),
    "clip": ("Clip", NUMPY, 1, {"x_min": REQUIRED, "x_max": REQUIRED}),
    "cast": ("Cast", CORE, 1, {"dtype": REQUIRED}),
    "absolute": ("Absolute", NUMPY, 1, {}),
    "abs": ("Absolute", NUMPY, 1, {}),
    "sqrt": ("Sqrt", NUMPY, 1, {}),
    "rsqrt": ("Rsqrt", MATH, 1, {}),
    "log": ("Log", NUMPY, 1, {}),
    "erf": ("Erf", MATH, 1, {}),
    "square": ("Square", NUMPY, 1, {}),
    "sign": ("Sign", NUMPY, 1, {}),
    "floor": ("Floor", NUMPY, 1, {}),
    "ceil": ("Ceil", NUMPY, 1, {}),
    "round": ("Round", NUMPY, 1, {"decimals": 0}),
    "reciprocal": ("Reciprocal", NUMPY, 1, {}),
    "logical_not": ("LogicalNot", NUMPY, 1, {}),
    "greater": ("Greater", NUMPY, 2, {}),
    "greater_equal": ("GreaterEqual", NUMPY, 2, {}),
    "less": ("Less", NUMPY, 2, {}),
    "less_equal": ("LessEqual", NUMPY, 2, {}),
    "equal": ("Equal", NUMPY, 2, {}),
    "not_equal": ("NotEqual", NUMPY, 2, {}),
    "logical_and": ("LogicalAnd", NUMPY, 2, {}),
    "logical_or": ("LogicalOr", NUMPY, 2, {}),
    "mean": ("Mean", NUMPY, 1, {"axis": None, "keepdims": False}),
    "sum": ("Sum", NUMPY, 1, {"axis": None, "keepdims": False}),
    "max": ("Max", NUMPY, 1, {"axis": None, "keepdims": False, "initial": None}),
    "min": ("Min", NUMPY, 1, {"axis": None, "keepdims": False, "initial": None}),
    "prod": ("Prod", NUMPY, 1, {"axis": None, "keepdims": False, "dtype": None}),
    "argmax": ("Argmax", NUMPY, 1, {"axis": None, "keepdims": False}),
    "argmin": ("Argmin", NUMPY, 1, {"axis": None, "keepdims": False}),
    "image.resize": (
        "Resize",
        IMAGE,
        1,
        {
            "size": REQUIRED,
            "interpolation": "bilinear",
            "antialias": False,
            "crop_to_aspect_ratio": False,
            "pad_to_aspect_ratio": False,
            "fill_mode": "constant",
            "fill_value": 0.0,
            "data_format": None,
        },
    ),
    "image.extract_patches": (
        "ExtractPatches",
        IMAGE,
        1,
        {"size": REQUIRED, "strides": None, "dilation_rate": 1, "padding": "valid", "data_format": None},
    ),
    "nn.depth_to_space": ("DepthToSpace", NN, 1, {"block_size": REQUIRED, "data_format": "channels_last"}),
    "nn.space_to_depth": ("SpaceToDepth", NN, 1, {"block_size": REQUIRED, "data_format": "channels_last"}),
}


#: Shape operations computed with NumPy when their operand is a constant (``keras.ops.arange``'s).
CONSTANT_SHAPING = ("expand_dims", "reshape", "transpose", "squeeze", "tile", "repeat")


class BackendTensor(np.ndarray):
    """What ``keras.ops.arange/ones/zeros`` return: a concrete tensor, written ``__tensor__``
    in a call (a NumPy array is written ``__numpy__``)."""


#: keras.ops functions that, on a constant such as ``keras.ops.arange(n)``, give a constant: Keras
#: computes them eagerly, and a custom layer (ViT's ``expand_dims(arange(0, n), axis=0)`` positions)
#: then uses the value.
ON_CONSTANTS: dict[str, Callable[..., np.ndarray]] = {
    "expand_dims": lambda x, axis: np.expand_dims(x, axis),
    "reshape": lambda x, newshape: np.reshape(x, newshape),
    "transpose": lambda x, axes: np.transpose(x, axes),
    "squeeze": lambda x, axis: np.squeeze(x, axis),
    "tile": lambda x, repeats: np.tile(x, repeats),
    "repeat": lambda x, repeats, axis: np.repeat(x, repeats, axis),
    "cast": lambda x, dtype: x.astype(str(dtype)),
}


def _argument(value: Any) -> Any:
    """A constant argument as Keras 3 writes it in the call: arrays as ``__numpy__``, slices and
    Ellipsis as ``__slice__``/``__ellipsis__``; tensors stay tensors."""
    if isinstance(value, BackendTensor):
        return {"class_name": "__tensor__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    if isinstance(value, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {"start": value.start, "stop": value.stop, "step": value.step}}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(value, list | tuple):
        return [_argument(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def call_op(function: str, *args: Any, **kwargs: Any) -> Any:
    """``keras.ops.<function>(*args, **kwargs)`` on Keras tensors, recorded as Keras 3 records it."""
    cls, module, kept, params = CALLS[function]
    if cls not in OPERATIONS:
        raise refuse(f"keras.ops.{function}")
    call_kwargs = {"constant_values": kwargs.pop("constant_values", None)} if cls == "Pad" else {}
    n = len(args) if kept is None else kept
    extra = args[n:]
    if len(extra) > len(params):
        raise recorder().error(f"keras.ops.{function}() takes {n + len(params)} positional arguments, got {len(args)}")
    config = dict(params)
    config.update(zip(params, extra, strict=False))
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise recorder().error(f"keras.ops.{function}() got unexpected keyword arguments {unknown}")
    config.update(kwargs)
    missing = [k for k, v in config.items() if v is REQUIRED]
    if missing or len(args) < n:
        raise recorder().error(f"keras.ops.{function}() is missing arguments {missing or 'x'}")
    if not flat_tensors(list(args[:n])) and function in CONSTANT_SHAPING and isinstance(args[0], np.ndarray):
        # ops.expand_dims(ops.arange(n), 0): Keras computes it at once, so the value is a constant too
        return np.asarray(getattr(np, function)(*args, **kwargs)).view(BackendTensor)
    if not flat_tensors(list(args[:n])):
        if function in ON_CONSTANTS and all(isinstance(a, np.ndarray) for a in args[:n]):
            return ON_CONSTANTS[function](np.asarray(args[0]), **config).view(BackendTensor)
        raise recorder().error(
            f"keras.ops.{function}() needs a Keras tensor argument; on constants only it "
            "computes a value, which a model file does not need"
        )
    if cls in ("Transpose",) and config["axes"] is not None:
        config["axes"] = list(config["axes"])
    return Operation(cls, module, _json_like(config))(*[_argument(a) for a in args[:n]], **call_kwargs)


def einsum(subscripts: str, *operands: Any) -> KerasTensor:
    if not flat_tensors(list(operands)):
        raise recorder().error("keras.ops.einsum() needs a Keras tensor operand")
    return Operation("Einsum", NUMPY, {"subscripts": subscripts})(*[_argument(o) for o in operands])


def _whole(value: Any) -> Any:
    """An index computed on constants (``tf.range(5)[-1]``, ``np.int64(3)``) as the Python int it is."""
    if isinstance(value, np.integer) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.integer)
    ):
        return int(value)
    if isinstance(value, slice):
        return slice(_whole(value.start), _whole(value.stop), _whole(value.step))
    return value


def getitem(x: KerasTensor, key: Any) -> KerasTensor:
    """``x[key]``: Keras 3 records a ``GetItem`` with the key kept in the call (a tuple as a list)."""
    key = [_whole(k) for k in key] if isinstance(key, tuple) else _whole(key)
    return Operation("GetItem", NUMPY, {})(x, _argument(key))


def _constant(make: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``keras.ops.arange/ones/zeros/eye`` with static sizes: the array itself, which an operation
    then carries as a constant (Keras evaluates these eagerly too)."""

    def build(*args: Any, dtype: Any = None, **kwargs: Any) -> np.ndarray:
        if any(isinstance(a, KerasTensor) for a in [*args, *kwargs.values()]):
            raise recorder().error(f"keras.ops.{make.__name__}() needs static sizes, not a tensor")
        array = np.asarray(make(*args, **kwargs))
        array = array.astype(str(dtype) if dtype else ("float32" if make is not np.arange else "int32"))
        return array.view(BackendTensor)

    build.__name__ = make.__name__
    return build


def shape(x: Any) -> tuple[int | None, ...]:
    """``keras.ops.shape``: the static shape, as Keras 3 gives it for symbolic tensors."""
    return tuple(x.shape) if isinstance(x, KerasTensor) else np.shape(x)


def _ops_function(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return call_op(name, *args, **kwargs)

    call.__name__ = call.__qualname__ = name.split(".")[-1]
    return call


def tensor_ops_attrs() -> dict[str, Any]:
    """The tensor operations of the ``keras.ops`` stand-in (``image.``/``nn.`` ones in their submodules)."""
    attrs: dict[str, Any] = {name: _ops_function(name) for name in CALLS if "." not in name}
    attrs.update(
        einsum=einsum,
        shape=shape,
        arange=_constant(np.arange),
        ones=_constant(np.ones),
        zeros=_constant(np.zeros),
        eye=_constant(np.eye),
        newaxis=None,
    )
    return attrs


def submodule_attrs(prefix: str) -> dict[str, Any]:
    """``keras.ops.image`` / ``keras.ops.nn``: their tensor operations."""
    return {name.split(".")[1]: _ops_function(name) for name in CALLS if name.startswith(prefix + ".")}


def constant_tensor(value: np.ndarray) -> KerasTensor:
    """A constant (``keras.ops.arange(n)``) as a tensor a layer can be called on: an Embedding of
    positions in a custom layer's ``call``, which Keras evaluates eagerly. Recorded as the
    concatenation of that one constant, which the compiler folds back into the constant."""
    array = np.asarray(value)
    return Operation("Concatenate", NUMPY, {"axis": 0})([_argument(array.view(BackendTensor))])


TENSOR_OPERATIONS.update(getitem=getitem, call=call_op, constant=constant_tensor)
