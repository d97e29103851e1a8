"""The op table: every IR op, declared once, with its shape rule, its kind and its kernel layout.

Passes and the backend ask this table what an op is (linear, an activation a convolution can
carry, a sliding window, element-wise, never negative, …) instead of keeping their own lists of
op names, so a new op is one :func:`define` (or :func:`op`) call here plus its lowering.

Shapes are Keras shapes (NHWC for images, NDHWC for volumes, ``None`` for the batch). Every op
has one shape rule; the frontend infers once per node and :meth:`Graph.check` re-infers to catch
a pass that left a stale shape behind.

Spatial padding is stored per op as ``"valid"``, ``"same"`` or explicit
``((top, bottom), (left, right))`` (one pair per spatial axis, three for volumes). ``"same"``
follows TensorFlow: the total padding is ``max((ceil(n/s) - 1)·s + k_eff - n, 0)`` and the odd
pixel goes to the bottom/right.

The IR (:mod:`compiler.ir`) imports this table to infer shapes; the table only names the IR's
types, so it imports them for type checking alone.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from .errors import ShapeError

if TYPE_CHECKING:
    from .ir import Node, Shape

ShapeRule: TypeAlias = "Callable[[Node, list[Shape]], Shape]"


class Kind(enum.Flag):
    """What an op is, in the terms passes and lowerings ask about; an op may be several."""

    NONE = 0
    #: y = W·x + B with a Keras kernel (see :class:`KernelLayout`); may carry an ``activation``.
    LINEAR = enum.auto()
    #: An activation a linear op can carry as its ``activation`` attribute: the ones convolution
    #: kernels run in their epilogue (onnxruntime's FusedConv, TensorRT's fusions).
    ACTIVATION = enum.auto()
    #: A sliding window over the spatial axes with a ``padding`` attribute that follows TensorFlow's
    #: rule (:func:`spatial_pads`) and ``strides``.
    WINDOW = enum.auto()
    #: A window op without weights: its size is the ``window`` attribute, not a kernel's shape.
    POOL = enum.auto()
    #: Reduces every spatial axis to one value per channel.
    GLOBAL_POOL = enum.auto()
    #: Each output element depends on the element at the same position of each (broadcast) operand.
    ELEMENTWISE = enum.auto()
    #: The output is never negative, whatever the input.
    NON_NEGATIVE = enum.auto()
    #: The identity at inference (Dropout): passes remove it.
    IDENTITY = enum.auto()
    #: Only the shape changes; the values keep their row-major order.
    RESHAPE = enum.auto()


@dataclass(frozen=True)
class KernelLayout:
    """Where a weighted op's Keras kernel keeps its axes.

    Every Keras kernel lists its spatial axes first (none for Dense) and two channel axes last;
    the ops differ in which of those index the output channel: Conv ``(…, cin/group, cout)`` and
    Dense ``(in, out)`` the last, ConvTranspose ``(kh, kw, cout, cin)`` the second to last, and
    DepthwiseConv ``(kh, kw, cin, mult)`` both (output channel ``c·mult + m``).
    """

    #: The axes (negative, among the last two) that, flattened in order, index the output channel.
    out_axes: tuple[int, ...]
    #: The axis of the input channels.
    in_axis: int

    def spatial_rank(self, kernel: np.ndarray) -> int:
        """How many spatial axes the kernel has: 0 for Dense, 2 for images, 3 for volumes."""
        return kernel.ndim - 2

    def window(self, kernel: np.ndarray) -> tuple[int, ...]:
        """The kernel's size along each spatial axis."""
        return tuple(kernel.shape[: self.spatial_rank(kernel)])

    def output_shape(self, kernel: np.ndarray) -> list[int]:
        """A shape that broadcasts a per-output-channel vector against the kernel."""
        shape = [1] * kernel.ndim
        for axis in self.out_axes:
            shape[axis] = kernel.shape[axis]
        return shape


@dataclass(frozen=True)
class OpDef:
    """One IR op as the compiler knows it."""

    name: str
    shape: ShapeRule
    kind: Kind = Kind.NONE
    #: For weighted ops (``params["kernel"]``): where the kernel keeps its axes.
    kernel: KernelLayout | None = None
    #: For :attr:`Kind.ACTIVATION` ops: the float attributes that travel with the activation
    #: when a linear op carries it, in the order onnxruntime's FusedConv takes them.
    activation_params: tuple[str, ...] = ()
    #: Takes an optional residual operand (slot 1) added to its output before its activation.
    residual: bool = False
    #: For ops whose output is non-negative only for some attributes (Clip with min ≥ 0).
    non_negative_if: Callable[[Node], bool] | None = None
    #: The output's element type when it is not the first operand's (``"bool"`` for a comparison,
    #: the ``to`` of a Cast, the table's for a Gather of integer ids).
    dtype: Callable[[Node], str] | None = None


#: The table, in definition order.
OPS: dict[str, OpDef] = {}


