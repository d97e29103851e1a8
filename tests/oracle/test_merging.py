"""Merging layers against Keras: Add, Subtract, Multiply, Maximum, Minimum, Average and Concatenate
(any axis), the same tensor merged with itself, residual additions, and squeeze-and-excitation's
broadcast Multiply with the shape of the compiled graph checked as well as its numbers."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from .harness import at_most, check, randomize

# --------------------------------------------------------------------------
# Add and the other element-wise merges


def test_add_same_tensor_twice(tmp_path):
    inp = keras.Input((6, 5, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.add([x, x], name="double")
    x = layers.ReLU(name="relu")(x)
    out = layers.Add(name="triple_in")([x, x, layers.Conv2D(4, 1, name="c1")(x)])
    model = keras.Model(inp, out)
    randomize(model, 20)
    check(model, tmp_path)


def test_add_then_relu_residual(tmp_path):
    inp = keras.Input((8, 8, 4), name="image")
    x = layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Add(name="add")([x, inp])
    x = layers.Activation("relu", name="relu")(x)
    y = layers.Conv2D(4, 3, padding="same", name="conv2")(x)
    out = layers.ReLU(name="relu2")(layers.Add(name="add2")([y, x]))
    model = keras.Model(inp, [out, x])
    randomize(model, 21)
    check(model, tmp_path)


@pytest.mark.covers("Add, Subtract, Multiply, Maximum, Minimum, Average", "two or more inputs")
@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average"])
def test_merge_layers(tmp_path, merge):
    inp = keras.Input((6, 5, 3), name="image")
    a = layers.Conv2D(4, 3, padding="same", name="conv_a")(inp)
    b = layers.Conv2D(4, 1, name="conv_b")(inp)
    x = getattr(layers, merge)(name="merge")([a, b])
    v = layers.GlobalAveragePooling2D(name="gap")(x)
    w = getattr(layers, merge)(name="merge_vec")([v, layers.Dense(4, name="dv")(v)])
    model = keras.Model(inp, [x, w])
    randomize(model, 43)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# Concatenate


@pytest.mark.covers("Concatenate", "any axis, negative axes")
@pytest.mark.parametrize("axis", [1, 2, 3, -1, -2, -3])
def test_concatenate_axis_4d(tmp_path, axis):
    inp = keras.Input((4, 4, 3), name="image")
    a = layers.Conv2D(3, 3, padding="same", name="conv_a")(inp)
    b = layers.Conv2D(3, 1, name="conv_b")(inp)
    x = layers.Concatenate(axis=axis, name="cat")([a, b, inp])
    out = layers.Conv2D(2, 3, name="after")(x)
    model = keras.Model(inp, [x, out])
    randomize(model, 22)
    check(model, tmp_path)


def test_concatenate_function_default_axis(tmp_path):
    inp = keras.Input((5, 5, 2), name="image")
    a = layers.Conv2D(3, 3, padding="same", name="conv_a")(inp)
    b = layers.MaxPooling2D(3, strides=1, padding="same", name="pool")(inp)
    out = layers.concatenate([a, b], name="cat")
    model = keras.Model(inp, out)
    randomize(model, 23)
    check(model, tmp_path)


def test_concatenate_2d(tmp_path):
    a_in = keras.Input((4,), name="a")
    b_in = keras.Input((3,), name="b")
    x = layers.Concatenate(name="cat")([layers.Dense(5, name="da")(a_in), b_in])
    out = layers.Dense(2, name="head")(x)
    model = keras.Model([a_in, b_in], out)
    randomize(model, 24)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# squeeze-and-excitation: a pooled (N, 1, 1, C) gate multiplies the (N, H, W, C) map


def test_squeeze_excitation_broadcast_multiply(tmp_path):
    inp = keras.Input((6, 6, 8), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="swish", name="conv")(inp)
    se = layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(x)
    se = layers.Conv2D(2, 1, activation="swish", name="se_reduce")(se)
    se = layers.Conv2D(8, 1, activation="sigmoid", name="se_expand")(se)
    out = layers.Multiply(name="se_scale")([x, se])  # (N,6,6,8) * (N,1,1,8)
    model = keras.Model(inp, out)
    randomize(model, 44)
    check(model, tmp_path)


def _se_model(keepdims: bool, pool=layers.GlobalAveragePooling2D):
    inp = keras.Input((9, 9, 4), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv")(inp)
    if keepdims:
        s = pool(keepdims=True, name="squeeze")(x)
    else:
        s = layers.Reshape((1, 1, 16), name="reshape")(pool(name="squeeze")(x))
    s = layers.Conv2D(4, 1, activation="relu", name="reduce")(s)
    s = layers.Conv2D(16, 1, name="expand")(s)
    s = layers.ReLU(6.0, name="gate_relu6")(s + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    x = layers.Multiply(name="excite")([x, s])
    return keras.Model(inp, x)


@pytest.mark.parametrize(
    "keepdims, pool",
    [(False, layers.GlobalAveragePooling2D), (True, layers.GlobalAveragePooling2D), (False, layers.GlobalMaxPooling2D)],
    ids=["gap_reshape", "gap_keepdims", "gmp_reshape"],
)
def test_squeeze_excitation_nchw_input(keepdims, pool, tmp_path):
    """Fed NCHW, the only Transpose left is the output's: the squeeze keeps its dims, and no
    Flatten or Reshape appears."""
    model = randomize(_se_model(keepdims, pool), 63)
    result = check(model, tmp_path, input_layout="nchw")
    # the excitation's Mul, and the hard sigmoid's 1/6
    result.assert_ops(Transpose=1, Flatten=0, Reshape=0, Conv=3, Mul=2)


@pytest.mark.parametrize("keepdims", [False, True], ids=["gap_reshape", "gap_keepdims"])
def test_squeeze_excitation_nhwc(keepdims, tmp_path):
    model = randomize(_se_model(keepdims), 64)
    result = check(model, tmp_path)
    result.assert_ops(Transpose=2, Flatten=0, Reshape=0)
    assert result.transposes_inside == 0


def test_squeeze_vector_shared_with_a_head(tmp_path):
    """The pooled vector feeds both the excitation (as (1, 1, C)) and a Dense head."""
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    pooled = layers.GlobalAveragePooling2D(name="squeeze")(x)
    s = layers.Reshape((1, 1, 8), name="reshape")(pooled)
    s = layers.Conv2D(8, 1, activation="sigmoid", name="gate")(s)
    excited = layers.Multiply(name="excite")([x, s])
    head = layers.Dense(3, name="head")(pooled)
    model = randomize(keras.Model(inp, [excited, head]), 66)
    result = check(model, tmp_path)
    result.assert_ops(Transpose=2)
    assert result.transposes_inside == 0


def test_squeeze_excitation_with_pooled_head(tmp_path):
    """EfficientNet's layout: SE (sigmoid gate) inside, a pooled Dense head at the end."""
    inp = keras.Input((10, 10, 3), name="image")
    x = layers.Conv2D(12, 3, strides=2, padding="same", activation="swish", name="stem")(inp)
    s = layers.GlobalAveragePooling2D(name="se_squeeze")(x)
    s = layers.Reshape((1, 1, 12), name="se_reshape")(s)
    s = layers.Conv2D(3, 1, activation="swish", name="se_reduce")(s)
    s = layers.Conv2D(12, 1, activation="sigmoid", name="se_expand")(s)
    x = layers.multiply([x, s], name="se_excite")
    x = layers.Conv2D(8, 1, name="project")(x)
    out = layers.Dense(5, name="head")(layers.GlobalAveragePooling2D(name="pool")(x))
    model = randomize(keras.Model(inp, out), 65)
    check(model, tmp_path).assert_ops(Transpose=1, Reshape=0, Flatten=at_most(1))
