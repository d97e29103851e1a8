"""Keras's own model serialization → IR.

Reads both generations of ``model.to_json()`` / ``get_config()``:

* Keras 3: ``inbound_nodes`` is a list of calls ``{"args": [...], "kwargs": {...}}`` whose tensors
  are ``{"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, tensor]}}``;
  ``InputLayer`` has ``batch_shape``.
* Keras 2 / tf.keras: ``inbound_nodes`` is ``[[["layer", node, tensor, {kwargs}], ...], ...]``;
  ``InputLayer`` has ``batch_input_shape``.

Functional and Sequential models are handled, nested models (a model used as a layer) are
inlined with their own weight scope, and layers called several times share their weights.
The same builder serves ``.keras`` archives and legacy ``.h5`` model files.
"""

from __future__ import annotations

import difflib
import io
import json
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compiler.errors import CompileError, FormatError, UnsupportedLayerError
from compiler.ir import Graph, Node
from compiler.limits import DEFAULT_LIMITS, MAX_DIMENSION, MAX_NESTING, Limits

from .layers import LAYERS, LayerContext, WeightSource
from .layers.base import (
    INPUT_DTYPES,
    INTEGER_INPUTS,
    INTEGER_OPERATIONS,
    KERAS3_CLEARS_INPUT_MASKS,
    default_output_masks,
    float_inputs,
)
from .operations import OPERATIONS
from .traced import build_traced, is_traced, uses_variables, variable_operation
from .weights import Scope, WeightStore, keras_snake_case, load_weights, probe_h5, read_h5

MODEL_CLASSES = ("Functional", "Model", "Sequential")
#: The layouts Keras's ``standardize_data_format`` accepts (``None`` means Keras's default, channels_last).
DATA_FORMATS = (None, "channels_last", "channels_first")
TensorKey = tuple[str, int, int]


