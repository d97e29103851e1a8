"""Pooling against Keras: max and average pooling in 1-D, 2-D and 3-D, global pooling.

The pooled values are signed (they come from a linear convolution), so the padding value matters:
-inf for max pooling, excluded cells for average pooling, while the zeros a ZeroPadding2D adds do
take part. The 1-D window layers run as height-1 2-D ops, so their models are checked for
Transposes as well: the Reshapes around them keep the channels-first layout.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from .harness import at_most, chain_model, check, randomize

# --------------------------------------------------------------------------
# MaxPooling2D, AveragePooling2D


@pytest.mark.covers("MaxPooling2D, AveragePooling2D", "pool_size, strides, padding")
@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2, None], ids=["s1", "s2", "sNone"])
@pytest.mark.parametrize("pool", [2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(tmp_path, kind, pool, strides, padding, size):
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    model = chain_model(
        (size, size, 3),
        layers.Conv2D(3, 1, name="mix"),
        cls(pool_size=pool, strides=strides, padding=padding, name="pool"),
    )
    randomize(model, pool * 7 + size)
    check(model, tmp_path)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_nonsquare(tmp_path, kind, padding):
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    model = chain_model(
        (7, 10, 3),
        layers.Conv2D(4, 1, name="conv"),
        cls(pool_size=(3, 2), strides=(2, 3), padding=padding, name="pool"),
        extra_outputs=True,
    )
    randomize(model, 6)
    check(model, tmp_path)


def test_pooling_after_conv_chain(tmp_path):
    model = chain_model(
        (15, 15, 3),
        layers.Conv2D(6, 3, strides=2, padding="same", name="conv"),
        layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool"),
        layers.AveragePooling2D(3, strides=1, padding="same", name="avgpool"),
        layers.Conv2D(3, 2, padding="same", name="conv_even"),
        extra_outputs=True,
    )
    randomize(model, 7)
    check(model, tmp_path)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_zero_padding_then_pool_counts_zeros(tmp_path, kind):
    # The padded zeros are real values: they win a max over negative inputs
    # and are counted in an average.
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    model = chain_model(
        (6, 7, 3),
        layers.Conv2D(3, 1, name="negate"),
        layers.ZeroPadding2D(((1, 2), (3, 0)), name="pad"),
        cls(3, strides=2, name="pool"),
    )
    # negate = -x - 0.5 and the inputs are >= 0, so everything entering the
    # padding is strictly negative
    model.get_layer("negate").set_weights(
        [-np.eye(3, dtype="float32").reshape(1, 1, 3, 3), np.full(3, -0.5, "float32")]
    )
    x = np.abs(np.random.default_rng(0).standard_normal((2, 6, 7, 3))).astype("float32")
    check(model, tmp_path, inputs=[x])


# --------------------------------------------------------------------------
# GlobalAveragePooling2D, GlobalMaxPooling2D


@pytest.mark.covers("GlobalAveragePooling2D", "keepdims")
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling(tmp_path, keepdims):
    inp = keras.Input((6, 5, 4), name="image")
    x = layers.Conv2D(7, 3, padding="same", activation="relu", name="conv")(inp)
    out = layers.GlobalAveragePooling2D(keepdims=keepdims, name="gap")(x)
    model = keras.Model(inp, out)
    randomize(model, 11)
    check(model, tmp_path)


def test_global_average_pooling_keepdims_then_conv(tmp_path):
    # squeeze-and-excitation style: pooled (1, 1, C) map multiplies nothing,
    # but feeds a 1x1 conv and is concatenated back over channels.
    inp = keras.Input((6, 6, 4), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    g = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    g = layers.Conv2D(3, 1, activation="sigmoid", name="squeeze")(g)
    out = layers.Flatten(name="flat")(g)
    model = keras.Model(inp, out)
    randomize(model, 12)
    check(model, tmp_path)


@pytest.mark.covers("GlobalMaxPooling2D", "keepdims")
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_max_pooling(tmp_path, keepdims):
    inp = keras.Input((5, 7, 3), name="image")
    x = layers.Conv2D(6, 3, name="conv")(inp)
    out = layers.GlobalMaxPooling2D(keepdims=keepdims, name="gmp")(x)
    model = keras.Model(inp, out)
    randomize(model, 45)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# 1-D pooling and global pooling

POOL1D = {
    "max_valid": (layers.MaxPooling1D, {"pool_size": 3}),
    "max_same_s2": (layers.MaxPooling1D, {"pool_size": 4, "strides": 2, "padding": "same"}),
    "avg_valid_s1": (layers.AveragePooling1D, {"pool_size": 2, "strides": 1}),
    "avg_same_s3": (layers.AveragePooling1D, {"pool_size": 3, "strides": 3, "padding": "same"}),
}


@pytest.mark.covers(
    "MaxPooling1D, AveragePooling1D", "pool_size, strides, padding valid/same (average excludes the pads)"
)
@pytest.mark.parametrize("cls, kwargs", list(POOL1D.values()), ids=list(POOL1D))
def test_pooling1d(cls, kwargs, tmp_path):
    inp = keras.Input((11, 3), name="sequence")
    x = layers.Conv1D(4, 3, padding="same", name="conv")(inp)
    x = cls(name="pool", **kwargs)(x)
    out = layers.Conv1D(2, 2, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 70)
    result = check(model, tmp_path)
    result.assert_ops(Transpose=at_most(3))  # the input, and the two outputs back to (N, L, C)


@pytest.mark.covers("GlobalAveragePooling1D, GlobalMaxPooling1D", "keepdims, data_format channels_first")
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling1d(keepdims, tmp_path):
    inp = keras.Input((9, 4), name="sequence")
    x = layers.Conv1D(5, 3, name="conv")(inp)
    avg = layers.GlobalAveragePooling1D(keepdims=keepdims, name="avg")(x)
    mx = layers.GlobalMaxPooling1D(keepdims=keepdims, name="max")(x)
    first = layers.GlobalAveragePooling1D(data_format="channels_first", keepdims=keepdims, name="avg_cf")(x)
    model = randomize(keras.Model(inp, [avg, mx, first]), 71)
    check(model, tmp_path)


def _pool1d_net(first: bool) -> keras.Model:
    inp = keras.Input((4, 9), name="sequence")
    fmt = "channels_first" if first else "channels_last"
    x = inp if first else layers.Permute((2, 1), name="in_last")(inp)
    x = layers.MaxPooling1D(2, data_format=fmt, name="pool")(x)
    x = layers.ZeroPadding1D(1, data_format=fmt, name="pad")(x)
    x = layers.AveragePooling1D(3, strides=1, padding="same", data_format=fmt, name="avg")(x)
    return keras.Model(inp, x if first else layers.Permute((2, 1), name="out_first")(x))


@pytest.mark.covers("MaxPooling1D, AveragePooling1D", "data_format channels_first")
def test_pooling1d_channels_first(tmp_path):
    model = _pool1d_net(True)
    check(model, tmp_path, reference=_pool1d_net(False))


# --------------------------------------------------------------------------
# 3-D pooling

POOL3D = {
    "max_valid": (layers.MaxPooling3D, {"pool_size": 2}),
    "max_same_s2": (layers.MaxPooling3D, {"pool_size": (3, 2, 3), "strides": 2, "padding": "same"}),
    "avg_valid_s1": (layers.AveragePooling3D, {"pool_size": (2, 3, 2), "strides": 1}),
    "avg_same_s2": (layers.AveragePooling3D, {"pool_size": 3, "strides": (2, 1, 2), "padding": "same"}),
}


@pytest.mark.covers(
    "MaxPooling3D, AveragePooling3D", "pool_size, strides, padding valid/same (average excludes the pads)"
)
@pytest.mark.parametrize("cls, kwargs", list(POOL3D.values()), ids=list(POOL3D))
def test_pooling3d(cls, kwargs, tmp_path):
    inp = keras.Input((5, 6, 7, 2), name="volume")
    x = layers.Conv3D(3, 1, name="conv")(inp)
    x = cls(name="pool", **kwargs)(x)
    out = layers.Conv3D(2, 1, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 76)
    check(model, tmp_path)
