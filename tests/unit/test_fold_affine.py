"""passes.fold_affine: per-channel y = a·x + b folded into the weights before or after it."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler import Graph
from unit_kit import (
    assert_equivalent,
    batch_norm,
    bn_params,
    conv2d,
    conv_transpose2d,
    depthwise2d,
    positive,
    rand,
    transformed,
)

EPS = 1e-3
SAME_3x3 = ((1, 1), (1, 1))


def conv_attrs(padding="valid", strides=(1, 1), group=1):
    return {"strides": strides, "dilations": (1, 1), "padding": padding, "group": group}


def affine_params(channels: int, seed: int, shift: bool = True) -> dict[str, np.ndarray]:
    scale = positive((channels,), seed, 0.5, 2.0) * np.where(np.arange(channels) % 2, -1, 1).astype(np.float32)
    return {"scale": scale, "shift": rand((channels,), seed + 1) if shift else np.zeros(channels, np.float32)}


def add_affine(g: Graph, x, params, axis=None, name=None):
    axis = len(x.shape) - 1 if axis is None else axis
    return g.add("Affine", [x], name=name, attrs={"axis": axis}, params=params)


def apply_affine(x, params, axis=-1):
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x.astype(np.float64) * params["scale"].reshape(shape) + params["shift"].reshape(shape)).astype(np.float32)


def snapshot(*dicts):
    return [{k: v.copy() for k, v in d.items()} for d in dicts]


def assert_unchanged(originals, copies):
    for d, c in zip(originals, copies, strict=False):
        assert d.keys() == c.keys()
        for k in d:
            np.testing.assert_array_equal(d[k], c[k], err_msg=k)


# -- BatchNorm → Affine ---------------------------------------------------------------------------
def test_batchnorm_with_no_producer_becomes_an_affine_that_folds_into_the_next_conv():
    bn = bn_params(3, 1)
    kernel, bias = rand((3, 3, 3, 4), 2), rand((4,), 3)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 7, 3))
        b = g.add("BatchNorm", [x], attrs={"axis": 3, "epsilon": EPS}, params=bn)
        g.set_outputs(
            [g.add("Conv", [b], attrs=conv_attrs("valid", (2, 1)), params={"kernel": kernel, "bias": bias})], ["y"]
        )
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 1 constant scale/shift (1 from BatchNorm)"
    assert g.op_counts() == {"Conv": 1, "Input": 1}
    assert g.output_names == ["y"]
    x = rand((2, 6, 7, 3), 4)
    expected = conv2d(batch_norm(x, **bn, eps=EPS), kernel, bias, (2, 1))
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_batchnorm_left_over_is_an_affine_with_the_inference_scale_and_shift():
    bn = bn_params(5, 5)
    bn["var"][:] = 2e-3  # epsilon matters

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5))
        g.set_outputs([g.add("BatchNorm", [g.add("Relu", [x])], attrs={"axis": 1, "epsilon": 0.01}, params=bn)])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 0 constant scale/shift (1 from BatchNorm), 1 left as Mul+Add"
    assert g.op_counts() == {"Affine": 1, "Input": 1, "Relu": 1}
    (aff,) = g.nodes("Affine")
    scale = bn["gamma"].astype(np.float64) / np.sqrt(bn["var"].astype(np.float64) + 0.01)
    np.testing.assert_allclose(aff.params["scale"], scale, rtol=1e-6)
    np.testing.assert_allclose(aff.params["shift"], bn["beta"] - bn["mean"] * scale, rtol=1e-5, atol=1e-6)
    assert aff.params["scale"].dtype == np.float32 and aff.params["shift"].dtype == np.float32
    x = rand((4, 5), 6)
    assert_equivalent(ref, g, {"x": x}, [batch_norm(np.maximum(x, 0), **bn, eps=0.01)])


# -- into the producer ------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("op", ["Conv", "DepthwiseConv", "ConvTranspose", "Dense"])
def test_affine_folds_into_the_linear_op_before_it(op, bias):
    shapes = {  # input shape, kernel shape, output channels
        "Conv": ((None, 6, 5, 3), (3, 3, 3, 4), 4),
        "DepthwiseConv": ((None, 6, 5, 3), (3, 3, 3, 2), 6),
        "ConvTranspose": ((None, 3, 4, 2), (3, 3, 5, 2), 5),
        "Dense": ((None, 7), (7, 4), 4),
    }
    in_shape, k_shape, cout = shapes[op]
    params = {"kernel": rand(k_shape, 10)}
    if bias:
        params["bias"] = rand((cout,), 11)
    aff = affine_params(cout, 12)
    attrs = {
        "Conv": conv_attrs(SAME_3x3, (2, 1)),
        "DepthwiseConv": conv_attrs(SAME_3x3),
        "ConvTranspose": {"strides": (2, 2), "dilations": (1, 1), "padding": "valid", "output_padding": None},
        "Dense": {},
    }[op]
    copies = snapshot(params, aff)

    def build():
        g = Graph()
        x = g.add_input("x", in_shape)
        lin = g.add(op, [x], name="linear", attrs=attrs, params=params)
        g.set_outputs([add_affine(g, lin, aff)], ["out"])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 1 constant scale/shift (0 from BatchNorm)"
    assert g.op_counts() == {op: 1, "Input": 1}
    assert g.output_names == ["out"]
    (new,) = g.nodes(op)
    assert new.params["kernel"].dtype == np.float32 and new.params["bias"].dtype == np.float32
    assert_unchanged([params, aff], copies)

    x = rand((2, *in_shape[1:]), 13, shift=0.3)
    b = params.get("bias")
    linear = {
        "Conv": lambda: conv2d(x, params["kernel"], b, (2, 1), SAME_3x3),
        "DepthwiseConv": lambda: depthwise2d(x, params["kernel"], b, pads=SAME_3x3),
        "ConvTranspose": lambda: conv_transpose2d(x, params["kernel"], b, (2, 2), (1, 1), (7, 9), (0, 0)),
        "Dense": lambda: (x.astype(np.float64) @ params["kernel"] + (0 if b is None else b)).astype(np.float32),
    }[op]()
    assert_equivalent(ref, g, {"x": x}, [apply_affine(linear, aff)])


def test_affine_chain_folds_into_one_producer():
    kernel = rand((1, 1, 3, 4), 20)
    a1, a2 = affine_params(4, 21), affine_params(4, 23)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
        g.set_outputs([add_affine(g, add_affine(g, c, a1), a2)])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 2 constant scale/shift (0 from BatchNorm)"
    assert g.op_counts() == {"Conv": 1, "Input": 1}
    x = rand((2, 4, 4, 3), 25)
    assert_equivalent(ref, g, {"x": x}, [apply_affine(apply_affine(conv2d(x, kernel), a1), a2)])


def test_producer_with_an_activation_or_another_reader_keeps_its_weights():
    kernel = rand((3, 3), 30)
    aff = affine_params(3, 31)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 3))
        act = g.add("Dense", [x], name="act", attrs={"activation": {"op": "Relu"}}, params={"kernel": kernel})
        shared = g.add("Dense", [x], name="shared", params={"kernel": kernel})
        g.set_outputs([add_affine(g, act, aff), add_affine(g, shared, aff), g.add("Tanh", [shared])])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 0 constant scale/shift (0 from BatchNorm), 2 left as Mul+Add"
    assert g.op_counts() == ref.op_counts()
    assert all(d.params["kernel"] is kernel for d in g.nodes("Dense"))
    x = rand((4, 3), 32)
    lin = x.astype(np.float64) @ kernel
    assert_equivalent(ref, g, {"x": x}, [apply_affine(np.maximum(lin, 0), aff), apply_affine(lin, aff), np.tanh(lin)])


# -- into the consumer --------------------------------------------------------------------------------
CONSUMERS = {
    # name: (op, input shape, kernel shape, attrs, numpy reference of the consumer)
    "conv": (
        "Conv",
        (None, 7, 6, 4),
        (3, 3, 4, 5),
        conv_attrs("valid", (2, 1)),
        lambda x, k, b: conv2d(x, k, b, (2, 1)),
    ),
    "conv_groups2": (
        "Conv",
        (None, 6, 6, 4),
        (3, 2, 2, 6),
        conv_attrs(((0, 0), (0, 0)), group=2),
        lambda x, k, b: conv2d(x, k, b, group=2),
    ),
    "conv_groups3": (
        "Conv",
        (None, 5, 6, 6),
        (2, 2, 2, 9),
        conv_attrs("valid", (1, 2), group=3),
        lambda x, k, b: conv2d(x, k, b, (1, 2), group=3),
    ),
    "depthwise_mult2": (
        "DepthwiseConv",
        (None, 6, 5, 3),
        (3, 3, 3, 2),
        conv_attrs("valid"),
        lambda x, k, b: depthwise2d(x, k, b),
    ),
    "dense": ("Dense", (None, 6), (6, 3), {}, lambda x, k, b: (x.astype(np.float64) @ k + b).astype(np.float32)),
    "dense_on_map": (
        "Dense",
        (None, 3, 4, 5),
        (5, 2),
        {},
        lambda x, k, b: (x.astype(np.float64) @ k + b).astype(np.float32),
    ),
}


@pytest.mark.parametrize("case", sorted(CONSUMERS))
def test_shifted_affine_folds_into_the_consumer_that_pads_nothing(case):
    op, in_shape, k_shape, attrs, reference = CONSUMERS[case]
    cin, cout = in_shape[-1], (k_shape[2] * k_shape[3] if op == "DepthwiseConv" else k_shape[-1])
    params = {"kernel": rand(k_shape, 40), "bias": rand((cout,), 41)}
    aff = affine_params(cin, 42)
    copies = snapshot(params, aff)

    def build():
        g = Graph()
        x = g.add_input("x", in_shape)
        g.set_outputs([g.add(op, [add_affine(g, x, aff)], name="consumer", attrs=attrs, params=params)])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 1 constant scale/shift (0 from BatchNorm)"
    assert g.op_counts() == {op: 1, "Input": 1}
    (new,) = g.nodes(op)
    assert new.inputs == g.inputs
    assert new.params["kernel"].shape == k_shape and new.params["bias"].shape == (cout,)
    assert new.params["kernel"].dtype == np.float32 and new.params["bias"].dtype == np.float32
    assert_unchanged([params, aff], copies)
    x = rand((2, *in_shape[1:]), 43)
    assert_equivalent(ref, g, {"x": x}, [reference(apply_affine(x, aff), params["kernel"], params["bias"])])


def test_consumer_without_bias_gets_one():
    kernel = rand((3, 3, 2, 2), 50)
    aff = affine_params(2, 51)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 2))
        g.set_outputs([g.add("DepthwiseConv", [add_affine(g, x, aff)], attrs=conv_attrs(), params={"kernel": kernel})])
        return g

    ref, g, _ = transformed(build, "fold_affine")
    (dw,) = g.nodes("DepthwiseConv")
    assert dw.params["bias"].shape == (4,)
    x = rand((2, 5, 5, 2), 52)
    assert_equivalent(ref, g, {"x": x}, [depthwise2d(apply_affine(x, aff), kernel)])


@pytest.mark.parametrize("padding", ["same", SAME_3x3, ((0, 1), (0, 0))])
@pytest.mark.parametrize("op", ["Conv", "DepthwiseConv"])
def test_shifted_affine_folds_only_its_scale_into_a_padded_conv(op, padding):
    # The border of a padded convolution reads zeros, not the shift: folding the shift would change
    # it, so a·x + b becomes a·(x + b/a) and only the scale a goes into the kernel.
    kernel = rand((3, 3, 3, 4) if op == "Conv" else (3, 3, 3, 1), 60)
    aff = affine_params(3, 61)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 6, 3))
        g.set_outputs([g.add(op, [add_affine(g, x, aff)], attrs=conv_attrs(padding), params={"kernel": kernel})])
        return g

    ref, g, reports = transformed(build, "resolve_padding", "fold_affine")
    assert reports[-1].summary == "folded 1 constant scale/shift (0 from BatchNorm), 1 left as Mul+Add"
    assert g.op_counts() == {op: 1, "Affine": 1, "Input": 1}
    (left,) = g.nodes("Affine")
    np.testing.assert_array_equal(left.params["scale"], np.ones(3, np.float32))
    np.testing.assert_allclose(left.params["shift"], aff["shift"] / aff["scale"], rtol=1e-6)
    x = rand((2, 5, 6, 3), 62)
    pads = SAME_3x3 if padding == "same" else padding
    fn = conv2d if op == "Conv" else depthwise2d
    assert_equivalent(ref, g, {"x": x}, [fn(apply_affine(x, aff), kernel, pads=pads)])


@pytest.mark.parametrize("passes", [("fold_affine",), ("resolve_padding", "fold_affine")])
@pytest.mark.parametrize("op", ["Conv", "DepthwiseConv"])
def test_scale_only_affine_folds_even_into_a_padded_conv(op, passes):
    kernel = rand((3, 3, 3, 4) if op == "Conv" else (3, 3, 3, 2), 70)
    aff = affine_params(3, 71, shift=False)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 6, 3))
        g.set_outputs([g.add(op, [add_affine(g, x, aff)], attrs=conv_attrs("same"), params={"kernel": kernel})])
        return g

    ref, g, reports = transformed(build, *passes)
    assert reports[-1].summary == "folded 1 constant scale/shift (0 from BatchNorm)"
    assert g.op_counts() == {op: 1, "Input": 1}
    x = rand((2, 5, 6, 3), 72)
    fn = conv2d if op == "Conv" else depthwise2d
    assert_equivalent(ref, g, {"x": x}, [fn(apply_affine(x, aff), kernel, pads=SAME_3x3)])


def test_affine_read_by_two_consumers_is_not_folded():
    k1, k2 = rand((1, 1, 3, 2), 80), rand((2, 2, 3, 2), 81)
    aff = affine_params(3, 82)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        a = add_affine(g, x, aff)
        g.set_outputs(
            [
                g.add("Conv", [a], attrs=conv_attrs(), params={"kernel": k1}),
                g.add("Conv", [a], attrs=conv_attrs(), params={"kernel": k2}),
            ]
        )
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 0 constant scale/shift (0 from BatchNorm), 1 left as Mul+Add"
    assert g.op_counts() == {"Affine": 1, "Conv": 2, "Input": 1}
    assert [c.params["kernel"] is k for c, k in zip(g.nodes("Conv"), (k1, k2), strict=False)] == [True, True]
    x = rand((2, 4, 4, 3), 83)
    y = apply_affine(x, aff)
    assert_equivalent(ref, g, {"x": x}, [conv2d(y, k1), conv2d(y, k2)])


def test_affine_that_is_also_an_output_is_not_folded_into_its_consumer():
    kernel = rand((4, 2), 84)
    aff = affine_params(4, 85)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 4))
        a = add_affine(g, x, aff)
        g.set_outputs([a, g.add("Dense", [a], params={"kernel": kernel})], ["scaled", "logits"])
        return g

    ref, g, _ = transformed(build, "fold_affine")
    assert g.op_counts() == {"Affine": 1, "Dense": 1, "Input": 1}
    x = rand((3, 4), 86)
    y = apply_affine(x, aff)
    assert_equivalent(ref, g, {"x": x}, [y, (y.astype(np.float64) @ kernel).astype(np.float32)])


def test_consumer_with_a_fused_activation_keeps_the_affine():
    kernel = rand((1, 1, 2, 3), 87)
    aff = affine_params(2, 88)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 3, 3, 2))
        attrs = {**conv_attrs(), "activation": {"op": "Relu"}}
        g.set_outputs([g.add("Conv", [add_affine(g, x, aff)], attrs=attrs, params={"kernel": kernel})])
        return g

    ref, g, _ = transformed(build, "fold_affine")
    assert g.op_counts() == {"Affine": 1, "Conv": 1, "Input": 1}
    x = rand((2, 3, 3, 2), 89)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(conv2d(apply_affine(x, aff), kernel), 0)])


# -- chains and identities -------------------------------------------------------------------------------
def test_affine_chain_merges_into_one():
    affs = [affine_params(4, s) for s in (90, 92, 94)]
    copies = snapshot(*affs)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 3, 4))
        y = g.add("Tanh", [x])
        for p in affs:
            y = add_affine(g, y, p)
        g.set_outputs([y], ["out"])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 2 constant scale/shift (0 from BatchNorm), 1 left as Mul+Add"
    assert g.op_counts() == {"Affine": 1, "Input": 1, "Tanh": 1}
    assert g.output_names == ["out"]
    (merged,) = g.nodes("Affine")
    a = np.prod([p["scale"].astype(np.float64) for p in affs], axis=0)
    b = (affs[0]["shift"] * affs[1]["scale"] + affs[1]["shift"]) * affs[2]["scale"] + affs[2]["shift"]
    np.testing.assert_allclose(merged.params["scale"], a, rtol=1e-6)
    np.testing.assert_allclose(merged.params["shift"], b, rtol=1e-5, atol=1e-6)
    assert_unchanged(affs, copies)
    x = rand((2, 3, 4), 96)
    expected = np.tanh(x)
    for p in affs:
        expected = apply_affine(expected, p)
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_affine_chain_then_a_padded_conv_with_no_shift_left_folds_entirely():
    kernel = rand((3, 3, 2, 3), 100)
    up = {"scale": np.array([2.0, -4.0], np.float32), "shift": np.array([1.0, -3.0], np.float32)}
    down = {"scale": np.array([0.5, 0.25], np.float32), "shift": np.array([-0.5, 0.75], np.float32)}

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 2))
        r = g.add("Relu", [x])
        y = add_affine(g, add_affine(g, r, up), down)  # scale (1, -1), shift (0, 0)
        g.set_outputs([g.add("Conv", [y], attrs=conv_attrs(SAME_3x3), params={"kernel": kernel})])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 2 constant scale/shift (0 from BatchNorm)"
    assert g.op_counts() == {"Conv": 1, "Input": 1, "Relu": 1}
    x = rand((2, 5, 5, 2), 101)
    expected = conv2d(np.maximum(x, 0) * np.array([1, -1], np.float32), kernel, pads=SAME_3x3)
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_affine_chain_that_cancels_out_vanishes():
    double = {"scale": np.full(3, 2.0, np.float32), "shift": np.zeros(3, np.float32)}
    half = {"scale": np.full(3, 0.5, np.float32), "shift": np.zeros(3, np.float32)}

    def build():
        g = Graph()
        x = g.add_input("x", (None, 3))
        t = g.add("Tanh", [x])
        g.set_outputs([g.add("Relu", [add_affine(g, add_affine(g, t, double), half)])])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert g.op_counts() == {"Input": 1, "Relu": 1, "Tanh": 1}
    assert report.summary == "folded 2 constant scale/shift (0 from BatchNorm)"
    x = rand((4, 3), 102)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(np.tanh(x), 0)])


def test_identity_affine_is_removed():
    ident = {"scale": np.ones(4, np.float32), "shift": np.zeros(4, np.float32)}

    def build():
        g = Graph()
        x = g.add_input("x", (None, 2, 4))
        g.set_outputs([g.add("Relu", [add_affine(g, g.add("Tanh", [x]), ident)])])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 1 constant scale/shift (0 from BatchNorm)"
    assert g.op_counts() == {"Input": 1, "Relu": 1, "Tanh": 1}
    assert g.nodes("Relu")[0].inputs == g.nodes("Tanh")
    x = rand((3, 2, 4), 103)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(np.tanh(x), 0)])


@pytest.mark.parametrize("source", ["Input", "Tanh"])
def test_identity_affine_that_is_a_graph_output_keeps_the_output_name(source):
    ident = {"scale": np.ones(3, np.float32), "shift": np.zeros(3, np.float32)}

    def build():
        g = Graph()
        x = g.add_input("x", (None, 3))
        s = x if source == "Input" else g.add("Tanh", [x])
        g.set_outputs([add_affine(g, s, ident, name="rescale"), g.add("Relu", [s])], ["scaled", "other"])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 1 constant scale/shift (0 from BatchNorm)"
    assert "Affine" not in g.op_counts()
    assert g.output_names == ["scaled", "other"]
    assert g.outputs[0].op == source
    model = compiler.to_onnx(g)
    assert [o.name for o in model.graph.output] == ["scaled", "other"]
    x = rand((4, 3), 104)
    s = x if source == "Input" else np.tanh(x)
    assert_equivalent(ref, g, {"x": x}, [s, np.maximum(s, 0)])


def test_affine_on_a_non_last_axis_is_left_alone():
    kernel = rand((1, 1, 3, 3), 110)
    rows = affine_params(5, 111)  # one (scale, shift) per image row
    bn = bn_params(4, 112)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 4, 3))
        c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
        a = add_affine(g, c, rows, axis=1)
        b = g.add("BatchNorm", [a], attrs={"axis": 2, "epsilon": EPS}, params=bn)
        g.set_outputs([g.add("Conv", [b], attrs=conv_attrs(), params={"kernel": kernel})])
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 0 constant scale/shift (1 from BatchNorm), 2 left as Mul+Add"
    assert g.op_counts() == {"Affine": 2, "Conv": 2, "Input": 1}
    assert [a.attrs["axis"] for a in g.nodes("Affine")] == [1, 2]
    assert all(c.params["kernel"] is kernel for c in g.nodes("Conv"))
    x = rand((2, 5, 4, 3), 113)
    y = batch_norm(apply_affine(conv2d(x, kernel), rows, axis=1), **bn, eps=EPS, axis=2)
    assert_equivalent(ref, g, {"x": x}, [conv2d(y, kernel)])


def test_folding_never_writes_into_the_callers_arrays():
    # One Keras layer called twice shares its arrays between both calls.
    kernel, bias = rand((3, 3, 3, 3), 120), rand((3,), 121)
    aff, bn = affine_params(3, 122), bn_params(3, 124)
    copies = snapshot({"kernel": kernel, "bias": bias}, aff, bn)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 8, 8, 3))
        shared = {"kernel": kernel, "bias": bias}
        c1 = g.add("Conv", [x], attrs=conv_attrs(), params=shared)
        a = add_affine(g, c1, aff)  # into c1
        c2 = g.add("Conv", [g.add("Relu", [a])], attrs=conv_attrs(), params=shared)
        b = g.add("BatchNorm", [g.add("Relu", [c2])], attrs={"axis": 3, "epsilon": EPS}, params=bn)
        g.set_outputs([g.add("Conv", [b], attrs=conv_attrs(), params=shared)])  # BatchNorm into this one
        return g

    ref, g, (report,) = transformed(build, "fold_affine")
    assert report.summary == "folded 2 constant scale/shift (1 from BatchNorm)"
    assert g.op_counts() == {"Conv": 3, "Input": 1, "Relu": 2}
    assert_unchanged([{"kernel": kernel, "bias": bias}, aff, bn], copies)
    first, second, third = g.nodes("Conv")
    assert second.params["kernel"] is kernel
    assert first.params["kernel"] is not kernel and third.params["kernel"] is not kernel
    x = rand((1, 8, 8, 3), 126)
    y = np.maximum(apply_affine(conv2d(x, kernel, bias), aff), 0)
    y = batch_norm(np.maximum(conv2d(y, kernel, bias), 0), **bn, eps=EPS)
    assert_equivalent(ref, g, {"x": x}, [conv2d(y, kernel, bias)])
