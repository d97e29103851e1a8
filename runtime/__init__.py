"""Running compiled models: providers, image input, preprocessing, batching, decoding, export.

Everything a caller needs to go from an .onnx file and image files to readable predictions;
``predict`` ties the pieces together for a handful of images, ``BatchRunner`` streams folders of
any size, and the modules below them stay usable on their own.
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

__all__ = [
    "MODES",
    "PREFERENCE",
    "BatchRunner",
    "GpuSettings",
    "Prediction",
    "RunStats",
    "RuntimeInputError",
    "SessionInfo",
    "create_session",
    "expand_inputs",
    "format_prediction",
    "imagenet_labels",
    "load_images",
    "predict",
    "provider_chain",
    "provider_options",
    "summarize",
    "topk",
]
