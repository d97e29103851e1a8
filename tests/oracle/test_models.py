"""Whole models against Keras: Sequential models however they are built, multi-input and
multi-output graphs (names and order kept), tensors and layers shared across branches, batch
sizes from one compiled file, channels_first models, and many layer kinds in one Sequential."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras import layers

import compiler

from .harness import (
    channels_last_twin,
    check,
    keras_predict,
    make_inputs,
    randomize,
    randomize_norms,
    save_source,
    verify,
)

# --------------------------------------------------------------------------
# Sequential models


@pytest.mark.covers("InputLayer", "Functional and Sequential, batch dimension dynamic")
def test_sequential_with_input(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((12, 10, 3), name="image"),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(6, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dense(4, activation="softmax"),
        ],
        name="seq_with_input",
    )
    randomize(model, 1)
    check(model, tmp_path)


def test_sequential_built_with_build(tmp_path):
    model = keras.Sequential(
        [
            layers.Conv2D(5, 3, strides=2, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3),
        ],
        name="seq_built",
    )
    model.build((None, 11, 9, 2))
    randomize(model, 2)
    check(model, tmp_path)


def test_sequential_input_shape_kwarg(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = keras.Sequential(
            [
                layers.Dense(7, activation="tanh", input_shape=(6,)),
                layers.Dense(3),
            ],
            name="seq_input_shape",
        )
    randomize(model, 3)
    check(model, tmp_path)


def test_sequential_with_new_layers(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((15, 14, 3), name="image"),
            layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale"),
            layers.Normalization(mean=[0.1, 0.0, -0.1], variance=[0.9, 1.1, 1.0], name="norm"),
            layers.SeparableConv2D(8, 3, strides=2, padding="same", depth_multiplier=2, name="sep1"),
            layers.BatchNormalization(name="bn"),
            layers.ReLU(6.0, name="relu6"),
            layers.Cropping2D(((1, 0), (0, 1)), name="crop"),
            layers.LayerNormalization(name="ln"),
            layers.SeparableConv2D(6, 3, dilation_rate=2, padding="same", activation="relu", name="sep2"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.LayerNormalization(center=False, name="ln_head"),
            layers.Dense(4, name="logits"),
        ],
        name="seq_new_layers",
    )
    model = randomize_norms(randomize(model, 91), 91)
    pixels = np.random.default_rng(91).uniform(0, 255, (2, 15, 14, 3)).astype("float32")
    check(model, tmp_path, inputs=[pixels]).assert_ops(Conv=4, Transpose=1, BatchNormalization=0)


# --------------------------------------------------------------------------
# shared tensors and layers


def test_shared_tensor_feeds_several_layers(tmp_path):
    inp = keras.Input((8, 7, 3), name="image")
    trunk = layers.Conv2D(6, 3, padding="same", activation="relu", name="trunk")(inp)
    a = layers.Conv2D(4, 1, name="branch_conv")(trunk)
    b = layers.MaxPooling2D(2, name="branch_pool")(trunk)
    c = layers.GlobalAveragePooling2D(name="branch_gap")(trunk)
    d = layers.Dense(3, name="branch_dense")(trunk)
    e = layers.Add(name="branch_add")([trunk, layers.Conv2D(6, 1, name="proj")(trunk)])
    b = layers.Flatten(name="flat")(b)
    head = layers.Concatenate(name="head_cat")([b, c])
    head = layers.Dense(5, name="head")(head)
    # ``trunk`` is both consumed internally and returned.
    model = keras.Model(inp, [head, a, trunk, d, e])
    randomize(model, 25)
    check(model, tmp_path)


def test_shared_layer_applied_twice(tmp_path):
    left = keras.Input((6, 6, 3), name="left")
    right = keras.Input((6, 6, 3), name="right")
    shared = layers.Conv2D(4, 3, padding="same", activation="relu", name="shared_conv")
    pool = layers.GlobalAveragePooling2D(name="shared_gap")
    a = pool(shared(left))
    b = pool(shared(right))
    out = layers.Dense(2, name="head")(layers.Concatenate(name="cat")([a, b]))
    model = keras.Model([left, right], out)
    randomize(model, 26)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# multi-input / multi-output and batch sizes


def _multi_io_model():
    # Inputs and outputs deliberately not in alphabetical order.
    img_a = keras.Input((16, 16, 3), name="zeta_image")
    img_b = keras.Input((8, 8, 2), name="alpha_image")
    vec = keras.Input((5,), name="mid_vector")

    a = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="a_conv")(img_a)
    b = layers.Conv2D(4, 3, padding="same", activation="relu", name="b_conv")(img_b)
    fused = layers.Concatenate(axis=3, name="fuse")([a, b])  # 8x8x8
    seg = layers.Conv2D(3, 1, name="seg_map")(fused)

    g = layers.GlobalAveragePooling2D(name="gap")(fused)
    v = layers.Dense(6, activation="relu", name="vec_dense")(vec)
    h = layers.Concatenate(name="head_cat")([g, v])
    logits = layers.Dense(4, name="a_logits")(h)

    seq = layers.Dense(12, name="seq_dense")(h)
    seq = layers.Reshape((3, 4), name="seq")(seq)
    return keras.Model([img_a, img_b, vec], [seg, logits, seq], name="multi_io")


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_multi_input_multi_output(tmp_path, batch):
    model = _multi_io_model()
    randomize(model, 29)
    check(model, tmp_path, batch=batch)


@pytest.mark.parametrize("batch", [1, 5])
def test_batch_sizes(tmp_path, batch):
    inp = keras.Input((9, 9, 3), name="image")
    x = layers.Conv2D(6, 3, strides=2, padding="same", use_bias=False, name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    out = layers.Dense(4, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    randomize(model, 30)
    check(model, tmp_path, batch=batch)


def test_one_compiled_file_serves_several_batch_sizes(tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(x))
    model = keras.Model(inp, out)
    randomize(model, 31)
    source, weights = save_source(model, "json+weights", tmp_path / "src")
    res = compiler.compile(source, weights=weights)
    path = tmp_path / "model.onnx"
    compiler.save(res, path)
    for batch in (1, 3, 8):
        arrays = make_inputs(model, batch, seed=batch)
        expected = keras_predict(model, arrays)
        print(verify(path, model, arrays, expected, label=f"batch {batch}"))


# --------------------------------------------------------------------------
# channels_first models


def _channels_first_net(first: bool) -> keras.Model:
    """channels_first layers throughout, or (first=False) the same net on channels_last data."""
    fmt = "channels_first" if first else "channels_last"
    axis = 1 if first else -1
    inp = keras.Input((3, 12, 10), name="image")
    x = inp if first else layers.Permute((2, 3, 1), name="to_nhwc")(inp)
    x = layers.ZeroPadding2D(1, data_format=fmt, name="pad")(x)
    x = layers.Conv2D(8, 3, strides=2, data_format=fmt, name="conv")(x)
    x = layers.BatchNormalization(axis=axis, name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    a = layers.DepthwiseConv2D(3, padding="same", data_format=fmt, name="dw")(x)
    b = layers.MaxPooling2D(3, strides=1, padding="same", data_format=fmt, name="pool")(x)
    x = layers.Concatenate(axis=axis, name="cat")([a, b])
    x = layers.AveragePooling2D(2, data_format=fmt, name="avg")(x)
    g = layers.GlobalMaxPooling2D(data_format=fmt, name="gmp")(x)
    f = layers.Flatten(data_format=fmt, name="flat")(x)  # both orders flatten (h, w, c), as Keras defines it
    out = layers.Dense(5, name="dense")(layers.Concatenate(name="both")([f, g]))
    return keras.Model(inp, out)


@pytest.mark.covers(
    "channels_first models",
    "Conv2D, DepthwiseConv2D, pooling, BatchNormalization(axis=1), "
    "Concatenate(axis=1), ZeroPadding2D, GlobalMaxPooling2D, Flatten, Dense",
)
def test_channels_first_model(tmp_path):
    model = randomize(_channels_first_net(True), 69)
    check(model, tmp_path, reference=channels_last_twin(model, lambda: _channels_first_net(False)))
