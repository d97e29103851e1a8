"""Traced layers in a model config: custom layers, ``Lambda`` layers and subclassed models.

A model file's own layer classes are compiled by running their ``call`` on recording tensors
(:mod:`frontends.keras_shim.custom`); what a call recorded is kept in the layer's config entry
under :data:`TRACE_KEY`, beside what Keras itself writes for the layer::

    "kerascc_trace": {
      "variables": [{"name": "gamma", "shape": [4], "initializer": {...}, "trainable": true}, ...],
      "sublayers": {"dense_3": "proj"},        # sublayer name -> attribute path (for its weights)
      "root": false,                           # true: a subclassed model, weights at the file's top
      "graph": {"layers": [...], "input_layers": [...], "output_layers": [...]}
    }

The graph is a Functional config of built-in layers and operations, so it is data like the rest of
the config and compiles through the same tables; its ``InputLayer`` entries bind the layer's call
inputs. A weight appears in an operation's arguments as ``{"class_name": "__kerascc_variable__",
"config": {"index": i, ...}}``; ``index`` is its place in Keras's saved order (trainable weights
first, in creation order), which is also how Keras 3 numbers them in ``vars/<i>``. A value the call
computes from weights alone (``ops.exp(self.log_scale)``) is written the same way with ``op``,
``attrs`` and ``args`` in its config, and computed with NumPy once the weights are read
(:data:`WEIGHT_FUNCTIONS`), so it costs nothing at runtime.

Weights are read where Keras saves them: the layer's own variables under its path
(``layers/<snake_case class>/vars``), each sublayer under ``<layer path>/<attribute>/vars``, a
subclassed model's at the top of the file (``vars``, ``<attribute>/vars``); legacy tf.keras files
list them under the layer name (``<layer>/<layer>/gamma:0``, ``<layer>/<sublayer>/kernel:0``).
Without a file they are drawn from their initializers like every layer's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.errors import FormatError, UnsupportedLayerError
from compiler.ir import Node

from .layers import LayerContext
from .operations import OPERATIONS
from .weights import Scope, WeightStore, keras_snake_case

TRACE_KEY = "kerascc_trace"
VARIABLE_CLASS = "__kerascc_variable__"
#: Operations that may take a weight of the traced layer as an argument, and what they become.
WEIGHT_ARITHMETIC = ("Add", "Subtract", "Multiply", "Divide", "TrueDivide")
WEIGHT_MATMUL = ("Matmul", "Dot")
#: classes of a held model whose layers are saved under its attribute
MODEL_CLASSES = ("Sequential", "Functional", "Model")


def is_traced(entry: Any) -> bool:
    """Does this layer entry carry a trace of its call?"""
    return isinstance(entry, dict) and TRACE_KEY in entry


def uses_variables(args: list[Any]) -> bool:
    """Does an operation's argument list hold a weight reference of a traced layer?"""
    return any(isinstance(a, dict) and a.get("class_name") == VARIABLE_CLASS for a in args)


def file_path(path: Scope) -> tuple[str, ...]:
    """A layer's weight path in builder terms (``#key`` a ``layers/<key>`` step, ``@attr`` an
    attribute) as the groups of a Keras 3 weights file."""
    out: list[str] = []
    for part in path:
        if part.startswith("#"):
            out += ["layers", part[1:]]
        elif part.startswith("@"):
            out += part[1:].split("/")
        else:
            out.append(part)
    return tuple(out)


def _adopt(store: WeightStore | None, scope: Scope, path: Scope) -> None:
    """Make the arrays Keras saved at ``path`` the ones of IR scope ``scope``.

    The attribute path decides where it exists (a custom class rebuilt from its config may name
    its sublayers otherwise than Keras did); the name decides in legacy files, which have none.
    """
    if store is None:
        return
    arrays = getattr(store, "attributes", {}).get(file_path(path))
    if arrays:
        store.arrays[scope] = arrays


