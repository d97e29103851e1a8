"""The public entry points: ``compile``, ``load``, ``save``.

``compile`` is the whole job — read, run the pass pipeline, lower to ONNX — and returns a
:class:`CompiledModel` that keeps the final IR and the pass reports next to the ONNX proto.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import onnx

from .errors import CompileError
from .ir import Graph
from .onnx_backend import DEFAULT_OPSET, to_onnx
from .pipeline import PassFn, PassReport, default_passes, run_passes

PREPROCESS_MODES = ("none", "caffe", "tf", "torch")


@dataclass
class CompiledModel:
    """An ONNX model with what produced it."""

    onnx: onnx.ModelProto
    graph: Graph
    report: list[PassReport]
    layers_in: int
    random_weights: bool
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def metadata(self) -> dict[str, str]:
        return {p.key: p.value for p in self.onnx.metadata_props}

    def serialize(self) -> bytes:
        return self.onnx.SerializeToString(deterministic=True)


def load(source: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None, seed: int = 0) -> Graph:
    """Read a model description (Keras JSON, .keras, .h5) into the IR, before any pass."""
    import frontends

    return frontends.load(source, weights=weights, seed=seed)


def compile(  # noqa: A001  (the verb users expect)
    source: str | os.PathLike[str] | Graph,
    *,
    weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    passes: Sequence[str | PassFn] | None = None,
    input_layout: str = "nhwc",
    preprocess: str = "none",
    target: str = "onnx",
    opset: int = DEFAULT_OPSET,
    check: bool = False,
) -> CompiledModel:
    """Compile a Keras model description (or an IR graph) to an optimized ONNX model."""
    if preprocess not in PREPROCESS_MODES:
        raise CompileError(f"unknown preprocessing '{preprocess}'", hint="one of " + ", ".join(PREPROCESS_MODES))
    if opset < DEFAULT_OPSET:
        raise CompileError(f"opset {opset} is too old", hint=f"use {DEFAULT_OPSET} or newer")
    times: dict[str, float] = {}
    start = time.perf_counter()
    graph = source if isinstance(source, Graph) else load(source, weights=weights, seed=seed)
    times["load"] = time.perf_counter() - start
    layers_in = len({n.layer for n in graph.nodes()})
    random = graph.meta.get("kerascc.weights", "").startswith("random")

    start = time.perf_counter()
    graph, reports = run_passes(graph, default_passes() if passes is None else passes, check=check)
    times["passes"] = time.perf_counter() - start

    start = time.perf_counter()
    model = to_onnx(graph, opset=opset, input_layout=input_layout, target=target,
                    metadata={"kerascc.preprocess": preprocess})
    if target == "ort":
        from runtime.aot import optimize_for_cpu

        model = optimize_for_cpu(model)
    times["lower"] = time.perf_counter() - start
    return CompiledModel(model, graph, reports, layers_in, random, times)


def save(model: CompiledModel | onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    """Write the ONNX file atomically: a reader never sees half a model."""
    data = model.serialize() if isinstance(model, CompiledModel) else model.SerializeToString(deterministic=True)
    return save_bytes(data, path)


def save_bytes(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename, so nothing half-written remains."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(tmp, _file_mode(path))  # mkstemp's 0600 would make the model private
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CompileError(f"cannot write output ({exc.strerror or exc})", file=path) from None
    return path


def _file_mode(path: Path) -> int:
    """The mode an ordinary write would give: the existing file's, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
