"""1-D layers on (batch, steps, channels) and 3-D layers on (batch, depth, height, width, channels),
each against Keras; ``-x`` on a tensor (Keras's ``Negative`` operation); Normalization over axes
other than the last one; and the clear errors for the options that are refused.

The 1-D window layers run as height-1 2-D ops, so their models are checked for the absence of
Transpose inside as well: the Reshapes around them keep the channels-first layout.

Each test carries ``@pytest.mark.covers(layer, options)``; ``tests/coverage_table.py`` builds the
README's coverage table from those marks.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest
from keras import layers

import compiler
from compiler.errors import UnsupportedLayerError

covers = pytest.mark.covers


def _report(results):
    print({fmt: [f"{e:.2e}" for e in errs] for fmt, errs in results.items()})


def _transposes(tmp_path: Path) -> int:
    """Transposes in the file the oracle compiled from the .keras source."""
    proto = onnx.load(str(tmp_path / "keras" / "model.onnx"))
    return sum(n.op_type == "Transpose" for n in proto.graph.node)


# --------------------------------------------------------------------------
# 1-D pooling, global pooling, padding, cropping, upsampling

POOL1D = {
    "max_valid": (layers.MaxPooling1D, {"pool_size": 3}),
    "max_same_s2": (layers.MaxPooling1D, {"pool_size": 4, "strides": 2, "padding": "same"}),
    "avg_valid_s1": (layers.AveragePooling1D, {"pool_size": 2, "strides": 1}),
    "avg_same_s3": (layers.AveragePooling1D, {"pool_size": 3, "strides": 3, "padding": "same"}),
}


@covers("MaxPooling1D, AveragePooling1D", "pool_size, strides, padding valid/same (average excludes the pads)")
@pytest.mark.parametrize("cls, kwargs", list(POOL1D.values()), ids=list(POOL1D))
def test_pooling1d(cls, kwargs, check, randomize, tmp_path):
    inp = keras.Input((11, 3), name="sequence")
    x = layers.Conv1D(4, 3, padding="same", name="conv")(inp)
    x = cls(name="pool", **kwargs)(x)
    out = layers.Conv1D(2, 2, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 70)
    _report(check(model, tmp_path))
    assert _transposes(tmp_path) <= 3  # the input, and the two outputs back to (N, L, C)


@covers("GlobalAveragePooling1D, GlobalMaxPooling1D", "keepdims, data_format channels_first")
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling1d(keepdims, check, randomize, tmp_path):
    inp = keras.Input((9, 4), name="sequence")
    x = layers.Conv1D(5, 3, name="conv")(inp)
    avg = layers.GlobalAveragePooling1D(keepdims=keepdims, name="avg")(x)
    mx = layers.GlobalMaxPooling1D(keepdims=keepdims, name="max")(x)
    first = layers.GlobalAveragePooling1D(data_format="channels_first", keepdims=keepdims, name="avg_cf")(x)
    model = randomize(keras.Model(inp, [avg, mx, first]), 71)
    _report(check(model, tmp_path))


@covers("ZeroPadding1D, Cropping1D, UpSampling1D", "padding int/(before, after), cropping, size")
def test_padding_cropping_upsampling1d(check, randomize, tmp_path):
    inp = keras.Input((7, 3), name="sequence")
    x = layers.Conv1D(4, 3, padding="same", name="conv")(inp)
    x = layers.ZeroPadding1D((2, 1), name="pad")(x)
    x = layers.Conv1D(4, 3, name="conv2")(x)
    x = layers.Cropping1D((1, 2), name="crop")(x)
    x = layers.UpSampling1D(3, name="up")(x)
    x = layers.ZeroPadding1D(1, name="pad_sym")(x)
    out = layers.MaxPooling1D(2, name="pool")(x)
    model = randomize(keras.Model(inp, out), 72)
    _report(check(model, tmp_path))


DEPTHWISE1D = {
    "valid": {"kernel_size": 3},
    "same_s2_mult2": {"kernel_size": 4, "strides": 2, "padding": "same", "depth_multiplier": 2},
    "dilated_relu_nobias": {"kernel_size": 3, "dilation_rate": 2, "activation": "relu", "use_bias": False},
}


@covers("DepthwiseConv1D", "kernel_size, strides, padding valid/same, dilation_rate, depth_multiplier, "
        "use_bias, activation")
@pytest.mark.parametrize("kwargs", list(DEPTHWISE1D.values()), ids=list(DEPTHWISE1D))
def test_depthwise_conv1d(kwargs, check, randomize, tmp_path):
    inp = keras.Input((12, 3), name="sequence")
    x = layers.DepthwiseConv1D(name="dw", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    out = layers.Conv1D(2, 1, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 73)
    _report(check(model, tmp_path))


@covers("SeparableConv1D", "kernel_size, strides, padding valid/same, dilation_rate, depth_multiplier, "
        "use_bias, activation")
@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3},
    {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2, "activation": "relu"},
    {"kernel_size": 2, "dilation_rate": 3, "use_bias": False},
], ids=["valid", "same_s2_mult2_relu", "dilated_nobias"])
def test_separable_conv1d(kwargs, check, randomize, tmp_path):
    inp = keras.Input((10, 4), name="sequence")
    x = layers.SeparableConv1D(5, name="sep", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    out = layers.GlobalAveragePooling1D(name="gap")(x)
    model = randomize(keras.Model(inp, [out, x]), 74)
    _report(check(model, tmp_path))


def _pool1d_net(first: bool) -> keras.Model:
    inp = keras.Input((4, 9), name="sequence")
    fmt = "channels_first" if first else "channels_last"
    x = inp if first else layers.Permute((2, 1), name="in_last")(inp)
    x = layers.MaxPooling1D(2, data_format=fmt, name="pool")(x)
    x = layers.ZeroPadding1D(1, data_format=fmt, name="pad")(x)
    x = layers.AveragePooling1D(3, strides=1, padding="same", data_format=fmt, name="avg")(x)
    return keras.Model(inp, x if first else layers.Permute((2, 1), name="out_first")(x))


@covers("MaxPooling1D, AveragePooling1D", "data_format channels_first")
def test_pooling1d_channels_first(check, tmp_path):
    model = _pool1d_net(True)
    _report(check(model, tmp_path, reference=_pool1d_net(False)))


# --------------------------------------------------------------------------
# 3-D layers

CONV3D = {
    "valid": {"kernel_size": 3},
    "same_s2": {"kernel_size": (2, 3, 4), "strides": 2, "padding": "same"},
    "same_s_mixed_even": {"kernel_size": 2, "strides": (1, 2, 3), "padding": "same"},
    "dilated_same": {"kernel_size": 3, "dilation_rate": (2, 1, 2), "padding": "same"},
    "nobias_relu": {"kernel_size": (1, 3, 3), "use_bias": False, "activation": "relu"},
    "groups": {"kernel_size": 3, "groups": 2, "padding": "same"},
}


@covers("Conv3D", "kernel_size, strides, padding valid/same (TensorFlow's odd voxel after), dilation_rate, "
        "groups, use_bias, activation; BatchNormalization folded")
@pytest.mark.parametrize("kwargs", list(CONV3D.values()), ids=list(CONV3D))
def test_conv3d(kwargs, check, randomize, tmp_path):
    inp = keras.Input((5, 7, 8, 2), name="volume")
    x = layers.Conv3D(4, name="conv", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    out = layers.Conv3D(3, 1, activation="sigmoid", name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 75)
    _report(check(model, tmp_path))


@covers("Conv3D", "residual Add + ReLU (fused on images only), targets ort/tensorrt, input_layout nchw "
        "(volumes keep their layout)")
@pytest.mark.parametrize("target, layout", [("ort", "nhwc"), ("tensorrt", "nchw")])
def test_conv3d_residual_targets(target, layout, oracle, randomize, tmp_path):
    inp = keras.Input((4, 5, 6, 3), name="volume")
    x = layers.Conv3D(3, 3, padding="same", name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(layers.Add(name="add")([x, inp]))
    out = layers.MaxPooling3D(2, padding="same", name="pool")(layers.ZeroPadding3D(1, name="pad")(x))
    model = randomize(keras.Model(inp, out), 80)
    arrays = oracle.make_inputs(model)
    source, _ = oracle.save_source(model, "keras", tmp_path)
    path = tmp_path / "model.onnx"
    compiler.save(compiler.compile(source, target=target, input_layout=layout), path)
    errors = oracle.verify_onnx_file(path, model, arrays, oracle.keras_predict(model, arrays), label=target)
    print(target, errors)


POOL3D = {
    "max_valid": (layers.MaxPooling3D, {"pool_size": 2}),
    "max_same_s2": (layers.MaxPooling3D, {"pool_size": (3, 2, 3), "strides": 2, "padding": "same"}),
    "avg_valid_s1": (layers.AveragePooling3D, {"pool_size": (2, 3, 2), "strides": 1}),
    "avg_same_s2": (layers.AveragePooling3D, {"pool_size": 3, "strides": (2, 1, 2), "padding": "same"}),
}


@covers("MaxPooling3D, AveragePooling3D", "pool_size, strides, padding valid/same (average excludes the pads)")
@pytest.mark.parametrize("cls, kwargs", list(POOL3D.values()), ids=list(POOL3D))
def test_pooling3d(cls, kwargs, check, randomize, tmp_path):
    inp = keras.Input((5, 6, 7, 2), name="volume")
    x = layers.Conv3D(3, 1, name="conv")(inp)
    x = cls(name="pool", **kwargs)(x)
    out = layers.Conv3D(2, 1, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 76)
    _report(check(model, tmp_path))


@covers("ZeroPadding3D, Cropping3D, UpSampling3D, GlobalAveragePooling3D, GlobalMaxPooling3D",
        "padding int/per axis/(before, after) per axis, cropping, size, keepdims; merged into Conv3D")
def test_volume_shape_layers(check, randomize, tmp_path):
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
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# -x and Normalization over other axes

@covers("keras.ops Negative", "-x on a tensor (4-D and after Dense), folded into the neighbouring weights")
def test_negative(check, randomize, tmp_path):
    inp = keras.Input((5, 4, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(-inp)
    y = -layers.Flatten(name="flat")(x)
    out = -layers.Dense(3, name="dense")(y)
    model = randomize(keras.Model(inp, [out, -x]), 78)
    config = json.loads(model.to_json())["config"]["layers"]
    assert any(layer["class_name"] == "Negative" for layer in config)  # how Keras records -x
    _report(check(model, tmp_path))
    proto = onnx.load(str(tmp_path / "keras" / "model.onnx"))
    assert sum(n.op_type == "Mul" for n in proto.graph.node) <= 1  # only the -x on an output is left


NORM_AXES = {
    "axis1": (1, [0.5, -1.0, 2.0, 0.0, 1.5]),
    "axis_neg2": (-2, [0.5, -1.0, 2.0, 0.0, 1.5, -0.5]),
    "axes_1_3": ((1, 3), np.linspace(-1, 1, 15).reshape(5, 3).tolist()),
    "axes_2_3": ((2, 3), np.linspace(-1, 1, 18).reshape(6, 3).tolist()),
    "none": (None, 0.25),
}


@covers("Normalization", "axis other than the last, several axes, axis=None (mean/variance given or adapted)")
@pytest.mark.parametrize("axis, mean", list(NORM_AXES.values()), ids=list(NORM_AXES))
@pytest.mark.parametrize("adapted", [False, True], ids=["given", "adapted"])
def test_normalization_axes(axis, mean, adapted, check, randomize, tmp_path):
    inp = keras.Input((5, 6, 3), name="image")
    if adapted:
        norm = layers.Normalization(axis=axis, name="norm")
        norm.adapt(np.random.default_rng(79).normal(1.0, 2.0, (16, 5, 6, 3)).astype("float32"))
    else:
        variance = (np.abs(np.asarray(mean)) + 0.5).tolist()
        norm = layers.Normalization(axis=axis, mean=mean, variance=variance, name="norm")
    x = norm(layers.Conv2D(3, 1, name="pre")(inp))  # on a channels-first tensor inside
    out = layers.Conv2D(2, 3, name="conv")(x)
    den_mean = mean if not adapted else 0.5
    inverted = layers.Normalization(axis=axis, mean=den_mean, variance=(np.abs(np.asarray(den_mean)) + 1.0).tolist(),
                                    invert=True, name="denorm")(x)
    model = randomize(keras.Model(inp, [out, inverted]), 79)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# what is refused, clearly

@covers("Conv3D, Normalization", "refused: strides with dilation, repeated axes; named layer and hint")
@pytest.mark.parametrize("case", ["conv3d_strides_dilation", "norm_repeated_axis", "norm_batch_axis"])
def test_refused_nd_options(case, tmp_path):
    inp = keras.Input((4, 5, 6, 2), name="volume")
    out = layers.Conv3D(2, 1, name="conv")(inp)
    model = keras.Model(inp, out)
    config = json.loads(model.to_json())
    layer = next(entry for entry in config["config"]["layers"] if entry["name"] == "conv")
    if case == "conv3d_strides_dilation":
        layer["config"].update(strides=[2, 2, 2], dilation_rate=[2, 2, 2])
        expected = "strides > 1 together with dilation_rate > 1"
    else:
        layer["class_name"], layer["module"], layer["registered_name"] = "Normalization", "keras.layers", None
        layer["config"] = {"name": "conv", "axis": [1, -4] if case == "norm_repeated_axis" else [0],
                           "mean": 0.0, "variance": 1.0, "invert": False}
        expected = "axis"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    with pytest.raises(UnsupportedLayerError) as info:
        compiler.compile(path)
    assert expected in str(info.value) and info.value.layer == "conv"
