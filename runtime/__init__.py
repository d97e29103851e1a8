"""Running compiled models: providers, image input, preprocessing, batching, decoding, export.

Everything a caller needs to go from an .onnx file and image files to readable predictions;
``predict`` ties the pieces together for a handful of images, ``BatchRunner`` streams folders of
any size, and the modules below them stay usable on their own.

The runtime builds on the compiler's core only (:mod:`compiler.io`, :mod:`compiler.errors`).
Two compile steps are runtime work and ``compiler.compile`` calls them from here:
:func:`lower_precision` (INT8 calibrated on images read as ``run`` reads them, FP16) and
:func:`optimize_for_cpu` (the ``ort`` target's ahead-of-time optimization).
"""

from __future__ import annotations

from .aot import optimize_for_cpu
from .batch import BatchRunner, RunStats, expand_inputs
from .decode import imagenet_labels, summarize, topk
from .errors import RuntimeInputError
from .images import load_images
from .predict import Prediction, format_prediction, predict
from .preprocess import MODES
from .providers import (
    PREFERENCE,
    GpuSettings,
    SessionInfo,
    create_session,
    provider_chain,
    provider_options,
)
from .quantize import LoweredPrecision, lower_precision

__all__ = [
    "MODES",
    "PREFERENCE",
    "BatchRunner",
    "GpuSettings",
    "LoweredPrecision",
    "Prediction",
    "RunStats",
    "RuntimeInputError",
    "SessionInfo",
    "create_session",
    "expand_inputs",
    "format_prediction",
    "imagenet_labels",
    "load_images",
    "lower_precision",
    "optimize_for_cpu",
    "predict",
    "provider_chain",
    "provider_options",
    "summarize",
    "topk",
]
