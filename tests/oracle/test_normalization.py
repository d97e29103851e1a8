"""Normalization layers against Keras: BatchNormalization folded into the Conv/Dense before it (or
kept where folding would be wrong) and LayerNormalization on vectors, sequences and feature maps.
Normalization (the preprocessing layer) is in test_preprocessing.py."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import compiler

from .harness import at_most, check, check_tf_keras, randomize, randomize_norms, tf_keras_sources

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


# --------------------------------------------------------------------------
# LayerNormalization over several axes, rms_scaling; RMS, Group and Unit normalization


def randomize_all_norms(model: keras.Model, seed: int) -> keras.Model:
    """Every normalization weight away from its trivial start: γ (or RMSNormalization's scale)
    around 1, β around 0, whatever their shape."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for var in layer.weights:
            label = var.path.split("/")[-1]
            if label in ("gamma", "scale"):
                var.assign(rng.normal(1.0, 0.4, tuple(var.shape)).astype("float32"))
            elif label == "beta":
                var.assign(rng.normal(0.0, 0.4, tuple(var.shape)).astype("float32"))
    return model


def offset_inputs(model: keras.Model, seed: int, batch: int = 3) -> list[np.ndarray]:
    """Inputs with a mean far from zero and uneven spread, so a dropped centring or a statistic
    over the wrong axes shows."""
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(1.5, 1.0, (batch, *t.shape[1:])) * rng.uniform(0.5, 2.0, t.shape[1:])).astype("float32")
        for t in model.inputs
    ]


LN_AXES = {
    # (input shape after a Dense/Conv, axis, expected LayerNormalization ops): trailing in the
    # physical layout → the ONNX op, otherwise the exact ReduceMean form
    "seq_last_two": ((5, 6), [-2, -1], 1),
    "seq_steps": ((5, 6), 1, 0),
    "image_all": ((4, 5, 6), [1, 2, 3], 1),
    "image_spatial": ((4, 5, 6), [1, 2], 1),  # H, W are physically last in NCHW
    "image_mixed_signs": ((4, 5, 6), [-1, 1], 0),
    "image_height_channels": ((4, 5, 6), [1, 3], 0),
}


@pytest.mark.covers("LayerNormalization", "axis: a list of axes, negative axes, over steps, pixels or whole maps")
@pytest.mark.parametrize("shape, axis, ln_ops", list(LN_AXES.values()), ids=list(LN_AXES))
@pytest.mark.parametrize("kwargs", [{}, {"center": False, "epsilon": 0.05}], ids=["default", "no_center_eps"])
def test_layer_norm_over_axes(shape, axis, ln_ops, kwargs, tmp_path):
    inp = keras.Input(shape, name="x")
    if len(shape) == 3:
        x = layers.Conv2D(shape[-1], 3, padding="same", name="conv")(inp)
    else:
        x = layers.Dense(shape[-1], name="dense")(inp)
    x = layers.LayerNormalization(axis=axis, name="ln", **kwargs)(x)
    out = layers.Dense(3, name="head")(x)
    model = randomize_all_norms(randomize(keras.Model(inp, out), 41), 41)
    result = check(model, tmp_path, inputs=offset_inputs(model, 41))
    result.assert_ops(LayerNormalization=ln_ops)


@pytest.mark.covers("LayerNormalization", "rms_scaling (Keras 3: x / √(var + ε) · γ), with and without scale")
@pytest.mark.parametrize("axis, scale", [(-1, True), (-1, False), ([1, 2], True)], ids=["last", "last_no_scale", "two"])
def test_layer_norm_rms_scaling(axis, scale, tmp_path):
    inp = keras.Input((5, 6), name="x")
    x = layers.Dense(6, name="dense")(inp)
    out = layers.LayerNormalization(axis=axis, rms_scaling=True, scale=scale, epsilon=1e-2, name="ln")(x)
    model = randomize_all_norms(randomize(keras.Model(inp, out), 42), 42)
    check(model, tmp_path, inputs=offset_inputs(model, 42)).assert_ops(LayerNormalization=0, ReduceMean=2)


@pytest.mark.covers("RMSNormalization", "axis, epsilon")
@pytest.mark.parametrize("axis, eps", [(-1, 1e-6), ([1, 2], 0.1)], ids=["last", "two_axes_eps"])
def test_rms_normalization(axis, eps, tmp_path):
    inp = keras.Input((4, 6), name="x")
    x = layers.Dense(6, name="dense")(inp)
    out = layers.RMSNormalization(axis=axis, epsilon=eps, name="rms")(x)
    model = randomize_all_norms(randomize(keras.Model(inp, out), 43), 43)
    check(model, tmp_path, inputs=offset_inputs(model, 43)).assert_ops(ReduceMean=1)


GROUPS = {
    "groups2": dict(groups=2),
    "instance": dict(groups=-1),
    "one_group_eps": dict(groups=1, epsilon=0.1),
    "no_affine": dict(groups=3, center=False, scale=False),
}


