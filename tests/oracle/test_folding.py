"""Constant folding and shape-op merging against Keras: the numbers stay, the ops go."""

from __future__ import annotations

import keras
import numpy as np
import onnx
from keras import layers

import compiler

from .harness import check, randomize


def test_rescaling_and_normalization_fold_into_the_first_conv(tmp_path):
    inp = keras.Input((20, 18, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inp)
    x = layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.5], name="norm")(x)
    x = layers.Conv2D(8, 3, strides=2, name="conv")(x)  # 'valid': the shift folds exactly
    out = layers.GlobalAveragePooling2D(name="gap")(layers.ReLU(name="relu")(x))
    model = randomize(keras.Model(inp, out), 3)
    result = check(model, tmp_path, inputs=[np.random.default_rng(0).random((2, 20, 18, 3), np.float32) * 255])
    result.assert_ops(Mul=0, Add=0, Conv=1)


def test_adapted_normalization_weights(tmp_path):
    norm = layers.Normalization(name="norm")
    data = np.random.default_rng(1).normal(3.0, 2.0, size=(64, 6)).astype(np.float32)
    norm.adapt(data)
    inp = keras.Input((6,), name="features")
    model = randomize(keras.Model(inp, layers.Dense(4, name="dense")(norm(inp))), 4)
    check(model, tmp_path, inputs=[data[:5]]).assert_ops(Gemm=1, only=True)


def test_inverted_normalization(tmp_path):
    inp = keras.Input((5,), name="z")
    out = layers.Normalization(mean=[1, 2, 3, 4, 5], variance=[1, 4, 9, 16, 25], invert=True, name="denorm")(inp)
    check(keras.Model(inp, out), tmp_path)


def test_batchnorm_before_conv(tmp_path):
    inp = keras.Input((9, 9, 4), name="x")
    a = layers.BatchNormalization(name="bn_valid")(inp)
    a = layers.Conv2D(6, 3, name="conv_valid")(a)  # folds: no padding
    b = layers.BatchNormalization(name="bn_same")(inp)
    b = layers.Conv2D(6, 3, padding="same", name="conv_same")(b)  # border would change: shift kept
    c = layers.BatchNormalization(name="bn_flat")(layers.Flatten(name="flat")(layers.ReLU(name="r")(inp)))
    c = layers.Dense(3, name="dense")(c)  # folds into Dense
    model = randomize(keras.Model(inp, [a, b, c]), 5)
    check(model, tmp_path).assert_ops(Mul=0, Add=1)  # bn_same keeps its shift b/a; its scale went into conv_same


def test_batchnorm_before_grouped_and_depthwise_conv(tmp_path):
    inp = keras.Input((8, 8, 4), name="x")
    x = layers.BatchNormalization(name="bn1")(layers.ReLU(name="r1")(inp))
    x = layers.Conv2D(6, 3, groups=2, name="grouped")(x)
    x = layers.BatchNormalization(name="bn2")(layers.ReLU(name="r2")(x))
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    model = randomize(keras.Model(inp, x), 6)
    check(model, tmp_path).assert_ops(Mul=0, Add=0)


def test_consecutive_padding_and_reshapes_merge(tmp_path):
    inp = keras.Input((7, 6, 2), name="x")
    x = layers.ZeroPadding2D(((1, 0), (2, 1)), name="pad1")(layers.ReLU(name="r")(inp))
    x = layers.ZeroPadding2D(((0, 2), (1, 0)), name="pad2")(x)
    x = layers.Conv2D(3, 3, name="conv")(x)
    x = layers.Reshape((8 * 8, 3), name="reshape1")(x)
    x = layers.Reshape((3, 8, 8), name="reshape2")(x)
    x = layers.Flatten(name="flat")(x)
    model = randomize(keras.Model(inp, x), 7)
    result = check(model, tmp_path)
    result.assert_ops(Pad=0)
    assert result.ops["Reshape"] + result.ops["Flatten"] == 1


def test_fold_report_counts(tmp_path):
    inp = keras.Input((6, 6, 3))
    x = layers.Rescaling(0.5)(inp)
    x = layers.Conv2D(4, 3)(x)
    path = tmp_path / "m.keras"
    keras.Model(inp, x).save(path)
    res = compiler.compile(path)
    summary = {r.name: r.summary for r in res.report}
    assert summary["fold_affine"] == "folded 1 constant scale/shift (0 from BatchNorm)"
    assert not [n for n in res.onnx.graph.node if n.op_type in ("Mul", "Add")]
    onnx.checker.check_model(res.onnx, full_check=True)
