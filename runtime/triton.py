"""Export a compiled model as a Triton Inference Server model repository.

One machine running ``cli.py run`` stops being enough at some point; the answer is Triton, not a
home-made server. Triton loads ONNX models with its onnxruntime backend from a repository laid
out as::

    REPO/NAME/config.pbtxt      # the model configuration (protobuf text format)
    REPO/NAME/1/model.onnx      # version 1 of the model

The configuration follows Triton's ``model_config.proto``: inputs and outputs with Triton data
types and dimensions (the batch dimension left out, because ``max_batch_size > 0`` tells Triton
to add it; -1 marks a dynamic dimension), dynamic batching with preferred batch sizes (powers of
two up to the maximum, so concurrent requests are merged into the batch sizes an engine is best
at), an instance group (how many copies of the model, on GPU or CPU), and for GPUs the execution
accelerator: TensorRT (with FP16 and an engine cache if asked) or plain CUDA, onnxruntime
backend's default on GPU instances.

The text is written here without Triton's libraries, so exporting needs nothing extra; the tests
parse it with ``tritonclient``'s ``ModelConfig`` protobuf to prove it is valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from compiler.io import external_data_path, save_bytes

from .errors import RuntimeInputError

KINDS = ("gpu", "cpu")
ACCELERATORS = ("tensorrt", "cuda", "none")

#: ONNX element types → Triton's DataType names (model_config.proto).
TRITON_TYPES = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.BFLOAT16: "TYPE_BF16",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.INT16: "TYPE_INT16",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
    onnx.TensorProto.UINT16: "TYPE_UINT16",
    onnx.TensorProto.UINT32: "TYPE_UINT32",
    onnx.TensorProto.UINT64: "TYPE_UINT64",
    onnx.TensorProto.BOOL: "TYPE_BOOL",
    onnx.TensorProto.STRING: "TYPE_STRING",
}


@dataclass
class TensorConfig:
    """One input or output as Triton sees it."""

    name: str
    data_type: str
    dims: list[int]


@dataclass
class TritonConfig:
    """Everything that goes into config.pbtxt."""

    name: str
    max_batch_size: int
    inputs: list[TensorConfig]
    outputs: list[TensorConfig]
    kind: str = "gpu"
    instances: int = 1
    accelerator: str = "tensorrt"
    fp16: bool = False
    preferred_batch_sizes: list[int] = field(default_factory=list)
    max_queue_delay_us: int = 100
    workspace_gb: float | None = None

    def to_pbtxt(self) -> str:
        """The configuration in protobuf text format, fields in model_config.proto's order."""
        return "\n".join(_pbtxt_lines(self)) + "\n"


def _pbtxt_lines(cfg: TritonConfig) -> Iterator[str]:
    yield f"name: {_quote(cfg.name)}"
    yield 'backend: "onnxruntime"'
    yield f"max_batch_size: {cfg.max_batch_size}"
    for key, tensors in (("input", cfg.inputs), ("output", cfg.outputs)):
        for t in tensors:
            yield f"{key} {{"
            yield f"  name: {_quote(t.name)}"
            yield f"  data_type: {t.data_type}"
            yield f"  dims: [ {', '.join(str(d) for d in t.dims)} ]"
            yield "}"
    accelerator = _accelerator_lines(cfg)
    if accelerator:
        yield "optimization {"
        yield "  execution_accelerators {"
        yield from (f"    {line}" for line in accelerator)
        yield "  }"
        yield "}"
    if cfg.max_batch_size > 0:
        yield "dynamic_batching {"
        if cfg.preferred_batch_sizes:
            yield f"  preferred_batch_size: [ {', '.join(str(b) for b in cfg.preferred_batch_sizes)} ]"
        yield f"  max_queue_delay_microseconds: {cfg.max_queue_delay_us}"
        yield "}"
    yield "instance_group {"
    yield f"  count: {cfg.instances}"
    yield f"  kind: KIND_{cfg.kind.upper()}"
    yield "}"


def _accelerator_lines(cfg: TritonConfig) -> list[str]:
    """TensorRT on GPU instances, with precision, workspace and an engine cache kept with the
    model; CUDA needs no entry (it is the backend's default for GPU instances)."""
    if cfg.kind != "gpu" or cfg.accelerator != "tensorrt":
        return []
    params = {
        "precision_mode": "FP16" if cfg.fp16 else "FP32",
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": "/tmp/triton-trt-cache",
    }
    if cfg.workspace_gb is not None:
        params["max_workspace_size_bytes"] = str(int(cfg.workspace_gb * (1 << 30)))
    lines = ["gpu_execution_accelerator {", '  name: "tensorrt"']
    lines += [f"  parameters {{ key: {_quote(k)} value: {_quote(v)} }}" for k, v in params.items()]
    return [*lines, "}"]


