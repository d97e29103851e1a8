"""The frontend's tables: layers by family, operations in their own registries, and the checks
every convolution shares (without Keras: model configs are written out by hand)."""

from __future__ import annotations

from typing import Any

import pytest

import frontends
from compiler.errors import CompileError, ShapeError, UnsupportedLayerError
from frontends.keras_json import graph_from_config
from frontends.layers import LAYERS
from frontends.operations import OPERATIONS, TF_FUNCTIONS


def _ref(name: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


def _model(
    cls: str,
    config: dict[str, Any],
    shape: list[int | None],
    module: str = "keras.layers",
    args: list[Any] | None = None,
) -> dict[str, Any]:
    """A Keras 3 functional config: one input, one layer (or operation) called on it."""
    layer = {
        "module": module,
        "class_name": cls,
        "name": "layer",
        "config": {"name": "layer", **config},
        "inbound_nodes": [{"args": args or [_ref("x")], "kwargs": {}}],
    }
    return {
        "class_name": "Functional",
        "keras_version": "3.5.0",
        "config": {
            "name": "m",
            "input_layers": [["x", 0, 0]],
            "output_layers": [["layer", 0, 0]],
            "layers": [{"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": shape}}, layer],
        },
    }


def _compile(doc: dict[str, Any]) -> list[str]:
    graph, _ = graph_from_config(doc, None, 0, "m.json")
    return [repr(node) for node in graph.nodes() if node.op != "Input"]


def _op(node: str) -> str:
    return node.split(" = ")[1].split("(")[0].split("[")[0]


def _error(doc: dict[str, Any]) -> CompileError:
    with pytest.raises(CompileError) as info:
        graph_from_config(doc, None, 0, "m.json")
    return info.value


def test_operations_have_their_own_registries() -> None:
    assert not [name for name in LAYERS if name.startswith("ops.")]
    assert {"Add", "Negative", "Relu", "Softmax", "TFOpLambda"} <= set(OPERATIONS)
    assert {"__operators__.add", "math.multiply", "nn.relu"} <= set(TF_FUNCTIONS)
    assert frontends.LAYERS is LAYERS and frontends.OPERATIONS is OPERATIONS


def test_an_operation_is_looked_up_among_operations_and_a_layer_among_layers() -> None:
    """``Add`` is both a merge layer and a Keras 3 operation; the entry's module decides which."""
    op = _compile(_model("Add", {}, [None, 4], module="keras.src.ops.numpy", args=[_ref("x"), 1.0]))
    assert op == ["%layer = Affine[axis=1][scale:(4,), shift:(4,)](%x) : (?,4)"]
    err = _error(_model("Add", {}, [None, 4]))
    assert err.message == "Add: needs at least 2 inputs, got 1"


def test_unknown_tensorflow_function_lists_the_registered_ones() -> None:
    doc = {
        "class_name": "Functional",
        "keras_version": "2.15.0",
        "config": {
            "name": "m",
            "input_layers": [["x", 0, 0]],
            "output_layers": [["tf.cumsum", 0, 0]],
            "layers": [
                {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_input_shape": [None, 4]}},
                {
                    "class_name": "TFOpLambda",
                    "name": "tf.cumsum",
                    "config": {"name": "tf.cumsum", "function": "math.cumsum"},
                    "inbound_nodes": [["x", 0, 0, {"axis": 1, "name": "tf.cumsum"}]],
                },
            ],
        },
    }
    err = _error(doc)
    assert isinstance(err, UnsupportedLayerError)
    assert err.message == "TFOpLambda: the TensorFlow function 'math.cumsum'"
    assert err.hint == "supported: " + ", ".join(sorted(TF_FUNCTIONS))


@pytest.mark.parametrize(
    "cls, shape", [("Conv1D", [None, 6, 3]), ("Conv2D", [None, 5, 6, 3]), ("Conv3D", [None, 4, 5, 6, 3])]
)
def test_one_convolution_for_every_rank(cls: str, shape: list[int | None]) -> None:
    nodes = _compile(_model(cls, {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, shape))
    conv = next(n for n in nodes if _op(n) == "Conv")
    strides = {"Conv1D": "(1,2)", "Conv2D": "(2,2)", "Conv3D": "(2,2,2)"}[cls]
    assert f"strides={strides}" in conv and "group=1" in conv and "padding=same" in conv


def test_conv1d_runs_as_a_height1_conv2d_with_its_activation_on_the_steps() -> None:
    nodes = _compile(
        _model(
            "Conv1D",
            {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "activation": "relu"},
            [None, 8, 3],
        )
    )
    assert [_op(n) for n in nodes] == ["Reshape", "Pad", "Conv", "Reshape", "Relu"]
    assert "pads=((0,0),(4,0))" in nodes[1] and "kernel:(1, 3, 3, 4)" in nodes[2]


@pytest.mark.parametrize("cls", ["Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose"])
def test_groups_must_be_a_positive_integer_for_every_convolution(cls: str) -> None:
    shape = {"Conv1D": [None, 6, 4], "Conv3D": [None, 4, 5, 6, 4]}.get(cls, [None, 5, 6, 4])
    err = _error(_model(cls, {"filters": 4, "kernel_size": 3, "groups": 0}, shape))
    assert err.message == f"{cls}: groups must be a positive integer, got 0"


@pytest.mark.parametrize(
    "cls, shape",
    [
        ("Conv1D", [None, 6, None]),
        ("Conv3D", [None, 4, 5, 6, None]),
        ("DepthwiseConv2D", [None, 5, 6, None]),
        ("SeparableConv2D", [None, 5, 6, None]),
        ("Conv2DTranspose", [None, 5, 6, None]),
    ],
)
def test_every_convolution_needs_known_input_channels(cls: str, shape: list[int | None]) -> None:
    err = _error(_model(cls, {"filters": 4, "kernel_size": 3}, shape))
    assert isinstance(err, ShapeError) and err.message == "the channel dimension must be known"


@pytest.mark.parametrize("cls", ["Conv1D", "DepthwiseConv1D", "SeparableConv1D"])
def test_one_dimensional_layers_check_their_rank_alike(cls: str) -> None:
    err = _error(_model(cls, {"filters": 4, "kernel_size": 3}, [None, 5, 6, 4]))
    assert isinstance(err, ShapeError)
    assert err.message == f"{cls} expects a 3-D input (batch, steps, channels), got shape (None, 5, 6, 4)"
