"""compiler.ops: padding arithmetic and the op table's shape rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compiler import Graph, ShapeError
from compiler.ops import (
    OPS,
    Kind,
    conv_out,
    effective_kernel,
    ops_of,
    same_pads,
    spatial_pads,
    transpose_out,
    window_size,
)


def tf_same(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's SAME rule, written out: out = ceil(n/s), the odd pixel after."""
    out = math.ceil(n / s)
    k_eff = (k - 1) * d + 1
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def keras_transpose_length(n: int, k: int, s: int, d: int, padding: str, output_padding: int | None) -> int:
    """Keras 3's ``_get_output_shape_given_tf_padding`` (keras/src/backend/common/backend_utils.py)."""
    k = (k - 1) * d + 1
    if padding == "valid":
        op = max(k, s) - k if output_padding is None else output_padding
        return (n - 1) * s + k + op
    if output_padding is None:
        return n * s
    return (n - 1) * s + k % 2 + output_padding


# -- padding arithmetic ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", range(1, 14))
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_pads_follow_tensorflow_for_every_kernel_and_dilation(size, stride):
    for k in range(1, 8):
        for d in (1, 2, 3):
            assert same_pads(size, k, stride, d) == tf_same(size, k, stride, d), (size, k, stride, d)
            before, after = same_pads(size, k, stride, d)
            assert 0 <= before <= after <= before + 1
            # the padded input yields exactly ceil(size / stride) windows
            assert conv_out(size, k, stride, d, (before, after)) == math.ceil(size / stride)


@pytest.mark.parametrize(
    "size, k, s, d, expected",
    [
        (224, 7, 2, 1, (2, 3)),  # ResNet's stem
        (225, 3, 2, 1, (1, 1)),
        (224, 3, 2, 1, (0, 1)),  # odd pixel at the bottom/right
        (5, 2, 1, 1, (0, 1)),  # even kernel
        (7, 4, 2, 1, (1, 2)),
        (8, 4, 2, 1, (1, 1)),
        (6, 3, 1, 2, (2, 2)),  # dilation 2: effective kernel 5
        (10, 1, 3, 1, (0, 0)),
        (4, 7, 1, 1, (3, 3)),  # kernel larger than the input
    ],
)
def test_same_pads_known_values(size, k, s, d, expected):
    assert same_pads(size, k, s, d) == expected


def test_effective_kernel():
    assert [effective_kernel(3, d) for d in (1, 2, 3)] == [3, 5, 7]
    assert effective_kernel(1, 5) == 1


def test_conv_out_valid_and_padded():
    assert conv_out(7, 3, 1, 1, (0, 0)) == 5
    assert conv_out(7, 3, 2, 1, (0, 0)) == 3
    assert conv_out(8, 3, 2, 1, (0, 0)) == 3
    assert conv_out(8, 3, 2, 1, (1, 1)) == 4
    assert conv_out(9, 3, 1, 2, (0, 0)) == 5
    assert conv_out(3, 3, 1, 1, (0, 0)) == 1
    assert conv_out(None, 3, 2, 1, (1, 1)) is None


def test_conv_out_rejects_a_kernel_larger_than_the_padded_input():
    with pytest.raises(ShapeError, match="larger than the padded input"):
        conv_out(2, 3, 1, 1, (0, 0))
    with pytest.raises(ShapeError):
        conv_out(4, 3, 1, 2, (0, 0))  # effective kernel 5
    assert conv_out(2, 3, 1, 1, (1, 0)) == 1


def test_spatial_pads_modes():
    assert spatial_pads("valid", (None, 5), (3, 3), (2, 2), (1, 1)) == [(0, 0), (0, 0)]
    assert spatial_pads("same", (7, 8), (4, 3), (2, 2), (1, 1)) == [tf_same(7, 4, 2, 1), tf_same(8, 3, 2, 1)]
    explicit = spatial_pads(((1, 2), (3, 4)), (5, 5), (3, 3), (1, 1), (1, 1))
    assert explicit == [(1, 2), (3, 4)]
    # unknown size, stride 1: the total is k_eff - 1 whatever the size
    assert spatial_pads("same", (None, None), (4, 3), (1, 1), (1, 2)) == [(1, 2), (2, 2)]


