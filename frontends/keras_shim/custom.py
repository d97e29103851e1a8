"""Custom layers, ``Lambda`` layers and subclassed models of a model file, traced.

A ``keras.layers.Layer`` subclass in a model file is compiled by running it: on its first call
its ``build`` runs (``add_weight`` gives a :class:`Variable`, a recording tensor without a batch
axis), then its ``call`` runs on the recording tensors, so every ``keras.ops`` call, operator and
sublayer call inside records as it does outside. What the call recorded between its inputs and
its outputs is the layer's *trace*: a small Functional config (built-in layers and operations
only, so data, not code) kept in the layer's entry of the model config under ``kerascc_trace``,
next to what Keras itself writes (class, module, ``get_config()``, build and inbound nodes).
:mod:`frontends.traced` compiles that trace into IR nodes under the layer's scope.

In the IR a custom layer is its operations inlined: operations recorded by its call are named
``<layer>/<op>`` (``patches/reshape``), its sublayers keep their Keras names, and its weights are
parameters of the nodes that use them, read from where Keras saves them (the layer's ``vars``
in creation order, trainable first, then ``<layer>/<attribute>`` for each sublayer) or drawn from
their initializers. A ``Lambda`` of a model file is traced the same way (its function runs on the
recording tensors); a ``keras.Model`` subclass with a ``call`` is one traced layer whose weights
sit at the top of the weights file, as Keras saves a subclassed model.

What a trace cannot hold is refused at the user's line: Python control flow on tensor values
(``bool()``, ``len()``, iteration), ``training=True`` (a training-only branch at inference), and
random draws (``keras.random.*``, ``tf.random.*``), which make the output depend on more than the
input.
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from compiler.errors import UnsupportedLayerError

from ..traced import TRACE_KEY, VARIABLE_CLASS
from ..weights import keras_snake_case
from .core import (
    CONSTANT_INPUTS,
    DTYPE_POLICY,
    SUBCLASSED_MODELS,
    InputLayer,
    KerasTensor,
    Layer,
    Model,
    Operation,
    Recorder,
    Serializable,
    _json_like,
    _map_graph,
    _serialize_args,
    flat_tensors,
    recorder,
    serialize_initializer,
)

RANDOM_FUNCTIONS = (
    "normal",
    "uniform",
    "truncated_normal",
    "randint",
    "categorical",
    "dropout",
    "shuffle",
    "gamma",
    "binomial",
    "beta",
    "stateless_normal",
    "stateless_uniform",
)
_BASE_INIT_KWARGS = ("name", "trainable", "dtype", "autocast", "input_shape", "input_dim", "batch_input_shape")
_REGISTERED: dict[type, str] = {}


# -- weights ---------------------------------------------------------------------------------------
class _VariableSource:
    """What a :class:`Variable`'s ``_keras_history`` points at: no layer call makes a weight."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[dict[str, Any]] = []


class Variable(KerasTensor):
    """A weight made by ``add_weight``: a recording tensor of the weight's own shape (no batch axis).

    Arithmetic with it records the operation Keras records (``x * self.gamma`` is a ``Multiply``
    whose second argument is this weight); the trace writes it as a reference to the owner's
    variable, which the JSON frontend replaces by the array.
    """

    def __init__(
        self, owner: TracedLayer, name: str, shape: tuple[int, ...], initializer: Any, trainable: bool
    ) -> None:
        rec = owner._rec
        node = rec.graph.add_input(rec.graph.unique_name(f"{owner.name}/{name}"), shape)
        super().__init__(node, _VariableSource(f"{owner.name}/{name}"), 0)  # type: ignore[arg-type]
        self.owner = owner
        self.var_name = name
        self.path = f"{owner.name}/{name}"
        self.initializer = initializer
        self.trainable = trainable
        self.index = -1  # its place in Keras's saved order, set when the layer is built

    def ref(self) -> dict[str, Any]:
        return {
            "class_name": VARIABLE_CLASS,
            "config": {"index": self.index, "name": self.var_name, "shape": list(self.shape)},
        }

    @property
    def value(self) -> Variable:
        return self

    def numpy(self) -> Any:
        raise self.owner._rec.error(
            f"weight '{self.path}' has no value while the model is described", hint="weights come from --weights"
        )

    def _stateful(self, *args: Any, **kwargs: Any) -> Any:
        raise self.owner._rec.error(
            f"assigning to weight '{self.path}' changes the model's state during inference, which a compiled "
            "model cannot do",
            UnsupportedLayerError,
            hint="compute the new value as a tensor and return it instead",
        )

    assign = assign_add = assign_sub = _stateful

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={tuple(self.shape)}>"


