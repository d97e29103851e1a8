"""Inference engines behind one session interface: onnxruntime and OpenVINO, and their precisions.

``run``, ``bench`` and ``predict`` ask :func:`open_session` for a session and read back, from the
:class:`~runtime.providers.SessionInfo` it returns, which engine, provider and precision actually
run. They never test an engine's name: each engine is an :class:`Engine` object that says what it
can run (:meth:`Engine.supports`) and opens sessions that offer the calls of
:class:`runtime.batch.Session` (``get_inputs``, ``get_outputs``, ``get_modelmeta``, ``run``).

Choosing, in one place (:func:`choose`):

* ``--engine auto`` on a machine whose onnxruntime offers a GPU provider (CUDA, TensorRT) is
  onnxruntime, with its TensorRT → CUDA → CPU order. On a CPU it is the first engine of
  :data:`CPU_ORDER` for the precision (:data:`PLAIN_STACK_ORDER` for a plain stack of
  convolutions where it has a row) that is installed and can run it; OpenVINO missing means
  onnxruntime, with a note saying how to get the other engine.
* ``--precision fp32`` (the default) is exact: both engines are told to compute in fp32
  (OpenVINO's CPU plugin would otherwise pick bf16 by itself on CPUs that have it).
* ``bf16`` needs native bf16 (AVX512_BF16 or AMX, from ``/proc/cpuinfo``'s flags): elsewhere it
  would be emulated, slower than fp32 and still inexact, so it is refused. onnxruntime's CPU
  provider has no bf16 convolution kernels, so it refuses bf16 and ``auto`` routes it to OpenVINO.
* ``int8`` runs a QDQ model written by ``compile --int8``; both engines run one.
* ``auto`` is int8 for a QDQ model, bf16 where the CPU has it natively and OpenVINO is installed,
  fp32 otherwise.

The engines' own packages are imported when a session is opened (lazy imports of heavy optional
packages), so ``compile`` never pays for them and a missing one is a one-line message.
"""

from __future__ import annotations

import importlib.util
import mmap
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compiler.io import check_input_file

from .errors import RuntimeInputError
from .providers import (
    CPU,
    GPU_PROVIDERS,
    GpuSettings,
    SessionInfo,
    create_session,
    import_onnxruntime,
    refuse_keras_source,
    resolve,
)

ONNXRUNTIME = "onnxruntime"
OPENVINO = "openvino"
AUTO = "auto"
FP32, BF16, INT8 = "fp32", "bf16", "int8"
PRECISIONS = (FP32, BF16, INT8)

#: On a CPU, the engines ``auto`` tries per precision, fastest first; keys: precision, then whether
#: the CPU has AVX-512. benchmarks/cpu_engines.py measured every row (README "Engines and
#: precisions"). AVX2 only: onnxruntime first in fp32 (OpenVINO 1.83x at batch 1, median of four
#: models) and in int8 (6 of 8 cells). AVX-512 (with VNNI and bf16): int8, onnxruntime in 5 and 7
#: of 8 cells in two runs; fp32, onnxruntime on depthwise models (OpenVINO at 1.16-1.38 on
#: MobileNetV2 and EfficientNetB0) and on DenseNet121's concatenations (1.04-1.14), but see
#: :data:`PLAIN_STACK_ORDER`. bf16 runs on OpenVINO alone.
CPU_ORDER: dict[tuple[str, bool], list[str]] = {
    (FP32, False): [ONNXRUNTIME, OPENVINO],
    (FP32, True): [ONNXRUNTIME, OPENVINO],
    (INT8, False): [ONNXRUNTIME, OPENVINO],
    (INT8, True): [ONNXRUNTIME, OPENVINO],
    (BF16, False): [OPENVINO],
    (BF16, True): [OPENVINO],
}
#: Where a plain stack of convolutions (no grouped convolution, no concatenation:
#: :func:`has_grouped_conv_or_concat`) runs faster on another order: fp32 on AVX-512, where
#: OpenVINO took 0.89-0.96 of onnxruntime's latency on ResNet50. The graph is read only for these.
PLAIN_STACK_ORDER: dict[tuple[str, bool], list[str]] = {
    (FP32, True): [OPENVINO, ONNXRUNTIME],
}