def test_spatial_pads_same_with_stride_and_unknown_size_pads_the_known_axis_only():
    pads = spatial_pads("same", (None, 8), (3, 3), (2, 2), (1, 1))
    assert pads[1] == tf_same(8, 3, 2, 1)


# -- transposed convolution --------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_transpose_out_matches_keras(padding):
    for n in range(1, 9):
        for k in range(1, 6):
            for s in (1, 2, 3):
                for d in (1, 2):
                    for op in [None, *range(s)]:
                        got = transpose_out(n, k, s, d, padding, op)
                        assert got == keras_transpose_length(n, k, s, d, padding, op), (n, k, s, d, padding, op)
    assert transpose_out(None, 3, 2, 1, padding, None) is None


def test_conv_transpose_shape_rule():
    g = Graph()
    x = g.add_input("x", (None, 5, 7, 6))
    kernel = np.zeros((3, 4, 2, 6), np.float32)  # (kh, kw, cout, cin)
    attrs = {"strides": (2, 3), "dilations": (1, 1), "padding": "valid", "output_padding": None}
    y = g.add("ConvTranspose", [x], attrs=attrs, params={"kernel": kernel})
    assert y.shape == (
        None,
        keras_transpose_length(5, 3, 2, 1, "valid", None),
        keras_transpose_length(7, 4, 3, 1, "valid", None),
        2,
    )
    attrs = {"strides": (2, 2), "dilations": (1, 1), "padding": "same", "output_padding": (1, 0)}
    z = g.add("ConvTranspose", [x], attrs=attrs, params={"kernel": kernel})
    assert z.shape == (None, 4 * 2 + 3 % 2 + 1, 6 * 2 + 4 % 2 + 0, 2)
    with pytest.raises(ShapeError, match="4-D"):
        g.add("ConvTranspose", [g.add_input("v", (None, 5, 6))], attrs=attrs, params={"kernel": kernel})


# -- window ops -------------------------------------------------------------------------------
def test_conv_shape_rule_same_valid_explicit_and_groups():
    g = Graph()
    x = g.add_input("x", (None, 7, 8, 4))
    k = np.zeros((3, 3, 4, 5), np.float32)
    same = g.add("Conv", [x], attrs={"strides": (2, 2), "dilations": (1, 1), "padding": "same"}, params={"kernel": k})
    valid = g.add("Conv", [x], attrs={"strides": (2, 2), "dilations": (1, 1), "padding": "valid"}, params={"kernel": k})
    expl = g.add(
        "Conv", [x], attrs={"strides": (1, 1), "dilations": (1, 1), "padding": ((0, 2), (1, 0))}, params={"kernel": k}
    )
    assert same.shape == (None, 4, 4, 5)
    assert valid.shape == (None, 3, 3, 5)
    assert expl.shape == (None, 7, 7, 5)
    grouped = g.add(
        "Conv",
        [x],
        attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "valid", "group": 2},
        params={"kernel": np.zeros((1, 1, 2, 6), np.float32)},
    )
    assert grouped.shape == (None, 7, 8, 6)


def test_conv_shape_rule_rejects_channel_mismatch_and_keeps_the_layer():
    g = Graph()
    x = g.add_input("x", (None, 7, 7, 4))
    with pytest.raises(ShapeError, match="4 channels") as info:
        g.add(
            "Conv",
            [x],
            layer="conv_bad",
            attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "valid"},
            params={"kernel": np.zeros((3, 3, 3, 5), np.float32)},
        )
    assert info.value.layer == "conv_bad"
    assert "layer 'conv_bad'" in str(info.value)


