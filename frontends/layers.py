"""The one table from Keras layer classes to IR ops, shared by every frontend.

Each entry is a small function registered for one or more Keras class names. It reads the
layer's config (keys and defaults as Keras defines them in ``keras/src/layers``), asks the
context for its weights in Keras's variable order, and adds IR nodes. A new layer is one entry
here; the JSON and Python frontends both find it through :data:`LAYERS`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.errors import ShapeError, UnsupportedLayerError, WeightsError
from compiler.ir import Graph, Node
from compiler.limits import DEFAULT_LIMITS, Limits

from .weights import Scope, WeightStore, initialize

LayerFn = Callable[["LayerContext", list[Node]], Node]
LAYERS: dict[str, LayerFn] = {}


def keras_layer(*class_names: str) -> Callable[[LayerFn], LayerFn]:
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
                raise UnsupportedLayerError(f"a weight would have the negative shape {tuple(shape)}",
                                            file=file, layer=layer, hint="check the layer's sizes in its config")
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

    def get(self, key: str, default: Any = None) -> Any:
        return self.cfg.get(key, default)

    def unsupported(self, what: str, hint: str | None = None) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{self.class_name}: {what}", file=self.file, layer=self.name, hint=hint)

    def add(self, op: str, inputs: Sequence[Node], *, main: bool = False, **kwargs: Any) -> Node:
        name = self.name if main else f"{self.name}/{op.lower()}"
        try:
            return self.graph.add(op, inputs, name=name, layer=self.name, **kwargs)
        except ShapeError as err:
            raise err.with_context(file=self.file, layer=self.name)

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
                    file=store.source, layer=self.name, hint="were the weights saved from this model?",
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
            for (label, shape, _), arr in zip(specs, arrays):
                if tuple(arr.shape) != tuple(shape):
                    raise WeightsError(
                        f"weight '{label}' has shape {tuple(arr.shape)}, the layer config needs {tuple(shape)}",
                        file=store.source,
                        layer=self.name,
                    )
                out[label] = arr
        self.weights.cache[self.scope] = out
        return out


# -- config helpers ------------------------------------------------------------------------------
def pair(value: Any, name: str = "value", minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``minimum`` (Keras: standardize_tuple)."""
    first, second = ints(value, 2, name, minimum)
    return first, second


def positive(ctx: LayerContext, key: str, default: Any = None) -> int:
    """A count from the config (filters, units, depth_multiplier): a positive int, as Keras requires."""
    value = ctx.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ctx.unsupported(f"{key} must be a positive integer, got {value!r:.60}")
    return value


def ints(value: Any, n: int, name: str = "value", minimum: int = 0) -> tuple[int, ...]:
    """An int or ``n`` ints, each at least ``minimum`` (Keras: standardize_tuple), for any number
    of axes."""
    if isinstance(value, int) and not isinstance(value, bool):
        out = (value,) * n
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == n \
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        out = tuple(int(v) for v in value)
    else:
        what = {1: "an int", 2: "a pair of ints"}.get(n, f"{n} ints")
        raise UnsupportedLayerError(f"{name} must be an int or {what}, got {value!r:.60}")
    if min(out) < minimum:
        raise UnsupportedLayerError(f"{name} must be at least {minimum}, got {value!r}")
    return out


def spatial_padding(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D's padding: int, (sym_h, sym_w) or ((top, bottom), (left, right))."""
    if isinstance(value, int):
        return ((value, value), (value, value))
    h, w = value
    return (pair(h, "padding"), pair(w, "padding"))


def padding_mode(ctx: LayerContext) -> str:
    padding = str(ctx.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise ctx.unsupported(f"padding '{padding}'", hint="Conv2D/pooling take 'valid' or 'same'")
    return padding


#: Keras's layouts by rank, for the messages of layers given a tensor of the wrong rank.
LAYOUTS = {3: "(batch, steps, channels)", 4: "(batch, height, width, channels)",
           5: "(batch, depth, height, width, channels)"}


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


def expect_rank(ctx: LayerContext, x: Node, rank: int, layout: str) -> None:
    """Keras's InputSpec(ndim=...): a 2-D layer given a flat tensor is the model's error."""
    if len(x.shape) != rank:
        raise ShapeError(f"{ctx.class_name} expects a {rank}-D input {layout}, got shape {x.shape}",
                         file=ctx.file, layer=ctx.name)


def normalize_axis(ctx: LayerContext, axis: Any, rank: int) -> int:
    if isinstance(axis, Sequence):
        if len(axis) != 1:
            raise ctx.unsupported(f"axis {axis} (only one axis is supported)")
        axis = axis[0]
    axis = int(axis)
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}", file=ctx.file, layer=ctx.name)
    return axis % rank


# -- activations ---------------------------------------------------------------------------------
def _activation_name(spec: Any) -> str:
    if spec is None:
        return "linear"
    if isinstance(spec, dict):  # Keras 3 may serialize a function as {"class_name": "function", "config": "relu"}
        inner = spec.get("config")
        spec = inner if isinstance(inner, str) else spec.get("class_name", "")
    return str(spec).lower()


def hard_sigmoid_attrs(ctx: LayerContext) -> dict[str, float]:
    # Keras 3 defines hard_sigmoid as relu6(x + 3) / 6; Keras 2 used clip(0.2x + 0.5, 0, 1).
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


def keras_relu(ctx: LayerContext, x: Node, negative_slope: float, max_value: float | None, threshold: float) -> Node:
    """Keras's ReLU with all three knobs, mapped to the plainest op that is exact."""
    negative_slope = float(negative_slope or 0.0)
    threshold = float(threshold or 0.0)
    max_value = None if max_value is None else float(max_value)
    if threshold == 0.0 and negative_slope == 0.0:
        if max_value is None:
            return ctx.add("Relu", [x], main=True)
        return ctx.add("Clip", [x], attrs={"min": 0.0, "max": max_value}, main=True)
    if threshold == 0.0 and max_value is None:
        return ctx.add("LeakyRelu", [x], attrs={"alpha": negative_slope}, main=True)
    attrs = {"negative_slope": negative_slope, "max_value": max_value, "threshold": threshold}
    return ctx.add("KerasRelu", [x], attrs=attrs, main=True)


# -- the table -----------------------------------------------------------------------------------
def window_config(ctx: LayerContext) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], str]:
    """kernel_size, strides, dilation_rate and padding as every Keras convolution spells them."""
    return (pair(ctx.get("kernel_size"), "kernel_size", 1), pair(ctx.get("strides", 1), "strides", 1),
            pair(ctx.get("dilation_rate", 1), "dilation_rate", 1), padding_mode(ctx))


