"""IR → ONNX, with NCHW inside and the Keras model's own layout at the edges.

Every emitted tensor carries a *physical layout* relative to its Keras (logical) shape:

* ``perm``: the physical tensor is ``transpose(logical, perm)`` — ``(0, 3, 1, 2)`` for the NCHW
  that ONNX convolutions want, ``None`` when physical == logical;
* ``rows``: for a 2-D tensor, a permutation of its features — what ``Flatten`` of an NCHW tensor
  produces. A ``Dense`` that reads it permutes its weight rows instead of transposing the data.

Ops that care about layout (Conv, pooling, Concat's axis, Softmax's axis, Pad's pads) convert
their operands with :meth:`Emitter.ensure`, which inserts one cached Transpose/Gather per
(tensor, layout); everything element-wise just passes the layout through. So a Keras graph costs
one Transpose per 4-D input and per 4-D output, and none inside.

Emitters are registered per IR op with :func:`emitter`, one small function each, like tf2onnx's
handlers; the registry, not an if-chain, decides who converts what.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from .errors import CompileError, UnsupportedLayerError
from .ir import Graph, Node
from .ops import batchnorm_scale_shift, effective_kernel, spatial_pads

NCHW = (0, 3, 1, 2)


def channels_first(rank: int) -> Perm:
    """The channels-first layout ONNX's window ops want, for any rank: NCL, NCHW, NCDHW."""
    return _canon((0, rank - 1, *range(1, rank - 1))) if rank >= 3 else None
DEFAULT_OPSET = 17

#: Output flavours. ``onnx``: standard ops only, portable. ``ort``: onnxruntime contrib ops
#: (com.microsoft FusedConv carrying the residual add and activation), so the fusions hold even
#: with onnxruntime's graph optimizations off. ``tensorrt``: standard ops, and none of the forms
#: that exist only to steer onnxruntime's optimizer (TensorRT's parser rejects MaxPool indices).
TARGETS = ("onnx", "ort", "tensorrt")
Perm = tuple[int, ...] | None

EmitFn = Callable[["Emitter", Node], "Value"]
EMITTERS: dict[str, EmitFn] = {}


def emitter(*ops: str) -> Callable[[EmitFn], EmitFn]:
    def register(fn: EmitFn) -> EmitFn:
        for op in ops:
            EMITTERS[op] = fn
        return fn

    return register


@dataclass(frozen=True)
class Value:
    """An emitted tensor and how its physical layout relates to the Keras shape."""

    name: str
    rank: int
    perm: Perm = None
    rows: tuple[int, ...] | None = None
    shape: tuple[int | None, ...] | None = None  # the logical (Keras) shape, filled in by the emitter loop

    def axis(self, logical: int) -> int:
        """Where a logical axis lives physically."""
        return logical if self.perm is None else self.perm.index(logical)


def _same_order(shape: Sequence[int | None], src: Sequence[int], dst: Sequence[int]) -> bool:
    """Whether two layouts list the axes that are not of size 1 in the same order."""
    return [a for a in src if shape[a] != 1] == [a for a in dst if shape[a] != 1]


def _canon(perm: Sequence[int] | None) -> Perm:
    if perm is None or tuple(perm) == tuple(range(len(perm))):
        return None
    return tuple(perm)


