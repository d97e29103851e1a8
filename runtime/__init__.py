"""Running compiled models: providers, image input, preprocessing, batching, decoding, export.

Everything a caller needs to go from an .onnx file and image files to readable predictions;
``predict`` ties the pieces together for a handful of images, ``BatchRunner`` streams folders of
any size, and the modules below them stay usable on their own.

The runtime builds on the compiler's core only (:mod:`compiler.io`, :mod:`compiler.errors`).
One compile step is runtime work and ``compiler.compile`` calls it from here:
:func:`lower_precision` (INT8 calibrated on images read as ``run`` reads them, FP16).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives. They are imported on first use (PEP 562), so that importing one
#: submodule — ``compile`` reaches the runtime only through :func:`lower_precision` — does not load
#: every other (Pillow, rich's progress bars, onnxruntime's quantizer glue) at start-up.
_EXPORTS = {
    "BatchRunner": "batch",
    "RunStats": "batch",
    "expand_inputs": "batch",
    "imagenet_labels": "decode",
    "summarize": "decode",
    "topk": "decode",
    "RuntimeInputError": "errors",
    "load_images": "images",
    "Prediction": "predict",
    "format_prediction": "predict",
    "predict": "predict",
    "MODES": "preprocess",
    "PREFERENCE": "providers",
    "GpuSettings": "providers",
    "SessionInfo": "providers",
    "create_session": "providers",
    "provider_chain": "providers",
    "provider_options": "providers",
    "LoweredPrecision": "quantize",
    "lower_precision": "quantize",
    "open_session": "engines",
    "ENGINES": "engines",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


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
    "open_session",
    "ENGINES",
    "predict",
    "provider_chain",
    "provider_options",
    "summarize",
    "topk",
]