def define(name: str, shape: ShapeRule, kind: Kind = Kind.NONE, **fields: Any) -> OpDef:
    """Declare an IR op: its shape rule, kind and the optional :class:`OpDef` fields."""
    if name in OPS:
        raise ValueError(f"op {name} is defined twice")
    OPS[name] = spec = OpDef(name, shape, kind, **fields)
    return spec


def op(*names: str, kind: Kind = Kind.NONE, **fields: Any) -> Callable[[ShapeRule], ShapeRule]:
    """Decorator form of :func:`define`: the decorated function is the ops' shape rule."""

    def register(fn: ShapeRule) -> ShapeRule:
        for name in names:
            define(name, fn, kind, **fields)
        return fn

    return register


def ops_of(kind: Kind) -> tuple[str, ...]:
    """The names of every op that is all of ``kind``, in table order (for patterns and node queries)."""
    return tuple(name for name, spec in OPS.items() if kind in spec.kind)


def is_a(node: Node, kind: Kind) -> bool:
    """Whether ``node``'s op is every kind in ``kind`` (False for ops outside the table)."""
    spec = OPS.get(node.op)
    return spec is not None and kind in spec.kind


def never_negative(node: Node) -> bool:
    """Whether ``node``'s output cannot be negative, by its op or, for some ops, its attributes."""
    spec = OPS.get(node.op)
    if spec is None:
        return False
    return Kind.NON_NEGATIVE in spec.kind or (spec.non_negative_if is not None and spec.non_negative_if(node))


def kernel_layout(node: Node) -> KernelLayout:
    """The layout of a weighted node's Keras kernel."""
    spec = OPS.get(node.op)
    if spec is None or spec.kernel is None:
        raise ShapeError(f"op {node.op} has no kernel", layer=node.layer)
    return spec.kernel


def window_size(node: Node) -> tuple[int, ...]:
    """A window op's window, one size per spatial axis: a pool's ``window``, a convolution's kernel."""
    spec = OPS.get(node.op)
    if spec is not None and spec.kernel is not None:
        return spec.kernel.window(node.params["kernel"])
    return tuple(node.attrs["window"])


def infer_shape(node: Node) -> Shape:
    spec = OPS.get(node.op)
    if spec is None:
        raise ShapeError(f"no shape rule for op {node.op}", layer=node.layer)
    try:
        return tuple(spec.shape(node, [i.shape for i in node.inputs]))
    except ShapeError as err:
        raise err.with_context(layer=node.layer) from err


#: The element types a tensor of the IR may have, as numpy (and Keras) spell them.
DTYPES = (
    "float32",
    "float16",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)


def infer_dtype(node: Node) -> str:
    """A node's element type: its op's rule, else its first operand's (float32 for a source)."""
    spec = OPS.get(node.op)
    if spec is not None and spec.dtype is not None:
        return spec.dtype(node)
    ins = node.inputs
    return ins[0].dtype if ins else "float32"


# -- padding arithmetic shared by shape inference, passes and the backend ----------------------
def effective_kernel(k: int, dilation: int) -> int:
    return (k - 1) * dilation + 1


def same_pads(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding for one spatial axis: (before, after), extra after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + effective_kernel(k, dilation) - size, 0)
    return total // 2, total - total // 2


def conv_out(size: int | None, k: int, stride: int, dilation: int, pads: tuple[int, int]) -> int | None:
    if size is None:
        return None
    span = size + pads[0] + pads[1] - effective_kernel(k, dilation)
    if span < 0:
        raise ShapeError(f"kernel {k} (dilation {dilation}) is larger than the padded input {size + sum(pads)}")
    return span // stride + 1


