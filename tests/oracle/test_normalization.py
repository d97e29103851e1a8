"""Normalization layers against Keras: BatchNormalization folded into the Conv/Dense before it (or
kept where folding would be wrong) and LayerNormalization on vectors, sequences and feature maps.
Normalization (the preprocessing layer) is in test_preprocessing.py."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import compiler

from .harness import check, randomize, randomize_norms

# --------------------------------------------------------------------------
# BatchNormalization

BN_VARIANTS = {
    "default": dict(),
    "center_false": dict(center=False),
    "scale_false": dict(scale=False),
    "neither": dict(center=False, scale=False),
    "eps_0.1": dict(epsilon=0.1),
    "eps_1e-5": dict(epsilon=1e-5),
}


@pytest.mark.covers("BatchNormalization", "epsilon, center, scale (folded into Conv/Dense)")
@pytest.mark.parametrize("kwargs", list(BN_VARIANTS.values()), ids=list(BN_VARIANTS))
def test_batchnorm_after_conv(tmp_path, kwargs):
    inp = keras.Input((7, 6, 3), name="image")
    x = layers.Conv2D(5, 3, padding="same", use_bias=False, name="conv")(inp)
    x = layers.BatchNormalization(name="bn", **kwargs)(x)
    x = layers.Activation("relu", name="relu")(x)
    x = layers.Conv2D(4, 3, strides=2, name="conv_b")(x)
    out = layers.BatchNormalization(name="bn_b", **kwargs)(x)
    model = keras.Model(inp, out)
    randomize(model, 15)
    check(model, tmp_path)


@pytest.mark.parametrize("kwargs", list(BN_VARIANTS.values()), ids=list(BN_VARIANTS))
def test_batchnorm_after_dense(tmp_path, kwargs):
    inp = keras.Input((10,), name="vector")
    x = layers.Dense(8, name="dense")(inp)
    x = layers.BatchNormalization(name="bn", **kwargs)(x)
    x = layers.Activation("relu", name="relu")(x)
    out = layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 16)
    check(model, tmp_path)


def test_batchnorm_after_activated_conv_and_dense(tmp_path):
    # The activation sits between the linear op and the normalisation, so the
    # BN must not be folded into the weights as if it came straight after.
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(5, 3, padding="same", activation="relu", name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    v = layers.GlobalAveragePooling2D(name="gap")(x)
    v = layers.Dense(4, activation="tanh", name="dense")(v)
    v = layers.BatchNormalization(name="bn_dense")(v)
    model = keras.Model(inp, [x, v])
    randomize(model, 32)
    check(model, tmp_path, forbid_ops=("Dropout",))


@pytest.mark.covers("BatchNormalization", "axis 1 or 2 of NHWC")
@pytest.mark.parametrize("axis", [1, 2], ids=["axis1", "axis2"])
def test_batchnorm_on_a_spatial_axis(tmp_path, axis):
    """BatchNormalization over H or W, not channels: either compiled correctly
    or refused with a CompileError, never folded as if per channel."""
    inp = keras.Input((5, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    out = layers.BatchNormalization(axis=axis, name="bn")(x)
    model = keras.Model(inp, out)
    randomize(model, 33)
    try:
        check(model, tmp_path, forbid_ops=("Dropout",))
    except compiler.CompileError as exc:
        print("refused:", exc)


def test_batchnorm_after_conv_transpose(tmp_path):
    inp = keras.Input((5, 6, 4), name="image")
    x = layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")(inp)
    out = layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inp, out)
    randomize(model, 17)
    check(model, tmp_path)


def test_batchnorm_without_preceding_linear_op(tmp_path):
    # Nothing to fold into: the normalisation must still be applied. Whether it
    # stays a BatchNormalization op is the compiler's choice, so it is allowed here.
    inp = keras.Input((5, 5, 3), name="image")
    x = layers.BatchNormalization(name="bn_in")(inp)
    y = layers.Conv2D(3, 3, padding="same", name="conv")(x)
    s = layers.Add(name="add")([x, y])
    out = layers.BatchNormalization(name="bn_after_add", epsilon=0.01)(s)
    model = keras.Model(inp, out)
    randomize(model, 18)
    check(model, tmp_path, forbid_ops=("Dropout",))


def test_conv_output_used_by_batchnorm_and_elsewhere(tmp_path):
    # The conv output has a second consumer, so folding BN into the conv weights
    # would corrupt the other branch; BatchNormalization nodes are allowed here.
    inp = keras.Input((6, 6, 3), name="image")
    c = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    bn = layers.BatchNormalization(name="bn")(c)
    other = layers.Conv2D(4, 1, name="side")(c)
    out = layers.Concatenate(name="cat")([bn, other, c])
    model = keras.Model(inp, out)
    randomize(model, 19)
    check(model, tmp_path, forbid_ops=("Dropout",))


# --------------------------------------------------------------------------
# LayerNormalization


@pytest.mark.covers("LayerNormalization", "epsilon, center, scale (last axis)")
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"epsilon": 1e-5}, {"center": False}, {"scale": False}, {"center": False, "scale": False}],
    ids=["default", "eps1e-5", "no_center", "no_scale", "neither"],
)
def test_layer_norm_2d(kwargs, tmp_path):
    inp = keras.Input((10,), name="features")
    x = layers.Dense(12, name="dense_in")(inp)
    x = layers.LayerNormalization(name="ln", **kwargs)(x)
    out = layers.Dense(5, name="dense_out")(x)
    model = randomize_norms(randomize(keras.Model(inp, out), 21), 21)
    check(model, tmp_path).assert_ops(LayerNormalization=1)


def test_layer_norm_3d_sequence(tmp_path):
    inp = keras.Input((7, 9), name="tokens")
    x = layers.Dense(16, name="embed")(inp)
    x = layers.LayerNormalization(epsilon=1e-6, name="ln1")(x)
    x = layers.Dense(16, activation="gelu", name="mlp")(x)
    x = layers.LayerNormalization(axis=2, name="ln2")(x)  # the last axis, spelled positively
    model = randomize_norms(randomize(keras.Model(inp, x), 22), 22)
    check(model, tmp_path).assert_ops(LayerNormalization=2)


@pytest.mark.covers("LayerNormalization", "on feature maps")
def test_layer_norm_on_4d_input(tmp_path):
    """Directly on the NHWC model input: normalized over the channels of each pixel."""
    inp = keras.Input((6, 5, 8), name="image")
    x = layers.LayerNormalization(axis=[-1], name="ln")(inp)
    x = layers.Conv2D(4, 3, name="conv")(x)
    model = randomize_norms(randomize(keras.Model(inp, x), 23), 23)
    check(model, tmp_path)


def test_layer_norm_large_epsilon_matters(tmp_path):
    """Small-variance features with epsilon 0.5: a dropped or misplaced epsilon shows."""
    inp = keras.Input((6,), name="features")
    out = layers.LayerNormalization(epsilon=0.5, name="ln")(inp)
    model = randomize_norms(keras.Model(inp, out), 24)
    x = np.random.default_rng(24).normal(3.0, 0.3, (4, 6)).astype("float32")
    check(model, tmp_path, inputs=[x])


@pytest.mark.parametrize(
    "kwargs", [{}, {"epsilon": 1e-6, "center": False}, {"scale": False}], ids=["default", "eps_no_center", "no_scale"]
)
def test_layer_norm_on_conv_channels_between_convs(kwargs, tmp_path):
    """On an NCHW feature map the normalization over channels is spelled out with ReduceMean:
    no Transpose besides the one at the input and the one at the output."""
    inp = keras.Input((9, 10, 3), name="image")
    x = layers.Conv2D(12, 3, padding="same", name="conv1")(inp)
    x = layers.LayerNormalization(name="ln", **kwargs)(x)
    x = layers.Conv2D(5, 3, strides=2, name="conv2")(x)
    model = randomize_norms(randomize(keras.Model(inp, x), 25), 25)
    # Inputs away from zero, so the mean the normalization removes is far from negligible.
    rng = np.random.default_rng(25)
    result = check(model, tmp_path, inputs=[rng.normal(2.0, 1.0, (2, 9, 10, 3)).astype("float32")])
    result.assert_ops(Conv=2, ReduceMean=2, LayerNormalization=0, Transpose=2)
    assert result.transposes_inside == 0


def test_layer_norm_after_flatten(tmp_path):
    """Between Flatten and Dense the features must be in Keras's (NHWC) order: the statistics
    would not notice another order, the per-feature gamma and beta would."""
    inp = keras.Input((4, 3, 5), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv")(inp)
    x = layers.Flatten(name="flat")(x)
    x = layers.LayerNormalization(name="ln")(x)
    out = layers.Dense(4, name="dense")(x)
    model = randomize_norms(randomize(keras.Model(inp, out), 26), 26)
    check(model, tmp_path)


def test_layer_norm_on_permuted_sequence(tmp_path):
    inp = keras.Input((5, 8), name="sequence")
    x = layers.Dense(6, name="dense_in")(inp)
    x = layers.Permute((2, 1), name="swap")(x)  # (6, 5): normalize over the 5 time steps
    x = layers.LayerNormalization(epsilon=1e-4, name="ln")(x)
    out = layers.Dense(3, name="dense_out")(x)
    model = randomize_norms(randomize(keras.Model(inp, out), 27), 27)
    check(model, tmp_path)
