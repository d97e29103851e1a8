"""Latency and throughput of an ONNX model per engine, provider, precision and batch size.

Inputs are random arrays of the model's own input shapes (dynamic batch set to ``batch``).
Warm-up runs come first so one-time work — TensorRT engine builds, cuDNN algorithm search,
first-touch allocations — does not pollute the numbers; session creation is timed separately
because it is where graph optimizations and engine builds cost.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .arrays import model_inputs, random_inputs
from .batch import INPUT_DTYPES, Session, shape_text
from .engines import AUTO, FP32, PrecisionCheck, PrecisionCost, open_session
from .errors import RuntimeInputError
from .providers import GpuSettings, SessionInfo, short_name

#: The keys of one ``bench --json`` row, exactly these, in this order (dashboards key on them).
ROW_KEYS = ("engine", "provider", "precision", "batch", "session_s", "p50_ms", "p90_ms", "p99_ms", "samples_per_s")


@dataclass
class BenchResult:
    """Timings of one (model, engine, provider, precision, batch, optimization level)."""

    provider: str
    batch: int
    runs: int
    session_seconds: float
    latencies_ms: np.ndarray
    fallbacks: list[str]
    engine: str = "onnxruntime"
    precision: str = "fp32"
    notes: list[str] = field(default_factory=list)
    #: accuracy cost against fp32 (onnxruntime) on the same inputs, per output; None when not measured
    accuracy: list[PrecisionCost] | None = None

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))

    @property
    def median_ms(self) -> float:
        return self.percentile(50)

    @property
    def throughput(self) -> float:
        """Samples per second at the median latency."""
        return self.batch * 1000.0 / self.median_ms

    def row(self) -> dict[str, Any]:
        """The result as one ``bench --json`` row (keys :data:`ROW_KEYS`)."""
        values = (
            self.engine,
            short_name(self.provider),
            self.precision,
            self.batch,
            round(self.session_seconds, 4),
            round(self.median_ms, 4),
            round(self.percentile(90), 4),
            round(self.percentile(99), 4),
            round(self.throughput, 3),
        )
        return dict(zip(ROW_KEYS, values, strict=True))


def random_feeds(session: Session, batch: int, file: str, seed: int = 0) -> dict[str, np.ndarray]:
    """One random array per model input; the batch dimension (dynamic or not) becomes ``batch``."""
    return random_feeds_noted(session, batch, file, seed)[0]


def random_feeds_noted(
    session: Session, batch: int, file: str, seed: int = 0
) -> tuple[dict[str, np.ndarray], list[str]]:
    """:func:`random_feeds` and what was fed to inputs that are not floating point (token ids
    below the vocabulary size, see :func:`.arrays.random_inputs`)."""
    if any(inp.type not in INPUT_DTYPES for inp in session.get_inputs()):
        meta = dict(session.get_modelmeta().custom_metadata_map)
        try:
            return random_inputs(model_inputs(session, file), batch, meta, seed)
        except RuntimeInputError as exc:
            raise exc.with_context(file=file) from None
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in session.get_inputs():
        dims = list(inp.shape)
        if dims and not isinstance(dims[0], int):
            dims[0] = batch
        if any(not isinstance(d, int) for d in dims):
            raise RuntimeInputError(
                f"input '{inp.name}' has dynamic dimensions {shape_text(inp.shape)}",
                file=file,
                hint="benchmark a model with fixed spatial sizes",
            )
        dtype = INPUT_DTYPES.get(inp.type)
        if dtype is None:
            raise RuntimeInputError(f"input '{inp.name}' has type {inp.type}, not floating point", file=file)
        feeds[inp.name] = rng.random(dims, dtype=np.float32).astype(dtype) * 255
    return feeds, []


def benchmark(
    model: str | Path | bytes,
    *,
    batch: int = 1,
    runs: int = 50,
    warmup: int = 5,
    provider: str | None = None,
    optimization: str = "all",
    threads: int | None = None,
    settings: GpuSettings | None = None,
    engine: str = AUTO,
    precision: str = FP32,
    reference: str | Path | None = None,
) -> BenchResult:
    """Time ``runs`` inferences after ``warmup`` untimed ones."""
    return next(
        iter(
            benchmark_many(
                model,
                engines=[engine],
                providers=[provider],
                precisions=[precision],
                batches=[batch],
                runs=runs,
                warmup=warmup,
                optimization=optimization,
                threads=threads,
                settings=settings,
                reference=reference,
            )
        )
    )


def benchmark_many(
    model: str | Path | bytes,
    *,
    engines: Sequence[str] = (AUTO,),
    providers: Sequence[str | None] = (None,),
    precisions: Sequence[str] = (FP32,),
    batches: Sequence[int] = (1,),
    runs: int = 50,
    warmup: int = 5,
    optimization: str = "all",
    threads: int | None = None,
    settings: GpuSettings | None = None,
    reference: str | Path | None = None,
    accuracy: bool = True,
    on_run: Callable[[], None] | None = None,
) -> Iterator[BenchResult]:
    """Results per (engine, provider, precision, batch size), one session per (engine, provider,
    precision), yielded as each finishes.

    Everything is compared in one process on the same random inputs; each session's creation is
    timed on its own because that is where TensorRT engine builds and graph optimizations cost.
    With ``accuracy``, every result also carries its cost against fp32 on those inputs (an int8
    QDQ model needs the fp32 model it came from as ``reference``; without one it gets a note).
    """
    if not batches or any(b < 1 for b in batches) or runs < 1 or warmup < 0:
        raise RuntimeInputError("batch and runs must be at least 1, warmup at least 0")
    label = "<in-memory model>" if isinstance(model, bytes) else str(model)
    tick = on_run or (lambda: None)
    for engine, provider, precision in itertools.product(engines, providers, precisions):
        start = time.perf_counter()
        info: SessionInfo = open_session(
            model,
            engine=engine,
            precision=precision,
            provider=provider,
            optimization=optimization,
            threads=threads,
            settings=settings,
        )
        session_seconds = time.perf_counter() - start
        check, notes = None, list(info.notes)
        if accuracy:
            try:
                check = PrecisionCheck(model, reference, [o.name for o in info.session.get_outputs()])
            except RuntimeInputError as exc:
                notes.append(f"accuracy not measured: {exc}")  # its hint is part of it
        for batch in batches:
            feeds, feed_notes = random_feeds_noted(info.session, batch, label)
            for _ in range(warmup):
                info.session.run(None, feeds)
                tick()
            times = np.empty(runs)
            for i in range(runs):
                t0 = time.perf_counter()
                info.session.run(None, feeds)
                times[i] = (time.perf_counter() - t0) * 1000.0
                tick()
            cost = None
            if check is not None:
                check.costs = {n: PrecisionCost(n) for n in check.names}
                outputs = info.session.run(check.names, feeds)
                check.add(feeds, dict(zip(check.names, outputs, strict=True)))
                cost = list(check.costs.values())
            yield BenchResult(
                info.provider,
                batch,
                runs,
                session_seconds,
                times,
                list(info.fallbacks),
                engine=info.engine,
                precision=info.precision,
                notes=[*notes, *feed_notes],
                accuracy=cost,
            )


def bench_document(model: str | Path, results: Sequence[BenchResult]) -> dict[str, Any]:
    """What ``bench --json`` prints: the rows (keys :data:`ROW_KEYS` exactly), and beside them the
    accuracy cost of each row against fp32 and the notes, kept out of the rows so their schema
    stays fixed."""
    notes: list[str] = []
    for res in results:
        notes += [n for n in [*res.fallbacks, *res.notes] if n not in notes]
    return {
        "model": str(model),
        "rows": [res.row() for res in results],
        "accuracy": [
            {"engine": res.engine, "precision": res.precision, "batch": res.batch, **cost.as_dict()}
            for res in results
            for cost in res.accuracy or []
        ],
        "notes": notes,
    }