def _quote(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid protobuf text-format string


def tensor_configs(values: list[onnx.ValueInfoProto], batched: bool, file: str) -> list[TensorConfig]:
    """Triton tensors from ONNX value infos, the batch dimension dropped when Triton batches."""
    tensors = []
    for v in values:
        ttype = v.type.tensor_type
        if ttype.elem_type not in TRITON_TYPES:
            raise RuntimeInputError(f"tensor '{v.name}' has an element type Triton cannot serve", file=file)
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in ttype.shape.dim]
        if batched:
            if not dims:
                raise RuntimeInputError(
                    f"tensor '{v.name}' is a scalar and has no batch dimension",
                    file=file,
                    hint="export with --max-batch-size 0",
                )
            if dims[0] != -1:
                raise RuntimeInputError(
                    f"tensor '{v.name}' has a fixed batch dimension of {dims[0]}",
                    file=file,
                    hint="export with --max-batch-size 0, or compile without a fixed batch",
                )
            dims = dims[1:]
        tensors.append(TensorConfig(v.name, TRITON_TYPES[ttype.elem_type], dims or [1]))
    return tensors


def preferred_sizes(max_batch_size: int) -> list[int]:
    """Powers of two up to the maximum, and the maximum itself."""
    sizes = [1 << i for i in range(max_batch_size.bit_length()) if (1 << i) <= max_batch_size]
    if max_batch_size not in sizes:
        sizes.append(max_batch_size)
    return [s for s in sizes if s > 1] or [max_batch_size]


def check_name(name: str) -> None:
    """Refuse a model name that is not one plain folder name inside the repository.

    The name becomes ``REPO/NAME``: ``..``, ``.``, an empty name or one with a separator would
    put the model (and overwrite files) outside the repository, or on the repository itself.
    """
    if name in (".", "..") or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise RuntimeInputError(
            f"model name {name!r} must be one folder name of letters, digits, '.', '-' or '_', and not '.' or '..'"
        )


def _read_model(path: Path) -> onnx.ModelProto:
    """The model's structure (not its weights); anything but a regular ONNX file is one error."""
    if not path.exists():
        raise RuntimeInputError("no such model file", file=str(path))
    if not path.is_file():
        raise RuntimeInputError("is not a regular file, so not an ONNX model", file=str(path))
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise RuntimeInputError(f"not a readable ONNX file ({type(exc).__name__})", file=str(path)) from exc
    # protobuf reads an empty file (and some other bytes) as an empty message without complaint
    if proto.ir_version < 1 or not proto.opset_import or not proto.graph.output:
        what = "an empty file" if path.stat().st_size == 0 else "an ONNX model with no graph outputs"
        raise RuntimeInputError(
            f"not a readable ONNX file ({what})", file=str(path), hint="export a model written by kerascc compile"
        )
    return proto


def model_name(path: Path) -> str:
    """A Triton model name from a file name: letters, digits, '-' and '_' only."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem).strip("_")
    return name or "model"


def build_config(
    model: str | Path,
    *,
    name: str | None = None,
    max_batch_size: int = 8,
    instances: int = 1,
    kind: str = "gpu",
    accelerator: str = "tensorrt",
    fp16: bool = False,
    workspace_gb: float | None = None,
) -> TritonConfig:
    """Read the model's interface and settle the configuration, checking every choice."""
    path = Path(model)
    if kind not in KINDS:
        raise RuntimeInputError(f"unknown instance kind '{kind}'", hint=f"choose one of: {', '.join(KINDS)}")
    if accelerator not in ACCELERATORS:
        raise RuntimeInputError(
            f"unknown accelerator '{accelerator}'", hint=f"choose one of: {', '.join(ACCELERATORS)}"
        )
    if kind == "cpu" and accelerator != "none":
        accelerator = "none"  # CPU instances have no GPU accelerator to configure
    if max_batch_size < 0 or instances < 1:
        raise RuntimeInputError("--max-batch-size must be 0 or more and --instances at least 1")
    if fp16 and accelerator != "tensorrt":
        raise RuntimeInputError(
            "--fp16 applies to the TensorRT accelerator",
            hint="use --accelerator tensorrt, or compile with --fp16 instead",
        )
    if name is not None:
        check_name(name)
    proto = _read_model(path)
    initializers = {i.name for i in proto.graph.initializer}
    graph_inputs = [v for v in proto.graph.input if v.name not in initializers]
    batched = max_batch_size > 0
    return TritonConfig(
        name=name or model_name(path),
        max_batch_size=max_batch_size,
        inputs=tensor_configs(graph_inputs, batched, str(path)),
        outputs=tensor_configs(list(proto.graph.output), batched, str(path)),
        kind=kind,
        instances=instances,
        accelerator=accelerator,
        fp16=fp16,
        preferred_batch_sizes=preferred_sizes(max_batch_size) if batched else [],
        workspace_gb=workspace_gb,
    )


def export(model: str | Path, repository: str | Path, config: TritonConfig) -> Path:
    """Write ``REPO/NAME/1/model.onnx`` then ``REPO/NAME/config.pbtxt``, each atomically.

    The model goes first, so a Triton server polling the repository never finds a configuration
    without its model. Returns the model's folder.
    """
    check_name(config.name)
    folder = Path(repository) / config.name
    side = external_data_path(model)
    if side.exists() and not side.is_file():
        raise RuntimeInputError("is not a regular file, so not the model's weights", file=str(side))
    if side.exists():  # weights kept beside a big model: the .onnx refers to them by this name
        save_bytes(_file_chunks(side), folder / "1" / side.name)
    save_bytes(_file_chunks(Path(model)), folder / "1" / "model.onnx")
    save_bytes(config.to_pbtxt().encode(), folder / "config.pbtxt")
    return folder


def _file_chunks(path: Path, size: int = 1 << 22) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(size):
            yield chunk
