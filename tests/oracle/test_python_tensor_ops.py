"""Tensor operations in a ``.py`` model file: the Python frontend records the nodes Keras 3's
``to_json()`` writes for the same code (compared key for key), the export loads in Keras, and the
compiled model matches Keras's predictions."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import keras
import numpy as np
import pytest

import compiler
from frontends.keras_python import export_json

from .harness import rel_error, run_onnx

KERAS_OPS_MODEL = """
import numpy as np
import keras
from keras import ops, layers

inp = keras.Input((6, 8, 4), name="image")
x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
a = x[..., 0] + x[:, ::2, 1:7:3, :][:, :, :, -1][..., None][..., 0][:, :1, :1]
b = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (-1, 4, 48))
c = ops.concatenate(ops.split(x, 2, axis=3)[::-1], axis=-1) * ops.mean(x, axis=(1, 2), keepdims=True)
d = ops.sqrt(abs(x)) + x ** 2 - ops.clip(x, -0.5, 0.5) + ops.where(x > 0.1, x, -x)
e = ops.nn.depth_to_space(ops.tile(x, (1, 1, 1, 4)), 2) + ops.image.resize(x, (12, 16), interpolation="nearest")
f = ops.max(ops.expand_dims(x, 1), axis=1) + ops.pad(x[:, 1:, :, :], ((0, 0), (1, 0), (0, 0), (0, 0)))
g = ops.softmax(ops.matmul(b, ops.transpose(b, (0, 2, 1))), axis=-1) + ops.arange(4, dtype="float32")
h = x * np.arange(4, dtype="float32") + ops.cast(ops.argmax(x, axis=-1), "float32")[..., None]
n = ops.shape(x)[1]
i = ops.stack([ops.sum(x, axis=-1), ops.einsum("bhwc,bhwc->bhw", x, x)], axis=-1)[:, :n]
model = keras.Model(inp, [a, b, c, d, e, f, g, h, i])
"""

TF_MODEL = """
import tensorflow as tf
import keras

inp = keras.Input((6, 8, 4), name="image")
x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
se = tf.math.reduce_mean(x, axis=[1, 2], keepdims=True)
y = tf.nn.depth_to_space(tf.concat([x * se, x], axis=-1), 2)
z = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, 4, 48])
w = tf.nn.softmax(tf.matmul(z, z, transpose_b=True)) + tf.split(x, [1, 3], axis=-1)[1][..., 0][:, :4, :4]
v = tf.sqrt(tf.abs(x)) + tf.math.reduce_max(x, axis=-1)[..., tf.newaxis]
model = keras.Model(inp, [y, w, tf.image.resize(x, (3, 4)), v])
"""


def _predict_and_compare(source: Path, tmp_path: Path) -> dict:
    """Export the file's JSON, load it in Keras, and compare kerascc's compiled model with it."""
    x = np.random.default_rng(0).normal(size=(2, 6, 8, 4)).astype("float32")
    export = export_json(source, tmp_path / "model.json")
    text = export.read_text()
    keras.backend.clear_session()
    loaded = keras.models.model_from_json(text)
    weights = tmp_path / "model.weights.h5"
    loaded.save_weights(weights)
    want = loaded.predict(x, verbose=0)
    result = compiler.compile(tmp_path / "model.json", weights=weights)
    _, got = run_onnx(result.serialize(), {"image": x})
    errors = [rel_error(g, w) for g, w in zip(got, want, strict=True)]
    assert max(errors) < 1e-4, errors
    return json.loads(text)


@pytest.mark.covers("keras.ops in .py files", "slicing, reshape, transpose, split, concatenate, math, reductions")
def test_keras_ops_in_a_python_file_match_keras_json_and_predictions(tmp_path):
    source = tmp_path / "ops_model.py"
    source.write_text(KERAS_OPS_MODEL)
    doc = _predict_and_compare(source, tmp_path)
    keras.backend.clear_session()
    built = runpy.run_path(str(source), run_name="__kerascc_model__")["model"]
    assert doc == json.loads(built.to_json())  # the very nodes Keras writes, key for key


TF_SHAPES_MODEL = """
import tensorflow as tf
import keras

inp = keras.Input((6, 8, 4), name="image")
x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
seq = tf.reshape(x, (-1, tf.shape(x)[1] * tf.shape(x)[2], tf.shape(x)[-1]))  # CCT's tokenizer
last = tf.range(start=0, limit=10, delta=2)[-1]
model = keras.Model(inp, [seq[:, :last], x * (tf.ones((6, 8, 4)) * 2.0) - tf.zeros((4,))])
"""


def test_tf_shape_ones_zeros_and_range_in_a_python_file(tmp_path):
    """Static sizes from ``tf.shape`` feed a reshape; ``tf.range``/``tf.ones``/``tf.zeros`` are
    constants, as ``keras.ops.arange``/``ones``/``zeros`` are (an index taken from one is a number)."""
    source = tmp_path / "tf_shapes.py"
    source.write_text(TF_SHAPES_MODEL)
    doc = _predict_and_compare(source, tmp_path)
    reshape = next(layer for layer in doc["config"]["layers"] if layer["class_name"] == "Reshape")
    assert reshape["config"]["newshape"] == [-1, 48, 4]


@pytest.mark.covers("tf.* functions in .py files", "recorded as the keras.ops nodes Keras 3 would write")
def test_tf_functions_in_a_python_file_become_keras_ops(tmp_path):
    source = tmp_path / "tf_model.py"
    source.write_text(TF_MODEL)
    doc = _predict_and_compare(source, tmp_path)
    classes = {layer["class_name"] for layer in doc["config"]["layers"]}
    assert {"Mean", "DepthToSpace", "Reshape", "Transpose", "Matmul", "Softmax", "Split", "GetItem"} <= classes
    result = compiler.compile(source)
    assert result.onnx is not None