def spatial_pads(
    padding: Any, sizes: Sequence[int | None], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> list[tuple[int, int]]:
    """Resolve a padding attribute to explicit ((before, after), ...) per spatial axis."""
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        pads = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=False):
            if size is None:
                # Only stride 1 has size-independent pads; otherwise the output size is still
                # known (ceil(n/s)) and the backend lets the runtime pad (SAME_UPPER is TF's rule).
                total = effective_kernel(k, d) - 1 if s == 1 else 0
                pads.append((total // 2, total - total // 2))
            else:
                pads.append(same_pads(size, k, s, d))
        return pads
    return [tuple(p) for p in padding]


# -- shape rules and the table ----------------------------------------------------------------------
def _window(node: Node, shape: Shape, kernel: Sequence[int], channels: int | None) -> Shape:
    """A sliding window over every spatial axis: 2 for images (NHWC), 3 for volumes (NDHWC)."""
    a = node.attrs
    n = len(kernel)
    if len(shape) != n + 2:
        raise ShapeError(f"{node.op} with a {n}-D window expects a {n + 2}-D input, got shape {shape}")
    strides, dilations = a["strides"], a.get("dilations", (1,) * n)
    pads = spatial_pads(a["padding"], shape[1:-1], kernel, strides, dilations)
    dims = [conv_out(shape[1 + i], kernel[i], strides[i], dilations[i], pads[i]) for i in range(n)]
    return (shape[0], *dims, shape[-1] if channels is None else channels)


def _with_residual(out: Shape, ins: list[Shape]) -> Shape:
    """A fused residual operand (slot 1) must have the convolution's output shape."""
    if len(ins) > 1 and any(a != b and None not in (a, b) for a, b in zip(ins[1], out, strict=False)):
        raise ShapeError(f"residual operand of shape {ins[1]} does not match the output {out}")
    return out


@op("Input")
def _input(node: Node, ins: list[Shape]) -> Shape:
    """A graph input's shape is declared, never inferred."""
    if node.shape is None:
        raise ShapeError(f"input '{node.name}' has no declared shape")
    return node.shape


@op("Conv", kind=Kind.LINEAR | Kind.WINDOW, kernel=KernelLayout(out_axes=(-1,), in_axis=-2), residual=True)
def _conv(node: Node, ins: list[Shape]) -> Shape:
    *kernel, cin_per_group, cout = node.params["kernel"].shape  # (kh, kw, ...) or (kd, kh, kw, ...)
    cin = ins[0][-1]
    group = node.attrs.get("group", 1)
    if cin is not None and cin != cin_per_group * group:
        raise ShapeError(f"input has {cin} channels, kernel expects {cin_per_group * group}")
    return _with_residual(_window(node, ins[0], tuple(kernel), cout), ins)


@op("DepthwiseConv", kind=Kind.LINEAR | Kind.WINDOW, kernel=KernelLayout(out_axes=(-2, -1), in_axis=-2), residual=True)
def _depthwise(node: Node, ins: list[Shape]) -> Shape:
    kh, kw, cin, mult = node.params["kernel"].shape
    return _with_residual(_window(node, ins[0], (kh, kw), cin * mult), ins)


def transpose_out(
    size: int | None, k: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> int | None:
    """Keras's Conv*Transpose output length (keras ``compute_conv_transpose_output_length``)."""
    if size is None:
        return None
    k = effective_kernel(k, dilation)
    if output_padding is None:
        return size * stride + max(k - stride, 0) if padding == "valid" else size * stride
    pad = k // 2 if padding == "same" else 0
    return (size - 1) * stride + k - 2 * pad + output_padding


@op("ConvTranspose", kind=Kind.LINEAR, kernel=KernelLayout(out_axes=(-2,), in_axis=-1))
def _conv_transpose(node: Node, ins: list[Shape]) -> Shape:
    kh, kw, cout, _cin = node.params["kernel"].shape
    a = node.attrs
    shape = ins[0]
    if len(shape) != 4:
        raise ShapeError(f"ConvTranspose expects a 4-D input, got shape {shape}")
    extra = a.get("output_padding") or (None, None)
    dims = [
        transpose_out(shape[1 + i], (kh, kw)[i], a["strides"][i], a["dilations"][i], a["padding"], extra[i])
        for i in range(2)
    ]
    return (shape[0], *dims, cout)


@op("Dense", kind=Kind.LINEAR, kernel=KernelLayout(out_axes=(-1,), in_axis=-2))
def _dense(node: Node, ins: list[Shape]) -> Shape:
    fan_in, units = node.params["kernel"].shape
    if ins[0][-1] is not None and ins[0][-1] != fan_in:
        raise ShapeError(f"Dense kernel expects {fan_in} input features, got {ins[0][-1]}")
    return (*ins[0][:-1], units)


@op("MaxPool", "AveragePool", kind=Kind.WINDOW | Kind.POOL)
def _pool(node: Node, ins: list[Shape]) -> Shape:
    return _window(node, ins[0], node.attrs["window"], None)


@op("GlobalAveragePool", "GlobalMaxPool", kind=Kind.GLOBAL_POOL)
def _global_pool(node: Node, ins: list[Shape]) -> Shape:
    s = ins[0]
    if node.attrs.get("keepdims"):
        return (s[0], *([1] * (len(s) - 2)), s[-1])
    return (s[0], s[-1])


def same_shape(node: Node, ins: list[Shape]) -> Shape:
    """The output has the (first) input's shape."""
    return ins[0]


def _clips_at_zero(node: Node) -> bool:
    return node.attrs.get("min", -1) >= 0


_ELEMENTWISE_ACTIVATION = Kind.ELEMENTWISE | Kind.ACTIVATION
for _name, _kind, _fields in (
    ("Identity", Kind.ELEMENTWISE | Kind.IDENTITY, {}),
    ("Dropout", Kind.ELEMENTWISE | Kind.IDENTITY, {}),
    ("Relu", _ELEMENTWISE_ACTIVATION | Kind.NON_NEGATIVE, {}),
    ("Sigmoid", _ELEMENTWISE_ACTIVATION | Kind.NON_NEGATIVE, {}),
    ("Tanh", _ELEMENTWISE_ACTIVATION, {}),
    ("Clip", _ELEMENTWISE_ACTIVATION, {"activation_params": ("min", "max"), "non_negative_if": _clips_at_zero}),
    ("LeakyRelu", _ELEMENTWISE_ACTIVATION, {"activation_params": ("alpha",)}),
    ("Elu", Kind.ELEMENTWISE, {}),
    ("Selu", Kind.ELEMENTWISE, {}),
    ("Softplus", Kind.ELEMENTWISE | Kind.NON_NEGATIVE, {}),
    ("Softsign", Kind.ELEMENTWISE, {}),
    ("Swish", Kind.ELEMENTWISE, {}),
    ("Gelu", Kind.ELEMENTWISE, {}),
    ("HardSigmoid", _ELEMENTWISE_ACTIVATION | Kind.NON_NEGATIVE, {"activation_params": ("alpha", "beta")}),
    ("Exp", Kind.ELEMENTWISE | Kind.NON_NEGATIVE, {}),
    ("Mish", Kind.ELEMENTWISE, {}),
    ("KerasRelu", Kind.ELEMENTWISE, {}),
    ("Softmax", Kind.NON_NEGATIVE, {}),
    ("LogSoftmax", Kind.NONE, {}),
    ("BatchNorm", Kind.ELEMENTWISE, {}),  # per channel: y = x·scale + shift
    ("Affine", Kind.ELEMENTWISE, {}),
    ("LayerNorm", Kind.NONE, {}),
    ("GroupNorm", Kind.NONE, {}),  # statistics per group of channels and sample
    ("UnitNorm", Kind.NONE, {}),  # x / max(‖x‖₂, 1e-12) over some axes
    ("PRelu", Kind.ELEMENTWISE, {}),
):
    define(_name, same_shape, _kind, **_fields)


@op("Add", "Sub", "Mul", "Max", "Min", "Mean", kind=Kind.ELEMENTWISE)
def _nary(node: Node, ins: list[Shape]) -> Shape:
    """Keras's merge layers: operands broadcast against each other."""
    if len(ins) < 1:
        raise ShapeError(f"{node.op} needs at least one input")
    rank = max(len(s) for s in ins)
    out: list[int | None] = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in ins if axis - rank + len(s) >= 0} - {1}
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            raise ShapeError(f"{node.op} inputs have incompatible shapes {ins}")
        out.append(known.pop() if known else (None if None in dims else 1))
    return tuple(out)


define("FusedAddRelu", _nary, Kind.ELEMENTWISE | Kind.NON_NEGATIVE)  # Relu(Add(…)), from passes.fuse_add_relu
define("BiasGelu", same_shape)  # gelu(x + bias), the bias over the last axis, from passes.fuse_bias_gelu


@op("SkipLayerNorm")
def _skip_layer_norm(node: Node, ins: list[Shape]) -> Shape:
    """LayerNorm(a + b [+ bias]) over the last axis, from passes.fuse_skip_layernorm: no broadcasting."""
    if len(ins) != 2 or ins[0] != ins[1]:
        raise ShapeError(f"SkipLayerNorm needs two operands of one shape, got {ins}")
    return ins[0]


@op("Concat")
def _concat(node: Node, ins: list[Shape]) -> Shape:
    axis = node.attrs["axis"]
    rank = len(ins[0])
    for s in ins:
        if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, ins[0], strict=False)) if i not in (0, axis)):
            raise ShapeError(f"Concatenate inputs do not match except on axis {axis}: {ins}")
    sizes = [s[axis] for s in ins]
    out = list(ins[0])
    out[axis] = None if None in sizes else sum(sizes)
    return tuple(out)


