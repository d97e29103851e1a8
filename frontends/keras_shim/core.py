"""Stand-in Keras objects that record a model the way Keras 3 would serialize it.

A model file written for Keras runs against these classes instead of Keras. Each layer call
adds the layer's IR nodes to a scratch graph (through the shared layer table, with shape-only
weights), so symbolic tensors carry real shapes (``x.shape`` works, and a shape error is
reported at the user's line), and each ``Model(...)``/``Sequential`` keeps what Keras's
``to_json()`` would hold. That config is the frontend's output: the JSON frontend turns it into
the IR, and ``export-json`` writes it, so both formats share one path.

Names follow Keras 3: a layer without ``name=`` gets its snake_case class name, made unique
per run with ``_1``, ``_2``… at construction time (``keras.src.utils.naming``), so weights saved
by Keras from the same file land on the same layers.
"""

from __future__ import annotations

import copy
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from compiler.errors import CompileError, FormatError, ShapeError, UnsupportedLayerError
from compiler.ir import Graph, Node

from ..layers import LAYERS, LayerContext, WeightSource
from ..layers.base import INPUT_DTYPES
from ..operations import OPERATIONS
from ..weights import keras_snake_case
from .table import (
    CALL_KWARGS,
    INITIALIZER_ALIASES,
    INITIALIZER_TABLE,
    LAYER_TABLE,
    NO_BUILD_CONFIG,
)

#: Layers called on several tensors, by position and by keyword (Keras's ``call`` signatures):
#: the positional names, then the keywords a call may pass.
TENSOR_CALLS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "MultiHeadAttention": (
        ("query", "value", "key"),
        ("query_mask", "value_mask", "key_mask", "attention_mask", "return_attention_scores", "use_causal_mask"),
    ),
    "Attention": (("inputs",), ("mask", "return_attention_scores", "use_causal_mask")),
    "AdditiveAttention": (("inputs",), ("mask", "return_attention_scores", "use_causal_mask")),
}
DTYPE_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
_SHIM_DIR = str(Path(__file__).resolve().parent)

#: How a tensor's Python operators and ``keras.activations`` calls are recorded, registered by
#: :mod:`.ops` (which builds on :class:`KerasTensor`, so this module cannot import it): ``operator``,
#: ``negate``, ``refuse`` and ``activation``. ``keras_shim/__init__`` imports both modules.
TENSOR_OPERATIONS: dict[str, Callable[..., Any]] = {}
#: How a ``keras.Model`` subclass defined by its ``call`` is traced, registered by :mod:`.custom`:
#: ``init``, ``call``, ``build``, ``add_weight`` and ``check`` (before its config is read).
SUBCLASSED_MODELS: dict[str, Callable[..., Any]] = {}
#: the weight attributes of Keras's built-in layers, which a model file cannot reach
BUILT_IN_WEIGHTS = ("kernel", "bias", "embeddings", "gamma", "beta", "moving_mean", "moving_variance")
#: ``"tensor"``: a constant array a layer is called on inside a traced call, as a recorded tensor
#: (or None outside one); filled by frontends.keras_shim.custom
CONSTANT_INPUTS: dict[str, Callable[[np.ndarray], Any]] = {}
_ACTIVE: ContextVar[Recorder | None] = ContextVar("kerascc_recorder", default=None)
#: Model methods of the training side of a script (``fit``, ``evaluate``, ``save`` …): name → a
#: function of (model, name) giving the bound method; filled by :mod:`.tutorial`.
MODEL_METHODS: dict[str, Callable[[Any, str], Any]] = {}
#: Strings a layer accepts for a regularizer or constraint (``"l2"``) → the factory of the object
#: Keras records for it; filled by :mod:`.tutorial`.
NAMED_OBJECTS: dict[str, Callable[[], Any]] = {}
#: Types of values that code which did not run produced (``model.evaluate(...)``): a layer argument
#: holding one is refused through its ``needed(what)`` error; filled by :mod:`.tutorial`.
UNRUN_VALUES: list[type] = []


def _refuse_unrun(class_name: str, key: str, value: Any) -> None:
    for item in value if isinstance(value, list | tuple) else (value,):
        if UNRUN_VALUES and isinstance(item, tuple(UNRUN_VALUES)):
            raise item.needed(f"{class_name}({key}=...)")


class ModelCodeError(CompileError):
    """A mistake in the model file itself, reported at the user's line as Keras would raise it."""


def recorder() -> Recorder:
    rec = _ACTIVE.get()
    if rec is None:
        raise CompileError("Keras stand-ins are only usable while kerascc runs a model file")
    return rec


class Recorder:
    """The state of one run of a model file: naming, the scratch shape graph, notes."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.uids: dict[str, int] = defaultdict(int)
        self.graph = Graph("scratch")
        self.weights = WeightSource(None)
        self.param_counts: dict[str, int] = {}
        self.notes: list[str] = []

    def activate(self) -> Any:
        return _ACTIVE.set(self)

    @staticmethod
    def deactivate(token: Any) -> None:
        _ACTIVE.reset(token)

    def auto_name(self, class_name: str) -> str:
        """Keras's ``auto_name``: snake_case of the class, ``_N`` from the second object on."""
        base = keras_snake_case(class_name)
        count = self.uids[base]
        self.uids[base] = count + 1
        return base if count == 0 else f"{base}_{count}"

    def call_site(self) -> str:
        """``file:line`` of the innermost frame of the user's file (the call that failed)."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.file:
                return f"{self.file}:{frame.f_lineno}"
            frame = frame.f_back
        return self.file

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def error(self, message: str, cls: type[CompileError] = ModelCodeError, hint: str | None = None) -> CompileError:
        return cls(message, file=self.call_site(), hint=hint)


# -- tensors ---------------------------------------------------------------------------------------
class TensorShape(tuple):
    """A tuple, as Keras 3's ``x.shape``; ``as_list()`` for code written against tf.keras."""

    def as_list(self) -> list[int | None]:
        return list(self)

    @property
    def rank(self) -> int:
        return len(self)