# -- tracing ---------------------------------------------------------------------------------------
_TRACING: list[TracedLayer] = []


def _boundary_ref(index: int, owner: str) -> list[Any]:
    return [f"{owner}/input_{index}", 0, 0]


def trace_config(
    owner: TracedLayer, inputs: list[KerasTensor], outputs: list[KerasTensor], rec: Recorder
) -> dict[str, Any]:
    """The Functional config of what one call recorded between ``inputs`` and ``outputs``.

    Each input becomes an ``InputLayer`` named ``<layer>/input_<i>`` (a binding, never a model
    input); weights stay references; every other tensor must come from a call made in between.
    """
    boundary = {id(t): i for i, t in enumerate(inputs)}
    memo: dict[int, bool] = {}

    def derived(t: KerasTensor) -> bool:
        """A value computed from the layer's weights alone (``ops.exp(self.log_scale)``): the
        trace writes it as an expression of the weights, computed when the weights are known."""
        if isinstance(t, Variable):
            return True
        if id(t) in boundary:
            return False
        if id(t) not in memo:
            layer, index, _ = t._keras_history
            parents = layer.calls[index]["inputs"] if isinstance(layer, Operation) else []
            memo[id(t)] = bool(parents) and all(derived(p) for p in parents)
        return memo[id(t)]

    def expression(value: Any) -> Any:
        if isinstance(value, Variable):
            if value.owner is not owner:
                raise rec.error(f"'{owner.name}': uses weight '{value.path}' of another layer", UnsupportedLayerError)
            return value.ref()
        if isinstance(value, KerasTensor):
            layer, index, _ = value._keras_history
            call = layer.calls[index]
            attrs = {k: v for k, v in _json_like(layer.config).items() if k != "name"}
            config = {"op": layer._keras_class, "attrs": attrs, "args": expression(call["values"])}
            config.update(kwargs=call["kwargs"], shape=list(value.shape))
            return {"class_name": VARIABLE_CLASS, "config": config}
        if isinstance(value, list | tuple):
            return [expression(v) for v in value]
        return _json_like(value)

    def refuse_weights_only(t: KerasTensor) -> None:
        raise rec.error(
            f"'{owner.name}': call() returns a value computed from its weights alone",
            UnsupportedLayerError,
            hint="return a computation on the input tensor",
        )

    order: list[tuple[Any, int]] = []
    seen: set[tuple[int, int]] = set()
    derived_refs: dict[tuple[str, int, int], Any] = {}
    for t in outputs:
        if id(t) not in boundary and derived(t):
            refuse_weights_only(t)
    stack = [t for t in reversed(outputs) if id(t) not in boundary]
    while stack:
        tensor = stack.pop()
        layer, index, _ = tensor._keras_history
        key = (id(layer), index)
        if key in seen:
            continue
        if isinstance(layer, InputLayer):
            raise rec.error(
                f"'{owner.name}': call() uses the tensor '{tensor.name}', which is not among its inputs",
                hint="pass every tensor the layer computes with as an input of the call",
            )
        seen.add(key)
        order.append((layer, index))
        for parent in layer.calls[index]["inputs"]:
            if derived(parent):
                if not isinstance(layer, Operation):
                    what = parent.path if isinstance(parent, Variable) else "a value computed from weights"
                    raise rec.error(
                        f"'{owner.name}': weight '{what}' is passed to layer '{layer.name}'",
                        UnsupportedLayerError,
                        hint="use the weight in keras.ops calls or arithmetic (x * w, x + w, x @ w)",
                    )
                if not isinstance(parent, Variable):
                    player, pindex, pk = parent._keras_history
                    derived_refs[(player.name, pindex, pk)] = expression(parent)
                else:
                    expression(parent)  # the owner check
            elif id(parent) not in boundary:
                stack.append(parent)
    order.reverse()
    reindex: dict[tuple[int, int], int] = {}
    per_layer: dict[int, list[int]] = defaultdict(list)
    layers: list[Any] = []
    for layer, index in sorted(order, key=lambda item: item[1]):
        if id(layer) not in per_layer:
            layers.append(layer)
        reindex[(id(layer), index)] = len(per_layer[id(layer)])
        per_layer[id(layer)].append(index)
    names = {id(op): f"{owner.name}/{op.name}" if isinstance(op, Operation) else op.name for op in layers}
    by_history = {}
    for t in inputs:
        layer, index, k = t._keras_history
        by_history[(layer.name, index, k)] = _boundary_ref(boundary[id(t)], owner.name)
    for layer, index in order:
        for k in range(len(layer.calls[index]["outputs"])):
            by_history.setdefault((layer.name, index, k), [names[id(layer)], reindex[(id(layer), index)], k])

    def remap(value: Any) -> Any:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            hist = value["config"]["keras_history"]
            if (hist[0], hist[1], hist[2]) in derived_refs:
                return derived_refs[(hist[0], hist[1], hist[2])]
            value = copy.deepcopy(value)
            value["config"]["keras_history"] = by_history[(hist[0], hist[1], hist[2])]
            return value
        if isinstance(value, list):
            return [remap(v) for v in value]
        if isinstance(value, dict):
            return {k: remap(v) for k, v in value.items()}
        return value

    entries = [
        {
            "class_name": "InputLayer",
            "name": f"{owner.name}/input_{i}",
            "config": {"batch_shape": list(t.shape), "dtype": "float32", "name": f"{owner.name}/input_{i}"},
            "inbound_nodes": [],
        }
        for i, t in enumerate(inputs)
    ]
    for layer in layers:
        entry = layer.serialize()
        entry["name"] = names[id(layer)]
        entry["config"] = {**entry["config"], "name": names[id(layer)]}
        entry["inbound_nodes"] = [
            {"args": remap(layer.calls[i]["args"]), "kwargs": layer.calls[i]["kwargs"]} for i in per_layer[id(layer)]
        ]
        entries.append(entry)

    def out_ref(t: KerasTensor) -> list[Any]:
        if isinstance(t, Variable):
            raise rec.error(f"'{owner.name}': call() returns the weight '{t.path}' itself", UnsupportedLayerError)
        layer, index, k = t._keras_history
        return by_history[(layer.name, index, k)]

    return {
        "name": owner.name,
        "layers": entries,
        "input_layers": [_boundary_ref(i, owner.name) for i in range(len(inputs))],
        "output_layers": [out_ref(t) for t in outputs],
    }