@op("Flatten", kind=Kind.RESHAPE)
def _flatten(node: Node, ins: list[Shape]) -> Shape:
    rest = ins[0][1:]
    return (ins[0][0], None if None in rest else math.prod(rest))


@op("Reshape", kind=Kind.RESHAPE)
def _reshape(node: Node, ins: list[Shape]) -> Shape:
    target = list(node.attrs["shape"])
    rest = ins[0][1:]
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"target shape {tuple(target)}: sizes must be positive, with at most one -1")
    known = math.prod(d for d in target if d != -1)
    if None not in rest:
        total = math.prod(rest)
        if total % known if -1 in target else total != known:
            raise ShapeError(f"cannot reshape {tuple(rest)} ({total} values) to {tuple(target)}")
        if -1 in target:
            target[target.index(-1)] = total // known
    return (ins[0][0], *[None if d == -1 else d for d in target])


@op("Transpose")
def _transpose(node: Node, ins: list[Shape]) -> Shape:
    perm = tuple(node.attrs["perm"])
    if sorted(perm) != list(range(len(ins[0]))):
        raise ShapeError(f"{perm} is not a permutation of the {len(ins[0])} axes of {ins[0]}")
    return tuple(ins[0][p] for p in perm)


def _spatial_pairs(node: Node, shape: Shape, key: str) -> list[tuple[int, int]]:
    """(before, after) per spatial axis, one pair for each axis between batch and channels."""
    pairs = [tuple(p) for p in node.attrs[key]]
    if len(pairs) != len(shape) - 2:
        raise ShapeError(
            f"{node.op} has {len(pairs)} (before, after) pairs for the {len(shape) - 2} spatial axes of shape {shape}"
        )
    if any(min(p) < 0 for p in pairs):
        raise ShapeError(f"negative {key} {node.attrs[key]}")
    return pairs


