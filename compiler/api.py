"""The public entry points: ``compile``, ``load``, ``save``.

``compile`` is the whole job — read, run the pass pipeline, lower to ONNX — and returns a
:class:`CompiledModel` that keeps the final IR and the pass reports next to the ONNX proto.
"""
from __future__ import annotations

import gc
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import onnx

from .errors import CompileError
from .ir import Graph
from .limits import DEFAULT_LIMITS, Limits
from .backend import DEFAULT_OPSET, Lowered, finish, lower
from .pipeline import PassFn, PassReport, default_passes, run_passes

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
    finished = finish(lower(graph, opset=opset, input_layout=input_layout, target=target,
                            metadata={"kerascc.preprocess": preprocess}), target)
    lowered, proto = (finished, None) if isinstance(finished, Lowered) else (None, finished)
    times["lower"] = time.perf_counter() - start
    return CompiledModel(lowered, graph, reports, layers_in, random, times, proto)


#: Weights above this go to a side file: protobuf messages (so .onnx files) stop at 2 GiB.
EXTERNAL_DATA_BYTES = 1_900_000_000


def external_data_path(path: str | os.PathLike[str]) -> Path:
    """Where the weights of a model too big for one protobuf go: ``model.onnx.data`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".data")


def save(model: CompiledModel | onnx.ModelProto, path: str | os.PathLike[str], external: bool | None = None) -> Path:
    """Write the ONNX file atomically: a reader never sees half a model.

    Weights go to ``<file>.data`` beside it when ``external`` is true, or, by default, when they
    are too big for one protobuf message; that file is complete before the model is renamed into
    place, so the model never refers to missing weights.
    """
    lowered = model.lowered if isinstance(model, CompiledModel) else None
    side = external_data_path(path)
    if lowered is not None and (external or (external is None and lowered.weight_bytes > EXTERNAL_DATA_BYTES)):
        proto, data = lowered.with_external_data(side.name)
        save_bytes(data, side)
        return save_bytes(proto.SerializeToString(deterministic=True), path)
    if isinstance(model, CompiledModel):
        if lowered is None and model.onnx.ByteSize() > EXTERNAL_DATA_BYTES:
            raise CompileError("the model is too big for one ONNX file with this target",
                               file=path, hint="use --target onnx, which keeps big weights in a side file")
        chunks = model.chunks()
    else:
        chunks = [model.SerializeToString(deterministic=True)]
    written = save_bytes(chunks, path)
    side.unlink(missing_ok=True)  # weights of an earlier, bigger model of the same name
    return written


def save_bytes(data: bytes | Iterable[bytes | memoryview], path: str | os.PathLike[str]) -> Path:
    """Write ``data`` (bytes, or chunks of them) to ``path`` through a temporary file and a rename,
    so nothing half-written remains."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(tmp, _file_mode(path))  # mkstemp's 0600 would make the model private
            with os.fdopen(fd, "wb") as f:
                for chunk in [data] if isinstance(data, bytes | bytearray) else data:
                    f.write(chunk)
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
