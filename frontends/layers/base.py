"""What every layer entry shares: the registry, the context an entry works in, config checks.

An entry is a function registered with :func:`keras_layer` for one or more Keras class names.
It reads the layer's config (keys and defaults as Keras defines them in ``keras/src/layers``),
asks the :class:`LayerContext` for its weights in Keras's variable order, and adds IR nodes.
The checks every family needs (counts, window tuples, padding, ranks, data_format, activations)
live here once, so a family module holds only what its layers mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.errors import ShapeError, UnsupportedLayerError, WeightsError
from compiler.ir import Graph, Node
from compiler.limits import DEFAULT_LIMITS, MAX_DIMENSION, Limits

from ..weights import Scope, WeightStore, initialize

LayerFn = Callable[["LayerContext", list[Node]], Node]
#: Keras layer class name (aliases included) -> its entry; every frontend converts through it.
LAYERS: dict[str, LayerFn] = {}


def keras_layer(*class_names: str) -> Callable[[LayerFn], LayerFn]:
    """Register an entry for Keras layer classes; a class and its aliases share one entry."""

    def register(fn: LayerFn) -> LayerFn:
        for name in class_names:
            LAYERS[name] = fn
        return fn

    return register


@dataclass
class WeightSource:
    """Weights for every layer of one model: from a file, or drawn from initializers."""

    store: WeightStore | None
    seed: int = 0
    cache: dict[Scope, dict[str, np.ndarray]] = field(default_factory=dict)
    aliases: dict[Scope, Scope] = field(default_factory=dict)  # layer scope -> weights-file key path
    initialized: list[str] = field(default_factory=list)
    limits: Limits = DEFAULT_LIMITS
    drawn_bytes: int = 0

    @property
    def random(self) -> bool:
        return self.store is None

    def reserve(self, shapes: Sequence[tuple[int, ...]], file: str | None, layer: str) -> None:
        """Count arrays about to be drawn against the weight limit, before allocating them."""
        for shape in shapes:
            if any(int(d) < 0 for d in shape):
                raise UnsupportedLayerError(
                    f"a weight would have the negative shape {tuple(shape)}",
                    file=file,
                    layer=layer,
                    hint="check the layer's sizes in its config",
                )
            self.drawn_bytes += math.prod(int(d) for d in shape) * 4
        self.limits.check("the model's weights", self.drawn_bytes, "max_weight_bytes", file=file, layer=layer)


@dataclass
class LayerContext:
    """What a layer entry may use: its config, its weights, and the graph to add to."""

    graph: Graph
    class_name: str
    name: str
    cfg: dict[str, Any]
    scope: Scope
    weights: WeightSource
    file: str | None = None
    keras_major: int = 3
    args: list[Any] | None = None  # a Keras 3 operation's arguments: nodes and constants
    #: A call's keyword arguments by name, an operation's or a layer's (``key=``, ``attention_mask=``,
    #: ``use_causal_mask=``): tensors as nodes, constants as written; positional tensors are the inputs.
    kwargs: dict[str, Any] | None = None
    #: The Keras masks of the inputs, one per input tensor in input order (None: unmasked); see
    #: "The mask interface" below.
    masks: list[Node | None] = field(default_factory=list)
    #: Set by an entry that computes its outputs' masks (one per output, None for none); left
    #: None, the frontend applies Keras's default (:func:`default_output_masks`).
    output_masks: list[Node | None] | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.cfg.get(key, default)

    def unsupported(self, what: str, hint: str | None = None) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{self.class_name}: {what}", file=self.file, layer=self.name, hint=hint)

    def add(self, op: str, inputs: Sequence[Node], *, main: bool = False, **kwargs: Any) -> Node:
        """Add a node named after the layer: ``main`` is the layer's output, the others ``<layer>/<op>``."""
        name = self.name if main else f"{self.name}/{op.lower()}"
        try:
            return self.graph.add(op, inputs, name=name, layer=self.name, **kwargs)
        except ShapeError as err:
            raise err.with_context(file=self.file, layer=self.name) from err

    def params(self, specs: Sequence[tuple[str, tuple[int, ...], Any]]) -> dict[str, np.ndarray]:
        """Weights named by ``specs`` (label, shape, initializer config), in Keras's variable order.

        A layer called several times (a shared layer) gets the very same arrays each time.
        """
        cached = self.weights.cache.get(self.scope)
        if cached is not None:
            return cached
        store = self.weights.store
        if store is None:
            self.weights.reserve([shape for _, shape, _ in specs], self.file, self.name)
            out = {label: initialize(init, shape, self.weights.seed, self.scope, label) for label, shape, init in specs}
            if specs:
                self.weights.initialized.append(self.name)
        else:
            arrays = store.get(self.scope)
            if arrays is None and self.scope in self.weights.aliases:
                arrays = store.get(self.weights.aliases[self.scope])
            if arrays is None and specs:
                raise WeightsError(
                    f"the weights file has no weights for this layer (it needs {', '.join(s[0] for s in specs)})",
                    file=store.source,
                    layer=self.name,
                    hint="were the weights saved from this model?",
                )
            arrays = arrays or []
            if len(arrays) != len(specs):
                raise WeightsError(
                    f"expects {len(specs)} weight arrays ({', '.join(s[0] for s in specs) or 'none'}), "
                    f"the weights file has {len(arrays)}",
                    file=store.source,
                    layer=self.name,
                    hint="were the weights saved from this model?",
                )
            out = {}
            for (label, shape, _), arr in zip(specs, arrays, strict=False):
                if tuple(arr.shape) != tuple(shape):
                    raise WeightsError(
                        f"weight '{label}' has shape {tuple(arr.shape)}, the layer config needs {tuple(shape)}",
                        file=store.source,
                        layer=self.name,
                    )
                out[label] = arr
        self.weights.cache[self.scope] = out
        return out


