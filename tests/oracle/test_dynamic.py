"""Models with unknown spatial sizes: one compiled file serves every image size, as in Keras."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnxruntime as ort
from keras import layers, ops

import compiler

from .harness import check_inputs, hard_swish_relu6, randomize, randomize_norms


def test_fully_convolutional_any_size(tmp_path: Path) -> None:
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


def test_new_layers_with_unknown_image_size(tmp_path: Path) -> None:
    """One compiled file for every image size: cropping, normalization over channels, the
    squeeze-and-excitation reshape and constant arithmetic must not bake in a size."""
    inp = keras.Input((None, None, 3), name="image")
    x = layers.SeparableConv2D(8, 3, strides=2, padding="same", name="sep")(inp)
    x = layers.LayerNormalization(name="ln")(x)
    x = layers.Cropping2D(((1, 2), (0, 3)), name="crop")(x)
    x = hard_swish_relu6(x)
    s = layers.Reshape((1, 1, 8), name="se_reshape")(layers.GlobalAveragePooling2D(name="se_pool")(x))
    s = layers.Conv2D(8, 1, activation="sigmoid", name="se_gate")(s)
    x = layers.Multiply(name="se_excite")([x, s])
    out = layers.Conv2D(4, 3, name="head")(ops.maximum(x, -0.1) - 0.5)
    model = randomize_norms(randomize(keras.Model(inp, out), 81), 81)
    rng = np.random.default_rng(81)
    shapes = [(2, 17, 19, 3), (1, 32, 24, 3), (1, 12, 16, 3)]
    result = check_inputs(model, tmp_path, [[rng.normal(0.0, 2.0, shape).astype("float32")] for shape in shapes])
    result.assert_ops(Transpose=2, Reshape=0, Flatten=0)