def _adopt_model(store: WeightStore | None, scope: Scope, path: Scope, cfg: dict[str, Any]) -> None:
    """A model a traced layer holds as an attribute (MLP-Mixer's ``self.mlp1 = keras.Sequential([...])``):
    Keras saves its layers under ``<attribute>/layers/<snake_case class>[_n]``, numbered per class
    in the order of ``model.layers`` (no InputLayer, no operations)."""
    seen: dict[str, int] = {}
    for entry in cfg.get("layers") or []:
        if not isinstance(entry, dict) or entry.get("class_name") == "InputLayer":
            continue
        if str(entry.get("module") or "").startswith("keras.src.ops"):
            continue
        cls, lcfg = str(entry.get("class_name")), entry.get("config") or {}
        key = keras_snake_case(cls)
        count = seen.get(key, 0)
        seen[key] = count + 1
        child = (*path, "#" + (key if count == 0 else f"{key}_{count}"))
        inner = (*scope, str(lcfg.get("name")))
        _adopt(store, inner, child)
        if cls in MODEL_CLASSES:
            _adopt_model(store, inner, child, lcfg)


def _sublayers_hold_all(store: WeightStore | None, own: Scope, subs: list[Scope]) -> None:
    """A layer without variables of its own whose group Keras filled only with its sublayers'
    (``layers/patch_encoder/projection``…): once they adopted those arrays, the group is used."""
    if store is None or not store.arrays.get(own):
        return
    adopted = sum(len(store.arrays.get(sub) or []) for sub in subs)
    if adopted == len(store.arrays[own]):
        store.used.add(own)


def _trace_parts(entry: dict[str, Any], file: str | None, name: str) -> tuple[dict, list, dict]:
    trace = entry[TRACE_KEY]
    graph = trace.get("graph") if isinstance(trace, dict) else None
    variables = trace.get("variables", []) if isinstance(trace, dict) else None
    sublayers = trace.get("sublayers", {}) if isinstance(trace, dict) else None
    if not isinstance(graph, dict) or not isinstance(variables, list) or not isinstance(sublayers, dict):
        raise FormatError(
            f"'{TRACE_KEY}' is not a trace (an object with 'graph', 'variables' and 'sublayers')",
            file=file,
            layer=name,
            hint="export the model again from its .py file",
        )
    return graph, variables, sublayers


