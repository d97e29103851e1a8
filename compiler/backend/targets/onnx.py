"""The ``onnx`` target: standard ONNX operators only, for any runtime."""

from __future__ import annotations

from .base import Target


class OnnxTarget(Target):
    """Standard ONNX: every rule keeps its portable default."""

    name = "onnx"
