"""Ahead-of-time onnxruntime optimization: the ``ort`` target's last stage.

onnxruntime's CPU provider runs convolutions fastest in its blocked NCHWc layout, which it
normally builds at every session creation (graph optimization level "all"). For the ``ort``
target the compiler does that once, at compile time: it hands its own fused graph (FusedConv
with residual and activation) to onnxruntime's optimizer and keeps the optimized model, so a
session later needs no graph optimization at all. The block size follows this machine's vector
width (8 floats on AVX2, 16 on AVX-512), so such a file is for onnxruntime on CPUs like the one
that compiled it; the ``onnx`` and ``tensorrt`` targets stay portable.
"""
from __future__ import annotations

import os
import tempfile

import onnx

from compiler.errors import CompileError

from .providers import import_onnxruntime


def optimize_for_cpu(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model as onnxruntime's CPU provider would rewrite it with every optimization on."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # the "hardware specific" warning is this target's premise
    with tempfile.TemporaryDirectory(prefix="kerascc-aot-") as tmp:
        path = os.path.join(tmp, "optimized.onnx")
        options.optimized_model_filepath = path
        try:
            ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a model our own checker accepted but onnxruntime refuses
            raise CompileError(f"onnxruntime could not optimize the model: {exc}") from exc
        optimized = onnx.load(path)
    del optimized.metadata_props[:]
    optimized.metadata_props.extend(model.metadata_props)
    return optimized
