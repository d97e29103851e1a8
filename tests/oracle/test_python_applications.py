"""``keras.applications`` in .py model files against the real applications.

Each family's stand-in must record the document real Keras's ``to_json()`` gives for the same
call (layer names, configs, automatic names, the model's name) for ``include_top`` with a small
``classes`` and ``classifier_activation=None``, and for the features with ``pooling``; then real
Keras's weights (BatchNorm statistics randomised) load onto the compiled model by ``--weights``
and onnxruntime must give what ``model.predict`` gives. Inputs are about 32×32, the smallest size
the applications accept (71 for Xception, 75 for InceptionV3); the deeper variants of a family are
compared by document only.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import keras
import pytest

import compiler
from compiler.errors import CompileError
from frontends.keras_python import model_config

from .harness import keras_predict, make_inputs, randomize, rel_error, run_onnx

# (application, keyword arguments, compare outputs too)
CASES = [
    ("ResNet50", "input_shape=(32, 32, 3), classes=6, classifier_activation=None", True),
    ("ResNet101", "include_top=False, input_shape=(32, 32, 3), pooling='max'", False),
    ("ResNet152", "include_top=False, input_shape=(32, 32, 3)", False),
    ("ResNet50V2", "include_top=False, input_shape=(32, 32, 3), pooling='avg'", True),
    ("ResNet101V2", "input_shape=(32, 32, 3), classes=4", False),
    ("ResNet152V2", "include_top=False", False),
    ("VGG16", "input_shape=(32, 32, 3), classes=5", True),
    ("VGG19", "include_top=False, input_shape=(32, 32, 3), pooling='avg'", False),
    ("MobileNet", "input_shape=(32, 32, 3), classes=6, alpha=0.5", True),
    ("MobileNetV2", "include_top=False, input_shape=(35, 35, 3), pooling='avg', alpha=0.35", True),
    ("DenseNet121", "input_shape=(32, 32, 3), classes=3", True),
    ("DenseNet169", "include_top=False, input_shape=(32, 32, 3), pooling='avg'", False),
    ("DenseNet201", "include_top=False, input_shape=(32, 32, 3)", False),
    ("Xception", "input_shape=(71, 71, 3), classes=3", True),
    ("InceptionV3", "include_top=False, input_shape=(75, 75, 3), pooling='max'", True),
    ("EfficientNetB0", "include_top=False, input_shape=(32, 32, 3), pooling='avg'", True),
    ("MobileNetV3Small", "input_shape=(32, 32, 3), classes=5", True),
    ("MobileNetV3Large", "include_top=False, input_shape=(32, 32, 3), minimalistic=True, alpha=0.75", False),
    ("EfficientNetB3", "input_shape=(33, 33, 3), classes=4", False),
]


def _write(tmp_path: Path, app: str, kwargs: str) -> Path:
    path = tmp_path / "model.py"
    path.write_text(f"import keras\nmodel = keras.applications.{app}(weights=None, {kwargs})\n")
    return path


# the rest are full-depth networks: slow
FAST = ("MobileNet", "MobileNetV2", "VGG19", "EfficientNetB3", "MobileNetV3Large")


def _case(app: str, kwargs: str, run: bool) -> object:
    return pytest.param(app, kwargs, run, id=app, marks=[] if app in FAST else [pytest.mark.slow])


@pytest.mark.parametrize(("app", "kwargs", "run"), [_case(*c) for c in CASES])
def test_application_in_a_python_file_is_the_real_one(app: str, kwargs: str, run: bool, tmp_path: Path) -> None:
    path = _write(tmp_path, app, kwargs)
    keras.backend.clear_session()
    model = runpy.run_path(str(path))["model"]
    ours, _ = model_config(path)
    assert ours == json.loads(model.to_json())
    if not run:
        return
    randomize(model, 11)
    weights = tmp_path / "app.weights.h5"
    model.save_weights(weights)
    x = make_inputs(model, batch=2)
    onnx_path = compiler.save(compiler.compile(path, weights=weights), tmp_path / "app.onnx")
    _, got = run_onnx(onnx_path, {model.inputs[0]._keras_history.operation.name: x[0]})
    want = keras_predict(model, x)
    assert rel_error(got[0], want[0]) <= 1e-4


def test_activation_aliases_and_normalization_axis_are_recorded_as_keras_records_them(tmp_path: Path) -> None:
    """EfficientNet's ``Activation("swish")`` is stored as "silu"; ``Normalization(axis=3)`` as [3]."""
    path = tmp_path / "model.py"
    path.write_text(
        "import keras\nfrom keras import layers\ninputs = keras.Input((8, 8, 3))\n"
        "x = layers.Normalization(axis=3, mean=0.5, variance=4.0)(inputs)\n"
        "x = layers.Conv2D(4, 3, activation='swish')(x)\nx = layers.Activation('hard_swish')(x)\n"
        "model = keras.Model(inputs, layers.Dense(2, activation=keras.activations.swish)(x))\n"
    )
    keras.backend.clear_session()
    model = runpy.run_path(str(path))["model"]
    ours, _ = model_config(path)
    assert ours == json.loads(model.to_json())


def test_tf_preprocess_input_is_recorded_as_keras_records_it(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        "import keras\nfrom keras.applications.resnet_v2 import preprocess_input\n"
        "inputs = keras.Input((32, 32, 3))\nx = preprocess_input(inputs)\n"
        "model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(x))\n"
    )
    keras.backend.clear_session()
    model = runpy.run_path(str(path))["model"]
    ours, _ = model_config(path)
    assert ours == json.loads(model.to_json())
    assert [layer["class_name"] for layer in ours["config"]["layers"]][1:3] == ["TrueDivide", "Subtract"]


@pytest.mark.parametrize(
    ("family", "ops"),
    [
        ("resnet50", ["GetItem", "GetItem", "GetItem", "Stack", "Add"]),
        ("vgg19", ["GetItem", "GetItem", "GetItem", "Stack", "Add"]),
        ("imagenet_utils", ["GetItem", "GetItem", "GetItem", "Stack", "Add"]),
        ("densenet", ["TrueDivide", "Add", "TrueDivide"]),
    ],
)
def test_caffe_and_torch_preprocess_input_are_recorded_as_keras_records_them(
    family: str, ops: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        f"import keras\nfrom keras.applications.{family} import preprocess_input\n"
        "inputs = keras.Input((32, 32, 3))\nx = preprocess_input(inputs)\nmodel = keras.Model(inputs, x)\n"
    )
    keras.backend.clear_session()
    model = runpy.run_path(str(path))["model"]
    ours, _ = model_config(path)
    assert ours == json.loads(model.to_json())
    assert [layer["class_name"] for layer in ours["config"]["layers"]][1:] == ops


def test_an_application_not_built_in_python_files_says_how_to_compile_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "ConvNeXtTiny", "include_top=False")
    with pytest.raises(CompileError, match=r"model.py:2: keras.applications.ConvNeXtTiny is not available.*to_json"):
        model_config(path)
