"""Lowerings of the linear ops: convolutions (any rank, grouped, depthwise), transposed
convolutions and Dense, with the residual and activation ``passes.fuse_conv`` gave them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import UnsupportedLayerError
from ...ir import Node
from ...ops import effective_kernel, spatial_pads
from ..emitter import NCHW, Emitter, Value, channels_first, emitter, onnx_pads
from .elementwise import emit_activation


def window_pads(node: Node, kernel: Sequence[int]) -> dict[str, Any]:
    """ONNX padding attributes of a window op: explicit pads, or SAME_UPPER (TensorFlow's rule)
    where the sizes are unknown."""
    a = node.attrs
    src = node.inputs[0].shape
    if a["padding"] == "same" and any(n is None and s > 1 for n, s in zip(src[1:-1], a["strides"], strict=False)):
        return {"auto_pad": "SAME_UPPER"}
    dilations = a.get("dilations", (1,) * len(kernel))
    return {"pads": onnx_pads(spatial_pads(a["padding"], src[1:-1], kernel, a["strides"], dilations))}


def bias_inputs(em: Emitter, node: Node) -> list[str]:
    """The bias initializer as an operand list: empty for a layer without bias."""
    bias = node.params.get("bias")
    return [em.const(f"{node.name}.bias", bias)] if bias is not None else []


def _conv_like(em: Emitter, node: Node, weight: np.ndarray, group: int) -> Value:
    """Conv with its fused residual input (slot 1) and activation, in the target's form."""
    a = node.attrs
    kernel = tuple(int(k) for k in weight.shape[2:])
    rank = len(kernel) + 2
    inputs = [em.nchw(node.inputs[0]), em.const(f"{node.name}.weight", weight), *bias_inputs(em, node)]
    residual = em.nchw(node.inputs[1]) if len(node.inputs) > 1 else None
    act = a.get("activation")
    conv_attrs = dict(
        kernel_shape=list(kernel),
        strides=list(a["strides"]),
        dilations=list(a["dilations"]),
        group=int(group),
        **window_pads(node, kernel),
    )
    if act or residual:
        fused = em.target.fused_conv(em, node.name, inputs, residual, act, conv_attrs)
        if fused is not None:
            return Value(fused, rank, channels_first(rank))
    out = em.op("Conv", inputs, node.name if not (act or residual) else f"{node.name}_conv", **conv_attrs)
    if residual is not None:
        out = em.op("Add", [out, residual], node.name if not act else f"{node.name}_sum")
    if act:
        out = emit_activation(em, out, act, node.name)
    return Value(out, rank, channels_first(rank))


@emitter("Conv")
def _conv(em: Emitter, node: Node) -> Value:
    k = node.params["kernel"]  # (kh, kw, cin/group, cout) or (kd, kh, kw, cin/group, cout)
    spatial = k.ndim - 2
    return _conv_like(em, node, k.transpose(spatial + 1, spatial, *range(spatial)), node.attrs.get("group", 1))


@emitter("DepthwiseConv")
def _depthwise(em: Emitter, node: Node) -> Value:
    k = node.params["kernel"]  # (kh, kw, cin, mult): output channel c*mult + m
    kh, kw, cin, mult = k.shape
    return _conv_like(em, node, k.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None], cin)


def transpose_conv_pads(size: int, out: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """(pad_begin, pad_end, output_padding) for ONNX ConvTranspose reproducing Keras's output.

    Keras's transposed conv is the gradient of a forward conv from ``out`` to ``size``; that
    forward conv's TensorFlow padding decides where the output window starts.
    """
    k_eff = effective_kernel(k, dilation)
    begin = 0
    if padding == "same":
        begin = max((size - 1) * stride + k_eff - out, 0) // 2
    end = stride * (size - 1) + k_eff - begin - out
    extra = 0
    if end < 0:
        extra, end = -end, 0
    return begin, end, extra


@emitter("ConvTranspose")
def _conv_transpose(em: Emitter, node: Node) -> Value:
    k = node.params["kernel"]  # (kh, kw, cout, cin)
    a = node.attrs
    src, dst = node.inputs[0].shape, node.shape
    if None in src[1:3]:
        raise UnsupportedLayerError("Conv2DTranspose needs known spatial input sizes")
    pads = [
        transpose_conv_pads(src[1 + i], dst[1 + i], k.shape[i], a["strides"][i], a["dilations"][i], a["padding"])
        for i in range(2)
    ]
    w = em.const(f"{node.name}.weight", k.transpose(3, 2, 0, 1))
    out = em.op(
        "ConvTranspose",
        [em.nchw(node.inputs[0]), w, *bias_inputs(em, node)],
        node.name,
        kernel_shape=list(k.shape[:2]),
        strides=list(a["strides"]),
        dilations=list(a["dilations"]),
        pads=[pads[0][0], pads[1][0], pads[0][1], pads[1][1]],
        output_padding=[pads[0][2], pads[1][2]],
    )
    if node.attrs.get("activation"):
        out = emit_activation(em, out, node.attrs["activation"], f"{node.name}_act")
    return Value(out, 4, NCHW)


@emitter("Dense")
def _dense(em: Emitter, node: Node) -> Value:
    value = _dense_linear(em, node)
    act = node.attrs.get("activation")
    if not act:
        return value
    return Value(emit_activation(em, value.name, act, f"{node.name}_act"), value.rank, value.perm)


def _dense_linear(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    kernel, bias = node.params["kernel"], node.params.get("bias")
    if v.rank >= 3 and v.rows is None and v.perm is not None and v.perm == channels_first(v.rank):
        # A Dense over the channels of channels-first data (a feature map, a sequence after a
        # Conv1D, a volume) is a 1x1 convolution that keeps the layout: no transposes around it.
        spatial = v.rank - 2
        w = em.const(f"{node.name}.weight", kernel.T.reshape(*kernel.T.shape, *(1,) * spatial))
        out = em.op("Conv", [v.name, w, *bias_inputs(em, node)], node.name, kernel_shape=[1] * spatial)
        return Value(out, v.rank, v.perm)
    if v.rank == 2:
        rows = kernel[np.asarray(v.rows)] if v.rows is not None else kernel
        w = em.const(f"{node.name}.weight", rows)
        if bias is not None:
            return Value(em.op("Gemm", [v.name, w, em.const(f"{node.name}.bias", bias)], node.name), 2)
        return Value(em.op("MatMul", [v.name, w], node.name), 2)
    # A layout that keeps the features last (a recurrent layer's time-major steps) stays as it is.
    keep = v.perm if v.rows is None and v.perm is not None and v.perm[-1] == v.rank - 1 else None
    x = em.ensure(v, keep)
    y = em.op("MatMul", [x, em.const(f"{node.name}.weight", kernel)], node.name)
    if bias is not None:
        y = em.op("Add", [y, em.const(f"{node.name}.bias", bias)], f"{node.name}_bias")
    return Value(y, v.rank, keep)
