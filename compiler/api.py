"""The driver: ``compile``, ``load``, ``save``, and every option ``cli.py compile`` has.

``compile`` is the whole job: read the model (:mod:`frontends`), give its inputs static shapes,
run the pass pipeline (:mod:`passes`), lower to ONNX (the backend), then fix the batch size and
lower the precision (INT8 calibration runs the model, so that step is the runtime's). It returns a
:class:`CompiledModel` holding the ONNX model with everything the command line reports about it,
so a Python caller can do all that ``cli.py compile`` does::

    model = compiler.compile("m.json", input_shapes=["1,224,224,3"], preprocess="auto",
                             int8=True, calibrate="photos/")
    compiler.save(model, "m.onnx")

This is the one module that imports the layers above the core. It imports them as modules and
looks their functions up when it is called: importing any of those layers first starts this
package (their core lives in it, and ``compiler/__init__.py`` imports this driver) while the
layer is still half initialised, and a name taken from a half-initialised module at import time
would not exist yet.
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import onnx

import frontends
import passes
import runtime

from . import io
from .backend import DEFAULT_OPSET, Lowered, finish, lower, to_onnx
from .errors import CompileError
from .ir import Graph
from .limits import DEFAULT_LIMITS, Limits
from .pipeline import PassFn, PassReport, appended_defaults, parse_spec, run_passes
from .static_shapes import fix_batch, fix_input_shapes, parse_input_shapes

__all__ = [
    "DEFAULT_OPSET",
    "PREPROCESS_BY_FAMILY",
    "PREPROCESS_MODES",
    "CompileOptions",
    "CompiledModel",
    "compile",
    "default_passes",
    "export_json",
    "load",
    "parse_model_args",
    "parse_passes",
    "save",
    "to_onnx",
]

#: The input scalings a model can record for ``run`` (see :mod:`runtime.preprocess`).
PREPROCESS_MODES = ("none", "caffe", "tf", "torch")

#: Keras applications and the preprocessing their weights expect (keras.applications.*.preprocess_input);
#: ``preprocess="auto"`` looks the model's name up here.
PREPROCESS_BY_FAMILY = {
    "resnet50": "caffe",
    "resnet101": "caffe",
    "resnet152": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "resnet50v2": "tf",
    "resnet101v2": "tf",
    "resnet152v2": "tf",
    "mobilenet": "tf",
    "mobilenetv2": "tf",
    "mobilenet_1.00_224": "tf",
    "mobilenetv2_1.00_224": "tf",
    "inception_v3": "tf",
    "xception": "tf",
    "inception_resnet_v2": "tf",
    "nasnet": "tf",
    "densenet121": "torch",
    "densenet169": "torch",
    "densenet201": "torch",
}

#: Text forms the options take exactly as the command line spells them, so a script can pass the same
#: strings: ``passes="-fuse_conv"``, ``args=["classes=10"]``, ``input_shapes=["image:1,224,224,3"]``.
ModelArgs = Mapping[str, Any] | Sequence[str]
InputShapes = Mapping[str, Sequence[int]] | Sequence[str] | Sequence[int]


@dataclass(frozen=True)
class CompileOptions:
    """Everything a compile can be told; ``compiler.compile`` takes these as keyword arguments too.

    Impossible combinations (``int8`` without ``calibrate``, ``int8`` with ``fp16``, a lower
    precision for the ``ort`` target) are refused when the options are made, before any work.
    """

    #: Weights file (.weights.h5 or legacy .h5) for a description without its own.
    weights: str | os.PathLike[str] | None = None
    #: Seed of the random weights drawn when there are none.
    seed: int = 0
    #: For a .py model file: the model variable or the function that builds it.
    entry: str | None = None
    #: For a .py model file: keyword arguments of that function, or ``key=value`` texts (Python literals).
    args: ModelArgs | None = None
    #: A .py file defining the custom layer classes a JSON/.keras/.h5 model names (Keras's
    #: ``custom_objects=``); it runs as a model file does, and those layers are traced.
    custom_objects: str | os.PathLike[str] | None = None
    #: Ceilings on what the description may make the compiler allocate.
    limits: Limits = DEFAULT_LIMITS
    #: The pipeline: names or pass functions, or the CLI's ``--passes`` text; None is the default one.
    passes: str | Sequence[str | PassFn] | None = None
    #: Static input shapes in Keras order: ``{"image": (1, 224, 224, 3)}``, ``(1, 224, 224, 3)`` for a
    #: single input, or ``--input-shape`` texts such as ``["1,224,224,3"]``.
    input_shapes: InputShapes | None = None
    #: Layout of 4-D inputs: ``nhwc`` (as in Keras) or ``nchw``.
    input_layout: str = "nhwc"
    #: Image preprocessing recorded for ``run``: one of :data:`PREPROCESS_MODES`, or ``auto`` (by model name).
    preprocess: str = "none"
    #: ``onnx`` (portable), ``ort`` (onnxruntime CPU, optimized ahead of time) or ``tensorrt``.
    target: str = "onnx"
    #: ONNX opset, 17 or newer.
    opset: int = DEFAULT_OPSET
    #: Quantize to INT8 (onnxruntime static quantization, QDQ, per-channel), calibrated on ``calibrate``.
    int8: bool = False
    #: Folder (or glob) of images to calibrate INT8 ranges on.
    calibrate: str | os.PathLike[str] | None = None
    #: Calibration images used at most.
    calibration_size: int = 64
    #: Convert weights and math to FP16 (for GPUs); inputs and outputs stay FP32.
    fp16: bool = False
    #: Lint the graph after every pass (how the tests catch a pass that breaks an invariant).
    check: bool = False

    def __post_init__(self) -> None:
        if self.int8 != (self.calibrate is not None):
            raise CompileError("--int8 and --calibrate DIR go together", hint="e.g. --int8 --calibrate photos/")
        if self.int8 and self.fp16:
            raise CompileError("choose one of --int8 and --fp16")
        if (self.int8 or self.fp16) and self.target == "ort":
            raise CompileError(
                "--int8/--fp16 need --target onnx or tensorrt",
                hint="the ort target's fused CPU ops are not quantizable; onnxruntime fuses a QDQ model itself",
            )


@dataclass
class CompiledModel:
    """An ONNX model with what produced it, and what a report about it says.

    The model is kept as a weight-free structure plus the weight arrays (:class:`Lowered`) and
    only assembled into one ``onnx.ModelProto`` when :attr:`onnx` is asked for; :func:`save`
    streams it to disk without ever holding a serialized copy of the weights. Steps that rewrite
    the assembled model (the ``ort`` target, static batch sizes, INT8/FP16) leave only ``proto``.
    """

    lowered: Lowered | None
    graph: Graph
    report: list[PassReport]
    layers_in: int
    random_weights: bool
    seconds: dict[str, float] = field(default_factory=dict)
    proto: onnx.ModelProto | None = None
    #: The options it was compiled with.
    options: CompileOptions = field(default_factory=CompileOptions)
    #: The model's name as the description gives it.
    name: str = ""
    #: The preprocessing recorded in the model, and whether ``auto`` found it from the model's name.
    preprocess: str = "none"
    preprocess_guessed: bool = False
    #: What the frontend noted while reading (skipped ``load_weights`` calls, Keras 1 spellings, …).
    notes: str = ""
    #: The static input shapes given, per input name, batch included.
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: One line per step after lowering: static shapes, INT8 calibration and its agreement, FP16.
    precision: list[str] = field(default_factory=list)

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

    def op_counts(self) -> Counter[str]:
        """ONNX nodes per op type."""
        return Counter(n.op_type for n in self.skeleton.graph.node)

    def chunks(self) -> Iterator[bytes | memoryview]:
        if self.lowered is not None:
            yield from self.lowered.chunks()
        else:
            yield self.onnx.SerializeToString(deterministic=True)

    def serialize(self) -> bytes:
        return b"".join(self.chunks())


def load(
    source: str | os.PathLike[str],
    weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    limits: Limits = DEFAULT_LIMITS,
    entry: str | None = None,
    args: dict[str, Any] | None = None,
    custom_objects: str | os.PathLike[str] | None = None,
) -> Graph:
    """Read a model description (Keras JSON, .keras, .h5, Keras code in .py) into the IR, before any pass.

    ``limits`` bounds what the description may make us allocate (see :mod:`compiler.limits`);
    ``entry`` and ``args`` pick and configure the model-building function of a ``.py`` file;
    ``custom_objects`` is the ``.py`` file defining the custom classes a saved model names.
    """
    return frontends.load(
        source, weights=weights, seed=seed, limits=limits, entry=entry, args=args, custom_objects=custom_objects
    )


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


def parse_model_args(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``key=value`` texts (``--arg``) → keyword arguments: Python literals where they parse, else strings."""
    # lazy: the .py frontend's stand-in modules cost ~0.14 s of every start-up, `compile x.json` included
    import frontends.keras_python

    return frontends.keras_python.parse_args(list(pairs) if pairs is not None else None)


