"""Vision layers and options beyond the basics, each against Keras: Conv1D (causal too),
PReLU, Resizing, UpSampling2D bilinear at odd sizes, activations called as ``keras.ops``,
whole ``channels_first`` models, InceptionResNetV2's scale layer, and the clear errors for what
cannot be compiled (Lambda, custom classes, unsupported options).

Each test carries ``@pytest.mark.covers(layer, options)``; ``tests/coverage_table.py`` builds the
README's coverage table from those marks.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers, ops

import compiler
from compiler.errors import CompileError, UnsupportedLayerError

covers = pytest.mark.covers


def _report(results):
    print({fmt: [f"{e:.2e}" for e in errs] for fmt, errs in results.items()})


def _randomize_weights(model, seed: int, names=("alpha",)):
    """Non-trivial values for weights Keras starts at zero (PReLU's alpha)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for var in layer.weights:
            if var.path.split("/")[-1] in names:
                var.assign(rng.uniform(-0.5, 1.0, tuple(var.shape)).astype("float32"))
    return model


# --------------------------------------------------------------------------
# Conv1D

CONV1D = {
    "valid": {"kernel_size": 3},
    "same_s2": {"kernel_size": 4, "strides": 2, "padding": "same"},
    "causal_d2": {"kernel_size": 3, "padding": "causal", "dilation_rate": 2},
    "groups_nobias_relu": {"kernel_size": 3, "groups": 2, "use_bias": False, "activation": "relu", "padding": "same"},
    "k1": {"kernel_size": 1, "strides": 3},
}


@covers("Conv1D", "kernel_size, strides, padding valid/same/causal, dilation_rate, groups, use_bias, activation")
@pytest.mark.parametrize("kwargs", list(CONV1D.values()), ids=list(CONV1D))
def test_conv1d(kwargs, check, randomize, tmp_path):
    inp = keras.Input((11, 4), name="sequence")
    x = layers.Conv1D(6, name="conv", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    out = layers.Conv1D(3, 2, padding="causal", name="conv2")(x)
    model = keras.Model(inp, [out, x])
    randomize(model, 60)
    _report(check(model, tmp_path, forbid_ops=()))


def _twin(model: keras.Model, build_last) -> keras.Model:
    """The channels_last twin of a channels_first model, with its weights: TensorFlow's CPU
    kernels cannot run channels_first convolutions, so Keras computes the reference this way."""
    twin = build_last()
    for layer in twin.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return twin


def _conv1d_net(first: bool) -> keras.Model:
    inp = keras.Input((4, 9), name="sequence")
    x = inp if first else layers.Permute((2, 1), name="in_last")(inp)
    x = layers.Conv1D(5, 3, padding="same", data_format="channels_first" if first else "channels_last",
                      name="conv_cf")(x)
    if first:
        x = layers.Permute((2, 1), name="to_last")(x)
    out = layers.Conv1D(2, 3, strides=2, padding="same", name="conv")(x)
    return keras.Model(inp, out)


@covers("Conv1D", "data_format channels_first")
def test_conv1d_channels_first(check, randomize, tmp_path):
    model = randomize(_conv1d_net(True), 61)
    x_in = np.random.default_rng(0).standard_normal((2, 4, 9)).astype("float32")
    _report(check(model, tmp_path, inputs=[x_in], reference=_twin(model, lambda: _conv1d_net(False))))


# --------------------------------------------------------------------------
# PReLU

PRELU = {"per_element": None, "shared_hw": [1, 2], "shared_h": [1]}


@covers("PReLU", "alpha per element, shared_axes")
@pytest.mark.parametrize("shared", list(PRELU.values()), ids=list(PRELU))
def test_prelu_on_feature_maps(shared, check, randomize, tmp_path):
    inp = keras.Input((6, 5, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.PReLU(shared_axes=shared, name="prelu")(x)
    out = layers.Conv2D(2, 1, name="head")(x)
    model = _randomize_weights(randomize(keras.Model(inp, [out, x]), 62), 62)
    _report(check(model, tmp_path))


@covers("PReLU", "on flattened features and vectors")
def test_prelu_after_flatten_and_dense(check, randomize, tmp_path):
    inp = keras.Input((4, 3, 2), name="image")
    x = layers.Conv2D(3, 1, name="conv")(inp)
    x = layers.Flatten(name="flat")(x)
    x = layers.PReLU(name="prelu_flat")(x)
    x = layers.Dense(5, name="dense")(x)
    out = layers.PReLU(name="prelu_dense")(x)
    model = _randomize_weights(randomize(keras.Model(inp, out), 63), 63)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# Resizing and UpSampling2D

RESIZING = {
    "bilinear_up": {"height": 11, "width": 13},
    "bilinear_down": {"height": 4, "width": 3},
    "nearest_up": {"height": 10, "width": 17, "interpolation": "nearest"},
    "nearest_down": {"height": 3, "width": 5, "interpolation": "nearest"},
    "crop_to_aspect": {"height": 8, "width": 4, "crop_to_aspect_ratio": True},
    "pad_to_aspect": {"height": 5, "width": 12, "pad_to_aspect_ratio": True},
}


@covers("Resizing", "height, width, interpolation nearest/bilinear, crop_to_aspect_ratio, "
        "pad_to_aspect_ratio (fill 0)")
@pytest.mark.parametrize("kwargs", list(RESIZING.values()), ids=list(RESIZING))
def test_resizing(kwargs, check, randomize, tmp_path):
    inp = keras.Input((7, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.Resizing(name="resize", **kwargs)(x)
    out = layers.Conv2D(2, 3, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 64)
    _report(check(model, tmp_path))


def _resizing_net(first: bool) -> keras.Model:
    inp = keras.Input((3, 5, 7), name="image")
    fmt = "channels_first" if first else "channels_last"
    x = inp if first else layers.Permute((2, 3, 1), name="to_nhwc")(inp)
    x = layers.Resizing(8, 9, data_format=fmt, name="resize")(x)
    x = layers.Conv2D(2, 3, data_format=fmt, name="conv")(x)
    return keras.Model(inp, x if first else layers.Permute((3, 1, 2), name="to_nchw")(x))


@covers("Resizing", "data_format channels_first, on the input")
def test_resizing_channels_first_on_input(check, randomize, tmp_path):
    model = randomize(_resizing_net(True), 65)
    _report(check(model, tmp_path, reference=_twin(model, lambda: _resizing_net(False))))


@covers("UpSampling2D", "size, interpolation nearest/bilinear at odd sizes")
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_odd_sizes(interpolation, check, randomize, tmp_path):
    inp = keras.Input((5, 3, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.UpSampling2D((3, 2), interpolation=interpolation, name="up")(x)
    out = layers.Conv2D(2, 3, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 66)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# keras.ops activations on tensors

OP_ACTIVATIONS = {
    "gelu_tanh": lambda t: ops.gelu(t, approximate=True),
    "gelu_erf": lambda t: ops.gelu(t, approximate=False),
    "relu": ops.relu,
    "relu6": ops.relu6,
    "sigmoid": ops.sigmoid,
    "silu": ops.silu,
    "hard_silu": ops.hard_silu,
    "hard_sigmoid": ops.hard_sigmoid,
    "leaky_relu": lambda t: ops.leaky_relu(t, negative_slope=0.1),
    "elu": lambda t: ops.elu(t, alpha=0.7),
    "selu": ops.selu,
    "softplus": ops.softplus,
    "tanh": ops.tanh,
    "exp": ops.exp,
    "softmax_axis1": lambda t: ops.softmax(t, axis=1),
    "log_softmax": ops.log_softmax,
}


@covers("keras.ops activations", "gelu (approximate True/False), relu, relu6, sigmoid, silu, hard_silu, "
        "hard_sigmoid, leaky_relu, elu, selu, softplus, tanh, exp, softmax(axis), log_softmax")
@pytest.mark.parametrize("fn", list(OP_ACTIVATIONS.values()), ids=list(OP_ACTIVATIONS))
def test_ops_activations(fn, check, randomize, tmp_path):
    inp = keras.Input((5, 4, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    y = fn(x)
    out = layers.Conv2D(2, 1, name="head")(y)
    model = randomize(keras.Model(inp, [out, y]), 67)
    x_in = (np.random.default_rng(1).standard_normal((2, 5, 4, 3)) * 2).astype("float32")
    _report(check(model, tmp_path, inputs=[x_in]))


@covers("Activation", "gelu exact, hard_swish alias")
@pytest.mark.parametrize("act", ["gelu", "hard_swish"])
def test_activation_aliases(act, check, randomize, tmp_path):
    inp = keras.Input((6,), name="features")
    x = layers.Dense(8, name="dense")(inp)
    out = layers.Activation(act, name="act")(x)
    model = randomize(keras.Model(inp, out), 68)
    x_in = (np.random.default_rng(2).standard_normal((3, 6)) * 3).astype("float32")
    _report(check(model, tmp_path, inputs=[x_in]))


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


@covers("channels_first models", "Conv2D, DepthwiseConv2D, pooling, BatchNormalization(axis=1), "
        "Concatenate(axis=1), ZeroPadding2D, GlobalMaxPooling2D, Flatten, Dense")
def test_channels_first_model(check, randomize, tmp_path):
    model = randomize(_channels_first_net(True), 69)
    _report(check(model, tmp_path, reference=_twin(model, lambda: _channels_first_net(False))))


# --------------------------------------------------------------------------
# keras.applications helper layers


@covers("CustomScaleLayer", "InceptionResNetV2's x + scale·r")
def test_inception_resnet_scale_layer(check, randomize, tmp_path):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    inp = keras.Input((6, 6, 4), name="image")
    r = layers.Conv2D(4, 3, padding="same", name="branch")(inp)
    x = CustomScaleLayer(0.17, name="scale")([inp, r])
    out = layers.Activation("relu", name="act")(x)
    model = randomize(keras.Model(inp, out), 70)
    _report(check(model, tmp_path))


@covers("Dense, Conv2D", "lora_rank (Keras saves the kernel with the adapters merged)")
def test_lora_adapters(check, randomize, tmp_path):
    inp = keras.Input((5, 5, 3), name="image")
    x = layers.Conv2D(4, 3, lora_rank=2, name="conv")(inp)
    out = layers.Dense(6, lora_rank=2, name="dense")(layers.Flatten(name="flat")(x))
    model = randomize(keras.Model(inp, out), 72)
    rng = np.random.default_rng(72)
    for var in model.weights:
        if "lora_kernel" in var.path:  # Keras starts one factor at zero: make the adapters count
            var.assign(rng.normal(0.0, 0.5, tuple(var.shape)).astype("float32"))
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# clear errors for what cannot be compiled


def _compile_error(model, tmp_path: Path, kind: type[CompileError] = UnsupportedLayerError) -> CompileError:
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    with pytest.raises(kind) as info:
        compiler.compile(path)
    return info.value


@covers("Lambda", "refused: names the layer and the alternatives")
def test_lambda_is_refused_with_alternatives(tmp_path):
    inp = keras.Input((4, 4, 3), name="image")
    out = layers.Lambda(lambda t: t * 2.0, name="double")(inp)
    err = _compile_error(keras.Model(inp, out), tmp_path)
    text = str(err)
    assert "double" in text and "Lambda" in text
    assert "Rescaling" in text and "keras.ops" in text


@covers("custom layer classes", "refused: names the class and the layer")
def test_custom_class_is_refused(tmp_path):
    @keras.saving.register_keras_serializable(package="demo")
    class Twice(layers.Layer):
        def call(self, x):
            return x * 2.0

    inp = keras.Input((3,), name="features")
    out = Twice(name="twice")(inp)
    err = _compile_error(keras.Model(inp, out), tmp_path)
    assert "twice" in str(err) and "Twice" in str(err)


REFUSED = {
    "resizing_area": (lambda: layers.Resizing(4, 4, interpolation="area", name="r"), "interpolation 'area'"),
    "resizing_bicubic": (lambda: layers.Resizing(4, 4, interpolation="bicubic", name="r"), "interpolation 'bicubic'"),
    "resizing_antialias": (lambda: layers.Resizing(4, 4, antialias=True, name="r"), "antialias"),
    "layer_norm_two_axes": (lambda: layers.LayerNormalization(axis=[1, 2], name="r"), "axis"),
}


@covers("unsupported options", "Resizing area/bicubic/antialias, LayerNormalization over several axes: "
        "refused by name")
@pytest.mark.parametrize("make, words", list(REFUSED.values()), ids=list(REFUSED))
def test_unsupported_options_are_refused(make, words, tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    err = _compile_error(keras.Model(inp, make()(inp)), tmp_path)
    assert "'r'" in str(err) and words in str(err), str(err)


# --------------------------------------------------------------------------
# tf.keras (Keras 2) TensorFlow functions on tensors: TFOpLambda layers


@covers("TFOpLambda (tf.keras)", "x + y, x - y, x * c, x / c, tf.maximum, tf.nn.relu, tf.nn.silu, tf.math.sigmoid")
def test_tf_keras_tensor_functions(tmp_path):
    import tensorflow as tf
    import tf_keras as k2

    from .test_keras2 import _compare, _randomize, _sources

    inp = k2.Input((6, 5, 3))
    a = k2.layers.Conv2D(4, 3, padding="same")(inp)
    b = k2.layers.Conv2D(4, 1)(inp)
    x = a + b
    x = tf.nn.relu(x - b * 0.5)
    x = tf.maximum(x / 3.0, a)
    y = tf.nn.silu(k2.layers.Conv2D(4, 1)(x)) + tf.math.sigmoid(b)
    model = k2.Model(inp, y)
    classes = {layer.__class__.__name__ for layer in model.layers}
    assert "TFOpLambda" in classes
    _randomize(model, 71)
    print(_compare(model, _sources(model, tmp_path)))


def test_tf_keras_unsupported_function_is_refused(tmp_path):
    import tensorflow as tf
    import tf_keras as k2

    inp = k2.Input((4,))
    model = k2.Model(inp, tf.math.cumsum(k2.layers.Dense(3)(inp), axis=1))
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    with pytest.raises(UnsupportedLayerError) as info:
        compiler.compile(path)
    assert "math.cumsum" in str(info.value) and "math.add" in str(info.value)