def with_bias(ctx: LayerContext, specs: list[tuple[str, tuple[int, ...], Any]], n: int) -> list:
    """Append the bias weight when the layer has one (``use_bias``)."""
    if ctx.get("use_bias", True):
        specs.append(("bias", (n,), ctx.get("bias_initializer")))
    return specs


def linear_layer(ctx: LayerContext, op: str, x: Node, attrs: dict[str, Any], specs: list) -> Node:
    """The layer's linear op with its weights, then its ``activation=``."""
    y = ctx.add(op, [x], attrs=attrs, params=ctx.params(specs), main=True)
    return apply_activation(ctx, y, ctx.get("activation"))


@keras_layer("Conv2D", "Convolution2D")
def conv2d(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    filters = positive(ctx, "filters")
    groups = positive(ctx, "groups", 1)
    kernel, strides, dilations, padding = window_config(ctx)
    if max(strides) > 1 and max(dilations) > 1:
        raise ctx.unsupported("strides > 1 together with dilation_rate > 1 (Keras rejects this too)")

    def build(t: Node) -> Node:
        cin = t.shape[-1]
        if cin is None:
            raise ShapeError("the channel dimension must be known", file=ctx.file, layer=ctx.name)
        if cin % groups or filters % groups:
            raise ShapeError(f"groups={groups} must divide both {cin} input channels and {filters} filters",
                             file=ctx.file, layer=ctx.name)
        specs = with_bias(ctx, [("kernel", (*kernel, cin // groups, filters), ctx.get("kernel_initializer"))], filters)
        attrs = {"strides": strides, "dilations": dilations, "group": groups, "padding": padding}
        return linear_layer(ctx, "Conv", t, attrs, specs)

    return channels_last(ctx, x, build)


@keras_layer("Conv2DTranspose", "Convolution2DTranspose")
def conv2d_transpose(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    filters = positive(ctx, "filters")
    kernel, strides, dilations, padding = window_config(ctx)
    output_padding = ctx.get("output_padding")
    output_padding = None if output_padding is None else pair(output_padding, "output_padding")
    if int(ctx.get("groups", 1) or 1) != 1:
        raise ctx.unsupported("groups > 1")

    def build(t: Node) -> Node:
        specs = with_bias(ctx, [("kernel", (*kernel, filters, t.shape[-1]), ctx.get("kernel_initializer"))], filters)
        attrs = {"strides": strides, "dilations": dilations, "padding": padding, "output_padding": output_padding}
        return linear_layer(ctx, "ConvTranspose", t, attrs, specs)

    return channels_last(ctx, x, build)


@keras_layer("DepthwiseConv2D")
def depthwise_conv2d(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    mult = positive(ctx, "depth_multiplier", 1)
    kernel, strides, dilations, padding = window_config(ctx)

    def build(t: Node) -> Node:
        cin = t.shape[-1]
        specs = with_bias(ctx, [("kernel", (*kernel, cin, mult), ctx.get("depthwise_initializer"))], cin * mult)
        attrs = {"strides": strides, "dilations": dilations, "padding": padding}
        return linear_layer(ctx, "DepthwiseConv", t, attrs, specs)

    return channels_last(ctx, x, build)


@keras_layer("Dense")
def dense(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    units = positive(ctx, "units")
    fan_in = x.shape[-1]
    if fan_in is None:
        raise ShapeError("Dense needs a known last dimension", file=ctx.file, layer=ctx.name)
    specs = with_bias(ctx, [("kernel", (fan_in, units), ctx.get("kernel_initializer"))], units)
    return linear_layer(ctx, "Dense", x, {}, specs)


@keras_layer("BatchNormalization")
def batch_norm(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    rank = len(x.shape)
    axis = normalize_axis(ctx, ctx.get("axis", -1), rank)
    if ctx.get("renorm"):
        pass  # renormalization only changes training; inference uses the moving statistics
    channels = x.shape[axis]
    if channels is None:
        raise ShapeError("BatchNormalization needs a known size on its axis", file=ctx.file, layer=ctx.name)
    n = (channels,)
    specs = []
    if ctx.get("scale", True):
        specs.append(("gamma", n, ctx.get("gamma_initializer", "ones")))
    if ctx.get("center", True):
        specs.append(("beta", n, ctx.get("beta_initializer", "zeros")))
    specs += [
        ("mean", n, ctx.get("moving_mean_initializer", "zeros")),
        ("var", n, ctx.get("moving_variance_initializer", "ones")),
    ]
    params = dict(ctx.params(specs))
    params.setdefault("gamma", np.ones(n, np.float32))
    params.setdefault("beta", np.zeros(n, np.float32))
    attrs = {"epsilon": float(ctx.get("epsilon", 1e-3)), "axis": axis}
    return ctx.add("BatchNorm", [x], attrs=attrs, params=params, main=True)


@keras_layer("Activation")
def activation(ctx: LayerContext, inputs: list[Node]) -> Node:
    return apply_activation(ctx, inputs[0], ctx.get("activation"), main=True)


@keras_layer("ReLU")
def relu(ctx: LayerContext, inputs: list[Node]) -> Node:
    return keras_relu(ctx, inputs[0], ctx.get("negative_slope", 0.0), ctx.get("max_value"), ctx.get("threshold", 0.0))


@keras_layer("LeakyReLU")
def leaky_relu(ctx: LayerContext, inputs: list[Node]) -> Node:
    default = 0.3  # both Keras generations default to 0.3 for the layer
    slope = ctx.get("negative_slope", ctx.get("alpha", default))
    return ctx.add("LeakyRelu", inputs, attrs={"alpha": float(slope)}, main=True)


@keras_layer("ELU")
def elu(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Elu", inputs, attrs={"alpha": float(ctx.get("alpha", 1.0))}, main=True)


@keras_layer("Softmax")
def softmax(ctx: LayerContext, inputs: list[Node]) -> Node:
    axis = normalize_axis(ctx, ctx.get("axis", -1), len(inputs[0].shape))
    return ctx.add("Softmax", inputs, attrs={"axis": axis}, main=True)


@keras_layer("Dropout", "SpatialDropout2D", "SpatialDropout1D", "GaussianDropout", "AlphaDropout")
def dropout(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Dropout", inputs, attrs={"rate": float(ctx.get("rate", 0.0))}, main=True)


@keras_layer("GaussianNoise", "ActivityRegularization")
def inference_identity(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Identity", inputs, main=True)


def _merge(op: str) -> LayerFn:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        if len(inputs) < 2 and op != "Identity":
            raise ctx.unsupported(f"needs at least 2 inputs, got {len(inputs)}")
        return ctx.add(op, inputs, main=True)

    return build


for _cls, _op in (("Add", "Add"), ("Subtract", "Sub"), ("Multiply", "Mul"), ("Maximum", "Max"),
                  ("Minimum", "Min"), ("Average", "Mean")):
    keras_layer(_cls)(_merge(_op))


@keras_layer("Concatenate")
def concatenate(ctx: LayerContext, inputs: list[Node]) -> Node:
    axis = normalize_axis(ctx, ctx.get("axis", -1), len(inputs[0].shape))
    if axis == 0:
        raise ctx.unsupported("concatenation along the batch axis")
    return ctx.add("Concat", inputs, attrs={"axis": axis}, main=True)


def _pool(op: str, rank: int = 4) -> LayerFn:
    """Max/average pooling over 1, 2 or 3 spatial axes; 1-D runs as the 2-D op on a height-1
    image (:func:`height1`), so TensorFlow's 'same' rule and the padding merges are the 2-D ones."""
    n = rank - 2

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        kernel = ints(ctx.get("pool_size", 2), n, "pool_size", 1)
        strides = ctx.get("strides")
        strides = kernel if strides is None else ints(strides, n, "strides", 1)
        attrs = {"window": kernel, "strides": strides, "padding": padding_mode(ctx)}
        if n == 1:
            attrs.update(window=(1, *kernel), strides=(1, *strides))
            return height1(ctx, inputs[0], lambda t: ctx.add(op, [t], attrs=attrs))
        return channels_last(ctx, inputs[0], lambda t: ctx.add(op, [t], attrs=attrs, main=True), rank)

    return build


keras_layer("MaxPooling2D", "MaxPool2D")(_pool("MaxPool"))
keras_layer("AveragePooling2D", "AvgPool2D")(_pool("AveragePool"))
keras_layer("MaxPooling1D", "MaxPool1D")(_pool("MaxPool", 3))
keras_layer("AveragePooling1D", "AvgPool1D")(_pool("AveragePool", 3))
keras_layer("MaxPooling3D", "MaxPool3D")(_pool("MaxPool", 5))
keras_layer("AveragePooling3D", "AvgPool3D")(_pool("AveragePool", 5))


def _global_pool(op: str, rank: int = 4) -> LayerFn:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        keep = bool(ctx.get("keepdims", False))
        expect_rank(ctx, inputs[0], rank, LAYOUTS[rank])
        if ctx.get("data_format", "channels_last") == "channels_first":
            x = ctx.add("Transpose", inputs, attrs={"perm": (0, *range(2, rank), 1)})
            y = ctx.add(op, [x], attrs={"keepdims": keep}, main=not keep)
            back = (0, rank - 1, *range(1, rank - 1))
            return ctx.add("Transpose", [y], attrs={"perm": back}, main=True) if keep else y
        return ctx.add(op, inputs, attrs={"keepdims": keep}, main=True)

    return build


for _rank, _suffix in ((3, "1D"), (4, "2D"), (5, "3D")):
    keras_layer(f"GlobalAveragePooling{_suffix}", f"GlobalAvgPool{_suffix}")(_global_pool("GlobalAveragePool", _rank))
    keras_layer(f"GlobalMaxPooling{_suffix}", f"GlobalMaxPool{_suffix}")(_global_pool("GlobalMaxPool", _rank))


@keras_layer("ZeroPadding2D")
def zero_padding(ctx: LayerContext, inputs: list[Node]) -> Node:
    pads = spatial_padding(ctx.get("padding", 1))
    return channels_last(ctx, inputs[0], lambda t: ctx.add("Pad", [t], attrs={"pads": pads}, main=True))


@keras_layer("UpSampling2D")
def upsampling(ctx: LayerContext, inputs: list[Node]) -> Node:
    scale = pair(ctx.get("size", 2), "size", 1)
    mode = str(ctx.get("interpolation", "nearest"))
    if mode not in ("nearest", "bilinear"):
        raise ctx.unsupported(f"interpolation '{mode}'", hint="supported: nearest, bilinear")
    attrs = {"scale": scale, "mode": mode}
    return channels_last(ctx, inputs[0], lambda t: ctx.add("Resize", [t], attrs=attrs, main=True))


@keras_layer("Flatten")
def flatten(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    if ctx.get("data_format", "channels_last") == "channels_first" and len(x.shape) > 2:
        perm = (0, *range(2, len(x.shape)), 1)
        x = ctx.add("Transpose", [x], attrs={"perm": perm})
    return ctx.add("Flatten", [x], main=True)


@keras_layer("Reshape")
def reshape(ctx: LayerContext, inputs: list[Node]) -> Node:
    target = tuple(int(d) for d in ctx.get("target_shape"))
    return ctx.add("Reshape", inputs, attrs={"shape": target}, main=True)


@keras_layer("Permute")
def permute(ctx: LayerContext, inputs: list[Node]) -> Node:
    dims = tuple(int(d) for d in ctx.get("dims"))
    return ctx.add("Transpose", inputs, attrs={"perm": (0, *dims)}, main=True)


def config_array(value: Any) -> Any:
    """A config value as written: Keras serializes arrays as {"class_name": "__numpy__"|"__tensor__", ...}."""
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        return np.asarray(value["config"]["value"], dtype=np.float64)
    return value


def _per_channel(ctx: LayerContext, value: Any, channels: int, what: str) -> np.ndarray:
    arr = np.asarray(config_array(value), dtype=np.float64).reshape(-1)
    if arr.size == 1:
        return np.full(channels, arr[0])
    if arr.size != channels:
        raise ctx.unsupported(f"{what} has {arr.size} values for {channels} channels")
    return arr


@keras_layer("Rescaling")
def rescaling(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    channels = x.shape[-1]
    scale = _per_channel(ctx, ctx.get("scale", 1.0), channels, "scale")
    offset = _per_channel(ctx, ctx.get("offset", 0.0), channels, "offset")
    params = {"scale": scale.astype(np.float32), "shift": offset.astype(np.float32)}
    return ctx.add("Affine", [x], attrs={"axis": len(x.shape) - 1}, params=params, main=True)


def _kept_axes(ctx: LayerContext, x: Node) -> tuple[int, ...]:
    """Normalization's ``axis``: the axes that keep their own statistics (None: one for all)."""
    axis = ctx.get("axis", -1)
    axes = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    rank = len(x.shape)
    kept = tuple(sorted({normalize_axis(ctx, a, rank) for a in axes}))
    if len(kept) != len(axes) or 0 in kept:
        raise ctx.unsupported(f"axis {axis!r}", hint="name each non-batch axis at most once")
    if any(x.shape[d] is None for d in kept):
        raise ctx.unsupported(f"axis {axis!r} over an axis of unknown size (Keras needs it known too)")
    return kept


def _statistic(ctx: LayerContext, value: Any, sizes: tuple[int, ...], what: str) -> np.ndarray:
    """A configured mean/variance broadcast to the kept axes, as Keras broadcasts it."""
    arr = np.asarray(config_array(value), dtype=np.float64)
    try:
        return np.broadcast_to(arr, sizes)
    except ValueError:
        raise ctx.unsupported(f"{what} of shape {arr.shape} does not broadcast to the kept axes' {sizes}") from None


@keras_layer("Normalization")
def normalization(ctx: LayerContext, inputs: list[Node]) -> Node:
    """(x − mean) / max(√var, 1e-7), or its inverse (Keras's epsilon is 1e-7), with statistics
    per position of the kept ``axis`` (one axis, several, or none: a single pair)."""
    (x,) = inputs
    kept = _kept_axes(ctx, x)
    sizes = tuple(x.shape[d] for d in kept)
    if config_array(ctx.get("mean")) is not None:
        mean = _statistic(ctx, ctx.get("mean"), sizes, "mean")
        var = _statistic(ctx, ctx.get("variance"), sizes, "variance")
    else:
        w = ctx.params([("mean", sizes, "zeros"), ("variance", sizes, "ones"), ("count", (), "zeros")])
        mean, var = w["mean"].astype(np.float64), w["variance"].astype(np.float64)
    std = np.maximum(np.sqrt(var), 1e-7)
    if ctx.get("invert", False):
        scale, shift = std, mean
    else:
        scale, shift = 1.0 / std, -mean / std
    if not kept:  # one statistic for the whole tensor: per channel, all equal, so it folds
        channels = x.shape[-1]
        if channels is None:
            raise ctx.unsupported("axis=None on a tensor whose last dimension is unknown")
        scale, shift, kept = np.full(channels, scale), np.full(channels, shift), (len(x.shape) - 1,)
    params = {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)}
    axis = kept[0] if len(kept) == 1 else kept
    return ctx.add("Affine", [x], attrs={"axis": axis}, params=params, main=True)


# -- Keras 3 operations recorded as layers (keras.src.ops.numpy): x + 3.0, x * (1/6), … ----------
def _scalar_affine(ctx: LayerContext, x: Node, scale: float, shift: float, *, main: bool = True) -> Node:
    c = x.shape[-1]
    if c is None:
        raise ctx.unsupported("arithmetic with a constant on a tensor whose last dimension is unknown")
    params = {"scale": np.full(c, scale, np.float32), "shift": np.full(c, shift, np.float32)}
    return ctx.add("Affine", [x], attrs={"axis": len(x.shape) - 1}, params=params, main=main)


def _binary_op(kind: str) -> LayerFn:
    """Tensor-tensor arithmetic becomes the merge op; tensor-scalar becomes an Affine, which folds."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        args = ctx.args or []
        if len(args) != 2:
            raise ctx.unsupported(f"{len(args)} arguments")
        a, b = args
        if isinstance(a, Node) and isinstance(b, Node):
            op = {"add": "Add", "sub": "Sub", "mul": "Mul", "max": "Max", "min": "Min"}.get(kind)
            if op is None:
                raise ctx.unsupported("division of two tensors")
            return ctx.add(op, [a, b], main=True)
        if not isinstance(a, Node) and not isinstance(b, Node):
            raise ctx.unsupported("an operation on constants only")
        tensor_first = isinstance(a, Node)
        x, c = (a, b) if tensor_first else (b, a)
        if not isinstance(c, int | float):
            raise ctx.unsupported(f"constant operand {c!r} (only scalars are supported)")
        c = float(c)
        if kind == "add":
            return _scalar_affine(ctx, x, 1.0, c)
        if kind == "sub":
            return _scalar_affine(ctx, x, 1.0, -c) if tensor_first else _scalar_affine(ctx, x, -1.0, c)
        if kind == "mul":
            return _scalar_affine(ctx, x, c, 0.0)
        if kind == "div":
            if not tensor_first:
                raise ctx.unsupported("a constant divided by a tensor")
            return _scalar_affine(ctx, x, 1.0 / c, 0.0)
        low, high = (c, np.inf) if kind == "max" else (-np.inf, c)  # maximum(x, c) / minimum(x, c)
        return ctx.add("Clip", [x], attrs={"min": low, "max": high}, main=True)

    return build


for _cls, _kind in (("Add", "add"), ("Subtract", "sub"), ("Multiply", "mul"), ("Divide", "div"),
                    ("TrueDivide", "div"), ("Maximum", "max"), ("Minimum", "min")):
    keras_layer(f"ops.{_cls}")(_binary_op(_kind))


@keras_layer("SeparableConv2D", "SeparableConvolution2D")
def separable_conv2d(ctx: LayerContext, inputs: list[Node]) -> Node:
    """A depthwise convolution (strides, padding, dilation) followed by a 1×1 pointwise one."""
    (x,) = inputs
    filters = positive(ctx, "filters")
    mult = positive(ctx, "depth_multiplier", 1)
    kernel, strides, dilations, padding = window_config(ctx)

    def build(t: Node) -> Node:
        cin = t.shape[-1]
        specs = with_bias(ctx, [("depthwise", (*kernel, cin, mult), ctx.get("depthwise_initializer")),
                                ("pointwise", (1, 1, cin * mult, filters), ctx.get("pointwise_initializer"))], filters)
        w = ctx.params(specs)
        dw = ctx.add("DepthwiseConv", [t], attrs={"strides": strides, "dilations": dilations, "padding": padding},
                     params={"kernel": w["depthwise"]})
        pw_params = {"kernel": w["pointwise"], **({"bias": w["bias"]} if "bias" in w else {})}
        pw_attrs = {"strides": (1, 1), "dilations": (1, 1), "group": 1, "padding": "valid"}
        y = ctx.add("Conv", [dw], attrs=pw_attrs, params=pw_params, main=True)
        return apply_activation(ctx, y, ctx.get("activation"))

    return channels_last(ctx, x, build)


@keras_layer("LayerNormalization")
def layer_norm(ctx: LayerContext, inputs: list[Node]) -> Node:
    (x,) = inputs
    rank = len(x.shape)
    axis = normalize_axis(ctx, ctx.get("axis", -1), rank)
    if axis != rank - 1:
        raise ctx.unsupported(f"axis {ctx.get('axis')!r}", hint="only normalization over the last axis is supported")
    if ctx.get("rms_scaling"):
        raise ctx.unsupported("rms_scaling=True", hint="Keras deprecates it; use keras.layers.RMSNormalization")
    n = (x.shape[-1],)
    specs = []
    if ctx.get("scale", True):
        specs.append(("gamma", n, ctx.get("gamma_initializer", "ones")))
    if ctx.get("center", True):
        specs.append(("beta", n, ctx.get("beta_initializer", "zeros")))
    params = dict(ctx.params(specs))
    params.setdefault("gamma", np.ones(n, np.float32))
    params.setdefault("beta", np.zeros(n, np.float32))
    return ctx.add("LayerNorm", [x], attrs={"axis": axis, "epsilon": float(ctx.get("epsilon", 1e-3))},
                   params=params, main=True)


@keras_layer("LayerScale")
def layer_scale(ctx: LayerContext, inputs: list[Node]) -> Node:
    """keras.applications' ConvNeXt LayerScale: x · γ per channel."""
    (x,) = inputs
    n = (int(ctx.get("projection_dim", x.shape[-1])),)
    gamma = ctx.params([("gamma", n, {"class_name": "Constant", "config": {"value": ctx.get("init_values", 1e-6)}})])
    params = {"scale": gamma["gamma"], "shift": np.zeros(n, np.float32)}
    return ctx.add("Affine", [x], attrs={"axis": len(x.shape) - 1}, params=params, main=True)


@keras_layer("StochasticDepth")
def stochastic_depth(ctx: LayerContext, inputs: list[Node]) -> Node:
    """Drops residual paths in training only: the identity at inference."""
    return ctx.add("Identity", inputs, main=True)


@keras_layer("Cropping2D")
def cropping2d(ctx: LayerContext, inputs: list[Node]) -> Node:
    crops = spatial_padding(ctx.get("cropping", ((0, 0), (0, 0))))
    return channels_last(ctx, inputs[0], lambda t: ctx.add("Crop", [t], attrs={"crops": crops}, main=True))


# -- further vision layers: 1-D convolution, PReLU, Resizing, keras.applications helpers ----------
def single(value: Any, name: str) -> int:
    """A 1-D window parameter: an int or a one-element list, as Keras's Conv1D stores it."""
    return ints(value, 1, name, 1)[0]


@keras_layer("Conv1D", "Convolution1D")
def conv1d(ctx: LayerContext, inputs: list[Node]) -> Node:
    """A Conv2D over a height-1 image: (N, L, C) is viewed as (N, 1, L, C), so TensorFlow's
    'same' rule and the BatchNorm/bias folding are the 2-D ones. 'causal' pads (k−1)·d zeros
    in front, as Keras does."""
    (x,) = inputs
    if len(x.shape) != 3:
        raise ctx.unsupported(f"a rank-{len(x.shape)} input (Conv1D takes (batch, steps, channels))")
    filters = positive(ctx, "filters")
    groups = int(ctx.get("groups", 1) or 1)
    k = single(ctx.get("kernel_size"), "kernel_size")
    stride = single(ctx.get("strides", 1), "strides")
    dilation = single(ctx.get("dilation_rate", 1), "dilation_rate")
    padding = str(ctx.get("padding", "valid")).lower()
    if padding not in ("valid", "same", "causal"):
        raise ctx.unsupported(f"padding '{padding}'", hint="Conv1D takes 'valid', 'same' or 'causal'")
    if stride > 1 and dilation > 1:
        raise ctx.unsupported("strides > 1 together with dilation_rate > 1 (Keras rejects this too)")
    first = ctx.get("data_format", "channels_last") == "channels_first"
    if first:
        x = ctx.add("Transpose", [x], attrs={"perm": (0, 2, 1)})
    cin = x.shape[-1]
    if cin is None or cin % groups or filters % groups:
        raise ShapeError(f"groups={groups} must divide both {cin} input channels and {filters} filters",
                         file=ctx.file, layer=ctx.name)
    specs = with_bias(ctx, [("kernel", (k, cin // groups, filters), ctx.get("kernel_initializer"))], filters)
    w = ctx.params(specs)
    params = {"kernel": w["kernel"].reshape(1, k, cin // groups, filters),
              **({"bias": w["bias"]} if "bias" in w else {})}
    t = ctx.add("Reshape", [x], attrs={"shape": (1, -1 if x.shape[1] is None else x.shape[1], cin)})
    if padding == "causal":
        t = ctx.add("Pad", [t], attrs={"pads": ((0, 0), ((k - 1) * dilation, 0))})
        padding = "valid"
    attrs = {"strides": (1, stride), "dilations": (1, dilation), "group": groups, "padding": padding}
    y = ctx.add("Conv", [t], attrs=attrs, params=params)
    steps = y.shape[2]
    y = ctx.add("Reshape", [y], attrs={"shape": (-1 if steps is None else steps, filters)}, main=not first)
    y = apply_activation(ctx, y, ctx.get("activation"))
    return ctx.add("Transpose", [y], attrs={"perm": (0, 2, 1)}, main=True) if first else y


# -- 1-D layers as height-1 images, 3-D layers on volumes ------------------------------------------
def height1(ctx: LayerContext, x: Node, build: Callable[[Node], Node]) -> Node:
    """Run a 1-D layer as its 2-D twin: (N, L, C) is viewed as the image (N, 1, L, C).

    The two Reshapes only add and drop a size-1 axis, so the backend keeps the channels-first
    layout across them and a chain of 1-D layers needs no transposes inside (as for Conv1D).
    """
    expect_rank(ctx, x, 3, LAYOUTS[3])
    first = ctx.get("data_format", "channels_last") == "channels_first"
    if first:
        x = ctx.add("Transpose", [x], attrs={"perm": (0, 2, 1)})
    steps, channels = x.shape[1:]
    if channels is None:
        raise ShapeError("the channel dimension must be known", file=ctx.file, layer=ctx.name)
    t = ctx.add("Reshape", [x], attrs={"shape": (1, -1 if steps is None else steps, channels)})
    y = build(t)
    steps, channels = y.shape[2:]
    y = ctx.add("Reshape", [y], attrs={"shape": (-1 if steps is None else steps, channels)}, main=not first)
    return ctx.add("Transpose", [y], attrs={"perm": (0, 2, 1)}, main=True) if first else y


def window_config_1d(ctx: LayerContext) -> tuple[tuple[int, int], tuple[int, int], str]:
    """A 1-D layer's (strides, dilations) as the height-1 2-D op's, and its padding."""
    stride = single(ctx.get("strides", 1), "strides")
    dilation = single(ctx.get("dilation_rate", 1), "dilation_rate")
    padding = padding_mode(ctx)
    if stride > 1 and dilation > 1:
        raise ctx.unsupported("strides > 1 together with dilation_rate > 1 (Keras rejects this too)")
    return (1, stride), (1, dilation), padding


@keras_layer("DepthwiseConv1D")
def depthwise_conv1d(ctx: LayerContext, inputs: list[Node]) -> Node:
    mult = positive(ctx, "depth_multiplier", 1)
    k = single(ctx.get("kernel_size"), "kernel_size")
    strides, dilations, padding = window_config_1d(ctx)

    def build(t: Node) -> Node:
        cin = t.shape[-1]
        specs = with_bias(ctx, [("kernel", (k, cin, mult), ctx.get("depthwise_initializer"))], cin * mult)
        w = ctx.params(specs)
        params = {"kernel": w["kernel"].reshape(1, k, cin, mult), **({"bias": w["bias"]} if "bias" in w else {})}
        attrs = {"strides": strides, "dilations": dilations, "padding": padding}
        y = ctx.add("DepthwiseConv", [t], attrs=attrs, params=params)
        return apply_activation(ctx, y, ctx.get("activation"))

    return height1(ctx, inputs[0], build)


@keras_layer("SeparableConv1D", "SeparableConvolution1D")
def separable_conv1d(ctx: LayerContext, inputs: list[Node]) -> Node:
    """A depthwise convolution (strides, padding, dilation) followed by a pointwise one."""
    filters = positive(ctx, "filters")
    mult = positive(ctx, "depth_multiplier", 1)
    k = single(ctx.get("kernel_size"), "kernel_size")
    strides, dilations, padding = window_config_1d(ctx)

    def build(t: Node) -> Node:
        cin = t.shape[-1]
        specs = with_bias(ctx, [("depthwise", (k, cin, mult), ctx.get("depthwise_initializer")),
                                ("pointwise", (1, cin * mult, filters), ctx.get("pointwise_initializer"))], filters)
        w = ctx.params(specs)
        dw = ctx.add("DepthwiseConv", [t], attrs={"strides": strides, "dilations": dilations, "padding": padding},
                     params={"kernel": w["depthwise"].reshape(1, k, cin, mult)})
        pw_params = {"kernel": w["pointwise"].reshape(1, 1, cin * mult, filters),
                     **({"bias": w["bias"]} if "bias" in w else {})}
        pw_attrs = {"strides": (1, 1), "dilations": (1, 1), "group": 1, "padding": "valid"}
        y = ctx.add("Conv", [dw], attrs=pw_attrs, params=pw_params)
        return apply_activation(ctx, y, ctx.get("activation"))

    return height1(ctx, inputs[0], build)


@keras_layer("Conv3D", "Convolution3D")
def conv3d(ctx: LayerContext, inputs: list[Node]) -> Node:
    """A convolution over (depth, height, width); 'same' pads as TensorFlow does on each axis,
    the odd voxel after."""
    filters = positive(ctx, "filters")
    groups = positive(ctx, "groups", 1)
    kernel = ints(ctx.get("kernel_size"), 3, "kernel_size", 1)
    strides = ints(ctx.get("strides", 1), 3, "strides", 1)
    dilations = ints(ctx.get("dilation_rate", 1), 3, "dilation_rate", 1)
    padding = padding_mode(ctx)
    if max(strides) > 1 and max(dilations) > 1:
        raise ctx.unsupported("strides > 1 together with dilation_rate > 1 (Keras rejects this too)")

    def build(t: Node) -> Node:
        cin = t.shape[-1]
        if cin is None or cin % groups or filters % groups:
            raise ShapeError(f"groups={groups} must divide both {cin} input channels and {filters} filters",
                             file=ctx.file, layer=ctx.name)
        specs = with_bias(ctx, [("kernel", (*kernel, cin // groups, filters), ctx.get("kernel_initializer"))], filters)
        attrs = {"strides": strides, "dilations": dilations, "group": groups, "padding": padding}
        return linear_layer(ctx, "Conv", t, attrs, specs)

    return channels_last(ctx, inputs[0], build, rank=5)


def _edge_pairs(ctx: LayerContext, value: Any, n: int, key: str) -> tuple[tuple[int, int], ...]:
    """ZeroPadding/Cropping amounts: an int, one int per axis, or a (before, after) pair per axis;
    1-D layers take an int or one (before, after) pair."""
    if n == 1:
        return (ints(value, 2, key),)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != n:
        raise ctx.unsupported(f"{key} {value!r:.60} (expects an int, {n} ints or {n} (before, after) pairs)")
    return tuple(ints(v, 2, key) for v in value)


def _edges(op: str, key: str, rank: int, default: Any) -> LayerFn:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        edges = _edge_pairs(ctx, ctx.get(key, default), rank - 2, key)
        attrs = {"pads" if op == "Pad" else "crops": edges}
        return channels_last(ctx, inputs[0], lambda t: ctx.add(op, [t], attrs=attrs, main=True), rank)

    return build


keras_layer("ZeroPadding1D")(_edges("Pad", "padding", 3, 1))
keras_layer("ZeroPadding3D")(_edges("Pad", "padding", 5, 1))
keras_layer("Cropping1D")(_edges("Crop", "cropping", 3, (1, 1)))
keras_layer("Cropping3D")(_edges("Crop", "cropping", 5, 1))


def _upsampling(rank: int) -> LayerFn:
    """UpSampling1D/3D repeat every step (voxel) ``size`` times: nearest-neighbour resizing."""

    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        scale = ints(ctx.get("size", 2), rank - 2, "size", 1)
        attrs = {"scale": scale, "mode": "nearest"}
        return channels_last(ctx, inputs[0], lambda t: ctx.add("Resize", [t], attrs=attrs, main=True), rank)

    return build


keras_layer("UpSampling1D")(_upsampling(3))
keras_layer("UpSampling3D")(_upsampling(5))


@keras_layer("PReLU")
def prelu(ctx: LayerContext, inputs: list[Node]) -> Node:
    """max(x, 0) + α·min(x, 0) with α learned per element of the sample, shared along
    ``shared_axes`` (1 there, as Keras builds it)."""
    (x,) = inputs
    shape = list(x.shape[1:])
    shared = ctx.get("shared_axes")
    shared = [] if shared is None else ([shared] if isinstance(shared, int) else list(shared))
    for axis in shared:
        if not 1 <= int(axis) <= len(shape):
            raise ctx.unsupported(f"shared_axes {shared} (axes count from 1, the batch is 0)")
        shape[int(axis) - 1] = 1
    if None in shape:
        raise ctx.unsupported("a slope over an axis of unknown size", hint="share it: shared_axes=[...]")
    alpha = ctx.params([("alpha", tuple(shape), ctx.get("alpha_initializer", "zeros"))])
    return ctx.add("PRelu", [x], params={"alpha": alpha["alpha"]}, main=True)


#: TensorFlow's bicubic resize reads its Keys kernel from a 1024-entry table, about 1e-3 off the
#: exact kernel ONNX's cubic mode computes; area and lanczos have no ONNX counterpart.
RESIZE_MODES = ("nearest", "bilinear")


def _aspect_box(size: int, other: int, target: int, target_other: int, grow: bool) -> tuple[int, int]:
    """(start, extent) of Keras's centred crop (or pad) box on one axis, in its float32 arithmetic."""
    extent = int(np.float32(other * target) / np.float32(target_other))
    extent = max(size, extent) if grow else max(min(size, extent), 1)
    start = int(np.float32(abs(extent - size)) / np.float32(2))
    return start, extent


@keras_layer("Resizing")
def resizing(ctx: LayerContext, inputs: list[Node]) -> Node:
    """TensorFlow's image resize to a fixed size (pixel centres, no antialias), optionally after
    Keras's centred crop or zero pad to the target's aspect ratio."""
    height, width = positive(ctx, "height"), positive(ctx, "width")
    mode = str(ctx.get("interpolation", "bilinear")).lower()
    if mode not in RESIZE_MODES:
        raise ctx.unsupported(f"interpolation '{mode}'", hint="supported: " + ", ".join(RESIZE_MODES))
    if ctx.get("antialias"):
        raise ctx.unsupported("antialias=True", hint="use antialias=False")
    crop, pad = bool(ctx.get("crop_to_aspect_ratio")), bool(ctx.get("pad_to_aspect_ratio"))
    if pad and (ctx.get("fill_mode", "constant") != "constant" or float(ctx.get("fill_value", 0.0) or 0.0) != 0.0):
        raise ctx.unsupported("pad_to_aspect_ratio with a fill other than constant 0")

    def build(t: Node) -> Node:
        h, w = t.shape[1:3]
        if (crop or pad) and None in (h, w):
            raise ctx.unsupported("crop_to_aspect_ratio/pad_to_aspect_ratio on an image of unknown size")
        if crop or pad:
            (hs, he), (ws, we) = (_aspect_box(h, w, height, width, pad), _aspect_box(w, h, width, height, pad))
            if pad:
                edges = ((hs, he - h - hs), (ws, we - w - ws))
                t = ctx.add("Pad", [t], attrs={"pads": edges}) if any(map(any, edges)) else t
            else:
                edges = ((hs, h - hs - he), (ws, w - ws - we))
                t = ctx.add("Crop", [t], attrs={"crops": edges}) if any(map(any, edges)) else t
        return ctx.add("Resize", [t], attrs={"size": (height, width), "mode": mode, "scale": None}, main=True)

    return channels_last(ctx, inputs[0], build)


@keras_layer("CustomScaleLayer")
def custom_scale(ctx: LayerContext, inputs: list[Node]) -> Node:
    """InceptionResNetV2's residual join: x + scale·r."""
    if len(inputs) != 2:
        raise ctx.unsupported(f"{len(inputs)} inputs (it joins a shortcut and a residual)")
    x, r = inputs
    scaled = _scalar_affine(ctx, r, float(ctx.get("scale")), 0.0, main=False)
    return ctx.add("Add", [x, scaled], main=True)


@keras_layer("Lambda")
def lambda_layer(ctx: LayerContext, inputs: list[Node]) -> Node:
    """A Lambda holds Python code (often pickled bytecode); a compiler cannot read it safely."""
    raise ctx.unsupported(
        "not supported: a Lambda holds Python code, which kerascc never runs from a model file "
        "(Keras's safe_mode refuses it too)",
        hint="build the computation from Keras layers (Rescaling, Multiply, Add, Activation, Reshape, "
             "Permute, Resizing …) or keras.ops calls on the tensors (x * 2.0, keras.ops.maximum(x, y), "
             "keras.ops.gelu …), which the model file records",
    )


# Keras 3 activation functions called on tensors (keras.ops.relu(x), keras.ops.gelu(x, approximate=True)).
_OP_ACTIVATIONS = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus",
                   "Softsign": "softsign", "Silu": "silu", "Swish": "swish", "Selu": "selu", "Exp": "exponential",
                   "HardSilu": "hard_silu", "HardSwish": "hard_swish", "Mish": "mish", "HardTanh": "hard_tanh"}


def _op_activation(name: str) -> LayerFn:
    def build(ctx: LayerContext, inputs: list[Node]) -> Node:
        return apply_activation(ctx, _op_operand(ctx, inputs), name, main=True)

    return build


def _op_operand(ctx: LayerContext, inputs: list[Node]) -> Node:
    args = [a for a in (ctx.args or inputs) if isinstance(a, Node)]
    if len(args) != 1:
        raise ctx.unsupported(f"{len(args)} tensor arguments (expects one)")
    return args[0]


for _cls, _name in _OP_ACTIVATIONS.items():
    keras_layer(f"ops.{_cls}")(_op_activation(_name))


@keras_layer("ops.Negative")
def op_negative(ctx: LayerContext, inputs: list[Node]) -> Node:
    """``-x`` on a Keras tensor: an Affine with scale −1, which folds into its neighbours."""
    return _scalar_affine(ctx, _op_operand(ctx, inputs), -1.0, 0.0)


@keras_layer("ops.Gelu")
def op_gelu(ctx: LayerContext, inputs: list[Node]) -> Node:
    approximate = bool(ctx.get("approximate", True))  # keras.ops.gelu defaults to the tanh form
    return ctx.add("Gelu", [_op_operand(ctx, inputs)], attrs={"approximate": approximate}, main=True)


@keras_layer("ops.LeakyRelu")
def op_leaky_relu(ctx: LayerContext, inputs: list[Node]) -> Node:
    slope = float(ctx.get("negative_slope", 0.2))
    return ctx.add("LeakyRelu", [_op_operand(ctx, inputs)], attrs={"alpha": slope}, main=True)


@keras_layer("ops.Elu")
def op_elu(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("Elu", [_op_operand(ctx, inputs)], attrs={"alpha": float(ctx.get("alpha", 1.0))}, main=True)


@keras_layer("ops.HardSigmoid")
def op_hard_sigmoid(ctx: LayerContext, inputs: list[Node]) -> Node:
    return ctx.add("HardSigmoid", [_op_operand(ctx, inputs)], attrs=hard_sigmoid_attrs(ctx), main=True)


@keras_layer("ops.Softmax", "ops.LogSoftmax")
def op_softmax(ctx: LayerContext, inputs: list[Node]) -> Node:
    x = _op_operand(ctx, inputs)
    axis = ctx.get("axis", -1)
    if isinstance(axis, Sequence):
        raise ctx.unsupported(f"axis {axis} (a softmax over several axes)")
    op = "LogSoftmax" if ctx.class_name == "LogSoftmax" else "Softmax"
    return ctx.add(op, [x], attrs={"axis": normalize_axis(ctx, axis, len(x.shape))}, main=True)


#: tf.keras (Keras 2) records TensorFlow functions called on tensors as ``TFOpLambda`` layers named
#: by the function; these are the element-wise ones, as binary arithmetic or activations.
TF_OP_BINARY = {"__operators__.add": "add", "math.add": "add", "math.subtract": "sub", "math.multiply": "mul",
                "math.truediv": "div", "math.divide": "div", "math.maximum": "max", "math.minimum": "min"}
TF_OP_UNARY = {"nn.relu": "relu", "nn.relu6": "relu6", "math.sigmoid": "sigmoid", "nn.sigmoid": "sigmoid",
               "math.tanh": "tanh", "nn.silu": "silu", "nn.swish": "swish", "nn.gelu": "gelu", "nn.elu": "elu",
               "nn.selu": "selu", "math.softplus": "softplus", "nn.softplus": "softplus", "math.exp": "exponential"}


@keras_layer("ops.TFOpLambda")
def tf_op_lambda(ctx: LayerContext, inputs: list[Node]) -> Node:
    function = str(ctx.get("function"))
    if function in TF_OP_BINARY:
        return _binary_op(TF_OP_BINARY[function])(ctx, inputs)
    if function in TF_OP_UNARY and len(ctx.args or []) == 1:
        return apply_activation(ctx, _op_operand(ctx, inputs), TF_OP_UNARY[function], main=True)
    raise ctx.unsupported(f"the TensorFlow function '{function}'",
                          hint="supported: " + ", ".join(sorted({*TF_OP_BINARY, *TF_OP_UNARY})))
