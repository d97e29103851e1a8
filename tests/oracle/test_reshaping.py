"""Reshaping layers against Keras: Flatten (NHWC order before Dense), Reshape, Permute, UpSampling,
ZeroPadding and Cropping in 1-D, 2-D and 3-D, and the layout change of tensors with size-one axes."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from .harness import chain_model, check, randomize

# --------------------------------------------------------------------------
# Flatten


@pytest.mark.covers("Flatten", "NHWC order before Dense (weights reordered, no transpose)")
def test_flatten_dense_nhwc_order(tmp_path):
    # H, W and C all distinct so any transposition of the flatten order shows.
    inp = keras.Input((9, 11, 2), name="image")
    x = layers.Conv2D(5, 3, strides=2, name="conv")(inp)  # 4 x 5 x 5
    x = layers.Conv2D(3, (1, 2), name="conv_b")(x)  # 4 x 4 x 3
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(6, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 8)
    check(model, tmp_path)


def test_flatten_is_model_output(tmp_path):
    inp = keras.Input((3, 4, 5), name="image")
    x = layers.Conv2D(2, 1, name="conv")(inp)
    out = layers.Flatten(name="flat")(x)
    model = keras.Model(inp, out)
    randomize(model, 9)
    check(model, tmp_path)


def test_flatten_of_input_then_dense(tmp_path):
    inp = keras.Input((3, 5, 4), name="image")
    x = layers.Flatten(name="flat")(inp)
    out = layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 10)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# Reshape, Permute


@pytest.mark.covers("Reshape", "target_shape, -1")
def test_reshape_feature_map_to_tokens(tmp_path):
    # (H, W, C) -> (H*W, C) follows NHWC memory order
    inp = keras.Input((4, 5, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv")(inp)
    tokens = layers.Reshape((-1, 6), name="tokens")(x)
    out = layers.Dense(2, name="per_token")(tokens)
    model = keras.Model(inp, [tokens, out])
    randomize(model, 46)
    check(model, tmp_path)


def test_reshape_vector_to_feature_map(tmp_path):
    # a decoder stem: Dense -> Reshape to (H, W, C) in NHWC order -> conv
    inp = keras.Input((6,), name="latent")
    x = layers.Dense(3 * 4 * 5, name="project")(inp)
    x = layers.Reshape((3, 4, 5), name="to_map")(x)
    out = layers.Conv2DTranspose(2, 3, strides=2, padding="same", name="up")(x)
    model = keras.Model(inp, [x, out])
    randomize(model, 47)
    check(model, tmp_path)


def test_reshape_between_feature_maps(tmp_path):
    inp = keras.Input((4, 6, 2), name="image")
    x = layers.Conv2D(4, 1, name="conv")(inp)
    x = layers.Reshape((8, 6, 2), name="regrid")(x)
    out = layers.Conv2D(3, 3, padding="same", name="after")(x)
    model = keras.Model(inp, out)
    randomize(model, 48)
    check(model, tmp_path)


@pytest.mark.covers("Permute", "dims")
@pytest.mark.parametrize("dims", [(3, 1, 2), (2, 1, 3), (1, 3, 2)], ids=["312", "213", "132"])
def test_permute(tmp_path, dims):
    inp = keras.Input((4, 5, 3), name="image")
    x = layers.Conv2D(6, 1, name="conv")(inp)
    x = layers.Permute(dims, name="perm")(x)
    out = layers.Flatten(name="flat")(x)
    out = layers.Dense(3, name="head")(out)
    model = keras.Model(inp, [x, out])
    randomize(model, 49)
    check(model, tmp_path)


@pytest.mark.parametrize(
    "shape, transposes",
    [((6, 6, 1), 0), ((1, 1, 6), 0), ((1, 7, 3), 2), ((7, 1, 3), 2)],
    ids=["one_channel", "one_pixel", "one_row", "one_column"],
)
def test_layout_change_of_size_one_axes(shape, transposes, tmp_path):
    """Between NHWC and NCHW, a tensor whose other axes keep their order is only relabelled
    (Reshape); one whose axes really move is transposed."""
    inp = keras.Input(shape, name="image")
    x = layers.Conv2D(4, 1, name="conv1")(inp)
    x = layers.Conv2D(shape[-1], 1, name="conv2")(layers.ReLU(name="relu")(x))
    model = randomize(keras.Model(inp, x), 67)
    check(model, tmp_path).assert_ops(Transpose=transposes)


# --------------------------------------------------------------------------
# UpSampling2D


@pytest.mark.covers("UpSampling2D", "size, interpolation nearest/bilinear")
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(2, 2), (2, 3)], ids=["2x2", "2x3"])
def test_upsampling2d(tmp_path, size, interpolation):
    inp = keras.Input((4, 5, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.UpSampling2D(size=size, interpolation=interpolation, name="up")(x)
    out = layers.Conv2D(2, 3, padding="same", name="after")(x)
    model = keras.Model(inp, [x, out])
    randomize(model, 27)
    check(model, tmp_path)


@pytest.mark.covers("UpSampling2D", "size, interpolation nearest/bilinear at odd sizes")
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_odd_sizes(interpolation, tmp_path):
    inp = keras.Input((5, 3, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.UpSampling2D((3, 2), interpolation=interpolation, name="up")(x)
    out = layers.Conv2D(2, 3, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 66)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# ZeroPadding2D


@pytest.mark.covers("ZeroPadding2D", "padding int, pair, pair of pairs")
@pytest.mark.parametrize(
    "padding",
    [1, (2, 1), ((1, 2), (3, 0)), ((0, 0), (0, 2))],
    ids=["1", "2x1", "1-2_3-0", "0-0_0-2"],
)
def test_zero_padding_then_conv(tmp_path, padding):
    model = chain_model(
        (7, 8, 3),
        layers.ZeroPadding2D(padding, name="pad"),
        layers.Conv2D(4, 3, name="conv"),
        extra_outputs=True,
    )
    randomize(model, 8)
    check(model, tmp_path)


def test_zero_padding_then_strided_conv_stem(tmp_path):
    # the ResNet stem: explicit padding followed by a 'valid' strided conv
    model = chain_model(
        (16, 16, 3),
        layers.ZeroPadding2D(3, name="pad"),
        layers.Conv2D(4, 7, strides=2, name="conv"),
        layers.ZeroPadding2D(1, name="pad2"),
        layers.MaxPooling2D(3, strides=2, name="pool"),
    )
    randomize(model, 9)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# Cropping2D


@pytest.mark.covers("Cropping2D", "cropping int, pair, pair of pairs")
@pytest.mark.parametrize(
    "cropping", [1, (2, 1), ((1, 2), (0, 3)), ((0, 1), (2, 0))], ids=["int", "sym_pair", "asym", "one_sided"]
)
def test_cropping2d_on_conv_output(cropping, tmp_path):
    inp = keras.Input((12, 13, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.Cropping2D(cropping, name="crop")(x)
    x = layers.Conv2D(4, 3, name="conv2")(x)
    model = randomize(keras.Model(inp, x), 31)
    result = check(model, tmp_path)
    result.assert_ops(Slice=1, Conv=2, Transpose=2)
    assert result.transposes_inside == 0


def test_cropping2d_on_input_and_unet_skip(tmp_path):
    """U-Net's skip connection: crop the encoder map to the decoder's size and concatenate."""
    inp = keras.Input((20, 20, 2), name="image")
    cropped_in = layers.Cropping2D(((1, 2), (0, 3)), name="crop_in")(inp)
    enc = layers.Conv2D(8, 3, activation="relu", name="enc")(cropped_in)  # 15 x 15
    down = layers.MaxPooling2D(name="pool")(enc)  # 7 x 7
    mid = layers.Conv2D(8, 3, padding="same", activation="relu", name="mid")(down)
    up = layers.Conv2DTranspose(8, 2, strides=2, name="up")(mid)  # 14 x 14
    skip = layers.Cropping2D(((0, 1), (1, 0)), name="crop_skip")(enc)
    x = layers.Concatenate(name="concat")([up, skip])
    out = layers.Conv2D(3, 1, name="head")(x)
    model = randomize(keras.Model(inp, out), 32)
    result = check(model, tmp_path)
    result.assert_ops(Slice=2, Transpose=2)  # the input is cropped before it is transposed


@pytest.mark.covers("Cropping2D", "data_format channels_first")
def test_cropping2d_channels_first(tmp_path):
    inp = keras.Input((3, 10, 9), name="planes")
    x = layers.Cropping2D(((2, 1), (0, 2)), data_format="channels_first", name="crop")(inp)
    x = layers.Permute((2, 3, 1), name="to_nhwc")(x)
    x = layers.Conv2D(4, 3, name="conv")(x)
    model = randomize(keras.Model(inp, x), 33)
    check(model, tmp_path).assert_ops(Slice=1)


# --------------------------------------------------------------------------
# 1-D and 3-D padding, cropping, upsampling


@pytest.mark.covers("ZeroPadding1D, Cropping1D, UpSampling1D", "padding int/(before, after), cropping, size")
def test_padding_cropping_upsampling1d(tmp_path):
    inp = keras.Input((7, 3), name="sequence")
    x = layers.Conv1D(4, 3, padding="same", name="conv")(inp)
    x = layers.ZeroPadding1D((2, 1), name="pad")(x)
    x = layers.Conv1D(4, 3, name="conv2")(x)
    x = layers.Cropping1D((1, 2), name="crop")(x)
    x = layers.UpSampling1D(3, name="up")(x)
    x = layers.ZeroPadding1D(1, name="pad_sym")(x)
    out = layers.MaxPooling1D(2, name="pool")(x)
    model = randomize(keras.Model(inp, out), 72)
    check(model, tmp_path)


@pytest.mark.covers(
    "ZeroPadding3D, Cropping3D, UpSampling3D, GlobalAveragePooling3D, GlobalMaxPooling3D",
    "padding int/per axis/(before, after) per axis, cropping, size, keepdims; merged into Conv3D",
)
def test_volume_shape_layers(tmp_path):
    inp = keras.Input((3, 4, 5, 2), name="volume")
    x = layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1)), name="pad")(inp)
    x = layers.Conv3D(3, 2, name="conv")(x)
    x = layers.UpSampling3D((2, 1, 3), name="up")(x)
    x = layers.Cropping3D(((1, 0), (0, 1), (2, 1)), name="crop")(x)
    x = layers.ZeroPadding3D((1, 0, 2), name="pad2")(x)
    x = layers.ZeroPadding3D(1, name="pad3")(x)
    x = layers.MaxPooling3D(2, name="pool")(x)
    avg = layers.GlobalAveragePooling3D(name="gap")(x)
    mx = layers.GlobalMaxPooling3D(keepdims=True, name="gmp")(x)
    model = randomize(keras.Model(inp, [avg, mx, x]), 77)
    check(model, tmp_path)