INSTALL_OPENVINO_HINT = "pip install openvino (or pip install 'kerascc[cpu]', which brings both engines)"
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CpuFeatures:
    """The instruction-set flags that decide precisions and engine order."""

    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """bf16 dot products in hardware (AVX512_BF16 or AMX): bf16 is then faster than fp32."""
        return any(f in self.flags for f in _BF16_FLAGS)

    @property
    def avx512(self) -> bool:
        return "avx512f" in self.flags

    @property
    def vnni(self) -> bool:
        """8-bit dot products in one instruction (AVX512_VNNI or AVX_VNNI): where int8 pays most."""
        return "avx512_vnni" in self.flags or "avx_vnni" in self.flags


def cpu_features(cpuinfo: str | Path = "/proc/cpuinfo") -> CpuFeatures:
    """This CPU's flags, from the kernel's ``/proc/cpuinfo`` (empty where it is unreadable: no
    feature is then assumed, so bf16 is refused rather than emulated)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return CpuFeatures(frozenset())
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return CpuFeatures(frozenset(value.split()))
    return CpuFeatures(frozenset())


def is_qdq(model: str | Path | bytes) -> bool:
    """Whether the model holds QuantizeLinear/DequantizeLinear nodes (``compile --int8``'s output).

    Decided before any engine loads it, because the engine to pick depends on it. An op type is
    stored in the file as its plain name, so a search of the bytes finds it without parsing a
    100 MB protobuf (a weight tensor holding those exact 16 bytes by chance is not a real risk).
    """
    needle = b"DequantizeLinear"
    if isinstance(model, bytes):
        return needle in model
    with open(model, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return False
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return mm.find(needle) >= 0


def has_grouped_conv_or_concat(model: str | Path | bytes) -> bool:
    """Whether the model has a Conv with ``group`` > 1 (depthwise or grouped) or a Concat.

    Reads the graph without external data; a file onnx cannot parse has neither (the engine that
    opens it then says what is wrong with it).
    """
    import onnx  # the runtime imports onnx only where it reads a graph

    try:
        proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model, load_external_data=False)
    except Exception:  # noqa: BLE001  (a damaged file: the engine reports it)
        return False
    return any(
        node.op_type == "Concat"
        or (node.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in node.attribute))
        for node in proto.graph.node
    )


@dataclass(frozen=True)
class SessionRequest:
    """Everything an engine is told when it opens a session."""

    provider: str | None = None
    precision: str = FP32
    optimization: str = "all"
    threads: int | None = None
    settings: GpuSettings | None = None


class Engine:
    """One inference engine: what it can run and how it opens a session."""

    name: str = ""
    package: str = ""

    def installed(self) -> bool:
        """Whether the engine's package can be imported (found, not imported: that is slow)."""
        return importlib.util.find_spec(self.package) is not None

    def supports(self, precision: str, cpu: CpuFeatures) -> str | None:
        """None when the engine can run ``precision`` here, else why not (one sentence)."""
        raise NotImplementedError

    def gpu_providers(self) -> list[str]:
        """GPU providers this engine's installation offers (none for a CPU-only engine)."""
        return []

    def open(self, model: str | Path | bytes, request: SessionRequest) -> SessionInfo:
        raise NotImplementedError


class OnnxRuntimeEngine(Engine):
    """onnxruntime: TensorRT → CUDA → CPU providers, fp32 and QDQ int8 (MLAS kernels on CPU)."""

    name = ONNXRUNTIME
    package = "onnxruntime"

    def supports(self, precision: str, cpu: CpuFeatures) -> str | None:
        if precision == BF16:
            return "onnxruntime's CPU provider has no bf16 convolution kernels"
        return None

    def gpu_providers(self) -> list[str]:
        if not self.installed():
            return []
        return [p for p in import_onnxruntime().get_available_providers() if p in GPU_PROVIDERS]

    def open(self, model: str | Path | bytes, request: SessionRequest) -> SessionInfo:
        info = create_session(model, request.provider, request.optimization, request.threads, settings=request.settings)
        info.engine = self.name
        info.precision = request.precision
        return info


class OpenVinoEngine(Engine):
    """OpenVINO's CPU plugin, reading the same .onnx file; precision set by its inference hint."""

    name = OPENVINO
    package = "openvino"

    def supports(self, precision: str, cpu: CpuFeatures) -> str | None:
        return None

    def open(self, model: str | Path | bytes, request: SessionRequest) -> SessionInfo:
        if request.provider is not None and resolve(request.provider) not in ("auto", CPU):
            raise RuntimeInputError(
                f"OpenVINO runs on the CPU here; provider '{request.provider}' belongs to onnxruntime",
                hint="use --engine onnxruntime for GPU providers",
            )
        try:
            import openvino  # heavy optional package: loaded only when a session is opened
        except ImportError as exc:
            raise RuntimeInputError("openvino is not installed", hint=INSTALL_OPENVINO_HINT) from exc
        name = "<in-memory model>" if isinstance(model, bytes) else str(model)
        core = openvino.Core()
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",  # one request at a time, all cores on it: run and bench's pattern
            # fp32 must be asked for: the CPU plugin picks bf16 on its own where the CPU has it
            "INFERENCE_PRECISION_HINT": "bf16" if request.precision == BF16 else "f32",
        }
        threads = request.threads
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            if isinstance(model, bytes):
                ov_model = core.read_model(model=model, weights=b"")
            else:
                ov_model = _read_onnx(openvino, str(model))
            compiled = core.compile_model(ov_model, "CPU", config)
        except RuntimeInputError:
            raise
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line text
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RuntimeInputError(f"OpenVINO cannot load the model: {first}", file=name) from exc
        used = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        precision = request.precision if request.precision == INT8 else (BF16 if "bf16" in used else FP32)

        def compile_for(shapes: dict[str, list[int]]) -> Any:
            fixed = ov_model.clone()
            fixed.reshape(shapes)
            return core.compile_model(fixed, "CPU", config)

        session = OpenVinoSession(ov_model, compiled, compile_for)
        return SessionInfo(
            session=session,
            requested=[CPU],
            active=[CPU],
            engine=self.name,
            precision=precision,
            notes=[],
            device="CPU",
        )


