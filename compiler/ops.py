"""The op registry: what each IR op means and what shape it produces.

Shapes are Keras shapes (NHWC for images, NDHWC for volumes, ``None`` for the batch). Every op registers one shape rule;
the frontend infers once per node and :meth:`Graph.check` re-infers to catch a pass that left a
stale shape behind.

Spatial padding is stored per op as ``"valid"``, ``"same"`` or explicit
``((top, bottom), (left, right))`` (one pair per spatial axis, three for volumes). ``"same"`` follows TensorFlow: the total padding is
``max((ceil(n/s) - 1)·s + k_eff - n, 0)`` and the odd pixel goes to the bottom/right.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import ShapeError
from .ir import Node, Shape

ShapeRule = Callable[[Node, list[Shape]], Shape]
SHAPE_RULES: dict[str, ShapeRule] = {}

#: Element-wise unary ops: the output has the input's shape.
UNARY_OPS = (
    "Identity", "Dropout", "Relu", "Sigmoid", "Tanh", "Clip", "LeakyRelu", "Elu", "Selu", "Softplus",
    "Softsign", "Swish", "Gelu", "HardSigmoid", "Exp", "Mish", "KerasRelu", "Softmax", "LogSoftmax",
    "BatchNorm", "Affine", "LayerNorm", "PRelu",
)
#: Element-wise n-ary ops (Keras merge layers).
NARY_OPS = ("Add", "Sub", "Mul", "Max", "Min", "Mean")


def shape_rule(*ops: str) -> Callable[[ShapeRule], ShapeRule]:
    def register(fn: ShapeRule) -> ShapeRule:
        for op in ops:
            SHAPE_RULES[op] = fn
        return fn

    return register


def infer_shape(node: Node) -> Shape:
    rule = SHAPE_RULES.get(node.op)
    if rule is None:
        raise ShapeError(f"no shape rule for op {node.op}", layer=node.layer)
    try:
        return tuple(rule(node, [i.shape for i in node.inputs]))
    except ShapeError as err:
        raise err.with_context(layer=node.layer)


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
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            if size is None:
                # Only stride 1 has size-independent pads; otherwise the output size is still
                # known (ceil(n/s)) and the backend lets the runtime pad (SAME_UPPER is TF's rule).
                total = effective_kernel(k, d) - 1 if s == 1 else 0
                pads.append((total // 2, total - total // 2))
            else:
                pads.append(same_pads(size, k, s, d))
        return pads
    return [tuple(p) for p in padding]


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
    if len(ins) > 1 and any(a != b and None not in (a, b) for a, b in zip(ins[1], out)):
        raise ShapeError(f"residual operand of shape {ins[1]} does not match the output {out}")
    return out


@shape_rule("Conv")
def _conv(node: Node, ins: list[Shape]) -> Shape:
    *kernel, cin_per_group, cout = node.params["kernel"].shape  # (kh, kw, ...) or (kd, kh, kw, ...)
    cin = ins[0][-1]
    group = node.attrs.get("group", 1)
    if cin is not None and cin != cin_per_group * group:
        raise ShapeError(f"input has {cin} channels, kernel expects {cin_per_group * group}")
    return _with_residual(_window(node, ins[0], tuple(kernel), cout), ins)


@shape_rule("DepthwiseConv")
def _depthwise(node: Node, ins: list[Shape]) -> Shape:
    kh, kw, cin, mult = node.params["kernel"].shape
    return _with_residual(_window(node, ins[0], (kh, kw), cin * mult), ins)


@shape_rule("MaxPool", "AveragePool")
def _pool(node: Node, ins: list[Shape]) -> Shape:
    return _window(node, ins[0], node.attrs["kernel"], None)


def transpose_out(size: int | None, k: int, stride: int, dilation: int, padding: str, output_padding: int | None) -> int | None:
    """Keras's Conv*Transpose output length (keras ``compute_conv_transpose_output_length``)."""
    if size is None:
        return None
    k = effective_kernel(k, dilation)
    if output_padding is None:
        return size * stride + max(k - stride, 0) if padding == "valid" else size * stride
    pad = k // 2 if padding == "same" else 0
    return (size - 1) * stride + k - 2 * pad + output_padding


@shape_rule("ConvTranspose")
def _conv_transpose(node: Node, ins: list[Shape]) -> Shape:
    kh, kw, cout, _cin = node.params["kernel"].shape
    a = node.attrs
    shape = ins[0]
    if len(shape) != 4:
        raise ShapeError(f"ConvTranspose expects a 4-D input, got shape {shape}")
    op = a.get("output_padding") or (None, None)
    dims = [
        transpose_out(shape[1 + i], (kh, kw)[i], a["strides"][i], a["dilations"][i], a["padding"], op[i])
        for i in range(2)
    ]
    return (shape[0], *dims, cout)


@shape_rule(*UNARY_OPS)
def _unary(node: Node, ins: list[Shape]) -> Shape:
    return ins[0]


@shape_rule(*NARY_OPS)
def _nary(node: Node, ins: list[Shape]) -> Shape:
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


