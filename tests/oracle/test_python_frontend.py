"""The Python frontend against real Keras, on every model of the tutorial pages (examples/python).

Each example file runs twice: with real Keras (after ``keras.backend.clear_session()``, which
restarts Keras's automatic names as a fresh process would) and with kerascc's stand-ins. Layer
names, parameter counts and output shapes must be equal; then Keras's weights (BatchNorm
statistics and biases randomised) are saved, loaded by ``--weights`` onto the compiled model,
and onnxruntime's outputs must match ``model.predict``. The exported JSON must load in Keras
with ``model_from_json`` and give the same layers and configs.
"""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pytest

import compiler
from frontends.keras_python import export_json, find_model

from .harness import keras_predict, make_inputs, randomize, rel_error, run_onnx

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"


@dataclass
class Case:
    file: str
    entry: str | None = None  # module variable or function; None: the frontend's own discovery
    args: dict[str, Any] = field(default_factory=dict)
    keras3_source: tuple[str, str] | None = None  # (old, new): what real Keras 3 runs instead
    predict: bool = True
    slow: bool = False


CASES = {
    # Keras 1's Convolution2D(32, 3, 3) is a 3x3 kernel; Keras 3 reads the third number as strides,
    # so the oracle runs the Keras 3 spelling of what the page means: Conv2D(32, (3, 3)).
    "vgg_block1_conv1": Case(
        "vgg_block1_conv1.py", "model", keras3_source=("Convolution2D(32, 3, 3,", "Convolution2D(32, (3, 3),")
    ),
    "conv2d_padding_sequential": Case("conv2d_padding_sequential.py", "model"),
    "conv2d_transpose_padding": Case("conv2d_transpose_padding.py", "model"),
    "conv2d_params_k2": Case("conv2d_params.py", "conv1", {"kernel_size": 2}),
    "conv2d_params_same_s2": Case(
        "conv2d_params.py", "conv1", {"kernel_size": 3, "strides": (2, 2), "padding": "same"}
    ),
    "encoder_decoder": Case("encoder_decoder.py", "model"),
    "tensor_arithmetic": Case("tensor_arithmetic.py", "model"),
    "nested_models": Case("nested_models.py", "model"),
    # 1-D and 3-D layers on two inputs, PReLU, Resizing and -x
    "sequence_and_volume": Case("sequence_and_volume.py", "model"),
    # LayerNormalization over two axes, Group/RMS/Unit normalization, gelu both ways, augmentation
    "transformer_norms": Case("transformer_norms.py", "model"),
    "resnet50_stage4_600": Case("resnet50_stage4_600.py", "model", slow=True),
    "resnet50_blocks": Case("resnet50_blocks.py", "ResNet50", slow=True),
    "resnet50_stack1": Case("resnet50_stack1.py", "ResNet50", slow=True),
    # Real Keras would download the ImageNet weights; the oracle builds the same graph without them.
    "resnet50_application": Case(
        "resnet50_application.py", "resnet50", slow=True, keras3_source=("weights='imagenet'", "weights=None")
    ),
    "unet": Case("unet.py", "unet", slow=True),
    # 651 million parameters: compared by structure and parameter count, not run.
    "res_block_three_inputs": Case("res_block_three_inputs.py", "model", predict=False, slow=True),
}


def _params(case_id: str) -> Any:
    case = CASES[case_id]
    return pytest.param(case_id, id=case_id, marks=[pytest.mark.slow] if case.slow else [])


ALL = [_params(c) for c in CASES]


def keras_model(case: Case, tmp: Path) -> keras.Model:
    """Run the example with real Keras, in a fresh naming scope."""
    path = EXAMPLES / case.file
    if case.keras3_source is not None:
        old, new = case.keras3_source
        source = path.read_text()
        assert old in source
        path = tmp / case.file
        path.write_text(source.replace(old, new))
    keras.backend.clear_session()
    namespace = runpy.run_path(str(path), run_name="__kerascc_model__")
    target = namespace[case.entry] if case.entry else namespace["model"]
    return target if isinstance(target, keras.Model) else target(**case.args)


