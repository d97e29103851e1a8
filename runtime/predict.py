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

import numpy as np
from rich.console import Console
from rich.progress import Progress

from .batch import BatchRunner, check_batch_size, join
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
    engine: str = "auto",
    precision: str = "fp32",
) -> Prediction:
    """Run the ONNX model at ``model_path`` on the images, preprocessed as its metadata says.

    ``engine`` and ``precision`` are chosen as ``run --engine/--precision`` choose them
    (:func:`runtime.engines.choose`); ``session_info`` says what actually ran.
    """
    check_batch_size(batch_size)  # before any session is made
    settings = GpuSettings(cache_dir=Path(cache_dir)) if cache_dir is not None else None
    runner = BatchRunner(
        model_path,
        provider,
        optimization=optimization,
        threads=threads,
        settings=settings,
        engine=engine,
        precision=precision,
    )
    x = runner.prepare_pixels(load_images(image_paths, runner.spec.height, runner.spec.width, runner.spec.channels))
    outputs = run_batches(runner, x, batch_size)
    return Prediction(
        outputs=outputs,
        session_info=runner.info,
        preprocess=runner.preprocess,
        layout=runner.layout,
        images=[str(p) for p in image_paths],
    )


def run_batches(runner: BatchRunner, x: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """Run the prepared inputs ``x`` in batches (see :meth:`BatchRunner.run`) and join the results
    per output."""
    size = runner.batch_size(batch_size)
    starts = range(0, len(x), size)
    parts: list[dict[str, np.ndarray]] = []
    with _progress(len(starts)) as advance:
        for start in starts:
            parts.append(runner.run(x[start : start + size]))
            advance()
    return join(parts)


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