@op("Pad")
def _pad(node: Node, ins: list[Shape]) -> Shape:
    """Zeros around the spatial axes: steps (N, L, C), images (NHWC) or volumes (NDHWC)."""
    s = ins[0]
    pairs = _spatial_pairs(node, s, "pads")
    return (s[0], *[None if d is None else d + a + b for d, (a, b) in zip(s[1:-1], pairs, strict=False)], s[-1])


@op("Resize")
def _resize(node: Node, ins: list[Shape]) -> Shape:
    """By integer ``scale`` (UpSampling2D) or to a fixed ``size`` (Resizing)."""
    s = ins[0]
    if node.attrs.get("size") is not None:
        return (s[0], *node.attrs["size"], s[3])
    scale = node.attrs["scale"]  # one integer factor per spatial axis (UpSampling1D/2D/3D)
    if len(scale) != len(s) - 2:
        raise ShapeError(f"Resize has {len(scale)} scale factors for the {len(s) - 2} spatial axes of {s}")
    return (s[0], *[None if d is None else d * f for d, f in zip(s[1:-1], scale, strict=False)], s[-1])


@op("Crop")
def _crop(node: Node, ins: list[Shape]) -> Shape:
    s = ins[0]
    dims = []
    for size, (before, after) in zip(s[1:-1], _spatial_pairs(node, s, "crops"), strict=False):
        if size is not None and before + after >= size:
            raise ShapeError(f"cropping {before}+{after} leaves nothing of size {size}")
        dims.append(None if size is None else size - before - after)
    return (s[0], *dims, s[-1])


