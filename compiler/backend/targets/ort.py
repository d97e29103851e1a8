"""The ``ort`` target: onnxruntime's contrib ops, then onnxruntime's CPU optimizations ahead of time.

Convolutions carry their residual add and activation as one ``com.microsoft.FusedConv``, so the
fusions hold even with onnxruntime's graph optimizations off.

Its last stage runs onnxruntime's optimizer once, at compile time. onnxruntime's CPU provider
runs convolutions fastest in its blocked NCHWc layout, which it normally builds at every session
creation (graph optimization level "all"); the compiler hands it its own fused graph and keeps
the optimized model, so a session later needs no graph optimization at all. The block size
follows this machine's vector width (8 floats on AVX2, 16 on AVX-512), so such a file is for
onnxruntime on CPUs like the one that compiled it; the ``onnx`` and ``tensorrt`` targets stay
portable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from ...errors import CompileError
from ...ops import OPS
from .base import Target

if TYPE_CHECKING:  # the emitter and the model assembly hand themselves to these rules
    from ..emitter import Emitter
    from ..serialize import Lowered

CONTRIB_DOMAIN = "com.microsoft"
INSTALL_HINT = "pip install 'kerascc[cpu]' (or 'kerascc[gpu]' for NVIDIA GPUs)"


class OrtTarget(Target):
    """onnxruntime on CPU."""

    name = "ort"

    def fused_conv(
        self,
        em: Emitter,
        name: str,
        inputs: Sequence[str],
        residual: str | None,
        activation: dict[str, Any] | None,
        attrs: dict[str, Any],
    ) -> str | None:
        """FusedConv, onnxruntime's 2-D convolution kernel with its epilogue. The IR names the
        activations a convolution carries as FusedConv does; the op table lists their parameters."""
        if len(attrs["kernel_shape"]) != 2:
            return None
        ins = list(inputs)
        if residual is not None:
            if len(ins) == 2:
                ins.append("")  # FusedConv's optional bias slot precedes Z
            ins.append(residual)
        extra: dict[str, Any] = {}
        if activation:
            extra["activation"] = activation["op"]
            params = OPS[activation["op"]].activation_params
            if params:
                extra["activation_params"] = [float(activation[k]) for k in params]
        return em.op("FusedConv", ins, name, domain=CONTRIB_DOMAIN, **attrs, **extra)

    def multi_head_attention(
        self,
        em: Emitter,
        name: str,
        qkv: Sequence[str],
        bias: Callable[[], str] | None,
        heads: int,
    ) -> str | None:
        """com.microsoft.MultiHeadAttention on the projected query, key and value: the per-head
        split, both MatMuls, the softmax and the merge in one kernel. Its ``attention_bias`` is
        added to the logits; scale 1 because the query projection carries 1/√d."""
        ins = list(qkv)
        if bias is not None:
            ins += ["", "", bias()]  # bias (packed projection biases) and key_padding_mask unused
        return em.op("MultiHeadAttention", ins, name, domain=CONTRIB_DOMAIN, num_heads=heads, scale=1.0)

    def gelu(self, em: Emitter, x: str, bias: np.ndarray | None, approximate: bool, name: str) -> str | None:
        """onnxruntime's one-pass kernels: BiasGelu (or Gelu without a bias) for the erf form,
        FastGelu (its optional bias included) for the tanh form, instead of five to nine ops."""
        ins = [x] if bias is None else [x, em.const(f"{name}.bias", bias)]
        op_type = "FastGelu" if approximate else "Gelu" if bias is None else "BiasGelu"
        return em.op(op_type, ins, name, domain=CONTRIB_DOMAIN)

    def skip_layer_norm(
        self,
        em: Emitter,
        x: str,
        skip: str,
        params: dict[str, np.ndarray],
        epsilon: float,
        rank: int,
        name: str,
    ) -> str | None:
        """SkipLayerNormalization, the residual join, the Dense's bias and the normalization in
        one kernel; onnxruntime's CPU kernel takes (tokens, hidden) and (batch, steps, hidden)."""
        if rank not in (2, 3):
            return None
        ins = [x, skip, em.const(f"{name}.gamma", params["gamma"])]
        beta, bias = params.get("beta"), params.get("bias")
        shifted = beta is not None and bool(np.any(beta))
        if shifted or bias is not None:  # optional inputs: an empty name keeps bias's slot
            ins.append(em.const(f"{name}.beta", beta) if shifted else "")
        if bias is not None:
            ins.append(em.const(f"{name}.bias", bias))
        return em.op("SkipLayerNormalization", ins, name, domain=CONTRIB_DOMAIN, epsilon=float(epsilon))

    def finish(self, lowered: Lowered) -> onnx.ModelProto:
        """The model as onnxruntime's CPU provider would rewrite it with every optimization on."""
        return optimize_for_cpu(lowered.to_proto())


def import_onnxruntime() -> Any:
    """onnxruntime, an optional dependency (imported only when this target is used); its absence
    is an error that says what to install."""
    try:
        import onnxruntime  # heavy and optional: only the ort target's last stage needs it
    except ImportError as exc:
        raise CompileError("onnxruntime is not installed", hint=INSTALL_HINT) from exc
    return onnxruntime


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
