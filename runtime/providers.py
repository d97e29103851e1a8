"""Choosing onnxruntime execution providers and creating sessions.

The preference is TensorRT, then CUDA, then CPU. Two facts shape this module:

* ``onnxruntime-gpu`` lists CUDA and TensorRT as *available* even where the CUDA, cuDNN or TensorRT
  libraries are missing; the session then quietly runs on CPU. So the providers that count are the
  ones a created session reports (``session.get_providers()``), and every requested GPU provider
  that did not make it is reported back as a fallback message.
* TensorRT compiles an engine the first time a model runs, which can take minutes. The engine and
  the timing cache are kept on disk so that only the first run pays for it.

``onnxruntime`` is imported only when a session is made, so that a missing install is reported as
one line saying which package to install rather than as an ImportError at import time.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from compiler.io import check_input_file, save_bytes

from .errors import RuntimeInputError

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

#: onnxruntime provider names, most preferred first.
PREFERENCE: list[str] = [TENSORRT, CUDA, CPU]

#: Short names accepted wherever a provider is requested; ``auto`` means "best available".
ALIASES: dict[str, str] = {"tensorrt": TENSORRT, "trt": TENSORRT, "cuda": CUDA, "cpu": CPU}
AUTO = "auto"

GPU_PROVIDERS = (TENSORRT, CUDA)
OPTIMIZATION_LEVELS = ("all", "extended", "basic", "disable")
CONV_ALGO_SEARCHES = ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")

INSTALL_CPU_HINT = "pip install 'kerascc[cpu]' (or 'kerascc[gpu]' for NVIDIA GPUs)"
INSTALL_GPU_HINT = "pip install 'kerascc[gpu]' to get onnxruntime-gpu, which replaces the CPU-only onnxruntime"
_FALLBACK_REASONS = {
    CUDA: "the CUDA 12 / cuDNN 9 libraries could not be loaded "
    "(pip install 'onnxruntime-gpu[cuda,cudnn]' provides them)",
    TENSORRT: "the TensorRT libraries could not be loaded (pip install tensorrt provides them)",
}


def short_name(provider: str) -> str:
    """The name a user types for ``provider`` ('cuda' for CUDAExecutionProvider)."""
    for alias, name in ALIASES.items():
        if name == provider:
            return alias
    return provider


def import_onnxruntime() -> Any:
    """Import onnxruntime, turning its absence into an error that says what to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeInputError("onnxruntime is not installed", hint=INSTALL_CPU_HINT) from exc
    # errors only, process-wide: its coloured warning lines (unused initializers, provider
    # fallbacks) are multi-line noise on stderr; fallbacks are reported by us in one line
    onnxruntime.set_default_logger_severity(3)
    return onnxruntime


def resolve(requested: str) -> str:
    """Map an alias or a full onnxruntime provider name to the full name, or ``auto``."""
    key = requested.strip()
    if key.lower() == AUTO:
        return AUTO
    if key.lower() in ALIASES:
        return ALIASES[key.lower()]
    if key in PREFERENCE:
        return key
    choices = ", ".join([AUTO, *ALIASES])
    raise RuntimeInputError(f"unknown provider '{requested}'", hint=f"choose one of: {choices}")


def provider_chain(requested: str | None, available: list[str] | None = None) -> list[str]:
    """The providers to hand to onnxruntime, best first, always ending in CPU.

    An explicit request keeps the providers below it in :data:`PREFERENCE` as fallbacks, because
    onnxruntime assigns each node to the first provider that supports it: TensorRT leaves the
    nodes it cannot compile to CUDA, CUDA leaves its gaps to CPU.
    """
    if available is None:
        available = import_onnxruntime().get_available_providers()
    wanted = resolve(requested or AUTO)
    if wanted != AUTO and wanted not in available:
        raise _unavailable(requested or wanted, available)
    start = 0 if wanted == AUTO else PREFERENCE.index(wanted)
    chain = [p for p in PREFERENCE[start:] if p in available and p != CPU]
    return [*chain, CPU]


def _unavailable(requested: str, available: list[str]) -> RuntimeInputError:
    offered = ", ".join(short_name(p) for p in PREFERENCE if p in available) or "none"
    return RuntimeInputError(
        f"provider '{requested}' is not available; this onnxruntime offers: {offered}",
        hint=INSTALL_GPU_HINT,
    )