class KerasTensor:
    """A symbolic tensor: its shape, and which layer call made it (``_keras_history``)."""

    def __init__(self, node: Node, layer: Layer, call_index: int, tensor_index: int = 0) -> None:
        self.node = node
        self.shape = TensorShape(node.shape)
        self.dtype = node.dtype
        self._keras_history = (layer, call_index, tensor_index)
        self.name = layer.name if call_index == 0 else f"{layer.name}_{call_index}"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def get_shape(self) -> TensorShape:
        return self.shape

    def ref(self) -> dict[str, Any]:
        layer, index, tensor = self._keras_history
        return {
            "class_name": "__keras_tensor__",
            "config": {"shape": list(self.shape), "dtype": self.dtype, "keras_history": [layer.name, index, tensor]},
        }

    def __repr__(self) -> str:
        return f"<KerasTensor shape={tuple(self.shape)}, dtype={self.dtype}, name={self.name}>"

    # Python operators record the keras.ops operation Keras 3's KerasTensor records for them.
    def __add__(self, other: Any) -> KerasTensor:
        return _operator("+", self, other)

    def __radd__(self, other: Any) -> KerasTensor:
        return _operator("+", other, self)

    def __sub__(self, other: Any) -> KerasTensor:
        return _operator("-", self, other)

    def __rsub__(self, other: Any) -> KerasTensor:
        return _operator("-", other, self)

    def __mul__(self, other: Any) -> KerasTensor:
        return _operator("*", self, other)

    def __rmul__(self, other: Any) -> KerasTensor:
        return _operator("*", other, self)

    def __truediv__(self, other: Any) -> KerasTensor:
        return _operator("/", self, other)

    def __rtruediv__(self, other: Any) -> KerasTensor:
        return _operator("/", other, self)

    def __neg__(self) -> KerasTensor:
        return TENSOR_OPERATIONS["negate"](self)

    def _unsupported(what: str) -> Callable[..., Any]:  # builds the refusing methods below
        def refuse(self: KerasTensor, *_: Any) -> Any:
            raise TENSOR_OPERATIONS["refuse"](what)

        return refuse

    __floordiv__ = __rfloordiv__ = _unsupported("x // y (keras.ops.floor_divide)")
    __mod__ = __rmod__ = _unsupported("x % y (keras.ops.mod)")
    del _unsupported

    # Indexing, powers, products and comparisons record what Keras 3's KerasTensor records.
    def __getitem__(self, key: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["getitem"](self, key)

    def __pow__(self, other: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("power", self, other)

    def __rpow__(self, other: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("power", other, self)

    def __matmul__(self, other: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("matmul", self, other)

    def __rmatmul__(self, other: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("matmul", other, self)

    def __abs__(self) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("absolute", self)

    def __lt__(self, other: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("less", self, other)

    def __le__(self, other: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("less_equal", self, other)

    def __gt__(self, other: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("greater", self, other)

    def __ge__(self, other: Any) -> KerasTensor:
        return TENSOR_OPERATIONS["call"]("greater_equal", self, other)

    def __bool__(self) -> bool:
        raise recorder().error(
            "a symbolic tensor has no truth value (its values are not known when the model is built): "
            "Python control flow on tensor values (if, while, and, or) cannot be compiled",
            UnsupportedLayerError,
            hint="compute both branches and pick with keras.ops.where, or branch on Python values",
        )

    def __len__(self) -> int:
        raise recorder().error(
            "len() of a symbolic tensor: its batch size is not known when the model is built",
            UnsupportedLayerError,
            hint="use x.shape[1:] for the static sizes",
        )

    def __iter__(self) -> Any:
        raise recorder().error(
            "iterating over a symbolic tensor: a Python loop over its values cannot be compiled",
            UnsupportedLayerError,
            hint="use keras.ops on the whole tensor",
        )


def _operator(symbol: str, a: Any, b: Any) -> KerasTensor:
    return TENSOR_OPERATIONS["operator"](symbol, a, b)


def flat_tensors(value: Any) -> list[KerasTensor]:
    if isinstance(value, KerasTensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [t for v in value for t in flat_tensors(v)]
    return []


def _as_nodes(value: Any, fresh: Iterator[Node] | None = None) -> Any:
    """An operation's arguments with each tensor, at any depth, as its node (or the next of
    ``fresh``, in :func:`flat_tensors` order, to replay the call on other inputs)."""
    if isinstance(value, KerasTensor):
        return value.node if fresh is None else next(fresh)
    if isinstance(value, list | tuple):
        return [_as_nodes(v, fresh) for v in value]
    return value


def _serialize_args(value: Any) -> Any:
    if isinstance(value, KerasTensor):
        return value.ref()
    if isinstance(value, list | tuple):
        return [_serialize_args(v) for v in value]
    if isinstance(value, dict):
        return {k: _serialize_args(v) for k, v in value.items()}
    return value


def _json_like(value: Any) -> Any:
    """Tuples to lists, numpy scalars to numbers: what ``json.dumps`` of Keras's config gives."""
    if isinstance(value, dict):
        return {k: _json_like(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_like(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):  # Constant(np.eye(k).flatten()): Keras writes the array so
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    return value


# -- serializable helper objects (initializers, regularizers, activations) -------------------------
class Serializable:
    """A Keras object that appears in a layer config as ``{module, class_name, config}``."""

    module = "keras"

    def __init__(self, class_name: str, config: dict[str, Any]) -> None:
        self.class_name = class_name
        self.config = config

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    def serialize(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "class_name": self.class_name,
            "config": _json_like(self.config),
            "registered_name": None,
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise recorder().error(f"{self.class_name} cannot be evaluated in a model file")


class Initializer(Serializable):
    module = "keras.initializers"


class Regularizer(Serializable):
    module = "keras.regularizers"


def initializer_class(class_name: str) -> type:
    """A stand-in for ``keras.initializers.<class_name>`` with Keras's argument order and defaults."""
    spec = INITIALIZER_TABLE[class_name]

    def __init__(self: Initializer, *args: Any, **kwargs: Any) -> None:
        config = dict(spec["config"])
        config.update(_bind(class_name, spec["params"], [], args, kwargs))
        Initializer.__init__(self, class_name, config)

    return type(class_name, (Initializer,), {"__init__": __init__})


def regularizer(class_name: str, params: dict[str, float]) -> Callable[..., Regularizer]:
    def make(*args: Any, **kwargs: Any) -> Regularizer:
        config = dict(params)
        config.update({k: float(v) for k, v in _bind(class_name, list(params), [], args, kwargs).items()})
        return Regularizer(class_name, config)

    make.__name__ = class_name
    return make


class Activation:
    """``keras.activations.relu`` and friends: passed as ``activation=``, serialized by name."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], KerasTensor):
            return TENSOR_OPERATIONS["activation"](self.__name__, args, kwargs)
        raise recorder().error(
            f"keras.activations.{self.__name__} needs a Keras tensor here",
            hint=f"call it on a layer's output, or use layers.Activation('{self.__name__}')",
        )


def serialize_initializer(value: Any, rec: Recorder) -> Any:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, Serializable):
        return value.serialize()
    if isinstance(value, type) and issubclass(value, Initializer):
        return value().serialize()
    if isinstance(value, str):
        cls = INITIALIZER_ALIASES.get(value) or (value if value in INITIALIZER_TABLE else None)
        if cls is not None:
            return Initializer(cls, dict(INITIALIZER_TABLE[cls]["config"])).serialize()
    raise rec.error(f"unknown initializer {value!r}", hint="one of " + ", ".join(INITIALIZER_ALIASES))


#: Activation names Keras records by the function they name (``keras.activations.swish is silu``).
ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


def serialize_activation(value: Any, rec: Recorder) -> Any:
    if value is None:
        return "linear"
    if isinstance(value, str):
        return ACTIVATION_ALIASES.get(value, value)
    if isinstance(value, Activation):
        return ACTIVATION_ALIASES.get(value.__name__, value.__name__)
    if isinstance(value, Layer):  # Keras accepts a layer instance, e.g. activation=LeakyReLU()
        return value.serialize()
    raise rec.error(
        f"activation {value!r} is not a Keras activation",
        UnsupportedLayerError,
        hint="pass its name, e.g. activation='relu'",
    )


def serialize_other(value: Any) -> Any:
    if isinstance(value, str) and value in NAMED_OBJECTS:  # Keras makes the object a name stands for
        value = NAMED_OBJECTS[value]()
    if isinstance(value, Serializable):
        return value.serialize()
    return value


# -- argument binding ------------------------------------------------------------------------------
def _bind(
    class_name: str, params: list[str], required: list[str], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Positional and keyword arguments to one dict, raising what Python/Keras would."""
    rec = recorder()
    if len(args) > len(params):
        raise rec.error(f"{class_name}() takes {len(params)} positional arguments but {len(args)} were given")
    bound = dict(zip(params, args, strict=False))
    for key, value in kwargs.items():
        if key in bound:
            raise rec.error(f"{class_name}() got multiple values for argument '{key}'")
        bound[key] = value
    unknown = {k: v for k, v in bound.items() if k not in params}
    if unknown:
        raise rec.error(f"Unrecognized keyword arguments passed to {class_name}: {unknown}")
    missing = [p for p in required if p not in bound]
    if missing:
        raise rec.error(
            f"{class_name}() missing required argument{'s' if len(missing) > 1 else ''}: "
            + ", ".join(f"'{m}'" for m in missing)
        )
    return bound


# Keras 1 / early Keras 2 argument names -> Keras 3 (the legacy interfaces Keras 2 shipped).
LEGACY_KWARGS = {
    "nb_filter": "filters",
    "border_mode": "padding",
    "subsample": "strides",
    "init": "kernel_initializer",
    "output_dim": "units",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
    "atrous_rate": "dilation_rate",
    "dim_ordering": "data_format",
    "beta_init": "beta_initializer",
    "gamma_init": "gamma_initializer",
    "p": "rate",
    "depthwise_init": "depthwise_initializer",
}
_BASE_KWARGS = (
    "name",
    "dtype",
    "trainable",
    "input_shape",
    "input_dim",
    "batch_input_shape",
    "batch_size",
    "weights",
    "input_length",
)
_TUPLE_KEYS = ("kernel_size", "strides", "dilation_rate", "pool_size", "size", "output_padding")
_INIT_SUFFIX = "_initializer"


def _legacy(class_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], rec: Recorder) -> tuple[tuple, dict]:
    kwargs = dict(kwargs)
    own = LAYER_TABLE.get(class_name, {}).get("params", ())  # Embedding's output_dim is its own, not Keras 1's
    for old, new in LEGACY_KWARGS.items():
        if old in own:
            continue
        if old in kwargs and not (old == "bias" and class_name not in ("Conv2D", "Dense")):
            if new in kwargs:
                raise rec.error(f"{class_name}: both '{old}' (Keras 1) and '{new}' given")
            value = kwargs.pop(old)
            if old == "dim_ordering":
                value = {"tf": "channels_last", "th": "channels_first", "default": None}.get(value, value)
            kwargs[new] = value
    if "nb_row" in kwargs or "nb_col" in kwargs:
        kwargs["kernel_size"] = (kwargs.pop("nb_row", None), kwargs.pop("nb_col", None))
    if class_name == "LeakyReLU" and "alpha" in kwargs:
        kwargs["negative_slope"] = kwargs.pop("alpha")
    if class_name == "BatchNormalization" and kwargs.get("mode", 0) == 0:
        kwargs.pop("mode", None)
    return args, kwargs


def _tuple_rank(class_name: str, key: str) -> int | None:
    """How many numbers Keras keeps for ``key`` (``standardize_tuple``'s n): one per spatial axis,
    read off the table's default (``(1,)`` for Conv1D, ``(1, 1, 1)`` for Conv3D). Arguments whose
    default is None take the kernel's rank; an integer default (UpSampling1D's ``size``) stays one."""
    config = LAYER_TABLE.get(class_name, {}).get("config", {})
    default = config.get(key)
    if isinstance(default, tuple):
        return len(default)
    if default is None:
        reference = config.get("kernel_size", config.get("pool_size"))
        return len(reference) if isinstance(reference, tuple) else None
    return None


def _edge_pairs(value: Any, default: Any) -> Any:
    """ZeroPadding/Cropping amounts as Keras stores them: ``(a, b)`` in 1-D, one such pair per
    spatial axis in 2-D and 3-D, where a single number means the same amount on both sides."""

    def both(v: Any) -> tuple[int, ...]:
        return (int(v), int(v)) if isinstance(v, int | np.integer) else tuple(int(x) for x in v)

    if isinstance(default[0], int):  # 1-D: one (start, end) pair
        return both(value)
    if isinstance(value, int | np.integer):
        return (both(value),) * len(default)
    return tuple(both(v) for v in value)


def _standardize(class_name: str, key: str, value: Any, rec: Recorder) -> Any:
    """A constructor argument as Keras stores it in the config."""
    if key in _TUPLE_KEYS and value is not None:
        if isinstance(value, list | tuple):
            return tuple(int(v) for v in value)
        if isinstance(value, int | np.integer):
            rank = _tuple_rank(class_name, key)
            return int(value) if rank is None else (int(value),) * rank
    if key == "padding" and isinstance(value, str):
        return value.lower()
    if key in ("padding", "cropping") and class_name.startswith(("ZeroPadding", "Cropping")):
        default = LAYER_TABLE[class_name]["config"][key]
        if isinstance(value, int | np.integer | list | tuple):
            return _edge_pairs(value, default)
    if key == "shared_axes" and value is not None:
        return list(value) if isinstance(value, list | tuple) else [value]
    if key == "data_format":
        return value or "channels_last"
    if key == "activation":
        return serialize_activation(value, rec)
    if key.endswith(_INIT_SUFFIX):
        return serialize_initializer(value, rec)
    if key.endswith(("_regularizer", "_constraint")):
        return serialize_other(value)
    if key in ("target_shape", "dims") and isinstance(value, list | tuple):
        return tuple(value)
    if key in ("layer", "backward_layer", "cell") and isinstance(value, Layer):  # TimeDistributed(Dense(8))
        return value.serialize()
    return value


# -- layers ----------------------------------------------------------------------------------------
class Layer:
    """Base of the stand-in layers; subclasses are generated from :data:`LAYER_TABLE`."""

    _keras_class = "Layer"
    _spec: dict[str, Any] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        rec = recorder()
        spec = self._spec
        if spec is None:
            raise rec.error(
                f"custom layer class '{type(self).__name__}' is not supported",
                UnsupportedLayerError,
                hint="build the model from Keras's built-in layers",
            )
        cls = self._keras_class
        args, kwargs = self._legacy_args(args, kwargs, rec)
        own = spec["params"]  # Embedding's input_dim is its vocabulary, not Keras 1's input shape
        base = {k: kwargs.pop(k) for k in _BASE_KWARGS if k in kwargs and (k == "weights" or k not in own)}
        bound = _bind(cls, spec["params"], spec["required"], args, kwargs)
        self._rec = rec
        self.name = str(base["name"]) if base.get("name") else rec.auto_name(cls)
        self.trainable = bool(base.get("trainable", True))
        shape = base.get("batch_input_shape")
        if shape is not None:
            self._input_shape_arg = tuple(shape[1:])
        elif base.get("input_shape") is not None:
            self._input_shape_arg = tuple(base["input_shape"])
        elif base.get("input_dim") is not None:
            self._input_shape_arg = (int(base["input_dim"]),)
        else:
            self._input_shape_arg = None
        if base.get("weights") is not None:
            rec.note(f"layer '{self.name}': weights= in the model file are ignored (pass --weights)")
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": copy.deepcopy(DTYPE_POLICY)}
        if "base" in spec:  # a class whose get_config() writes these keys its own way
            config = {key: self.name if key == "name" else copy.deepcopy(value) for key, value in spec["base"].items()}
        config.update(copy.deepcopy(spec["config"]))
        for key, value in bound.items():
            _refuse_unrun(cls, key, value)
            config[key] = _standardize(cls, key, value, rec)
        if cls in ("LayerNormalization", "RMSNormalization"):  # their build() turns the axis into a sorted list
            axis = config["axis"]
            config["axis"] = sorted(axis) if isinstance(axis, list | tuple) else [axis]
        if cls == "Normalization" and (config["axis"] is None or isinstance(config["axis"], int)):
            config["axis"] = () if config["axis"] is None else (config["axis"],)  # Keras keeps a tuple
        if "pool_size" in config and bound.get("strides") is None:
            config["strides"] = config["pool_size"]
        if cls == "MultiHeadAttention" and not bound.get("value_dim"):  # Keras: value_dim or key_dim
            config["value_dim"] = config["key_dim"]
        self.config = config
        self.calls: list[dict[str, Any]] = []  # {"args", "kwargs", "inputs", "outputs"}
        self.built_shape: Any = None

    def _legacy_args(self, args: tuple, kwargs: dict, rec: Recorder) -> tuple[tuple, dict]:
        return _legacy(self._keras_class, args, kwargs, rec)

    # -- what Keras code reads off a layer -------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return copy.deepcopy(self.config)

    @property
    def output(self) -> Any:
        outs = self._only_call()["outputs"]
        return outs[0] if len(outs) == 1 else list(outs)  # return_state: Keras gives the list

    @property
    def input(self) -> Any:
        ins = self._only_call()["inputs"]
        return ins[0] if len(ins) == 1 else ins

    @property
    def output_shape(self) -> tuple:
        return tuple(self.output.shape)

    def build(self, input_shape: Any = None) -> None:
        """``self.conv.build(shape)`` in a custom layer's ``build``: the layer builds on its first call."""

    def __getattr__(self, attr: str) -> Any:
        if attr in BUILT_IN_WEIGHTS:  # PixelCNN's self.conv.kernel.assign(self.conv.kernel * mask)
            raise recorder().error(
                f"{getattr(self, '_keras_class', 'layer')} '{self.__dict__.get('name', '?')}': its weight "
                f"'{attr}' cannot be read or changed in a model file (kerascc reads weights when it compiles)",
                UnsupportedLayerError,
                hint="hold the weight in your own layer (self.add_weight) and compute with it in call()",
            )
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{attr}'")

    def _only_call(self) -> dict[str, Any]:
        if not self.calls:
            raise self._rec.error(f"layer '{self.name}' has not been called yet, so it has no output")
        return self.calls[0]

    def count_params(self) -> int:
        return self._rec.param_counts.get(self.name, 0)

    def serialize(self) -> dict[str, Any]:
        entry = {
            "module": "keras.layers",
            "class_name": self._keras_class,
            "config": _json_like(self.config),
            "registered_name": None,
        }
        if self.built_shape is not None and self._keras_class not in NO_BUILD_CONFIG:
            entry["build_config"] = {"input_shape": _json_like(self.built_shape)}
            if isinstance(self.built_shape, dict):  # build(query_shape, value_shape, …) by name
                entry["build_config"] = {"shapes_dict": _json_like(self.built_shape)}
        return entry

    # -- calling ---------------------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        rec = self._rec
        if self._keras_class in TENSOR_CALLS:
            return self._tensor_call(inputs, args, kwargs)
        if args:
            raise rec.error(f"layer '{self.name}' got {len(args) + 1} positional arguments, expected the inputs only")
        extra = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
        if extra:
            raise rec.error(f"layer '{self.name}' got unexpected call arguments {sorted(extra)}")
        if isinstance(inputs, np.ndarray) and self._keras_class == "Embedding":  # ViT: Embedding(n)(arange(n))
            inputs = TENSOR_OPERATIONS["constant"](inputs)
        tensors = flat_tensors(inputs)
        if not tensors and isinstance(inputs, np.ndarray) and "tensor" in CONSTANT_INPUTS:
            # TokenAndPositionEmbedding's self.pos_emb(ops.arange(n)) inside a traced call
            converted = CONSTANT_INPUTS["tensor"](inputs)
            inputs = inputs if converted is None else converted
            tensors = flat_tensors(inputs)
        if not tensors and isinstance(inputs, np.ndarray):
            raise rec.error(
                f"{self._keras_class} '{self.name}' was called on a constant array (keras.ops.arange/ones/zeros)"
                " outside a custom layer's call, where Keras computes it at once rather than in the model",
                UnsupportedLayerError,
                hint="to measure a size (a tokenizer's sequence length), compute it from the input shape, or call "
                "the layer on keras.Input and read .shape; for learned positions hold a weight: "
                "self.pos = self.add_weight(shape=(1, maxlen, dim))",
            )
        if not tensors:
            raise rec.error(
                f"{self._keras_class} '{self.name}' was called on {type(inputs).__name__}, not on a Keras tensor",
                hint="layers are called on tensors from keras.Input or other layers",
            )
        if len(tensors) != len(inputs) if isinstance(inputs, list | tuple) else False:
            raise rec.error(f"{self._keras_class} '{self.name}': every input must be a Keras tensor")
        node = self._build_nodes([t.node for t in tensors], rec)
        call_index = len(self.calls)
        out = KerasTensor(node, self, call_index)
        if self.built_shape is None:
            shapes = [list(t.shape) for t in tensors]
            self.built_shape = shapes[0] if isinstance(inputs, KerasTensor) else shapes
            wrapped = self.config.get("layer") if self._keras_class == "TimeDistributed" else None
            if isinstance(wrapped, dict) and wrapped.get("class_name") not in NO_BUILD_CONFIG:
                # Keras builds the wrapped layer on one step: (batch, *step)
                wrapped.setdefault("build_config", {"input_shape": [None, *shapes[0][2:]]})
        recorded = self._recorded_kwargs(kwargs, isinstance(inputs, KerasTensor))
        self.calls.append(
            {"args": [_serialize_args(inputs)], "kwargs": _json_like(recorded), "inputs": tensors, "outputs": [out]}
        )
        return out

    def _recorded_kwargs(self, kwargs: dict[str, Any], one_tensor: bool) -> dict[str, Any]:
        """The call's keywords as Keras's ``Node`` keeps them: the caller's own when it gave any (or
        passed more than one tensor), else those ``Layer.__call__`` fills in (``training``, ``mask``),
        as Keras fills them into the very dict it records only when it did not copy it."""
        if kwargs or not one_tensor:
            return _json_like(_serialize_args(kwargs))
        return _json_like(dict(CALL_KWARGS.get(self._keras_class, {})))

    def _tensor_call(self, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A call with several positional tensors and tensor keywords (``mha(query, value,
        key=…, attention_mask=…)``), recorded as Keras records it; a call that returns a tuple
        (``return_attention_scores=True``) gives one tensor per output."""
        rec = self._rec
        positional, keywords = TENSOR_CALLS[self._keras_class]
        given = [inputs, *args]
        if len(given) > len(positional):
            raise rec.error(f"layer '{self.name}' got {len(given)} positional arguments, at most {len(positional)}")
        extra = sorted(k for k in kwargs if k not in keywords and k not in positional and k != "training")
        if extra:
            raise rec.error(f"layer '{self.name}' got unexpected call arguments {extra}")
        flat = flat_tensors(given)
        if not flat or len(flat) != sum(len(g) if isinstance(g, list | tuple) else 1 for g in given):
            raise rec.error(f"{self._keras_class} '{self.name}' takes Keras tensors as its {', '.join(positional)}")
        tensor_kwargs = {k: v for k, v in kwargs.items() if isinstance(v, KerasTensor)}
        constants = {k: v for k, v in kwargs.items() if not isinstance(v, KerasTensor)}
        tensors = [*flat, *tensor_kwargs.values()]
        spec = {"positional": len(flat), "keywords": list(tensor_kwargs), "constants": constants}
        nodes = self._build_call(spec, [t.node for t in tensors], rec)
        call_index = len(self.calls)
        outs = [KerasTensor(node, self, call_index, k) for k, node in enumerate(nodes)]
        if self.built_shape is None:
            self.built_shape = [list(t.shape) for t in flat]
            if self._keras_class == "MultiHeadAttention":
                self._built_attention(given, tensor_kwargs)
        self.calls.append(
            {
                "args": [_serialize_args(t) for t in given],
                "kwargs": _json_like(_serialize_args(kwargs)),
                "inputs": tensors,
                "outputs": outs,
                "spec": spec,
            }
        )
        return tuple(outs) if len(outs) > 1 else outs[0]

    def _built_attention(self, given: list[Any], tensor_kwargs: dict[str, KerasTensor]) -> None:
        """What MultiHeadAttention's build() leaves in its config and build_config: the
        attention axes made explicit, and the shapes it was built for, by argument name."""
        names = ("query", "value", "key")
        shapes = {f"{n}_shape": list(t.shape) for n, t in zip(names, given, strict=False)}
        if "key" in tensor_kwargs:
            shapes["key_shape"] = list(tensor_kwargs["key"].shape)
        self.built_shape = shapes
        rank = len(given[0].shape) + 1  # of the projected query (…, heads, dim)
        axes = self.config.get("attention_axes")
        if axes is None:
            axes = list(range(1, rank - 2))
        else:
            axes = [a if a >= 0 else rank - 1 + a for a in ([axes] if isinstance(axes, int) else axes)]
        self.config["attention_axes"] = axes
        for inner in ("Softmax", "Dropout"):  # build() makes these unnamed sublayers, taking their names
            self._rec.auto_name(inner)

    def _build_call(self, spec: dict[str, Any], nodes: list[Node], rec: Recorder) -> list[Node]:
        n = spec["positional"]
        call_kwargs = {**spec["constants"], **dict(zip(spec["keywords"], nodes[n:], strict=True))}
        out = self._build_nodes(nodes[:n], rec, call_kwargs)
        return list(out) if isinstance(out, list | tuple) else [out]

    def _shape_call(self, index: int, inputs: list[Node]) -> list[Node]:
        """Call ``index`` again on other inputs, recording nothing: a nested model's replay."""
        spec = self.calls[index].get("spec")
        if spec is not None:
            return self._build_call(spec, inputs, self._rec)
        out = self._build_nodes(inputs, self._rec)
        return list(out) if isinstance(out, list | tuple) else [out]

    def _build_nodes(self, inputs: list[Node], rec: Recorder, call_kwargs: dict[str, Any] | None = None) -> Node:
        """Run the shared layer table on the scratch graph: the output shape, Keras's errors."""
        fn = LAYERS.get(self._keras_class)
        if fn is None:
            raise rec.error(f"layer class '{self._keras_class}' is not supported", UnsupportedLayerError)
        ctx = _ShapeContext(
            rec.graph, self._keras_class, self.name, _json_like(self.config), (self.name,), rec.weights, rec.file, 3
        )
        ctx.kwargs = call_kwargs
        ctx.counts = rec.param_counts
        try:
            return fn(ctx, inputs)
        except CompileError as err:
            prefix = f"{self._keras_class}: "
            message = err.message if err.message.startswith(prefix) else prefix + err.message
            raise ShapeError(message, file=rec.call_site(), hint=err.hint) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise rec.error(f"{self._keras_class}: invalid configuration ({exc})") from None

    def __repr__(self) -> str:
        return f"<{self._keras_class} name={self.name}>"


class Operation:
    """A Keras 3 operation called on symbolic tensors (``x + 1.0``, ``keras.ops.relu(x)``).

    Keras records it in the model like a layer without weights: auto-named from its class with
    the layers' counters, its arguments (tensors and constants) kept in ``inbound_nodes``, its
    keyword arguments in its config. It is not in ``model.layers``, as in Keras.
    """

    trainable = True

    def __init__(self, class_name: str, module: str, config: dict[str, Any] | None = None) -> None:
        rec = recorder()
        self._rec = rec
        self._keras_class = class_name
        self._module = module
        self.name = rec.auto_name(class_name)
        self.config: dict[str, Any] = {"name": self.name, **(config or {})}
        self.calls: list[dict[str, Any]] = []

    def count_params(self) -> int:
        return 0

    def serialize(self) -> dict[str, Any]:
        return {
            "module": self._module,
            "class_name": self._keras_class,
            "config": _json_like(self.config),
            "registered_name": self._keras_class,
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Record one call; ``kwargs`` are the call's own keyword arguments (``Pad``'s
        ``constant_values``). A list of nodes (``Split``) is a list of output tensors."""
        tensors = flat_tensors(list(args))
        built = self._build_node(_as_nodes(list(args)), kwargs)
        nodes = built if isinstance(built, list) else [built]
        outs = [KerasTensor(n, self, len(self.calls), i) for i, n in enumerate(nodes)]
        self.calls.append(
            {
                "args": _serialize_args(list(args)),
                "kwargs": _json_like(kwargs),
                "inputs": tensors,
                "outputs": outs,
                "values": list(args),
            }
        )
        return outs if isinstance(built, list) else outs[0]

    def _build_node(self, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        """Run the shared layer table on the scratch graph; ``args``: nodes and constants."""
        rec = self._rec
        fn = (OPERATIONS if self._module.startswith("keras.src.ops") else LAYERS)[self._keras_class]
        ctx = _ShapeContext(
            rec.graph,
            self._keras_class,
            self.name,
            _json_like(self.config),
            (self.name,),
            rec.weights,
            rec.file,
            3,
            args=args,
            kwargs=_json_like(kwargs or {}),
        )
        ctx.counts = rec.param_counts
        try:
            return fn(ctx, [a for a in args if isinstance(a, Node)])
        except CompileError as err:
            prefix = self._keras_class
            message = err.message if err.message.startswith(prefix) else f"{prefix}: {err.message}"
            raise type(err)(message, file=rec.call_site(), hint=err.hint) from None

    def _shape_call(self, index: int, inputs: list[Node]) -> list[Node]:
        """Call ``index`` again with its tensors replaced by ``inputs`` (in order), constants kept."""
        fresh = iter(inputs)
        call = self.calls[index]
        built = self._build_node(_as_nodes(call["values"], fresh), call["kwargs"])
        return built if isinstance(built, list) else [built]

    def __repr__(self) -> str:
        return f"<Operation {self._keras_class} name={self.name}>"


class _ShapeContext(LayerContext):
    """Weights as zero arrays of the right shape: enough for shapes and parameter counts.

    ``np.zeros`` maps untouched pages lazily, so even a very wide layer costs no memory here.
    """

    counts: dict[str, int]

    def params(self, specs: Any) -> dict[str, np.ndarray]:
        cached = self.weights.cache.get(self.scope)
        if cached is not None:
            return cached
        out = {label: np.zeros(shape, np.float32) for label, shape, _ in specs}
        self.weights.cache[self.scope] = out
        # a layer with sublayers (MultiHeadAttention) asks once per sublayer scope
        self.counts[self.name] = self.counts.get(self.name, 0) + sum(math.prod(shape) for _, shape, _ in specs)
        return out


def _shapes(value: Any) -> Any:
    """The shapes of a structure of tensors, in its structure (``initial_state_shape``)."""
    if isinstance(value, KerasTensor):
        return list(value.shape)
    return [_shapes(v) for v in value]


def _leaves(value: Any) -> int:
    return sum(_leaves(v) for v in value) if isinstance(value, list | tuple) else 1


class RecurrentLayer(Layer):
    """LSTM, GRU, SimpleRNN, RNN, Bidirectional, ConvLSTM: ``layer(x, initial_state=[h, c])``
    and, with ``return_state=True``, one tensor per output (``out, h, c = lstm(x)``).

    Recorded as Keras 3 records them (``keras/src/layers/rnn/rnn.py``): the states go into the
    call's ``kwargs`` (or its second positional argument), the layer is built on
    ``shapes_dict`` ``{sequences_shape, initial_state_shape}``, and every output is referenced
    as (layer, call, tensor index), so the JSON frontend reads the states as the op's inputs.
    """

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        rec, cls = self._rec, self._keras_class
        if len(args) > 1:
            raise rec.error(f"layer '{self.name}' got {len(args) + 1} positional arguments, at most 2")
        if args and "initial_state" in kwargs:
            raise rec.error(f"{cls}.call() got multiple values for argument 'initial_state'")
        extra = sorted(k for k in kwargs if k not in ("initial_state", "training", "mask"))
        if extra:
            raise rec.error(f"layer '{self.name}' got unexpected call arguments {extra}")
        if kwargs.get("mask") is not None:
            raise rec.error(
                f"{cls} '{self.name}': a mask= tensor passed to a call is not supported in model files",
                UnsupportedLayerError,
                hint="mask the steps with Embedding(mask_zero=True) or Masking(mask_value)",
            )
        if not isinstance(inputs, KerasTensor):
            raise rec.error(
                f"{cls} '{self.name}' takes its sequences as one Keras tensor, got {type(inputs).__name__}",
                hint="pass the states as initial_state=[h, c]",
            )
        states = args[0] if args else kwargs.get("initial_state")
        state_tensors = flat_tensors(states) if states is not None else []
        if states is not None and (not state_tensors or len(state_tensors) != _leaves(states)):
            raise rec.error(f"{cls} '{self.name}': initial_state must be Keras tensors")
        tensors = [inputs, *state_tensors]
        built = self._build_nodes([t.node for t in tensors], rec)
        nodes = list(built) if isinstance(built, list | tuple) else [built]
        index = len(self.calls)
        outs = [KerasTensor(node, self, index, k) for k, node in enumerate(nodes)]
        if self.built_shape is None:
            sequences = list(inputs.shape)
            self.built_shape = (
                sequences if states is None else {"sequences_shape": sequences, "initial_state_shape": _shapes(states)}
            )
            self._built_on(sequences)
        self.calls.append(
            {
                "args": [_serialize_args(inputs)] + ([_serialize_args(states)] if args else []),
                "kwargs": self._recorded_kwargs(kwargs, not args),
                "inputs": tensors,
                "outputs": outs,
            }
        )
        return tuple(outs) if len(outs) > 1 else outs[0]

    def _built_on(self, sequences: list[Any]) -> None:
        """What building on the sequences' shape leaves in the configs of inner layers."""


def _build_cell(cell: dict[str, Any], sequences: list[Any]) -> None:
    """An RNN builds its cell on one step, (batch, features)."""
    cell.setdefault("build_config", {"input_shape": [sequences[0], *sequences[2:]]})


class RNNLayer(RecurrentLayer):
    """``RNN(LSTMCell(...))``: the cell's config nested under ``cell``, built on one step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.config.get("cell"), dict):
            raise self._rec.error(
                "RNN: the cell must be one LSTMCell, GRUCell or SimpleRNNCell here (a list of cells is not supported)",
                UnsupportedLayerError,
                hint="stack RNN layers instead: RNN(cell_1, return_sequences=True) then RNN(cell_2)",
            )

    def _built_on(self, sequences: list[Any]) -> None:
        _build_cell(self.config["cell"], sequences)


class BidirectionalLayer(RecurrentLayer):
    """``Bidirectional(LSTM(...), merge_mode, backward_layer=...)`` as Keras 3 makes it
    (``keras/src/layers/rnn/bidirectional.py``): the wrapped layer's config copied as
    ``forward_<name>``, and as ``backward_<name>`` with ``go_backwards=True`` unless a
    ``backward_layer`` is given; both with ``zero_output_for_mask`` = ``return_sequences``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rec, cfg = self._rec, self.config
        cfg.pop("weights", None)
        layer, backward = cfg.get("layer"), cfg.get("backward_layer")
        if not isinstance(layer, dict):
            raise rec.error(
                f"Please initialize `Bidirectional` layer with a `keras.layers.Layer` instance. Received: {layer!r:.60}"
            )
        if backward is not None and not isinstance(backward, dict):
            raise rec.error(f"`backward_layer` need to be a `keras.layers.Layer` instance. Received: {backward!r:.60}")
        if cfg.get("merge_mode") not in ("sum", "mul", "ave", "concat", None):
            raise rec.error(
                f"Invalid merge mode. Received: {cfg.get('merge_mode')}. "
                'Merge mode should be one of {"sum", "mul", "ave", "concat", None}'
            )
        forward = copy.deepcopy(layer)
        forward["config"]["name"] = "forward_" + str(layer["config"]["name"]).removeprefix("forward_")
        if backward is None:
            backward = copy.deepcopy(layer)
            backward["config"]["go_backwards"] = True
            backward["config"]["name"] = "backward_" + str(layer["config"]["name"]).removeprefix("backward_")
        else:
            backward = copy.deepcopy(backward)
        f, b = forward["config"], backward["config"]
        if f.get("go_backwards", False) == b.get("go_backwards", False):
            raise rec.error(
                "Forward layer and backward layer should have different `go_backwards` value. Received: "
                f"forward_layer.go_backwards {f.get('go_backwards')}, "
                f"backward_layer.go_backwards={b.get('go_backwards')}"
            )
        for key in ("stateful", "return_sequences", "return_state"):
            if f.get(key, False) != b.get(key, False):
                raise rec.error(
                    f'Forward layer and backward layer are expected to have the same value for attribute "{key}", '
                    f'got "{f.get(key)}" for forward layer and "{b.get(key)}" for backward layer'
                )
        for inner in (f, b):
            if "zero_output_for_mask" in inner:
                inner["zero_output_for_mask"] = inner.get("return_sequences", False)
        cfg["layer"], cfg["backward_layer"] = forward, backward

    def _built_on(self, sequences: list[Any]) -> None:
        for key in ("layer", "backward_layer"):
            inner = self.config[key]
            inner.setdefault("build_config", {"input_shape": list(sequences)})
            if inner.get("class_name") == "RNN" and isinstance(inner["config"].get("cell"), dict):
                _build_cell(inner["config"]["cell"], sequences)


class CellLayer(Layer):
    """LSTMCell, GRUCell, SimpleRNNCell: arguments of ``RNN``, which runs them over the steps."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._rec.error(
            f"{self._keras_class} '{self.name}' is called on one step; kerascc compiles it inside a recurrent layer",
            UnsupportedLayerError,
            hint=f"wrap it: keras.layers.RNN({self._keras_class}(...))(sequences)",
        )


#: Stand-in classes with a call or a config of their own, by Keras class.
RECURRENT_CLASSES: dict[str, type] = {
    "RNN": RNNLayer,
    "Bidirectional": BidirectionalLayer,
    **{name: RecurrentLayer for name in ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")},
    **{name: CellLayer for name in ("LSTMCell", "GRUCell", "SimpleRNNCell")},
}


class Convolution2DLegacy:
    """Keras 1's ``Convolution2D(nb_filter, nb_row, nb_col, ...)``: three integers mean a kernel."""

    def _legacy_args(self, args: tuple, kwargs: dict, rec: Recorder) -> tuple[tuple, dict]:
        args, kwargs = _legacy(self._keras_class, args, kwargs, rec)  # type: ignore[attr-defined]
        if len(args) >= 3 and all(isinstance(a, int | np.integer) for a in args[1:3]):
            if len(args) > 3:
                raise rec.error(
                    "Convolution2D: Keras 1 positional arguments after nb_col are not supported",
                    hint="pass them by keyword",
                )
            rec.note("Convolution2D(filters, rows, cols) read as Keras 1 wrote it: a rows x cols kernel")
            args = (args[0], (int(args[1]), int(args[2])))
        return args, kwargs


def layer_classes() -> dict[str, type]:
    """One stand-in class per Keras layer name; aliases share the class Keras serializes them as."""
    classes: dict[str, type] = {}
    for name, spec in LAYER_TABLE.items():
        canonical = spec.get("class", name)
        if canonical != name:
            continue
        base = RECURRENT_CLASSES.get(name, Layer)
        classes[name] = type(name, (base,), {"_keras_class": name, "_spec": spec, "__module__": "keras.layers"})
    for name, spec in LAYER_TABLE.items():
        canonical = spec.get("class", name)
        if canonical == name:
            continue
        if name in ("Convolution2D",):
            classes[name] = type(name, (Convolution2DLegacy, classes[canonical]), {"__module__": "keras.layers"})
        else:
            classes[name] = classes[canonical]
    return classes


# -- inputs ----------------------------------------------------------------------------------------
class InputLayer(Layer):
    """Keras's ``InputLayer``; ``keras.Input`` returns its output tensor."""

    _keras_class = "InputLayer"

    def __init__(
        self,
        shape: Any = None,
        batch_size: Any = None,
        dtype: Any = None,
        sparse: Any = None,
        batch_shape: Any = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: Any = None,
        **kwargs: Any,
    ) -> None:
        rec = recorder()
        self._rec = rec
        shape = kwargs.pop("input_shape", shape)
        batch_shape = kwargs.pop("batch_input_shape", batch_shape)
        kwargs.pop("ragged", None)
        if kwargs:
            raise rec.error(f"Unrecognized keyword arguments passed to InputLayer: {kwargs}")
        dtype = getattr(dtype, "name", dtype)  # numpy dtypes and np.int32 spell themselves by name
        if dtype is not None and str(dtype) not in INPUT_DTYPES:
            raise rec.error(
                f"input dtype '{dtype}' is not supported",
                UnsupportedLayerError,
                hint="supported: " + ", ".join(INPUT_DTYPES),
            )
        dtype = str(dtype or "float32")
        if batch_shape is None:
            if shape is None:
                raise rec.error("Input needs a shape, e.g. keras.Input(shape=(224, 224, 3))")
            if isinstance(shape, int | np.integer):
                shape = (int(shape),)
            batch_shape = (None, *tuple(shape))
        batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.name = str(name) if name else rec.auto_name("InputLayer")
        self.trainable = True
        self._input_shape_arg = None
        self.config = {
            "batch_shape": list(batch_shape),
            "dtype": dtype,
            "sparse": False,
            "ragged": False,
            "name": self.name,
            "optional": bool(optional),
        }
        self.built_shape = None
        ir_dtype = "float32" if dtype.startswith("float") else dtype  # float layers autocast float inputs
        node = rec.graph.add_input(rec.graph.unique_name(self.name), (None, *batch_shape[1:]), ir_dtype)
        out = KerasTensor(node, self, 0)
        self.calls = [{"args": [], "kwargs": {}, "inputs": [], "outputs": [out]}]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._rec.error("an InputLayer cannot be called; use keras.Input(shape=...) for a tensor")


def Input(
    shape: Any = None,
    batch_size: Any = None,
    dtype: Any = None,
    sparse: Any = None,
    batch_shape: Any = None,
    name: Any = None,
    tensor: Any = None,
    optional: bool = False,
    **kwargs: Any,
) -> KerasTensor:
    """``keras.Input``: Keras 3's positional order, plus Keras 2's ``batch_input_shape``."""
    if tensor is not None:
        raise recorder().error("keras.Input(tensor=...) is not supported")
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        optional=optional,
        name=name,
        **kwargs,
    )
    return layer.output


# -- merge functions -------------------------------------------------------------------------------
def merge_function(class_name: str, classes: dict[str, type]) -> Callable[..., KerasTensor]:
    """``layers.add([a, b])`` and friends: make the layer, call it on the list."""

    def merge(inputs: Any, **kwargs: Any) -> KerasTensor:
        return classes[class_name](**kwargs)(inputs)

    merge.__name__ = keras_snake_case(class_name)
    return merge


def concatenate_function(classes: dict[str, type]) -> Callable[..., KerasTensor]:
    def concatenate(inputs: Any, axis: int = -1, **kwargs: Any) -> KerasTensor:
        return classes["Concatenate"](axis=axis, **kwargs)(inputs)

    return concatenate


def legacy_merge(classes: dict[str, type]) -> Callable[..., KerasTensor]:
    """Keras 1's ``merge([a, b], mode='sum')``."""
    modes = {"sum": "Add", "mul": "Multiply", "ave": "Average", "max": "Maximum", "concat": "Concatenate"}

    def merge(inputs: Any, mode: str = "sum", concat_axis: int = -1, name: str | None = None, **_: Any) -> KerasTensor:
        cls = modes.get(mode) if isinstance(mode, str) else None
        if cls is None:
            raise recorder().error(
                f"merge(mode={mode!r}) is not supported", UnsupportedLayerError, hint="one of " + ", ".join(modes)
            )
        kwargs: dict[str, Any] = {"name": name}
        if cls == "Concatenate":
            kwargs["axis"] = concat_axis
        return classes[cls](**kwargs)(inputs)

    return merge


# -- models ----------------------------------------------------------------------------------------
class Model:
    """``keras.Model(inputs, outputs)``: a Functional model; also the base ``Sequential`` extends."""

    _keras_class = "Functional"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        rec = recorder()
        self._rec = rec
        inputs = kwargs.pop("inputs", args[0] if len(args) > 0 else None)
        outputs = kwargs.pop("outputs", args[1] if len(args) > 1 else None)
        name = kwargs.pop("name", args[2] if len(args) > 2 else None)
        kwargs.pop("trainable", None)
        defines_call = any("call" in vars(c) for c in type(self).__mro__ if c not in (Model, Sequential, object))
        if inputs is None and outputs is None and SUBCLASSED_MODELS and defines_call:
            SUBCLASSED_MODELS["init"](self, {"name": name, **kwargs})  # a subclass with a call(): traced
            return
        if kwargs:
            raise rec.error(f"Unrecognized keyword arguments passed to Model: {sorted(kwargs)}")
        if inputs is None or outputs is None:
            raise rec.error(
                "subclassed models (a Model without inputs and outputs) are not supported",
                UnsupportedLayerError,
                hint="write the model with keras.Input and layer calls, or Sequential",
            )
        self.name = str(name) if name else rec.auto_name(self._keras_class)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs = flat_tensors(inputs)
        self.outputs = flat_tensors(outputs)
        if not self.inputs or not self.outputs:
            raise rec.error("Model inputs and outputs must be Keras tensors")
        self._operations, self._nodes = _map_graph(self.inputs, self.outputs, rec)
        self.calls: list[dict[str, Any]] = []  # calls of this model as a layer of another
        self.trainable = True

    # -- Keras API ---------------------------------------------------------------------------------
    @property
    def layers(self) -> list[Any]:
        """Like Keras 3: a Functional model lists its InputLayers too, a Sequential does not;
        operations (``x + 1``, ``keras.ops.relu``) are in the config but not among the layers."""
        return [op for op in self._operations if not isinstance(op, Operation)]

    @property
    def input(self) -> Any:
        return self.inputs[0] if len(self.inputs) == 1 else self.inputs

    @property
    def output(self) -> Any:
        return self.outputs[0] if len(self.outputs) == 1 else self.outputs

    @property
    def input_shape(self) -> Any:
        shapes = [tuple(t.shape) for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [tuple(t.shape) for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for op in self.layers:
            if op.name == name:
                return op
        raise self._rec.error(f"No such layer: {name}")

    def count_params(self) -> int:
        """Each layer once, however many models share it (Keras counts unique weights)."""
        unique = {id(layer): layer for layer in self._leaf_layers()}
        return sum(layer.count_params() for layer in unique.values())

    def _leaf_layers(self) -> Iterator[Layer]:
        for layer in self.layers:
            if isinstance(layer, Model):
                yield from layer._leaf_layers()
            else:
                yield layer

    def summary(self, *args: Any, print_fn: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        """Print layers, output shapes and parameter counts, as Keras's summary does; to stderr
        unless ``print_fn`` says otherwise, so what a command writes to stdout stays its own."""
        emit = print_fn or (lambda line: print(line, file=sys.stderr))
        emit(f'Model: "{self.name}"')
        rows = [
            (
                f"{op.name} ({type(op).__name__})",
                ", ".join(
                    str(tuple(c["outputs"][0].shape)) for c in op.calls if (op.name, op.calls.index(c)) in self._nodes
                ),
                f"{op.count_params():,}",
            )
            for op in self._operations
        ]
        headers = ("Layer (type)", "Output Shape", "Param #")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        emit("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)))
        for row in rows:
            emit("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)))
        emit(f"Total params: {self.count_params():,}")

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Training setup does not change the model's graph, so it is accepted and ignored."""

    def build(self, input_shape: Any = None) -> None:
        """A Functional model is built already; a subclass defined by its call() is traced on that shape."""
        if "_variables" in self.__dict__:
            SUBCLASSED_MODELS["build"](self, input_shape)

    def add_weight(self, *args: Any, **kwargs: Any) -> Any:
        return SUBCLASSED_MODELS["add_weight"](self, *args, **kwargs)

    def _not_here(self, what: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise self._rec.error(
                f"model.{what}() cannot run here: a model file only describes the model",
                hint="compile it, then run the ONNX file with `python cli.py run`",
            )

        return refuse

    def __getattr__(self, name: str) -> Any:
        if name in MODEL_METHODS:
            return MODEL_METHODS[name](self, name)
        if name in (
            "fit",
            "fit_generator",
            "predict",
            "evaluate",
            "train_on_batch",
            "predict_on_batch",
            "test_on_batch",
            "evaluate_generator",
            "predict_generator",
        ):
            return self._not_here(name)
        if name in ("save", "save_weights", "load_weights", "export"):

            def ignored(*args: Any, **kwargs: Any) -> None:
                self._rec.note(f"model.{name}() in the model file was ignored (kerascc reads weights from --weights)")

            return ignored
        raise AttributeError(name)

    def __call__(self, inputs: Any, training: bool | None = None, mask: Any = None, **kwargs: Any) -> Any:
        """A model used as a layer of another: one call node, recorded as Keras 3 records it.

        Keras computes a nested model's output without calling its layers again, so the
        recording only adds this call; the outputs get the model's own output shapes.
        """
        if "_variables" in self.__dict__:  # a subclass defined by its call()
            return SUBCLASSED_MODELS["call"](self, inputs, training=training, mask=mask, **kwargs)
        rec = self._rec
        if kwargs:
            raise rec.error(f"model '{self.name}' got unexpected call arguments {sorted(kwargs)}")
        if mask is not None:
            raise rec.error(f"model '{self.name}': masks are not supported in model files", UnsupportedLayerError)
        tensors = flat_tensors(inputs)
        if not tensors or (isinstance(inputs, list | tuple) and len(tensors) != len(inputs)):
            raise rec.error(f"model '{self.name}' was called on {type(inputs).__name__}, not on Keras tensors")
        self._build_for(tensors[0])
        expected = self.inputs
        if len(tensors) != len(expected):
            raise rec.error(f"model '{self.name}' expects {len(expected)} input(s), but it received {len(tensors)}")
        for k, (got, want) in enumerate(zip(tensors, expected, strict=False)):
            if len(got.shape) != len(want.shape) or any(
                g is not None and w is not None and g != w for g, w in zip(got.shape[1:], want.shape[1:], strict=False)
            ):
                raise rec.error(
                    f'Input {k} of model "{self.name}" is incompatible with the model: expected shape '
                    f"{tuple(want.shape)}, found shape {tuple(got.shape)}",
                    ShapeError,
                )
        index = len(self.calls)
        shapes = [tuple(o.shape) for o in self.outputs]
        if any(tuple(got.shape) != tuple(want.shape) for got, want in zip(tensors, expected, strict=False)):
            shapes = [node.shape for node in self._replay([t.node for t in tensors])]
        outs = [
            KerasTensor(rec.graph.add_input(rec.graph.unique_name(f"{self.name}/call{index}"), shape), self, index, k)
            for k, shape in enumerate(shapes)
        ]
        self.calls.append(
            {
                "args": [_serialize_args(inputs)],
                "kwargs": self._call_kwargs(training),
                "inputs": tensors,
                "outputs": outs,
            }
        )
        by_id = {id(o): new for o, new in zip(self.outputs, outs, strict=False)}
        return _restructure(self._outputs_struct, by_id)

    def _replay(self, inputs: list[Node]) -> list[Node]:
        """The model's layers run again on inputs of other shapes, for the output shapes.

        Keras computes a nested model's output spec by running its graph on the caller's
        tensors (``Functional.compute_output_spec``): a model made on ``Input((None, None, 3))``
        and called on a 32x32 image gives 32x32-based shapes, not None. Nothing is recorded.
        """
        known: dict[int, Node] = {id(t): n for t, n in zip(self.inputs, inputs, strict=False)}
        for out in self.outputs:
            stack = [out]
            while stack:  # depth first without recursion: models can be thousands of layers deep
                tensor = stack[-1]
                if id(tensor) in known:
                    stack.pop()
                    continue
                layer, index, _ = tensor._keras_history
                call = layer.calls[index]
                missing = [t for t in call["inputs"] if id(t) not in known]
                if missing:
                    stack.extend(missing)
                    continue
                stack.pop()
                nodes = layer._shape_call(index, [known[id(t)] for t in call["inputs"]])
                known.update({id(t): n for t, n in zip(call["outputs"], nodes, strict=False)})
        return [known[id(t)] for t in self.outputs]

    def _shape_call(self, index: int, inputs: list[Node]) -> list[Node]:
        return self._replay(inputs)

    def _build_for(self, tensor: KerasTensor) -> None:
        """A Functional model is built when made; a Sequential may wait for its first call."""

    def _is_built(self) -> bool:
        return True

    @staticmethod
    def _call_kwargs(training: bool | None) -> dict[str, Any]:
        return {"mask": None} if training is None else {"training": bool(training), "mask": None}

    def serialize(self) -> dict[str, Any]:
        """The model as a layer of another model's config."""
        return self.to_config()

    # -- serialization -------------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """What ``model.to_json()`` gives in Keras 3 (``keras.src.models.functional``)."""
        if "_variables" in self.__dict__:
            SUBCLASSED_MODELS["check"](self)
        reindex: dict[tuple[str, int], int] = {}
        for op in self._operations:
            kept = 0
            for index in range(len(op.calls)):
                if (op.name, index) in self._nodes:
                    reindex[(op.name, index)] = kept
                    kept += 1

        def remap(value: Any) -> Any:
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                hist = value["config"]["keras_history"]
                value = copy.deepcopy(value)
                value["config"]["keras_history"] = [hist[0], reindex.get((hist[0], hist[1]), hist[1]), hist[2]]
                return value
            if isinstance(value, list):
                return [remap(v) for v in value]
            if isinstance(value, dict):
                return {k: remap(v) for k, v in value.items()}
            return value

        layers = []
        for op in self._operations:
            entry = op.serialize()
            entry["name"] = op.name
            entry["inbound_nodes"] = [
                {"args": remap(call["args"]), "kwargs": remap(call["kwargs"])}
                for index, call in enumerate(op.calls)
                if (op.name, index) in self._nodes and not isinstance(op, InputLayer)
            ]
            layers.append(entry)

        def ref(t: KerasTensor) -> list[Any]:
            layer, index, tensor = t._keras_history
            index = reindex.get((layer.name, index), index)
            if isinstance(layer, Model) and not isinstance(layer, Sequential):
                index += 1  # Keras 3 counts a nested Functional's own node here (functional.get_config)
            return [layer.name, index, tensor]

        def structure(value: Any) -> Any:
            if isinstance(value, KerasTensor):
                return ref(value)
            if isinstance(value, dict):
                return {k: structure(v) for k, v in value.items()}
            return [structure(v) for v in value]

        return {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": {
                "name": self.name,
                "trainable": True,
                "layers": layers,
                "input_layers": structure(self._inputs_struct),
                "output_layers": structure(self._outputs_struct),
            },
            "registered_name": "Functional",
            "build_config": {"input_shape": None},
            "compile_config": {},
        }


def _restructure(value: Any, by_id: dict[int, KerasTensor]) -> Any:
    """A model's output structure (tensor, list, dict) with the tensors of one call put in."""
    if isinstance(value, KerasTensor):
        return by_id[id(value)]
    if isinstance(value, dict):
        return {k: _restructure(v, by_id) for k, v in value.items()}
    return [_restructure(v, by_id) for v in value]


def _map_graph(
    inputs: list[KerasTensor], outputs: list[KerasTensor], rec: Recorder
) -> tuple[list[Layer], set[tuple[str, int]]]:
    """The model's layers in Keras's order (``keras.src.ops.function.map_graph``) and its calls.

    A depth-first walk from the outputs finds the calls; each layer's depth is its longest
    distance to an output; layers are listed deepest first, ties in order of discovery.
    """
    input_ids = {id(t) for t in inputs}
    finished: set[tuple[str, int]] = set()
    in_progress: set[tuple[str, int]] = set()
    order: list[tuple[Layer, int]] = []
    first_seen: dict[int, int] = {}

    def visit(t: KerasTensor) -> None:
        layer, index, _ = t._keras_history
        key = (layer.name, index)
        if key in finished:
            return
        if not isinstance(layer, InputLayer) and id(t) in input_ids:
            finished.add(key)
            return
        if key in in_progress:
            raise rec.error(f"tensor from layer '{layer.name}' is part of a cycle")
        first_seen.setdefault(id(layer), len(first_seen))
        in_progress.add(key)
        if isinstance(layer, InputLayer):
            if id(t) not in input_ids:
                raise rec.error(
                    f"Graph disconnected: the outputs depend on input '{layer.name}', "
                    "which is not among the model's inputs"
                )
        else:
            for parent in layer.calls[index]["inputs"]:
                visit(parent)
        in_progress.discard(key)
        finished.add(key)
        order.append((layer, index))

    for out in outputs:
        visit(out)
    nodes = {(layer.name, index) for layer, index in order}
    node_depth: dict[tuple[str, int], int] = {}
    layer_depth: dict[int, int] = {}
    layers_by_id: dict[int, Layer] = {}
    for layer, index in reversed(order):
        key = (layer.name, index)
        depth = max(node_depth.setdefault(key, 0), layer_depth.get(id(layer), 0))
        layer_depth[id(layer)] = depth
        layers_by_id[id(layer)] = layer
        node_depth[key] = depth
        if not isinstance(layer, InputLayer):
            for parent in layer.calls[index]["inputs"]:
                player, pindex, _ = parent._keras_history
                pkey = (player.name, pindex)
                if pkey in nodes:
                    node_depth[pkey] = max(depth + 1, node_depth.get(pkey, 0))
    for t in inputs:
        layer = t._keras_history[0]
        if id(layer) not in layer_depth and isinstance(layer, InputLayer):
            layer_depth[id(layer)] = 0
            layers_by_id[id(layer)] = layer
            first_seen[id(layer)] = -1
            nodes.add((layer.name, 0))
    ops = sorted(layers_by_id.values(), key=lambda op: (-layer_depth[id(op)], first_seen[id(op)]))
    names = [op.name for op in ops]
    for name in names:
        if names.count(name) > 1:
            raise rec.error(
                f'The name "{name}" is used {names.count(name)} times in the model. '
                "All operation names should be unique."
            )
    return ops, nodes


class Sequential(Model):
    """``keras.Sequential``: layers applied in order; built as soon as its input shape is known."""

    _keras_class = "Sequential"

    def __init__(self, layers: Any = None, name: str | None = None, trainable: bool = True) -> None:
        rec = recorder()
        self._rec = rec
        self.name = str(name) if name else rec.auto_name("Sequential")
        self.trainable = bool(trainable)
        self.calls: list[dict[str, Any]] = []
        self._layers: list[Any] = []
        self._input_layer: InputLayer | None = None
        self._tensor: KerasTensor | None = None
        if layers:
            for layer in layers:
                self._add(layer)
            self._maybe_rebuild()

    def add(self, layer: Any) -> None:
        self._add(layer)
        self._maybe_rebuild()

    def _add(self, layer: Any) -> None:
        rec = self._rec
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history[0], InputLayer):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._layers:
                raise rec.error("an InputLayer can only be the first layer of a Sequential model")
            self._input_layer = layer
            self._tensor = layer.output
            return
        if not isinstance(layer, Layer | Model):
            raise rec.error(f"Only instances of keras.Layer can be added to a Sequential model, got {layer!r}")
        if self._input_layer is None and not self._layers and getattr(layer, "_input_shape_arg", None) is not None:
            self._add(InputLayer(shape=layer._input_shape_arg))
        if any(existing.name == layer.name for existing in self._layers):
            raise rec.error(
                f'All layers added to a Sequential model should have unique names. Name "{layer.name}" '
                "is already the name of a layer in this model."
            )
        self._layers.append(layer)
        if self._tensor is not None:
            self._tensor = layer(self._tensor)

    def _maybe_rebuild(self) -> None:
        """Keras rebuilds a Sequential whose input is known after each change, and every build
        makes an inner Functional model that takes the next automatic ``functional`` name."""
        if not self._layers:
            return
        if self._input_layer is not None:
            self._rec.auto_name("Functional")
            return
        first = self._layers[0]
        if isinstance(first, Model) and len(self._layers) > 1 and first._is_built():
            shape = first.input_shape
            if isinstance(shape, tuple):  # a model with one input: Keras builds from its shape
                self._build(shape)

    def _is_built(self) -> bool:
        return self._tensor is not None

    def _build(self, batch_shape: tuple) -> None:
        self._input_layer = InputLayer(batch_shape=tuple(batch_shape))
        x = self._input_layer.output
        for layer in self._layers:
            x = layer(x)
        self._tensor = x
        self._rec.auto_name("Functional")

    def pop(self) -> Any:
        if not self._layers:
            raise self._rec.error(f"Sequential model '{self.name}' has no layers to pop")
        layer = self._layers.pop()
        self._tensor = (
            self._layers[-1].calls[-1]["outputs"][0]
            if self._layers
            else (self._input_layer.output if self._input_layer else None)
        )
        self._maybe_rebuild()
        return layer

    def build(self, input_shape: Any = None) -> None:
        if self._tensor is not None:
            self._rec.auto_name("Functional")  # Keras builds its inner Functional again
            return
        if input_shape is None:
            raise self._rec.error("Sequential.build() needs an input shape")
        if not self._layers:
            raise self._rec.error(f"Sequential model {self.name} cannot be built because it has no layers")
        self._build(tuple(input_shape))

    def _build_for(self, tensor: KerasTensor) -> None:
        if self._tensor is None:
            self.build(tuple(tensor.shape))

    @staticmethod
    def _call_kwargs(training: bool | None) -> dict[str, Any]:
        return {"mask": None} if training is None else {"training": bool(training)}

    @property
    def _outputs_struct(self) -> KerasTensor:  # type: ignore[override]
        self._require_built()
        return self._tensor

    def _require_built(self) -> None:
        if self._tensor is None or not self._layers:
            raise self._rec.error(
                f"Sequential model '{self.name}' has no input shape"
                if self._layers
                else f"Sequential model '{self.name}' has no layers",
                hint="start it with keras.Input(shape=...) or pass input_shape= to the first layer",
            )

    @property
    def _operations(self) -> list[Layer]:  # type: ignore[override]
        self._require_built()
        return [self._input_layer, *self._layers]

    @property
    def _nodes(self) -> set[tuple[str, int]]:  # type: ignore[override]
        return {(op.name, len(op.calls) - 1) for op in self._operations}

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def inputs(self) -> list[KerasTensor]:  # type: ignore[override]
        self._require_built()
        return [self._input_layer.output]

    @property
    def outputs(self) -> list[KerasTensor]:  # type: ignore[override]
        self._require_built()
        return [self._tensor]

    def to_config(self) -> dict[str, Any]:
        """What Keras 3's ``Sequential.to_json()`` gives."""
        self._require_built()
        layers = [self._input_layer.serialize()] + [layer.serialize() for layer in self._layers]
        shape = list(self._input_layer.config["batch_shape"])
        return {
            "module": "keras",
            "class_name": "Sequential",
            "config": {
                "name": self.name,
                "trainable": True,
                "dtype": copy.deepcopy(DTYPE_POLICY),
                "layers": layers,
                "build_input_shape": shape,
            },
            "registered_name": None,
            "build_config": {"input_shape": shape},
            "compile_config": {},
        }


def iter_models(namespace: dict[str, Any]) -> Iterator[tuple[str, Model]]:
    for key, value in namespace.items():
        if isinstance(value, Model):
            yield key, value


def check_model_file(path: Path) -> None:
    if not path.exists():
        raise FormatError("no such file", file=str(path))