def export_json(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    entry: str | None = None,
    args: ModelArgs | None = None,
) -> Path:
    """Write a .py model as Keras 3 JSON (``MODEL.json`` beside it by default), loadable with
    ``keras.models.model_from_json``."""
    source = Path(source)
    target = Path(output) if output is not None else source.with_suffix(".json")
    import frontends.keras_python  # lazy, as in parse_model_args

    return frontends.keras_python.export_json(source, target, entry=entry, args=_model_args(args))


def compile(  # noqa: A001  (the verb users expect)
    source: str | os.PathLike[str] | Graph | Any,
    options: CompileOptions | None = None,
    *,
    on_note: Callable[[str], None] | None = None,
    **settings: Any,
) -> CompiledModel:
    """Compile a Keras model description (or an IR graph) to an optimized ONNX model.

    ``source`` may also be a live ``keras.Model`` (Keras 3 or tf.keras): it is serialized in memory,
    config and weights, as saving it would, so a notebook needs no files.

    ``settings`` are :class:`CompileOptions` fields (``weights=``, ``passes=``, ``int8=`` …) and
    override those of ``options``. ``on_note`` hears the frontend's notes as soon as the model is
    read, before the long part of compiling (they are on the result's ``notes`` as well).
    """
    options = replace(options, **settings) if options is not None else CompileOptions(**settings)
    # Compiling builds many long-lived objects and frees few; the cyclic collector would rescan
    # them over and over (superlinear in model size), so it waits until the end.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(source, options, on_note)
    finally:
        if was_enabled:
            gc.enable()