def default_cache_dir() -> Path:
    """Where TensorRT engines are cached: ``$KERASCC_CACHE_DIR/trt``, else ``~/.cache/kerascc/trt``.

    The variable names the root of kerascc's cache rather than the TensorRT folder itself, so
    other caches can live beside it.
    """
    root = os.environ.get("KERASCC_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "kerascc"
    return base / "trt"


@dataclass(frozen=True)
class GpuSettings:
    """What the GPU providers are told, gathered in one place so ``run``, ``bench`` and the
    Python API pass the same knobs the same way.

    ``cache_dir`` holds TensorRT engines, the timing cache and (copied there, because that is
    where onnxruntime looks for it) the INT8 calibration table. ``workspace_gb`` caps the scratch
    memory TensorRT may use while choosing kernels; None keeps onnxruntime's default.
    """

    device_id: int = 0
    fp16: bool = False
    int8: bool = False
    int8_calibration_table: Path | None = None
    workspace_gb: float | None = None
    timing_cache: bool = True
    conv_algo_search: str = "EXHAUSTIVE"
    cache_dir: Path | None = None

    def trt_cache(self) -> Path:
        """The engine cache folder these settings use."""
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()


def provider_options(
    name: str,
    cache_dir: str | Path | None = None,
    *,
    fp16: bool = False,
    device_id: int = 0,
    conv_algo_search: str = "EXHAUSTIVE",
    int8: bool = False,
    int8_calibration_table: str | Path | None = None,
    workspace_gb: float | None = None,
    timing_cache: bool = True,
) -> dict[str, Any]:
    """onnxruntime options for one provider.

    fp16 is off by default because it changes results (top-5 can reorder); it is the caller's
    trade. ``EXHAUSTIVE`` cuDNN search costs time on the first run of each shape and pays off in
    repeated inference; ``HEURISTIC`` suits one-shot runs. INT8 needs either Q/DQ nodes in the
    model (``compile --int8``) or a calibration table; a table made by TensorRT itself is used
    natively, one written by onnxruntime's calibrator (``*.flatbuffers``) is translated.
    """
    if device_id < 0:
        raise RuntimeInputError(f"GPU device id must be 0 or more, got {device_id}")
    if name == TENSORRT:
        cache = str(cache_dir if cache_dir is not None else default_cache_dir())
        options: dict[str, Any] = {
            "device_id": device_id,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": timing_cache,
            "trt_timing_cache_path": cache,
            "trt_fp16_enable": fp16,
            "trt_int8_enable": int8,
        }
        if int8_calibration_table is not None:
            if not int8:
                raise RuntimeInputError("an INT8 calibration table was given without INT8", hint="add --trt-int8")
            table = Path(int8_calibration_table)
            options["trt_int8_calibration_table_name"] = table.name
            options["trt_int8_use_native_calibration_table"] = table.suffix != ".flatbuffers"
        if workspace_gb is not None:
            if workspace_gb <= 0:
                raise RuntimeInputError(f"TensorRT workspace must be positive, got {workspace_gb} GB")
            options["trt_max_workspace_size"] = int(workspace_gb * (1 << 30))
        return options
    if name == CUDA:
        if conv_algo_search not in CONV_ALGO_SEARCHES:
            raise RuntimeInputError(
                f"unknown cuDNN convolution search '{conv_algo_search}'",
                hint=f"choose one of: {', '.join(CONV_ALGO_SEARCHES)}",
            )
        return {"device_id": device_id, "cudnn_conv_algo_search": conv_algo_search}
    return {}


def settings_options(name: str, settings: GpuSettings) -> dict[str, Any]:
    """:func:`provider_options` for one provider from a :class:`GpuSettings`."""
    return provider_options(
        name,
        settings.trt_cache(),
        fp16=settings.fp16,
        device_id=settings.device_id,
        conv_algo_search=settings.conv_algo_search,
        int8=settings.int8,
        int8_calibration_table=settings.int8_calibration_table,
        workspace_gb=settings.workspace_gb,
        timing_cache=settings.timing_cache,
    )


def stage_calibration_table(settings: GpuSettings) -> None:
    """Copy the INT8 calibration table into the engine cache, the only place onnxruntime's
    TensorRT provider reads it from (it takes a file name, not a path)."""
    table = settings.int8_calibration_table
    if table is None:
        return
    table = Path(table)
    if not table.is_file():
        raise RuntimeInputError("no such INT8 calibration table", file=str(table))
    target = settings.trt_cache() / table.name
    if target.resolve() != table.resolve():
        save_bytes(table.read_bytes(), target)


@dataclass
class SessionInfo:
    """A session together with what was asked for and what onnxruntime actually chose."""

    session: Any
    requested: list[str]
    active: list[str]
    fallbacks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    engine: str = "onnxruntime"  # the engine that opened the session (runtime.engines)
    precision: str = "fp32"  # the precision it computes in, as the engine reports it
    #: where an engine other than onnxruntime runs it, in that engine's own words (OpenVINO's
    #: "CPU"): headers show this instead of the onnxruntime provider it stands in for
    device: str = ""

    @property
    def provider(self) -> str:
        """The provider that runs most of the model: the first one the session kept."""
        return self.active[0]

    @property
    def label(self) -> str:
        """Where the model runs, for headers: provider (or the engine's device), engine and precision."""
        return f"{self.device or self.active[0]} ({self.engine}, {self.precision})"


def fallback_messages(requested: list[str], active: list[str]) -> list[str]:
    """One message per requested GPU provider that the session dropped, with the likely cause."""
    landed = short_name(active[0]) if active else "nothing"
    return [
        f"{short_name(p)} was requested but onnxruntime fell back to {landed}: {_FALLBACK_REASONS[p]}"
        for p in requested
        if p in GPU_PROVIDERS and p not in active
    ]


def tensorrt_notes(active: list[str], cache_dir: Path) -> list[str]:
    """Warn that the first run builds an engine, so a slow start is not mistaken for a hang."""
    if TENSORRT not in active:
        return []
    return [
        (
            f"TensorRT builds an engine on the first run (this can take minutes) and caches it "
            f"in {cache_dir}; later runs reuse it"
        )
    ]


def usable_threads(threads: int | None) -> tuple[int | None, str | None]:
    """``--threads`` checked against this machine: below 1 is refused, above its cores is clamped.

    onnxruntime spins one busy thread per requested thread; thousands of them on a few cores
    make a run crawl for ever. Returns the count to use and a note when it was lowered.
    """
    if threads is None:
        return None, None
    if threads < 1:
        raise RuntimeInputError(f"--threads must be at least 1, not {threads}")
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if threads > cores:
        return cores, f"--threads {threads} is more than the {cores} cores this process may use; using {cores}"
    return threads, None


def session_options(ort: Any, optimization: str, threads: int | None) -> Any:
    """onnxruntime SessionOptions for an optimization level and thread count."""
    levels = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }
    if optimization not in levels:
        raise RuntimeInputError(
            f"unknown optimization level '{optimization}'",
            hint=f"choose one of: {', '.join(OPTIMIZATION_LEVELS)}",
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[optimization]
    options.log_severity_level = 3  # errors only: provider fallbacks are reported by us
    threads, _ = usable_threads(threads)  # the caller reports the clamping note
    if threads is not None:
        options.intra_op_num_threads = threads
    return options


KERAS_SOURCES = (".json", ".keras", ".h5", ".hdf5", ".py")


def refuse_keras_source(model: str | Path) -> None:
    """A Keras model file handed to an engine: it must be compiled first (each engine would try
    to read it, OpenVINO with its other frameworks' readers)."""
    if Path(model).suffix.lower() in KERAS_SOURCES:
        raise RuntimeInputError(
            "is a Keras model description, not a compiled ONNX model",
            file=str(model),
            hint=f"compile it first: python cli.py compile {model}",
        )


def create_session(
    model: str | Path | bytes,
    provider: str | None = None,
    optimization: str = "all",
    threads: int | None = None,
    cache_dir: str | Path | None = None,
    *,
    fp16: bool = False,
    settings: GpuSettings | None = None,
) -> SessionInfo:
    """Create an onnxruntime session on the best provider that actually works.

    ``model`` is a path to an .onnx file or the serialized model. The returned
    :class:`SessionInfo` tells which providers really run, and why any requested GPU provider
    did not. ``settings`` carries the GPU knobs; ``cache_dir`` and ``fp16`` are shorthands for
    its fields of the same names.
    """
    ort = import_onnxruntime()
    name = "<in-memory model>" if isinstance(model, bytes) else str(model)
    if not isinstance(model, bytes):
        # a FIFO or a device would block the reader
        check_input_file(model, "model file", missing_ok=False, error=RuntimeInputError)
    if not isinstance(model, bytes):
        refuse_keras_source(model)
    chain = provider_chain(provider, ort.get_available_providers())
    settings = settings or GpuSettings()
    if cache_dir is not None:
        settings = replace(settings, cache_dir=Path(cache_dir))
    if fp16:
        settings = replace(settings, fp16=True)
    cache = settings.trt_cache()
    per_provider = [settings_options(p, settings) for p in chain]
    if TENSORRT in chain:
        cache.mkdir(parents=True, exist_ok=True)
        stage_calibration_table(settings)
    if any(p in GPU_PROVIDERS for p in chain):
        _preload_gpu_libraries(ort)
    options = session_options(ort, optimization, threads)
    try:
        session = ort.InferenceSession(
            model if isinstance(model, bytes) else str(model),
            sess_options=options,
            providers=chain,
            provider_options=per_provider,
        )
    except Exception as exc:  # onnxruntime raises pybind-specific classes for a bad model
        raise RuntimeInputError(f"onnxruntime cannot load the model: {exc}", file=name) from exc
    active = list(session.get_providers())
    return SessionInfo(
        session=session,
        requested=chain,
        active=active,
        fallbacks=fallback_messages(chain, active),
        notes=tensorrt_notes(active, cache),
    )


def _preload_gpu_libraries(ort: Any) -> None:
    """Load CUDA/cuDNN from the nvidia-* wheels when present, so no LD_LIBRARY_PATH is needed.

    onnxruntime-gpu prints its own diagnostics here; they go to stderr so that stdout stays
    clean for results.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    # A library that will not load shows up as a fallback message instead.
    with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(OSError):
        preload()
