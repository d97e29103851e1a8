"""The ``tensorflow`` functions a model file may call on Keras tensors (``tf.reshape``,
``tf.nn.depth_to_space``, ``tf.math.reduce_mean``), each recording the ``keras.ops`` operation
Keras 3 would record for the same computation, so the exported JSON loads in Keras 3 (where
TensorFlow functions cannot take symbolic tensors at all)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

#: the TensorFlow modules with stand-in functions
TF_SUBMODULES = ("math", "nn", "image", "linalg", "dtypes")
#: keras.ops functions also offered as keras.ops.nn.<name>
NN_IN_OPS = ("relu", "relu6", "sigmoid", "softmax", "log_softmax", "gelu", "silu", "swish", "elu", "selu", "softplus")


def _sizes_to_indices(sizes: Any) -> Any:
    """TensorFlow's part sizes as NumPy's split points."""
    if isinstance(sizes, int):
        return sizes
    return [int(v) for v in np.cumsum(list(sizes))[:-1]]


def tf_functions(ops: ModuleType, module: str = "") -> dict[str, Any]:
    """The stand-in functions of ``tensorflow`` (``module`` ""), or of ``tensorflow.<module>``."""

    def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False, **_: Any) -> Any:
        if transpose_a:
            a = ops.transpose(a, (*range(len(a.shape) - 2), len(a.shape) - 1, len(a.shape) - 2))
        if transpose_b:
            b = ops.transpose(b, (*range(len(b.shape) - 2), len(b.shape) - 1, len(b.shape) - 2))
        return ops.matmul(a, b)

    def reduction(name: str) -> Callable[..., Any]:
        def reduce(x: Any, axis: Any = None, keepdims: bool = False, name: Any = None) -> Any:
            return getattr(ops, fn)(x, axis=axis, keepdims=keepdims)

        fn = name
        return reduce

    def split(x: Any, num_or_size_splits: Any, axis: int = 0, num: Any = None, name: Any = None) -> Any:
        return ops.split(x, _sizes_to_indices(num_or_size_splits), axis=axis)

    def pad(x: Any, paddings: Any, mode: str = "CONSTANT", constant_values: Any = 0, name: Any = None) -> Any:
        return ops.pad(x, paddings, mode=str(mode).lower(), constant_values=constant_values or None)

    def resize(images: Any, size: Any, method: str = "bilinear", antialias: bool = False, **_: Any) -> Any:
        return ops.image.resize(images, tuple(size), interpolation=str(method), antialias=antialias)

    def argmax(x: Any, axis: Any = None, output_type: Any = None, name: Any = None) -> Any:
        return ops.argmax(x, axis=0 if axis is None else axis)

    def where(condition: Any, x: Any = None, y: Any = None, name: Any = None) -> Any:
        return ops.where(condition, x, y)

    def unnamed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, name: Any = None, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        call.__name__ = getattr(fn, "__name__", "function")
        return call

    common = {
        "abs": ops.absolute,
        "sqrt": ops.sqrt,
        "rsqrt": ops.rsqrt,
        "square": ops.square,
        "exp": ops.exp,
        "log": ops.log,
        "erf": ops.erf,
        "sign": ops.sign,
        "floor": ops.floor,
        "ceil": ops.ceil,
        "round": ops.round,
        "tanh": ops.tanh,
        "sigmoid": ops.sigmoid,
        "maximum": ops.maximum,
        "minimum": ops.minimum,
        "add": ops.add,
        "subtract": ops.subtract,
        "multiply": ops.multiply,
        "divide": ops.divide,
        "truediv": ops.true_divide,
        "pow": ops.power,
        "negative": ops.negative,
        "greater": ops.greater,
        "less": ops.less,
        "reduce_mean": reduction("mean"),
        "reduce_sum": reduction("sum"),
        "reduce_max": reduction("max"),
        "reduce_min": reduction("min"),
        "reduce_prod": reduction("prod"),
        "argmax": argmax,
        "softmax": lambda x, axis=-1, name=None: ops.softmax(x, axis=axis),
        "log_softmax": lambda x, axis=-1, name=None: ops.log_softmax(x, axis=axis),
    }
    if module == "math":
        return {k: unnamed(v) for k, v in common.items()}
    if module == "nn":
        acts = {k: unnamed(getattr(ops, k)) for k in NN_IN_OPS if hasattr(ops, k)}
        return {
            **acts,
            "depth_to_space": lambda x, block_size, data_format="NHWC", name=None: ops.nn.depth_to_space(x, block_size),
            "space_to_depth": lambda x, block_size, data_format="NHWC", name=None: ops.nn.space_to_depth(x, block_size),
        }
    if module == "image":
        return {"resize": resize}
    if module == "linalg":
        return {"matmul": matmul}
    if module == "dtypes":
        return {"cast": unnamed(ops.cast), "float32": "float32", "int32": "int32"}

    def tf_range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None, name: Any = None) -> Any:
        if limit is None:  # tf.range(n): 0 .. n-1, as Python's range
            start, limit = 0, start
        return ops.arange(start, limit, delta, dtype=dtype)

    top = {k: unnamed(v) for k, v in common.items() if k not in ("softmax", "log_softmax")}
    top.update(
        shape=lambda x, out_type=None, name=None: ops.shape(x),
        ones=lambda shape, dtype="float32", name=None: ops.ones(tuple(shape), dtype=dtype),
        zeros=lambda shape, dtype="float32", name=None: ops.zeros(tuple(shape), dtype=dtype),
        range=tf_range,
        reshape=lambda x, shape, name=None: ops.reshape(x, tuple(shape)),
        transpose=lambda x, perm=None, conjugate=False, name=None: ops.transpose(x, perm),
        expand_dims=lambda x, axis, name=None: ops.expand_dims(x, axis),
        squeeze=lambda x, axis=None, name=None: ops.squeeze(x, axis),
        concat=lambda values, axis, name=None: ops.concatenate(list(values), axis=axis),
        stack=lambda values, axis=0, name=None: ops.stack(list(values), axis=axis),
        split=split,
        tile=lambda x, multiples, name=None: ops.tile(x, tuple(multiples)),
        pad=pad,
        matmul=matmul,
        einsum=lambda equation, *inputs, **_: ops.einsum(equation, *inputs),
        cast=lambda x, dtype, name=None: ops.cast(x, dtype),
        clip_by_value=lambda x, clip_value_min, clip_value_max, name=None: ops.clip(x, clip_value_min, clip_value_max),
        where=where,
        newaxis=None,
        float32="float32",
        float16="float16",
        int32="int32",
        int64="int64",
        bool="bool",
    )
    return top