class Emitter:
    """Accumulates ONNX nodes and initializers while walking the IR in order."""

    def __init__(self, graph: Graph, opset: int, input_layout: str, target: str = "onnx") -> None:
        self.graph = graph
        self.opset = opset
        self.input_layout = input_layout
        self.target = target
        self.domains: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[tuple[str, np.ndarray]] = []
        self.values: dict[str, Value] = {}
        self._used: set[str] = set()
        self._reserved = {n.name for n in graph.inputs} | set(graph.output_names)
        self._converted: dict[tuple[str, Perm, Any], str] = {}
        self._consts: dict[tuple[str, bytes], str] = {}

    # -- naming & building blocks -----------------------------------------------------------------
    def fresh(self, base: str) -> str:
        name, i = base, 0
        while name in self._used or name in self._reserved:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    def const(self, base: str, array: np.ndarray) -> str:
        """An initializer; identical small constants are shared. Large arrays stay views until written."""
        array = np.asarray(array)
        key = (str(array.dtype) + str(array.shape), array.tobytes()) if array.size <= 16 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.fresh(base)
        self.initializers.append((name, array))
        if key is not None:
            self._consts[key] = name
        return name

    def op(self, op_type: str, inputs: Sequence[str], base: str, *, domain: str = "", **attrs: Any) -> str:
        out = self.fresh(base)
        if domain:
            self.domains.add(domain)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, domain=domain or None, **attrs))
        return out

    def ensure(self, value: Value, perm: Perm) -> str:
        """The tensor in the requested physical layout (feature order restored as well)."""
        perm = _canon(perm)
        name = value.name
        if value.rows is not None:
            key = (value.name, None, "rows")
            if key not in self._converted:
                inverse = np.argsort(np.asarray(value.rows)).astype(np.int64)
                idx = self.const(f"{value.name}.order", inverse)
                self._converted[key] = self.op("Gather", [value.name, idx], f"{value.name}_ordered", axis=1)
            name = self._converted[key]
            value = Value(name, value.rank, value.perm)
        if value.perm == perm:
            return name
        key = (name, perm, None)
        if key not in self._converted:
            src = value.perm or tuple(range(value.rank))
            dst = perm or tuple(range(value.rank))
            shape = value.shape
            if shape is not None and None not in shape[1:] and _same_order(shape, src, dst):
                # Only size-1 axes move: the bytes are already in order, a Reshape relabels them.
                dims = self.const(f"{name}.shape", np.asarray([0, *(shape[d] for d in dst[1:])], np.int64))
                self._converted[key] = self.op("Reshape", [name, dims], f"{name}_r")
            else:
                inv = [src.index(i) for i in range(value.rank)]
                self._converted[key] = self.op("Transpose", [name], f"{name}_t", perm=[inv[d] for d in dst])
        return self._converted[key]

    def value(self, node: Node) -> Value:
        return self.values[node.name]

    def nchw(self, node: Node) -> str:
        """Operand channels-first (NCHW, NCDHW for volumes), for ops defined on such data."""
        return self.ensure(self.value(node), channels_first(len(node.shape)))

    # -- whole graph --------------------------------------------------------------------------------
    def run(self) -> None:
        for node in self.graph.nodes():
            fn = EMITTERS.get(node.op)
            if fn is None:
                raise UnsupportedLayerError(f"no ONNX lowering for IR op {node.op}", layer=node.layer)
            try:
                value = fn(self, node)
                self.values[node.name] = value if value.shape is not None else replace(value, shape=node.shape)
            except CompileError as err:
                raise err.with_context(layer=node.layer)


def _dims(shape: Sequence[int | None], prefix: str) -> list[int | str]:
    return ["batch" if i == 0 else (d if d is not None else f"{prefix}_d{i}") for i, d in enumerate(shape)]


def to_onnx(
    graph: Graph,
    *,
    opset: int = DEFAULT_OPSET,
    input_layout: str = "nhwc",
    target: str = "onnx",
    metadata: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """Lower the IR to a checked, deterministic ONNX model for a target (see :data:`TARGETS`)."""
    return lower(graph, opset=opset, input_layout=input_layout, target=target, metadata=metadata).to_proto()


def lower(
    graph: Graph,
    *,
    opset: int = DEFAULT_OPSET,
    input_layout: str = "nhwc",
    target: str = "onnx",
    metadata: dict[str, str] | None = None,
) -> "Lowered":
    """Lower the IR to an ONNX model whose weights stay numpy arrays until written."""
    if input_layout not in ("nhwc", "nchw"):
        raise CompileError(f"input layout must be 'nhwc' or 'nchw', not '{input_layout}'")
    if target not in TARGETS:
        raise CompileError(f"unknown target '{target}'", hint="one of " + ", ".join(TARGETS))
    em = Emitter(graph, opset, input_layout, target)
    em.run()

    inputs = []
    for node in graph.inputs:
        shape = list(node.shape)
        if input_layout == "nchw" and len(shape) == 4:
            shape = [shape[p] for p in NCHW]
        inputs.append(helper.make_tensor_value_info(node.name, TensorProto.FLOAT, _dims(shape, node.name)))

    outputs = []
    tensors = [em.ensure(em.value(node), None) for node in graph.outputs]
    producers = {out for n in em.nodes for out in n.output}
    renamed: dict[str, str] = {}
    for name, node, tensor in zip(graph.output_names, graph.outputs, tensors):
        if tensor in producers and tensor not in renamed and tensor not in em._reserved:
            renamed[tensor] = name
        else:
            em.nodes.append(helper.make_node("Identity", [renamed.get(tensor, tensor)], [name], name=f"{name}_identity"))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, _dims(node.shape, name)))
    if renamed:
        for n in em.nodes:
            n.input[:] = [renamed.get(i, i) for i in n.input]
            n.output[:] = [renamed.get(o, o) for o in n.output]

    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in sorted(em.domains)]
    _validate(em, graph.name, inputs, outputs, opsets)
    model = helper.make_model(
        helper.make_graph(em.nodes, graph.name, inputs, outputs),
        opset_imports=opsets,
        producer_name="kerascc",
        producer_version=_version(),
        ir_version=8,
    )
    fixed = {"kerascc.input_layout": input_layout, "kerascc.target": target}
    for key, val in sorted({**graph.meta, **(metadata or {}), **fixed}.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(val)
    return Lowered(model, em.initializers)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload_length: int) -> bytes:
    """A length-delimited protobuf field header."""
    return _varint(number << 3 | 2) + _varint(payload_length)


_GRAPH_FIELD, _INITIALIZER_FIELD, _RAW_DATA_FIELD = 7, 5, 9  # ModelProto.graph, GraphProto.initializer, TensorProto.raw_data


