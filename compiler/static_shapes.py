"""Static input shapes (``compile --input-shape``), for engines that want every size known.

TensorRT builds its fastest engines for fixed shapes, and Keras models saved with
``Input((None, None, 3))`` leave height and width open. Fixing them happens in two places:

* in the **IR, before any pass**: the Input nodes get the given height, width and channels and
  every node's shape is inferred again, so passes such as ``resolve_padding`` see real sizes
  (TensorFlow's 'same' padding depends on them) and the ONNX graph carries concrete dimensions;
* in the **ONNX model, after lowering**: the IR keeps the batch dimension open by design, so a
  fixed batch is written into the graph inputs and propagated to the outputs with ONNX's shape
  inference.

Shapes are given as Keras sees them (NHWC for images): ``1,224,224,3`` for a single-input model,
or ``NAME:1,224,224,3`` per input.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from compiler.errors import CompileError
from compiler.ir import Graph

Shapes = dict[str | None, tuple[int, ...]]


def parse_input_shapes(specs: Sequence[str]) -> Shapes:
    """``["1,224,224,3"]`` or ``["image:1,224,224,3", …]`` → {name or None: dims}."""
    shapes: Shapes = {}
    for spec in specs:
        name, _, dims_text = spec.rpartition(":")
        try:
            dims = tuple(int(d) for d in dims_text.replace("x", ",").split(",") if d.strip())
        except ValueError:
            dims = ()
        if not dims or any(d < 1 for d in dims):
            raise CompileError(
                f"--input-shape '{spec}' is not a list of positive sizes",
                hint="e.g. --input-shape 1,224,224,3 or --input-shape image:1,224,224,3",
            )
        key = name or None
        if key in shapes:
            raise CompileError(f"--input-shape given twice for {name or 'the input'}")
        shapes[key] = dims
    if None in shapes and len(shapes) > 1:
        raise CompileError(
            "--input-shape without a name is only for single-input models",
            hint="name every input: --input-shape NAME:1,224,224,3",
        )
    return shapes


def _match(graph: Graph, shapes: Shapes) -> dict[str, tuple[int, ...]]:
    inputs = graph.inputs
    names = [n.name for n in inputs]
    if None in shapes:
        if len(inputs) != 1:
            raise CompileError(
                f"the model has {len(inputs)} inputs ({', '.join(names)})",
                hint="name each one: --input-shape NAME:1,224,224,3",
            )
        return {names[0]: shapes[None]}
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise CompileError(f"--input-shape names no input '{unknown[0]}'", hint=f"inputs: {', '.join(names)}")
    return {str(k): v for k, v in shapes.items()}


def fix_input_shapes(graph: Graph, shapes: Shapes) -> dict[str, tuple[int, ...]]:
    """Give the IR's inputs static sizes (batch left open) and infer every shape again.

    Returns the full shapes per input name, batch included, for :func:`fix_batch`.
    """
    wanted = _match(graph, shapes)
    for node in graph.inputs:
        dims = wanted.get(node.name)
        if dims is None:
            continue
        current = tuple(node.shape or ())
        if len(dims) != len(current):
            raise CompileError(
                f"--input-shape gives {len(dims)} dimensions, input '{node.name}' has {len(current)} ({_fmt(current)})",
                layer=node.layer,
            )
        for given, have in zip(dims[1:], current[1:], strict=True):
            if have is not None and have != given:
                raise CompileError(
                    f"--input-shape {_fmt(dims)} conflicts with input '{node.name}' of shape {_fmt(current)}",
                    layer=node.layer,
                    hint="only open (None) dimensions can be fixed",
                )
        node.shape = (None, *dims[1:])
    graph.infer_shapes()
    return wanted


def fix_batch(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> onnx.ModelProto:
    """Write the batch size into the ONNX inputs and let shape inference carry it to the outputs."""
    for value in model.graph.input:
        dims = shapes.get(value.name)
        if dims is None:
            continue
        first = value.type.tensor_type.shape.dim[0]
        first.Clear()
        first.dim_value = dims[0]
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {v.name: v for v in inferred.graph.output}
    for value in model.graph.output:
        shape = known[value.name].type.tensor_type.shape
        if all(d.HasField("dim_value") for d in shape.dim):
            value.type.tensor_type.shape.CopyFrom(shape)
    return model


def _fmt(dims: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ")"
