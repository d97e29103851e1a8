"""The rules a target may change, each with its standard-ONNX default."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import onnx

if TYPE_CHECKING:  # the emitter and the model assembly hand themselves to these rules
    from ..emitter import Emitter
    from ..serialize import Lowered


class Target:
    """One flavour of ONNX output. Every rule's default is the portable form; a target overrides
    the rules where it differs."""

    name: ClassVar[str]

    def fused_conv(
        self,
        em: Emitter,
        name: str,
        inputs: Sequence[str],
        residual: str | None,
        activation: dict[str, Any] | None,
        attrs: dict[str, Any],
    ) -> str | None:
        """One node computing ``activation(Conv(inputs) + residual)``, or None to have the
        convolution, the Add and the activation emitted as standard ops (which onnxruntime and
        TensorRT fuse again themselves).

        ``inputs`` are Conv's (x, weight[, bias]) and ``attrs`` its attributes; at least one of
        ``residual`` and ``activation`` is given.
        """
        return None

    def gelu(self, em: Emitter, x: str, bias: np.ndarray | None, approximate: bool, name: str) -> str | None:
        """One node computing gelu(x + bias) (``bias`` over the physically last axis, or None;
        ``approximate`` the tanh form), or None to have it emitted as standard ops: ONNX Gelu
        from opset 20, the erf or tanh formula below it."""
        return None

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
        """One node computing LayerNormalization(x + skip + bias) over the physically last axis
        of rank-``rank`` operands (``params``: gamma, beta, optional bias), or None to have the
        Adds and the LayerNormalization emitted as standard ops."""
        return None

    def max_pool_after_pad(self, em: Emitter, x: str, name: str, attrs: dict[str, Any]) -> str:
        """A MaxPool whose input comes from a zero Pad, in a form onnxruntime does not fuse with the Pad.

        onnxruntime folds a Pad into a following MaxPool as if the zeros were ignored positions
        (wrong for negative data), but not into one that also returns indices.
        """
        out = em.op("MaxPool", [x], name, **attrs)
        em.nodes[-1].output.append(em.fresh(f"{name}_indices"))
        return out

    def finish(self, lowered: Lowered) -> Lowered | onnx.ModelProto:
        """The target's last stage after lowering: the model as lowered (still streamable), or a
        whole model that replaces it."""
        return lowered

    def multi_head_attention(
        self,
        em: Emitter,
        name: str,
        qkv: Sequence[str],
        bias: Callable[[], str] | None,
        heads: int,
    ) -> str | None:
        """One node computing multi-head attention of projected ``qkv`` (each (B, T|S, heads·d),
        the query already scaled), with ``bias()`` (a (B|1, 1, T, S) tensor added to the logits)
        when there is a mask, or None for the portable MatMul/Softmax form."""
        return None
