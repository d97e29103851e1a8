"""Activations against Keras: every ``activation=`` name as a layer option and as an Activation
layer, the advanced activation layers (ReLU's options, LeakyReLU, ELU, Softmax, PReLU), and
MobileNetV3's hard-swish spelled with a ReLU6 or with ``keras.ops``. The ``keras.ops`` activation
functions are in test_ops.py."""

from __future__ import annotations

import keras
import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from keras import layers, ops

from .harness import at_most, check, check_tf_keras, hard_swish_relu6, randomize, randomize_tf_keras, tf_keras_sources

# --------------------------------------------------------------------------
# Activation and activation=

ACTIVATIONS = [
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
    "linear",
    "relu6",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "hard_sigmoid",
    "exponential",
    "leaky_relu",
    # further Keras activations
    "mish",
    "hard_silu",
    "log_softmax",
    "hard_tanh",
]


@pytest.mark.covers(
    "Activation",
    "relu, sigmoid, softmax, tanh, linear, relu6, elu, selu, softplus, softsign, swish, silu, gelu, "
    "hard_sigmoid, exponential, leaky_relu, mish, hard_silu, log_softmax, hard_tanh; as a layer and as activation=",
)
@pytest.mark.parametrize("via", ["kwarg", "layer"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation(tmp_path, act, via):
    """Each activation on a 4-D tensor (channel axis matters for softmax) and on
    a 2-D tensor, either fused into the layer or as a separate Activation."""
    inp = keras.Input((5, 6, 3), name="image")
    if via == "kwarg":
        conv = layers.Conv2D(4, 3, padding="same", activation=act, name="conv")(inp)
    else:
        conv = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
        conv = layers.Activation(act, name="conv_act")(conv)
    pooled = layers.GlobalAveragePooling2D(name="gap")(conv)
    if via == "kwarg":
        dense = layers.Dense(5, activation=act, name="dense")(pooled)
    else:
        dense = layers.Dense(5, name="dense_lin")(pooled)
        dense = layers.Activation(act, name="dense_act")(dense)
    model = keras.Model(inp, [conv, dense])
    randomize(model, 13)
    # scale the inputs so that the saturating regions (hard_sigmoid beyond +-3,
    # relu6 above 6, elu far negative) are visited too; two chained
    # exponentials would overflow float32 at that scale
    rng = np.random.default_rng(0)
    scale = 1.0 if act == "exponential" else 3.0
    x = (rng.standard_normal((3, 5, 6, 3)) * scale).astype("float32")
    check(model, tmp_path, inputs=[x])


def test_activation_directly_on_input(tmp_path):
    inp = keras.Input((4, 4, 3), name="image")
    a = layers.Activation("softmax", name="softmax_channels")(inp)
    b = layers.Activation("hard_sigmoid", name="hsig")(inp)
    c = layers.Conv2D(2, 1, name="conv")(a)
    model = keras.Model(inp, [a, b, c])
    randomize(model, 13)
    check(model, tmp_path)


@pytest.mark.covers("Activation", "gelu exact, hard_swish alias")
@pytest.mark.parametrize("act", ["gelu", "hard_swish"])
def test_activation_aliases(act, tmp_path):
    inp = keras.Input((6,), name="features")
    x = layers.Dense(8, name="dense")(inp)
    out = layers.Activation(act, name="act")(x)
    model = randomize(keras.Model(inp, out), 68)
    x_in = (np.random.default_rng(2).standard_normal((3, 6)) * 3).astype("float32")
    check(model, tmp_path, inputs=[x_in])


# --------------------------------------------------------------------------
# ReLU, LeakyReLU, ELU, Softmax, PReLU

RELU_VARIANTS = {
    "max6": dict(max_value=6.0),
    "slope0.1": dict(negative_slope=0.1),
    "threshold0.5": dict(threshold=0.5),
    # Keras rejects a negative threshold, so the all-three case uses +0.5.
    "max6_slope0.2_thr0.5": dict(max_value=6.0, negative_slope=0.2, threshold=0.5),
    "max2.5": dict(max_value=2.5),
    "slope0.3_thr1": dict(negative_slope=0.3, threshold=1.0),
}


@pytest.mark.covers("ReLU", "max_value, negative_slope, threshold")
@pytest.mark.parametrize("kwargs", list(RELU_VARIANTS.values()), ids=list(RELU_VARIANTS))
def test_relu_layer_variants(tmp_path, kwargs):
    inp = keras.Input((6, 5, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv")(inp)
    x = layers.ReLU(**kwargs, name="relu")(x)
    v = layers.GlobalAveragePooling2D(name="gap")(x)
    v = layers.Dense(4, name="dense")(v)
    v = layers.ReLU(**kwargs, name="relu_dense")(v)
    model = keras.Model(inp, [x, v])
    randomize(model, 14)
    rng = np.random.default_rng(1)
    x_in = (rng.standard_normal((2, 6, 5, 3)) * 4.0).astype("float32")
    check(model, tmp_path, inputs=[x_in])


@pytest.mark.covers("LeakyReLU, ELU, Softmax", "negative_slope, alpha, axis")
@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.LeakyReLU(negative_slope=0.3, name="act"),
        lambda: layers.ELU(alpha=0.5, name="act"),
        lambda: layers.Softmax(name="act"),
        lambda: layers.Softmax(axis=1, name="act"),
        lambda: layers.Softmax(axis=2, name="act"),
    ],
    ids=["leaky0.3", "elu0.5", "softmax", "softmax_axis1", "softmax_axis2"],
)
def test_activation_layers(tmp_path, make):
    inp = keras.Input((5, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    out = make()(x)
    model = keras.Model(inp, out)
    randomize(model, 42)
    x_in = (np.random.default_rng(2).standard_normal((2, 5, 6, 3)) * 2).astype("float32")
    check(model, tmp_path, inputs=[x_in])


def _randomize_alpha(model: keras.Model, seed: int) -> keras.Model:
    """Non-trivial values for the weight Keras starts at zero (PReLU's alpha)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for var in layer.weights:
            if var.path.split("/")[-1] == "alpha":
                var.assign(rng.uniform(-0.5, 1.0, tuple(var.shape)).astype("float32"))
    return model


PRELU = {"per_element": None, "shared_hw": [1, 2], "shared_h": [1]}


@pytest.mark.covers("PReLU", "alpha per element, shared_axes")
@pytest.mark.parametrize("shared", list(PRELU.values()), ids=list(PRELU))
def test_prelu_on_feature_maps(shared, tmp_path):
    inp = keras.Input((6, 5, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.PReLU(shared_axes=shared, name="prelu")(x)
    out = layers.Conv2D(2, 1, name="head")(x)
    model = _randomize_alpha(randomize(keras.Model(inp, [out, x]), 62), 62)
    check(model, tmp_path)


@pytest.mark.covers("PReLU", "on flattened features and vectors")
def test_prelu_after_flatten_and_dense(tmp_path):
    inp = keras.Input((4, 3, 2), name="image")
    x = layers.Conv2D(3, 1, name="conv")(inp)
    x = layers.Flatten(name="flat")(x)
    x = layers.PReLU(name="prelu_flat")(x)
    x = layers.Dense(5, name="dense")(x)
    out = layers.PReLU(name="prelu_dense")(x)
    model = _randomize_alpha(randomize(keras.Model(inp, out), 63), 63)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# MobileNetV3-style hard-swish


def _hard_swish_ops(x):
    return x * ops.minimum(ops.maximum(x + 3.0, 0.0), 6.0) * (1.0 / 6.0)


def _mul_constants(proto: onnx.ModelProto) -> list[float]:
    """Every value of every constant operand of a Mul."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    return [
        float(v)
        for n in proto.graph.node
        if n.op_type == "Mul"
        for i in n.input
        if i in inits
        for v in inits[i].ravel()
    ]


@pytest.mark.parametrize("hard_swish", [hard_swish_relu6, _hard_swish_ops], ids=["relu6_layer", "min_max_ops"])
def test_hard_swish_block(hard_swish, tmp_path):
    inp = keras.Input((10, 10, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = hard_swish(x)
    x = layers.DepthwiseConv2D(3, name="dw")(x)  # 'valid': takes the trailing 1/6
    model = randomize(keras.Model(inp, x), 61)
    # Inputs spread enough that x + 3 crosses both 0 and 6.
    rng = np.random.default_rng(61)
    result = check(model, tmp_path, inputs=[rng.normal(0.0, 3.0, (2, 10, 10, 3)).astype("float32")])
    result.assert_ops(Conv=2, Div=0, Mul=at_most(2))
    for form in result:
        assert not any(np.isclose(c, 1 / 6) for c in _mul_constants(form.proto)), "1/6 was not folded"


def test_hard_swish_matches_keras_activation(tmp_path):
    """The ops spelling and Keras's own 'hard_swish' activation agree, compiled side by side."""
    inp = keras.Input((6, 6, 4), name="image")
    x = layers.Conv2D(6, 1, name="conv")(inp)
    a = hard_swish_relu6(x)
    b = layers.Activation("hard_swish", name="hswish")(x)
    model = randomize(keras.Model(inp, [a, b]), 62)
    x_in = np.random.default_rng(62).normal(0.0, 3.0, (2, 6, 6, 4)).astype("float32")
    check(model, tmp_path, inputs=[x_in])


# --------------------------------------------------------------------------
# Transformer activations: gelu's two forms at both opsets, softmax over several axes

GELU_FORMS = {
    "layer_exact": (lambda t: layers.Activation("gelu", name="act")(t), True),
    "ops_default_tanh": (lambda t: ops.gelu(t), False),
    "activations_tanh": (lambda t: keras.activations.gelu(t, approximate=True), False),
    "activations_exact": (lambda t: keras.activations.gelu(t), True),
}


@pytest.mark.covers(
    "gelu",
    "exact (erf) and tanh-approximate, from Activation, keras.ops and keras.activations; "
    "the ONNX Gelu op at opset 20, Erf/Tanh below",
)
@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("form", list(GELU_FORMS))
def test_gelu_forms(form, opset, tmp_path):
    make, exact = GELU_FORMS[form]
    inp = keras.Input((6, 8), name="tokens")
    x = layers.Dense(8, name="dense")(inp)
    out = layers.Dense(4, name="head")(make(x))
    model = randomize(keras.Model(inp, out), 70)
    x_in = (np.random.default_rng(70).standard_normal((3, 6, 8)) * 3).astype("float32")
    result = check(model, tmp_path, inputs=[x_in], opset=opset)
    if opset >= 20:
        result.assert_ops(Gelu=1, Erf=0, Tanh=0)
        gelu = next(n for n in result["keras"].proto.graph.node if n.op_type == "Gelu")
        approximate = {a.name: a.s.decode() for a in gelu.attribute}.get("approximate", "none")
        assert approximate == ("none" if exact else "tanh")
    else:
        result.assert_ops(Gelu=0, Erf=1 if exact else 0, Tanh=0 if exact else 1)


@pytest.mark.covers("Softmax", "axis: several axes at once (one distribution over all their positions)")
@pytest.mark.parametrize("axis", [(1, 2), (-1, 1), (1, 2, 3)], ids=["spatial", "mixed", "all"])
def test_softmax_over_several_axes(axis, tmp_path):
    inp = keras.Input((4, 5, 3), name="image")
    x = layers.Conv2D(3, 3, padding="same", name="conv")(inp)
    out = layers.Softmax(axis=axis, name="softmax")(x)
    model = randomize(keras.Model(inp, out), 71)
    check(model, tmp_path).assert_ops(Softmax=0, ReduceMax=1, Exp=1)


def test_keras2_gelu_and_softmax_axes(tmp_path):
    """tf.keras's gelu activation is the exact one; its Softmax takes an axis list too."""
    import tf_keras as k2  # heavy, and only the Keras 2 tests need it

    inp = k2.Input((5, 6))
    x = k2.layers.Dense(6, activation="gelu")(inp)
    a = k2.layers.Softmax(axis=1)(x)
    b = k2.layers.Softmax(axis=[1, 2])(k2.layers.Activation("silu")(x))
    model = k2.Model(inp, [a, b])
    randomize_tf_keras(model, 72)
    check_tf_keras(model, tf_keras_sources(model, tmp_path)).assert_ops(Erf=1, Softmax=1)