def _unwrap(layer: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(layer, dict):
        raise FormatError(
            f"a layer entry is {type(layer).__name__}, not an object with 'class_name' and 'config'",
            hint="is this the output of model.to_json()?",
        )
    cls = layer.get("class_name")
    cfg = layer.get("config")
    if not isinstance(cls, str) or not isinstance(cfg, dict):
        what = "'class_name'" if not isinstance(cls, str) else "'config'"
        name = cfg.get("name") if isinstance(cfg, dict) else layer.get("name")
        raise FormatError(
            f"a layer entry has no {what}",
            layer=name if isinstance(name, str) else None,
            hint="is this the output of model.to_json()?",
        )
    return cls, cfg


def count_layers(cfg: Any) -> int:
    """Layers in a model config, nested models included (for the ``max_layers`` limit)."""
    layers = cfg.get("layers") if isinstance(cfg, dict) else None
    if not isinstance(layers, list):
        return 0
    total = len(layers)
    for entry in layers:
        if isinstance(entry, dict) and entry.get("class_name") in MODEL_CLASSES:
            total += count_layers(entry.get("config"))
    return total


def keras_major_of(doc: dict[str, Any]) -> int:
    """Which Keras wrote this config: 2 (tf.keras) or 3, from explicit versions or the node format."""
    version = doc.get("keras_version")
    if isinstance(version, str) and version[:1].isdigit():
        return int(version.split(".")[0])

    def walk(cfg: dict[str, Any]) -> Iterator[Any]:
        for layer in cfg.get("layers", []) or []:
            yield from layer.get("inbound_nodes", []) or []
            if "batch_input_shape" in (layer.get("config") or {}):
                yield "keras2"
            if layer.get("class_name") in MODEL_CLASSES:
                yield from walk(layer.get("config") or {})

    for node in walk(doc.get("config") or {}):
        if node == "keras2" or isinstance(node, list):
            return 2
    return 3


class ModelBuilder:
    """Turns one (possibly nested) Keras model config into nodes of one graph."""

    def __init__(self, graph: Graph, weights: WeightSource, file: str | None, keras_major: int) -> None:
        self.graph = graph
        self.weights = weights
        self.file = file
        self.keras_major = keras_major
        self.shared: dict[Scope, Scope] = {}  # a later occurrence of a shared object -> its first
        self.output_masks: list[Node | None] = []  # the Keras masks of the model built last

    # -- entry points --------------------------------------------------------------------------
    def build_top(self, doc: dict[str, Any]) -> None:
        cls, cfg = _unwrap(doc)
        if cls not in MODEL_CLASSES:
            raise FormatError(f"top-level class is '{cls}', expected one of {', '.join(MODEL_CLASSES)}", file=self.file)
        self.graph.name = str(cfg.get("name") or "model")
        self._walk_saved_objects(cfg, (), (), {})
        outputs, names = self.build_model(cls, cfg, None, ())
        self.graph.set_outputs(outputs, _dedupe(names))

    def build_model(
        self,
        cls: str,
        cfg: dict[str, Any],
        inputs: list[Node] | None,
        scope: Scope,
        masks: list[Node | None] | None = None,
    ) -> tuple[list[Node], list[str]]:
        """The model's outputs and their names; the outputs' Keras masks are left in
        :attr:`output_masks` (a nested model passes masks in and out, as Keras's Functional does)."""
        if len(scope) > MAX_NESTING:
            raise FormatError(
                f"models are nested more than {MAX_NESTING} deep",
                file=self.file,
                layer=scope[-1],
                hint="a Keras model nests a few models; this description is not one",
            )
        if cls == "Sequential":
            return self._sequential(cfg, inputs, scope, masks)
        return self._functional(cfg, inputs, scope, masks)

    def _walk_saved_objects(
        self, cfg: dict[str, Any], scope: Scope, path: Scope, first: dict[tuple[str, str, str], Scope]
    ) -> None:
        """Visit the layers as Keras's saving does, to know where each one's weights are.

        ``saving_lib`` walks ``model.layers`` depth first and keys each layer by attribute path,
        ``layers/<snake_case class name>[_N]`` (Keras 3 also stores the real name, tf-keras's
        ``.weights.h5`` does not), and it saves an object once, at the first path it meets it:
        a layer or model shared by several models (or by a model and the model around it) has
        no weights at its later paths. The config repeats a shared object in full in every
        model that holds it, so an object is recognised by class, name and config; an occurrence
        whose path holds nothing in the file reads the weights of the first one, and so does a
        repeat when there is no file (one layer, one set of drawn weights). Keras 3 numbers the
        path of a repeat all the same; tf-keras skips repeats before numbering.
        """
        store = self.weights.store
        seen: dict[str, int] = {}
        for entry in cfg.get("layers") or []:
            cls, lcfg = _unwrap(entry)
            if str(entry.get("module") or "").startswith("keras.src.ops"):
                continue  # an operation, not among model.layers
            name = str(lcfg.get("name") or entry.get("name"))
            own = (*scope, name)
            identity = (cls, name, json.dumps(_without_sharing_ids(lcfg), sort_keys=True, default=str))
            earlier = first.get(identity)
            # Legacy HDF5 repeats a shared layer's weights under every top-level layer using it.
            repeat = earlier is not None and earlier != own and (store is None or store.saved is not None)
            if repeat and self.keras_major < 3:
                self.shared[own] = earlier  # tf-keras skips it before numbering the path
                continue
            base = keras_snake_case(cls)
            count = seen.get(base, 0)
            seen[base] = count + 1
            attr = (*path, "#" + (base if count == 0 else f"{base}_{count}"))
            if repeat and (store is None or not store.holds(own, attr)):
                self.shared[own] = earlier  # saved there, and Keras did not look inside it again
                continue
            first.setdefault(identity, own)
            self.weights.aliases.setdefault(own, attr)
            if cls in MODEL_CLASSES:
                self._walk_saved_objects(lcfg, own, attr, first)

    # -- Sequential ------------------------------------------------------------------------------
    def _sequential(
        self, cfg: dict[str, Any], inputs: list[Node] | None, scope: Scope, masks: list[Node | None] | None = None
    ) -> tuple[list[Node], list[str]]:
        layers = cfg.get("layers")
        if not isinstance(layers, list):
            raise FormatError("Sequential config has no 'layers' list", file=self.file)
        _unique_names(layers, self.file)
        x: Node | None = inputs[0] if inputs else None
        mask: Node | None = masks[0] if masks else None
        last_name = None
        for entry in layers:
            cls, lcfg = _unwrap(entry)
            if cls == "InputLayer":
                if x is None:
                    x = self._input(lcfg, scope)
                continue
            if x is None:
                shape = lcfg.get("batch_input_shape") or lcfg.get("batch_shape") or cfg.get("build_input_shape")
                if shape is None:
                    raise FormatError(
                        "Sequential model has no input shape (no InputLayer, batch_input_shape or build_input_shape)",
                        file=self.file,
                        hint="build the model (model.build or keras.Input) before saving",
                    )
                name = f"{lcfg.get('name') or entry.get('name') or cls.lower()}_input"  # Keras 2's naming
                x = self._input({"name": name, "batch_shape": shape}, scope)
            x, (mask, *_) = self._call_layer(cls, lcfg, entry, [x], scope, masks=[mask])
            last_name = str(lcfg.get("name") or entry.get("name"))
        if x is None:
            raise FormatError("Sequential model has no layers", file=self.file)
        self.output_masks = [mask]
        return [x], [last_name or x.name]

    # -- Functional -------------------------------------------------------------------------------
    def _functional(
        self, cfg: dict[str, Any], inputs: list[Node] | None, scope: Scope, in_masks: list[Node | None] | None = None
    ) -> tuple[list[Node], list[str]]:
        layers = cfg.get("layers")
        if not isinstance(layers, list):
            raise FormatError("model config has no 'layers' list", file=self.file)
        tensors: dict[TensorKey, Node] = {}
        masks: dict[TensorKey, Node | None] = {}  # the Keras mask of each tensor, same keys
        input_keys = _refs(cfg.get("input_layers"))
        by_name = _unique_names(layers, self.file)

        for i, key in enumerate(input_keys):
            entry = by_name.get(key[0])
            if entry is None:
                raise FormatError(f"input layer '{key[0]}' is not among the layers", file=self.file)
            if inputs is not None:
                if i >= len(inputs):
                    raise FormatError(
                        f"nested model expects {len(input_keys)} inputs, got {len(inputs)}", file=self.file
                    )
                tensors[key] = inputs[i]
                masks[key] = in_masks[i] if in_masks and i < len(in_masks) else None
            else:
                tensors[key] = self._input(_unwrap(entry)[1], scope)

        # Calls run in file order once their inputs are ready (a shared layer's later call may
        # depend on layers listed after it): see _call_order.
        pending = []
        for entry in layers:
            cls, lcfg = _unwrap(entry)
            if cls == "InputLayer":
                continue
            name = str(entry.get("name") or lcfg.get("name"))
            first = self._first_node_index(cls, lcfg)
            for node_index, call in enumerate(entry.get("inbound_nodes") or [], first):
                # a call waits for the masks it is given as keywords too
                refs = _call_refs(call) + list(_mask_kwargs(call).values())
                pending.append((name, node_index, cls, lcfg, entry, refs, call))
        order, waiting = _call_order(pending, set(tensors))
        for position in order:
            name, node_index, cls, lcfg, entry, refs, call = pending[position]
            if not all(r in tensors for r in refs):  # a call that never made the output read here
                waiting.append(position)
                continue
            op = _is_op(entry)
            refs = refs if op else _call_refs(call, positional=True)
            ins = [tensors[r] for r in refs]
            args = _call_args(call, tensors) if op else None
            # an operation's keyword arguments, or a layer's (key=, attention_mask=, use_causal_mask=)
            kwargs = _call_kwargs(call, tensors) if op else _layer_call_kwargs(call, tensors)
            in_masks_here = [masks.get(r) for r in refs]
            for i, ref in _mask_kwargs(call).items():  # Keras 3 passes masks as keywords: what it runs
                if i < len(in_masks_here):
                    in_masks_here[i] = tensors[ref]
            outs, out_masks = self._call_layer(
                cls,
                lcfg,
                entry,
                ins,
                scope,
                multi=cls in MODEL_CLASSES,
                args=args,
                kwargs=kwargs,
                masks=in_masks_here,
            )
            if self.keras_major >= 3 and cls in KERAS3_CLEARS_INPUT_MASKS:
                for ref in _call_refs(call):
                    masks[ref] = None
            for t, out in enumerate(outs if isinstance(outs, list) else [outs]):
                tensors[(name, node_index, t)] = out
                masks[(name, node_index, t)] = out_masks[t] if t < len(out_masks) else None
        if waiting:
            raise self._stuck([pending[i] for i in sorted(waiting)], tensors, by_name)

        outputs, names = [], []
        model_masks: list[Node | None] = []
        classes = {name: _unwrap(entry)[0] for name, entry in by_name.items()}
        for key in _refs(cfg.get("output_layers")):
            if self.keras_major >= 3 and classes.get(key[0]) in ("Functional", "Model") and key[1] > 0:
                # Keras 3 counts a nested Functional's built-in node in output references only
                # (keras.src.models.functional.functional_from_config: get_tensor).
                key = (key[0], key[1] - 1, key[2])
            if key not in tensors:
                raise FormatError(f"output '{key[0]}' is not produced by any layer", file=self.file)
            outputs.append(tensors[key])
            model_masks.append(masks.get(key))
            names.append(key[0])
        if not outputs:
            raise FormatError("model has no outputs", file=self.file)
        self.output_masks = model_masks
        return outputs, names

    def _stuck(self, waiting: list[Any], tensors: dict[TensorKey, Node], by_name: dict[str, Any]) -> FormatError:
        """Why no waiting call can run: it reads a layer that does not exist, a call that layer
        never makes, or the calls wait on each other in a cycle."""
        calls = {(item[0], item[1]) for item in waiting}
        for name, _node_index, *_rest, refs, _call in waiting:
            for ref in refs:
                if ref in tensors or (ref[0], ref[1]) in calls:
                    continue
                if ref[0] not in by_name:
                    return FormatError(
                        f"reads the output of layer '{ref[0]}', which is not in the model",
                        file=self.file,
                        layer=name,
                        hint="the model JSON is inconsistent",
                    )
                return FormatError(
                    f"reads call {ref[1]} (output {ref[2]}) of layer '{ref[0]}', which the model never makes",
                    file=self.file,
                    layer=name,
                    hint="the model JSON is inconsistent",
                )
        # Every reference points at a waiting call: follow them until one repeats.
        deps = {(item[0], item[1]): [(r[0], r[1]) for r in item[5] if r not in tensors] for item in waiting}
        start = (waiting[0][0], waiting[0][1])
        path, seen = [start], {start}
        while True:
            nxt = deps[path[-1]][0]
            if nxt in seen:
                cycle = path[path.index(nxt) :] + [nxt]
                return FormatError(
                    "layers feed each other in a cycle: " + " → ".join(c[0] for c in cycle),
                    file=self.file,
                    hint="a Keras model is acyclic; the JSON is inconsistent",
                )
            path.append(nxt)
            seen.add(nxt)

    def _first_node_index(self, cls: str, cfg: dict[str, Any]) -> int:
        """Index of a layer's first call in references to it.

        Keras 2 counts a nested model's own construction (its Input feeding its layers) as node
        0 and does not serialize it, so references to its calls start at 1. Keras 3 does not.
        """
        if self.keras_major >= 3 or cls not in MODEL_CLASSES:
            return 0
        if cls != "Sequential":
            return 1
        layers = cfg.get("layers") or [{}]
        head = layers[0]
        built = head.get("class_name") == "InputLayer" or "batch_input_shape" in (head.get("config") or {})
        return 1 if built else 0

    # -- layers ------------------------------------------------------------------------------------
    def _input(self, cfg: dict[str, Any], scope: Scope) -> Node:
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if shape is None and cfg.get("shape") is not None:
            shape = [None, *cfg["shape"]]
        if shape is None:
            raise FormatError(f"input layer '{cfg.get('name')}' has no shape", file=self.file)
        dtype = cfg.get("dtype") or "float32"
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name", "float32")
        if dtype not in INPUT_DTYPES:
            raise UnsupportedLayerError(
                f"input dtype {dtype!r:.40}",
                file=self.file,
                layer=cfg.get("name"),
                hint="supported: " + ", ".join(INPUT_DTYPES) + " (strings go through a lookup layer outside the model)",
            )
        if scope:
            raise FormatError("a nested model was called without inputs", file=self.file)
        name = str(cfg.get("name") or "input")
        if not isinstance(shape, (list, tuple)) or not shape:
            raise FormatError(f"the shape of input '{name}' is {shape!r:.60}, not a list of dimensions", file=self.file)
        for d in shape:
            if d is not None and (not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= MAX_DIMENSION):
                raise FormatError(
                    f"input '{name}' has the dimension {d!r:.60} in its shape {shape!r:.80}",
                    file=self.file,
                    layer=name,
                    hint=f"a dimension is null or a whole number from 0 to {MAX_DIMENSION}",
                )
        # Floating inputs are float32 in the graph, as Keras's float32 layers autocast them.
        return self.graph.add_input(name, (None, *shape[1:]), "float32" if dtype.startswith("float") else dtype)

    def _call_layer(
        self,
        cls: str,
        cfg: dict[str, Any],
        entry: dict[str, Any],
        inputs: list[Node],
        scope: Scope,
        multi: bool = False,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        masks: list[Node | None] | None = None,
    ) -> tuple[Any, list[Node | None]]:
        """Convert one call of a layer: its output(s), and the Keras mask of each output."""
        name = str(cfg.get("name") or entry.get("name") or cls.lower())
        own = self.shared.get((*scope, name), (*scope, name))
        masks = list(masks) if masks is not None else [None] * len(inputs)
        if cls in MODEL_CLASSES:
            outs, _ = self.build_model(cls, cfg, inputs, own, masks)
            out_masks = self.output_masks
            return (outs, out_masks) if multi else (outs[0], out_masks[:1])
        if is_traced(entry):  # a custom layer, Lambda or subclassed model of a .py, traced (frontends.traced)
            outs = build_traced(self, cls, cfg, entry, inputs, own)
            return outs, [None] * (len(outs) if isinstance(outs, list) else 1)
        if args is not None and uses_variables(args):
            outs = variable_operation(self, cls, cfg, name, own, args)
            return outs, [None] * (len(outs) if isinstance(outs, list) else 1)
        fn = (OPERATIONS if args is not None else LAYERS).get(cls)
        if fn is None:
            raise unknown_layer(cls, entry, self.file, name)
        if cfg.get("data_format") not in DATA_FORMATS:
            raise FormatError(
                f"{cls}: unknown data_format {cfg['data_format']!r:.60}",
                file=self.file,
                layer=name,
                hint="Keras takes 'channels_last' or 'channels_first'",
            )
        ctx = LayerContext(
            self.graph,
            cls,
            name,
            cfg,
            own,
            self.weights,
            self.file,
            self.keras_major,
            args=args,
            kwargs=kwargs,
            masks=masks,
        )
        try:
            if cls not in (INTEGER_OPERATIONS if args is not None else INTEGER_INPUTS):
                inputs, ctx.args = float_inputs(ctx, inputs, args)
            outs = fn(ctx, inputs)
            return outs, self._output_masks(ctx, inputs, outs)
        except CompileError as err:
            raise err.with_context(file=self.file, layer=name) from err
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, ArithmeticError) as exc:
            # A config value of the wrong type or range (``"strides": "x"``, ``"units": null``)
            raise FormatError(
                f"{cls} config is malformed ({type(exc).__name__}: {exc})",
                file=self.file,
                layer=name,
                hint="compare it with the layer's Keras documentation",
            ) from None

    def _output_masks(self, ctx: LayerContext, inputs: list[Node], outs: Any) -> list[Node | None]:
        """The masks an entry set (``ctx.output_masks``), else Keras's default for its class."""
        flat = outs if isinstance(outs, list) else [outs]
        found = ctx.output_masks if ctx.output_masks is not None else default_output_masks(ctx, len(flat))
        found = list(found) + [None] * (len(flat) - len(found))
        for mask in found:
            if mask is not None and mask.dtype != "bool":
                raise UnsupportedLayerError(
                    f"{ctx.class_name}: internal error: a mask of dtype {mask.dtype}", file=self.file, layer=ctx.name
                )
        return found


