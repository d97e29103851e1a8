"""Running compiled models: providers, image input, preprocessing, decoding.

Everything a caller needs to go from an .onnx file and image files to readable predictions;
``predict`` ties the pieces together, the modules below it stay usable on their own.
"""

from __future__ import annotations

from .decode import imagenet_labels, summarize, topk
from .errors import RuntimeInputError
from .images import load_images
from .predict import Prediction, format_prediction, predict
from .preprocess import MODES
from .providers import PREFERENCE, SessionInfo, create_session, provider_chain, provider_options

__all__ = [
    "MODES",
    "PREFERENCE",
    "Prediction",
    "RuntimeInputError",
    "SessionInfo",
    "create_session",
    "format_prediction",
    "imagenet_labels",
    "load_images",
    "predict",
    "provider_chain",
    "provider_options",
    "summarize",
    "topk",
]
