"""Small U-Nets in the style of the Keras segmentation tutorials: an encoder of
'same' convolutions and max pooling, a decoder that upsamples (transposed
convolutions or nearest-neighbour UpSampling2D), skip connections joined by
concatenation, dropout in the bottleneck and a sigmoid mask."""

from __future__ import annotations

import keras
from keras import layers

from .harness import check, randomize


def _block(x, filters, name, bn=True):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=not bn, name=f"{name}_c1")(x)
    if bn:
        x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.Activation("relu", name=f"{name}_r1")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_c2")(x)
    if bn:
        x = layers.BatchNormalization(name=f"{name}_bn2")(x)
    return layers.Activation("relu", name=f"{name}_r2")(x)


def unet_transpose(input_shape=(32, 32, 3), base=8, depth=3, classes=1):
    """Decoder with Conv2DTranspose(strides=2, padding='same'), concatenate(axis=3)."""
    inp = keras.Input(input_shape, name="image")
    skips = []
    x = inp
    for level in range(depth):
        x = _block(x, base * 2**level, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _block(x, base * 2**depth, "bottleneck")
    x = layers.Dropout(0.5, name="bottleneck_drop")(x)
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base * 2**level, 3, strides=2, padding="same", name=f"up{level}")(x)
        x = layers.concatenate([x, skips[level]], axis=3, name=f"skip{level}")
        x = _block(x, base * 2**level, f"dec{level}")
    out = layers.Conv2D(classes, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inp, out, name="unet_transpose")


def unet_upsampling(input_shape=(32, 32, 3), base=8, depth=3, classes=2):
    """The original-paper style: UpSampling2D + 2x2 conv, concatenate with the
    default axis, dropout after the deepest encoder stage, no batch norm."""
    inp = keras.Input(input_shape, name="image")
    skips = []
    x = inp
    for level in range(depth):
        x = _block(x, base * 2**level, f"enc{level}", bn=False)
        if level == depth - 1:
            x = layers.Dropout(0.5, name=f"enc{level}_drop")(x)
        skips.append(x)
        x = layers.MaxPooling2D(pool_size=(2, 2), name=f"pool{level}")(x)
    x = _block(x, base * 2**depth, "bottleneck", bn=False)
    x = layers.Dropout(0.5, name="bottleneck_drop")(x)
    for level in reversed(range(depth)):
        x = layers.UpSampling2D(size=(2, 2), name=f"upsample{level}")(x)
        x = layers.Conv2D(base * 2**level, 2, padding="same", activation="relu", name=f"up{level}")(x)
        x = layers.concatenate([skips[level], x], name=f"skip{level}")
        x = _block(x, base * 2**level, f"dec{level}", bn=False)
    x = layers.Conv2D(2, 3, padding="same", activation="relu", name="pre_mask")(x)
    out = layers.Conv2D(classes, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inp, out, name="unet_upsampling")


def unet_valid_transpose(input_shape=(36, 36, 3)):
    """Valid convolutions throughout; the decoder's Conv2DTranspose uses
    padding='valid' with output_padding=1, sized so the skip lines up:
    36 -conv3-> 34 -pool-> 17 -conv3-> 15 -deconv(k3,s2,op1)-> 32,
    skip 34 -conv3-> 32."""
    inp = keras.Input(input_shape, name="image")
    e = layers.Conv2D(6, 3, activation="relu", name="enc_conv")(inp)
    p = layers.MaxPooling2D(2, name="pool")(e)
    b = layers.Conv2D(12, 3, use_bias=False, name="bottleneck")(p)
    b = layers.BatchNormalization(name="bottleneck_bn")(b)
    b = layers.ReLU(name="bottleneck_relu")(b)
    b = layers.Dropout(0.3, name="bottleneck_drop")(b)
    u = layers.Conv2DTranspose(6, 3, strides=2, padding="valid", output_padding=1, name="up")(b)
    s = layers.Conv2D(6, 3, name="skip_conv")(e)
    x = layers.concatenate([u, s], axis=-1, name="skip")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="dec_conv")(x)
    x = layers.Conv2DTranspose(4, 2, strides=2, padding="valid", name="up_final")(x)
    out = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inp, [out, u], name="unet_valid")


def test_unet_conv_transpose(tmp_path):
    model = unet_transpose()
    randomize(model, 100)
    check(model, tmp_path)


def test_unet_upsampling_nearest(tmp_path):
    model = unet_upsampling()
    randomize(model, 101)
    check(model, tmp_path)


def test_unet_valid_transpose_output_padding(tmp_path):
    model = unet_valid_transpose()
    assert tuple(model.outputs[1].shape[1:3]) == (32, 32)
    randomize(model, 102)
    check(model, tmp_path)


def test_unet_non_square_input(tmp_path):
    model = unet_transpose(input_shape=(16, 24, 1), base=4, depth=2, classes=3)
    randomize(model, 103)
    check(model, tmp_path, batch=3)