def _read_onnx(openvino: Any, path: str) -> Any:
    """The file through OpenVINO's ONNX reader alone: ``Core.read_model`` would try its other
    frameworks' readers (TensorFlow, PaddlePaddle, TFLite) on a file that is not ONNX."""
    from openvino.frontend import FrontEndManager

    reader = FrontEndManager().load_by_framework("onnx")
    if not reader.supported(path):
        raise RuntimeInputError(
            "is not an ONNX model", file=path, hint="run a .onnx file written by python cli.py compile"
        )
    return reader.convert(reader.load(path))


@dataclass
class _Port:
    """An input or output as onnxruntime describes it (name, shape with None/str for dynamic, type)."""

    name: str
    shape: list[Any]
    type: str


@dataclass
class _Meta:
    custom_metadata_map: dict[str, str] = field(default_factory=dict)


#: OpenVINO element types as onnxruntime names them (token ids, uint8 pixels and bool flags too)
_OV_TYPES = {
    "f32": "tensor(float)",
    "f16": "tensor(float16)",
    "f64": "tensor(double)",
    "i8": "tensor(int8)",
    "i16": "tensor(int16)",
    "i32": "tensor(int32)",
    "i64": "tensor(int64)",
    "u8": "tensor(uint8)",
    "u16": "tensor(uint16)",
    "u32": "tensor(uint32)",
    "u64": "tensor(uint64)",
    "boolean": "tensor(bool)",
}


