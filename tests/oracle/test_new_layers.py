"""SeparableConv2D, LayerNormalization, Cropping2D, Rescaling, Normalization, Keras 3
operations on KerasTensors, hard-swish, squeeze-and-excitation and ConvNeXt blocks against
Keras, with the shape of the compiled graph checked as well as its numbers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import keras
import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from keras import layers, ops
from keras.src.applications import convnext


def _report(results):
    print({fmt: [f"{e:.2e}" for e in errs] for fmt, errs in results.items()})


def _compiled(tmp_path: Path) -> list[onnx.ModelProto]:
    """The files ``check`` wrote, one per source format."""
    paths = sorted(Path(tmp_path).glob("*/model.onnx"))
    assert paths, f"no compiled model under {tmp_path}"
    return [onnx.load(str(p)) for p in paths]


def _ops(tmp_path: Path) -> Counter:
    """Op counts of the compiled model; every source format must give the same graph."""
    counts = [Counter(n.op_type for n in proto.graph.node) for proto in _compiled(tmp_path)]
    for other in counts[1:]:
        assert other == counts[0], f"source formats compile differently: {counts[0]} vs {other}"
    print(dict(counts[0]))
    return counts[0]


def _transposes_only_at_boundary(tmp_path: Path) -> int:
    """Assert every Transpose reads a graph input or writes a graph output; return how many."""
    total = None
    for proto in _compiled(tmp_path):
        ins = {i.name for i in proto.graph.input}
        outs = {o.name for o in proto.graph.output}
        found = [n for n in proto.graph.node if n.op_type == "Transpose"]
        inner = [n.name for n in found if n.input[0] not in ins and n.output[0] not in outs]
        assert not inner, f"Transpose inside the graph: {inner}"
        total = len(found)
    return total


def _mul_constants(proto: onnx.ModelProto) -> list[float]:
    """Every value of every constant operand of a Mul."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    return [float(v) for n in proto.graph.node if n.op_type == "Mul"
            for i in n.input if i in inits for v in inits[i].ravel()]


