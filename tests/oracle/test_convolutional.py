"""Convolutions against Keras: Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D and
Conv2DTranspose, with the padding and output-size semantics that are the classic conversion traps:

* ``padding='same'`` with stride > 1 pads the extra pixel at the bottom/right
  (TensorFlow: total = max((ceil(n/s) - 1) * s + k_eff - n, 0), before = total // 2);
* even kernels with ``'same'`` at stride 1 are asymmetric too;
* Conv2DTranspose output sizes follow Keras's ``output_padding`` rules.

Keras allows a dilated Conv2DTranspose only with strides 1, and TensorFlow's plain CPU kernel
refuses to run it; its reference is the same layer with the kernel's taps spread out explicitly
(zeros between them), which is what dilation means. TensorFlow's CPU kernels cannot run
channels_first convolutions either: their reference is the channels_last twin.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers

import compiler
from compiler.errors import UnsupportedLayerError

from .harness import chain_model, channels_last_twin, check, randomize

# --------------------------------------------------------------------------
# Conv2D

SIZES = [7, 8, 9, 15, 16]
KERNELS = [1, 2, 3, 4, 5, 7]


@pytest.mark.covers("Conv2D", "padding same with stride 2 (TensorFlow's bottom/right pad)")
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("size", SIZES)
def test_conv_stride2_same(tmp_path, size, kernel):
    model = chain_model((size, size, 3), layers.Conv2D(4, kernel, strides=2, padding="same", name="conv"))
    randomize(model, size * 10 + kernel)
    check(model, tmp_path)


@pytest.mark.parametrize("kernel", [2, 4, 6])
@pytest.mark.parametrize("size", [7, 8])
def test_conv_even_kernel_stride1_same(tmp_path, size, kernel):
    model = chain_model((size, size, 2), layers.Conv2D(3, kernel, padding="same", name="conv"))
    randomize(model, kernel)
    check(model, tmp_path)


@pytest.mark.covers("Conv2D", "kernel_size, strides (non-square too), padding valid/same")
@pytest.mark.parametrize(
    "kernel,strides,shape",
    [
        ((3, 5), (2, 2), (9, 10, 3)),
        ((2, 3), (2, 1), (7, 8, 3)),
        ((4, 1), (3, 2), (11, 7, 2)),
        ((3, 3), (3, 3), (8, 10, 2)),
        ((5, 5), (4, 4), (9, 13, 2)),
    ],
    ids=["k3x5s2", "k2x3s2x1", "k4x1s3x2", "k3s3", "k5s4"],
)
def test_conv_nonsquare_same(tmp_path, kernel, strides, shape):
    model = chain_model(shape, layers.Conv2D(4, kernel, strides=strides, padding="same", name="conv"))
    randomize(model, 1)
    check(model, tmp_path)


@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("size", [7, 8])
def test_conv_stride2_valid(tmp_path, size, kernel):
    model = chain_model((size, size + 1, 3), layers.Conv2D(4, kernel, strides=2, name="conv"))
    randomize(model, 2)
    check(model, tmp_path)


@pytest.mark.covers("Conv2D", "dilation_rate")
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize(
    "kernel,dilation",
    [(3, 2), (2, 2), (3, (2, 3)), (4, 2)],
    ids=["k3d2", "k2d2", "k3d2x3", "k4d2"],
)
@pytest.mark.parametrize("size", [9, 10])
def test_conv_dilated(tmp_path, size, kernel, dilation, padding):
    model = chain_model(
        (size, size, 3),
        layers.Conv2D(4, kernel, dilation_rate=dilation, padding=padding, name="conv"),
    )
    randomize(model, 3)
    check(model, tmp_path)


@pytest.mark.covers("Conv2D", "groups")
@pytest.mark.parametrize(
    "groups,strides,padding",
    [(2, 1, "valid"), (2, 2, "same"), (4, 1, "same")],
    ids=["g2", "g2s2same", "g4same"],
)
def test_conv_groups(tmp_path, groups, strides, padding):
    model = chain_model(
        (8, 7, 4),
        layers.Conv2D(8, 3, strides=strides, padding=padding, groups=groups, name="conv"),
        layers.Conv2D(6, 1, groups=2, name="conv_pw"),
    )
    randomize(model, 4)
    check(model, tmp_path)


@pytest.mark.covers("Conv2D", "use_bias=False")
def test_conv_without_bias(tmp_path):
    model = chain_model(
        (8, 8, 3),
        layers.Conv2D(5, 3, strides=2, padding="same", use_bias=False, name="conv"),
        layers.Conv2D(2, 1, use_bias=False, activation="relu", name="conv_pw"),
    )
    randomize(model, 5)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# Conv1D

CONV1D = {
    "valid": {"kernel_size": 3},
    "same_s2": {"kernel_size": 4, "strides": 2, "padding": "same"},
    "causal_d2": {"kernel_size": 3, "padding": "causal", "dilation_rate": 2},
    "groups_nobias_relu": {"kernel_size": 3, "groups": 2, "use_bias": False, "activation": "relu", "padding": "same"},
    "k1": {"kernel_size": 1, "strides": 3},
}


@pytest.mark.covers(
    "Conv1D", "kernel_size, strides, padding valid/same/causal, dilation_rate, groups, use_bias, activation"
)
@pytest.mark.parametrize("kwargs", list(CONV1D.values()), ids=list(CONV1D))
def test_conv1d(kwargs, tmp_path):
    inp = keras.Input((11, 4), name="sequence")
    x = layers.Conv1D(6, name="conv", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    out = layers.Conv1D(3, 2, padding="causal", name="conv2")(x)
    model = keras.Model(inp, [out, x])
    randomize(model, 60)
    check(model, tmp_path, forbid_ops=())


def _conv1d_net(first: bool) -> keras.Model:
    inp = keras.Input((4, 9), name="sequence")
    x = inp if first else layers.Permute((2, 1), name="in_last")(inp)
    fmt = "channels_first" if first else "channels_last"
    x = layers.Conv1D(5, 3, padding="same", data_format=fmt, name="conv_cf")(x)
    if first:
        x = layers.Permute((2, 1), name="to_last")(x)
    out = layers.Conv1D(2, 3, strides=2, padding="same", name="conv")(x)
    return keras.Model(inp, out)


@pytest.mark.covers("Conv1D", "data_format channels_first")
def test_conv1d_channels_first(tmp_path):
    model = randomize(_conv1d_net(True), 61)
    x_in = np.random.default_rng(0).standard_normal((2, 4, 9)).astype("float32")
    check(model, tmp_path, inputs=[x_in], reference=channels_last_twin(model, lambda: _conv1d_net(False)))


# --------------------------------------------------------------------------
# DepthwiseConv2D, SeparableConv2D


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
def test_depthwise_conv(tmp_path, kwargs):
    inp = keras.Input((9, 8, 3), name="image")
    x = layers.DepthwiseConv2D(name="dw", **kwargs)(inp)
    x = layers.BatchNormalization(name="dw_bn")(x)
    x = layers.ReLU(max_value=6.0, name="dw_relu")(x)
    out = layers.Conv2D(4, 1, name="pw")(x)
    model = keras.Model(inp, [out, x])
    randomize(model, 40)
    check(model, tmp_path)


def test_separable_block_mobilenet_style(tmp_path):
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
    check(model, tmp_path)


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


@pytest.mark.covers(
    "SeparableConv2D", "kernel_size, strides, padding, dilation_rate, depth_multiplier, use_bias, activation"
)
@pytest.mark.parametrize("cfg", list(SEPARABLE.values()), ids=list(SEPARABLE))
def test_separable_conv2d(cfg, tmp_path):
    inp = keras.Input((13, 11, 5), name="image")
    x = layers.SeparableConv2D(7, name="sep", **cfg)(inp)
    model = randomize(keras.Model(inp, x), 11)
    result = check(model, tmp_path)
    result.assert_ops(Conv=2, Transpose=2)  # depthwise, then pointwise
    assert result.transposes_inside == 0


def test_separable_conv2d_with_batchnorm_on_both_sides(tmp_path):
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
    check(model, tmp_path).assert_ops(Conv=3, Mul=0, Add=0, BatchNormalization=0)


def test_xception_style_separable_block(tmp_path):
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
    check(model, tmp_path).assert_ops(Conv=5, Transpose=1)


# --------------------------------------------------------------------------
# DepthwiseConv1D, SeparableConv1D

DEPTHWISE1D = {
    "valid": {"kernel_size": 3},
    "same_s2_mult2": {"kernel_size": 4, "strides": 2, "padding": "same", "depth_multiplier": 2},
    "dilated_relu_nobias": {"kernel_size": 3, "dilation_rate": 2, "activation": "relu", "use_bias": False},
}


@pytest.mark.covers(
    "DepthwiseConv1D",
    "kernel_size, strides, padding valid/same, dilation_rate, depth_multiplier, use_bias, activation",
)
@pytest.mark.parametrize("kwargs", list(DEPTHWISE1D.values()), ids=list(DEPTHWISE1D))
def test_depthwise_conv1d(kwargs, tmp_path):
    inp = keras.Input((12, 3), name="sequence")
    x = layers.DepthwiseConv1D(name="dw", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    out = layers.Conv1D(2, 1, name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 73)
    check(model, tmp_path)


@pytest.mark.covers(
    "SeparableConv1D",
    "kernel_size, strides, padding valid/same, dilation_rate, depth_multiplier, use_bias, activation",
)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 3},
        {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2, "activation": "relu"},
        {"kernel_size": 2, "dilation_rate": 3, "use_bias": False},
    ],
    ids=["valid", "same_s2_mult2_relu", "dilated_nobias"],
)
def test_separable_conv1d(kwargs, tmp_path):
    inp = keras.Input((10, 4), name="sequence")
    x = layers.SeparableConv1D(5, name="sep", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    out = layers.GlobalAveragePooling1D(name="gap")(x)
    model = randomize(keras.Model(inp, [out, x]), 74)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# Conv3D

CONV3D = {
    "valid": {"kernel_size": 3},
    "same_s2": {"kernel_size": (2, 3, 4), "strides": 2, "padding": "same"},
    "same_s_mixed_even": {"kernel_size": 2, "strides": (1, 2, 3), "padding": "same"},
    "dilated_same": {"kernel_size": 3, "dilation_rate": (2, 1, 2), "padding": "same"},
    "nobias_relu": {"kernel_size": (1, 3, 3), "use_bias": False, "activation": "relu"},
    "groups": {"kernel_size": 3, "groups": 2, "padding": "same"},
}


@pytest.mark.covers(
    "Conv3D",
    "kernel_size, strides, padding valid/same (TensorFlow's odd voxel after), dilation_rate, "
    "groups, use_bias, activation; BatchNormalization folded",
)
@pytest.mark.parametrize("kwargs", list(CONV3D.values()), ids=list(CONV3D))
def test_conv3d(kwargs, tmp_path):
    inp = keras.Input((5, 7, 8, 2), name="volume")
    x = layers.Conv3D(4, name="conv", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    out = layers.Conv3D(3, 1, activation="sigmoid", name="head")(x)
    model = randomize(keras.Model(inp, [out, x]), 75)
    check(model, tmp_path)


@pytest.mark.covers(
    "Conv3D",
    "residual Add + ReLU (fused on images only), targets ort/tensorrt, input_layout nchw (volumes keep their layout)",
)
@pytest.mark.parametrize("target, layout", [("ort", "nhwc"), ("tensorrt", "nchw")])
def test_conv3d_residual_targets(target, layout, tmp_path):
    inp = keras.Input((4, 5, 6, 3), name="volume")
    x = layers.Conv3D(3, 3, padding="same", name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(layers.Add(name="add")([x, inp]))
    out = layers.MaxPooling3D(2, padding="same", name="pool")(layers.ZeroPadding3D(1, name="pad")(x))
    model = randomize(keras.Model(inp, out), 80)
    check(model, tmp_path, forms=("keras",), target=target, input_layout=layout)


@pytest.mark.covers("Conv3D, Normalization", "refused: strides with dilation, repeated axes; named layer and hint")
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
        layer["config"] = {
            "name": "conv",
            "axis": [1, -4] if case == "norm_repeated_axis" else [0],
            "mean": 0.0,
            "variance": 1.0,
            "invert": False,
        }
        expected = "axis"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    with pytest.raises(UnsupportedLayerError) as info:
        compiler.compile(path)
    assert expected in str(info.value) and info.value.layer == "conv"


# --------------------------------------------------------------------------
# Conv2DTranspose


def _transpose_cases():
    cases = []
    for kernel in (2, 3, 4):
        for strides in (1, 2, 3):
            for padding in ("same", "valid"):
                for output_padding in [None] + list(range(strides)):
                    # TensorFlow rejects 'same' + output_padding=0 with an even
                    # kernel: the requested output size is one short of what
                    # a forward 'same' conv maps back onto the input.
                    if padding == "same" and output_padding == 0 and kernel % 2 == 0:
                        continue
                    cases.append(
                        pytest.param(
                            kernel,
                            strides,
                            padding,
                            output_padding,
                            id=f"k{kernel}-s{strides}-{padding}-op{output_padding}",
                        )
                    )
    return cases


@pytest.mark.covers("Conv2DTranspose", "kernel_size, strides, padding, output_padding")
@pytest.mark.parametrize("kernel,strides,padding,output_padding", _transpose_cases())
def test_conv_transpose(tmp_path, kernel, strides, padding, output_padding):
    model = chain_model(
        (5, 6, 3),
        layers.Conv2DTranspose(
            4,
            kernel,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            name="deconv",
        ),
    )
    randomize(model, kernel * 10 + strides)
    check(model, tmp_path)


@pytest.mark.parametrize(
    "kernel,strides,padding,output_padding",
    [
        ((3, 2), (2, 3), "same", None),
        ((3, 2), (2, 3), "valid", (1, 2)),
        ((4, 3), (2, 2), "same", (1, 0)),
        ((5, 5), (3, 2), "valid", None),
    ],
    ids=["k3x2-s2x3-same", "k3x2-s2x3-valid-op1x2", "k4x3-s2-same-op1x0", "k5-s3x2-valid"],
)
def test_conv_transpose_nonsquare(tmp_path, kernel, strides, padding, output_padding):
    model = chain_model(
        (4, 5, 2),
        layers.Conv2DTranspose(
            3, kernel, strides=strides, padding=padding, output_padding=output_padding, name="deconv"
        ),
    )
    randomize(model, 11)
    check(model, tmp_path)


def test_conv_transpose_without_bias_with_activation(tmp_path):
    model = chain_model(
        (4, 4, 3),
        layers.Conv2DTranspose(5, 3, strides=2, padding="same", use_bias=False, activation="relu", name="deconv"),
        layers.Conv2DTranspose(2, 2, strides=2, activation="sigmoid", name="deconv2"),
        extra_outputs=True,
    )
    randomize(model, 12)
    check(model, tmp_path)


@pytest.mark.covers("Conv2DTranspose", "dilation_rate")
@pytest.mark.parametrize(
    "kernel,dilation,padding",
    [(3, 2, "same"), (3, 2, "valid"), (2, 3, "same"), (4, 2, "valid"), (3, (2, 1), "same")],
    ids=["k3d2-same", "k3d2-valid", "k2d3-same", "k4d2-valid", "k3d2x1-same"],
)
def test_conv_transpose_dilated(tmp_path, kernel, dilation, padding):
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    inp = keras.Input((5, 6, 2), name="image")
    dilated = layers.Conv2DTranspose(3, kernel, dilation_rate=dilation, padding=padding, name="deconv")
    model = keras.Model(inp, dilated(inp))
    randomize(model, 13)
    kernel_w, bias = dilated.get_weights()

    eh, ew = (kernel - 1) * dh + 1, (kernel - 1) * dw + 1
    spread = np.zeros((eh, ew) + kernel_w.shape[2:], dtype="float32")
    spread[::dh, ::dw] = kernel_w
    ref_layer = layers.Conv2DTranspose(3, (eh, ew), padding=padding, name="deconv")
    reference = keras.Model(inp, ref_layer(inp))
    ref_layer.set_weights([spread, bias])
    assert tuple(reference.outputs[0].shape) == tuple(model.outputs[0].shape)

    check(model, tmp_path, reference=reference)
