"""Tutorial-style files (tests/data/tutorials) against real Keras.

Each file runs with real Keras, its training lines made harmless (``fit``, ``evaluate``,
``save`` and ``plot_model`` do nothing, ``mnist.load_data`` gives one zero sample, as
kerascc's stand-ins do), and with kerascc's stand-ins. The two configs must be the same document
(layers, regularizer, constraint and initializer objects, key for key; ``compile_config``,
which ``model.compile`` adds, is training setup and left out); then Keras's weights,
with randomised BatchNorm statistics, are loaded onto the compiled model and onnxruntime must
give what ``model.predict`` gives.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

import compiler
from frontends.keras_python import model_config

from .harness import keras_predict, make_inputs, randomize, rel_error, run_onnx

TUTORIALS = Path(__file__).resolve().parents[1] / "data" / "tutorials"


@pytest.fixture
def training_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras.Model, "fit", lambda self, *a, **k: SimpleNamespace(history={}))
    monkeypatch.setattr(keras.Model, "evaluate", lambda self, *a, **k: [0.0, 0.0])
    monkeypatch.setattr(keras.Model, "save", lambda self, *a, **k: None)
    monkeypatch.setattr(keras.utils, "plot_model", lambda *a, **k: None)

    def one_sample() -> tuple:
        return (np.zeros((1, 28, 28), "uint8"), np.zeros((1,), "uint8")), (
            np.zeros((1, 28, 28), "uint8"),
            np.zeros((1,), "uint8"),
        )

    monkeypatch.setattr(keras.datasets.mnist, "load_data", one_sample)


SCRIPTS = [
    "mnist_convnet.py",
    "small_xception.py",
    "segmentation_regularized.py",
    pytest.param("transfer_learning.py", marks=pytest.mark.slow),
    pytest.param("densenet_features.py", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name", SCRIPTS)
def test_tutorial_script_matches_keras(name: str, training_does_nothing: None, tmp_path: Path) -> None:
    keras.backend.clear_session()
    source = (TUTORIALS / name).read_text()
    keras_copy = tmp_path / name  # real Keras would download the ImageNet weights; the graph is the same
    keras_copy.write_text(source.replace('weights="imagenet"', "weights=None"))
    model = runpy.run_path(str(keras_copy), run_name="__kerascc_model__")["model"]
    ours, _ = model_config(TUTORIALS / name)
    theirs = json.loads(model.to_json())
    theirs.pop("compile_config", None)  # model.compile()'s training setup: not part of the graph
    ours.pop("compile_config", None)
    assert ours == theirs
    randomize(model, 5)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    inputs = make_inputs(model, batch=2)
    want = keras_predict(model, inputs)
    onnx_path = compiler.save(compiler.compile(TUTORIALS / name, weights=weights), tmp_path / "model.onnx")
    names = [t._keras_history.operation.name for t in model.inputs]
    _, got = run_onnx(onnx_path, dict(zip(names, inputs, strict=True)))
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert rel_error(g, w) <= 1e-4