@dataclass
class Lowered:
    """An ONNX model as its weight-free structure plus the weights as numpy arrays.

    Writing it streams one weight at a time, so compiling never holds a second (or third)
    serialized copy of the weights. The stream is the structure's own bytes followed by one
    ``graph { initializer { ... } }`` fragment per weight: protobuf merges repeated occurrences
    of a message field, so every ONNX reader sees one graph with all its initializers.
    """

    skeleton: onnx.ModelProto
    initializers: list[tuple[str, np.ndarray]]

    def chunks(self) -> Iterator[bytes | memoryview]:
        yield self.skeleton.SerializeToString(deterministic=True)
        for name, array in self.initializers:
            data = np.ascontiguousarray(array).reshape(array.shape)  # keeps 0-d scalars 0-d
            header = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(data.dtype), dims=data.shape)
            tensor_head = header.SerializeToString(deterministic=True) + _field(_RAW_DATA_FIELD, data.nbytes)
            tensor_size = len(tensor_head) + data.nbytes
            graph_head = _field(_INITIALIZER_FIELD, tensor_size)
            yield _field(_GRAPH_FIELD, len(graph_head) + tensor_size) + graph_head + tensor_head
            if data.nbytes:
                yield memoryview(data).cast("B")

    def serialize(self) -> bytes:
        return b"".join(self.chunks())

    @property
    def weight_bytes(self) -> int:
        return sum(int(a.nbytes) for _, a in self.initializers)

    def with_external_data(self, location: str) -> tuple[onnx.ModelProto, Iterator[memoryview]]:
        """The model with its weights in a side file ``location`` (ONNX external data), and that
        file's bytes as a stream.

        Protobuf cannot hold a message over 2 GB, so bigger models must keep their weights
        outside the .onnx file; onnxruntime reads them from beside it.
        """
        model = onnx.ModelProto()
        model.CopyFrom(self.skeleton)
        offset = 0
        for name, array in self.initializers:
            tensor = model.graph.initializer.add()
            tensor.name = name
            tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensor.dims.extend(array.shape)
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", location), ("offset", str(offset)), ("length", str(array.nbytes))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            offset += int(array.nbytes)

        def data() -> Iterator[memoryview]:
            for _, array in self.initializers:
                if array.nbytes:
                    yield memoryview(np.ascontiguousarray(array)).cast("B")

        return model, data()

    def to_proto(self) -> onnx.ModelProto:
        model = onnx.ModelProto()
        model.CopyFrom(self.skeleton)
        for name, array in self.initializers:
            tensor = model.graph.initializer.add()
            tensor.name = name
            tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensor.dims.extend(array.shape)
            tensor.raw_data = np.ascontiguousarray(array).tobytes()
        return model


def _validate(em: Emitter, name: str, inputs: list, outputs: list, opsets: list) -> None:
    """Run the ONNX checker with full shape inference on the model without its weight bytes.

    Initializers become typed graph inputs, so the check sees every op, type and shape but does
    not copy hundreds of megabytes through the checker.
    """
    weights = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
               for n, a in em.initializers]
    skeleton = helper.make_model(helper.make_graph(em.nodes, name, inputs + weights, outputs),
                                 opset_imports=opsets, ir_version=8)
    try:
        onnx.checker.check_model(skeleton, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise CompileError(f"internal error: generated ONNX does not validate: {str(exc).splitlines()[0]}") from exc


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("kerascc")
    except Exception:  # not installed as a package: running from a checkout
        return "0.1.0"


# -- emitters: convolutions and pooling --------------------------------------------------------------
def _onnx_pads(pads: Sequence[tuple[int, int]]) -> list[int]:
    return [p[0] for p in pads] + [p[1] for p in pads]


def _conv_pads(node: Node, kernel: Sequence[int]) -> dict[str, Any]:
    """ONNX padding attributes: explicit pads, or SAME_UPPER (TensorFlow's rule) for unknown sizes."""
    a = node.attrs
    src = node.inputs[0].shape
    if a["padding"] == "same" and any(n is None and s > 1 for n, s in zip(src[1:-1], a["strides"])):
        return {"auto_pad": "SAME_UPPER"}
    dilations = a.get("dilations", (1,) * len(kernel))
    return {"pads": _onnx_pads(spatial_pads(a["padding"], src[1:-1], kernel, a["strides"], dilations))}


def _bias_inputs(em: Emitter, node: Node) -> list[str]:
    bias = node.params.get("bias")
    return [em.const(f"{node.name}.bias", bias)] if bias is not None else []


#: Activations a convolution can carry (IR attribute ``activation``), and their onnxruntime
#: FusedConv spelling: (activation name, names of its float parameters in order).
FUSED_ACTIVATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Relu": ("Relu", ()),
    "Clip": ("Clip", ("min", "max")),
    "LeakyRelu": ("LeakyRelu", ("alpha",)),
    "Sigmoid": ("Sigmoid", ()),
    "Tanh": ("Tanh", ()),
    "HardSigmoid": ("HardSigmoid", ("alpha", "beta")),
}