def _randomize_norms(model, seed: int):
    """Non-trivial LayerNormalization gamma/beta and LayerScale gamma (Keras starts them at
    1, 0 and 1e-6, which would make the normalization's affine part and ConvNeXt's residual
    branch invisible in the output)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.LayerNormalization):
            if layer.gamma is not None:
                layer.gamma.assign(rng.normal(1.0, 0.4, tuple(layer.gamma.shape)).astype("float32"))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0.0, 0.4, tuple(layer.beta.shape)).astype("float32"))
        elif isinstance(layer, convnext.LayerScale):
            layer.gamma.assign(rng.normal(0.5, 0.3, tuple(layer.gamma.shape)).astype("float32"))
    return model


# --------------------------------------------------------------------------
# SeparableConv2D


SEPARABLE = {
    "s1_same": {"kernel_size": 3, "strides": 1, "padding": "same"},
    "s2_same": {"kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
    "s2_same_even_kernel": {"kernel_size": 4, "strides": 2, "padding": "same"},
    "s2_valid_mult2": {"kernel_size": 3, "strides": 2, "padding": "valid", "depth_multiplier": 2},
    "s1_valid_mult2_nobias": {"kernel_size": (3, 5), "padding": "valid", "depth_multiplier": 2, "use_bias": False},
    "dilated_same": {"kernel_size": 3, "padding": "same", "dilation_rate": 2, "activation": "tanh"},
    "dilated_valid_rect": {"kernel_size": 3, "padding": "valid", "dilation_rate": (2, 3), "activation": "relu6"},
    "same_nobias_swish": {"kernel_size": 5, "padding": "same", "use_bias": False, "activation": "swish"},
}


@pytest.mark.covers("SeparableConv2D", "kernel_size, strides, padding, dilation_rate, depth_multiplier, use_bias, activation")
@pytest.mark.parametrize("cfg", list(SEPARABLE.values()), ids=list(SEPARABLE))
def test_separable_conv2d(cfg, check, randomize, tmp_path):
    inp = keras.Input((13, 11, 5), name="image")
    x = layers.SeparableConv2D(7, name="sep", **cfg)(inp)
    model = randomize(keras.Model(inp, x), 11)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 2  # depthwise, then pointwise
    assert ops_["Transpose"] == 2 and _transposes_only_at_boundary(tmp_path) == 2


def test_separable_conv2d_with_batchnorm_on_both_sides(check, randomize, tmp_path):
    """BatchNorm before a 'valid' depthwise step folds into it (multiplier 2: output channel
    c·2 + m), BatchNorm after it into the pointwise step."""
    inp = keras.Input((12, 12, 4), name="image")
    x = layers.Conv2D(6, 1, name="stem")(inp)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.BatchNormalization(name="bn_before")(x)
    x = layers.SeparableConv2D(10, 3, depth_multiplier=2, name="sep")(x)
    x = layers.BatchNormalization(name="bn_after")(x)
    x = layers.ReLU(name="relu")(x)
    model = randomize(keras.Model(inp, x), 12)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 3
    assert not {"Mul", "Add", "BatchNormalization"} & set(ops_)


def test_xception_style_separable_block(check, randomize, tmp_path):
    inp = keras.Input((19, 17, 8), name="image")
    residual = layers.Conv2D(16, 1, strides=2, padding="same", use_bias=False, name="res_conv")(inp)
    residual = layers.BatchNormalization(name="res_bn")(residual)
    x = layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="sep1")(inp)
    x = layers.BatchNormalization(name="sep1_bn")(x)
    x = layers.Activation("relu", name="sep2_act")(x)
    x = layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="sep2")(x)
    x = layers.BatchNormalization(name="sep2_bn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = layers.add([x, residual], name="add")
    out = layers.GlobalAveragePooling2D(name="gap")(x)
    model = randomize(keras.Model(inp, out), 13)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 5 and ops_["Transpose"] == 1


# --------------------------------------------------------------------------
# LayerNormalization


@pytest.mark.covers("LayerNormalization", "epsilon, center, scale (last axis)")
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"epsilon": 1e-5}, {"center": False}, {"scale": False}, {"center": False, "scale": False}],
    ids=["default", "eps1e-5", "no_center", "no_scale", "neither"],
)
def test_layer_norm_2d(kwargs, check, randomize, tmp_path):
    inp = keras.Input((10,), name="features")
    x = layers.Dense(12, name="dense_in")(inp)
    x = layers.LayerNormalization(name="ln", **kwargs)(x)
    out = layers.Dense(5, name="dense_out")(x)
    model = _randomize_norms(randomize(keras.Model(inp, out), 21), 21)
    _report(check(model, tmp_path))
    assert _ops(tmp_path)["LayerNormalization"] == 1


def test_layer_norm_3d_sequence(check, randomize, tmp_path):
    inp = keras.Input((7, 9), name="tokens")
    x = layers.Dense(16, name="embed")(inp)
    x = layers.LayerNormalization(epsilon=1e-6, name="ln1")(x)
    x = layers.Dense(16, activation="gelu", name="mlp")(x)
    x = layers.LayerNormalization(axis=2, name="ln2")(x)  # the last axis, spelled positively
    model = _randomize_norms(randomize(keras.Model(inp, x), 22), 22)
    _report(check(model, tmp_path))
    assert _ops(tmp_path)["LayerNormalization"] == 2


@pytest.mark.covers("LayerNormalization", "on feature maps")
def test_layer_norm_on_4d_input(check, randomize, tmp_path):
    """Directly on the NHWC model input: normalized over the channels of each pixel."""
    inp = keras.Input((6, 5, 8), name="image")
    x = layers.LayerNormalization(axis=[-1], name="ln")(inp)
    x = layers.Conv2D(4, 3, name="conv")(x)
    model = _randomize_norms(randomize(keras.Model(inp, x), 23), 23)
    _report(check(model, tmp_path))


def test_layer_norm_large_epsilon_matters(check, randomize, tmp_path):
    """Small-variance features with epsilon 0.5: a dropped or misplaced epsilon shows."""
    inp = keras.Input((6,), name="features")
    out = layers.LayerNormalization(epsilon=0.5, name="ln")(inp)
    model = _randomize_norms(keras.Model(inp, out), 24)
    x = np.random.default_rng(24).normal(3.0, 0.3, (4, 6)).astype("float32")
    _report(check(model, tmp_path, inputs=[x]))


@pytest.mark.parametrize(
    "kwargs", [{}, {"epsilon": 1e-6, "center": False}, {"scale": False}], ids=["default", "eps_no_center", "no_scale"]
)
def test_layer_norm_on_conv_channels_between_convs(kwargs, check, randomize, tmp_path):
    """On an NCHW feature map the normalization over channels is spelled out with ReduceMean:
    no Transpose besides the one at the input and the one at the output."""
    inp = keras.Input((9, 10, 3), name="image")
    x = layers.Conv2D(12, 3, padding="same", name="conv1")(inp)
    x = layers.LayerNormalization(name="ln", **kwargs)(x)
    x = layers.Conv2D(5, 3, strides=2, name="conv2")(x)
    model = _randomize_norms(randomize(keras.Model(inp, x), 25), 25)
    # Inputs away from zero, so the mean the normalization removes is far from negligible.
    rng = np.random.default_rng(25)
    _report(check(model, tmp_path, inputs=[rng.normal(2.0, 1.0, (2, 9, 10, 3)).astype("float32")]))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 2
    assert ops_["ReduceMean"] == 2 and "LayerNormalization" not in ops_
    assert ops_["Transpose"] == 2 and _transposes_only_at_boundary(tmp_path) == 2


def test_layer_norm_after_flatten(check, randomize, tmp_path):
    """Between Flatten and Dense the features must be in Keras's (NHWC) order: the statistics
    would not notice another order, the per-feature gamma and beta would."""
    inp = keras.Input((4, 3, 5), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv")(inp)
    x = layers.Flatten(name="flat")(x)
    x = layers.LayerNormalization(name="ln")(x)
    out = layers.Dense(4, name="dense")(x)
    model = _randomize_norms(randomize(keras.Model(inp, out), 26), 26)
    _report(check(model, tmp_path))


def test_layer_norm_on_permuted_sequence(check, randomize, tmp_path):
    inp = keras.Input((5, 8), name="sequence")
    x = layers.Dense(6, name="dense_in")(inp)
    x = layers.Permute((2, 1), name="swap")(x)  # (6, 5): normalize over the 5 time steps
    x = layers.LayerNormalization(epsilon=1e-4, name="ln")(x)
    out = layers.Dense(3, name="dense_out")(x)
    model = _randomize_norms(randomize(keras.Model(inp, out), 27), 27)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# Cropping2D


@pytest.mark.covers("Cropping2D", "cropping int, pair, pair of pairs")
@pytest.mark.parametrize(
    "cropping", [1, (2, 1), ((1, 2), (0, 3)), ((0, 1), (2, 0))], ids=["int", "sym_pair", "asym", "one_sided"]
)
def test_cropping2d_on_conv_output(cropping, check, randomize, tmp_path):
    inp = keras.Input((12, 13, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.Cropping2D(cropping, name="crop")(x)
    x = layers.Conv2D(4, 3, name="conv2")(x)
    model = randomize(keras.Model(inp, x), 31)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Slice"] == 1 and ops_["Conv"] == 2
    assert ops_["Transpose"] == 2 and _transposes_only_at_boundary(tmp_path) == 2


def test_cropping2d_on_input_and_unet_skip(check, randomize, tmp_path):
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
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Slice"] == 2 and ops_["Transpose"] == 2  # the input is cropped before it is transposed


@pytest.mark.covers("Cropping2D", "data_format channels_first")
def test_cropping2d_channels_first(check, randomize, tmp_path):
    inp = keras.Input((3, 10, 9), name="planes")
    x = layers.Cropping2D(((2, 1), (0, 2)), data_format="channels_first", name="crop")(inp)
    x = layers.Permute((2, 3, 1), name="to_nhwc")(x)
    x = layers.Conv2D(4, 3, name="conv")(x)
    model = randomize(keras.Model(inp, x), 33)
    _report(check(model, tmp_path))
    assert _ops(tmp_path)["Slice"] == 1


# --------------------------------------------------------------------------
# Rescaling and Normalization


@pytest.mark.covers("Rescaling", "scale, offset (scalars and per channel)")
@pytest.mark.parametrize(
    "scale, offset",
    [
        (1 / 255.0, 0.0),
        (1 / 127.5, -1.0),
        ([0.5, 2.0, -1.0], [0.1, 0.0, -0.3]),
        (np.array([0.5, 2.0, -1.0], np.float32), np.array([0.1, 0.0, -0.3], np.float32)),
    ],
    ids=["scalar", "scalar_offset", "per_channel_list", "per_channel_numpy"],
)
def test_rescaling(scale, offset, check, randomize, tmp_path):
    inp = keras.Input((9, 8, 3), name="image")
    x = layers.Rescaling(scale, offset=offset, name="rescale")(inp)
    a = layers.Conv2D(4, 3, name="conv_valid")(x)  # folds: no border
    b = layers.Conv2D(4, 3, padding="same", name="conv_same")(layers.ReLU(name="relu")(x))
    model = randomize(keras.Model(inp, [a, b]), 41)
    pixels = np.random.default_rng(41).uniform(0, 255, (2, 9, 8, 3)).astype("float32")
    _report(check(model, tmp_path, inputs=[pixels]))


def test_rescaling_folds_into_neighbouring_convs(check, randomize, tmp_path):
    inp = keras.Input((10, 10, 3), name="image")
    x = layers.Rescaling([1 / 255.0, 1 / 128.0, 1 / 64.0], offset=[-0.5, 0.25, 1.0], name="pre")(inp)
    x = layers.Conv2D(6, 3, name="conv1")(x)  # 'valid': input scale and offset fold in
    x = layers.Rescaling(0.5, offset=2.0, name="post")(x)  # folds into conv1's output
    x = layers.Conv2D(4, 3, padding="same", name="conv2")(layers.ReLU(name="relu")(x))
    x = layers.Rescaling([2.0, -1.0, 0.5, 3.0], name="scale_only")(x)  # no offset: folds into conv2
    model = randomize(keras.Model(inp, x), 42)
    pixels = np.random.default_rng(42).uniform(0, 255, (2, 10, 10, 3)).astype("float32")
    _report(check(model, tmp_path, inputs=[pixels]))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 2 and "Mul" not in ops_ and "Add" not in ops_


def test_rescaling_on_features(check, randomize, tmp_path):
    inp = keras.Input((6,), name="features")
    x = layers.Rescaling([1.0, 2.0, 3.0, 0.5, -1.0, 0.1], offset=0.5, name="rescale")(inp)
    out = layers.Dense(3, name="dense")(x)
    model = randomize(keras.Model(inp, out), 43)
    _report(check(model, tmp_path))
    assert _ops(tmp_path) == Counter({"Gemm": 1})


@pytest.mark.covers("Normalization", "mean/variance in the config")
@pytest.mark.parametrize(
    "mean, variance",
    [(0.5, 4.0), ([120.0, 110.0, 100.0], [3600.0, 2500.0, 4900.0])],
    ids=["scalar", "per_channel"],
)
def test_normalization_from_config(mean, variance, check, randomize, tmp_path):
    inp = keras.Input((9, 9, 3), name="image")
    x = layers.Normalization(mean=mean, variance=variance, name="norm")(inp)
    a = layers.Conv2D(5, 3, strides=2, name="conv")(x)
    b = layers.GlobalAveragePooling2D(name="gap")(x)
    model = randomize(keras.Model(inp, [a, b]), 44)
    pixels = np.random.default_rng(44).uniform(0, 255, (2, 9, 9, 3)).astype("float32")
    _report(check(model, tmp_path, inputs=[pixels]))


@pytest.mark.covers("Normalization", "adapted statistics (weights)")
def test_normalization_adapted_on_images(check, randomize, tmp_path):
    data = np.random.default_rng(45).normal([10.0, -3.0, 0.5], [2.0, 0.5, 4.0], (32, 8, 8, 3)).astype("float32")
    norm = layers.Normalization(name="norm")
    norm.adapt(data)
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(norm(inp))
    model = randomize(keras.Model(inp, x), 45)
    _report(check(model, tmp_path, inputs=[data[:3]]))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 1 and "Mul" not in ops_ and "Add" not in ops_


@pytest.mark.covers("Normalization", "invert")
def test_normalization_invert(check, randomize, tmp_path):
    """invert=True maps normalized values back: x·σ + μ, after a Dense it folds into it."""
    inp = keras.Input((7,), name="features")
    x = layers.Dense(4, name="dense")(inp)
    out = layers.Normalization(mean=[1.0, -2.0, 3.0, 0.0], variance=[0.25, 4.0, 9.0, 1e-16],
                               invert=True, name="denorm")(x)
    plain = layers.Normalization(mean=[1.0, -2.0, 3.0, 0.0], variance=[0.25, 4.0, 9.0, 1.0],
                                 invert=True, name="denorm_input")(layers.Dense(4, name="d2")(inp))
    model = randomize(keras.Model(inp, [out, plain]), 46)
    _report(check(model, tmp_path))
    assert _ops(tmp_path) == Counter({"Gemm": 2})


# --------------------------------------------------------------------------
# Keras 3 operations on KerasTensors


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
def test_constant_arithmetic_folds_into_the_conv_before(fn, check, randomize, tmp_path):
    inp = keras.Input((8, 9, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(inp)
    x = fn(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.Conv2D(4, 3, padding="same", name="conv2")(x)
    model = randomize(keras.Model(inp, x), 51)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 2 and "Mul" not in ops_ and "Add" not in ops_ and "Sub" not in ops_ and "Div" not in ops_


@pytest.mark.parametrize("fn", list(AFFINE_OPS.values()), ids=list(AFFINE_OPS))
def test_constant_arithmetic_folds_into_the_conv_after(fn, check, randomize, tmp_path):
    """After a ReLU nothing precedes it to fold into; the next 'valid' convolution takes it."""
    inp = keras.Input((8, 9, 3), name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    x = fn(x)
    x = layers.Conv2D(4, 3, name="conv2")(x)
    model = randomize(keras.Model(inp, x), 52)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 2 and "Mul" not in ops_ and "Add" not in ops_ and "Sub" not in ops_ and "Div" not in ops_


CONSUMERS = {
    "grouped_conv": lambda: layers.Conv2D(6, 3, groups=3, name="consumer"),
    "depthwise_mult2": lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, name="consumer"),
    "separable_mult2": lambda: layers.SeparableConv2D(5, 3, depth_multiplier=2, name="consumer"),
    "dense_on_map": lambda: layers.Dense(5, name="consumer"),
}


@pytest.mark.parametrize("make", list(CONSUMERS.values()), ids=list(CONSUMERS))
def test_constant_scale_and_shift_fold_into_grouped_consumers(make, check, randomize, tmp_path):
    """W'[…, i, o] = W·a[i] and B' = B + Σ W·b[i]: the input channel i of each output channel
    depends on groups and depth multiplier."""
    inp = keras.Input((8, 7, 6), name="image")
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inp)
    x = make()((x - 0.75) * 1.5)
    model = randomize(keras.Model(inp, x), 59)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert "Mul" not in ops_ and "Add" not in ops_


def test_constant_shift_before_same_conv_stays_exact(check, randomize, tmp_path):
    """x + 3 before a zero-padded convolution cannot fold (the border would see 3, not 0)."""
    inp = keras.Input((7, 7, 3), name="image")
    x = layers.Conv2D(5, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.Conv2D(4, 3, padding="same", name="conv2")(x + 3.0)
    y = layers.Conv2D(4, 3, padding="same", name="conv3")(layers.ReLU(name="relu")(inp) * 0.25)
    model = randomize(keras.Model(inp, [x, y]), 53)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    # conv3's pure scale folds; the shift before conv2 stays, as one Add (no Mul by 1)
    assert ops_["Conv"] == 3 and ops_["Add"] == 1 and ops_["Mul"] == 0


def test_constant_arithmetic_on_dense_features(check, randomize, tmp_path):
    inp = keras.Input((8,), name="features")
    x = layers.Dense(6, name="dense1")(inp)
    x = (1.0 - x) * 0.5
    x = layers.Dense(3, name="dense2")(layers.Activation("tanh", name="tanh")(x) / 2.0 + 1.0)
    model = randomize(keras.Model(inp, x), 54)
    _report(check(model, tmp_path))
    assert _ops(tmp_path) == Counter({"Gemm": 2, "Tanh": 1})


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
def test_maximum_minimum_with_constant(fn, low, high, check, randomize, tmp_path):
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
    _report(check(model, tmp_path, inputs=[image]))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 2 and 1 <= ops_["Clip"] <= (2 if low is not None and high is not None else 1)
    assert "Max" not in ops_ and "Min" not in ops_


def test_operation_results_as_model_outputs(check, randomize, tmp_path):
    """Outputs produced by operations, folded or not, keep the Keras names and values."""
    inp = keras.Input((6, 6, 3), name="image")
    conv = layers.Conv2D(4, 3, name="conv")(inp)
    scaled = conv * 2.0 - 1.0  # folds into conv, yet conv's own output is wanted too
    clipped = ops.minimum(inp, 0.25)
    shifted = inp + 0.5
    model = randomize(keras.Model(inp, [scaled, conv, clipped, shifted]), 58)
    _report(check(model, tmp_path))


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
def test_tensor_tensor_operations(fn, onnx_op, check, randomize, tmp_path):
    inp = keras.Input((8, 7, 3), name="image")
    x = layers.Conv2D(5, 3, padding="same", name="conv_x")(inp)
    y = layers.Conv2D(5, 1, name="conv_y")(inp)
    out = layers.Conv2D(4, 3, name="conv_out")(fn(x, y))
    model = randomize(keras.Model(inp, out), 56)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_[onnx_op] == 1 and ops_["Conv"] == 3
    assert _transposes_only_at_boundary(tmp_path) == 2


def test_tensor_times_itself(check, randomize, tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(inp)
    model = randomize(keras.Model(inp, x * x - x), 57)
    _report(check(model, tmp_path))


@pytest.mark.parametrize(
    "shape, transposes",
    [((6, 6, 1), 0), ((1, 1, 6), 0), ((1, 7, 3), 2), ((7, 1, 3), 2)],
    ids=["one_channel", "one_pixel", "one_row", "one_column"],
)
def test_layout_change_of_size_one_axes(shape, transposes, check, randomize, tmp_path):
    """Between NHWC and NCHW, a tensor whose other axes keep their order is only relabelled
    (Reshape); one whose axes really move is transposed."""
    inp = keras.Input(shape, name="image")
    x = layers.Conv2D(4, 1, name="conv1")(inp)
    x = layers.Conv2D(shape[-1], 1, name="conv2")(layers.ReLU(name="relu")(x))
    model = randomize(keras.Model(inp, x), 67)
    _report(check(model, tmp_path))
    assert _ops(tmp_path)["Transpose"] == transposes


# --------------------------------------------------------------------------
# MobileNetV3-style hard-swish and squeeze-and-excitation


def _hard_swish_relu6(x):
    return x * layers.ReLU(6.0)(x + 3.0) / 6.0


def _hard_swish_ops(x):
    return x * ops.minimum(ops.maximum(x + 3.0, 0.0), 6.0) * (1.0 / 6.0)


@pytest.mark.parametrize("hard_swish", [_hard_swish_relu6, _hard_swish_ops], ids=["relu6_layer", "min_max_ops"])
def test_hard_swish_block(hard_swish, check, randomize, tmp_path):
    inp = keras.Input((10, 10, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = hard_swish(x)
    x = layers.DepthwiseConv2D(3, name="dw")(x)  # 'valid': takes the trailing 1/6
    model = randomize(keras.Model(inp, x), 61)
    # Inputs spread enough that x + 3 crosses both 0 and 6.
    rng = np.random.default_rng(61)
    _report(check(model, tmp_path, inputs=[rng.normal(0.0, 3.0, (2, 10, 10, 3)).astype("float32")]))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 2 and "Div" not in ops_ and ops_["Mul"] <= 2
    for proto in _compiled(tmp_path):
        assert not any(np.isclose(c, 1 / 6) for c in _mul_constants(proto)), "1/6 was not folded"


def test_hard_swish_matches_keras_activation(check, randomize, tmp_path):
    """The ops spelling and Keras's own 'hard_swish' activation agree, compiled side by side."""
    inp = keras.Input((6, 6, 4), name="image")
    x = layers.Conv2D(6, 1, name="conv")(inp)
    a = _hard_swish_relu6(x)
    b = layers.Activation("hard_swish", name="hswish")(x)
    model = randomize(keras.Model(inp, [a, b]), 62)
    x_in = np.random.default_rng(62).normal(0.0, 3.0, (2, 6, 6, 4)).astype("float32")
    _report(check(model, tmp_path, inputs=[x_in]))