def _compile(
    source: str | os.PathLike[str] | Graph | Any, options: CompileOptions, on_note: Callable[[str], None] | None
) -> CompiledModel:
    times: dict[str, float] = {}
    start = time.perf_counter()
    pipeline = _pipeline(options.passes)  # a bad --passes text fails before the model is read
    if isinstance(source, Graph):
        graph = source
    elif frontends.is_keras_model(source):  # a live keras.Model (a notebook's), serialized in memory
        graph = frontends.load_live(source, seed=options.seed, limits=options.limits)
    else:
        graph = load(
            source,
            weights=options.weights,
            seed=options.seed,
            limits=options.limits,
            entry=options.entry,
            args=_model_args(options.args),
            custom_objects=options.custom_objects,
        )
    notes = graph.meta.get("kerascc.notes", "")
    if notes and on_note is not None:
        on_note(notes)
    preprocess, guessed = _preprocess(options.preprocess, graph.name)
    fixed = fix_input_shapes(graph, _input_shapes(options.input_shapes)) if options.input_shapes else {}
    if preprocess not in PREPROCESS_MODES:
        raise CompileError(
            f"unknown preprocessing '{preprocess}'", hint="one of " + ", ".join(("auto", *PREPROCESS_MODES))
        )
    if options.opset < DEFAULT_OPSET:
        raise CompileError(f"opset {options.opset} is too old", hint=f"use {DEFAULT_OPSET} or newer")
    times["load"] = time.perf_counter() - start
    layers_in = len({n.layer for n in graph.nodes()})
    random = graph.meta.get("kerascc.weights", "").startswith("random")
    name = graph.name

    start = time.perf_counter()
    graph, reports = run_passes(graph, pipeline, check=options.check)
    times["passes"] = time.perf_counter() - start

    start = time.perf_counter()
    finished = finish(
        lower(
            graph,
            opset=options.opset,
            input_layout=options.input_layout,
            target=options.target,
            metadata={"kerascc.preprocess": preprocess},
        ),
        options.target,
    )
    lowered: Lowered | None
    lowered, proto = (finished, None) if isinstance(finished, Lowered) else (None, finished)
    times["lower"] = time.perf_counter() - start

    lines: list[str] = []
    if fixed or options.int8 or options.fp16:
        start = time.perf_counter()
        proto = proto if proto is not None else lowered.to_proto()
        lowered = None
        if fixed:
            proto = fix_batch(proto, fixed)
            lines.append("static input shapes " + ", ".join(f"{k} {list(v)}" for k, v in fixed.items()))
        if options.int8 or options.fp16:
            lowered_precision = runtime.lower_precision(
                proto,
                int8=options.int8,
                calibrate=options.calibrate,
                calibration_size=options.calibration_size,
                fp16=options.fp16,
            )
            proto = lowered_precision.model
            lines += lowered_precision.lines
        times["precision"] = time.perf_counter() - start
    return CompiledModel(
        lowered,
        graph,
        reports,
        layers_in,
        random,
        times,
        proto,
        options=options,
        name=name,
        preprocess=preprocess,
        preprocess_guessed=guessed,
        notes=notes,
        input_shapes=fixed,
        precision=lines,
    )


