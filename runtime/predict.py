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

from .decode import IMAGENET_CLASSES, summarize, topk
from .errors import RuntimeInputError
from .images import load_images
from .preprocess import LAYOUTS, MODES, apply
from .providers import SessionInfo, create_session

PREPROCESS_KEY = "kerascc.preprocess"
LAYOUT_KEY = "kerascc.input_layout"

_INPUT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


@dataclass
class InputSpec:
    """The model's image input, with dynamic dimensions as None."""

    name: str
    batch: int | None
    height: int | None
    width: int | None
    channels: int | None
    dtype: type


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
    info = create_session(model_path, provider, optimization, threads, cache_dir)
    meta = info.session.get_modelmeta().custom_metadata_map
    mode = _setting(meta, PREPROCESS_KEY, "none", MODES, model_path)
    layout = _setting(meta, LAYOUT_KEY, "nhwc", LAYOUTS, model_path)
    spec = model_input(info.session, layout, model_path)
    x = apply(load_images(image_paths, spec.height, spec.width), mode)
    if layout == "nchw":
        x = x.transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(x, dtype=spec.dtype)
    outputs = run_batches(info.session, spec, x, batch_size, model_path)
    return Prediction(
        outputs=outputs,
        session_info=info,
        preprocess=mode,
        layout=layout,
        images=[str(p) for p in image_paths],
    )


def _setting(
    meta: dict[str, str], key: str, default: str, allowed: Sequence[str], file: str | Path
) -> str:
    value = meta.get(key, default)
    if value not in allowed:
        raise RuntimeInputError(
            f"metadata {key}='{value}' is not one of {', '.join(allowed)}",
            file=str(file),
            hint="recompile the model with a supported setting",
        )
    return value


def model_input(session: Any, layout: str, file: str | Path) -> InputSpec:
    """Read the single image input of a session: its name, size and element type."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise RuntimeInputError(
            f"the model has {len(inputs)} inputs ({names}); only single-input image models "
            "can be run on image files",
            file=str(file),
        )
    (inp,) = inputs
    if len(inp.shape) != 4:
        raise RuntimeInputError(
            f"input '{inp.name}' has shape {inp.shape}; an image batch needs 4 dimensions",
            file=str(file),
        )
    if inp.type not in _INPUT_DTYPES:
        raise RuntimeInputError(
            f"input '{inp.name}' is {inp.type}; image inputs must be floating point",
            file=str(file),
        )
    dims = [d if isinstance(d, int) and d > 0 else None for d in inp.shape]
    n, h, w, c = dims if layout == "nhwc" else (dims[0], dims[2], dims[3], dims[1])
    if c not in (None, 3):
        raise RuntimeInputError(
            f"input '{inp.name}' takes {c} channels ({layout}); images are read as RGB (3)",
            file=str(file),
            hint="check the model's input layout metadata",
        )
    return InputSpec(inp.name, n, h, w, c, _INPUT_DTYPES[inp.type])


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
            feed = _pad(chunk, size) if spec.batch else chunk
            results = _run(session, names, spec.name, feed, file)
            for name, result in zip(names, results, strict=True):
                parts[name].append(result[: len(chunk)])
            advance()
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _pad(chunk: np.ndarray, size: int) -> np.ndarray:
    missing = size - len(chunk)
    if missing == 0:
        return chunk
    return np.concatenate([chunk, np.zeros((missing, *chunk.shape[1:]), chunk.dtype)])


def _run(
    session: Any, names: list[str], input_name: str, feed: np.ndarray, file: str | Path
) -> list[np.ndarray]:
    try:
        return session.run(names, {input_name: feed})
    except Exception as exc:  # onnxruntime's pybind errors have no common public base
        raise RuntimeInputError(
            f"onnxruntime failed to run the model: {exc}", file=str(file)
        ) from exc


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
    """Readable lines per image: top-k classes for ImageNet outputs, statistics for the rest."""
    lines: list[str] = []
    for i, image in enumerate(pred.images):
        lines.append(image)
        for name, arr in pred.outputs.items():
            lines.extend(_describe(name, arr[i : i + 1], k))
    return lines


def _describe(name: str, row: np.ndarray, k: int) -> list[str]:
    if row.ndim == 2 and row.shape[1] == IMAGENET_CLASSES:
        best = topk(row, k)[0]
        return [f"  {name}:"] + [
            f"    {rank}. {label} ({index}): {score:.4f}"
            for rank, (index, label, score) in enumerate(best, start=1)
        ]
    s = summarize(row[0])
    stats = "  ".join(f"{key} {_number(s[key])}" for key in ("min", "max", "mean", "std"))
    return [f"  {name}: shape {s['shape']} {s['dtype']}  {stats}"]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
