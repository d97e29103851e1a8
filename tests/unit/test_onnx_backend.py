"""compiler.backend.to_onnx: validity, names, layout handling and numerics against numpy."""

from __future__ import annotations

import math
import sys

import numpy as np
import onnx
import pytest

import compiler
from compiler import CompileError, Graph, UnsupportedLayerError, to_onnx
from compiler.backend.emitter import EMITTERS
from compiler.ops import OPS
from unit_kit import (
    assert_close,
    avg_pool,
    batch_norm,
    bn_params,
    conv2d,
    conv_transpose2d,
    depthwise2d,
    max_pool,
    onnx_ops,
    pad_nhwc,
    rand,
)


def conv_attrs(padding="valid", strides=(1, 1), dilations=(1, 1), group=1):
    return {"strides": strides, "dilations": dilations, "padding": padding, "group": group}


def tf_same(n, k, s, d=1):
    """TensorFlow's SAME padding for one axis: out = ceil(n/s), the odd pixel after."""
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# A small classifier: one 4-D input, one 2-D output.
K1, B1 = rand((3, 3, 3, 4), 1), rand((4,), 2)
K2 = rand((3, 3, 4, 6), 3)
WD, BD = rand((6, 5), 4), rand((5,), 5)


def classifier(name="net") -> Graph:
    g = Graph(name)
    x = g.add_input("image", (None, 9, 9, 3))
    c1 = g.add("Conv", [x], name="conv1", attrs=conv_attrs("same", (2, 2)), params={"kernel": K1, "bias": B1})
    r = g.add("Relu", [c1])
    m = g.add("MaxPool", [r], attrs={"window": (2, 2), "strides": (1, 1), "padding": "valid"})
    c2 = g.add("Conv", [m], name="conv2", attrs=conv_attrs("valid"), params={"kernel": K2})
    gap = g.add("GlobalAveragePool", [c2], attrs={"keepdims": False})
    d = g.add("Dense", [gap], params={"kernel": WD, "bias": BD})
    g.set_outputs([g.add("Softmax", [d], attrs={"axis": 1})], ["probs"])
    return g


def classifier_ref(x):
    c1 = conv2d(x, K1, B1, (2, 2), (tf_same(9, 3, 2), tf_same(9, 3, 2)))
    m = max_pool(np.maximum(c1, 0), (2, 2), (1, 1))
    gap = conv2d(m, K2).mean(axis=(1, 2))
    return softmax(gap @ WD + BD)


# -- validity and interface ---------------------------------------------------------------------
def test_model_is_checker_clean_with_a_recent_opset_and_symbolic_batch():
    model = to_onnx(classifier())
    onnx.checker.check_model(model, full_check=True)
    opsets = {o.domain: o.version for o in model.opset_import}
    assert opsets.get("", opsets.get("ai.onnx", 0)) >= 17
    for value in (*model.graph.input, *model.graph.output):
        batch = value.type.tensor_type.shape.dim[0]
        assert batch.dim_param and not batch.HasField("dim_value"), value.name
    (inp,) = model.graph.input
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]] == [9, 9, 3]
    (out,) = model.graph.output
    assert out.type.tensor_type.shape.dim[1].dim_value == 5
    assert model.producer_name == "kerascc"
    assert model.graph.name == "net"


def test_higher_opset_is_honoured():
    model = to_onnx(classifier(), opset=19)
    assert {o.domain: o.version for o in model.opset_import}[""] == 19
    onnx.checker.check_model(model, full_check=True)


def test_input_and_output_names_come_from_the_ir():
    g = Graph()
    a = g.add_input("pixels", (None, 4, 4, 2))
    b = g.add_input("extra", (None, 3))
    r = g.add("Relu", [a], name="relu_layer")
    t = g.add("Tanh", [b], name="tanh_layer")
    g.set_outputs([t, r], ["scores", "features"])
    model = to_onnx(g)
    assert [i.name for i in model.graph.input] == ["pixels", "extra"]
    assert [o.name for o in model.graph.output] == ["scores", "features"]
    xa, xb = rand((2, 4, 4, 2), 6), rand((2, 3), 7)
    assert_close(model, {"pixels": xa, "extra": xb}, [np.tanh(xb), np.maximum(xa, 0)])


