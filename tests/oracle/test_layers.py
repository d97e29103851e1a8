"""Layer-by-layer comparison with Keras: activations, Dense on every rank,
Flatten order, pooling heads, BatchNormalization variants, merges and
multi-input/multi-output graphs."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras import layers


def _report(results):
    print({fmt: [f"{e:.2e}" for e in errs] for fmt, errs in results.items()})


# --------------------------------------------------------------------------
# Sequential models


@pytest.mark.covers("InputLayer", "Functional and Sequential, batch dimension dynamic")
def test_sequential_with_input(check, randomize, tmp_path):
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
    _report(check(model, tmp_path))


def test_sequential_built_with_build(check, randomize, tmp_path):
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
    _report(check(model, tmp_path))


def test_sequential_input_shape_kwarg(check, randomize, tmp_path):
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
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# Dense and Flatten


@pytest.mark.covers("Dense", "units, use_bias, activation on vectors")
def test_dense_2d(check, randomize, tmp_path):
    inp = keras.Input((13,), name="vector")
    x = layers.Dense(9, activation="relu", name="hidden")(inp)
    out = layers.Dense(4, name="logits")(x)
    model = keras.Model(inp, out)
    randomize(model, 4)
    _report(check(model, tmp_path))


@pytest.mark.covers("Dense", "on rank-4 feature maps (a 1×1 convolution)")
def test_dense_on_4d_input_acts_on_channels(check, randomize, tmp_path):
    inp = keras.Input((5, 7, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv")(inp)
    x = layers.Dense(4, activation="relu", name="pointwise")(x)
    out = layers.Dense(2, name="pointwise_out")(x)
    model = keras.Model(inp, out)
    randomize(model, 5)
    _report(check(model, tmp_path))


def test_dense_directly_on_image_input(check, randomize, tmp_path):
    inp = keras.Input((4, 6, 3), name="image")
    out = layers.Dense(5, name="pointwise")(inp)
    model = keras.Model(inp, out)
    randomize(model, 6)
    _report(check(model, tmp_path))


@pytest.mark.covers("Dense", "on rank-3 input")
def test_dense_on_3d_input(check, randomize, tmp_path):
    inp = keras.Input((6, 4), name="sequence")
    x = layers.Dense(5, activation="relu", name="d1")(inp)
    out = layers.Dense(3, activation="softmax", name="d2")(x)
    model = keras.Model(inp, out)
    randomize(model, 7)
    _report(check(model, tmp_path))


@pytest.mark.covers("Flatten", "NHWC order before Dense (weights reordered, no transpose)")
def test_flatten_dense_nhwc_order(check, randomize, tmp_path):
    # H, W and C all distinct so any transposition of the flatten order shows.
    inp = keras.Input((9, 11, 2), name="image")
    x = layers.Conv2D(5, 3, strides=2, name="conv")(inp)  # 4 x 5 x 5
    x = layers.Conv2D(3, (1, 2), name="conv_b")(x)  # 4 x 4 x 3
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(6, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 8)
    _report(check(model, tmp_path))


def test_flatten_is_model_output(check, randomize, tmp_path):
    inp = keras.Input((3, 4, 5), name="image")
    x = layers.Conv2D(2, 1, name="conv")(inp)
    out = layers.Flatten(name="flat")(x)
    model = keras.Model(inp, out)
    randomize(model, 9)
    _report(check(model, tmp_path))


def test_flatten_of_input_then_dense(check, randomize, tmp_path):
    inp = keras.Input((3, 5, 4), name="image")
    x = layers.Flatten(name="flat")(inp)
    out = layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 10)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# Global pooling


@pytest.mark.covers("GlobalAveragePooling2D", "keepdims")
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling(check, randomize, tmp_path, keepdims):
    inp = keras.Input((6, 5, 4), name="image")
    x = layers.Conv2D(7, 3, padding="same", activation="relu", name="conv")(inp)
    out = layers.GlobalAveragePooling2D(keepdims=keepdims, name="gap")(x)
    model = keras.Model(inp, out)
    randomize(model, 11)
    _report(check(model, tmp_path))


def test_global_average_pooling_keepdims_then_conv(check, randomize, tmp_path):
    # squeeze-and-excitation style: pooled (1, 1, C) map multiplies nothing,
    # but feeds a 1x1 conv and is concatenated back over channels.
    inp = keras.Input((6, 6, 4), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    g = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    g = layers.Conv2D(3, 1, activation="sigmoid", name="squeeze")(g)
    out = layers.Flatten(name="flat")(g)
    model = keras.Model(inp, out)
    randomize(model, 12)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# Activations

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


@pytest.mark.covers("Activation", "relu, sigmoid, softmax, tanh, linear, relu6, elu, selu, softplus, softsign, swish, silu, gelu, hard_sigmoid, exponential, leaky_relu, mish, hard_silu, log_softmax, hard_tanh; as a layer and as activation=")
@pytest.mark.parametrize("via", ["kwarg", "layer"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation(check, randomize, tmp_path, act, via):
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
    _report(check(model, tmp_path, inputs=[x]))


def test_activation_directly_on_input(check, randomize, tmp_path):
    inp = keras.Input((4, 4, 3), name="image")
    a = layers.Activation("softmax", name="softmax_channels")(inp)
    b = layers.Activation("hard_sigmoid", name="hsig")(inp)
    c = layers.Conv2D(2, 1, name="conv")(a)
    model = keras.Model(inp, [a, b, c])
    randomize(model, 13)
    _report(check(model, tmp_path))


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
def test_relu_layer_variants(check, randomize, tmp_path, kwargs):
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
    _report(check(model, tmp_path, inputs=[x_in]))


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
def test_batchnorm_after_conv(check, randomize, tmp_path, kwargs):
    inp = keras.Input((7, 6, 3), name="image")
    x = layers.Conv2D(5, 3, padding="same", use_bias=False, name="conv")(inp)
    x = layers.BatchNormalization(name="bn", **kwargs)(x)
    x = layers.Activation("relu", name="relu")(x)
    x = layers.Conv2D(4, 3, strides=2, name="conv_b")(x)
    out = layers.BatchNormalization(name="bn_b", **kwargs)(x)
    model = keras.Model(inp, out)
    randomize(model, 15)
    _report(check(model, tmp_path))


@pytest.mark.parametrize("kwargs", list(BN_VARIANTS.values()), ids=list(BN_VARIANTS))
def test_batchnorm_after_dense(check, randomize, tmp_path, kwargs):
    inp = keras.Input((10,), name="vector")
    x = layers.Dense(8, name="dense")(inp)
    x = layers.BatchNormalization(name="bn", **kwargs)(x)
    x = layers.Activation("relu", name="relu")(x)
    out = layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 16)
    _report(check(model, tmp_path))


def test_batchnorm_after_activated_conv_and_dense(check, randomize, tmp_path):
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
    _report(check(model, tmp_path, forbid_ops=("Dropout",)))


@pytest.mark.covers("BatchNormalization", "axis 1 or 2 of NHWC")
@pytest.mark.parametrize("axis", [1, 2], ids=["axis1", "axis2"])
def test_batchnorm_on_a_spatial_axis(check, randomize, tmp_path, axis):
    """BatchNormalization over H or W, not channels: either compiled correctly
    or refused with a CompileError, never folded as if per channel."""
    import compiler

    inp = keras.Input((5, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    out = layers.BatchNormalization(axis=axis, name="bn")(x)
    model = keras.Model(inp, out)
    randomize(model, 33)
    try:
        results = check(model, tmp_path, forbid_ops=("Dropout",))
    except compiler.CompileError as exc:
        print("refused:", exc)
        return
    _report(results)


def test_batchnorm_after_conv_transpose(check, randomize, tmp_path):
    inp = keras.Input((5, 6, 4), name="image")
    x = layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")(inp)
    out = layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inp, out)
    randomize(model, 17)
    _report(check(model, tmp_path))


def test_batchnorm_without_preceding_linear_op(check, randomize, tmp_path):
    # Nothing to fold into: the normalisation must still be applied. Whether it
    # stays a BatchNormalization op is the compiler's choice, so it is allowed here.
    inp = keras.Input((5, 5, 3), name="image")
    x = layers.BatchNormalization(name="bn_in")(inp)
    y = layers.Conv2D(3, 3, padding="same", name="conv")(x)
    s = layers.Add(name="add")([x, y])
    out = layers.BatchNormalization(name="bn_after_add", epsilon=0.01)(s)
    model = keras.Model(inp, out)
    randomize(model, 18)
    _report(check(model, tmp_path, forbid_ops=("Dropout",)))


def test_conv_output_used_by_batchnorm_and_elsewhere(check, randomize, tmp_path):
    # The conv output has a second consumer, so folding BN into the conv weights
    # would corrupt the other branch; BatchNormalization nodes are allowed here.
    inp = keras.Input((6, 6, 3), name="image")
    c = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    bn = layers.BatchNormalization(name="bn")(c)
    other = layers.Conv2D(4, 1, name="side")(c)
    out = layers.Concatenate(name="cat")([bn, other, c])
    model = keras.Model(inp, out)
    randomize(model, 19)
    _report(check(model, tmp_path, forbid_ops=("Dropout",)))


# --------------------------------------------------------------------------
# Merges and graph structure


def test_add_same_tensor_twice(check, randomize, tmp_path):
    inp = keras.Input((6, 5, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.add([x, x], name="double")
    x = layers.ReLU(name="relu")(x)
    out = layers.Add(name="triple_in")([x, x, layers.Conv2D(4, 1, name="c1")(x)])
    model = keras.Model(inp, out)
    randomize(model, 20)
    _report(check(model, tmp_path))


def test_add_then_relu_residual(check, randomize, tmp_path):
    inp = keras.Input((8, 8, 4), name="image")
    x = layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Add(name="add")([x, inp])
    x = layers.Activation("relu", name="relu")(x)
    y = layers.Conv2D(4, 3, padding="same", name="conv2")(x)
    out = layers.ReLU(name="relu2")(layers.Add(name="add2")([y, x]))
    model = keras.Model(inp, [out, x])
    randomize(model, 21)
    _report(check(model, tmp_path))


@pytest.mark.covers("Concatenate", "any axis, negative axes")
@pytest.mark.parametrize("axis", [1, 2, 3, -1, -2, -3])
def test_concatenate_axis_4d(check, randomize, tmp_path, axis):
    inp = keras.Input((4, 4, 3), name="image")
    a = layers.Conv2D(3, 3, padding="same", name="conv_a")(inp)
    b = layers.Conv2D(3, 1, name="conv_b")(inp)
    x = layers.Concatenate(axis=axis, name="cat")([a, b, inp])
    out = layers.Conv2D(2, 3, name="after")(x)
    model = keras.Model(inp, [x, out])
    randomize(model, 22)
    _report(check(model, tmp_path))


def test_concatenate_function_default_axis(check, randomize, tmp_path):
    inp = keras.Input((5, 5, 2), name="image")
    a = layers.Conv2D(3, 3, padding="same", name="conv_a")(inp)
    b = layers.MaxPooling2D(3, strides=1, padding="same", name="pool")(inp)
    out = layers.concatenate([a, b], name="cat")
    model = keras.Model(inp, out)
    randomize(model, 23)
    _report(check(model, tmp_path))


def test_concatenate_2d(check, randomize, tmp_path):
    a_in = keras.Input((4,), name="a")
    b_in = keras.Input((3,), name="b")
    x = layers.Concatenate(name="cat")([layers.Dense(5, name="da")(a_in), b_in])
    out = layers.Dense(2, name="head")(x)
    model = keras.Model([a_in, b_in], out)
    randomize(model, 24)
    _report(check(model, tmp_path))


def test_shared_tensor_feeds_several_layers(check, randomize, tmp_path):
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
    _report(check(model, tmp_path))


def test_shared_layer_applied_twice(check, randomize, tmp_path):
    left = keras.Input((6, 6, 3), name="left")
    right = keras.Input((6, 6, 3), name="right")
    shared = layers.Conv2D(4, 3, padding="same", activation="relu", name="shared_conv")
    pool = layers.GlobalAveragePooling2D(name="shared_gap")
    a = pool(shared(left))
    b = pool(shared(right))
    out = layers.Dense(2, name="head")(layers.Concatenate(name="cat")([a, b]))
    model = keras.Model([left, right], out)
    randomize(model, 26)
    _report(check(model, tmp_path))


@pytest.mark.covers("UpSampling2D", "size, interpolation nearest/bilinear")
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(2, 2), (2, 3)], ids=["2x2", "2x3"])
def test_upsampling2d(check, randomize, tmp_path, size, interpolation):
    inp = keras.Input((4, 5, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.UpSampling2D(size=size, interpolation=interpolation, name="up")(x)
    out = layers.Conv2D(2, 3, padding="same", name="after")(x)
    model = keras.Model(inp, [x, out])
    randomize(model, 27)
    _report(check(model, tmp_path))


def test_dropout_is_identity(check, randomize, tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(inp)
    x = layers.Dropout(0.5, name="drop")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dropout(0.3, name="drop2")(x)
    out = layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 28)
    _report(check(model, tmp_path))


def test_dropout_as_output(check, tmp_path):
    inp = keras.Input((5,), name="vector")
    out = layers.Dropout(0.5, name="drop")(layers.Dense(3, name="d")(inp))
    model = keras.Model(inp, out)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# Multi-input / multi-output and batch sizes


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
def test_multi_input_multi_output(check, randomize, tmp_path, batch):
    model = _multi_io_model()
    randomize(model, 29)
    _report(check(model, tmp_path, batch=batch))


@pytest.mark.parametrize("batch", [1, 5])
def test_batch_sizes(check, randomize, tmp_path, batch):
    inp = keras.Input((9, 9, 3), name="image")
    x = layers.Conv2D(6, 3, strides=2, padding="same", use_bias=False, name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    out = layers.Dense(4, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    randomize(model, 30)
    _report(check(model, tmp_path, batch=batch))


def test_one_compiled_file_serves_several_batch_sizes(oracle, randomize, tmp_path):
    import compiler

    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(x))
    model = keras.Model(inp, out)
    randomize(model, 31)
    source, weights = oracle.save_source(model, "json+weights", tmp_path / "src")
    res = compiler.compile(source, weights=weights)
    path = tmp_path / "model.onnx"
    compiler.save(res, path)
    for batch in (1, 3, 8):
        arrays = oracle.make_inputs(model, batch, seed=batch)
        expected = oracle.keras_predict(model, arrays)
        oracle.verify_onnx_file(path, model, arrays, expected, label=f"batch {batch}")


# --------------------------------------------------------------------------
# Further layers: depthwise convolution, advanced activation layers, merges,
# reshaping, global max pooling, inference-time no-ops


@pytest.mark.covers("DepthwiseConv2D", "kernel_size, strides, padding, dilation_rate, depth_multiplier, use_bias")
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3, padding="same"),
        dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2),
        dict(kernel_size=(2, 4), strides=2, padding="same"),
        dict(kernel_size=3, dilation_rate=2, padding="valid"),
        dict(kernel_size=5, strides=2, padding="valid", use_bias=False),
    ],
    ids=["k3same", "k3s2same-dm2", "k2x4s2same", "k3d2valid", "k5s2valid-nobias"],
)
def test_depthwise_conv(check, randomize, tmp_path, kwargs):
    inp = keras.Input((9, 8, 3), name="image")
    x = layers.DepthwiseConv2D(name="dw", **kwargs)(inp)
    x = layers.BatchNormalization(name="dw_bn")(x)
    x = layers.ReLU(max_value=6.0, name="dw_relu")(x)
    out = layers.Conv2D(4, 1, name="pw")(x)
    model = keras.Model(inp, [out, x])
    randomize(model, 40)
    _report(check(model, tmp_path))


def test_separable_block_mobilenet_style(check, randomize, tmp_path):
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(inp)
    x = layers.Conv2D(8, 3, strides=2, use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    x = layers.BatchNormalization(name="dw_bn")(x)
    x = layers.ReLU(6.0, name="dw_relu")(x)
    x = layers.Conv2D(8, 1, use_bias=False, name="project")(x)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(3, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    randomize(model, 41)
    _report(check(model, tmp_path))


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
def test_activation_layers(check, randomize, tmp_path, make):
    inp = keras.Input((5, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    out = make()(x)
    model = keras.Model(inp, out)
    randomize(model, 42)
    x_in = (np.random.default_rng(2).standard_normal((2, 5, 6, 3)) * 2).astype("float32")
    _report(check(model, tmp_path, inputs=[x_in]))


@pytest.mark.covers("Add, Subtract, Multiply, Maximum, Minimum, Average", "two or more inputs")
@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average"])
def test_merge_layers(check, randomize, tmp_path, merge):
    inp = keras.Input((6, 5, 3), name="image")
    a = layers.Conv2D(4, 3, padding="same", name="conv_a")(inp)
    b = layers.Conv2D(4, 1, name="conv_b")(inp)
    x = getattr(layers, merge)(name="merge")([a, b])
    v = layers.GlobalAveragePooling2D(name="gap")(x)
    w = getattr(layers, merge)(name="merge_vec")([v, layers.Dense(4, name="dv")(v)])
    model = keras.Model(inp, [x, w])
    randomize(model, 43)
    _report(check(model, tmp_path))


def test_squeeze_excitation_broadcast_multiply(check, randomize, tmp_path):
    inp = keras.Input((6, 6, 8), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="swish", name="conv")(inp)
    se = layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(x)
    se = layers.Conv2D(2, 1, activation="swish", name="se_reduce")(se)
    se = layers.Conv2D(8, 1, activation="sigmoid", name="se_expand")(se)
    out = layers.Multiply(name="se_scale")([x, se])  # (N,6,6,8) * (N,1,1,8)
    model = keras.Model(inp, out)
    randomize(model, 44)
    _report(check(model, tmp_path))


@pytest.mark.covers("GlobalMaxPooling2D", "keepdims")
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_max_pooling(check, randomize, tmp_path, keepdims):
    inp = keras.Input((5, 7, 3), name="image")
    x = layers.Conv2D(6, 3, name="conv")(inp)
    out = layers.GlobalMaxPooling2D(keepdims=keepdims, name="gmp")(x)
    model = keras.Model(inp, out)
    randomize(model, 45)
    _report(check(model, tmp_path))


@pytest.mark.covers("Reshape", "target_shape, -1")
def test_reshape_feature_map_to_tokens(check, randomize, tmp_path):
    # (H, W, C) -> (H*W, C) follows NHWC memory order
    inp = keras.Input((4, 5, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv")(inp)
    tokens = layers.Reshape((-1, 6), name="tokens")(x)
    out = layers.Dense(2, name="per_token")(tokens)
    model = keras.Model(inp, [tokens, out])
    randomize(model, 46)
    _report(check(model, tmp_path))


def test_reshape_vector_to_feature_map(check, randomize, tmp_path):
    # a decoder stem: Dense -> Reshape to (H, W, C) in NHWC order -> conv
    inp = keras.Input((6,), name="latent")
    x = layers.Dense(3 * 4 * 5, name="project")(inp)
    x = layers.Reshape((3, 4, 5), name="to_map")(x)
    out = layers.Conv2DTranspose(2, 3, strides=2, padding="same", name="up")(x)
    model = keras.Model(inp, [x, out])
    randomize(model, 47)
    _report(check(model, tmp_path))


def test_reshape_between_feature_maps(check, randomize, tmp_path):
    inp = keras.Input((4, 6, 2), name="image")
    x = layers.Conv2D(4, 1, name="conv")(inp)
    x = layers.Reshape((8, 6, 2), name="regrid")(x)
    out = layers.Conv2D(3, 3, padding="same", name="after")(x)
    model = keras.Model(inp, out)
    randomize(model, 48)
    _report(check(model, tmp_path))


@pytest.mark.covers("Permute", "dims")
@pytest.mark.parametrize("dims", [(3, 1, 2), (2, 1, 3), (1, 3, 2)], ids=["312", "213", "132"])
def test_permute(check, randomize, tmp_path, dims):
    inp = keras.Input((4, 5, 3), name="image")
    x = layers.Conv2D(6, 1, name="conv")(inp)
    x = layers.Permute(dims, name="perm")(x)
    out = layers.Flatten(name="flat")(x)
    out = layers.Dense(3, name="head")(out)
    model = keras.Model(inp, [x, out])
    randomize(model, 49)
    _report(check(model, tmp_path))


@pytest.mark.covers("Dropout, SpatialDropout, GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization", "removed at inference")
def test_inference_time_no_ops(check, randomize, tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.SpatialDropout2D(0.3, name="sdrop")(x)
    x = layers.GaussianNoise(0.5, name="noise")(x)
    x = layers.GaussianDropout(0.2, name="gdrop")(x)
    x = layers.ActivityRegularization(l1=0.01, name="actreg")(x)
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(x))
    model = keras.Model(inp, out)
    randomize(model, 50)
    _report(check(model, tmp_path))
