"""Latency and throughput of an ONNX model on one provider.

Inputs are random arrays of the model's own input shapes (dynamic batch set to ``batch``).
Warm-up runs come first so one-time work — TensorRT engine builds, cuDNN algorithm search,
first-touch allocations — does not pollute the numbers; session creation is timed separately
because it is where graph optimizations and engine builds cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .arrays import model_inputs, random_inputs
from .batch import INPUT_DTYPES, Session
from .errors import RuntimeInputError
from .providers import GpuSettings, SessionInfo, create_session


@dataclass
class BenchResult:
    """Timings of one (model, provider, batch, optimization level)."""

    provider: str
    batch: int
    runs: int
    session_seconds: float
    latencies_ms: np.ndarray
    fallbacks: list[str]
    #: what random inputs were fed where it is a choice (token ids: which range)
    notes: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))

    @property
    def median_ms(self) -> float:
        return self.percentile(50)

    @property
    def throughput(self) -> float:
        """Samples per second at the median latency."""
        return self.batch * 1000.0 / self.median_ms


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
                f"input '{inp.name}' has dynamic dimensions {inp.shape}",
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
) -> BenchResult:
    """Time ``runs`` inferences after ``warmup`` untimed ones."""
    return next(
        iter(
            benchmark_many(
                model,
                providers=[provider],
                batches=[batch],
                runs=runs,
                warmup=warmup,
                optimization=optimization,
                threads=threads,
                settings=settings,
            )
        )
    )


def benchmark_many(
    model: str | Path | bytes,
    *,
    providers: Sequence[str | None] = (None,),
    batches: Sequence[int] = (1,),
    runs: int = 50,
    warmup: int = 5,
    optimization: str = "all",
    threads: int | None = None,
    settings: GpuSettings | None = None,
    on_run: Callable[[], None] | None = None,
) -> Iterator[BenchResult]:
    """Results per (provider, batch size), one session per provider, yielded as each finishes.

    Providers are compared in one process on the same random inputs; each session's creation is
    timed on its own because that is where TensorRT engine builds and graph optimizations cost.
    """
    if not batches or any(b < 1 for b in batches) or runs < 1 or warmup < 0:
        raise RuntimeInputError("batch and runs must be at least 1, warmup at least 0")
    label = "<in-memory model>" if isinstance(model, bytes) else str(model)
    tick = on_run or (lambda: None)
    for provider in providers:
        start = time.perf_counter()
        info: SessionInfo = create_session(
            model, provider=provider, optimization=optimization, threads=threads, settings=settings
        )
        session_seconds = time.perf_counter() - start
        for batch in batches:
            feeds, notes = random_feeds_noted(info.session, batch, label)
            for _ in range(warmup):
                info.session.run(None, feeds)
                tick()
            times = np.empty(runs)
            for i in range(runs):
                t0 = time.perf_counter()
                info.session.run(None, feeds)
                times[i] = (time.perf_counter() - t0) * 1000.0
                tick()
            yield BenchResult(info.provider, batch, runs, session_seconds, times, list(info.fallbacks), notes)