@pytest.mark.covers("GroupNormalization", "groups (-1, 1, n), epsilon, center, scale; on feature maps")
@pytest.mark.parametrize("kwargs", list(GROUPS.values()), ids=list(GROUPS))
def test_group_norm_between_convs(kwargs, tmp_path):
    inp = keras.Input((6, 5, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inp)
    x = layers.GroupNormalization(name="gn", **kwargs)(x)
    x = layers.Conv2D(4, 3, name="conv2")(x)
    model = randomize_all_norms(randomize(keras.Model(inp, x), 44), 44)
    result = check(model, tmp_path, inputs=offset_inputs(model, 44))
    result.assert_ops(InstanceNormalization=1, Transpose=2)
    assert result.transposes_inside == 0


@pytest.mark.covers("GroupNormalization", "axis; on sequences and vectors")
@pytest.mark.parametrize("shape, axis", [((7, 8), -1), ((7, 8), 1), ((8,), -1)], ids=["seq", "seq_axis1", "vector"])
def test_group_norm_on_sequences(shape, axis, tmp_path):
    inp = keras.Input(shape, name="x")
    x = layers.Dense(8, name="dense")(inp)
    groups = 7 if axis == 1 else 4
    out = layers.GroupNormalization(groups=groups, axis=axis, name="gn")(x)
    model = randomize_all_norms(randomize(keras.Model(inp, out), 45), 45)
    check(model, tmp_path, inputs=offset_inputs(model, 45)).assert_ops(InstanceNormalization=1)


@pytest.mark.covers("UnitNormalization", "axis (one or several)")
@pytest.mark.parametrize("shape, axis", [((6,), -1), ((5, 6), 1), ((4, 5, 3), [1, 2])], ids=["vec", "steps", "pix"])
def test_unit_normalization(shape, axis, tmp_path):
    inp = keras.Input(shape, name="x")
    x = layers.Conv2D(3, 3, padding="same", name="conv")(inp) if len(shape) == 3 else layers.Dense(6, name="d")(inp)
    out = layers.UnitNormalization(axis=axis, name="unit")(x)
    model = randomize(keras.Model(inp, out), 46)
    check(model, tmp_path, inputs=offset_inputs(model, 46)).assert_ops(ReduceSumSquare=1)


@pytest.mark.covers("BatchNormalization", "on sequences (folded into Dense/Conv1D, or an Affine on the channels)")
def test_batchnorm_on_sequences(tmp_path):
    inp = keras.Input((9, 4), name="seq")
    a = layers.BatchNormalization(name="bn_in")(inp)  # nothing before it to fold into
    x = layers.Conv1D(6, 3, padding="same", name="conv")(a)
    x = layers.BatchNormalization(name="bn_conv")(x)
    x = layers.Dense(5, name="dense")(x)
    out = layers.BatchNormalization(epsilon=1e-5, name="bn_dense")(x)
    model = randomize(keras.Model(inp, out), 47)
    result = check(model, tmp_path, inputs=offset_inputs(model, 47))
    result.assert_ops(BatchNormalization=0, Mul=at_most(1), Add=at_most(2))


def test_layer_norm_axes_keras2(tmp_path):
    """tf.keras keeps the axes in the order given (counted from 0) and shapes γ and β by it."""
    import tf_keras as k2  # heavy, and only this test needs Keras 2

    inp = k2.Input((4, 5, 3))
    x = k2.layers.Conv2D(6, 3, padding="same")(inp)
    x = k2.layers.LayerNormalization(axis=[2, 1], epsilon=1e-2)(x)
    x = k2.layers.LayerNormalization(axis=-1, center=False)(x)
    out = k2.layers.LayerNormalization(axis=(1, 2, 3), scale=False)(x)
    model = k2.Model(inp, out)
    rng = np.random.default_rng(48)
    for layer in model.layers:
        layer.set_weights([rng.normal(0.5, 0.4, w.shape).astype("float32") for w in layer.get_weights()])
    result = check_tf_keras(model, tf_keras_sources(model, tmp_path))
    result.assert_ops(LayerNormalization=2)


# --------------------------------------------------------------------------
# Transformer fusions: a Dense's bias into gelu, a residual Add into LayerNormalization


@pytest.mark.covers(
    "Dense + gelu, Add + LayerNormalization",
    "fused (passes fuse_bias_gelu, fuse_skip_layernorm; onnxruntime's BiasGelu, FastGelu and "
    "SkipLayerNormalization for --target ort), and with the fusions off",
)
@pytest.mark.parametrize("target", ["onnx", "ort"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_transformer_mlp_fusions(target, fused, tmp_path):
    inp = keras.Input((6, 8), name="tokens")
    h = layers.Dense(16, activation="gelu", name="fc1")(inp)
    h = layers.Dense(8, name="fc2")(h)
    x = layers.LayerNormalization(epsilon=1e-6, name="ln1")(layers.Add(name="join")([inp, h]))
    h = keras.ops.gelu(layers.Dense(16, name="fc3")(x))  # the tanh form
    h = layers.Dense(8, name="fc4")(h)
    out = layers.LayerNormalization(name="ln2")(x + h)
    model = randomize_norms(randomize(keras.Model(inp, out), 49), 49)
    passes = None if fused else "-fuse_bias_gelu,-fuse_skip_layernorm"
    x_in = (np.random.default_rng(49).standard_normal((3, 6, 8)) * 2).astype("float32")
    result = check(model, tmp_path, inputs=[x_in], target=target, passes=passes)
    ir = result["keras"].compiled.graph.op_counts()
    assert (ir.get("BiasGelu", 0), ir.get("SkipLayerNorm", 0)) == ((2, 2) if fused else (0, 0))
    if fused and target == "ort":
        result.assert_ops(BiasGelu=1, FastGelu=1, SkipLayerNormalization=2, Erf=0, Tanh=0, LayerNormalization=0)
    elif target == "onnx":
        result.assert_ops(LayerNormalization=2, Erf=1, Tanh=1, SkipLayerNormalization=0, BiasGelu=0)