def test_pool_and_depthwise_shape_rules():
    g = Graph()
    x = g.add_input("x", (None, 9, 10, 3))
    mp = g.add("MaxPool", [x], attrs={"window": (3, 3), "strides": (2, 2), "padding": "valid"})
    ap = g.add("AveragePool", [x], attrs={"window": (2, 2), "strides": (2, 2), "padding": "same"})
    dw = g.add(
        "DepthwiseConv",
        [x],
        attrs={"strides": (1, 1), "dilations": (2, 2), "padding": "valid"},
        params={"kernel": np.zeros((3, 3, 3, 2), np.float32)},
    )
    assert mp.shape == (None, 4, 4, 3)
    assert ap.shape == (None, 5, 5, 3)
    assert dw.shape == (None, 5, 6, 6)
    with pytest.raises(ShapeError, match="4-D"):
        g.add(
            "MaxPool",
            [g.add_input("flat", (None, 9, 3))],
            attrs={"window": (2, 2), "strides": (1, 1), "padding": "valid"},
        )


def test_window_on_unknown_spatial_size():
    g = Graph()
    x = g.add_input("x", (None, None, None, 3))
    k = np.zeros((3, 3, 3, 8), np.float32)
    c = g.add("Conv", [x], attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "same"}, params={"kernel": k})
    assert c.shape == (None, None, None, 8)
    strided = g.add(
        "Conv", [x], attrs={"strides": (2, 2), "dilations": (1, 1), "padding": "same"}, params={"kernel": k}
    )
    assert strided.shape == (None, None, None, 8)
    half = g.add_input("half", (None, None, 9, 3))
    pool = g.add("MaxPool", [half], attrs={"window": (3, 3), "strides": (2, 2), "padding": "same"})
    assert pool.shape == (None, None, 5, 3)


# -- tensor ops -------------------------------------------------------------------------------
def test_concat_shape_rule():
    g = Graph()
    a = g.add_input("a", (None, 4, 4, 3))
    b = g.add_input("b", (None, 4, 4, 5))
    c = g.add_input("c", (None, 4, 4, None))
    assert g.add("Concat", [a, b, a], attrs={"axis": 3}).shape == (None, 4, 4, 11)
    assert g.add("Concat", [a, c], attrs={"axis": 3}).shape == (None, 4, 4, None)
    assert g.add("Concat", [a, a], attrs={"axis": 1}).shape == (None, 8, 4, 3)
    with pytest.raises(ShapeError, match="axis 1"):
        g.add("Concat", [a, b], attrs={"axis": 1})
    with pytest.raises(ShapeError):
        g.add("Concat", [a, g.add_input("d", (None, 16, 3))], attrs={"axis": 2})


def test_dense_shape_rule():
    g = Graph()
    x = g.add_input("x", (None, 6))
    img = g.add_input("img", (None, 5, 5, 6))
    k = np.zeros((6, 3), np.float32)
    assert g.add("Dense", [x], params={"kernel": k}).shape == (None, 3)
    assert g.add("Dense", [img], params={"kernel": k}).shape == (None, 5, 5, 3)
    with pytest.raises(ShapeError, match="expects 6 input features, got 4"):
        g.add("Dense", [g.add_input("y", (None, 4))], params={"kernel": k})


def test_flatten_shape_rule():
    g = Graph()
    assert g.add("Flatten", [g.add_input("a", (None, 2, 3, 4))]).shape == (None, 24)
    assert g.add("Flatten", [g.add_input("b", (None, None, 3, 4))]).shape == (None, None)
    assert g.add("Flatten", [g.add_input("c", (None, 5))]).shape == (None, 5)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool_keepdims(op):
    g = Graph()
    x = g.add_input("x", (None, 7, 5, 9))
    assert g.add(op, [x], attrs={"keepdims": True}).shape == (None, 1, 1, 9)
    assert g.add(op, [x], attrs={"keepdims": False}).shape == (None, 9)
    assert g.add(op, [x]).shape == (None, 9)


def test_elementwise_broadcasting():
    g = Graph()
    a = g.add_input("a", (None, 4, 4, 3))
    b = g.add_input("b", (None, 1, 1, 3))
    c = g.add_input("c", (3,))
    assert g.add("Add", [a, b]).shape == (None, 4, 4, 3)
    assert g.add("Mul", [a, c]).shape == (None, 4, 4, 3)
    assert g.add("FusedAddRelu", [b, a]).shape == (None, 4, 4, 3)
    with pytest.raises(ShapeError, match="incompatible"):
        g.add("Add", [a, g.add_input("d", (None, 4, 5, 3))])