def emit_activation(em: Emitter, x: str, act: dict[str, Any], base: str) -> str:
    """A fused activation as standard ONNX ops."""
    op = act["op"]
    if op == "Clip":
        lo, hi = _scalar(em, act["min"]), _scalar(em, act["max"])
        return em.op("Clip", [x, lo, hi], base)
    attrs = {k: float(v) for k, v in act.items() if k in ("alpha", "beta")}
    return em.op(op, [x], base, **attrs)


def _conv_like(em: Emitter, node: Node, weight: np.ndarray, group: int) -> Value:
    """Conv with its fused residual input (slot 1) and activation, lowered per target."""
    a = node.attrs
    kernel = tuple(int(k) for k in weight.shape[2:])
    rank = len(kernel) + 2
    inputs = [em.nchw(node.inputs[0]), em.const(f"{node.name}.weight", weight), *_bias_inputs(em, node)]
    residual = em.nchw(node.inputs[1]) if len(node.inputs) > 1 else None
    act = a.get("activation")
    conv_attrs = dict(kernel_shape=list(kernel), strides=list(a["strides"]), dilations=list(a["dilations"]),
                      group=int(group), **_conv_pads(node, kernel))
    if em.target == "ort" and (act or residual) and rank == 4:  # FusedConv is the 2-D kernel
        if residual is not None and len(inputs) == 2:
            inputs.append("")  # FusedConv's optional bias slot precedes Z
        extra = {}
        if act:
            name, keys = FUSED_ACTIVATIONS[act["op"]]
            extra["activation"] = name
            if keys:
                extra["activation_params"] = [float(act[k]) for k in keys]
        ins = inputs + ([residual] if residual is not None else [])
        return Value(em.op("FusedConv", ins, node.name, domain="com.microsoft", **conv_attrs, **extra), 4, NCHW)
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


def transpose_conv_pads(
    size: int, out: int, k: int, stride: int, dilation: int, padding: str
) -> tuple[int, int, int]:
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
    pads = [transpose_conv_pads(src[1 + i], dst[1 + i], k.shape[i], a["strides"][i], a["dilations"][i], a["padding"])
            for i in range(2)]
    w = em.const(f"{node.name}.weight", k.transpose(3, 2, 0, 1))
    out = em.op(
        "ConvTranspose", [em.nchw(node.inputs[0]), w, *_bias_inputs(em, node)], node.name,
        kernel_shape=list(k.shape[:2]), strides=list(a["strides"]), dilations=list(a["dilations"]),
        pads=[pads[0][0], pads[1][0], pads[0][1], pads[1][1]], output_padding=[pads[0][2], pads[1][2]],
    )
    if node.attrs.get("activation"):
        out = emit_activation(em, out, node.attrs["activation"], f"{node.name}_act")
    return Value(out, 4, NCHW)


@emitter("MaxPool", "AveragePool")
def _pool(em: Emitter, node: Node) -> Value:
    a = node.attrs
    rank = len(node.shape)
    extra = {"count_include_pad": int(bool(a.get("count_include_pad")))} if node.op == "AveragePool" else {}
    padding = _conv_pads(node, a["kernel"])
    x = em.nchw(node.inputs[0])
    if node.op == "MaxPool" and node.inputs[0].op == "Pad" and em.target == "tensorrt":
        # TensorRT's parser rejects MaxPool's indices output, and the file may still meet
        # onnxruntime (as the fallback provider): a no-op Max keeps its Pad fusion away.
        x = em.op("Max", [x, em.const("lowest", np.asarray(-np.inf, np.float32))], f"{node.name}_barrier")
    out = em.op(
        node.op, [x], node.name,
        kernel_shape=list(a["kernel"]), strides=list(a["strides"]), **padding, **extra,
    )
    if node.op == "MaxPool" and node.inputs[0].op == "Pad" and em.target != "tensorrt":
        # onnxruntime does not fold a Pad into a MaxPool that also returns indices; without them
        # it would treat the padded zeros as ignored positions.
        em.nodes[-1].output.append(em.fresh(f"{node.name}_indices"))
    if a.get("zero_pads"):
        src = node.inputs[0].shape[1:3]
        mask = _zero_mask(src, node.shape[1:3], a["kernel"], a["strides"], padding["pads"], a["zero_pads"])
        out = em.op("Max", [out, em.const(f"{node.name}.zeros", mask)], f"{node.name}_zeros")
    return Value(out, rank, channels_first(rank))