def test_output_name_clashing_with_a_node_name():
    g = Graph()
    x = g.add_input("x", (None, 3))
    r = g.add("Relu", [x], name="relu")
    t = g.add("Tanh", [r], name="tanh")
    g.set_outputs([t, r], ["relu", "tanh"])  # swapped on purpose
    model = to_onnx(g)
    assert [o.name for o in model.graph.output] == ["relu", "tanh"]
    x_ = rand((2, 3), 8)
    assert_close(model, {"x": x_}, [np.tanh(np.maximum(x_, 0)), np.maximum(x_, 0)])


def test_an_input_can_be_an_output():
    g = Graph()
    x = g.add_input("x", (None, 2, 2, 3))
    g.set_outputs([x, g.add("Relu", [x])], ["same", "relu"])
    model = to_onnx(g)
    x_ = rand((1, 2, 2, 3), 9)
    assert_close(model, {"x": x_}, [x_, np.maximum(x_, 0)])


def test_unknown_op_is_an_unsupported_layer_error():
    g = Graph()
    x = g.add_input("x", (None, 3))
    g.set_outputs([g.add("Frobnicate", [x], layer="weird_layer", shape=(None, 3))])
    with pytest.raises(UnsupportedLayerError, match="no ONNX lowering for IR op Frobnicate") as info:
        to_onnx(g)
    assert info.value.layer == "weird_layer"


def test_bad_input_layout_is_a_compile_error():
    with pytest.raises(CompileError, match="input layout"):
        to_onnx(classifier(), input_layout="hwcn")


# -- layout ---------------------------------------------------------------------------------------
def test_conv_net_costs_exactly_one_transpose():
    model = to_onnx(classifier())
    ops = onnx_ops(model)
    assert ops.count("Transpose") == 1
    first = model.graph.node[ops.index("Transpose")]
    assert list(first.input) == ["image"]
    assert list(first.attribute[0].ints) == [0, 3, 1, 2]
    x = rand((3, 9, 9, 3), 10)
    assert_close(model, {"image": x}, [classifier_ref(x)])


def test_nchw_input_layout_removes_the_transpose():
    model = to_onnx(classifier(), input_layout="nchw")
    assert "Transpose" not in onnx_ops(model)
    (inp,) = model.graph.input
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]] == [3, 9, 9]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["kerascc.input_layout"] == "nchw"
    x = rand((2, 9, 9, 3), 11)
    assert_close(model, {"image": np.ascontiguousarray(x.transpose(0, 3, 1, 2))}, [classifier_ref(x)])


def test_four_d_output_is_returned_in_keras_layout():
    g = Graph()
    x = g.add_input("x", (None, 5, 6, 3))
    c = g.add("Conv", [x], attrs=conv_attrs("same"), params={"kernel": K1})
    g.set_outputs([c], ["fmap"])
    model = to_onnx(g)
    assert onnx_ops(model).count("Transpose") == 2
    (out,) = model.graph.output
    assert [d.dim_value for d in out.type.tensor_type.shape.dim[1:]] == [5, 6, 4]
    x_ = rand((2, 5, 6, 3), 12)
    assert_close(model, {"x": x_}, [conv2d(x_, K1, pads=((1, 1), (1, 1)))])


def flatten_dense(flatten_users=("Dense",)):
    kc = rand((2, 2, 3, 4), 13)
    kd, bd = rand((3 * 4 * 4, 6), 14), rand((6,), 15)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 5, 3))
        c = g.add("Conv", [x], attrs=conv_attrs("valid", (1, 1)), params={"kernel": kc})
        f = g.add("Flatten", [c])
        outs = [g.add("Dense", [f], params={"kernel": kd, "bias": bd})]
        if "Dense2" in flatten_users:
            outs.append(g.add("Dense", [f], params={"kernel": kd}))
        g.set_outputs(outs)
        return g

    def ref(x):
        flat = conv2d(x, kc).reshape(x.shape[0], -1)  # NHWC order, as Keras flattens
        outs = [flat @ kd + bd]
        if "Dense2" in flatten_users:
            outs.append(flat @ kd)
        return outs

    return build, ref


