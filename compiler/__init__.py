"""kerascc: Keras model descriptions → optimized ONNX.

The public API, and the way to extend the compiler::

    import compiler

    @compiler.register_pass("drop_softmax")
    def drop_softmax(graph: compiler.Graph) -> compiler.Graph:
        ...

    model = compiler.compile("resnet50.json", passes=compiler.default_passes() + ["drop_softmax"])
    compiler.save(model, "resnet50.onnx")

Everything ``cli.py compile`` can be told is a :class:`CompileOptions` field and a keyword of
:func:`compile`: ``input_shapes``, ``preprocess="auto"``, ``entry``/``args`` of a .py file,
``int8``/``calibrate``/``fp16``, ``target``.
"""

from .api import (
    DEFAULT_OPSET,
    PREPROCESS_BY_FAMILY,
    PREPROCESS_MODES,
    CompiledModel,
    CompileOptions,
    compile,
    default_passes,
    export_json,
    load,
    parse_model_args,
    parse_passes,
    save,
    to_onnx,
)
from .errors import (
    CompileError,
    FormatError,
    GraphError,
    RuntimeInputError,
    ShapeError,
    UnsupportedLayerError,
    WeightsError,
)
from .io import external_data_path, save_bytes
from .ir import Graph, Node
from .limits import Limits, ResourceLimitError
from .pipeline import PassReport, load_plugin, register_pass, run_passes
from .rewrite import ANY, P, Rule, apply_rules

__all__ = [
    "ANY",
    "DEFAULT_OPSET",
    "PREPROCESS_BY_FAMILY",
    "PREPROCESS_MODES",
    "CompileError",
    "CompileOptions",
    "CompiledModel",
    "FormatError",
    "Graph",
    "GraphError",
    "Limits",
    "Node",
    "P",
    "PassReport",
    "ResourceLimitError",
    "Rule",
    "RuntimeInputError",
    "ShapeError",
    "UnsupportedLayerError",
    "WeightsError",
    "apply_rules",
    "compile",
    "default_passes",
    "export_json",
    "external_data_path",
    "load",
    "load_plugin",
    "parse_model_args",
    "parse_passes",
    "register_pass",
    "run_passes",
    "save",
    "save_bytes",
    "to_onnx",
]
