"""Running compiled models: providers, image input, preprocessing, batching, decoding, export.

Everything a caller needs to go from an .onnx file and image files to readable predictions;
``predict`` ties the pieces together for a handful of images, ``BatchRunner`` streams folders of
any size, and the modules below them stay usable on their own.

The runtime builds on the compiler's core only (:mod:`compiler.io`, :mod:`compiler.errors`).
One compile step is runtime work and ``compiler.compile`` calls it from here:
:func:`lower_precision` (INT8 calibrated on images read as ``run`` reads them, FP16).
"""

from __future__ import annotations

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
    "predict",
    "provider_chain",
    "provider_options",
    "summarize",
    "topk",
]
