"""``compiler.compile(model)`` on a live Keras model, as a notebook would call it.

Keras 3 and tf.keras models are serialized in memory (nothing written to disk) and must give what
``model.predict`` gives, with the model's own weights, and the same ONNX graph as its saved ``.keras`` file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tf_keras
from keras import layers

import compiler
from compiler.errors import CompileError

from .harness import keras_predict, randomize, rel_error, run_onnx


def _keras3_model() -> keras.Model:
    inp = keras.Input((12, 12, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    block = keras.Sequential([layers.Conv2D(6, 3, padding="same"), layers.ReLU()], name="block")
    x = layers.Add(name="add")([x, block(x)])
    out = layers.Dense(4, activation="softmax", name="head")(layers.GlobalAveragePooling2D(name="pool")(x))
    return randomize(keras.Model(inp, out, name="live"), 3)


def test_keras3_model_compiles_in_memory_and_matches_predict(tmp_path: Path, monkeypatch) -> None:
    model = _keras3_model()
    x = np.random.default_rng(0).normal(size=(3, 12, 12, 3)).astype("float32")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where a temporary file would go
    monkeypatch.chdir(scratch)
    compiled = compiler.compile(model)
    assert os.listdir(scratch) == []  # nothing left in the temporary or the working folder
    assert compiled.graph.meta["kerascc.weights"] == "the model's own (in memory)"
    assert not compiled.random_weights
    path = compiler.save(compiled, tmp_path / "live.onnx")
    _, (got,) = run_onnx(path, {"image": x})
    assert rel_error(got, keras_predict(model, [x])[0]) <= 1e-4
    model.save(tmp_path / "live.keras")
    from_file = compiler.compile(tmp_path / "live.keras").onnx
    assert from_file.graph.SerializeToString(deterministic=True) == compiled.onnx.graph.SerializeToString(
        deterministic=True
    )  # the same graph and weights as the saved file's; only the metadata names the source


def test_tf_keras_model_compiles_in_memory(tmp_path: Path) -> None:
    inp = tf_keras.Input((10, 10, 2), name="image")
    x = tf_keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = tf_keras.layers.BatchNormalization(name="bn")(x)
    out = tf_keras.layers.Dense(3, name="head")(tf_keras.layers.Flatten(name="flat")(x))
    model = tf_keras.Model(inp, out)
    rng = np.random.default_rng(1)
    bn = model.get_layer("bn")
    bn.set_weights([w + rng.uniform(0.1, 0.5, w.shape).astype("float32") for w in bn.get_weights()])
    x = rng.normal(size=(2, 10, 10, 2)).astype("float32")
    compiled = compiler.compile(model)
    path = compiler.save(compiled, tmp_path / "tfk.onnx")
    _, (got,) = run_onnx(path, {"image": x})
    assert rel_error(got, model.predict(x, verbose=0)) <= 1e-4


def test_an_unbuilt_model_is_refused_in_one_line() -> None:
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(CompileError, match="not built yet"):
        compiler.compile(model)