def unknown_layer(cls: str, entry: dict[str, Any], file: str | None, name: str) -> UnsupportedLayerError:
    """The error for a class the layer table lacks: custom classes (whose code the file lacks), typos."""
    registered = entry.get("registered_name")
    module = str(entry.get("module") or "")
    custom = (isinstance(registered, str) and ">" in registered) or (module and not module.startswith("keras"))
    if custom:
        return UnsupportedLayerError(
            f"custom layer class '{registered or cls}' is not supported: its code is not part of the model file",
            file=file,
            layer=name,
            hint="pass its .py file with --custom-objects, use built-in layers, or register a converter with "
            "frontends.keras_layer",
        )
    if module.startswith("keras.src.ops"):  # a keras.ops call without an entry in the operations table
        near = difflib.get_close_matches(cls, list(OPERATIONS), n=3, cutoff=0.6)
        return UnsupportedLayerError(
            f"operation '{cls}' ({module}) is not supported",
            file=file,
            layer=name,
            hint=(f"did you mean {' or '.join(near)}? " if near else "")
            + "the README's Tensor operations section lists the supported ones",
        )
    near = difflib.get_close_matches(cls, list(LAYERS), n=3, cutoff=0.6)
    if not near:
        near = [k for k in LAYERS if k.lower() == cls.lower()]
    hint = f"did you mean {' or '.join(near)}?" if near else "the README lists the supported layers"
    return UnsupportedLayerError(
        f"layer class '{registered or cls}' is not supported", file=file, layer=name, hint=hint
    )