# -- masks ------------------------------------------------------------------------------------------
# The mask interface. A Keras mask is an ordinary IR node of dtype "bool" and shape (batch, time)
# (the masked tensor's shape without its last axis). The JSON frontend keeps, beside its map of
# tensors, a map of masks with the same keys; an entry reads ``ctx.masks`` (one per input, None
# when unmasked) and sets ``ctx.output_masks`` (one per output). An entry that sets nothing gets
# Keras's default: a class whose Keras layer supports masking with the default ``compute_mask``
# passes its first input's mask on unchanged (MASK_PASSING), any other drops it.

#: Keras classes that pass their first input's mask on (``supports_masking`` and the default
#: ``compute_mask`` in keras/src/layers and tf_keras/src/layers alike).
MASK_PASSING: set[str] = {
    "Dense",
    "Activation",
    "ReLU",
    "ELU",
    "LeakyReLU",
    "PReLU",
    "Softmax",
    "ThresholdedReLU",
    "BatchNormalization",
    "GroupNormalization",
    "LayerNormalization",
    "UnitNormalization",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianDropout",
    "GaussianNoise",
    "AlphaDropout",
    "ActivityRegularization",
    "TimeDistributed",
}
#: Classes that pass masks in Keras 3 only (tf.keras's versions drop them).
KERAS3_MASK_PASSING: set[str] = {"Identity", "Rescaling", "Normalization"}
#: Keras 3 classes whose call deletes the masks of the tensors it is given (MultiHeadAttention's
#: ``set_keras_mask(query, None)``, and value's and key's): a layer that reads the same tensor
#: afterwards sees it unmasked.
KERAS3_CLEARS_INPUT_MASKS: set[str] = {"MultiHeadAttention"}
#: The element types a Keras ``Input`` may have; the ONNX input keeps it (int32/int64 token ids,
#: uint8 pixels, bool flags). Entries other than :data:`INTEGER_INPUTS` see such tensors as float32.
INPUT_DTYPES = ("float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "bool")
#: Classes whose entries take integer (and bool) tensors as they are; every other entry is given
#: float32 tensors, as Keras's float ops promote integer operands (an entry may cast back).
INTEGER_INPUTS: set[str] = {"Embedding", "Reshape", "Permute", "Flatten", "RepeatVector", "TimeDistributed"}
# tf.keras's TensorFlow calls keep TensorFlow's types: each entry converts what it computes on
INTEGER_INPUTS |= {"TFOpLambda", "SlicingOpLambda"}
#: The same for Keras 3 operations (keras.src.ops): the comparisons and boolean algebra of masks.
INTEGER_OPERATIONS: set[str] = {
    "NotEqual",
    "Equal",
    "Any",
    "All",
    "LogicalOr",
    "LogicalAnd",
    "LogicalNot",
    "ExpandDims",
    "Squeeze",
    "ZerosLike",
    "OnesLike",
    "Cast",
    "Concatenate",
    # selection, layout and comparison: exact on any element type (arithmetic promotes to float32)
    "Where",
    "GetItem",
    "Reshape",
    "Transpose",
    "Stack",
    "Split",
    "Tile",
    "Repeat",
    "Pad",
    "Greater",
    "GreaterEqual",
    "Less",
    "LessEqual",
    "Argmax",
    "Argmin",
    "Maximum",
    "Minimum",
    "TFOpLambda",
    "SlicingOpLambda",
}


def float_inputs(ctx: LayerContext, inputs: list[Node], args: list[Any] | None = None) -> tuple[list[Node], Any]:
    """Integer and bool tensors as float32 for an entry written for floats: Keras's float ops
    promote an integer operand (Dense on int ids computes on float32), and an entry that wants
    integers again (Embedding) casts back. ``args``, an operation's arguments, the same."""
    cast: dict[str, Node] = {}

    def as_float(x: Node) -> Node:
        if x.dtype.startswith("float"):
            return x
        if x.name not in cast:
            cast[x.name] = ctx.graph.add(
                "Cast", [x], name=f"{ctx.name}/cast", layer=ctx.name, attrs={"dtype": "float32"}
            )
        return cast[x.name]

    new_inputs = [as_float(x) for x in inputs]
    new_args = None if args is None else [as_float(a) if isinstance(a, Node) else a for a in args]
    return new_inputs, new_args


def default_output_masks(ctx: LayerContext, n_outputs: int) -> list[Node | None]:
    """Keras's ``Layer.compute_mask`` for a layer that computes none of its own."""
    passing = ctx.class_name in MASK_PASSING or (ctx.keras_major >= 3 and ctx.class_name in KERAS3_MASK_PASSING)
    first = ctx.masks[0] if ctx.masks and passing else None
    return [first] + [None] * (n_outputs - 1)


def constant(ctx: LayerContext, value: Any, dtype: str) -> Node:
    """A scalar known when compiling, as a ``Constant`` node that broadcasts against any tensor."""
    return ctx.add("Constant", [], params={"value": np.asarray(value, dtype=dtype)})


def not_equal(ctx: LayerContext, x: Node, value: Any) -> Node:
    """``x != value`` element-wise (bool), the comparison Keras's masks are made of."""
    return ctx.add("NotEqual", [x, constant(ctx, value, x.dtype)])


def mask_for(ctx: LayerContext, mask: Node, x: Node) -> Node:
    """The (batch, time) mask reshaped to broadcast against ``x`` (batch, time, ..., channels)."""
    dims = tuple(-1 if d is None else d for d in mask.shape[1:])
    return ctx.add("Reshape", [mask], attrs={"shape": (*dims, *([1] * (len(x.shape) - len(mask.shape))))})


def zero_masked(ctx: LayerContext, x: Node, mask: Node, *, main: bool = False) -> Node:
    """``x`` with its masked steps set to 0 (Keras's ``ops.where(mask, x, 0)``)."""
    return ctx.add("Where", [mask_for(ctx, mask, x), x, constant(ctx, 0.0, x.dtype)], main=main)


def merged_mask(ctx: LayerContext) -> Node | None:
    """The mask of an element-wise merge (Add, Multiply, Average, …): Keras 3's ``Merge.compute_mask``
    ORs the masks when every input has one (else none); tf.keras ANDs the masks the inputs have."""
    present = [m for m in ctx.masks if m is not None]
    if not present or (ctx.keras_major >= 3 and len(present) < len(ctx.masks)):
        return None
    if len(present) == 1:
        return present[0]
    return ctx.add("Or" if ctx.keras_major >= 3 else "And", present)


def concatenated_mask(ctx: LayerContext, inputs: Sequence[Node], axis: int) -> Node | None:
    """Concatenate's ``compute_mask``: each input's mask broadcast over its last axis (all True
    when it has none), joined along ``axis``, then any() (Keras 3) or all() (tf.keras) over the
    last axis.

    Along the last axis that is, in Keras 3, the OR of the masks, all True (the same as no mask
    to every consumer) as soon as one input is unmasked; in tf.keras the AND of the masks there
    are. Along the time axis it is the masks joined, an unmasked input contributing
    any(ones_like(x), -1), computed here as any(x != NaN, -1).
    """
    if all(m is None for m in ctx.masks):
        return None
    rank = len(inputs[0].shape)
    for x, m in zip(inputs, ctx.masks, strict=False):
        if m is not None and len(m.shape) != len(x.shape) - 1:
            raise ctx.unsupported(f"a mask of shape {m.shape} on an input of shape {x.shape}")
    if axis == rank - 1:
        present = [m for m in ctx.masks if m is not None]
        if ctx.keras_major >= 3 and len(present) < len(ctx.masks):
            return None
        return present[0] if len(present) == 1 else ctx.add("Or" if ctx.keras_major >= 3 else "And", present)
    parts = []
    for x, m in zip(inputs, ctx.masks, strict=False):
        if m is None:
            if not x.dtype.startswith("float"):
                raise ctx.unsupported("an unmasked integer input joined to masked ones")
            everywhere = not_equal(ctx, x, float("nan"))
            m = ctx.add("ReduceAny", [everywhere], attrs={"axes": (rank - 1,), "keepdims": False})
        parts.append(m)
    return ctx.add("Concat", parts, attrs={"axis": axis})


# -- config values -------------------------------------------------------------------------------
def is_int(value: Any) -> bool:
    """Keras's notion of an integer config value: an int that is not a bool (``"4"``, ``4.0`` and
    ``True`` are refused by Keras's own constructors, so ``int()`` must not quietly accept them)."""
    return isinstance(value, int) and not isinstance(value, bool)


def whole(value: Any, name: str = "value", minimum: int = -MAX_DIMENSION) -> int:
    """One integer config value (an axis, a dimension), at least ``minimum`` and at most
    :data:`MAX_DIMENSION`."""
    if not is_int(value):
        raise UnsupportedLayerError(f"{name} must be an integer, got {value!r:.60}")
    if not minimum <= value <= MAX_DIMENSION:
        raise UnsupportedLayerError(f"{name} must be between {minimum} and {MAX_DIMENSION}, got {value!r:.60}")
    return value


def ints(value: Any, n: int, name: str = "value", minimum: int = 0) -> tuple[int, ...]:
    """An int or ``n`` ints, each at least ``minimum`` (Keras: standardize_tuple), for any number
    of axes."""
    if is_int(value):
        out = (value,) * n
    elif (
        isinstance(value, Sequence) and not isinstance(value, str) and len(value) == n and all(is_int(v) for v in value)
    ):
        out = tuple(int(v) for v in value)
    else:
        what = {1: "an int", 2: "a pair of ints"}.get(n, f"{n} ints")
        raise UnsupportedLayerError(f"{name} must be an int or {what}, got {value!r:.60}")
    if min(out) < minimum:
        raise UnsupportedLayerError(f"{name} must be at least {minimum}, got {value!r:.60}")
    if max(out) > MAX_DIMENSION:
        raise UnsupportedLayerError(f"{name} must be at most {MAX_DIMENSION}, got {value!r:.60}")
    return out


def pair(value: Any, name: str = "value", minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``minimum`` (Keras: standardize_tuple)."""
    first, second = ints(value, 2, name, minimum)
    return first, second


def positive(ctx: LayerContext, key: str, default: Any = None) -> int:
    """A count from the config (filters, units, groups, depth_multiplier): a positive int, as Keras requires."""
    value = ctx.get(key, default)
    if not is_int(value) or value < 1:
        raise ctx.unsupported(f"{key} must be a positive integer, got {value!r:.60}")
    if value > MAX_DIMENSION:
        raise ctx.unsupported(f"{key} must be at most {MAX_DIMENSION}, got {value!r:.60}")
    return value


def padding_mode(ctx: LayerContext, *, causal: bool = False) -> str:
    """``padding`` of a convolution or pooling: 'valid' or 'same', and 'causal' where ``causal``
    (Conv1D)."""
    padding = str(ctx.get("padding", "valid")).lower()
    if padding not in (("valid", "same", "causal") if causal else ("valid", "same")):
        hint = "Conv1D takes 'valid', 'same' or 'causal'" if causal else "Conv2D/pooling take 'valid' or 'same'"
        raise ctx.unsupported(f"padding '{padding}'", hint=hint)
    return padding


def normalize_axis(ctx: LayerContext, axis: Any, rank: int) -> int:
    """One axis (or a one-element list of it) of a rank-``rank`` tensor, negative ones counted from the end."""
    if isinstance(axis, Sequence):
        if len(axis) != 1:
            raise ctx.unsupported(f"axis {axis} (only one axis is supported)")
        axis = axis[0]
    axis = whole(axis, "axis")
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}", file=ctx.file, layer=ctx.name)
    return axis % rank


# -- ranks and layouts ---------------------------------------------------------------------------
#: Keras's layouts by rank, for the messages of layers given a tensor of the wrong rank.
LAYOUTS = {
    3: "(batch, steps, channels)",
    4: "(batch, height, width, channels)",
    5: "(batch, depth, height, width, channels)",
}


def expect_rank(ctx: LayerContext, x: Node, rank: int, layout: str) -> None:
    """Keras's InputSpec(ndim=...): a 2-D layer given a flat tensor is the model's error."""
    if len(x.shape) != rank:
        raise ShapeError(
            f"{ctx.class_name} expects a {rank}-D input {layout}, got shape {x.shape}", file=ctx.file, layer=ctx.name
        )


def known_channels(ctx: LayerContext, x: Node) -> int:
    """The size of the last (channels) axis, which a layer's weights are shaped by."""
    channels = x.shape[-1]
    if channels is None:
        raise ShapeError("the channel dimension must be known", file=ctx.file, layer=ctx.name)
    return channels


def channels_last(ctx: LayerContext, x: Node, build: Callable[[Node], Node], rank: int = 4) -> Node:
    """Run ``build`` on channels-last data (NHWC, or NDHWC with ``rank=5``); channels_first
    layers are wrapped in two transposes.

    The backend cancels such transposes against its own channels-first layout, so they cost nothing.
    """
    expect_rank(ctx, x, rank, LAYOUTS[rank])
    if ctx.get("data_format", "channels_last") != "channels_first":
        return build(x)
    inner = ctx.add("Transpose", [x], attrs={"perm": (0, *range(2, rank), 1)})
    return ctx.add("Transpose", [build(inner)], attrs={"perm": (0, rank - 1, *range(1, rank - 1))}, main=True)


def height1(
    ctx: LayerContext, x: Node, build: Callable[[Node], Node], after: Callable[[Node], Node] | None = None
) -> Node:
    """Run a 1-D layer as its 2-D twin: (N, L, C) is viewed as the image (N, 1, L, C), so
    TensorFlow's 'same' rule and the padding and bias merges are the 2-D ones.

    The two Reshapes only add and drop a size-1 axis, so the backend keeps the channels-first
    layout across them and a chain of 1-D layers needs no transposes inside. ``after`` runs on
    the 1-D result, before a channels_first layer's transpose back.
    """
    expect_rank(ctx, x, 3, LAYOUTS[3])
    first = ctx.get("data_format", "channels_last") == "channels_first"
    if first:
        x = ctx.add("Transpose", [x], attrs={"perm": (0, 2, 1)})
    steps = x.shape[1]
    channels = known_channels(ctx, x)
    t = ctx.add("Reshape", [x], attrs={"shape": (1, -1 if steps is None else steps, channels)})
    y = build(t)
    steps, channels = y.shape[2:]
    y = ctx.add("Reshape", [y], attrs={"shape": (-1 if steps is None else steps, channels)}, main=not first)
    if after is not None:
        y = after(y)
    return ctx.add("Transpose", [y], attrs={"perm": (0, 2, 1)}, main=True) if first else y


# -- activations ---------------------------------------------------------------------------------
def _activation_name(spec: Any) -> str:
    if spec is None:
        return "linear"
    if isinstance(spec, dict):  # Keras 3 may serialize a function as {"class_name": "function", "config": "relu"}
        inner = spec.get("config")
        spec = inner if isinstance(inner, str) else spec.get("class_name", "")
    return str(spec).lower()


def hard_sigmoid_attrs(ctx: LayerContext) -> dict[str, float]:
    """Keras 3 defines hard_sigmoid as relu6(x + 3) / 6; Keras 2 used clip(0.2x + 0.5, 0, 1)."""
    return {"alpha": 0.2, "beta": 0.5} if ctx.keras_major < 3 else {"alpha": 1 / 6, "beta": 0.5}


def apply_activation(ctx: LayerContext, x: Node, spec: Any, *, main: bool = False) -> Node:
    """Append the nodes for a Keras activation (string or serialized function) to ``x``."""
    name = _activation_name(spec)
    if name == "linear":
        return ctx.add("Identity", [x], main=True) if main else x
    rank = len(x.shape)
    simple = {
        "relu": ("Relu", {}),
        "sigmoid": ("Sigmoid", {}),
        "tanh": ("Tanh", {}),
        "relu6": ("Clip", {"min": 0.0, "max": 6.0}),
        "hard_tanh": ("Clip", {"min": -1.0, "max": 1.0}),
        "leaky_relu": ("LeakyRelu", {"alpha": 0.2}),
        "elu": ("Elu", {"alpha": 1.0}),
        "selu": ("Selu", {}),
        "softplus": ("Softplus", {}),
        "softsign": ("Softsign", {}),
        "silu": ("Swish", {}),
        "swish": ("Swish", {}),
        "gelu": ("Gelu", {"approximate": False}),
        "exponential": ("Exp", {}),
        "mish": ("Mish", {}),
        "hard_sigmoid": ("HardSigmoid", hard_sigmoid_attrs(ctx)),
        "softmax": ("Softmax", {"axis": rank - 1}),
        "log_softmax": ("LogSoftmax", {"axis": rank - 1}),
    }
    if name in ("hard_silu", "hard_swish"):
        gate = ctx.add("HardSigmoid", [x], attrs={"alpha": 1 / 6, "beta": 0.5})
        return ctx.add("Mul", [x, gate], main=main)
    if name not in simple:
        raise ctx.unsupported(f"activation '{name}'", hint="supported: linear, " + ", ".join(sorted(simple)))
    op, attrs = simple[name]
    return ctx.add(op, [x], attrs=attrs, main=main)


# -- weighted layers -----------------------------------------------------------------------------
def with_bias(ctx: LayerContext, specs: list[tuple[str, tuple[int, ...], Any]], n: int) -> list:
    """Append the bias weight when the layer has one (``use_bias``)."""
    if ctx.get("use_bias", True):
        specs.append(("bias", (n,), ctx.get("bias_initializer")))
    return specs


def linear_layer(ctx: LayerContext, op: str, x: Node, attrs: dict[str, Any], specs: list) -> Node:
    """The layer's linear op with its weights, then its ``activation=``."""
    y = ctx.add(op, [x], attrs=attrs, params=ctx.params(specs), main=True)
    return apply_activation(ctx, y, ctx.get("activation"))


def scalar_affine(ctx: LayerContext, x: Node, scale: float, shift: float, *, main: bool = True) -> Node:
    """x · scale + shift as a per-channel Affine, which the folding passes merge into neighbours."""
    c = x.shape[-1]
    if c is None:
        raise ctx.unsupported("arithmetic with a constant on a tensor whose last dimension is unknown")
    params = {"scale": np.full(c, scale, np.float32), "shift": np.full(c, shift, np.float32)}
    return ctx.add("Affine", [x], attrs={"axis": len(x.shape) - 1}, params=params, main=main)
