"""Keras's core layers against Keras: Dense on every rank (a 1×1 convolution on feature maps), LoRA
adapters, and the clear errors for what cannot be compiled (Lambda, custom layer classes)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from .harness import check, compile_error, randomize

# --------------------------------------------------------------------------
# Dense


@pytest.mark.covers("Dense", "units, use_bias, activation on vectors")
def test_dense_2d(tmp_path):
    inp = keras.Input((13,), name="vector")
    x = layers.Dense(9, activation="relu", name="hidden")(inp)
    out = layers.Dense(4, name="logits")(x)
    model = keras.Model(inp, out)
    randomize(model, 4)
    check(model, tmp_path)


@pytest.mark.covers("Dense", "on rank-4 feature maps (a 1×1 convolution)")
def test_dense_on_4d_input_acts_on_channels(tmp_path):
    inp = keras.Input((5, 7, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv")(inp)
    x = layers.Dense(4, activation="relu", name="pointwise")(x)
    out = layers.Dense(2, name="pointwise_out")(x)
    model = keras.Model(inp, out)
    randomize(model, 5)
    check(model, tmp_path)


def test_dense_directly_on_image_input(tmp_path):
    inp = keras.Input((4, 6, 3), name="image")
    out = layers.Dense(5, name="pointwise")(inp)
    model = keras.Model(inp, out)
    randomize(model, 6)
    check(model, tmp_path)


@pytest.mark.covers("Dense", "on rank-3 input")
def test_dense_on_3d_input(tmp_path):
    inp = keras.Input((6, 4), name="sequence")
    x = layers.Dense(5, activation="relu", name="d1")(inp)
    out = layers.Dense(3, activation="softmax", name="d2")(x)
    model = keras.Model(inp, out)
    randomize(model, 7)
    check(model, tmp_path)


@pytest.mark.covers("Dense, Conv2D", "lora_rank (Keras saves the kernel with the adapters merged)")
def test_lora_adapters(tmp_path):
    inp = keras.Input((5, 5, 3), name="image")
    x = layers.Conv2D(4, 3, lora_rank=2, name="conv")(inp)
    out = layers.Dense(6, lora_rank=2, name="dense")(layers.Flatten(name="flat")(x))
    model = randomize(keras.Model(inp, out), 72)
    rng = np.random.default_rng(72)
    for var in model.weights:
        if "lora_kernel" in var.path:  # Keras starts one factor at zero: make the adapters count
            var.assign(rng.normal(0.0, 0.5, tuple(var.shape)).astype("float32"))
    check(model, tmp_path)


# --------------------------------------------------------------------------
# clear errors for what cannot be compiled


@pytest.mark.covers("Lambda", "refused: names the layer and the alternatives")
def test_lambda_is_refused_with_alternatives(tmp_path):
    inp = keras.Input((4, 4, 3), name="image")
    out = layers.Lambda(lambda t: t * 2.0, name="double")(inp)
    err = compile_error(keras.Model(inp, out), tmp_path)
    text = str(err)
    assert "double" in text and "Lambda" in text
    assert "Rescaling" in text and "keras.ops" in text


@pytest.mark.covers("custom layer classes", "refused: names the class and the layer")
def test_custom_class_is_refused(tmp_path):
    @keras.saving.register_keras_serializable(package="demo")
    class Twice(layers.Layer):
        def call(self, x):
            return x * 2.0

    inp = keras.Input((3,), name="features")
    out = Twice(name="twice")(inp)
    err = compile_error(keras.Model(inp, out), tmp_path)
    assert "twice" in str(err) and "Twice" in str(err)
