"""Turning raw model outputs into something a person can read.

ImageNet-1k classifiers (everything in ``keras.applications``) output 1000 scores in the
standard synset order, the order of Keras's ``imagenet_class_index.json``: 0 tench, 1 goldfish,
…, 999 toilet tissue. The names ship with the package (``data/imagenet_classes.txt``, one a line,
the short English names published in torchvision's model metadata, where the two ambiguous
entries are spelled out as "crane bird"/"crane" and "maillot"/"maillot tank suit"), so
decoding needs no download. Outputs of any other shape are summarised by statistics instead.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from .errors import RuntimeInputError

IMAGENET_CLASSES = 1000


@cache
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, index-aligned with the model's output."""
    text = (resources.files(__package__) / "data" / "imagenet_classes.txt").read_text("utf-8")
    labels = text.splitlines()
    if len(labels) != IMAGENET_CLASSES:
        raise RuntimeInputError(
            f"the packaged ImageNet label list has {len(labels)} entries instead of 1000",
            file="imagenet_classes.txt",
            hint="reinstall kerascc",
        )
    return labels


def labels_for(classes: int, custom: list[str] | None = None) -> list[str] | None:
    """The label list that fits ``classes`` scores, or None where none does.

    A user's list wins when its length matches; otherwise 1000 scores are taken to be ImageNet's,
    the one order safe to guess.
    """
    if custom is not None and len(custom) == classes:
        return custom
    if classes == IMAGENET_CLASSES:
        return imagenet_labels()
    return None


def ranked(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best of one image's scores (1-D), best first.

    Ties keep the lower class index first, so the result is deterministic.
    """
    k = max(0, min(k, scores.shape[0]))
    return np.argsort(-scores, kind="stable")[:k]


def topk(scores: np.ndarray, k: int = 5) -> list[list[tuple[int, str | None, float]]]:
    """The ``k`` best (class index, label, score) per row of an (N, C) array, best first.

    Labels are given only for 1000-class outputs, where the ImageNet order is a safe guess.
    Scores are reported as the model gave them (probabilities or logits alike).
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise RuntimeInputError(f"top-k needs an (N, classes) array, got shape {scores.shape}")
    labels = labels_for(scores.shape[1])
    return [[(int(i), labels[i] if labels else None, float(row[i])) for i in ranked(row, k)] for row in scores]


def summarize(arr: np.ndarray) -> dict[str, Any]:
    """Shape, dtype and value statistics: enough to sanity-check an output we cannot decode."""
    arr = np.asarray(arr)
    summary: dict[str, Any] = {"shape": tuple(arr.shape), "dtype": str(arr.dtype)}
    if arr.size == 0:
        return summary | {"min": None, "max": None, "mean": None, "std": None}
    values = arr.astype(np.float64)
    return summary | {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }
