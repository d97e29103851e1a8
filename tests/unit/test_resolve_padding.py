"""passes.resolve_padding: explicit pads, and zero Pads merged into window ops, exactly.

Every rewritten graph is run with onnxruntime both with all graph optimizations and with none
(onnxruntime folds Pad into pools itself, which is where zero-padding semantics get lost), and
compared with a numpy reference computed from the Keras definition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from compiler import Graph
from compiler.ops import same_pads
from unit_kit import assert_equivalent, avg_pool, conv2d, depthwise2d, max_pool, pad_nhwc, rand, run_graph, transformed


def tf_same(n, k, s, d=1):
    out = math.ceil(n / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def window_attrs(op, kernel, strides, padding):
    if op in ("MaxPool", "AveragePool"):
        return {"window": kernel, "strides": strides, "padding": padding}
    return {"strides": strides, "dilations": (1, 1), "padding": padding}


def pads_of(node):
    return tuple(tuple(p) for p in node.attrs["padding"])


# -- 'same' and 'valid' become explicit -----------------------------------------------------------
CASES = [
    ("Conv", (3, 3), (1, 1)),
    ("Conv", (3, 3), (2, 2)),
    ("Conv", (4, 4), (2, 2)),
    ("Conv", (4, 3), (1, 2)),
    ("DepthwiseConv", (3, 3), (2, 2)),
    ("DepthwiseConv", (2, 4), (1, 1)),
    ("MaxPool", (3, 3), (2, 2)),
    ("MaxPool", (2, 2), (2, 2)),
    ("MaxPool", (4, 4), (1, 1)),
    ("AveragePool", (3, 3), (2, 2)),
    ("AveragePool", (2, 2), (1, 1)),
    ("AveragePool", (3, 2), (3, 1)),
]


@pytest.mark.parametrize("size", [(7, 7), (8, 8), (7, 10)])
@pytest.mark.parametrize("op, kernel, strides", CASES)
def test_same_becomes_tensorflow_pads(op, kernel, strides, size):
    h, w = size
    weights = {"Conv": rand((*kernel, 3, 4), 1), "DepthwiseConv": rand((*kernel, 3, 2), 2)}.get(op)

    def build():
        g = Graph()
        x = g.add_input("x", (None, h, w, 3))
        params = {"kernel": weights} if weights is not None else None
        g.set_outputs([g.add(op, [x], name="win", attrs=window_attrs(op, kernel, strides, "same"), params=params)])
        return g

    ref, g, (report,) = transformed(build, "resolve_padding")
    node = g.node("win")
    expected_pads = (tf_same(h, kernel[0], strides[0]), tf_same(w, kernel[1], strides[1]))
    assert pads_of(node) == expected_pads
    assert expected_pads == (same_pads(h, kernel[0], strides[0]), same_pads(w, kernel[1], strides[1]))
    assert report.summary == "resolved 1 padding modes, merged 0 ZeroPadding2D"
    assert "count_include_pad" not in node.attrs and "zero_pads" not in node.attrs
    assert node.shape == (None, math.ceil(h / strides[0]), math.ceil(w / strides[1]), node.shape[3])

    x = rand((2, h, w, 3), 3)
    reference = {
        "Conv": lambda: conv2d(x, weights, strides=strides, pads=expected_pads),
        "DepthwiseConv": lambda: depthwise2d(x, weights, strides=strides, pads=expected_pads),
        "MaxPool": lambda: max_pool(x, kernel, strides, expected_pads),
        "AveragePool": lambda: avg_pool(x, kernel, strides, expected_pads, count_pad=False),
    }[op]()
    assert_equivalent(ref, g, {"x": x}, [reference])


def test_dilated_same_conv():
    kernel = rand((3, 3, 2, 2), 4)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 9, 8, 2))
        g.set_outputs(
            [
                g.add(
                    "Conv",
                    [x],
                    name="c",
                    attrs={"strides": (1, 1), "dilations": (2, 3), "padding": "same"},
                    params={"kernel": kernel},
                )
            ]
        )
        return g

    ref, g, _ = transformed(build, "resolve_padding")
    assert pads_of(g.node("c")) == (tf_same(9, 3, 1, 2), tf_same(8, 3, 1, 3)) == ((2, 2), (3, 3))
    x = rand((1, 9, 8, 2), 5)
    assert_equivalent(ref, g, {"x": x}, [conv2d(x, kernel, pads=((2, 2), (3, 3)), dilations=(2, 3))])


def test_valid_becomes_zero_pads():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 2))
        g.set_outputs([g.add("MaxPool", [x], name="p", attrs=window_attrs("MaxPool", (2, 2), (2, 2), "valid"))])
        return g

    _, g, (report,) = transformed(build, "resolve_padding")
    assert pads_of(g.node("p")) == ((0, 0), (0, 0))
    assert report.summary == "resolved 1 padding modes, merged 0 ZeroPadding2D"


def test_same_with_unknown_size_is_left_to_the_backend():
    kernel = rand((3, 4, 2, 3), 6)

    def build():
        g = Graph()
        x = g.add_input("x", (None, None, None, 2))
        g.set_outputs(
            [g.add("Conv", [x], name="c", attrs=window_attrs("Conv", None, (1, 1), "same"), params={"kernel": kernel})]
        )
        return g

    ref, g, _ = transformed(build, "resolve_padding")
    assert g.node("c").attrs["padding"] == "same"
    for h, w in ((5, 6), (8, 3)):
        x = rand((1, h, w, 2), h)
        expected = conv2d(x, kernel, pads=(tf_same(h, 3, 1), tf_same(w, 4, 1)))
        assert_equivalent(ref, g, {"x": x}, [expected])


# -- Pad merged into convolutions -----------------------------------------------------------------
@pytest.mark.parametrize("own", ["valid", "same"])
@pytest.mark.parametrize("op", ["Conv", "DepthwiseConv"])
def test_pad_merges_into_conv(op, own):
    pads = ((1, 2), (0, 3))
    kernel = rand((3, 3, 3, 2), 7) if op == "Conv" else rand((3, 3, 3, 1), 7)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 8, 7, 3))
        p = g.add("Pad", [x], attrs={"pads": pads})
        g.set_outputs([g.add(op, [p], name="c", attrs=window_attrs(op, None, (2, 2), own), params={"kernel": kernel})])
        return g

    ref, g, (report,) = transformed(build, "resolve_padding")
    assert "Pad" not in g.op_counts()
    assert report.summary == "resolved 0 padding modes, merged 1 ZeroPadding2D"
    own_pads = ((0, 0), (0, 0)) if own == "valid" else (tf_same(11, 3, 2), tf_same(10, 3, 2))
    merged = tuple((a[0] + b[0], a[1] + b[1]) for a, b in zip(pads, own_pads, strict=False))
    node = g.node("c")
    assert pads_of(node) == merged
    assert node.inputs == g.inputs
    assert node.shape == ref.node("c").shape

    x = rand((2, 8, 7, 3), 8)
    padded = pad_nhwc(x, pads)
    fn = conv2d if op == "Conv" else depthwise2d
    assert_equivalent(ref, g, {"x": x}, [fn(padded, kernel, strides=(2, 2), pads=own_pads)])


def test_pad_with_two_consumers_is_kept():
    kernel = rand((3, 3, 2, 2), 9)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 2))
        p = g.add("Pad", [x], attrs={"pads": ((1, 1), (1, 1))})
        c = g.add("Conv", [p], name="c", attrs=window_attrs("Conv", None, (1, 1), "valid"), params={"kernel": kernel})
        m = g.add("MaxPool", [p], name="m", attrs=window_attrs("MaxPool", (3, 3), (1, 1), "valid"))
        g.set_outputs([c, m])
        return g

    ref, g, (report,) = transformed(build, "resolve_padding")
    assert g.op_counts()["Pad"] == 1
    assert pads_of(g.node("c")) == ((0, 0), (0, 0)) and pads_of(g.node("m")) == ((0, 0), (0, 0))
    assert report.summary == "resolved 2 padding modes, merged 0 ZeroPadding2D"
    x = rand((2, 5, 5, 2), 10, shift=-2.0)
    padded = pad_nhwc(x, ((1, 1), (1, 1)))
    assert_equivalent(ref, g, {"x": x}, [conv2d(padded, kernel), max_pool(padded, (3, 3), (1, 1))])


# -- Pad merged into average pooling ------------------------------------------------------------
@pytest.mark.parametrize(
    "pads, kernel, strides",
    [
        (((1, 1), (1, 1)), (3, 3), (2, 2)),
        (((0, 2), (1, 0)), (3, 3), (1, 1)),
        (((1, 0), (0, 1)), (2, 2), (2, 2)),
    ],
)
def test_pad_merges_into_average_pool_counting_the_zeros(pads, kernel, strides):
    def build():
        g = Graph()
        x = g.add_input("x", (None, 7, 6, 3))
        p = g.add("Pad", [x], attrs={"pads": pads})
        pool = g.add("AveragePool", [p], name="a", attrs=window_attrs("AveragePool", kernel, strides, "valid"))
        g.set_outputs([pool])
        return g

    ref, g, (report,) = transformed(build, "resolve_padding")
    node = g.node("a")
    assert g.op_counts() == {"AveragePool": 1, "Input": 1}
    assert pads_of(node) == pads
    assert node.attrs["count_include_pad"] is True
    assert report.summary == "resolved 0 padding modes, merged 1 ZeroPadding2D"
    x = rand((2, 7, 6, 3), 11, shift=3.0)  # mostly positive, so counted zeros visibly lower the means
    expected = avg_pool(pad_nhwc(x, pads), kernel, strides, count_pad=True)
    assert_equivalent(ref, g, {"x": x}, [expected])


@pytest.mark.parametrize(
    "pads, kernel, strides",
    [
        (((2, 2), (2, 2)), (2, 2), (1, 1)),
        (((0, 3), (1, 1)), (2, 2), (2, 2)),
        (((3, 3), (0, 0)), (3, 3), (2, 1)),
    ],
)
def test_pad_reaching_the_pool_size_turns_average_pool_into_depthwise_conv(pads, kernel, strides):
    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 5, 3))
        p = g.add("Pad", [x], attrs={"pads": pads})
        pool = g.add("AveragePool", [p], name="a", attrs=window_attrs("AveragePool", kernel, strides, "valid"))
        g.set_outputs([pool], ["pooled"])
        return g

    ref, g, (report,) = transformed(build, "resolve_padding")
    assert g.op_counts() == {"DepthwiseConv": 1, "Input": 1}
    (conv,) = g.nodes("DepthwiseConv")
    assert pads_of(conv) == pads
    assert conv.attrs["strides"] == strides
    assert conv.shape == ref.node("a").shape
    np.testing.assert_array_equal(
        conv.params["kernel"], np.full((*kernel, 3, 1), 1 / (kernel[0] * kernel[1]), np.float32)
    )
    assert g.output_names == ["pooled"] and g.outputs == [conv]
    assert report.summary == "resolved 0 padding modes, merged 1 ZeroPadding2D"
    x = rand((2, 6, 5, 3), 12, shift=2.0)
    assert_equivalent(ref, g, {"x": x}, [avg_pool(pad_nhwc(x, pads), kernel, strides)])


def test_average_pool_with_its_own_border_keeps_the_pad():
    pads = ((1, 1), (1, 1))

    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 2))
        p = g.add("Pad", [x], attrs={"pads": pads})
        g.set_outputs([g.add("AveragePool", [p], name="a", attrs=window_attrs("AveragePool", (3, 3), (2, 2), "same"))])
        return g

    ref, g, (report,) = transformed(build, "resolve_padding")
    assert g.op_counts() == {"AveragePool": 1, "Input": 1, "Pad": 1}
    own = (tf_same(8, 3, 2), tf_same(8, 3, 2))
    assert pads_of(g.node("a")) == own
    assert not g.node("a").attrs.get("count_include_pad")
    x = rand((2, 6, 6, 2), 13, shift=2.0)
    expected = avg_pool(pad_nhwc(x, pads), (3, 3), (2, 2), own, count_pad=False)
    assert_equivalent(ref, g, {"x": x}, [expected])


# -- Pad merged into max pooling ------------------------------------------------------------------
def maxpool_after(source: str, pads, kernel=(3, 3), strides=(2, 2), own="valid", shape=(None, 7, 7, 2)):
    conv_kernel = np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)

    def build():
        g = Graph()
        x = g.add_input("x", shape)
        if source == "Conv":
            s = g.add(
                "Conv",
                [x],
                name="src",
                attrs=window_attrs("Conv", None, (1, 1), "valid"),
                params={"kernel": conv_kernel, "bias": np.full(2, -5.0, np.float32)},
            )
        elif source == "Input":
            s = x
        elif source == "Relu":
            s = g.add("Relu", [x], name="src")
        else:  # Clip to [0, 6] cannot be negative, Clip to [-1, 1] can
            bounds = {"Clip": {"min": 0.0, "max": 6.0}, "ClipNeg": {"min": -1.0, "max": 1.0}}[source]
            s = g.add("Clip", [x], name="src", attrs=bounds)
        p = g.add("Pad", [s], attrs={"pads": pads})
        g.set_outputs([g.add("MaxPool", [p], name="m", attrs=window_attrs("MaxPool", kernel, strides, own))], ["y"])
        return g

    return build


def source_ref(source, x):
    if source == "Conv":
        return x - 5.0
    if source == "Relu":
        return np.maximum(x, 0)
    if source == "Clip":
        return np.clip(x, 0, 6)
    if source == "ClipNeg":
        return np.clip(x, -1, 1)
    return x


@pytest.mark.parametrize("source", ["Relu", "Clip"])
def test_pad_merges_into_max_pool_after_a_non_negative_op(source):
    pads = ((1, 1), (1, 1))
    ref, g, (report,) = transformed(maxpool_after(source, pads), "resolve_padding")
    node = g.node("m")
    assert g.op_counts()["MaxPool"] == 1 and "Pad" not in g.op_counts()
    assert pads_of(node) == pads
    assert "zero_pads" not in node.attrs
    assert node.inputs == [g.node("src")]
    assert report.summary == "resolved 0 padding modes, merged 1 ZeroPadding2D"
    x = rand((2, 7, 7, 2), 14, shift=-1.0)
    expected = max_pool(pad_nhwc(source_ref(source, x), pads), (3, 3), (2, 2))
    assert_equivalent(ref, g, {"x": x}, [expected])


@pytest.mark.parametrize("source", ["Conv", "Input", "ClipNeg"])
@pytest.mark.parametrize("pads", [((1, 1), (1, 1)), ((2, 0), (0, 1)), ((0, 1), (2, 2))])
def test_pad_merges_into_max_pool_with_zero_border_after_a_signed_op(source, pads):
    ref, g, (report,) = transformed(maxpool_after(source, pads), "resolve_padding")
    node = g.node("m")
    assert "Pad" not in g.op_counts()
    assert pads_of(node) == pads
    assert node.attrs["zero_pads"] == pads
    resolved = 1 if source == "Conv" else 0  # the source Conv's own 'valid'
    assert report.summary == f"resolved {resolved} padding modes, merged 1 ZeroPadding2D"
    x = rand((2, 7, 7, 2), 15, shift=-1.0)
    expected = max_pool(pad_nhwc(source_ref(source, x), pads), (3, 3), (2, 2))
    assert (expected == 0).any()  # the zero border really wins somewhere
    assert_equivalent(ref, g, {"x": x}, [expected])


@pytest.mark.parametrize(
    "pads, kernel, strides",
    [
        (((2, 2), (2, 2)), (2, 2), (2, 2)),
        (((2, 2), (2, 2)), (2, 2), (1, 1)),
        (((3, 0), (0, 3)), (2, 2), (1, 1)),
        (((0, 0), (3, 1)), (3, 3), (1, 2)),
    ],
)
def test_max_pool_with_pads_reaching_the_kernel_keeps_the_pad(pads, kernel, strides):
    ref, g, (report,) = transformed(maxpool_after("Input", pads, kernel, strides), "resolve_padding")
    node = g.node("m")
    assert g.op_counts() == {"Input": 1, "MaxPool": 1, "Pad": 1}
    assert node.inputs[0].op == "Pad" and node.inputs[0].attrs["pads"] == pads
    assert "zero_pads" not in node.attrs
    assert report.summary == "resolved 0 padding modes, merged 0 ZeroPadding2D"
    x = rand((2, 7, 7, 2), 16, shift=-2.0)
    expected = max_pool(pad_nhwc(x, pads), kernel, strides)
    assert (expected == 0).any()
    assert_equivalent(ref, g, {"x": x}, [expected])


@pytest.mark.parametrize("pads", [((1, 1), (1, 1)), ((1, 0), (0, 0)), ((0, 0), (1, 1)), ((1, 1), (0, 0))])
def test_pad_merged_into_a_same_max_pool_keeps_its_own_border_ignored(pads):
    # The pool's own 'same' border is ignored (-inf) while the Pad's is zeros; where the Pad adds
    # nothing on a side, windows touching that side must not see a zero.
    build = maxpool_after("Input", pads, (3, 3), (1, 1), own="same", shape=(None, 6, 6, 2))
    ref, g, _ = transformed(build, "resolve_padding")
    x = rand((2, 6, 6, 2), 17, shift=-3.0)
    padded = pad_nhwc(x, pads)
    own = (tf_same(padded.shape[1], 3, 1), tf_same(padded.shape[2], 3, 1))
    expected = max_pool(padded, (3, 3), (1, 1), own)
    assert_equivalent(ref, g, {"x": x}, [expected])


@pytest.mark.parametrize("source", ["Conv", "Input", "Relu"])
def test_pad_merged_into_max_pool_on_unknown_spatial_size(source):
    pads = ((1, 1), (1, 1))
    build = maxpool_after(source, pads, (3, 3), (2, 2), shape=(None, None, None, 2))
    _, g, _ = transformed(build, "resolve_padding")
    for h, w in ((7, 7), (6, 9)):
        x = rand((1, h, w, 2), h * w, shift=-1.0)
        expected = max_pool(pad_nhwc(source_ref(source, x), pads), (3, 3), (2, 2))
        for level in ("none", "all"):
            np.testing.assert_allclose(run_graph(g, {"x": x}, level)[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("source", ["Input", "Conv"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_pad_before_a_same_max_pool_on_unknown_spatial_size(strides, source):
    pads = ((1, 1), (1, 1))
    build = maxpool_after(source, pads, (3, 3), strides, own="same", shape=(None, None, None, 2))
    _, g, _ = transformed(build, "resolve_padding")
    for h in (6, 7):
        x = rand((1, h, h, 2), h, shift=-2.0)
        padded = pad_nhwc(source_ref(source, x), pads)
        own = (tf_same(h + 2, 3, strides[0]), tf_same(h + 2, 3, strides[1]))
        expected = max_pool(padded, (3, 3), strides, own)
        assert (expected == 0).any()
        for level in ("none", "all"):
            np.testing.assert_allclose(
                run_graph(g, {"x": x}, level)[0], expected, rtol=1e-5, atol=1e-6, err_msg=f"ORT {level}"
            )


def test_every_window_op_in_a_graph_is_visited_once():
    kernel = rand((3, 3, 2, 2), 18)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 9, 9, 2))
        c = g.add("Conv", [x], attrs=window_attrs("Conv", None, (2, 2), "same"), params={"kernel": kernel})
        r = g.add("Relu", [c])
        p = g.add("Pad", [r], attrs={"pads": ((1, 1), (1, 1))})
        m = g.add("MaxPool", [p], attrs=window_attrs("MaxPool", (3, 3), (2, 2), "valid"))
        p2 = g.add("Pad", [m], attrs={"pads": ((0, 1), (0, 1))})
        a = g.add("AveragePool", [p2], attrs=window_attrs("AveragePool", (2, 2), (1, 1), "valid"))
        g.set_outputs([a])
        return g

    ref, g, (report,) = transformed(build, "resolve_padding")
    assert report.summary == "resolved 1 padding modes, merged 2 ZeroPadding2D"
    assert g.op_counts() == {"AveragePool": 1, "Conv": 1, "Input": 1, "MaxPool": 1, "Relu": 1}
    x = rand((2, 9, 9, 2), 19)
    c = np.maximum(conv2d(x, kernel, strides=(2, 2), pads=((1, 1), (1, 1))), 0)
    m = max_pool(pad_nhwc(c, ((1, 1), (1, 1))), (3, 3), (2, 2))
    expected = avg_pool(pad_nhwc(m, ((0, 1), (0, 1))), (2, 2), (1, 1))
    assert_equivalent(ref, g, {"x": x}, [expected])