def _class_snake(layer: Any) -> str:
    own = isinstance(layer, TracedLayer) or "_variables" in vars(layer)
    return keras_snake_case(type(layer).__name__ if own else layer._keras_class)


def _sublayers(obj: Any, model: bool = False) -> dict[str, str]:
    """Sublayer name -> attribute path, as Keras's saving walks an object (``saving_lib``).

    Attributes are visited in sorted order (``dir()``'s), a subclassed model's ``layers`` list among
    them; a list or tuple of layers is a container whose items are keyed by snake_case class name,
    numbered from the second of a class (``blocks/dense``, ``blocks/dense_1``); an object already
    saved at an earlier path is not saved again, but still takes its number in a container.
    """
    found: dict[str, str] = {}
    attrs = {k: v for k, v in vars(obj).items() if not k.startswith("__") and k not in _OWN_ATTRIBUTES}
    if model:
        attrs["layers"] = [v for v in vars(obj).values() if isinstance(v, Layer | Model) and v is not obj]
    for attr in sorted(attrs):
        value = attrs[attr]
        if isinstance(value, Layer | Model):
            found.setdefault(value.name, attr)
        elif isinstance(value, list | tuple):
            counts: dict[str, int] = defaultdict(int)
            for item in value:
                if isinstance(item, Layer | Model):
                    base = _class_snake(item)
                    n = counts[base]
                    counts[base] += 1
                    found.setdefault(item.name, f"{attr}/{base if n == 0 else f'{base}_{n}'}")
    return found


