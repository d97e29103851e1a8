"""passes.fold_batchnorm on hand-made graphs, checked numerically with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import Graph
from unit_kit import assert_equivalent, batch_norm, bn_params, conv2d, depthwise2d, rand, transformed

EPS = 1e-3


def conv_attrs(padding="same", strides=(1, 1)):
    return {"strides": strides, "dilations": (1, 1), "padding": padding}


def add_bn(g: Graph, x, seed=10, axis=None, eps=EPS, name=None):
    axis = len(x.shape) - 1 if axis is None else axis
    return g.add(
        "BatchNorm", [x], name=name, attrs={"axis": axis, "epsilon": eps}, params=bn_params(x.shape[axis], seed)
    )


def conv_bn(bias: bool):
    params = {"kernel": rand((3, 3, 3, 4), 1)}
    if bias:
        params["bias"] = rand((4,), 2)

    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 7, 6, 3))
        c = g.add("Conv", [x], name="conv", attrs=conv_attrs("same", (2, 1)), params=params)
        g.set_outputs([add_bn(g, c, name="bn")], ["y"])
        return g

    return build, params


@pytest.mark.parametrize("bias", [True, False])
def test_conv_bn_folds_into_new_weights(bias):
    build, params = conv_bn(bias)
    ref, g, (report,) = transformed(build, "fold_batchnorm")
    assert report.summary == "folded 1 BatchNorm"
    assert g.op_counts() == {"Conv": 1, "Input": 1}
    assert g.output_names == ["y"]
    (conv,) = g.nodes("Conv")
    assert conv.shape == (None, 4, 6, 4)
    assert conv.params["kernel"].dtype == np.float32 and conv.params["bias"].dtype == np.float32

    bn = bn_params(4, 10)
    scale = bn["gamma"].astype(np.float64) / np.sqrt(bn["var"].astype(np.float64) + EPS)
    b = params["bias"].astype(np.float64) if bias else 0.0
    np.testing.assert_allclose(conv.params["kernel"], params["kernel"] * scale, rtol=1e-6)
    np.testing.assert_allclose(conv.params["bias"], (b - bn["mean"]) * scale + bn["beta"], rtol=1e-5, atol=1e-6)

    x = rand((2, 7, 6, 3), 5)
    expected = batch_norm(conv2d(x, params["kernel"], params.get("bias"), (2, 1), ((1, 1), (1, 1))), **bn, eps=EPS)
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_depthwise_bn_scales_each_multiplier_channel():
    kernel = rand((3, 3, 3, 2), 3)  # 3 input channels x multiplier 2 = 6 outputs

    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 3))
        d = g.add("DepthwiseConv", [x], attrs=conv_attrs("valid"), params={"kernel": kernel, "bias": rand((6,), 4)})
        g.set_outputs([add_bn(g, d, seed=20)])
        return g

    ref, g, (report,) = transformed(build, "fold_batchnorm")
    assert report.summary == "folded 1 BatchNorm"
    assert g.op_counts() == {"DepthwiseConv": 1, "Input": 1}
    x = rand((2, 6, 6, 3), 6)
    expected = batch_norm(depthwise2d(x, kernel, rand((6,), 4)), **bn_params(6, 20), eps=EPS)
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_conv_transpose_bn_scales_the_output_channel_axis():
    kernel = rand((3, 3, 5, 2), 7)  # (kh, kw, cout, cin)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 5, 2))
        t = g.add(
            "ConvTranspose",
            [x],
            attrs={"strides": (2, 2), "dilations": (1, 1), "padding": "same", "output_padding": None},
            params={"kernel": kernel},
        )
        g.set_outputs([add_bn(g, t, seed=30)])
        return g

    ref, g, (report,) = transformed(build, "fold_batchnorm")
    assert report.summary == "folded 1 BatchNorm"
    (t,) = g.nodes("ConvTranspose")
    assert t.shape == (None, 8, 10, 5) and "bias" in t.params
    assert_equivalent(ref, g, {"x": rand((2, 4, 5, 2), 8)})


def test_dense_bn_folds():
    kernel, bias = rand((6, 4), 9), rand((4,), 10)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 6))
        d = g.add("Dense", [x], params={"kernel": kernel, "bias": bias})
        g.set_outputs([add_bn(g, d, seed=40)], ["logits"])
        return g

    ref, g, _ = transformed(build, "fold_batchnorm")
    assert g.op_counts() == {"Dense": 1, "Input": 1}
    x = rand((3, 6), 11)
    expected = batch_norm(x.astype(np.float64) @ kernel + bias, **bn_params(4, 40), eps=EPS)
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_chained_batchnorms_both_fold():
    kernel = rand((1, 1, 3, 3), 12)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 3))
        c = g.add("Conv", [x], attrs=conv_attrs("valid"), params={"kernel": kernel})
        g.set_outputs([add_bn(g, add_bn(g, c, seed=50), seed=60)])
        return g

    ref, g, (report,) = transformed(build, "fold_batchnorm")
    assert report.summary == "folded 2 BatchNorm"
    assert g.op_counts() == {"Conv": 1, "Input": 1}
    assert_equivalent(ref, g, {"x": rand((2, 5, 5, 3), 13)})


def test_not_folded_when_the_conv_output_has_another_consumer():
    kernel = rand((3, 3, 3, 4), 14)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 3))
        c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
        bn = add_bn(g, c, seed=70)
        g.set_outputs([g.add("Add", [bn, c])])
        return g

    ref, g, (report,) = transformed(build, "fold_batchnorm")
    assert report.summary == "folded 0 BatchNorm, 1 left (no foldable producer)"
    assert g.op_counts() == ref.op_counts()
    assert g.nodes("Conv")[0].params["kernel"] is kernel
    assert_equivalent(ref, g, {"x": rand((2, 5, 5, 3), 15)})


def test_not_folded_when_the_conv_is_also_a_graph_output():
    kernel = rand((3, 3, 3, 4), 16)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 3))
        c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
        g.set_outputs([add_bn(g, c), c], ["normed", "raw"])
        return g

    ref, g, _ = transformed(build, "fold_batchnorm")
    assert g.op_counts() == {"BatchNorm": 1, "Conv": 1, "Input": 1}
    assert_equivalent(ref, g, {"x": rand((1, 5, 5, 3), 17)})


def test_not_folded_when_bn_normalizes_another_axis():
    kernel = rand((3, 3, 3, 4), 18)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 5, 3))
        c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
        g.set_outputs([add_bn(g, c, seed=80, axis=1)])  # over the 6 rows, not the channels
        return g

    ref, g, _ = transformed(build, "fold_batchnorm")
    assert g.op_counts() == {"BatchNorm": 1, "Conv": 1, "Input": 1}
    x = rand((2, 6, 5, 3), 19)
    expected = batch_norm(conv2d(x, kernel, pads=((1, 1), (1, 1))), **bn_params(6, 80), eps=EPS, axis=1)
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_bn_after_a_non_linear_op_stays():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4))
        g.set_outputs([add_bn(g, g.add("Relu", [x]))])
        return g

    ref, g, (report,) = transformed(build, "fold_batchnorm")
    assert report.summary == "folded 0 BatchNorm, 1 left (no foldable producer)"
    assert g.op_counts() == {"BatchNorm": 1, "Input": 1, "Relu": 1}


def test_shared_kernel_arrays_are_not_mutated():
    kernel, bias = rand((3, 3, 3, 3), 21), rand((3,), 22)
    kernel_copy, bias_copy = kernel.copy(), bias.copy()
    bn = bn_params(3, 90)
    bn_copy = {k: v.copy() for k, v in bn.items()}

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 3))
        shared = {"kernel": kernel, "bias": bias}  # one Keras layer called twice
        c1 = g.add("Conv", [x], attrs=conv_attrs(), params=shared)
        b1 = g.add("BatchNorm", [c1], attrs={"axis": 3, "epsilon": EPS}, params=bn)
        c2 = g.add("Conv", [b1], attrs=conv_attrs(), params=shared)
        g.set_outputs([c2])
        return g

    ref, g, (report,) = transformed(build, "fold_batchnorm")
    assert report.summary == "folded 1 BatchNorm"
    np.testing.assert_array_equal(kernel, kernel_copy)
    np.testing.assert_array_equal(bias, bias_copy)
    for k in bn:
        np.testing.assert_array_equal(bn[k], bn_copy[k])
    first, second = g.nodes("Conv")
    assert first.params["kernel"] is not kernel
    assert second.params["kernel"] is kernel and second.params["bias"] is bias
    x = rand((2, 5, 5, 3), 23)
    pads = ((1, 1), (1, 1))
    expected = conv2d(batch_norm(conv2d(x, kernel, bias, pads=pads), **bn, eps=EPS), kernel, bias, pads=pads)
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_epsilon_is_taken_from_the_node():
    kernel = rand((4, 2), 24)
    bn = bn_params(2, 100)
    bn["var"][:] = 1e-3  # small variances make epsilon matter

    for eps in (1e-3, 1e-5):

        def build(eps=eps):
            g = Graph()
            x = g.add_input("x", (None, 4))
            d = g.add("Dense", [x], params={"kernel": kernel})
            g.set_outputs([g.add("BatchNorm", [d], attrs={"axis": 1, "epsilon": eps}, params=bn)])
            return g

        ref, g, _ = transformed(build, "fold_batchnorm")
        x = rand((3, 4), 25)
        expected = batch_norm(x.astype(np.float64) @ kernel, **bn, eps=eps)
        assert_equivalent(ref, g, {"x": x}, [expected])


def _channels_first_conv_bn(perm=(0, 3, 1, 2), axis=1, second_reader=False):
    params = {"kernel": rand((3, 3, 3, 4), 1), "bias": rand((4,), 2)}

    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 7, 6, 3))
        c = g.add("Conv", [x], name="conv", attrs=conv_attrs(), params=params)
        t = g.add("Transpose", [c], name="to_nchw", attrs={"perm": perm})
        outs = [add_bn(g, t, axis=axis, name="bn")]
        g.set_outputs([*outs, t] if second_reader else outs, ["y", "t"][: len(outs) + second_reader])
        return g

    return build


def test_a_channels_first_batchnorm_folds_through_the_transpose_after_its_conv():
    ref, g, (report,) = transformed(_channels_first_conv_bn(), "fold_batchnorm")
    assert report.summary == "folded 1 BatchNorm"
    assert g.op_counts() == {"Conv": 1, "Transpose": 1, "Input": 1}
    (t,) = g.nodes("Transpose")
    assert t.inputs[0].op == "Conv" and t.shape == (None, 4, 7, 6)
    assert_equivalent(ref, g, {"x": rand((2, 7, 6, 3), 5)})


@pytest.mark.parametrize(
    "perm, axis, second_reader",
    [((0, 3, 1, 2), 2, False), ((0, 2, 1, 3), 1, False), ((0, 3, 1, 2), 1, True)],
    ids=["normalizes_height", "channels_stay_last", "transposed_tensor_read_elsewhere"],
)
def test_a_batchnorm_behind_a_transpose_stays_where_it_cannot_fold(perm, axis, second_reader):
    ref, g, (report,) = transformed(_channels_first_conv_bn(perm, axis, second_reader), "fold_batchnorm")
    assert "folded 0 BatchNorm" in report.summary and g.op_counts()["BatchNorm"] == 1
    assert_equivalent(ref, g, {"x": rand((2, 7, 6, 3), 5)})
