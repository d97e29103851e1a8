"""kerascc: Keras model descriptions → optimized ONNX.

The public API, and the way to extend the compiler::

    import compiler

    @compiler.register_pass("drop_softmax")
    def drop_softmax(graph: compiler.Graph) -> compiler.Graph:
        ...

    model = compiler.compile("resnet50.json", passes=compiler.default_passes() + ["drop_softmax"])
    compiler.save(model, "resnet50.onnx")
"""
from .api import PREPROCESS_MODES, CompiledModel, compile, load, save, save_bytes
from .errors import (
    CompileError,
    FormatError,
    GraphError,
    RuntimeInputError,
    ShapeError,
    UnsupportedLayerError,
    WeightsError,
)
from .ir import Graph, Node
from .limits import Limits, ResourceLimitError
from .backend import to_onnx
from .pipeline import PassReport, default_passes, load_plugin, parse_passes, register_pass, run_passes
from .rewrite import ANY, P, Rule, apply_rules

__all__ = [
    "ANY", "CompileError", "CompiledModel", "FormatError", "Graph", "GraphError", "Limits", "Node", "P", "PREPROCESS_MODES",
    "PassReport", "ResourceLimitError", "Rule", "RuntimeInputError", "ShapeError", "UnsupportedLayerError", "WeightsError",
    "apply_rules", "compile", "default_passes", "load", "load_plugin", "parse_passes", "register_pass", "run_passes", "save", "save_bytes", "to_onnx",
]