def test_unary_pad_resize_transpose_reshape_rules():
    g = Graph()
    x = g.add_input("x", (None, 4, 6, 3))
    assert g.add("Relu", [x]).shape == (None, 4, 6, 3)
    assert g.add("Pad", [x], attrs={"pads": ((1, 2), (0, 3))}).shape == (None, 7, 9, 3)
    assert g.add("Resize", [x], attrs={"scale": (2, 3), "mode": "nearest"}).shape == (None, 8, 18, 3)
    assert g.add("Transpose", [x], attrs={"perm": (0, 3, 1, 2)}).shape == (None, 3, 4, 6)
    assert g.add("Reshape", [x], attrs={"shape": (-1, 3)}).shape == (None, 24, 3)
    assert g.add("Reshape", [x], attrs={"shape": (12, 6)}).shape == (None, 12, 6)
    dyn = g.add_input("dyn", (None, None, 6, 3))
    assert g.add("Pad", [dyn], attrs={"pads": ((1, 1), (1, 1))}).shape == (None, None, 8, 3)


def test_unknown_op_is_a_shape_error_naming_it():
    g = Graph()
    x = g.add_input("x", (None, 4))
    with pytest.raises(ShapeError, match="no shape rule for op Frobnicate"):
        g.add("Frobnicate", [x], layer="mystery")
    assert "Frobnicate" not in OPS


# -- the op table: what passes and lowerings ask ------------------------------------------------------
def test_the_table_says_which_ops_are_linear_activations_windows_and_never_negative():
    assert ops_of(Kind.LINEAR) == ("Conv", "DepthwiseConv", "ConvTranspose", "Dense")
    assert set(ops_of(Kind.WINDOW)) == {"Conv", "DepthwiseConv", "MaxPool", "AveragePool"}
    assert set(ops_of(Kind.WINDOW | Kind.POOL)) == {"MaxPool", "AveragePool"}
    assert set(ops_of(Kind.NON_NEGATIVE)) == {
        "Relu",
        "FusedAddRelu",
        "Sigmoid",
        "Softmax",
        "Exp",
        "Softplus",
        "HardSigmoid",
        "Abs",
        "Square",
    }
    assert {name for name, spec in OPS.items() if spec.residual} == {"Conv", "DepthwiseConv"}
    assert {name for name, spec in OPS.items() if spec.kernel is not None} == set(ops_of(Kind.LINEAR))
    assert {a: OPS[a].activation_params for a in ops_of(Kind.ACTIVATION)} == {
        "Relu": (),
        "Sigmoid": (),
        "Tanh": (),
        "Clip": ("min", "max"),
        "LeakyRelu": ("alpha",),
        "HardSigmoid": ("alpha", "beta"),
    }


def test_kernel_layouts_put_the_output_channel_where_keras_does():
    cases = {
        "Conv": ((3, 3, 2, 5), [1, 1, 1, 5]),
        "Dense": ((4, 5), [1, 5]),
        "ConvTranspose": ((3, 3, 5, 2), [1, 1, 5, 1]),
        "DepthwiseConv": ((3, 3, 2, 4), [1, 1, 2, 4]),
    }
    for op, (shape, broadcast) in cases.items():
        assert OPS[op].kernel.output_shape(np.zeros(shape)) == broadcast, op
    assert OPS["Conv"].kernel.window(np.zeros((2, 3, 4, 1, 6))) == (2, 3, 4)
    assert OPS["Dense"].kernel.window(np.zeros((4, 5))) == ()


def test_window_size_reads_a_pool_window_or_a_kernel():
    g = Graph()
    x = g.add_input("x", (None, 8, 8, 3))
    pool = g.add("MaxPool", [x], attrs={"window": (3, 2), "strides": (1, 1), "padding": "valid"})
    conv = g.add(
        "Conv",
        [x],
        attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "valid"},
        params={"kernel": np.zeros((5, 4, 3, 2), np.float32)},
    )
    assert window_size(pool) == (3, 2) and window_size(conv) == (5, 4)