@pytest.fixture(scope="module")
def keras_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Keras's view of each requested example, built once per module."""
    return {}


def keras_run(case_id: str, runs: dict[str, dict[str, Any]], tmp: Path) -> dict[str, Any]:
    if case_id in runs:
        return runs[case_id]
    case = CASES[case_id]
    model = keras_model(case, tmp)
    info: dict[str, Any] = {
        "names": [layer.name for layer in model.layers],
        "params": model.count_params(),
        "shapes": [tuple(t.shape) for t in model.outputs],
        "model_name": model.name,
    }
    if case.predict:
        randomize(model)
        info["weights"] = tmp / f"{case_id}.weights.h5"
        model.save_weights(info["weights"])
        info["inputs"] = make_inputs(model, batch=1)
        info["outputs"] = keras_predict(model, info["inputs"])
        info["input_names"] = [t._keras_history.operation.name for t in model.inputs]
    runs[case_id] = info
    del model
    keras.backend.clear_session()
    return info


@pytest.mark.parametrize("case_id", ALL)
def test_same_layers_params_and_shapes_as_keras(case_id: str, keras_runs: dict, tmp_path: Path) -> None:
    case = CASES[case_id]
    want = keras_run(case_id, keras_runs, tmp_path)
    model, _ = find_model(EXAMPLES / case.file, case.entry, case.args)
    assert [layer.name for layer in model.layers] == want["names"]
    assert model.count_params() == want["params"]
    assert [tuple(t.shape) for t in model.outputs] == want["shapes"]
    assert model.name == want["model_name"]


@pytest.mark.parametrize("case_id", [p for p in ALL if CASES[p.values[0]].predict])
def test_outputs_match_keras_with_its_weights(case_id: str, keras_runs: dict, tmp_path: Path) -> None:
    case = CASES[case_id]
    want = keras_run(case_id, keras_runs, tmp_path)
    graph = compiler.load(EXAMPLES / case.file, weights=want["weights"], entry=case.entry, args=case.args)
    onnx_path = compiler.save(compiler.compile(graph), tmp_path / f"{case_id}.onnx")
    feeds = dict(zip(want["input_names"], want["inputs"], strict=True))
    _, got = run_onnx(onnx_path, feeds)
    assert len(got) == len(want["outputs"])
    for g, w in zip(got, want["outputs"], strict=True):
        assert g.shape == w.shape
        assert rel_error(g, w) <= 1e-4


def test_conv2d_demo_shapes_are_the_pages() -> None:
    """Seed 001 printed each demo's output shape; Keras and kerascc both give them."""
    namespace = runpy.run_path(str(EXAMPLES / "conv2d_params.py"))
    for args, printed in namespace["DEMOS"]:
        keras.backend.clear_session()
        want = tuple(namespace["conv1"](**args).output.shape)
        model, _ = find_model(EXAMPLES / "conv2d_params.py", "conv1", args)
        assert tuple(model.output.shape) == want == printed


def _plain(config: dict[str, Any]) -> Any:
    return json.loads(json.dumps(config))


@pytest.mark.parametrize(
    "case_id",
    [
        "encoder_decoder",
        "conv2d_padding_sequential",
        "vgg_block1_conv1",
        "tensor_arithmetic",
        "nested_models",
        "sequence_and_volume",
    ],
)
def test_exported_json_loads_in_keras(case_id: str, tmp_path: Path) -> None:
    case = CASES[case_id]
    target = export_json(EXAMPLES / case.file, tmp_path / "model.json", case.entry, case.args)
    text = target.read_text()
    keras.backend.clear_session()
    loaded = keras.models.model_from_json(text)
    doc = json.loads(text)
    keras.backend.clear_session()
    built = keras_model(case, tmp_path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in built.layers]
    assert loaded.count_params() == built.count_params()
    for ours, theirs in zip(loaded.layers, built.layers, strict=True):
        # as JSON: a nested model's config holds tuples when built and lists when loaded, in Keras too
        assert _plain(ours.get_config()) == _plain(theirs.get_config()), ours.name
    # the document itself is what Keras writes, key for key
    assert doc == json.loads(built.to_json())
