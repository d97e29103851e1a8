"""IR → ONNX model: run the lowerings, give the graph its inputs, outputs and metadata, and check it.

The ONNX checker runs with full shape inference on every model, without the weight bytes, so a
lowering that writes an invalid graph fails here, at compile time, not in a user's runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata as package_metadata

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import CompileError
from ..ir import Graph
from . import lowerings  # noqa: F401  (registers every lowering)
from .emitter import NCHW, Emitter
from .serialize import Lowered
from .targets import get_target

DEFAULT_OPSET = 17
INPUT_LAYOUTS = ("nhwc", "nchw")


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
) -> Lowered:
    """Lower the IR to an ONNX model whose weights stay numpy arrays until written."""
    if input_layout not in INPUT_LAYOUTS:
        raise CompileError(f"input layout must be 'nhwc' or 'nchw', not '{input_layout}'")
    em = Emitter(graph, opset, input_layout, target)
    em.run()

    inputs = []
    for node in graph.inputs:
        shape = list(node.shape)
        if input_layout == "nchw" and len(shape) == 4:
            shape = [shape[p] for p in NCHW]
        inputs.append(helper.make_tensor_value_info(node.name, _elem_type(node.dtype), _dims(shape, node.name)))

    outputs = []
    tensors = [em.ensure(em.value(node), None) for node in graph.outputs]
    producers = {out for n in em.nodes for out in n.output}
    renamed: dict[str, str] = {}
    input_names = {node.name for node in graph.inputs}
    for name, node, tensor in zip(graph.output_names, graph.outputs, tensors, strict=False):
        if name in input_names and name != tensor:  # an output layer named like an input: SSA needs two names
            name = em.fresh(name)
        if name == tensor and tensor in input_names:
            pass  # the model returns its input unchanged (keras.Model(x, x)): the input is the output
        elif tensor in producers and tensor not in renamed and not em.is_reserved(tensor):
            renamed[tensor] = name
        else:
            source = renamed.get(tensor, tensor)
            em.nodes.append(helper.make_node("Identity", [source], [name], name=f"{name}_identity"))
        outputs.append(helper.make_tensor_value_info(name, _elem_type(node.dtype), _dims(node.shape, name)))
    if renamed:
        for n in em.nodes:
            n.input[:] = [renamed.get(i, i) for i in n.input]
            n.output[:] = [renamed.get(o, o) for o in n.output]

    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in sorted(em.domains)]
    _validate(em.nodes, em.initializers, graph.name, inputs, outputs, opsets)
    model = helper.make_model(
        helper.make_graph(em.nodes, graph.name, inputs, outputs),
        opset_imports=opsets,
        producer_name="kerascc",
        producer_version=_version(),
        ir_version=8,
    )
    fixed = {"kerascc.input_layout": input_layout, "kerascc.target": em.target.name}
    for key, val in sorted({**graph.meta, **(metadata or {}), **fixed}.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(val)
    return Lowered(model, em.initializers)


def finish(lowered: Lowered, target: str) -> Lowered | onnx.ModelProto:
    """The target's last stage: the model as lowered, or a whole model replacing it (the ``ort``
    target's ahead-of-time onnxruntime optimization)."""
    return get_target(target).finish(lowered)


def _validate(
    nodes: list[onnx.NodeProto],
    initializers: list[tuple[str, np.ndarray]],
    name: str,
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    opsets: list[onnx.OperatorSetIdProto],
) -> None:
    """Run the ONNX checker with full shape inference on the model without its weight bytes.

    Initializers become typed graph inputs, so the check sees every op, type and shape but does
    not copy hundreds of megabytes through the checker.
    """
    weights = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
        for n, a in initializers
    ]
    skeleton = helper.make_model(
        helper.make_graph(nodes, name, inputs + weights, outputs), opset_imports=opsets, ir_version=8
    )
    try:
        onnx.checker.check_model(skeleton, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise CompileError(f"internal error: generated ONNX does not validate: {str(exc).splitlines()[0]}") from exc


def _elem_type(dtype: str) -> int:
    """The ONNX element type of an IR dtype: Keras's input dtypes (int32 ids, uint8 pixels) are kept."""
    return TensorProto.FLOAT if dtype == "float32" else helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _version() -> str:
    try:
        return package_metadata.version("kerascc")
    except Exception:  # not installed as a package: running from a checkout
        return "0.1.0"