def _specs(variables: list[Any], file: str | None, name: str) -> list[tuple[str, tuple[int, ...], Any]]:
    specs = []
    for i, var in enumerate(variables):
        shape = var.get("shape") if isinstance(var, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise FormatError(f"weight {i} of the trace has no shape", file=file, layer=name)
        specs.append((f"{i}:{var.get('name')}", tuple(shape), var.get("initializer")))
    return specs


def build_traced(
    builder: Any, cls: str, cfg: dict[str, Any], entry: dict[str, Any], inputs: list[Node], own: Scope
) -> Node | list[Node]:
    """Compile a traced layer's call: its weights, then its graph under the layer's scope.

    ``builder`` is the :class:`frontends.keras_json.ModelBuilder` compiling the model around it.
    """
    name = own[-1]
    graph, variables, sublayers = _trace_parts(entry, builder.file, name)
    weights = builder.weights
    if entry[TRACE_KEY].get("root"):
        weights.aliases[own] = ()
    base = weights.aliases.get(own, own)
    _adopt(weights.store, own, base)
    entries = {str((e.get("config") or {}).get("name")): e for e in graph.get("layers") or [] if isinstance(e, dict)}
    for sub, attr in sorted(sublayers.items()):
        if isinstance(sub, str) and isinstance(attr, str):
            path = (*base, "@" + attr)
            weights.aliases[(*own, sub)] = path
            _adopt(weights.store, (*own, sub), path)
            held = entries.get(sub, {})
            if held.get("class_name") in MODEL_CLASSES:
                _adopt_model(weights.store, (*own, sub), path, held.get("config") or {})
    specs = _specs(variables, builder.file, name)
    if specs:
        LayerContext(builder.graph, cls, name, cfg, own, weights, builder.file, builder.keras_major).params(specs)
    else:  # nothing to read: a legacy file's lookup by name prefix would gather the sublayers' arrays
        weights.cache[own] = {}
        _sublayers_hold_all(weights.store, own, [(*own, sub) for sub in sublayers])
    outs, _ = builder.build_model("Functional", graph, inputs, own)
    return outs[0] if len(outs) == 1 else outs


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


#: Operations on weights alone (``ops.exp(self.log_scale)``), computed when the weights are known:
#: class -> f(arguments, config). The result is a weight like the others for the operation using it.
WEIGHT_FUNCTIONS: dict[str, Any] = {
    "Exp": lambda a, c: np.exp(a[0]),
    "Log": lambda a, c: np.log(a[0]),
    "Sqrt": lambda a, c: np.sqrt(a[0]),
    "Rsqrt": lambda a, c: 1.0 / np.sqrt(a[0]),
    "Square": lambda a, c: np.square(a[0]),
    "Absolute": lambda a, c: np.abs(a[0]),
    "Abs": lambda a, c: np.abs(a[0]),
    "Negative": lambda a, c: -a[0],
    "Reciprocal": lambda a, c: 1.0 / a[0],
    "Sigmoid": lambda a, c: _sigmoid(a[0]),
    "Tanh": lambda a, c: np.tanh(a[0]),
    "Softplus": lambda a, c: np.logaddexp(0.0, a[0]),
    "Relu": lambda a, c: np.maximum(a[0], 0.0),
    "Add": lambda a, c: np.add(a[0], a[1]),
    "Subtract": lambda a, c: np.subtract(a[0], a[1]),
    "Multiply": lambda a, c: np.multiply(a[0], a[1]),
    "Divide": lambda a, c: np.divide(a[0], a[1]),
    "TrueDivide": lambda a, c: np.divide(a[0], a[1]),
    "Power": lambda a, c: np.power(a[0], a[1]),
    "Reshape": lambda a, c: np.reshape(a[0], c.get("newshape", c.get("new_shape"))),
    "Transpose": lambda a, c: np.transpose(a[0], c.get("axes")),
    "ExpandDims": lambda a, c: np.expand_dims(a[0], c["axis"]),
    "Squeeze": lambda a, c: np.squeeze(a[0], axis=c.get("axis")),
}


def _weight(builder: Any, own: Scope, ref: dict[str, Any], name: str) -> np.ndarray:
    """A weight reference as its array: a weight of the traced layer, or an expression of them."""
    config = ref.get("config") or {}
    if "op" in config:
        op = config.get("op")
        fn = WEIGHT_FUNCTIONS.get(op) if isinstance(op, str) else None
        if fn is None:
            raise UnsupportedLayerError(
                f"{op} on weights alone is not computed at compile time",
                file=builder.file,
                layer=name,
                hint="supported on weights alone: " + ", ".join(WEIGHT_FUNCTIONS),
            )
        args = [_weight(builder, own, a, name) if uses_variables([a]) else a for a in config.get("args") or []]
        try:
            with np.errstate(all="ignore"):
                value = np.asarray(fn(args, config.get("attrs") or {}), dtype=np.float32)
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise FormatError(f"{op} on weights: {exc}", file=builder.file, layer=name) from None
        if list(value.shape) != list(config.get("shape") or value.shape):
            raise FormatError(f"{op} on weights gives shape {value.shape}, not {config.get('shape')}", layer=name)
        return value
    arrays = list((builder.weights.cache.get(own[:-1]) or {}).values())
    index = config.get("index")
    if not isinstance(index, int) or not 0 <= index < len(arrays):
        raise FormatError(
            f"refers to weight {index!r} of a traced layer, which has {len(arrays)}", file=builder.file, layer=name
        )
    return arrays[index]


def variable_operation(builder: Any, cls: str, cfg: dict[str, Any], name: str, own: Scope, args: list[Any]) -> Node:
    """An operation of a traced call with a weight of the layer among its arguments.

    ``x + w``, ``x - w``, ``x * w``, ``x / w`` (w broadcast over x's trailing axes, as NumPy
    broadcasts) become one Affine node (x·scale + shift), which the folding passes merge into a
    neighbouring convolution or Dense where the weight is per channel; ``x @ w`` with a 2-D
    weight is a Dense node without bias.
    """
    ctx = LayerContext(builder.graph, cls, name, cfg, own, builder.weights, builder.file, builder.keras_major, args)
    values = [_weight(builder, own, a, name) if uses_variables([a]) else a for a in args]
    tensors = [v for v in values if isinstance(v, Node)]
    hint = "with a weight: x + w, x - w, x * w, x / w (w broadcast over x's trailing axes), x @ w, and the ops "
    hint += "that take constant arrays (einsum, concatenate, …)"
    if len(tensors) != 1 or len(values) != 2:
        return _as_constants(ctx, cls, values, hint)
    tensor_first = isinstance(values[0], Node)
    x, w = (values[0], values[1]) if tensor_first else (values[1], values[0])
    matmul = cls in WEIGHT_MATMUL and tensor_first and getattr(w, "ndim", 0) == 2 and x.shape[-1] == w.shape[0]
    if not (matmul or cls in WEIGHT_ARITHMETIC):
        return _as_constants(ctx, cls, values, hint)
    if matmul:
        return ctx.add("Dense", [x], params={"kernel": w.astype(np.float32)}, main=True)
    one, zero = np.ones_like(w), np.zeros_like(w)
    if cls == "Add":
        scale, shift = one, w
    elif cls == "Subtract":
        scale, shift = (one, -w) if tensor_first else (-one, w)
    elif cls == "Multiply":
        scale, shift = w, zero
    elif tensor_first:
        scale, shift = 1.0 / w, zero
    else:
        raise ctx.unsupported("a weight divided by a tensor", hint=hint)
    return weight_affine(ctx, x, scale, shift)


def _as_constants(ctx: LayerContext, cls: str, values: list[Any], hint: str) -> Node:
    """Any other operation: the weights as the constant arrays Keras writes (``__numpy__``), for
    the operation's own entry (einsum with a weight, concatenating a learned token, …)."""
    fn = OPERATIONS.get(cls)
    if fn is None or not any(isinstance(v, Node) for v in values):
        raise ctx.unsupported(
            "this operation on weights of the layer" if fn is not None else "this operation",
            hint="compute with the weight on the layer's input tensor; " + hint,
        )
    ctx.args = [
        {"class_name": "__numpy__", "config": {"value": v.tolist(), "dtype": "float32"}}
        if isinstance(v, np.ndarray)
        else v
        for v in values
    ]
    return fn(ctx, [v for v in values if isinstance(v, Node)])


def weight_affine(ctx: LayerContext, x: Node, scale: np.ndarray, shift: np.ndarray) -> Node:
    """x·scale + shift with arrays that broadcast over x's trailing axes (never over the batch)."""
    rank = len(x.shape)
    while scale.ndim > 0 and scale.shape[0] == 1:  # leading axes of 1 (the batch's among them) broadcast alike
        scale, shift = scale[0], shift[0]
    if scale.ndim > rank - 1:
        raise UnsupportedLayerError(
            f"{ctx.class_name}: a weight of shape {scale.shape} does not broadcast over a tensor of shape {x.shape} "
            "without changing its batch axis",
            file=ctx.file,
            layer=ctx.name,
        )
    axes = tuple(range(rank - scale.ndim, rank))
    for axis, size in zip(axes, scale.shape, strict=False):
        if size != 1 and x.shape[axis] != size:
            raise UnsupportedLayerError(
                f"{ctx.class_name}: a weight of shape {scale.shape} does not broadcast over a tensor of shape "
                f"{x.shape}",
                file=ctx.file,
                layer=ctx.name,
            )
    if scale.ndim <= 1 and x.shape[-1] is not None:  # per channel: the form the folding passes merge
        c = x.shape[-1]
        params = {"scale": np.broadcast_to(scale, (c,)).astype(np.float32), "shift": np.broadcast_to(shift, (c,))}
        params["shift"] = params["shift"].astype(np.float32)
        return ctx.add("Affine", [x], attrs={"axis": rank - 1}, params=params, main=True)
    params = {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)}
    return ctx.add("Affine", [x], attrs={"axis": axes}, params=params, main=True)