def batchnorm_scale_shift(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """The per-channel affine map y = x·scale + shift a BatchNorm applies at inference (float64)."""
    p = node.params
    scale = p["gamma"].astype(np.float64) / np.sqrt(p["var"].astype(np.float64) + node.attrs["epsilon"])
    return scale, p["beta"].astype(np.float64) - p["mean"].astype(np.float64) * scale


# -- recurrent layers (LSTM, GRU, SimpleRNN, their Bidirectional form, ConvLSTM) -----------------
#: The recurrent ops: one node runs one Keras recurrent layer (both halves of a Bidirectional one
#: when they are alike); its value is every step of every half, and ``RecurrentOutput`` nodes pick
#: the parts the model reads, so dead-code removal drops the states nobody uses.
RECURRENT_OPS = ("LSTM", "GRU", "SimpleRNN")


@op(*RECURRENT_OPS)
def _recurrent(node: Node, ins: list[Shape]) -> Shape:
    """(batch, steps, halves, units): the sequence of each half, in the input's time order."""
    s = ins[0]
    if len(s) != 3:
        raise ShapeError(f"{node.op} expects a 3-D input (batch, steps, features), got shape {s}")
    if node.attrs.get("masked") and (len(ins) < 2 or len(ins[1]) != 2):
        raise ShapeError(f"{node.op} expects a (batch, steps) mask as its second operand")
    units = node.attrs["units"]
    return (s[0], s[1], len(node.attrs["halves"]), units)


@op("ConvLSTM")
def _conv_lstm(node: Node, ins: list[Shape]) -> Shape:
    """(batch, steps, halves, *spatial, filters), the spatial sizes as the input convolution gives them."""
    s = ins[0]
    kernel = node.params["kernel0"].shape[:-2]
    if len(s) != len(kernel) + 3:
        raise ShapeError(f"ConvLSTM with a {len(kernel)}-D kernel expects a {len(kernel) + 3}-D input, got {s}")
    frame = _window(node, (s[0], *s[2:]), kernel, node.attrs["filters"])
    return (s[0], s[1], len(node.attrs["halves"]), *frame[1:])


@op("RecurrentOutput")
def _recurrent_output(node: Node, ins: list[Shape]) -> Shape:
    """One part of a recurrent node: ``sequences`` (batch, steps, …), or ``last``, ``h``, ``c`` (batch, …)."""
    s = ins[0]
    part = node.attrs["part"]
    if part not in ("sequences", "last", "h", "c"):
        raise ShapeError(f"unknown recurrent output part '{part}'")
    if not 0 <= node.attrs["half"] < s[2]:
        raise ShapeError(f"recurrent output of half {node.attrs['half']} of a node with {s[2]} halves")
    return (s[0], s[1], *s[3:]) if part == "sequences" else (s[0], *s[3:])


#: Activations the ONNX recurrent ops run (onnxruntime's kernels have every one), by ONNX name.
ONNX_RECURRENT_ACTIVATIONS = (
    "Tanh",
    "Sigmoid",
    "Relu",
    "Affine",
    "Softsign",
    "Softplus",
    "Elu",
    "LeakyRelu",
    "HardSigmoid",
)


def recurrent_path(node: Node) -> tuple[str, str]:
    """How a recurrent node is lowered, and in words why: ``onnx`` (the ONNX LSTM/GRU/RNN op),
    ``scan`` (Keras's cell in an ONNX Scan, for what the op cannot express) or ``unrolled``."""
    if node.op == "ConvLSTM":
        if node.inputs[0].shape[1] is None:
            return "scan", "Scan of the convolutional cell (the number of steps is not fixed)"
        return "unrolled", "convolutions unrolled over the steps"
    a = node.attrs
    used = [a["activation"]] + ([a["recurrent_activation"]] if node.op != "SimpleRNN" else [])
    odd = [spec[0] for spec in used if spec[0] not in ONNX_RECURRENT_ACTIVATIONS]
    if odd:
        return "scan", f"Scan of the Keras cell (ONNX's {node.op} has no {odd[0]} activation)"
    onnx_op = {"SimpleRNN": "RNN"}.get(node.op, node.op)
    kind = "bidirectional " if len(a["halves"]) == 2 else ""
    return "onnx", f"ONNX {kind}{onnx_op}" + (", mask → sequence_lens" if a.get("masked") else "")


# -- integer ids, masks and sequences ---------------------------------------------------------------
# Keras masks are ordinary tensors of the IR: bool, shaped (batch, time), built and combined by
# the ops below (frontends/keras_json.py carries them beside the layers' outputs).
def _bool(node: Node) -> str:
    return "bool"


def _table_dtype(node: Node) -> str:
    return str(node.params["table"].dtype)


@op("Gather", dtype=_table_dtype)
def _gather(node: Node, ins: list[Shape]) -> Shape:
    """Rows of ``params["table"]`` picked by integer ids (Embedding): the ids' shape plus a row's."""
    return (*ins[0], *node.params["table"].shape[1:])


define("Fill", same_shape, Kind.NONE, dtype=lambda node: str(node.attrs["dtype"]))  # attrs["value"] everywhere


def _second_dtype(node: Node) -> str:
    return node.inputs[1].dtype


@op("ReduceAny", dtype=_bool)
def _reduce_bool(node: Node, ins: list[Shape]) -> Shape:
    """Whether any element along ``attrs["axes"]`` holds (a mask from its features)."""
    return _reduce(node, ins)


@op("FoldTime")  # not Kind.RESHAPE: the batch axis changes, merge_shape_ops must keep it
def _fold_time(node: Node, ins: list[Shape]) -> Shape:
    """(batch, time, ...) → (batch·time, ...): TimeDistributed runs its layer on every step at once."""
    if len(ins[0]) < 3:
        raise ShapeError(f"FoldTime expects (batch, time, ...), got shape {ins[0]}")
    return (None, *ins[0][2:])


@op("SplitTime")
def _split_time(node: Node, ins: list[Shape]) -> Shape:
    """(batch·time, ...) back to (batch, time, ...), batch and time read from slot 1 (the folded input)."""
    return (ins[1][0], ins[1][1], *ins[0][1:])


# -- tensor operations (keras.ops, TFOpLambda): full-rank axes, the batch axis 0 included -----------


def _broadcast(node: Node, ins: list[Shape]) -> Shape:
    """NumPy broadcasting of any number of operands (a ``None`` dim stays unknown)."""
    return _nary(node, ins)


def _cast_dtype(node: Node) -> str:
    return str(node.attrs["dtype"])


def _value_dtype(node: Node) -> str:
    return str(node.params["value"].dtype)


@op("Constant", dtype=_value_dtype)
def _constant(node: Node, ins: list[Shape]) -> Shape:
    """A value known when compiling (``keras.ops.arange``, a NumPy array argument, a weight)."""
    return tuple(int(d) for d in node.params["value"].shape)


for _name in ("Sqrt", "Log", "Erf", "Sign", "Floor", "Ceil", "Round", "Rsqrt", "Reciprocal", "Neg"):
    define(_name, same_shape, Kind.ELEMENTWISE)
define("Not", same_shape, Kind.ELEMENTWISE, dtype=_bool)
define("Abs", same_shape, Kind.ELEMENTWISE | Kind.NON_NEGATIVE)
define("Square", same_shape, Kind.ELEMENTWISE | Kind.NON_NEGATIVE)
define("Cast", same_shape, Kind.ELEMENTWISE, dtype=_cast_dtype)
for _name in ("Div", "Pow"):
    define(_name, _broadcast, Kind.ELEMENTWISE)
for _name in ("Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal", "NotEqual", "And", "Or"):
    define(_name, _broadcast, Kind.ELEMENTWISE, dtype=_bool)
define("Where", _broadcast, Kind.ELEMENTWISE, dtype=_second_dtype)  # cond (slot 0) ? x (slot 1) : y (slot 2)


def _axes(node: Node, rank: int, key: str = "axes") -> tuple[int, ...]:
    axes = tuple(node.attrs[key])
    if any(not 0 <= a < rank for a in axes) or len(set(axes)) != len(axes):
        raise ShapeError(f"{node.op} axes {axes} do not fit a tensor of rank {rank}")
    return axes


@op("Slice")
def _slice(node: Node, ins: list[Shape]) -> Shape:
    """Python slices per axis: ``attrs["slices"]`` is one (start, stop, step) per axis, ``None``
    meaning Python's default; unknown sizes stay unknown."""
    shape = ins[0]
    slices = node.attrs["slices"]
    if len(slices) != len(shape):
        raise ShapeError(f"Slice has {len(slices)} slices for the {len(shape)} axes of {shape}")
    out = []
    for size, (start, stop, step) in zip(shape, slices, strict=True):
        if step == 0:
            raise ShapeError("a slice step of 0")
        if (start, stop, step) == (None, None, None) or (start, stop, step) == (None, None, 1):
            out.append(size)
        elif size is None:
            out.append(None)
        else:
            out.append(len(range(size)[slice(start, stop, step)]))
    if any(d == 0 for d in out):
        raise ShapeError(f"the slices {slices} of shape {shape} select nothing")
    return tuple(out)


@op("Squeeze")
def _squeeze(node: Node, ins: list[Shape]) -> Shape:
    shape = ins[0]
    axes = _axes(node, len(shape))
    if any(shape[a] != 1 for a in axes):
        raise ShapeError(f"cannot squeeze axes {axes} of shape {shape}: they are not of size 1")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


@op("Unsqueeze")
def _unsqueeze(node: Node, ins: list[Shape]) -> Shape:
    rank = len(ins[0]) + len(node.attrs["axes"])
    axes = _axes(node, rank)
    rest = iter(ins[0])
    return tuple(1 if i in axes else next(rest) for i in range(rank))


@op("ReshapeAll")
def _reshape_all(node: Node, ins: list[Shape]) -> Shape:
    """A reshape of a constant (no batch axis): every size known."""
    target = [int(d) for d in node.attrs["shape"]]
    total = math.prod(d for d in ins[0] if d is not None)
    if -1 in target:
        target[target.index(-1)] = total // max(math.prod(d for d in target if d != -1), 1)
    if None in ins[0] or math.prod(target) != total:
        raise ShapeError(f"cannot reshape {ins[0]} to {tuple(node.attrs['shape'])}")
    return tuple(target)


@op("Tile")
def _tile(node: Node, ins: list[Shape]) -> Shape:
    reps = tuple(node.attrs["repeats"])
    if len(reps) != len(ins[0]) or min(reps) < 1:
        raise ShapeError(f"Tile repeats {reps} do not fit shape {ins[0]}")
    return tuple(None if d is None else d * r for d, r in zip(ins[0], reps, strict=True))


@op("Repeat")
def _repeat(node: Node, ins: list[Shape]) -> Shape:
    """Each element ``repeats`` times along ``axis`` (NumPy's ``repeat``)."""
    out = list(ins[0])
    axis = int(node.attrs["axis"])
    if out[axis] is None:
        raise ShapeError(f"Repeat needs a known size on axis {axis}, shape {ins[0]}")
    out[axis] = out[axis] * int(node.attrs["repeats"])
    return tuple(out)


@op("PadAxes")
def _pad_axes(node: Node, ins: list[Shape]) -> Shape:
    """NumPy's ``pad``: ``pads`` is one (before, after) pair per axis, batch included."""
    pairs = [tuple(p) for p in node.attrs["pads"]]
    if len(pairs) != len(ins[0]) or any(min(p) < 0 for p in pairs):
        raise ShapeError(f"pads {pairs} do not fit shape {ins[0]}")
    return tuple(None if d is None else d + a + b for d, (a, b) in zip(ins[0], pairs, strict=True))


@op("MatMul")
def _matmul(node: Node, ins: list[Shape]) -> Shape:
    """NumPy's ``matmul`` of two operands of rank 2 or more, the leading axes broadcast."""
    a, b = ins
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(f"MatMul needs operands of rank 2 or more, got {a} and {b}")
    if a[-1] is not None and b[-2] is not None and a[-1] != b[-2]:
        raise ShapeError(f"MatMul inner sizes differ: {a} @ {b}")
    lead = _nary(node, [a[:-2] or (1,), b[:-2] or (1,)]) if len(a) > 2 or len(b) > 2 else ()
    return (*lead, a[-2], b[-1])


def einsum_terms(equation: str) -> tuple[list[str], str]:
    """The operands' subscripts and the output's, of an explicit equation without ellipsis."""
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq:
        raise ShapeError(f"einsum equation '{equation}': only explicit equations (with '->') without '...'")
    left, out = eq.split("->")
    terms = left.split(",")
    if any(not t.isalpha() or len(set(t)) != len(t) for t in [*terms, out]) or not set(out) <= set("".join(terms)):
        raise ShapeError(f"einsum equation '{equation}': repeated or unknown subscripts")
    return terms, out


@op("Einsum")
def _einsum(node: Node, ins: list[Shape]) -> Shape:
    terms, out = einsum_terms(node.attrs["equation"])
    if len(terms) != len(ins) or any(len(t) != len(s) for t, s in zip(terms, ins, strict=True)):
        raise ShapeError(f"einsum equation '{node.attrs['equation']}' does not fit operand shapes {ins}")
    sizes: dict[str, int | None] = {}
    for term, shape in zip(terms, ins, strict=True):
        for letter, d in zip(term, shape, strict=True):
            known = sizes.get(letter)
            if known is not None and d is not None and d not in (known, 1) and known != 1:
                raise ShapeError(f"einsum '{node.attrs['equation']}': '{letter}' is {known} and {d}")
            if known is None or known == 1:
                sizes[letter] = d
    return tuple(sizes[c] for c in out)


@op("ArgMax", "ArgMin", dtype=_cast_dtype)  # attrs["dtype"]: Keras returns int32
def _arg_reduce(node: Node, ins: list[Shape]) -> Shape:
    return _reduce(node, ins)


@op("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd")
def _reduce(node: Node, ins: list[Shape]) -> Shape:
    shape = ins[0]
    axes = _axes(node, len(shape))
    if node.attrs.get("keepdims"):
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


@op("DepthToSpace", "SpaceToDepth")
def _depth_space(node: Node, ins: list[Shape]) -> Shape:
    if len(ins[0]) != 4:
        raise ShapeError(f"{node.op} expects an NHWC image, got shape {ins[0]}")
    n, h, w, c = ins[0]
    b = int(node.attrs["block_size"])
    if node.op == "DepthToSpace":
        if c is not None and c % (b * b):
            raise ShapeError(f"DepthToSpace: {c} channels are not a multiple of {b}x{b}")
        return (n, None if h is None else h * b, None if w is None else w * b, None if c is None else c // (b * b))
    if (h is not None and h % b) or (w is not None and w % b):
        raise ShapeError(f"SpaceToDepth: {h}x{w} is not a multiple of the block {b}")
    return (n, None if h is None else h // b, None if w is None else w // b, None if c is None else c * b * b)


# -- attention (frontends/layers/attention.py, compiler/backend/lowerings/attention.py) ----------
def _heads_split(node: Node, shape: Shape, heads: int, what: str) -> int:
    """The per-head size of a projected (batch, …, steps, heads·dim) tensor."""
    width = shape[-1]
    if width is None or width % heads:
        raise ShapeError(f"{node.op}: the {what} width {width} is not a multiple of {heads} heads")
    return width // heads


def _attention_mask_shapes(node: Node, ins: list[Shape], t: int | None, s: int | None) -> None:
    """The optional masks after the operands, one per role in ``attrs["masks"]``."""
    roles = tuple(node.attrs.get("masks", ()))
    first = len(ins) - len(roles)
    want = {"attention": (t, s), "query": (t,), "value": (s,), "key": (s,)}
    for role, shape in zip(roles, ins[first:], strict=False):
        expected = want[role]
        if len(shape) != 1 + len(expected) or any(
            a is not None and b is not None and a != b for a, b in zip(shape[1:], expected, strict=False)
        ):
            raise ShapeError(f"{node.op}: the {role} mask has shape {shape}, expected (batch, {expected})")


@op("AttentionScores")
def _attention_scores(node: Node, ins: list[Shape]) -> Shape:
    """softmax(q·kᵀ) per head: q (batch, …, T, heads·d), k (batch, …, S, heads·d) → (batch, …, heads, T, S).

    The scale 1/√d is already in the query's projection; masks follow as extra operands.
    """
    q, k = ins[0], ins[1]
    heads = node.attrs["heads"]
    if len(q) != len(k) or len(q) < 3:
        raise ShapeError(f"AttentionScores: query {q} and key {k} must have the same rank, at least 3")
    if _heads_split(node, q, heads, "query") != _heads_split(node, k, heads, "key"):
        raise ShapeError(f"AttentionScores: query {q} and key {k} differ in width")
    _attention_mask_shapes(node, ins[2:], q[-2], k[-2])
    return (*q[:-2], heads, q[-2], k[-2])


@op("AttentionApply")
def _attention_apply(node: Node, ins: list[Shape]) -> Shape:
    """probabilities (batch, …, heads, T, S) · v (batch, …, S, heads·dv) → (batch, …, T, heads·dv)."""
    p, v = ins
    heads = node.attrs["heads"]
    _heads_split(node, v, heads, "value")
    if len(p) != len(v) + 1 or p[-3] != heads:
        raise ShapeError(f"AttentionApply: scores {p} do not fit the value {v} with {heads} heads")
    return (*p[:-3], p[-2], v[-1])


@op("MultiHeadAttention")
def _multi_head_attention(node: Node, ins: list[Shape]) -> Shape:
    """AttentionApply(AttentionScores(q, k, masks…), v) as one op (passes.fuse_attention)."""
    q, k, v = ins[0], ins[1], ins[2]
    heads = node.attrs["heads"]
    if _heads_split(node, q, heads, "query") != _heads_split(node, k, heads, "key"):
        raise ShapeError(f"MultiHeadAttention: query {q} and key {k} differ in width")
    _heads_split(node, v, heads, "value")
    if k[-2] != v[-2] and None not in (k[-2], v[-2]):
        raise ShapeError(f"MultiHeadAttention: key {k} and value {v} differ in length")
    _attention_mask_shapes(node, ins[3:], q[-2], k[-2])
    return (*q[:-1], v[-1])