def test_flatten_then_dense_reorders_weights_instead_of_transposing():
    build, ref = flatten_dense()
    model = to_onnx(build())
    ops = onnx_ops(model)
    assert ops.count("Transpose") == 1  # the input's, before the Conv
    assert ops.index("Transpose") < ops.index("Conv")
    assert "Gather" not in ops
    x = rand((3, 4, 5, 3), 16)
    assert_close(model, {"x": x}, ref(x))

    nchw = to_onnx(build(), input_layout="nchw")
    assert "Transpose" not in onnx_ops(nchw) and "Gather" not in onnx_ops(nchw)
    assert_close(nchw, {"x": np.ascontiguousarray(x.transpose(0, 3, 1, 2))}, ref(x))


def test_flatten_feeding_two_dense_layers():
    build, ref = flatten_dense(flatten_users=("Dense", "Dense2"))
    model = to_onnx(build(), input_layout="nchw")
    assert "Transpose" not in onnx_ops(model)
    x = rand((2, 4, 5, 3), 17)
    assert_close(model, {"x": np.ascontiguousarray(x.transpose(0, 3, 1, 2))}, ref(x))


@pytest.mark.parametrize("after", ["output", "relu_then_dense", "reshape"])
def test_flatten_not_followed_by_dense_keeps_keras_order(after):
    kc = rand((2, 2, 3, 4), 18)
    kd = rand((48, 2), 19)
    g = Graph()
    x = g.add_input("x", (None, 4, 5, 3))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kc})
    if after == "reshape":
        g.set_outputs([g.add("Reshape", [c], attrs={"shape": (12, 4)})])
    else:
        f = g.add("Flatten", [c])
        g.set_outputs([f] if after == "output" else [g.add("Dense", [g.add("Relu", [f])], params={"kernel": kd})])
    model = to_onnx(g)
    x_ = rand((2, 4, 5, 3), 20)
    feat = conv2d(x_, kc)
    expected = {
        "output": feat.reshape(2, -1),
        "relu_then_dense": np.maximum(feat.reshape(2, -1), 0) @ kd,
        "reshape": feat.reshape(2, 12, 4),
    }[after]
    assert_close(model, {"x": x_}, [expected])


def test_dense_on_a_feature_map_is_a_one_by_one_conv():
    kd, bd = rand((4, 7), 21), rand((7,), 22)
    g = Graph()
    x = g.add_input("x", (None, 5, 5, 3))
    c = g.add("Conv", [x], attrs=conv_attrs("same"), params={"kernel": K1})
    d = g.add("Dense", [c], params={"kernel": kd, "bias": bd})
    g.set_outputs([g.add("Relu", [d])])
    model = to_onnx(g)
    ops = onnx_ops(model)
    assert ops.count("Conv") == 2
    assert "MatMul" not in ops and "Gemm" not in ops
    dense_conv = [n for n in model.graph.node if n.op_type == "Conv"][1]
    shapes = {i.name: list(i.dims) for i in model.graph.initializer}
    assert shapes[dense_conv.input[1]] == [7, 4, 1, 1]
    x_ = rand((2, 5, 5, 3), 23)
    assert_close(model, {"x": x_}, [np.maximum(conv2d(x_, K1, pads=((1, 1), (1, 1))) @ kd + bd, 0)])


@pytest.mark.parametrize("shape", [(None, 4, 5, 3), (None, 6, 3)])
def test_dense_on_a_raw_tensor_is_a_matmul(shape):
    kd, bd = rand((3, 2), 24), rand((2,), 25)
    g = Graph()
    x = g.add_input("x", shape)
    g.set_outputs([g.add("Dense", [x], params={"kernel": kd, "bias": bd})])
    model = to_onnx(g)
    assert "Transpose" not in onnx_ops(model) and "MatMul" in onnx_ops(model)
    x_ = rand((2, *shape[1:]), 26)
    assert_close(model, {"x": x_}, [x_ @ kd + bd])


def test_concat_on_the_channel_axis_of_conv_outputs_is_onnx_axis_1():
    ka, kb = rand((1, 1, 3, 2), 27), rand((3, 3, 3, 5), 28)
    g = Graph()
    x = g.add_input("x", (None, 6, 6, 3))
    a = g.add("Conv", [x], attrs=conv_attrs("same"), params={"kernel": ka})
    b = g.add("Conv", [x], attrs=conv_attrs("same"), params={"kernel": kb})
    cat = g.add("Concat", [a, b, a], attrs={"axis": 3})
    g.set_outputs([g.add("GlobalMaxPool", [cat])])
    model = to_onnx(g)
    (node,) = [n for n in model.graph.node if n.op_type == "Concat"]
    assert onnx.helper.get_attribute_value(node.attribute[0]) == 1
    assert onnx_ops(model).count("Transpose") == 1
    x_ = rand((2, 6, 6, 3), 29)
    fa, fb = conv2d(x_, ka), conv2d(x_, kb, pads=((1, 1), (1, 1)))
    assert_close(model, {"x": x_}, [np.concatenate([fa, fb, fa], axis=-1).max(axis=(1, 2))])


@pytest.mark.parametrize("axis", [1, 2, 3])
def test_concat_of_raw_and_conv_tensors(axis):
    g = Graph()
    x = g.add_input("x", (None, 4, 4, 3))
    y = g.add_input("y", (None, 4, 4, 3))
    c = g.add("Conv", [y], attrs=conv_attrs("same"), params={"kernel": rand((3, 3, 3, 3), 30)})
    g.set_outputs([g.add("Concat", [x, c], attrs={"axis": axis}), g.add("Concat", [c, x], attrs={"axis": axis})])
    model = to_onnx(g)
    x_, y_ = rand((2, 4, 4, 3), 31), rand((2, 4, 4, 3), 32)
    cy = conv2d(y_, rand((3, 3, 3, 3), 30), pads=((1, 1), (1, 1)))
    assert_close(model, {"x": x_, "y": y_}, [np.concatenate([x_, cy], axis), np.concatenate([cy, x_], axis)])


def test_channels_first_transpose_pairs_cost_nothing():
    k = rand((3, 3, 2, 4), 33)
    g = Graph()
    x = g.add_input("x", (None, 2, 6, 7))  # a channels_first Keras model: (C, H, W)
    inner = g.add("Transpose", [x], attrs={"perm": (0, 2, 3, 1)})
    c = g.add("Conv", [inner], attrs=conv_attrs("same"), params={"kernel": k})
    r = g.add("Relu", [c])
    back = g.add("Transpose", [r], attrs={"perm": (0, 3, 1, 2)})
    g.set_outputs([back], ["y"])
    model = to_onnx(g)
    assert "Transpose" not in onnx_ops(model)
    x_ = rand((2, 2, 6, 7), 34)
    expected = np.maximum(conv2d(x_.transpose(0, 2, 3, 1), k, pads=((1, 1), (1, 1))), 0).transpose(0, 3, 1, 2)
    assert_close(model, {"x": x_}, [expected])


def test_elementwise_between_conv_output_and_raw_input():
    k = rand((3, 3, 3, 3), 35)
    g = Graph()
    x = g.add_input("x", (None, 5, 5, 3))
    c = g.add("Conv", [x], attrs=conv_attrs("same"), params={"kernel": k})
    g.set_outputs([g.add("Add", [c, x]), g.add("Mul", [x, c])])
    x_ = rand((2, 5, 5, 3), 36)
    conv = conv2d(x_, k, pads=((1, 1), (1, 1)))
    assert_close(to_onnx(g), {"x": x_}, [conv + x_, x_ * conv])


@pytest.mark.parametrize("axis", [1, 2, 3])
def test_softmax_axis_follows_the_layout(axis):
    g = Graph()
    x = g.add_input("x", (None, 3, 4, 5))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": rand((1, 1, 5, 5), 37)})
    g.set_outputs([g.add("Softmax", [c], attrs={"axis": axis})])
    x_ = rand((2, 3, 4, 5), 38)
    assert_close(to_onnx(g), {"x": x_}, [softmax(conv2d(x_, rand((1, 1, 5, 5), 37)), axis)])


# -- determinism and metadata ------------------------------------------------------------------
def test_two_compiles_of_the_same_graph_are_byte_identical():
    first = to_onnx(classifier()).SerializeToString(deterministic=True)
    second = to_onnx(classifier()).SerializeToString(deterministic=True)
    assert first == second
    g = classifier()
    assert to_onnx(g).SerializeToString(deterministic=True) == to_onnx(g).SerializeToString(deterministic=True)


def test_metadata_props_carry_what_was_passed():
    g = classifier()
    g.meta["kerascc.source"] = "model.json"
    g.meta["shared"] = "from graph"
    model = to_onnx(g, metadata={"kerascc.preprocess": "caffe", "shared": "from call", "number": 3})
    props = [(p.key, p.value) for p in model.metadata_props]
    assert props == sorted(props)
    assert dict(props) == {
        "kerascc.input_layout": "nhwc",
        "kerascc.preprocess": "caffe",
        "kerascc.source": "model.json",
        "kerascc.target": "onnx",
        "number": "3",
        "shared": "from call",
    }


# -- numerics of the window ops -------------------------------------------------------------------
@pytest.mark.parametrize(
    "pads, strides, dilations",
    [
        (((0, 2), (1, 0)), (2, 2), (1, 1)),
        (((2, 1), (0, 3)), (1, 2), (1, 1)),
        (((1, 0), (2, 2)), (1, 1), (2, 1)),
        ("same", (2, 2), (1, 1)),
        ("valid", (3, 2), (1, 1)),
    ],
)
def test_conv_matches_numpy(pads, strides, dilations):
    k, b = rand((3, 4, 3, 5), 39), rand((5,), 40)
    g = Graph()
    x = g.add_input("x", (None, 8, 9, 3))
    g.set_outputs([g.add("Conv", [x], attrs=conv_attrs(pads, strides, dilations), params={"kernel": k, "bias": b})])
    if pads == "same":
        explicit = (tf_same(8, 3, strides[0], dilations[0]), tf_same(9, 4, strides[1], dilations[1]))
    elif pads == "valid":
        explicit = ((0, 0), (0, 0))
    else:
        explicit = pads
    x_ = rand((2, 8, 9, 3), 41)
    assert_close(to_onnx(g), {"x": x_}, [conv2d(x_, k, b, strides, explicit, dilations)])


def test_grouped_and_depthwise_conv_match_numpy():
    kg = rand((3, 3, 2, 6), 42)  # 4 input channels in 2 groups
    kd, bd = rand((3, 3, 4, 2), 43), rand((8,), 44)
    g = Graph()
    x = g.add_input("x", (None, 6, 6, 4))
    grouped = g.add("Conv", [x], attrs=conv_attrs(((1, 0), (0, 1)), group=2), params={"kernel": kg})
    dw = g.add("DepthwiseConv", [x], attrs=conv_attrs(((0, 1), (2, 0)), (2, 1)), params={"kernel": kd, "bias": bd})
    g.set_outputs([grouped, dw])
    x_ = rand((2, 6, 6, 4), 45)
    assert_close(
        to_onnx(g),
        {"x": x_},
        [
            conv2d(x_, kg, pads=((1, 0), (0, 1)), group=2),
            depthwise2d(x_, kd, bd, (2, 1), ((0, 1), (2, 0))),
        ],
    )


@pytest.mark.parametrize("h, w", [(7, 7), (8, 6), (5, 9)])
def test_strided_same_conv_on_unknown_sizes_uses_tensorflow_padding(h, w):
    k = rand((3, 4, 2, 3), 46)
    g = Graph()
    x = g.add_input("x", (None, None, None, 2))
    c = g.add("Conv", [x], attrs=conv_attrs("same", (2, 2)), params={"kernel": k})
    p = g.add("MaxPool", [c], attrs={"window": (3, 3), "strides": (2, 2), "padding": "same"})
    g.set_outputs([c, p])
    model = to_onnx(g)
    x_ = rand((1, h, w, 2), h * w)

    conv = conv2d(x_, k, strides=(2, 2), pads=(tf_same(h, 3, 2), tf_same(w, 4, 2)))
    ch, cw = conv.shape[1:3]
    pooled = max_pool(conv, (3, 3), (2, 2), (tf_same(ch, 3, 2), tf_same(cw, 3, 2)))
    assert_close(model, {"x": x_}, [conv, pooled])


@pytest.mark.parametrize(
    "padding, strides, dilations, output_padding, size",
    [
        ("valid", (2, 2), (1, 1), None, (4, 5)),
        ("same", (2, 2), (1, 1), None, (4, 5)),
        ("same", (2, 3), (1, 1), None, (3, 3)),
        ("valid", (1, 1), (2, 2), None, (4, 4)),
        ("valid", (3, 3), (1, 1), None, (3, 2)),  # stride > kernel
        ("same", (2, 2), (1, 1), (1, 1), (4, 4)),
        ("valid", (2, 2), (1, 1), (1, 0), (3, 4)),
    ],
)
def test_conv_transpose_matches_numpy(padding, strides, dilations, output_padding, size):
    k, b = rand((3, 2, 4, 3), 47), rand((4,), 48)  # (kh, kw, cout, cin)
    g = Graph()
    x = g.add_input("x", (None, *size, 3))
    attrs = {"strides": strides, "dilations": dilations, "padding": padding, "output_padding": output_padding}
    y = g.add("ConvTranspose", [x], attrs=attrs, params={"kernel": k, "bias": b})
    g.set_outputs([y])
    out = y.shape[1:3]
    crop = []
    for _n, length, kk, s, d in zip(size, out, k.shape[:2], strides, dilations, strict=False):
        k_eff = (kk - 1) * d + 1
        # TensorFlow's gradient of a conv from `length` to `n`: SAME pads that conv, VALID does not
        total = max((math.ceil(length / s) - 1) * s + k_eff - length, 0) if padding == "same" else 0
        crop.append(total // 2)
    x_ = rand((2, *size, 3), 49)
    assert_close(to_onnx(g), {"x": x_}, [conv_transpose2d(x_, k, b, strides, dilations, out, crop)])


def test_pools_and_pad_match_numpy():
    g = Graph()
    x = g.add_input("x", (None, 7, 8, 2))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)})
    p = g.add("Pad", [c], attrs={"pads": ((1, 2), (0, 3))})
    g.set_outputs(
        [
            p,
            g.add("MaxPool", [c], attrs={"window": (3, 2), "strides": (2, 2), "padding": ((1, 1), (0, 1))}),
            g.add("AveragePool", [c], attrs={"window": (3, 3), "strides": (1, 2), "padding": ((1, 1), (1, 1))}),
            g.add(
                "AveragePool",
                [c],
                attrs={"window": (3, 3), "strides": (1, 2), "padding": ((1, 1), (1, 1)), "count_include_pad": True},
            ),
            g.add("GlobalAveragePool", [c], attrs={"keepdims": True}),
            g.add("GlobalMaxPool", [c]),
        ]
    )
    x_ = rand((2, 7, 8, 2), 50, shift=-1.0)
    assert_close(
        to_onnx(g),
        {"x": x_},
        [
            pad_nhwc(x_, ((1, 2), (0, 3))),
            max_pool(x_, (3, 2), (2, 2), ((1, 1), (0, 1))),
            avg_pool(x_, (3, 3), (1, 2), ((1, 1), (1, 1))),
            avg_pool(x_, (3, 3), (1, 2), ((1, 1), (1, 1)), count_pad=True),
            x_.mean(axis=(1, 2), keepdims=True),
            x_.max(axis=(1, 2)),
        ],
    )


@pytest.mark.parametrize("source", ["Input", "Conv"])
def test_pad_then_max_pool_without_passes_is_exact(source):
    # Lowered as is (no resolve_padding), the zeros of the Pad must still take part in the max.
    g = Graph()
    x = g.add_input("x", (None, 6, 6, 2))
    s = (
        x
        if source == "Input"
        else g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)})
    )
    p = g.add("Pad", [s], attrs={"pads": ((1, 1), (1, 1))})
    g.set_outputs([g.add("MaxPool", [p], attrs={"window": (3, 3), "strides": (2, 2), "padding": "valid"})])
    x_ = rand((2, 6, 6, 2), 51, shift=-3.0)
    expected = max_pool(pad_nhwc(x_, ((1, 1), (1, 1))), (3, 3), (2, 2))
    assert (expected == 0).any()
    assert_close(to_onnx(g), {"x": x_}, [expected])


def test_batchnorm_on_channels_and_on_another_axis():
    bn_c, bn_h = bn_params(3, 52), bn_params(4, 53)
    g = Graph()
    x = g.add_input("x", (None, 4, 5, 3))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)})
    g.set_outputs(
        [
            g.add("BatchNorm", [c], attrs={"axis": 3, "epsilon": 1e-3}, params=bn_c),
            g.add("BatchNorm", [c], attrs={"axis": 1, "epsilon": 1e-5}, params=bn_h),
        ]
    )
    model = to_onnx(g)
    (bn_node,) = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert math.isclose(onnx.helper.get_attribute_value(bn_node.attribute[0]), 1e-3, rel_tol=1e-6)
    x_ = rand((2, 4, 5, 3), 54)
    assert_close(model, {"x": x_}, [batch_norm(x_, **bn_c, eps=1e-3), batch_norm(x_, **bn_h, eps=1e-5, axis=1)])


def test_nearest_resize_and_fused_add_relu():
    g = Graph()
    x = g.add_input("x", (None, 3, 4, 2))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)})
    up = g.add("Resize", [c], attrs={"scale": (2, 3), "mode": "nearest"})
    g.set_outputs([up, g.add("FusedAddRelu", [c, x])])
    x_ = rand((2, 3, 4, 2), 55)
    assert_close(to_onnx(g), {"x": x_}, [x_.repeat(2, axis=1).repeat(3, axis=2), np.maximum(2 * x_, 0)])


def test_compile_accepts_a_graph_and_runs_no_passes_when_asked():
    model = compiler.compile(classifier(), passes=[])
    assert model.report == []
    assert model.metadata["kerascc.preprocess"] == "none"
    x = rand((2, 9, 9, 3), 56)
    assert_close(model.onnx, {"image": x}, [classifier_ref(x)])
    with pytest.raises(CompileError, match="preprocessing"):
        compiler.compile(classifier(), preprocess="bogus")
    with pytest.raises(CompileError, match="opset 13"):
        compiler.compile(classifier(), opset=13)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_flatten_of_the_input_then_dense(layout):
    kd = rand((2 * 3 * 4, 5), 57)
    g = Graph()
    x = g.add_input("x", (None, 2, 3, 4))
    g.set_outputs([g.add("Dense", [g.add("Flatten", [x])], params={"kernel": kd})])
    model = to_onnx(g, input_layout=layout)
    assert "Transpose" not in onnx_ops(model)
    x_ = rand((3, 2, 3, 4), 58)
    feed = x_ if layout == "nhwc" else np.ascontiguousarray(x_.transpose(0, 3, 1, 2))
    assert_close(model, {"x": feed}, [x_.reshape(3, -1) @ kd])


def test_keepdims_pool_dense_flatten_dense_chain():
    k1, k2 = rand((3, 6), 59), rand((6, 2), 60)
    g = Graph()
    x = g.add_input("x", (None, 4, 4, 3))
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)})
    p = g.add("GlobalAveragePool", [c], attrs={"keepdims": True})
    d = g.add("Dense", [p], params={"kernel": k1})
    f = g.add("Flatten", [d])
    g.set_outputs([g.add("Dense", [f], params={"kernel": k2})])
    x_ = rand((2, 4, 4, 3), 61)
    pooled = x_.mean(axis=(1, 2), keepdims=True)
    assert_close(to_onnx(g), {"x": x_}, [(pooled @ k1).reshape(2, -1) @ k2])


# -- the package's registries ---------------------------------------------------------------------------
def test_every_op_in_the_table_has_a_lowering_and_every_lowering_an_op():
    assert set(EMITTERS) == set(OPS)


def test_ort_target_without_onnxruntime_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when it is missing
    with pytest.raises(CompileError, match="onnxruntime is not installed") as info:
        compiler.compile(classifier(), target="ort")
    assert "kerascc[cpu]" in (info.value.hint or "")
