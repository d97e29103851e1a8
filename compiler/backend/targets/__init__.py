"""Targets: the flavours of ONNX the backend writes, each holding every rule in which it departs
from standard ONNX, so lowerings ask ``em.target.<rule>(…)`` and never compare target names.

``onnx``: standard ops only, portable. ``ort``: onnxruntime contrib ops (com.microsoft FusedConv
carrying the residual add and activation), so the fusions hold even with onnxruntime's graph
optimizations off, then onnxruntime's own CPU optimizations ahead of time. ``tensorrt``: standard
ops, and none of the forms that exist only to steer onnxruntime's optimizer (TensorRT's parser
rejects MaxPool indices).

A new target is a module with a :class:`Target` subclass overriding the rules it changes, and one
entry in :data:`_ALL`.
"""

from __future__ import annotations

from ...errors import CompileError
from .base import Target
from .onnx import OnnxTarget
from .ort import OrtTarget
from .tensorrt import TensorRTTarget

_ALL: dict[str, Target] = {t.name: t for t in (OnnxTarget(), OrtTarget(), TensorRTTarget())}

#: The target names, as ``compile --target`` takes them.
TARGETS: tuple[str, ...] = tuple(_ALL)


def get_target(name: str) -> Target:
    """The target called ``name``; an unknown name is the user's error."""
    target = _ALL.get(name)
    if target is None:
        raise CompileError(f"unknown target '{name}'", hint="one of " + ", ".join(TARGETS))
    return target


__all__ = ["TARGETS", "OnnxTarget", "OrtTarget", "Target", "TensorRTTarget", "get_target"]
