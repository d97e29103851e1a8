"""The ``tensorrt`` target: standard ONNX without the forms that exist only to steer onnxruntime."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .base import Target

if TYPE_CHECKING:  # the emitter hands itself to these rules
    from ..emitter import Emitter


class TensorRTTarget(Target):
    """Standard ONNX for TensorRT's parser."""

    name = "tensorrt"

    def max_pool_after_pad(self, em: Emitter, x: str, name: str, attrs: dict[str, Any]) -> str:
        """TensorRT's parser rejects MaxPool's indices output, and the file may still meet
        onnxruntime (as the fallback provider): a no-op Max keeps its Pad fusion away."""
        barrier = em.op("Max", [x, em.const("lowest", np.asarray(-np.inf, np.float32))], f"{name}_barrier")
        return em.op("MaxPool", [barrier], name, **attrs)
