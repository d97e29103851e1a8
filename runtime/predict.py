"""Running a compiled image model on image files.

A compiled model carries what the runtime needs in its ONNX metadata, so running it needs no
flags beyond the files:

* ``kerascc.preprocess``: the Keras preprocessing mode (see :mod:`runtime.preprocess`),
  default ``none``;
* ``kerascc.input_layout``: ``nhwc`` (Keras's own) or ``nchw`` (after the layout pass), default
  ``nhwc``.

The input size comes from the model's input shape; images are resized to it, or, where it is
dynamic, must all share one size. All images are decoded before the first batch runs, so a bad
file is reported before any inference time is spent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from .batch import BatchRunner, InputSpec, pad_batch, run_session
from .errors import RuntimeInputError
from .images import load_images
from .outputs import classify
from .providers import GpuSettings, SessionInfo


@dataclass
class Prediction:
    """Outputs for every image, in the model's output order, with how they were produced."""

    outputs: dict[str, np.ndarray]
    session_info: SessionInfo
    preprocess: str
    layout: str
    images: list[str]


def predict(
    model_path: str | Path,
    image_paths: Sequence[str | Path],
    provider: str | None = None,
    batch_size: int = 8,
    optimization: str = "all",
    *,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
) -> Prediction:
    """Run the ONNX model at ``model_path`` on the images, preprocessed as its metadata says."""
    if batch_size < 1:
        raise RuntimeInputError(f"batch size must be at least 1, got {batch_size}")
    settings = GpuSettings(cache_dir=Path(cache_dir)) if cache_dir is not None else None
    runner = BatchRunner(model_path, provider, optimization=optimization, threads=threads, settings=settings)
    x = runner.prepare_pixels(load_images(image_paths, runner.spec.height, runner.spec.width))
    outputs = run_batches(runner.info.session, runner.spec, x, batch_size, model_path)
    return Prediction(
        outputs=outputs,
        session_info=runner.info,
        preprocess=runner.preprocess,
        layout=runner.layout,
        images=[str(p) for p in image_paths],
    )


def run_batches(
    session: Any, spec: InputSpec, x: np.ndarray, batch_size: int, file: str | Path
) -> dict[str, np.ndarray]:
    """Run ``x`` through the session in batches and join the results per output.

    A model with a fixed batch dimension sets the batch size; a short last batch is padded with
    zeros to fit and the padding's outputs are dropped.
    """
    size = spec.batch or batch_size
    names = [o.name for o in session.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    starts = range(0, len(x), size)
    with _progress(len(starts)) as advance:
        for start in starts:
            chunk = x[start : start + size]
            feed = pad_batch(chunk, size) if spec.batch else chunk
            results = run_session(session, names, spec.name, feed, file)
            for name, result in zip(names, results, strict=True):
                parts[name].append(result[: len(chunk)])
            advance()
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


@contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr, only where someone watches it and there is progress to show."""
    if total <= 1 or not sys.stderr.isatty():
        yield lambda: None
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("inference", total=total)
        yield lambda: bar.advance(task)


def format_prediction(pred: Prediction, k: int = 5) -> list[str]:
    """Readable lines per image, each output as its kind shows it: top-k classes where the
    classes have names (ImageNet's 1000), statistics for the rest."""
    kinds = {name: classify(arr.shape[1:]) for name, arr in pred.outputs.items()}
    lines: list[str] = []
    for i, image in enumerate(pred.images):
        lines.append(image)
        for name, kind in kinds.items():
            lines.extend(kind.lines(name, pred.outputs[name][i], k))
    return lines