def _zero_mask(size: Sequence[int], out: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
               pads: Sequence[int], zero_pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """0 where a pooling window overlaps merged zero padding, -inf elsewhere.

    ``pads`` are the pool's ONNX pads (its own ignored border plus the zeros); ``zero_pads`` the
    part that came from a zero Pad and lies directly around the data. ``Max`` with this mask
    puts back the zeros a window would have seen.
    """
    hit = []
    for axis in range(2):
        before, after = zero_pads[axis]
        start = np.arange(out[axis]) * strides[axis] - pads[axis]
        stop = start + kernel[axis]
        low = (start < 0) & (stop > -before) & (before > 0)
        high = (stop > size[axis]) & (start < size[axis] + after) & (after > 0)
        hit.append(low | high)
    touched = hit[0][:, None] | hit[1][None, :]
    return np.where(touched, 0.0, -np.inf).astype(np.float32)[None, None]


@emitter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(em: Emitter, node: Node) -> Value:
    out = em.op(node.op, [em.nchw(node.inputs[0])], node.name)
    if node.attrs.get("keepdims"):
        rank = len(node.shape)
        return Value(out, rank, channels_first(rank))
    return Value(em.op("Flatten", [out], f"{node.name}_flat", axis=1), 2)


@emitter("Pad")
def _pad(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    logical = [(0, 0), *node.attrs["pads"], (0, 0)]
    physical = [logical[v.perm[i]] if v.perm else logical[i] for i in range(v.rank)]
    pads = em.const(f"{node.name}.pads", np.asarray(_onnx_pads(physical), np.int64))
    return Value(em.op("Pad", [x, pads], node.name, mode="constant"), v.rank, v.perm)


@emitter("Crop")
def _crop(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    crops = [tuple(c) for c in node.attrs["crops"]]
    axes = [v.axis(i) for i in range(1, len(crops) + 1)]
    big = np.iinfo(np.int64).max
    starts = em.const(f"{node.name}.starts", np.asarray([before for before, _ in crops], np.int64))
    ends = em.const(f"{node.name}.ends", np.asarray([-after if after else big for _, after in crops], np.int64))
    axes_name = em.const(f"{node.name}.axes", np.asarray(axes, np.int64))
    return Value(em.op("Slice", [x, starts, ends, axes_name], node.name), v.rank, v.perm)


@emitter("Resize")
def _resize(em: Emitter, node: Node) -> Value:
    x = em.nchw(node.inputs[0])
    size = node.attrs.get("size")
    if size is not None:
        # Resizing: TensorFlow's resize (no antialias) samples at pixel centres for every mode;
        # nearest takes floor((i + 0.5)·in/out), which is half_pixel with round-half-up. The
        # batch is dynamic, so the target sizes are the input's (N, C) and the fixed (h, w).
        modes = {"nearest": {"mode": "nearest", "nearest_mode": "round_prefer_ceil"},
                 "bilinear": {"mode": "linear"}}
        attrs = {**modes[node.attrs["mode"]], "coordinate_transformation_mode": "half_pixel"}
        shape = em.op("Shape", [x], f"{node.name}_shape", start=0, end=2)
        sizes = em.op("Concat", [shape, em.const(f"{node.name}.size", np.asarray(size, np.int64))],
                      f"{node.name}_sizes", axis=0)
        return Value(em.op("Resize", [x, "", "", sizes], node.name, **attrs), 4, NCHW)
    scale = [float(f) for f in node.attrs["scale"]]
    rank = len(scale) + 2
    scales = em.const(f"{node.name}.scales", np.asarray([1, 1, *scale], np.float32))
    if node.attrs["mode"] == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:  # TensorFlow 2's resize samples at pixel centres
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    return Value(em.op("Resize", [x, "", scales], node.name, **attrs), rank, channels_first(rank))


# -- emitters: dense, normalization, shape ops ----------------------------------------------------------
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
    if v.rank == 4 and v.perm == NCHW:  # a Dense over the channels of a feature map is a 1x1 conv
        w = em.const(f"{node.name}.weight", kernel.T[:, :, None, None])
        return Value(em.op("Conv", [v.name, w, *_bias_inputs(em, node)], node.name, kernel_shape=[1, 1]), 4, NCHW)
    if v.rank == 2:
        rows = kernel[np.asarray(v.rows)] if v.rows is not None else kernel
        w = em.const(f"{node.name}.weight", rows)
        if bias is not None:
            return Value(em.op("Gemm", [v.name, w, em.const(f"{node.name}.bias", bias)], node.name), 2)
        return Value(em.op("MatMul", [v.name, w], node.name), 2)
    x = em.ensure(v, None)
    y = em.op("MatMul", [x, em.const(f"{node.name}.weight", kernel)], node.name)
    if bias is not None:
        y = em.op("Add", [y, em.const(f"{node.name}.bias", bias)], f"{node.name}_bias")
    return Value(y, v.rank)


@emitter("BatchNorm")
def _batch_norm(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    p, eps = node.params, node.attrs["epsilon"]
    axis = v.axis(node.attrs["axis"])
    if axis == 1:
        names = [em.const(f"{node.name}.{k}", p[k]) for k in ("gamma", "beta", "mean", "var")]
        return Value(em.op("BatchNormalization", [x, *names], node.name, epsilon=float(eps)), v.rank, v.perm)
    scale, shift = batchnorm_scale_shift(node)
    return _scale_shift(em, node, v, x, axis, scale.astype(np.float32), shift.astype(np.float32))


@emitter("Affine")
def _affine(em: Emitter, node: Node) -> Value:
    """x·scale + shift along one axis (Keras Rescaling/Normalization, unfoldable BatchNorm), or
    along several (``axis`` a tuple, the parameters shaped like those axes: Normalization)."""
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    axis = node.attrs["axis"]
    if isinstance(axis, int):
        return _scale_shift(em, node, v, x, v.axis(axis), node.params["scale"], node.params["shift"])
    logical = [1] * v.rank
    for a, size in zip(axis, node.params["scale"].shape):
        logical[a] = size

    def laid_out(array: np.ndarray) -> np.ndarray:
        array = array.reshape(logical)
        return np.ascontiguousarray(array.transpose(v.perm)) if v.perm else array

    scaled = em.op("Mul", [x, em.const(f"{node.name}.scale", laid_out(node.params["scale"]))], f"{node.name}_scale")
    shift = em.const(f"{node.name}.shift", laid_out(node.params["shift"]))
    return Value(em.op("Add", [scaled, shift], node.name), v.rank, v.perm)


def _scale_shift(em: Emitter, node: Node, v: Value, x: str, axis: int, scale: np.ndarray, shift: np.ndarray) -> Value:
    shape = [1] * v.rank
    shape[axis] = -1
    y, scaled, shifted = x, bool(np.any(scale != 1)), bool(np.any(shift))
    if scaled or not shifted:
        y = em.op("Mul", [x, em.const(f"{node.name}.scale", scale.reshape(shape))],
                  f"{node.name}_scale" if shifted else node.name)
    if shifted:
        y = em.op("Add", [y, em.const(f"{node.name}.shift", shift.reshape(shape))], node.name)
    return Value(y, v.rank, v.perm)


@emitter("LayerNorm")
def _layer_norm(em: Emitter, node: Node) -> Value:
    """ONNX LayerNormalization where the normalized axis is physically last; else spelled out
    with ReduceMean over that axis, so an NCHW tensor needs no transpose."""
    v = em.value(node.inputs[0])
    x = em.ensure(v, v.perm)
    axis, eps = v.axis(node.attrs["axis"]), float(node.attrs["epsilon"])
    gamma, beta = node.params["gamma"], node.params["beta"]
    if axis == v.rank - 1:
        names = [em.const(f"{node.name}.gamma", gamma), em.const(f"{node.name}.beta", beta)]
        return Value(em.op("LayerNormalization", [x, *names], node.name, axis=-1, epsilon=eps), v.rank, v.perm)
    shape = [1] * v.rank
    shape[axis] = -1
    mean = _reduce_mean(em, x, axis, f"{node.name}_mean")
    centred = em.op("Sub", [x, mean], f"{node.name}_centred")
    var = _reduce_mean(em, em.op("Mul", [centred, centred], f"{node.name}_sq"), axis, f"{node.name}_var")
    std = em.op("Sqrt", [em.op("Add", [var, _scalar(em, eps)], f"{node.name}_var_eps")], f"{node.name}_std")
    normed = em.op("Div", [centred, std], f"{node.name}_normed")
    scaled = em.op("Mul", [normed, em.const(f"{node.name}.gamma", gamma.reshape(shape))], f"{node.name}_scaled")
    return Value(em.op("Add", [scaled, em.const(f"{node.name}.beta", beta.reshape(shape))], node.name), v.rank, v.perm)


def _reduce_mean(em: Emitter, x: str, axis: int, base: str) -> str:
    """ReduceMean over one axis, keeping it; opset 18 moved ``axes`` from attribute to input."""
    if em.opset >= 18:
        return em.op("ReduceMean", [x, em.const("axes", np.asarray([axis], np.int64))], base, keepdims=1)
    return em.op("ReduceMean", [x], base, axes=[axis], keepdims=1)


@emitter("Flatten")
def _flatten(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    src = node.inputs[0].shape
    if v.rank == 2:
        return v
    users_are_dense = node.users and all(u.op == "Dense" for u in node.users) and not node.is_output
    if v.perm is not None and v.rows is None and users_are_dense and None not in src[1:]:
        # Flatten the physical layout as is and let the Dense weights absorb the order.
        order = np.arange(int(np.prod(src[1:]))).reshape(src[1:]).transpose([p - 1 for p in v.perm[1:]])
        out = em.op("Flatten", [v.name], node.name, axis=1)
        return Value(out, 2, None, tuple(int(i) for i in order.ravel()))
    return Value(em.op("Flatten", [em.ensure(v, None)], node.name, axis=1), 2)


def _squeeze_layout(em: Emitter, node: Node, v: Value) -> Value | None:
    """A Reshape that only adds or drops size-1 axes keeps the data's physical order.

    Conv1D runs as a Conv2D on (N, 1, L, C): its result, NCHW inside, reshaped back to (N, L, C)
    stays (N, C, L) physically, and the next Conv1D's reshape to (N, 1, L, C) is NCHW again, so a
    chain of 1-D convolutions needs no transposes inside.
    """
    src, dst = node.inputs[0].shape, node.shape
    if v.perm is None or v.rows is not None or sum(d is None for d in dst[1:]) > 1:
        return None
    src_axes = [a for a, d in enumerate(src) if d != 1]
    dst_axes = [a for a, d in enumerate(dst) if d != 1]
    if [src[a] for a in src_axes] != [dst[a] for a in dst_axes] or sum(d is None for d in src[1:]) > 1:
        return None
    to_dst = dict(zip(src_axes, dst_axes))
    order = [to_dst[a] for a in v.perm if src[a] != 1]  # dst's non-1 axes in physical order
    rank = len(dst)
    perm = channels_first(rank) or tuple(range(rank))
    if [a for a in perm if dst[a] != 1] != order:
        return None
    dims = [0] + [-1 if dst[a] is None else dst[a] for a in perm[1:]]
    out = em.op("Reshape", [v.name, em.const(f"{node.name}.shape", np.asarray(dims, np.int64))], node.name)
    return Value(out, rank, _canon(perm))


@emitter("Reshape")
def _reshape(em: Emitter, node: Node) -> Value:
    src = node.inputs[0].shape
    if tuple(node.shape) == tuple(src) and sum(d is None for d in src[1:]) <= 1:
        # A 1-D layer's way back to (N, L, C) merged with the next one's way to (N, 1, L, C).
        return em.value(node.inputs[0])
    kept = _squeeze_layout(em, node, em.value(node.inputs[0]))
    if kept is not None:
        return kept
    x = em.ensure(em.value(node.inputs[0]), None)
    shape = em.const(f"{node.name}.shape", np.asarray([0, *node.attrs["shape"]], np.int64))
    return Value(em.op("Reshape", [x, shape], node.name), len(node.shape))


@emitter("Transpose")
def _transpose(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    if v.rows is not None:
        v = Value(em.ensure(v, v.perm), v.rank, v.perm)
    q = node.attrs["perm"]
    q_inv = [q.index(i) for i in range(len(q))]
    p = v.perm or tuple(range(v.rank))
    return Value(v.name, v.rank, _canon([q_inv[i] for i in p]))


@emitter("Input")
def _input(em: Emitter, node: Node) -> Value:
    rank = len(node.shape)
    em._used.add(node.name)
    if rank == 4 and em.input_layout == "nchw":
        return Value(node.name, 4, NCHW)
    return Value(node.name, rank)


@emitter("Identity", "Dropout")
def _identity(em: Emitter, node: Node) -> Value:
    return em.value(node.inputs[0])


@emitter("Concat")
def _concat(em: Emitter, node: Node) -> Value:
    first = em.value(node.inputs[0])
    perm = first.perm
    xs = [em.ensure(em.value(i), perm) for i in node.inputs]
    axis = Value("", first.rank, perm).axis(node.attrs["axis"])
    return Value(em.op("Concat", xs, node.name, axis=axis), first.rank, perm)


# -- emitters: element-wise ------------------------------------------------------------------------
def _unary(op_type: str, **fixed: Any) -> EmitFn:
    def emit(em: Emitter, node: Node) -> Value:
        v = em.value(node.inputs[0])
        attrs = {**fixed, **{k: float(val) for k, val in node.attrs.items() if k in ("alpha", "beta")}}
        return Value(em.op(op_type, [v.name], node.name, **attrs), v.rank, v.perm, v.rows)

    return emit


for _op in ("Relu", "Sigmoid", "Tanh", "Softplus", "Softsign", "Exp", "HardSigmoid", "LeakyRelu", "Elu"):
    emitter(_op)(_unary(_op))
emitter("Selu")(_unary("Selu", alpha=1.6732632423543772, gamma=1.0507009873554805))


@emitter("Clip")
def _clip(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    act = {"op": "Clip", "min": node.attrs["min"], "max": node.attrs["max"]}
    return Value(emit_activation(em, v.name, act, node.name), v.rank, v.perm, v.rows)


@emitter("PRelu")
def _prelu(em: Emitter, node: Node) -> Value:
    """Keras's PReLU: a learned slope per element of the sample shape (1 on shared axes),
    laid out like the tensor it multiplies."""
    v = em.value(node.inputs[0])
    slope = node.params["alpha"].reshape(1, *node.params["alpha"].shape)
    if v.perm is not None:
        slope = slope.transpose(v.perm)
    if v.rows is not None:
        slope = slope[:, np.asarray(v.rows)] if slope.shape[1] > 1 else slope
    out = em.op("PRelu", [v.name, em.const(f"{node.name}.slope", np.ascontiguousarray(slope))], node.name)
    return Value(out, v.rank, v.perm, v.rows)


@emitter("Softmax", "LogSoftmax")
def _softmax(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    return Value(em.op(node.op, [v.name], node.name, axis=v.axis(node.attrs["axis"])), v.rank, v.perm, v.rows)


def _scalar(em: Emitter, value: float) -> str:
    return em.const("const", np.asarray(value, np.float32))


@emitter("Swish")
def _swish(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    gate = em.op("Sigmoid", [v.name], f"{node.name}_gate")
    return Value(em.op("Mul", [v.name, gate], node.name), v.rank, v.perm, v.rows)


@emitter("Mish")
def _mish(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    t = em.op("Tanh", [em.op("Softplus", [v.name], f"{node.name}_sp")], f"{node.name}_tanh")
    return Value(em.op("Mul", [v.name, t], node.name), v.rank, v.perm, v.rows)


@emitter("Gelu")
def _gelu(em: Emitter, node: Node) -> Value:
    v = em.value(node.inputs[0])
    if em.opset >= 20:
        approx = "tanh" if node.attrs.get("approximate") else "none"
        return Value(em.op("Gelu", [v.name], node.name, approximate=approx), v.rank, v.perm, v.rows)
    x = v.name
    if node.attrs.get("approximate"):  # 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
        cube = em.op("Mul", [em.op("Mul", [x, x], f"{node.name}_sq"), x], f"{node.name}_cube")
        inner = em.op("Add", [x, em.op("Mul", [cube, _scalar(em, 0.044715)], f"{node.name}_c")], f"{node.name}_in")
        arg = em.op("Mul", [inner, _scalar(em, float(np.sqrt(2 / np.pi)))], f"{node.name}_arg")
        core = em.op("Tanh", [arg], f"{node.name}_tanh")
    else:  # 0.5x(1 + erf(x/√2))
        core = em.op("Erf", [em.op("Mul", [x, _scalar(em, float(1 / np.sqrt(2)))], f"{node.name}_arg")], f"{node.name}_erf")
    one_plus = em.op("Add", [core, _scalar(em, 1.0)], f"{node.name}_1p")
    half_x = em.op("Mul", [x, _scalar(em, 0.5)], f"{node.name}_hx")
    return Value(em.op("Mul", [half_x, one_plus], node.name), v.rank, v.perm, v.rows)


@emitter("KerasRelu")
def _keras_relu(em: Emitter, node: Node) -> Value:
    """x if x > t else 0, clipped to [0, max], minus slope·relu(t − x) — Keras's ReLU exactly."""
    v = em.value(node.inputs[0])
    a, x = node.attrs, v.name
    t = _scalar(em, a["threshold"])
    above = em.op("Greater", [x, t], f"{node.name}_above")
    y = em.op("Where", [above, x, _scalar(em, 0.0)], f"{node.name}_pos")
    if a.get("max_value") is not None:
        y = em.op("Clip", [y, _scalar(em, 0.0), _scalar(em, a["max_value"])], f"{node.name}_clip")
    if a.get("negative_slope"):
        neg = em.op("Relu", [em.op("Sub", [t, x], f"{node.name}_tx")], f"{node.name}_neg")
        scaled = em.op("Mul", [neg, _scalar(em, a["negative_slope"])], f"{node.name}_negs")
        y = em.op("Sub", [y, scaled], f"{node.name}_out")
    return Value(y, v.rank, v.perm, v.rows)


def _common_layout(em: Emitter, node: Node) -> tuple[list[str], Value]:
    vals = [em.value(i) for i in node.inputs]
    rank = max(v.rank for v in vals)
    same_rank = all(v.rank == rank for v in vals)
    ref = next(v for v in vals if v.rank == rank)
    perm = ref.perm if same_rank else None
    rows = ref.rows if same_rank and all(v.rows == ref.rows for v in vals) else None
    if rows is not None:
        return [v.name for v in vals], Value("", rank, perm, rows)
    return [em.ensure(v, perm if v.rank == rank else None) for v in vals], Value("", rank, perm)


def _nary(op_type: str, variadic: bool) -> EmitFn:
    def emit(em: Emitter, node: Node) -> Value:
        xs, layout = _common_layout(em, node)
        if variadic:
            out = em.op(op_type, xs, node.name)
        else:
            out = xs[0]
            for i, x in enumerate(xs[1:], 1):
                out = em.op(op_type, [out, x], node.name if i == len(xs) - 1 else f"{node.name}_{i}")
        return Value(out, layout.rank, layout.perm, layout.rows)

    return emit


emitter("Add")(_nary("Add", False))
emitter("Sub")(_nary("Sub", False))
emitter("Mul")(_nary("Mul", False))
emitter("Max")(_nary("Max", True))
emitter("Min")(_nary("Min", True))
emitter("Mean")(_nary("Mean", True))


@emitter("FusedAddRelu")
def _add_relu(em: Emitter, node: Node) -> Value:
    xs, layout = _common_layout(em, node)
    out = xs[0]
    for i, x in enumerate(xs[1:], 1):
        out = em.op("Add", [out, x], f"{node.name}_add{i}")
    return Value(em.op("Relu", [out], node.name), layout.rank, layout.perm, layout.rows)