class OpenVinoSession:
    """A compiled OpenVINO model offering onnxruntime's session calls (see ``runtime.batch.Session``).

    Dynamic dimensions read as strings (as onnxruntime reports symbolic ones), the ONNX file's
    metadata comes from OpenVINO's ``framework`` runtime info, and outputs are copied out of the
    request's buffers because the next inference overwrites them. A model with dynamic input
    dimensions is compiled again for the exact shapes of inputs that come a second time
    (:meth:`_for`), so a run's or a benchmark's fixed batch gets static-shape kernels.
    """

    #: At most this many fixed-shape compilations are kept beside the dynamic one.
    SPECIALIZED = 4

    def __init__(self, ov_model: Any, compiled: Any, compile_for: Callable[[dict[str, list[int]]], Any] | None = None):
        self._inputs = [self._port(p) for p in ov_model.inputs]
        self._outputs = [self._port(p) for p in ov_model.outputs]
        self._dynamic = self._ready(compiled)
        self._meta = _Meta(_framework_info(ov_model))
        dynamic = any(not isinstance(d, int) for p in self._inputs for d in p.shape)
        self._compile_for = compile_for if dynamic else None
        self._seen: set[tuple[Any, ...]] = set()
        self._static: dict[tuple[Any, ...], tuple[Any, dict[str, Any]] | None] = {}

    def _ready(self, compiled: Any) -> tuple[Any, dict[str, Any]]:
        return compiled.create_infer_request(), {p.name: compiled.output(p.name) for p in self._outputs}

    def _for(self, input_feed: dict[str, np.ndarray]) -> tuple[Any, dict[str, Any]]:
        """The request to run these inputs on: the fixed-shape compilation for their shapes once
        they come a second time (OpenVINO's kernels for static shapes run 3-12% faster on the
        four reference CNNs here; compiling one takes about 0.2 s), else the dynamic one."""
        if self._compile_for is None:
            return self._dynamic
        key = tuple((name, tuple(np.shape(a))) for name, a in sorted(input_feed.items()))
        if key in self._static:
            return self._static[key] or self._dynamic
        if key not in self._seen or len(self._static) >= self.SPECIALIZED:
            self._seen.add(key)
            return self._dynamic
        try:
            self._static[key] = self._ready(self._compile_for({name: list(shape) for name, shape in key}))
        except Exception:  # a model whose graph fixes some shapes: the dynamic compilation serves
            self._static[key] = None
        return self._static[key] or self._dynamic

    @staticmethod
    def _port(port: Any) -> _Port:
        dims = [d.get_length() if d.is_static else "?" for d in port.get_partial_shape()]
        kind = port.get_element_type().get_type_name()
        return _Port(port.get_any_name(), dims, _OV_TYPES.get(kind, f"tensor({kind})"))

    def get_inputs(self) -> list[_Port]:
        return list(self._inputs)

    def get_outputs(self) -> list[_Port]:
        return list(self._outputs)

    def get_modelmeta(self) -> _Meta:
        return self._meta

    def get_providers(self) -> list[str]:
        return [CPU]

    def run(self, output_names: list[str] | None, input_feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        request, ports = self._for(input_feed)
        results = request.infer(input_feed)
        names = output_names or [p.name for p in self._outputs]
        return [np.array(results[ports[n]], copy=True) for n in names]


def _framework_info(ov_model: Any) -> dict[str, str]:
    """The ONNX file's metadata_props, which OpenVINO keeps under the runtime info key 'framework'."""
    if not ov_model.has_rt_info(["framework"]):
        return {}
    info = ov_model.get_rt_info(["framework"]).astype(dict)
    return {str(k): v.astype(str) if hasattr(v, "astype") else str(v) for k, v in info.items()}


#: Every engine, by the name ``--engine`` takes.
ENGINES: dict[str, Engine] = {ONNXRUNTIME: OnnxRuntimeEngine(), OPENVINO: OpenVinoEngine()}


@dataclass(frozen=True)
class Choice:
    """The engine and precision a request resolved to, and what the user should be told."""

    engine: Engine
    precision: str
    notes: tuple[str, ...] = ()


def _check_names(engine: str, precision: str) -> None:
    if engine not in (AUTO, *ENGINES):
        raise RuntimeInputError(f"unknown engine '{engine}'", hint=f"choose one of: {', '.join([AUTO, *ENGINES])}")
    if precision not in (AUTO, *PRECISIONS):
        raise RuntimeInputError(
            f"unknown precision '{precision}'", hint=f"choose one of: {', '.join([*PRECISIONS, AUTO])}"
        )


def choose(
    engine: str,
    precision: str,
    *,
    qdq: bool,
    plain_stack: Callable[[], bool] | None = None,
    provider: str | None = None,
    cpu: CpuFeatures | None = None,
    engines: dict[str, Engine] | None = None,
) -> Choice:
    """Resolve ``--engine`` and ``--precision`` for a model (``qdq``: it is an int8 QDQ model;
    ``plain_stack``: asked only where :data:`PLAIN_STACK_ORDER` has a row, whether the model is a
    plain stack of convolutions).

    The rules are the module docstring's; every refusal is one sentence with what to do instead.
    """
    _check_names(engine, precision)
    provider = _explicit(provider)
    cpu = cpu if cpu is not None else cpu_features()
    engines = engines if engines is not None else ENGINES
    notes: list[str] = []
    if precision == AUTO:
        precision = INT8 if qdq else (BF16 if cpu.native_bf16 and engines[OPENVINO].installed() else FP32)
    elif precision == INT8 and not qdq:
        raise RuntimeInputError(
            "--precision int8 runs an int8 QDQ model, and this model is not one",
            hint="compile it with --int8 --calibrate PHOTOS/ first",
        )
    elif precision in (FP32, BF16) and qdq:
        notes.append(f"the model is an int8 QDQ model (compile --int8); it runs as int8, not {precision}")
        precision = INT8
    if precision == BF16 and not cpu.native_bf16:
        raise RuntimeInputError(
            "this CPU has no native bf16 (AVX512_BF16 or AMX): bf16 would be emulated, slower than fp32",
            hint="use --precision fp32 (exact) or int8",
        )
    wants_gpu = provider is not None and resolve(provider) in GPU_PROVIDERS
    if engine != AUTO:
        chosen = engines[engine]
        why = chosen.supports(precision, cpu)
        if why is not None:
            others = [n for n, e in engines.items() if e is not chosen and e.supports(precision, cpu) is None]
            hint = f"use --engine {others[0]} (or --engine auto)" if others else "use --precision fp32"
            raise RuntimeInputError(f"{why}; --precision {precision} is not available on it", hint=hint)
        if not chosen.installed():
            raise RuntimeInputError(f"{chosen.package} is not installed", hint=_install_hint(chosen))
        return Choice(chosen, precision, tuple(notes))
    onnxruntime = engines[ONNXRUNTIME]
    if wants_gpu or (provider is None and precision != BF16 and onnxruntime.gpu_providers()):
        return Choice(onnxruntime, precision, tuple(notes))  # GPUs: TensorRT → CUDA, as before
    order = CPU_ORDER[(precision, cpu.avx512)]
    plain_order = PLAIN_STACK_ORDER.get((precision, cpu.avx512))
    if plain_order is not None and plain_stack is not None and plain_stack():
        order = plain_order
    capable = [engines[n] for n in order if engines[n].supports(precision, cpu) is None]
    for candidate in capable:
        if candidate.installed():
            skipped = [e for e in capable if e is not candidate and order.index(e.name) < order.index(candidate.name)]
            notes += [
                f"{e.package} is not installed, so {candidate.name} runs the model ({INSTALL_OPENVINO_HINT})"
                for e in skipped
            ]
            return Choice(candidate, precision, tuple(notes))
    missing = capable[0] if capable else engines[OPENVINO]
    raise RuntimeInputError(
        f"--precision {precision} needs {missing.package}, which is not installed", hint=_install_hint(missing)
    )


def _explicit(provider: str | None) -> str | None:
    """A provider the user really asked for; None for none or ``auto``."""
    return None if provider is None or provider.strip().lower() == AUTO else provider


def _install_hint(engine: Engine) -> str:
    return INSTALL_OPENVINO_HINT if engine.name == OPENVINO else "pip install 'kerascc[cpu]'"


def open_session(
    model: str | Path | bytes,
    *,
    engine: str = AUTO,
    precision: str = FP32,
    provider: str | None = None,
    optimization: str = "all",
    threads: int | None = None,
    settings: GpuSettings | None = None,
    cpu: CpuFeatures | None = None,
) -> SessionInfo:
    """A session on the engine and precision the request resolves to (see :func:`choose`)."""
    _check_names(engine, precision)
    if not isinstance(model, bytes):
        check_input_file(model, "model file", missing_ok=False, error=RuntimeInputError)
        refuse_keras_source(model)
    provider = _explicit(provider)
    qdq = is_qdq(model)
    try:
        choice = choose(
            engine,
            precision,
            qdq=qdq,
            plain_stack=lambda: not has_grouped_conv_or_concat(model),
            provider=provider,
            cpu=cpu,
        )
    except RuntimeInputError as exc:  # the choice knows no file; the message names the model
        raise exc.with_context(file=None if isinstance(model, bytes) else model) from None
    request = SessionRequest(provider, choice.precision, optimization, threads, settings)
    info = choice.engine.open(model, request)
    info.notes = [*choice.notes, *info.notes]
    return info


@dataclass
class PrecisionCost:
    """How far a lower precision's outputs are from fp32's, over every input compared."""

    name: str
    max_rel_error: float = 0.0
    cosine_min: float = 1.0
    top1_agree: int = 0
    top1_total: int = 0
    samples: int = 0

    def add(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        """Fold in one batch: rows are samples."""
        ref = np.asarray(reference, np.float64).reshape(len(reference), -1)
        got = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
        scale = np.abs(ref).max(axis=1)
        err = np.abs(ref - got).max(axis=1) / np.where(scale > 0, scale, 1.0)
        self.max_rel_error = max(self.max_rel_error, float(err.max(initial=0.0)))
        norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
        cos = np.where(norms > 0, (ref * got).sum(axis=1) / np.where(norms > 0, norms, 1.0), 1.0)
        self.cosine_min = min(self.cosine_min, float(cos.min(initial=1.0)))
        if ref.shape[1] > 1:
            self.top1_agree += int((ref.argmax(axis=1) == got.argmax(axis=1)).sum())
            self.top1_total += len(ref)
        self.samples += len(ref)

    @property
    def top1_agreement(self) -> float | None:
        return self.top1_agree / self.top1_total if self.top1_total else None

    def line(self, precision: str) -> str:
        text = (
            f"{self.name}: {precision} vs onnxruntime fp32 on {self.samples} input{'s' if self.samples != 1 else ''}: "
            f"max rel error {self.max_rel_error:.2e}, cosine min {self.cosine_min:.6f}"
        )
        if self.top1_agreement is not None:
            text += f", top-1 agreement {self.top1_agreement:.1%}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": self.name,
            "samples": self.samples,
            "max_rel_error": self.max_rel_error,
            "cosine_min": self.cosine_min,
            "top1_agreement": self.top1_agreement,
        }


class PrecisionCheck:
    """Runs every batch also on an fp32 reference (onnxruntime CPU) and keeps the cost per output.

    The reference is the same file, or for an int8 QDQ model the fp32 model it was quantized
    from (``reference``), since a QDQ file no longer holds the fp32 weights.
    """

    def __init__(self, model: str | Path | bytes, reference: str | Path | None, output_names: Sequence[str]) -> None:
        source = reference if reference is not None else model
        if reference is None and is_qdq(model):
            raise RuntimeInputError(
                "the accuracy cost of an int8 QDQ model is measured against the fp32 model it came from",
                hint="add --reference MODEL_FP32.onnx (the same model compiled without --int8)",
            )
        self.session = open_session(source, engine=ONNXRUNTIME, precision=FP32, provider="cpu").session
        self.names = list(output_names)
        self.costs = {n: PrecisionCost(n) for n in self.names}

    def add(self, feeds: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
        """Compare one batch: ``outputs`` (by name, one row per sample) against the reference's."""
        try:
            ref = self.session.run(self.names, feeds)
        except Exception as exc:  # onnxruntime's pybind errors have no common public base
            raise RuntimeInputError(f"the fp32 reference model cannot run these inputs: {exc}") from exc
        for name, r in zip(self.names, ref, strict=True):
            got = outputs[name]
            self.costs[name].add(r[: len(got)], got)

    def lines(self, precision: str) -> list[str]:
        return [c.line(precision) for c in self.costs.values()]
