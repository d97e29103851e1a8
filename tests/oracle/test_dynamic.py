"""Models with unknown spatial sizes: one compiled file serves every image size, as in Keras."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnxruntime as ort
from keras import layers

import compiler


def test_fully_convolutional_any_size(tmp_path: Path, randomize) -> None:
    inp = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(6, 3, strides=2, padding="same", name="down")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(x)
    x = layers.AveragePooling2D(2, strides=2, padding="same", name="avgpool")(x)
    x = layers.Conv2D(5, 4, padding="same", dilation_rate=2, name="dilated")(x)
    x = layers.UpSampling2D(2, name="up")(x)
    out = layers.Conv2D(2, 1, activation="sigmoid", name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 5)
    path = tmp_path / "fcn.keras"
    model.save(path)
    res = compiler.compile(path)
    dims = res.onnx.graph.input[0].type.tensor_type.shape.dim
    assert [bool(d.dim_param) for d in dims] == [True, True, True, False]
    sess = ort.InferenceSession(res.serialize(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for shape in [(2, 17, 13, 3), (1, 32, 31, 3), (1, 5, 8, 3), (3, 64, 64, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        want = model.predict(x, verbose=0)
        got = sess.run(None, {"image": x})[0]
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) <= 1e-4 * np.max(np.abs(want)), shape
