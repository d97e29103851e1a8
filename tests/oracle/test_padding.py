"""Padding and output-size semantics, the classic conversion traps:

* ``padding='same'`` with stride > 1 pads the extra pixel at the bottom/right
  (TensorFlow: total = max((ceil(n/s) - 1) * s + k_eff - n, 0), before = total // 2);
* even kernels with ``'same'`` at stride 1 are asymmetric too;
* max pooling pads with -inf, average pooling excludes the padded cells;
* ZeroPadding2D zeros do take part in a following pooling;
* Conv2DTranspose output sizes follow Keras's ``output_padding`` rules.

Keras allows a dilated Conv2DTranspose only with strides 1, and TensorFlow's
plain CPU kernel refuses to run it; its reference is the same layer with the
kernel's taps spread out explicitly (zeros between them), which is what
dilation means.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers


def _report(results):
    print({fmt: [f"{e:.2e}" for e in errs] for fmt, errs in results.items()})


def _model(input_shape, *layer_list, extra_outputs=False):
    inp = keras.Input(input_shape, name="image")
    x = inp
    seen = []
    for layer in layer_list:
        x = layer(x)
        seen.append(x)
    outputs = seen if extra_outputs else x
    return keras.Model(inp, outputs)


# --------------------------------------------------------------------------
# Conv2D

SIZES = [7, 8, 9, 15, 16]
KERNELS = [1, 2, 3, 4, 5, 7]


@pytest.mark.covers("Conv2D", "padding same with stride 2 (TensorFlow's bottom/right pad)")
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("size", SIZES)
def test_conv_stride2_same(check, randomize, tmp_path, size, kernel):
    model = _model(
        (size, size, 3),
        layers.Conv2D(4, kernel, strides=2, padding="same", name="conv"),
    )
    randomize(model, size * 10 + kernel)
    _report(check(model, tmp_path))


@pytest.mark.parametrize("kernel", [2, 4, 6])
@pytest.mark.parametrize("size", [7, 8])
def test_conv_even_kernel_stride1_same(check, randomize, tmp_path, size, kernel):
    model = _model(
        (size, size, 2),
        layers.Conv2D(3, kernel, padding="same", name="conv"),
    )
    randomize(model, kernel)
    _report(check(model, tmp_path))


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
def test_conv_nonsquare_same(check, randomize, tmp_path, kernel, strides, shape):
    model = _model(shape, layers.Conv2D(4, kernel, strides=strides, padding="same", name="conv"))
    randomize(model, 1)
    _report(check(model, tmp_path))


@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("size", [7, 8])
def test_conv_stride2_valid(check, randomize, tmp_path, size, kernel):
    model = _model((size, size + 1, 3), layers.Conv2D(4, kernel, strides=2, name="conv"))
    randomize(model, 2)
    _report(check(model, tmp_path))


@pytest.mark.covers("Conv2D", "dilation_rate")
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize(
    "kernel,dilation",
    [(3, 2), (2, 2), (3, (2, 3)), (4, 2)],
    ids=["k3d2", "k2d2", "k3d2x3", "k4d2"],
)
@pytest.mark.parametrize("size", [9, 10])
def test_conv_dilated(check, randomize, tmp_path, size, kernel, dilation, padding):
    model = _model(
        (size, size, 3),
        layers.Conv2D(4, kernel, dilation_rate=dilation, padding=padding, name="conv"),
    )
    randomize(model, 3)
    _report(check(model, tmp_path))


@pytest.mark.covers("Conv2D", "groups")
@pytest.mark.parametrize(
    "groups,strides,padding",
    [(2, 1, "valid"), (2, 2, "same"), (4, 1, "same")],
    ids=["g2", "g2s2same", "g4same"],
)
def test_conv_groups(check, randomize, tmp_path, groups, strides, padding):
    model = _model(
        (8, 7, 4),
        layers.Conv2D(8, 3, strides=strides, padding=padding, groups=groups, name="conv"),
        layers.Conv2D(6, 1, groups=2, name="conv_pw"),
    )
    randomize(model, 4)
    _report(check(model, tmp_path))


@pytest.mark.covers("Conv2D", "use_bias=False")
def test_conv_without_bias(check, randomize, tmp_path):
    model = _model(
        (8, 8, 3),
        layers.Conv2D(5, 3, strides=2, padding="same", use_bias=False, name="conv"),
        layers.Conv2D(2, 1, use_bias=False, activation="relu", name="conv_pw"),
    )
    randomize(model, 5)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# Pooling (of signed values, after a linear 1x1 conv, so the padding value
# matters: -inf for max, excluded cells for average)


@pytest.mark.covers("MaxPooling2D, AveragePooling2D", "pool_size, strides, padding")
@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2, None], ids=["s1", "s2", "sNone"])
@pytest.mark.parametrize("pool", [2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(check, randomize, tmp_path, kind, pool, strides, padding, size):
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    model = _model(
        (size, size, 3),
        layers.Conv2D(3, 1, name="mix"),
        cls(pool_size=pool, strides=strides, padding=padding, name="pool"),
    )
    randomize(model, pool * 7 + size)
    _report(check(model, tmp_path))


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_nonsquare(check, randomize, tmp_path, kind, padding):
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    model = _model(
        (7, 10, 3),
        layers.Conv2D(4, 1, name="conv"),
        cls(pool_size=(3, 2), strides=(2, 3), padding=padding, name="pool"),
        extra_outputs=True,
    )
    randomize(model, 6)
    _report(check(model, tmp_path))


def test_pooling_after_conv_chain(check, randomize, tmp_path):
    model = _model(
        (15, 15, 3),
        layers.Conv2D(6, 3, strides=2, padding="same", name="conv"),
        layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool"),
        layers.AveragePooling2D(3, strides=1, padding="same", name="avgpool"),
        layers.Conv2D(3, 2, padding="same", name="conv_even"),
        extra_outputs=True,
    )
    randomize(model, 7)
    _report(check(model, tmp_path))


# --------------------------------------------------------------------------
# ZeroPadding2D


@pytest.mark.covers("ZeroPadding2D", "padding int, pair, pair of pairs")
@pytest.mark.parametrize(
    "padding",
    [1, (2, 1), ((1, 2), (3, 0)), ((0, 0), (0, 2))],
    ids=["1", "2x1", "1-2_3-0", "0-0_0-2"],
)
def test_zero_padding_then_conv(check, randomize, tmp_path, padding):
    model = _model(
        (7, 8, 3),
        layers.ZeroPadding2D(padding, name="pad"),
        layers.Conv2D(4, 3, name="conv"),
        extra_outputs=True,
    )
    randomize(model, 8)
    _report(check(model, tmp_path))


def test_zero_padding_then_strided_conv_stem(check, randomize, tmp_path):
    # the ResNet stem: explicit padding followed by a 'valid' strided conv
    model = _model(
        (16, 16, 3),
        layers.ZeroPadding2D(3, name="pad"),
        layers.Conv2D(4, 7, strides=2, name="conv"),
        layers.ZeroPadding2D(1, name="pad2"),
        layers.MaxPooling2D(3, strides=2, name="pool"),
    )
    randomize(model, 9)
    _report(check(model, tmp_path))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_zero_padding_then_pool_counts_zeros(check, tmp_path, kind):
    # The padded zeros are real values: they win a max over negative inputs
    # and are counted in an average.
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    model = _model(
        (6, 7, 3),
        layers.Conv2D(3, 1, name="negate"),
        layers.ZeroPadding2D(((1, 2), (3, 0)), name="pad"),
        cls(3, strides=2, name="pool"),
    )
    # negate = -x - 0.5 and the inputs are >= 0, so everything entering the
    # padding is strictly negative
    model.get_layer("negate").set_weights(
        [-np.eye(3, dtype="float32").reshape(1, 1, 3, 3), np.full(3, -0.5, "float32")]
    )
    x = np.abs(np.random.default_rng(0).standard_normal((2, 6, 7, 3))).astype("float32")
    _report(check(model, tmp_path, inputs=[x]))


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
def test_conv_transpose(check, randomize, tmp_path, kernel, strides, padding, output_padding):
    model = _model(
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
    _report(check(model, tmp_path))


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
def test_conv_transpose_nonsquare(check, randomize, tmp_path, kernel, strides, padding, output_padding):
    model = _model(
        (4, 5, 2),
        layers.Conv2DTranspose(
            3, kernel, strides=strides, padding=padding, output_padding=output_padding, name="deconv"
        ),
    )
    randomize(model, 11)
    _report(check(model, tmp_path))


def test_conv_transpose_without_bias_with_activation(check, randomize, tmp_path):
    model = _model(
        (4, 4, 3),
        layers.Conv2DTranspose(5, 3, strides=2, padding="same", use_bias=False, activation="relu", name="deconv"),
        layers.Conv2DTranspose(2, 2, strides=2, activation="sigmoid", name="deconv2"),
        extra_outputs=True,
    )
    randomize(model, 12)
    _report(check(model, tmp_path))


@pytest.mark.covers("Conv2DTranspose", "dilation_rate")
@pytest.mark.parametrize(
    "kernel,dilation,padding",
    [(3, 2, "same"), (3, 2, "valid"), (2, 3, "same"), (4, 2, "valid"), (3, (2, 1), "same")],
    ids=["k3d2-same", "k3d2-valid", "k2d3-same", "k4d2-valid", "k3d2x1-same"],
)
def test_conv_transpose_dilated(check, randomize, tmp_path, kernel, dilation, padding):
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    inp = keras.Input((5, 6, 2), name="image")
    dilated = layers.Conv2DTranspose(
        3, kernel, dilation_rate=dilation, padding=padding, name="deconv"
    )
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

    _report(check(model, tmp_path, reference=reference))