@shape_rule("FusedAddRelu")
def _add_relu(node: Node, ins: list[Shape]) -> Shape:
    return _nary(node, ins)


@shape_rule("Concat")
def _concat(node: Node, ins: list[Shape]) -> Shape:
    axis = node.attrs["axis"]
    rank = len(ins[0])
    for s in ins:
        if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, ins[0])) if i not in (0, axis)):
            raise ShapeError(f"Concatenate inputs do not match except on axis {axis}: {ins}")
    sizes = [s[axis] for s in ins]
    out = list(ins[0])
    out[axis] = None if None in sizes else sum(sizes)
    return tuple(out)


@shape_rule("Dense")
def _dense(node: Node, ins: list[Shape]) -> Shape:
    fan_in, units = node.params["kernel"].shape
    if ins[0][-1] is not None and ins[0][-1] != fan_in:
        raise ShapeError(f"Dense kernel expects {fan_in} input features, got {ins[0][-1]}")
    return (*ins[0][:-1], units)


@shape_rule("Flatten")
def _flatten(node: Node, ins: list[Shape]) -> Shape:
    rest = ins[0][1:]
    return (ins[0][0], None if None in rest else math.prod(rest))


@shape_rule("Reshape")
def _reshape(node: Node, ins: list[Shape]) -> Shape:
    target = list(node.attrs["shape"])
    rest = ins[0][1:]
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"target shape {tuple(target)}: sizes must be positive, with at most one -1")
    known = math.prod(d for d in target if d != -1)
    if None not in rest:
        total = math.prod(rest)
        if (total % known if -1 in target else total != known):
            raise ShapeError(f"cannot reshape {tuple(rest)} ({total} values) to {tuple(target)}")
        if -1 in target:
            target[target.index(-1)] = total // known
    return (ins[0][0], *[None if d == -1 else d for d in target])


@shape_rule("Transpose")
def _transpose(node: Node, ins: list[Shape]) -> Shape:
    perm = tuple(node.attrs["perm"])
    if sorted(perm) != list(range(len(ins[0]))):
        raise ShapeError(f"{perm} is not a permutation of the {len(ins[0])} axes of {ins[0]}")
    return tuple(ins[0][p] for p in perm)


@shape_rule("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: Node, ins: list[Shape]) -> Shape:
    s = ins[0]
    if node.attrs.get("keepdims"):
        return (s[0], *([1] * (len(s) - 2)), s[-1])
    return (s[0], s[-1])


def _spatial_pairs(node: Node, shape: Shape, key: str) -> list[tuple[int, int]]:
    """(before, after) per spatial axis, one pair for each axis between batch and channels."""
    pairs = [tuple(p) for p in node.attrs[key]]
    if len(pairs) != len(shape) - 2:
        raise ShapeError(f"{node.op} has {len(pairs)} (before, after) pairs for the {len(shape) - 2} "
                         f"spatial axes of shape {shape}")
    if any(min(p) < 0 for p in pairs):
        raise ShapeError(f"negative {key} {node.attrs[key]}")
    return pairs


@shape_rule("Pad")
def _pad(node: Node, ins: list[Shape]) -> Shape:
    """Zeros around the spatial axes: steps (N, L, C), images (NHWC) or volumes (NDHWC)."""
    s = ins[0]
    pairs = _spatial_pairs(node, s, "pads")
    return (s[0], *[None if d is None else d + a + b for d, (a, b) in zip(s[1:-1], pairs)], s[-1])


@shape_rule("Resize")
def _resize(node: Node, ins: list[Shape]) -> Shape:
    """By integer ``scale`` (UpSampling2D) or to a fixed ``size`` (Resizing)."""
    s = ins[0]
    if node.attrs.get("size") is not None:
        return (s[0], *node.attrs["size"], s[3])
    scale = node.attrs["scale"]  # one integer factor per spatial axis (UpSampling1D/2D/3D)
    if len(scale) != len(s) - 2:
        raise ShapeError(f"Resize has {len(scale)} scale factors for the {len(s) - 2} spatial axes of {s}")
    return (s[0], *[None if d is None else d * f for d, f in zip(s[1:-1], scale)], s[-1])


@shape_rule("Crop")
def _crop(node: Node, ins: list[Shape]) -> Shape:
    s = ins[0]
    dims = []
    for size, (before, after) in zip(s[1:-1], _spatial_pairs(node, s, "crops")):
        if size is not None and before + after >= size:
            raise ShapeError(f"cropping {before}+{after} leaves nothing of size {size}")
        dims.append(None if size is None else size - before - after)
    return (s[0], *dims, s[-1])


def batchnorm_scale_shift(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """The per-channel affine map y = x·scale + shift a BatchNorm applies at inference (float64)."""
    p = node.params
    scale = p["gamma"].astype(np.float64) / np.sqrt(p["var"].astype(np.float64) + node.attrs["epsilon"])
    return scale, p["beta"].astype(np.float64) - p["mean"].astype(np.float64) * scale
