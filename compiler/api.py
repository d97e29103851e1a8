"""The public entry points: ``compile``, ``load``, ``save``.

``compile`` is the whole job — read, run the pass pipeline, lower to ONNX — and returns a
:class:`CompiledModel` that keeps the final IR and the pass reports next to the ONNX proto.
"""
from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import onnx

import passes

from . import io
from .errors import CompileError
from .ir import Graph
from .limits import DEFAULT_LIMITS, Limits
from .onnx_backend import DEFAULT_OPSET, Lowered, lower
from .pipeline import PassFn, PassReport, appended_defaults, parse_spec, run_passes

PREPROCESS_MODES = ("none", "caffe", "tf", "torch")


@dataclass
class CompiledModel:
    """An ONNX model with what produced it.

    The model is kept as a weight-free structure plus the weight arrays (:class:`Lowered`) and
    only assembled into one ``onnx.ModelProto`` when :attr:`onnx` is asked for; :func:`save`
    streams it to disk without ever holding a serialized copy of the weights.
    """

    lowered: Lowered | None
    graph: Graph
    report: list[PassReport]
    layers_in: int
    random_weights: bool
    seconds: dict[str, float] = field(default_factory=dict)
    proto: onnx.ModelProto | None = None

    @property
    def onnx(self) -> onnx.ModelProto:
        if self.proto is None:
            assert self.lowered is not None
            self.proto = self.lowered.to_proto()
        return self.proto

    @property
    def skeleton(self) -> onnx.ModelProto:
        """The model's structure (nodes, inputs, outputs, metadata) without the weight bytes."""
        return self.lowered.skeleton if self.lowered is not None else self.onnx

    @property
    def metadata(self) -> dict[str, str]:
        return {p.key: p.value for p in self.skeleton.metadata_props}

    def chunks(self) -> Iterator[bytes | memoryview]:
        if self.lowered is not None:
            yield from self.lowered.chunks()
        else:
            yield self.onnx.SerializeToString(deterministic=True)

    def serialize(self) -> bytes:
        return b"".join(self.chunks())


def load(source: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None, seed: int = 0,
         limits: Limits = DEFAULT_LIMITS, entry: str | None = None, args: dict[str, Any] | None = None) -> Graph:
    """Read a model description (Keras JSON, .keras, .h5, Keras code in .py) into the IR, before any pass.

    ``limits`` bounds what the description may make us allocate (see :mod:`compiler.limits`);
    ``entry`` and ``args`` pick and configure the model-building function of a ``.py`` file.
    """
    import frontends

    return frontends.load(source, weights=weights, seed=seed, limits=limits, entry=entry, args=args)


def default_passes() -> list[str]:
    """The standard pipeline, in order (a fresh list: extend it freely).

    The built-in list :data:`passes.DEFAULT_PIPELINE`, then any pass registered with
    ``default=True``, in the order they were registered.
    """
    builtin = list(passes.DEFAULT_PIPELINE)
    return builtin + [name for name in appended_defaults() if name not in builtin]


def parse_passes(spec: str | None) -> list[str]:
    """A pipeline from the CLI's ``--passes`` text: ``a,b`` exactly, ``-c`` drop, ``+d`` add,
    ``default`` for :func:`default_passes` (see :func:`compiler.pipeline.parse_spec`)."""
    return parse_spec(spec, default_passes())


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
    limits: Limits = DEFAULT_LIMITS,
) -> CompiledModel:
    """Compile a Keras model description (or an IR graph) to an optimized ONNX model."""
    # Compiling builds many long-lived objects and frees few; the cyclic collector would rescan
    # them over and over (superlinear in model size), so it waits until the end.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(source, weights=weights, seed=seed, passes=passes, input_layout=input_layout,
                        preprocess=preprocess, target=target, opset=opset, check=check, limits=limits)
    finally:
        if was_enabled:
            gc.enable()


def _compile(source: str | os.PathLike[str] | Graph, *, weights: str | os.PathLike[str] | None, seed: int,
             passes: Sequence[str | PassFn] | None, input_layout: str, preprocess: str, target: str, opset: int,
             check: bool, limits: Limits) -> CompiledModel:
    if preprocess not in PREPROCESS_MODES:
        raise CompileError(f"unknown preprocessing '{preprocess}'", hint="one of " + ", ".join(PREPROCESS_MODES))
    if opset < DEFAULT_OPSET:
        raise CompileError(f"opset {opset} is too old", hint=f"use {DEFAULT_OPSET} or newer")
    times: dict[str, float] = {}
    start = time.perf_counter()
    graph = source if isinstance(source, Graph) else load(source, weights=weights, seed=seed, limits=limits)
    times["load"] = time.perf_counter() - start
    layers_in = len({n.layer for n in graph.nodes()})
    random = graph.meta.get("kerascc.weights", "").startswith("random")

    start = time.perf_counter()
    graph, reports = run_passes(graph, default_passes() if passes is None else passes, check=check)
    times["passes"] = time.perf_counter() - start

    start = time.perf_counter()
    lowered = lower(graph, opset=opset, input_layout=input_layout, target=target,
                    metadata={"kerascc.preprocess": preprocess})
    proto = None
    if target == "ort":
        from runtime.aot import optimize_for_cpu

        proto, lowered = optimize_for_cpu(lowered.to_proto()), None
    times["lower"] = time.perf_counter() - start
    return CompiledModel(lowered, graph, reports, layers_in, random, times, proto)


def save(model: CompiledModel | onnx.ModelProto, path: str | os.PathLike[str], external: bool | None = None) -> Path:
    """Write the ONNX file atomically: a reader never sees half a model.

    Weights go to ``<file>.data`` beside it when ``external`` is true, or, by default, when they
    are too big for one protobuf message; that file is complete before the model is renamed into
    place, so the model never refers to missing weights.
    """
    lowered = model.lowered if isinstance(model, CompiledModel) else None
    side = io.external_data_path(path)
    if lowered is not None and (external or (external is None and lowered.weight_bytes > io.EXTERNAL_DATA_BYTES)):
        proto, data = lowered.with_external_data(side.name)
        io.save_bytes(data, side)
        return io.save_bytes(proto.SerializeToString(deterministic=True), path)
    if isinstance(model, CompiledModel):
        if lowered is None and model.onnx.ByteSize() > io.EXTERNAL_DATA_BYTES:
            raise CompileError("the model is too big for one ONNX file with this target",
                               file=path, hint="use --target onnx, which keeps big weights in a side file")
        chunks = model.chunks()
    else:
        chunks = [model.SerializeToString(deterministic=True)]
    written = io.save_bytes(chunks, path)
    side.unlink(missing_ok=True)  # weights of an earlier, bigger model of the same name
    return written

