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

from compiler.errors import UnsupportedLayerError

from ..operations import OPERATIONS
from .core import TENSOR_OPERATIONS, KerasTensor, Operation, recorder

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
        hint="supported on tensors: + - * / with tensors or numbers, -x, keras.ops."
        + ", keras.ops.".join(supported_ops()),
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
    return Operation(cls, module, params)(*args)


def operator(symbol: str, a: Any, b: Any) -> KerasTensor:
    """``a <symbol> b`` with a Keras tensor on either side, recorded as Keras records it."""
    if not isinstance(a, KerasTensor | int | float) or not isinstance(b, KerasTensor | int | float):
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
    return {name: ops_function(name) for name in supported_ops()}


TENSOR_OPERATIONS.update(operator=operator, negate=negate, refuse=refuse, activation=activation_on_tensor)
