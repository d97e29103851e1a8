"""Keras operations on tensors against Keras: ``keras.ops`` arithmetic with constants (folded into
the neighbouring weights where that is exact), between tensors, ``maximum``/``minimum`` with a
constant (a Clip), ``-x`` (Keras's ``Negative``), the ``keras.ops`` activation functions, and
tf.keras's TensorFlow functions on tensors (``TFOpLambda`` layers)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers, ops

import compiler
from compiler.errors import UnsupportedLayerError

from .harness import at_most, check, check_tf_keras, randomize, randomize_tf_keras, tf_keras_sources

# --------------------------------------------------------------------------
# arithmetic with constants

AFFINE_OPS = {
    "x_plus_3": lambda x: x + 3.0,
    "3_minus_x": lambda x: 3.0 - x,
    "x_minus_1.5": lambda x: x - 1.5,
    "2_plus_x": lambda x: 2 + x,
    "x_times_half": lambda x: x * 0.5,
    "half_times_x": lambda x: 0.5 * x,
    "x_over_4": lambda x: x / 4.0,
    "ops_add": lambda x: ops.add(x, -0.75),
    "ops_multiply": lambda x: ops.multiply(-2.0, x),
    "ops_divide": lambda x: ops.divide(x, 8),
    "chain": lambda x: (x * 2.0 - 1.0) / 3.0 + 0.25,
}


@pytest.mark.covers("keras.ops arithmetic", "x + c, x - c, x * c, x / c (folded)")
@pytest.mark.parametrize("fn", list(AFFINE_OPS.values()), ids=list(AFFINE_OPS))
def test_constant_arithmetic_folds_into_the_conv_before(fn, tmp_path):
    inp = keras.Input((8, 9, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inp)
    x = fn(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.Conv2D(4, 3, padding="same", name="conv2")(x)
    model = randomize(keras.Model(inp, x), 51)
    check(model, tmp_path).assert_ops(Conv=2, Mul=0, Add=0, Sub=0, Div=0)


@pytest.mark.parametrize("fn", list(AFFINE_OPS.values()), ids=list(AFFINE_OPS))
def test_constant_arithmetic_folds_into_the_conv_after(fn, tmp_path):
    """After a ReLU nothing precedes it to fold into; the next 'valid' convolution takes it."""
    inp = keras.Input((8, 9, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    x = fn(x)
    x = layers.Conv2D(4, 3, name="conv2")(x)
    model = randomize(keras.Model(inp, x), 52)
    check(model, tmp_path).assert_ops(Conv=2, Mul=0, Add=0, Sub=0, Div=0)


CONSUMERS = {
    "grouped_conv": lambda: layers.Conv2D(6, 3, groups=3, name="consumer"),
    "depthwise_mult2": lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, name="consumer"),
    "separable_mult2": lambda: layers.SeparableConv2D(5, 3, depth_multiplier=2, name="consumer"),
    "dense_on_map": lambda: layers.Dense(5, name="consumer"),
}


@pytest.mark.parametrize("make", list(CONSUMERS.values()), ids=list(CONSUMERS))
def test_constant_scale_and_shift_fold_into_grouped_consumers(make, tmp_path):
    """W'[…, i, o] = W·a[i] and B' = B + Σ W·b[i]: the input channel i of each output channel
    depends on groups and depth multiplier."""
    inp = keras.Input((8, 7, 6), name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inp)
    x = make()((x - 0.75) * 1.5)
    model = randomize(keras.Model(inp, x), 59)
    check(model, tmp_path).assert_ops(Mul=0, Add=0)


def test_constant_shift_before_same_conv_stays_exact(tmp_path):
    """x + 3 before a zero-padded convolution cannot fold (the border would see 3, not 0)."""
    inp = keras.Input((7, 7, 3), name="image")
    x = layers.Conv2D(5, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.Conv2D(4, 3, padding="same", name="conv2")(x + 3.0)
    y = layers.Conv2D(4, 3, padding="same", name="conv3")(layers.ReLU(name="relu")(inp) * 0.25)
    model = randomize(keras.Model(inp, [x, y]), 53)
    # conv3's pure scale folds; the shift before conv2 stays, as one Add (no Mul by 1)
    check(model, tmp_path).assert_ops(Conv=3, Add=1, Mul=0)


def test_constant_arithmetic_on_dense_features(tmp_path):
    inp = keras.Input((8,), name="features")
    x = layers.Dense(6, name="dense1")(inp)
    x = (1.0 - x) * 0.5
    x = layers.Dense(3, name="dense2")(layers.Activation("tanh", name="tanh")(x) / 2.0 + 1.0)
    model = randomize(keras.Model(inp, x), 54)
    check(model, tmp_path).assert_ops(Gemm=2, Tanh=1, only=True)


@pytest.mark.covers("keras.ops arithmetic", "maximum/minimum with a constant")
@pytest.mark.parametrize(
    "fn, low, high",
    [
        (lambda x: ops.maximum(x, 0.5), 0.5, None),
        (lambda x: ops.minimum(x, 2.0), None, 2.0),
        (lambda x: ops.maximum(-1.0, x), -1.0, None),
        (lambda x: ops.minimum(ops.maximum(x, -0.5), 0.75), -0.5, 0.75),
    ],
    ids=["maximum", "minimum", "maximum_const_first", "clip"],
)
def test_maximum_minimum_with_constant(fn, low, high, tmp_path):
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inp)
    x = layers.Conv2D(4, 3, padding="same", name="conv2")(fn(x))
    model = randomize(keras.Model(inp, x), 55)
    image = np.random.default_rng(55).normal(0.0, 3.0, (2, 8, 8, 3)).astype("float32")
    # Both sides of each bound must be populated, or the test proves nothing.
    features = keras.Model(inp, model.get_layer("conv1").output).predict(image, verbose=0)
    for bound in (low, high):
        if bound is not None:
            assert (features < bound).mean() > 0.1 and (features > bound).mean() > 0.1
    result = check(model, tmp_path, inputs=[image])
    clips = range(1, 3) if low is not None and high is not None else 1
    result.assert_ops(Conv=2, Clip=clips, Max=0, Min=0)


def test_operation_results_as_model_outputs(tmp_path):
    """Outputs produced by operations, folded or not, keep the Keras names and values."""
    inp = keras.Input((6, 6, 3), name="image")
    conv = layers.Conv2D(4, 3, name="conv")(inp)
    scaled = conv * 2.0 - 1.0  # folds into conv, yet conv's own output is wanted too
    clipped = ops.minimum(inp, 0.25)
    shifted = inp + 0.5
    model = randomize(keras.Model(inp, [scaled, conv, clipped, shifted]), 58)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# arithmetic between tensors, -x


@pytest.mark.covers("keras.ops arithmetic", "x + y, x - y, x * y, maximum, minimum of tensors")
@pytest.mark.parametrize(
    "fn, onnx_op",
    [
        (lambda x, y: x * y, "Mul"),
        (lambda x, y: x + y, "Add"),
        (lambda x, y: x - y, "Sub"),
        (lambda x, y: ops.maximum(x, y), "Max"),
        (lambda x, y: ops.minimum(y, x), "Min"),
    ],
    ids=["mul", "add", "sub", "maximum", "minimum"],
)
def test_tensor_tensor_operations(fn, onnx_op, tmp_path):
    inp = keras.Input((8, 7, 3), name="image")
    x = layers.Conv2D(5, 3, padding="same", name="conv_x")(inp)
    y = layers.Conv2D(5, 1, name="conv_y")(inp)
    out = layers.Conv2D(4, 3, name="conv_out")(fn(x, y))
    model = randomize(keras.Model(inp, out), 56)
    result = check(model, tmp_path)
    result.assert_ops(Conv=3, Transpose=2, **{onnx_op: 1})
    assert result.transposes_inside == 0


def test_tensor_times_itself(tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(inp)
    model = randomize(keras.Model(inp, x * x - x), 57)
    check(model, tmp_path)


@pytest.mark.covers("keras.ops Negative", "-x on a tensor (4-D and after Dense), folded into the neighbouring weights")
def test_negative(tmp_path):
    inp = keras.Input((5, 4, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(-inp)
    y = -layers.Flatten(name="flat")(x)
    out = -layers.Dense(3, name="dense")(y)
    model = randomize(keras.Model(inp, [out, -x]), 78)
    config = json.loads(model.to_json())["config"]["layers"]
    assert any(layer["class_name"] == "Negative" for layer in config)  # how Keras records -x
    check(model, tmp_path).assert_ops(Mul=at_most(1))  # only the -x on an output is left


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


@pytest.mark.covers(
    "keras.ops activations",
    "gelu (approximate True/False), relu, relu6, sigmoid, silu, hard_silu, "
    "hard_sigmoid, leaky_relu, elu, selu, softplus, tanh, exp, softmax(axis), log_softmax",
)
@pytest.mark.parametrize("fn", list(OP_ACTIVATIONS.values()), ids=list(OP_ACTIVATIONS))
def test_ops_activations(fn, tmp_path):
    inp = keras.Input((5, 4, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    y = fn(x)
    out = layers.Conv2D(2, 1, name="head")(y)
    model = randomize(keras.Model(inp, [out, y]), 67)
    x_in = (np.random.default_rng(1).standard_normal((2, 5, 4, 3)) * 2).astype("float32")
    check(model, tmp_path, inputs=[x_in])


# --------------------------------------------------------------------------
# tf.keras (Keras 2) TensorFlow functions on tensors: TFOpLambda layers


@pytest.mark.covers(
    "TFOpLambda (tf.keras)", "x + y, x - y, x * c, x / c, tf.maximum, tf.nn.relu, tf.nn.silu, tf.math.sigmoid"
)
def test_tf_keras_tensor_functions(tmp_path):
    import tensorflow as tf
    import tf_keras as k2

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
    randomize_tf_keras(model, 71)
    check_tf_keras(model, tf_keras_sources(model, tmp_path))


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