def _pipeline(spec: str | Sequence[str | PassFn] | None) -> Sequence[str | PassFn]:
    if spec is None:
        return default_passes()
    return parse_passes(spec) if isinstance(spec, str) else spec


def _model_args(args: ModelArgs | None) -> dict[str, Any] | None:
    if args is None or isinstance(args, Mapping):
        return None if args is None else dict(args)
    return parse_model_args([args] if isinstance(args, str) else args)


def _preprocess(mode: str, model_name: str) -> tuple[str, bool]:
    """The mode to record, and whether it was guessed from the Keras application's name."""
    if mode != "auto":
        return mode, False
    guess = PREPROCESS_BY_FAMILY.get(model_name.lower())
    return (guess, True) if guess is not None else ("none", False)


def _input_shapes(shapes: InputShapes) -> dict[str | None, tuple[int, ...]]:
    """Any accepted form → {input name, or None for the only input: dims}, checked as ``--input-shape`` is."""
    if isinstance(shapes, str):
        specs: list[str] = [shapes]
    elif isinstance(shapes, Mapping):
        specs = [f"{name}:{','.join(str(d) for d in dims)}" for name, dims in shapes.items()]
    elif all(isinstance(s, str) for s in shapes):
        specs = list(shapes)  # type: ignore[arg-type]
    else:
        specs = [",".join(str(d) for d in shapes)]
    return parse_input_shapes(specs)


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
        # both renamed only once both are whole: a failure keeps the old model and its old weights
        io.save_together([(data, side), (proto.SerializeToString(deterministic=True), path)])
        return Path(path)
    if isinstance(model, CompiledModel):
        if lowered is None and model.onnx.ByteSize() > io.EXTERNAL_DATA_BYTES:
            raise CompileError(
                "the model is too big for one ONNX file with this target",
                file=path,
                hint="use --target onnx, which keeps big weights in a side file",
            )
        chunks = model.chunks()
    else:
        chunks = [model.SerializeToString(deterministic=True)]
    written = io.save_bytes(chunks, path)
    side.unlink(missing_ok=True)  # weights of an earlier, bigger model of the same name
    return written