def _refs(value: Any) -> list[TensorKey]:
    """input_layers/output_layers: ``[name, n, t]``, a list of those, or a dict of those."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list) and value and isinstance(value[0], str):
        try:
            return [(value[0], int(value[1]), int(value[2]))]
        except (TypeError, ValueError, IndexError):
            raise FormatError(f"unreadable input/output reference {value!r:.80}") from None
    if not isinstance(value, list):
        raise FormatError(f"unreadable input/output reference {value!r:.80}")
    return [ref for item in value for ref in _refs(item)]


def _call_refs(call: Any, positional: bool = False) -> list[TensorKey]:
    """The tensors one layer call reads, in argument order, in either Keras generation's format:
    the positional arguments' then the keyword arguments' (``key=``, ``attention_mask=``), or
    with ``positional`` the positional ones only (a layer's inputs)."""
    if isinstance(call, dict):  # Keras 3
        found: list[TensorKey] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if value.get("class_name") == "__keras_tensor__":
                    found.append(_history(value))
                else:
                    for v in value.values():
                        walk(v)
            elif isinstance(value, list | tuple):
                for v in value:
                    walk(v)

        walk(call.get("args", []))
        if positional:  # a layer's inputs: a recurrent layer's initial states follow its input
            walk((call.get("kwargs") or {}).get("initial_state") or [])
        else:
            walk(call.get("kwargs") or {})
        return found
    if isinstance(call, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
        try:
            if call and isinstance(call[0], str):  # a TFOpLambda call: [name, node, tensor, {"y": ref}]
                first = [] if call[0] == TF_CONSTANT else [_tf_op_ref(call)]
                return first + [_tf_op_ref(v) for v in _tf_op_kwargs(call).values() if _is_tf_ref(v)]
            refs = [(str(c[0]), int(c[1]), int(c[2])) for c in call]
            if not positional:  # tf.keras writes the other tensor arguments as {"value": [name, node, tensor]}
                refs += [_tf_op_ref(v) for c in call for v in _legacy_kwargs(c).values() if _is_tf_ref(v)]
            return refs
        except (TypeError, ValueError, IndexError, KeyError):
            raise FormatError(f"unreadable inbound node {call!r:.80}") from None
    raise FormatError(f"unreadable inbound node {call!r:.80}")


#: The keyword arguments in which Keras 3 passes the masks of a call's tensors, by input position
#: (``mask`` for a layer's one input, the attention layers' ``query_mask``, ``value_mask``, ``key_mask``).
MASK_KWARGS = {"mask": 0, "query_mask": 0, "value_mask": 1, "key_mask": 2}


def _mask_kwargs(call: Any) -> dict[int, TensorKey]:
    """The masks a Keras 3 call passes as keywords, by the position of the input they mask: a
    ``mask`` list masks the inputs in order. A null is no mask given: Keras's ``Layer.__call__``
    then passes the input's own mask, as the frontend does."""
    if not isinstance(call, dict) or not isinstance(call.get("kwargs"), dict):
        return {}
    found: dict[int, TensorKey] = {}
    for key, position in MASK_KWARGS.items():
        if key not in call["kwargs"]:
            continue
        value = call["kwargs"][key]
        items = value if isinstance(value, list) and key == "mask" else [value]
        for offset, item in enumerate(items):
            if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
                found[position + offset] = _history(item)
    return found


def _history(value: dict[str, Any]) -> TensorKey:
    """A Keras 3 tensor reference's ``keras_history``: (layer, call, output)."""
    try:
        hist = value["config"]["keras_history"]
        return (str(hist[0]), int(hist[1]), int(hist[2]))
    except (TypeError, ValueError, IndexError, KeyError):
        raise FormatError(f"unreadable tensor reference {value!r:.80}") from None


#: Keras 2's layers that wrap a TensorFlow function (``tf.reshape``) or a slice (``x[..., 0]``)
TF_OP_LAYERS = ("TFOpLambda", "SlicingOpLambda")
#: what a TFOpLambda call writes for a first argument that is a constant, not a tensor
TF_CONSTANT = "_CONSTANT_VALUE"


def _is_op(entry: dict[str, Any]) -> bool:
    """A Keras 3 operation recorded as a layer (``x + 3.0`` on a KerasTensor), not a Layer class,
    or its Keras 2 counterpart, a TensorFlow function wrapped in a ``TFOpLambda`` layer."""
    if "module" not in entry and entry.get("class_name") in OPERATIONS and isinstance(entry.get("config"), dict):
        # Keras 3's legacy .h5 drops every module; an operation's config, unlike any layer's, has no "trainable"
        if "trainable" not in entry["config"] and isinstance((entry.get("inbound_nodes") or [None])[0], dict):
            return True
    return str(entry.get("module") or "").startswith("keras.src.ops") or entry.get("class_name") in TF_OP_LAYERS


def _is_tf_ref(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) >= 3
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and value[0] != TF_CONSTANT
    )


def _tf_op_ref(value: list[Any]) -> TensorKey:
    return (str(value[0]), int(value[1]), int(value[2]))


def _tf_op_kwargs(call: list[Any]) -> dict[str, Any]:
    """A TFOpLambda call's keyword arguments (``y``, ...), without Keras's own ``name``."""
    kwargs = call[3] if len(call) > 3 and isinstance(call[3], dict) else {}
    return {k: v for k, v in kwargs.items() if k != "name"}


def _legacy_kwargs(entry: Any) -> dict[str, Any]:
    """The keyword arguments of one tf.keras inbound entry ``[name, node, tensor, {kwargs}]``."""
    return entry[3] if isinstance(entry, list) and len(entry) > 3 and isinstance(entry[3], dict) else {}


def _layer_call_kwargs(call: Any, tensors: dict[TensorKey, Node]) -> dict[str, Any]:
    """A layer call's keyword arguments (``key=``, ``attention_mask=``, ``use_causal_mask=``):
    tensors as nodes, constants as written, in either Keras generation's format."""
    if isinstance(call, dict):
        raw = call.get("kwargs") or {}
        if not isinstance(raw, dict):
            return {}
        out = {}
        for key, value in raw.items():
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                out[key] = tensors[_history(value)]
            else:
                out[key] = value
        return out
    out = {}
    for entry in call if isinstance(call, list) else []:
        for key, value in _legacy_kwargs(entry).items():
            out[key] = tensors[_tf_op_ref(value)] if _is_tf_ref(value) else value
    return out


def _call_args(call: Any, tensors: dict[TensorKey, Node]) -> list[Any]:
    """An operation's positional arguments: tensors as nodes, constants as they were written."""
    if isinstance(call, list) and call and isinstance(call[0], str):  # Keras 2 TFOpLambda: x, then kwargs
        rest = [tensors[_tf_op_ref(v)] if _is_tf_ref(v) else v for v in _tf_op_kwargs(call).values()]
        first = call[2] if call[0] == TF_CONSTANT else tensors[_tf_op_ref(call)]
        return [first, *rest]
    if isinstance(call, list) and call and all(_is_tf_ref(c) for c in call):  # tf.concat([a, b], axis=…)
        return [[tensors[_tf_op_ref(c)] for c in call], *_tf_op_kwargs(call[0]).values()]
    out = []
    for arg in call.get("args", []) if isinstance(call, dict) else []:
        out.append(_resolve(arg, tensors))
    return out


def _resolve(value: Any, tensors: dict[TensorKey, Node]) -> Any:
    """An operation argument with its tensor references, at any depth (``[[x, y]]``), as nodes."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return tensors[_history(value)]
    if isinstance(value, list):
        return [_resolve(v, tensors) for v in value]
    return value


def _call_kwargs(call: Any, tensors: dict[TensorKey, Node]) -> dict[str, Any]:
    """An operation call's keyword arguments by name, tensors as nodes (``Pad``'s
    ``constant_values``, a TFOpLambda's ``axis``)."""
    if isinstance(call, dict):
        kwargs = call.get("kwargs") or {}
        return {str(k): _resolve(v, tensors) for k, v in kwargs.items()} if isinstance(kwargs, dict) else {}
    if isinstance(call, list) and call and isinstance(call[0], str):
        return {k: tensors[_tf_op_ref(v)] if _is_tf_ref(v) else v for k, v in _tf_op_kwargs(call).items()}
    if isinstance(call, list) and call and all(_is_tf_ref(c) for c in call):
        return dict(_tf_op_kwargs(call[0]))
    return {}


def _without_sharing_ids(value: Any) -> Any:
    """A config without the ``shared_object_id`` marks a ``.keras`` archive puts on some repeats
    of a shared object (and not on others), so that every repeat compares equal."""
    if isinstance(value, dict):
        return {k: _without_sharing_ids(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_without_sharing_ids(v) for v in value]
    return value


def _call_order(pending: list[tuple[Any, ...]], ready: set[TensorKey]) -> tuple[list[int], list[int]]:
    """The order in which the calls (``(layer, node_index, ..., refs, call)``) run, and the calls
    that can never run (they read a missing call, or wait on each other in a cycle).

    The order is the one of sweeping the calls in file order again and again, running each whose
    inputs are ready, until none is left; the sweeps are not repeated (a 20,000-layer model listed
    in reverse would take 20,000 of them) but computed: Kahn's algorithm visits each call once
    when its last input call is placed and gives it its sweep, ``round``; a call runs in the sweep
    of an input call listed before it and in the next sweep after one listed after it. Sorting by
    (sweep, position) is that order.
    """
    index = {(item[0], item[1]): i for i, item in enumerate(pending)}
    missing = [0] * len(pending)
    readers: dict[int, list[int]] = {}
    for i, item in enumerate(pending):
        sources = {index.get((r[0], r[1]), -1) for r in item[5] if r not in ready}
        missing[i] = len(sources)
        for source in sources:
            readers.setdefault(source, []).append(i)  # -1: no such call, the reader never runs
    sweep = [1] * len(pending)
    queue = [i for i, n in enumerate(missing) if n == 0]
    placed = []
    while queue:
        i = queue.pop()
        placed.append(i)
        for reader in readers.get(i, ()):
            sweep[reader] = max(sweep[reader], sweep[i] + (i > reader))
            missing[reader] -= 1
            if missing[reader] == 0:
                queue.append(reader)
    waiting = [i for i, n in enumerate(missing) if n]
    return sorted(placed, key=lambda i: (sweep[i], i)), waiting


def _unique_names(layers: list[Any], file: str | None) -> dict[str, Any]:
    """The layers by name; Keras refuses a model with two layers of one name (references name
    layers, so a second one would silently take the first one's place)."""
    by_name: dict[str, Any] = {}
    for position, entry in enumerate(layers):
        cls, cfg = _unwrap(entry)
        raw = entry.get("name") or cfg.get("name")
        name = str(raw)
        first = by_name.get(name)
        if first is not None and raw is not None:
            raise FormatError(
                f"two layers are named '{name}': {_unwrap(first)[0]} (layer {list(layers).index(first)})"
                f" and {cls} (layer {position})",
                file=file,
                layer=name,
                hint="Keras requires unique layer names in a model",
            )
        by_name[name] = entry
    return by_name


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


# -- file formats ----------------------------------------------------------------------------------
def graph_from_config(
    doc: dict[str, Any], store: WeightStore | None, seed: int, file: str | None, limits: Limits = DEFAULT_LIMITS
) -> tuple[Graph, WeightSource]:
    """Build the IR of one model config; errors without a file get this one's."""
    try:
        limits.check("the model", count_layers(doc.get("config")), "max_layers", file=file)
        graph = Graph()
        weights = WeightSource(store, seed, limits=limits)
        ModelBuilder(graph, weights, file, keras_major_of(doc)).build_top(doc)
    except CompileError as err:
        raise err.with_context(file=file) from err
    except RecursionError:
        raise FormatError("the model config is nested too deeply", file=file) from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        # structure of the wrong type where the builder expects a list or an object
        raise FormatError(
            f"the model config is malformed ({type(exc).__name__}: {exc})",
            file=file,
            hint="is this the output of model.to_json()?",
        ) from None
    return graph, weights


def _check_text(doc: Any, file: str) -> None:
    """Refuse strings no UTF-8 file can hold (JSON's ``\\ud800`` escapes decode to lone
    surrogates): a name with one would fail later, when ONNX or the terminal encodes it.

    The walk keeps its own stack, so a deeply nested document costs no interpreter recursion;
    the nearest ``name`` seen on the way down names the layer in the message.
    """
    stack: list[tuple[Any, str | None]] = [(doc, None)]
    while stack:
        value, owner = stack.pop()
        if isinstance(value, dict):
            name = value.get("name")
            owner = name if isinstance(name, str) and name.isprintable() and _encodable(name) else owner
            for key, item in value.items():
                if not _encodable(key):
                    raise _surrogate(key, owner, file)
                stack.append((item, owner))
        elif isinstance(value, list):
            stack.extend((item, owner) for item in value)
        elif isinstance(value, str) and not _encodable(value):
            raise _surrogate(value, owner, file)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate(text: str, owner: str | None, file: str) -> FormatError:
    return FormatError(
        f"the text {ascii(text)[:80]} holds a lone UTF-16 surrogate, which no model file can hold",
        file=file,
        layer=owner,
        hint="rename it with plain Unicode characters",
    )


def _parse_json(text: str | bytes, file: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"not valid JSON ({exc})", file=file) from None
    except RecursionError:
        raise FormatError("the JSON is nested too deeply to be a model description", file=file) from None
    except ValueError as exc:  # Python's limit on int(str): a number of thousands of digits
        raise FormatError(
            f"the JSON holds a number too long to read ({exc})".split(";")[0] + ")",
            file=file,
            hint="no Keras config value needs thousands of digits",
        ) from None
    _check_text(doc, file)
    if not isinstance(doc, dict):
        raise FormatError("expected a JSON object (the output of model.to_json())", file=file)
    if "class_name" not in doc and "config" in doc and "layers" in doc["config"]:
        doc = {"class_name": "Functional", "config": doc["config"]}
    elif "class_name" not in doc and "layers" in doc:  # a bare get_config() dict
        doc = {"class_name": "Functional" if "input_layers" in doc else "Sequential", "config": doc}
    if not isinstance(doc.get("class_name"), str) or not isinstance(doc.get("config"), dict):
        raise FormatError(
            "not a Keras model: the JSON has no top-level 'class_name' and 'config'",
            file=file,
            hint="pass the output of model.to_json(), a .keras archive or an .h5 model",
        )
    return doc


def read_model(
    path: Path, weights_path: Path | None, limits: Limits = DEFAULT_LIMITS
) -> tuple[dict[str, Any], WeightStore | None]:
    """Read a model description and its weights from .json, .keras or .h5.

    Nothing from an archive is extracted to disk: members are read into memory, after their
    declared sizes passed ``limits`` (a zip bomb declares what it inflates to).
    """
    file = str(path)
    if not path.exists():
        raise FormatError("no such file", file=file)
    if path.is_dir():
        raise FormatError("is a directory, not a model file", file=file)
    suffix = path.suffix.lower()
    store = load_weights(weights_path, limits) if weights_path is not None else None
    try:
        if suffix == ".keras" or zipfile.is_zipfile(path):
            return _read_archive(path, store, limits)
        if suffix in (".h5", ".hdf5"):
            return _read_h5_model(path, store, limits)
        limits.check("the model description", path.stat().st_size, "max_config_bytes", file=file)
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise FormatError("cannot read the file (permission denied)", file=file) from None
    except UnicodeDecodeError:
        raise FormatError(
            "not a text file, so not model JSON",
            file=file,
            hint="pass model.to_json() output, a .keras archive or an .h5 model",
        ) from None
    except OSError as exc:
        raise FormatError(f"cannot read the file ({exc.strerror or exc})", file=file) from None
    return _parse_json(text, file), store


def _read_archive(path: Path, store: WeightStore | None, limits: Limits) -> tuple[dict[str, Any], WeightStore | None]:
    file = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
            if "config.json" not in members:
                raise FormatError("archive has no config.json (is it a .keras file?)", file=file)
            config = members["config.json"]
            limits.check("config.json in the archive", config.file_size, "max_config_bytes", file=file)
            doc = _parse_json(zf.read(config), file)
            weights = members.get("model.weights.h5")
            if store is None and weights is not None:
                limits.check("model.weights.h5 in the archive", weights.file_size, "max_weight_bytes", file=file)
                import h5py

                label = f"{file}:model.weights.h5"
                blob = zf.read(weights)
                probe_h5(blob, label, limits)
                try:
                    with h5py.File(io.BytesIO(blob), "r") as f:
                        store = read_h5(f, label, limits)
                except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:  # h5py, on damaged files
                    raise FormatError(f"model.weights.h5 is not a readable HDF5 file ({exc})", file=file) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise FormatError(f"broken .keras archive ({exc})", file=file) from None
    except (RuntimeError, OSError) as exc:  # zipfile: an encrypted member; bz2: damaged data
        if isinstance(exc, (RecursionError, PermissionError)):
            raise
        raise FormatError(f"broken .keras archive ({exc})", file=file) from None
    return doc, store


def _read_h5_model(path: Path, store: WeightStore | None, limits: Limits) -> tuple[dict[str, Any], WeightStore | None]:
    import h5py

    file = str(path)
    probe_h5(path, file, limits)
    try:
        with h5py.File(path, "r") as f:
            config = f.attrs.get("model_config")
            if config is None:
                raise FormatError(
                    "this HDF5 file holds weights only, no model",
                    file=file,
                    hint="compile the model JSON and pass this file with --weights",
                )
            doc = _parse_json(config, file)
            if "keras_version" not in doc and f.attrs.get("keras_version") is not None:
                v = f.attrs["keras_version"]
                doc["keras_version"] = v.decode() if isinstance(v, bytes) else str(v)
            if store is None:
                store = read_h5(f, file, limits)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:  # h5py, on damaged files
        raise FormatError(f"not a readable HDF5 file ({exc})", file=file) from None
    return doc, store