#: Attributes of the stand-ins themselves, not the user's: never sublayers.
_OWN_ATTRIBUTES = (
    "_rec",
    "_model",
    "_kerascc_call",
    "calls",
    "_variables",
    "_trace",
    "_auto_config",
    "_operations",
    "_nodes",
    "_inputs_struct",
    "_outputs_struct",
    "inputs",
    "outputs",
)


def _accepts(fn: Callable[..., Any], key: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return key in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _shape_of(inputs: Any) -> Any:
    if isinstance(inputs, KerasTensor):
        return inputs.shape
    if isinstance(inputs, dict):
        return {k: _shape_of(v) for k, v in inputs.items()}
    if isinstance(inputs, list | tuple):
        return [_shape_of(v) for v in inputs]
    return None


def _restructure(value: Any, new: dict[int, KerasTensor]) -> Any:
    if isinstance(value, KerasTensor):
        return new[id(value)]
    if isinstance(value, dict):
        return {k: _restructure(v, new) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_restructure(v, new) for v in value)
    if isinstance(value, list):
        return [_restructure(v, new) for v in value]
    return value


def _config_value(value: Any) -> Any:
    """A ``get_config()`` value as Keras serializes it (initializers and layers as objects)."""
    if isinstance(value, Serializable):
        return value.serialize()
    if isinstance(value, Layer | Model):
        return value.serialize()
    if isinstance(value, dict):
        return {k: _config_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_config_value(v) for v in value]
    return _json_like(value)


class TracedLayer(Layer):
    """``keras.layers.Layer`` in a model file: the base of the file's own layer classes."""

    _keras_class = "Layer"
    _trace_root = False  # a subclassed model: its weights sit at the top of the weights file

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        obj = super().__new__(cls)
        try:  # Keras 3's automatic config: the constructor's arguments, when get_config is not overridden
            bound = inspect.signature(cls.__init__).bind(obj, *args, **kwargs)
            auto = {k: v for k, v in list(bound.arguments.items())[1:] if k not in ("kwargs", "args")}
        except TypeError:
            auto = {}
        obj.__dict__["_auto_config"] = auto
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        rec = recorder()
        unknown = sorted(set(kwargs) - set(_BASE_INIT_KWARGS) - {"activity_regularizer", "seed"})
        if args or unknown:
            raise rec.error(
                f"Layer.__init__() got unexpected arguments {list(args) + unknown}",
                hint="pass your layer's own arguments to your __init__, and **kwargs to super().__init__()",
            )
        self._rec = rec
        name = kwargs.get("name")
        self.name = str(name) if name else rec.auto_name(type(self).__name__)
        self.trainable = bool(kwargs.get("trainable", True))
        shape = kwargs.get("batch_input_shape")
        self._input_shape_arg = (
            tuple(shape[1:])
            if shape is not None
            else tuple(kwargs["input_shape"])
            if kwargs.get("input_shape") is not None
            else (int(kwargs["input_dim"]),)
            if kwargs.get("input_dim") is not None
            else None
        )
        self.config = {"name": self.name, "trainable": self.trainable, "dtype": copy.deepcopy(DTYPE_POLICY)}
        self.calls = []
        self.built_shape = None
        self.built = False
        self._variables: list[Variable] = []
        self._trace: dict[str, Any] | None = None

    # -- what a layer class uses ---------------------------------------------------------------------
    def build(self, input_shape: Any = None) -> None:
        self.built = True

    def add_weight(
        self,
        shape: Any = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        *args: Any,
        name: str | None = None,
        **kwargs: Any,
    ) -> Variable:
        """Keras 3's ``add_weight`` (tf.keras's ``add_weight(name, shape, ...)`` is read too)."""
        rec = self._rec
        if isinstance(shape, str):  # tf.keras: the name comes first
            name, shape = shape, initializer if not isinstance(initializer, str | Serializable | type) else None
            shape = kwargs.pop("shape", shape)
            initializer = kwargs.pop("initializer", None)
        if shape is None:
            shape = ()
        try:
            shape = tuple(int(d) for d in shape) if isinstance(shape, list | tuple) else (int(shape),)
        except (TypeError, ValueError):
            raise rec.error(f"add_weight(): shape {shape!r} is not a tuple of known sizes") from None
        if dtype not in (None, "float32", "float16", "float64"):
            raise rec.error(f"add_weight(): dtype {dtype!r} is not supported", UnsupportedLayerError)
        name = str(name) if name else f"variable_{len(self._variables)}" if self._variables else "variable"
        init = serialize_initializer("glorot_uniform" if initializer is None else initializer, rec)
        var = Variable(self, name, shape, init, bool(trainable))
        self._variables.append(var)
        return var

    add_variable = add_weight

    def get_config(self) -> dict[str, Any]:
        config = {"name": self.name, "trainable": self.trainable, "dtype": copy.deepcopy(DTYPE_POLICY)}
        if type(self).get_config is TracedLayer.get_config:
            config.update({k: v for k, v in self.__dict__["_auto_config"].items() if k not in config})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)

    def compute_output_shape(self, input_shape: Any) -> Any:
        raise self._rec.error(f"'{self.name}': compute_output_shape() is not needed here; the call is traced")

    @property
    def weights(self) -> list[Variable]:
        return list(self._variables)

    @property
    def trainable_weights(self) -> list[Variable]:
        return [v for v in self._variables if v.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [v for v in self._variables if not v.trainable]

    def count_params(self) -> int:
        own = sum(int(np.prod(v.shape)) for v in self._variables)
        return own + sum(
            layer.count_params()
            for layer in vars(self).values()
            if isinstance(layer, Layer | Model) and layer is not self
        )

    # -- calling -------------------------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if "_rec" not in self.__dict__:
            raise recorder().error(
                f"layer class '{type(self).__name__}' was called, but its __init__ did not call super().__init__()",
                hint="call super().__init__(**kwargs) first in __init__, as Keras requires",
            )
        rec = self._rec
        tensors = flat_tensors(inputs)
        if not tensors:
            raise rec.error(
                f"layer '{self.name}' was called on {type(inputs).__name__}, not on a Keras tensor",
                hint="layers are called on tensors from keras.Input or other layers",
            )
        if any(isinstance(a, KerasTensor) for a in flat_tensors(list(args)) + flat_tensors(kwargs)):
            raise rec.error(
                f"layer '{self.name}' got tensors outside its first argument",
                UnsupportedLayerError,
                hint="pass several tensors as a list: layer([x, y])",
            )
        if kwargs.get("training") is True:
            raise rec.error(
                f"layer '{self.name}' is called with training=True: its training-only branch would run at "
                "inference, which a compiled model does not do",
                UnsupportedLayerError,
                hint="call it without training= (Keras predicts with training=False)",
            )
        if not self.built:
            self._build_once(inputs)
        call_kwargs = dict(kwargs)
        if _accepts(self.call, "training"):
            call_kwargs["training"] = False  # model.predict's value
        else:
            call_kwargs.pop("training", None)
        saved_uids = rec.uids
        rec.uids = defaultdict(int)  # Keras names nothing that runs inside a layer's call
        _TRACING.append(self)
        try:
            result = self.call(inputs, *args, **call_kwargs)
        finally:
            _TRACING.pop()
            rec.uids = saved_uids
        outputs = flat_tensors(result)
        if not outputs or (isinstance(result, list | tuple) and len(outputs) != len(result)):
            raise rec.error(f"'{self.name}': call() must return tensors, got {type(result).__name__}")
        trace = trace_config(self, tensors, outputs, rec)
        if self._trace is None:
            self._trace = trace
        elif trace != self._trace:
            raise rec.error(
                f"layer '{self.name}' records a different computation on its second call",
                UnsupportedLayerError,
                hint="use one layer per kind of input",
            )
        index = len(self.calls)
        outs = [KerasTensor(t.node, self, index, k) for k, t in enumerate(outputs)]
        if self.built_shape is None:
            self.built_shape = _json_like(_shape_of(inputs))
        self.calls.append(
            {"args": [_serialize_args(inputs)], "kwargs": _json_like(dict(kwargs)), "inputs": tensors, "outputs": outs}
        )
        return _restructure(result, {id(t): o for t, o in zip(outputs, outs, strict=False)})

    def _build_once(self, inputs: Any) -> None:
        shape = _shape_of(inputs)
        self.build(tuple(shape) if isinstance(inputs, KerasTensor) else shape)
        self.built = True
        ordered = [v for v in self._variables if v.trainable] + [v for v in self._variables if not v.trainable]
        for i, var in enumerate(ordered):
            var.index = i

    # -- serialization -------------------------------------------------------------------------------
    def _class_entry(self) -> tuple[str | None, str, str]:
        cls = type(self)
        registered = _REGISTERED.get(cls)
        if registered is not None:
            return None, cls.__name__, registered
        module = cls.__module__
        return ("__main__" if module == "__kerascc_model__" else module), cls.__name__, cls.__name__

    def serialize(self) -> dict[str, Any]:
        rec = self._rec
        if self._trace is None:
            raise rec.error(f"custom layer '{self.name}' was never called, so it has nothing to compile")
        module, class_name, registered = self._class_entry()
        try:
            config = _config_value(self.get_config())
        except NotImplementedError:
            config = _config_value(TracedLayer.get_config(self))
        entry: dict[str, Any] = {
            "module": module,
            "class_name": class_name,
            "config": config,
            "registered_name": registered,
            "build_config": {"input_shape": self.built_shape},
        }
        ordered = sorted(self._variables, key=lambda v: v.index)
        entry[TRACE_KEY] = {
            "variables": [
                {"name": v.var_name, "shape": list(v.shape), "initializer": v.initializer, "trainable": v.trainable}
                for v in ordered
            ],
            "sublayers": _sublayers(self),
            "root": self._trace_root,
            "graph": self._trace,
        }
        return entry

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


# -- Lambda ----------------------------------------------------------------------------------------
class LambdaLayer(TracedLayer):
    """``keras.layers.Lambda`` in a model file: its function is traced like a layer's call."""

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        rec = recorder()
        if not callable(function):
            raise rec.error(f"Lambda needs a function, got {type(function).__name__}")
        if mask is not None:
            raise rec.error("Lambda(mask=...) is not supported", UnsupportedLayerError)
        kwargs.setdefault("name", rec.auto_name("Lambda"))
        super().__init__(**kwargs)
        self._function = function
        self._arguments = dict(arguments or {})
        self._output_shape = output_shape

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        kwargs = dict(self._arguments)
        if _accepts(self._function, "training"):
            kwargs["training"] = training
        return self._function(inputs, **kwargs)

    def _class_entry(self) -> tuple[str | None, str, str]:
        return "keras.layers", "Lambda", None  # type: ignore[return-value]

    def get_config(self) -> dict[str, Any]:
        fn = self._function
        name = getattr(fn, "__name__", "function")
        function = (
            {"class_name": "__lambda__", "config": {"code": None, "defaults": None, "closure": None}}
            if name == "<lambda>"
            else {"module": "__main__", "class_name": "function", "config": name, "registered_name": "function"}
        )
        return {
            **TracedLayer.get_config(self),
            "function": function,
            "arguments": _json_like(self._arguments),
            "output_shape": _json_like(self._output_shape),
        }


# -- subclassed models -------------------------------------------------------------------------------
class _ModelCall(TracedLayer):
    """The call of a ``keras.Model`` subclass, traced as one layer named like the model."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    def __init__(self, model: Model) -> None:
        self._rec = model._rec
        self._model = model
        self.name = model.name
        self.trainable = True
        self._input_shape_arg = None
        self.config = {"name": self.name, "trainable": True, "dtype": copy.deepcopy(DTYPE_POLICY)}
        self.calls = []
        self.built_shape = None
        self.built = False
        self._variables = model.__dict__.setdefault("_variables", [])
        self._trace = None
        self.__dict__["_auto_config"] = model.__dict__.get("_auto_config", {})

    @property
    def _trace_root(self) -> bool:  # type: ignore[override]
        return self._model.__dict__.get("_kerascc_top", False)

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self._model.call(inputs, *args, **kwargs)

    def build(self, input_shape: Any = None) -> None:
        model_build = type(self._model).__dict__.get("build")
        if model_build is not None:
            model_build(self._model, input_shape)

    def get_config(self) -> dict[str, Any]:
        own = type(self._model).__dict__.get("get_config")
        if own is not None:
            return own(self._model)
        return {"name": self.name, "trainable": True, **self.__dict__["_auto_config"]}

    def _class_entry(self) -> tuple[str | None, str, str]:
        cls = type(self._model)
        registered = _REGISTERED.get(cls)
        if registered is not None:
            return None, cls.__name__, registered
        return "__main__", cls.__name__, cls.__name__

    def serialize(self) -> dict[str, Any]:
        entry = super().serialize()
        entry[TRACE_KEY]["sublayers"] = _sublayers(self._model, model=True)
        return entry


def _model_call(model: Model) -> _ModelCall:
    proxy = model.__dict__.get("_kerascc_call")
    if proxy is None:
        proxy = object.__new__(_ModelCall)
        _ModelCall.__init__(proxy, model)
        model.__dict__["_kerascc_call"] = proxy
    return proxy


def init_subclassed_model(model: Model, kwargs: dict[str, Any]) -> None:
    """``super().__init__()`` of a ``keras.Model`` subclass: a model defined by its ``call``."""
    rec = recorder()
    unknown = sorted(set(kwargs) - {"name", "trainable", "dtype"})
    if unknown:
        raise rec.error(f"Unrecognized keyword arguments passed to Model: {unknown}")
    model._rec = rec
    model.name = str(kwargs["name"]) if kwargs.get("name") else rec.auto_name(type(model).__name__)
    model.trainable = True
    model.calls = []
    model.__dict__["_variables"] = []


def subclassed(model: Model) -> bool:
    return "_kerascc_functional" in model.__dict__ or "_variables" in model.__dict__


def model_add_weight(model: Model, *args: Any, **kwargs: Any) -> Variable:
    return TracedLayer.add_weight(_model_call(model), *args, **kwargs)


def call_subclassed_model(model: Model, inputs: Any, **kwargs: Any) -> Any:
    """A subclassed model called: on tensors, its call traced and recorded as one layer; on arrays
    (``model(np.zeros((1, 28, 28, 1)))``, how scripts build one), built for inputs of that shape."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if not flat_tensors(inputs):
        shapes = _array_shapes(inputs)
        if shapes is None:
            raise model._rec.error(f"model '{model.name}' was called on {type(inputs).__name__}, not on tensors")
        if "_kerascc_functional" not in model.__dict__:
            build_subclassed_model(model, shapes)
        return None
    if "_kerascc_functional" not in model.__dict__ and all(
        isinstance(t._keras_history[0], InputLayer) for t in flat_tensors(inputs)
    ):
        functionalize(model, inputs)
        return model._outputs_struct
    return _model_call(model)(inputs, **kwargs)


def _array_shapes(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return tuple(value.shape)
    if isinstance(value, list | tuple) and value and all(isinstance(v, np.ndarray) for v in value):
        return [tuple(v.shape) for v in value]
    return None


def check_subclassed_model(model: Model) -> None:
    if "_kerascc_functional" not in model.__dict__:
        raise model._rec.error(
            f"subclassed model '{model.name}' has no input shape, so its call() cannot be traced",
            hint="build it in the file: model.build((None, 28, 28, 1)), or call it on keras.Input(...)",
        )


def build_subclassed_model(model: Model, input_shape: Any) -> None:
    """``model.build(shape)`` (or the first call on a keras.Input): the model becomes a Functional
    of one traced layer on inputs of that shape, which is what the config of the file holds."""
    from_shape = isinstance(input_shape, list | tuple) and not any(isinstance(s, list | tuple) for s in input_shape)
    shapes = [input_shape] if from_shape else list(input_shape)
    inputs = [
        InputLayer(batch_shape=(None, *tuple(s)[1:])).output if s is not None else None
        for s in shapes  # type: ignore[misc]
    ]
    functionalize(model, inputs[0] if from_shape else inputs)


def functionalize(model: Model, inputs: Any) -> None:
    model.__dict__["_kerascc_top"] = True
    outputs = _model_call(model)(inputs)
    if isinstance(outputs, tuple):
        outputs = list(outputs)
    model._inputs_struct = inputs
    model._outputs_struct = outputs
    model.inputs = flat_tensors(inputs)
    model.outputs = flat_tensors(outputs)
    model._operations, model._nodes = _map_graph(model.inputs, model.outputs, model._rec)
    model.__dict__["_kerascc_functional"] = True


# -- random ops and registration -----------------------------------------------------------------------
def _random_refusal(module: str, function: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise recorder().error(
            f"{module}.{function}() draws new random numbers on every call, so the model's output would not be "
            "a function of its input; a compiled inference model is deterministic",
            UnsupportedLayerError,
            hint="at inference return the deterministic value (a VAE's Sampling layer: return z_mean when not "
            "training, e.g. `if not training: return z_mean`)",
        )

    refuse.__name__ = function
    return refuse


class SeedGenerator:
    """``keras.random.SeedGenerator``: made in ``__init__`` of sampling layers, harmless until drawn from."""

    def __init__(self, seed: Any = None, **kwargs: Any) -> None:
        self.seed = seed


def random_attrs(module: str) -> dict[str, Any]:
    """``keras.random`` / ``tf.random``: every draw refused at the user's line, with the reason."""
    attrs: dict[str, Any] = {name: _random_refusal(module, name) for name in RANDOM_FUNCTIONS}
    attrs["SeedGenerator"] = SeedGenerator
    attrs["set_seed"] = lambda *args, **kwargs: None
    return attrs


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable[[type], type]:
    """``keras.saving.register_keras_serializable``: the class is written as ``package>name``."""

    def register(cls: type) -> type:
        _REGISTERED[cls] = f"{package}>{name or cls.__name__}"
        return cls

    return register


def registered_name(cls: type) -> str:
    """How Keras names the class in a config's ``registered_name``."""
    return _REGISTERED.get(cls, cls.__name__)


def saving_attrs() -> dict[str, Any]:
    return {
        "register_keras_serializable": register_keras_serializable,
        "get_registered_name": lambda cls: _REGISTERED.get(cls, cls.__name__),
    }


def _constant_input(array: np.ndarray) -> KerasTensor | None:
    """A constant a layer is called on inside a traced call (``self.pos_emb(ops.arange(n))``):
    recorded as Keras's ``convert_to_tensor`` of the array, so the layer's call is part of the
    trace and its weights stay the layer's."""
    if not _TRACING:
        return None
    dtype = str(array.dtype)
    config = {"dtype": dtype, "sparse": None, "ragged": None}
    value = {"class_name": "__tensor__", "config": {"value": array.tolist(), "dtype": dtype}}
    return Operation("ConvertToTensor", "keras.src.ops.core", config)(value)


CONSTANT_INPUTS["tensor"] = _constant_input

SUBCLASSED_MODELS.update(
    init=init_subclassed_model,
    call=call_subclassed_model,
    build=build_subclassed_model,
    add_weight=model_add_weight,
    check=check_subclassed_model,
)
