"""What a run keeps besides the on-screen table: raw output tensors and the run's summary.

``run --save`` keeps the model's outputs as numpy files: ``.npz`` holds every output by name,
any other suffix (``.npy``) the first output alone, which is what most single-output models
want. ``run --output results.json`` stores :func:`run_summary` beside the rows.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from compiler.io import save_bytes

from .batch import Batch, RunStats, collect

WEIGHTS_KEY = "kerascc.weights"


def save_outputs(batches: Iterable[Batch], path: str | Path) -> Path:
    """Join the batches' outputs and write them atomically as ``.npz`` (all) or ``.npy`` (the first)."""
    return save_arrays(collect(batches), path)


def save_arrays(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    """Outputs by name, written atomically as ``.npz`` (all, by name) or ``.npy`` (the first):
    what ``run --save`` keeps, for images and for array inputs alike."""
    buf = io.BytesIO()
    if Path(path).suffix.lower() == ".npz":
        np.savez(buf, **arrays)
    else:
        np.save(buf, next(iter(arrays.values())))
    return save_bytes(buf.getvalue(), path)


def run_summary(
    model: str | Path, provider: str, stats: RunStats, *, engine: str = "onnxruntime", precision: str = "fp32"
) -> dict[str, Any]:
    """The facts of a whole run, as stored in a JSON results file."""
    return {
        "model": str(model),
        "provider": provider,
        "engine": engine,
        "precision": precision,
        "images": stats.images,
        "skipped": [str(p) for p, _ in stats.skipped],
        "seconds": round(stats.seconds, 4),
        "images_per_second": round(stats.images_per_second, 2),
    }


def has_random_weights(metadata: dict[str, str]) -> bool:
    """Whether the compiler drew the model's weights at random (a JSON description alone):
    its predictions then mean nothing, and the user should hear so."""
    return metadata.get(WEIGHTS_KEY, "").startswith("random")