def _se_model(keepdims: bool, pool=layers.GlobalAveragePooling2D):
    inp = keras.Input((9, 9, 4), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv")(inp)
    if keepdims:
        s = pool(keepdims=True, name="squeeze")(x)
    else:
        s = layers.Reshape((1, 1, 16), name="reshape")(pool(name="squeeze")(x))
    s = layers.Conv2D(4, 1, activation="relu", name="reduce")(s)
    s = layers.Conv2D(16, 1, name="expand")(s)
    s = layers.ReLU(6.0, name="gate_relu6")(s + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    x = layers.Multiply(name="excite")([x, s])
    return keras.Model(inp, x)


@pytest.mark.parametrize(
    "keepdims, pool",
    [(False, layers.GlobalAveragePooling2D), (True, layers.GlobalAveragePooling2D), (False, layers.GlobalMaxPooling2D)],
    ids=["gap_reshape", "gap_keepdims", "gmp_reshape"],
)
def test_squeeze_excitation_nchw_input(keepdims, pool, check, randomize, tmp_path):
    """Fed NCHW, the only Transpose left is the output's: the squeeze keeps its dims, and no
    Flatten or Reshape appears."""
    model = randomize(_se_model(keepdims, pool), 63)
    _report(check(model, tmp_path, input_layout="nchw"))
    ops_ = _ops(tmp_path)
    assert ops_["Transpose"] == 1
    assert "Flatten" not in ops_ and "Reshape" not in ops_
    assert ops_["Conv"] == 3 and ops_["Mul"] == 2  # the excitation, and the hard sigmoid's 1/6


@pytest.mark.parametrize("keepdims", [False, True], ids=["gap_reshape", "gap_keepdims"])
def test_squeeze_excitation_nhwc(keepdims, check, randomize, tmp_path):
    model = randomize(_se_model(keepdims), 64)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Transpose"] == 2 and _transposes_only_at_boundary(tmp_path) == 2
    assert "Flatten" not in ops_ and "Reshape" not in ops_


def test_squeeze_vector_shared_with_a_head(check, randomize, tmp_path):
    """The pooled vector feeds both the excitation (as (1, 1, C)) and a Dense head."""
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    pooled = layers.GlobalAveragePooling2D(name="squeeze")(x)
    s = layers.Reshape((1, 1, 8), name="reshape")(pooled)
    s = layers.Conv2D(8, 1, activation="sigmoid", name="gate")(s)
    excited = layers.Multiply(name="excite")([x, s])
    head = layers.Dense(3, name="head")(pooled)
    model = randomize(keras.Model(inp, [excited, head]), 66)
    _report(check(model, tmp_path))
    assert _ops(tmp_path)["Transpose"] == 2 and _transposes_only_at_boundary(tmp_path) == 2


def test_squeeze_excitation_with_pooled_head(check, randomize, tmp_path):
    """EfficientNet's layout: SE (sigmoid gate) inside, a pooled Dense head at the end."""
    inp = keras.Input((10, 10, 3), name="image")
    x = layers.Conv2D(12, 3, strides=2, padding="same", activation="swish", name="stem")(inp)
    s = layers.GlobalAveragePooling2D(name="se_squeeze")(x)
    s = layers.Reshape((1, 1, 12), name="se_reshape")(s)
    s = layers.Conv2D(3, 1, activation="swish", name="se_reduce")(s)
    s = layers.Conv2D(12, 1, activation="sigmoid", name="se_expand")(s)
    x = layers.multiply([x, s], name="se_excite")
    x = layers.Conv2D(8, 1, name="project")(x)
    out = layers.Dense(5, name="head")(layers.GlobalAveragePooling2D(name="pool")(x))
    model = randomize(keras.Model(inp, out), 65)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    assert ops_["Transpose"] == 1 and "Reshape" not in ops_ and ops_["Flatten"] <= 1


# --------------------------------------------------------------------------
# ConvNeXt blocks (keras.applications' own building blocks)


@pytest.mark.covers("LayerScale, StochasticDepth", "ConvNeXt blocks")
@pytest.mark.parametrize("drop_path_rate", [0.0, 0.2], ids=["identity", "stochastic_depth"])
def test_convnext_blocks(drop_path_rate, check, randomize, tmp_path):
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(16, 4, strides=4, name="stem_conv")(inp)
    x = layers.LayerNormalization(epsilon=1e-6, name="stem_ln")(x)
    x = convnext.ConvNeXtBlock(16, drop_path_rate=drop_path_rate, name="block1")(x)
    x = convnext.ConvNeXtBlock(16, drop_path_rate=drop_path_rate, name="block2")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name="down_ln")(x)
    x = layers.Conv2D(24, 2, strides=2, name="down_conv")(x)
    x = convnext.ConvNeXtBlock(24, layer_scale_init_value=None, name="block3")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    out = layers.LayerNormalization(epsilon=1e-6, name="head_ln")(x)
    model = _randomize_norms(randomize(keras.Model(inp, out), 71), 71)
    _report(check(model, tmp_path))
    ops_ = _ops(tmp_path)
    # 2 stem/downsampling convs, per block a 7x7 depthwise and two pointwise (Dense) convs
    assert ops_["Conv"] == 2 + 3 * 3
    assert ops_["Transpose"] == 1
    assert ops_["LayerNormalization"] == 1 and ops_["ReduceMean"] == 2 * 5
    assert "Identity" not in ops_ and "MatMul" not in ops_


@pytest.mark.parametrize("opset", [18, 20])
def test_convnext_block_at_newer_opsets(opset, oracle, randomize, tmp_path):
    """ReduceMean takes its axes as an input from opset 18; Gelu is an ONNX op from opset 20."""
    import compiler

    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(8, 2, strides=2, name="stem_conv")(inp)
    x = layers.LayerNormalization(epsilon=1e-6, name="stem_ln")(x)
    out = convnext.ConvNeXtBlock(8, name="block")(x)
    model = _randomize_norms(randomize(keras.Model(inp, out), 72), 72)
    arrays = oracle.make_inputs(model, 2, 72)
    expected = oracle.keras_predict(model, arrays)
    source, weights = oracle.save_source(model, "keras", tmp_path / "src")
    path = tmp_path / "model.onnx"
    compiler.save(compiler.compile(source, weights=weights, opset=opset), path)
    errors = oracle.verify_onnx_file(path, model, arrays, expected, label=f"opset {opset}")
    print(opset, [f"{e:.2e}" for e in errors])
    proto = onnx.load(str(path))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {opset}
    ops_ = Counter(oracle.op_types(proto))
    assert ops_["ReduceMean"] == 4 and ops_["Transpose"] == 2
    assert ops_["Gelu"] == (1 if opset >= 20 else 0)


# --------------------------------------------------------------------------
# All of them in a Sequential model


def test_sequential_with_new_layers(check, randomize, tmp_path):
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
    model = _randomize_norms(randomize(model, 91), 91)
    pixels = np.random.default_rng(91).uniform(0, 255, (2, 15, 14, 3)).astype("float32")
    _report(check(model, tmp_path, inputs=[pixels]))
    ops_ = _ops(tmp_path)
    assert ops_["Conv"] == 4 and ops_["Transpose"] == 1 and "BatchNormalization" not in ops_


# --------------------------------------------------------------------------
# Unknown spatial size


def test_new_layers_with_unknown_image_size(oracle, randomize, tmp_path):
    """One compiled file for every image size: cropping, normalization over channels, the
    squeeze-and-excitation reshape and constant arithmetic must not bake in a size."""
    import compiler

    inp = keras.Input((None, None, 3), name="image")
    x = layers.SeparableConv2D(8, 3, strides=2, padding="same", name="sep")(inp)
    x = layers.LayerNormalization(name="ln")(x)
    x = layers.Cropping2D(((1, 2), (0, 3)), name="crop")(x)
    x = _hard_swish_relu6(x)
    s = layers.Reshape((1, 1, 8), name="se_reshape")(layers.GlobalAveragePooling2D(name="se_pool")(x))
    s = layers.Conv2D(8, 1, activation="sigmoid", name="se_gate")(s)
    x = layers.Multiply(name="se_excite")([x, s])
    out = layers.Conv2D(4, 3, name="head")(ops.maximum(x, -0.1) - 0.5)
    model = _randomize_norms(randomize(keras.Model(inp, out), 81), 81)
    source, weights = oracle.save_source(model, "keras", tmp_path)
    path = tmp_path / "model.onnx"
    compiler.save(compiler.compile(source, weights=weights), path)
    rng = np.random.default_rng(81)
    for shape in [(2, 17, 19, 3), (1, 32, 24, 3), (1, 12, 16, 3)]:
        x_in = rng.normal(0.0, 2.0, shape).astype("float32")
        (want,) = oracle.keras_predict(model, [x_in])
        _, (got,) = oracle.run_onnx(path, {"image": x_in})
        assert got.shape == want.shape, shape
        err = oracle.rel_error(got, want)
        print(shape, f"{err:.2e}")
        assert err <= 1e-4, f"{shape}: relative error {err:.3e}"
    ops_ = Counter(oracle.op_types(onnx.load(str(path))))
    print(dict(ops_))
    assert ops_["Transpose"] == 2 and "Reshape" not in ops_ and "Flatten" not in ops_
