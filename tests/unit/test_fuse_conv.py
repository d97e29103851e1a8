"""passes.fuse_conv on hand-made graphs, lowered for every target.

Each rewritten graph is compared with the graph before the pass: the reference runs as standard
ONNX with onnxruntime's optimizations off, the rewritten one is lowered for the ``onnx``, ``ort``
(``to_onnx`` alone, no ahead-of-time stage) and ``tensorrt`` targets and run with onnxruntime's
optimizations off and on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest
from onnx import helper

import compiler
from compiler import CompileError, Graph, to_onnx
from unit_kit import conv2d, depthwise2d, rand, run_graph, run_model, transformed

TARGETS = ("onnx", "ort", "tensorrt")
LEVELS = ("none", "all")
TOL = {"rtol": 1e-4, "atol": 1e-4}
MS = "com.microsoft"
NOTHING = "fused 0 residual Add, 0 activations into Conv/Dense"


def summary(residual: int, activations: int) -> str:
    return f"fused {residual} residual Add, {activations} activations into Conv/Dense"


# -- building blocks -----------------------------------------------------------------------------
def conv_attrs(padding="same", strides=(1, 1), dilations=(1, 1), group=1, **extra):
    return {"strides": strides, "dilations": dilations, "padding": padding, "group": group, **extra}


def conv(g: Graph, x, cout: int, seed: int, *, bias: bool = True, name: str | None = None, **attrs):
    params = {"kernel": rand((3, 3, x.shape[-1], cout), seed, scale=0.3)}
    if bias:
        params["bias"] = rand((cout,), seed + 100)
    return g.add("Conv", [x], name=name, layer=name, attrs=conv_attrs(**attrs), params=params)


def depthwise(g: Graph, x, seed: int, *, bias: bool = True, name: str | None = None, **attrs):
    params = {"kernel": rand((3, 3, x.shape[-1], 1), seed, scale=0.5)}
    if bias:
        params["bias"] = rand((x.shape[-1],), seed + 100)
    return g.add("DepthwiseConv", [x], name=name, layer=name, attrs=conv_attrs(**attrs), params=params)


def conv_transpose(g: Graph, x, cout: int, seed: int, name: str | None = None):
    attrs = {"strides": (2, 2), "dilations": (1, 1), "padding": "same", "output_padding": None}
    params = {"kernel": rand((3, 3, cout, x.shape[-1]), seed, scale=0.3), "bias": rand((cout,), seed + 100)}
    return g.add("ConvTranspose", [x], name=name, layer=name, attrs=attrs, params=params)


def dense(g: Graph, x, units: int, seed: int, name: str | None = None):
    params = {"kernel": rand((x.shape[-1], units), seed, scale=0.5), "bias": rand((units,), seed + 100)}
    return g.add("Dense", [x], name=name, layer=name, params=params)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


#: The fusable activations: IR attributes, numpy definition, FusedConv activation_params.
ACTIVATIONS = {
    "Relu": ({}, lambda v: np.maximum(v, 0), None),
    "Clip": ({"min": -0.5, "max": 1.5}, lambda v: np.clip(v, -0.5, 1.5), [-0.5, 1.5]),
    "LeakyRelu": ({"alpha": 0.3}, lambda v: np.where(v > 0, v, 0.3 * v), [0.3]),
    "Sigmoid": ({}, sigmoid, None),
    "Tanh": ({}, np.tanh, None),
    "HardSigmoid": ({"alpha": 0.25, "beta": 0.4}, lambda v: np.clip(0.25 * v + 0.4, 0, 1), [0.25, 0.4]),
}


# -- lowering and checking ------------------------------------------------------------------------
def ops(model: onnx.ModelProto) -> list[str]:
    """Op types in graph order, domain-qualified outside the default domain, without Transposes."""
    return [
        f"{n.domain}.{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type
        for n in model.graph.node
        if n.op_type != "Transpose"
    ]


def attrs_of(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def join_ops(model: onnx.ModelProto) -> list[str]:
    return [op for op in ops(model) if op in ("Add", "Sub", "Mul", "Max")]


def fused_convs(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "FusedConv"]


def assert_opsets_match_use(model: onnx.ModelProto) -> None:
    """A non-default domain is imported exactly when one of the graph's nodes uses it."""
    used = {n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")}
    imported = {o.domain for o in model.opset_import if o.domain not in ("", "ai.onnx")}
    assert imported == used, (imported, used)
    if used:
        assert {o.domain: o.version for o in model.opset_import}[MS] == 1


def lower_all(
    reference: Graph,
    graph: Graph,
    feeds: dict[str, np.ndarray],
    expected: list[np.ndarray] | None = None,
) -> dict[str, onnx.ModelProto]:
    """Lower ``graph`` for every target; each computes what ``reference`` computes, at both ORT levels."""
    want = run_graph(reference, feeds, "none")
    if expected is not None:
        for w, e in zip(want, expected, strict=True):
            np.testing.assert_allclose(w, e, **TOL, err_msg="reference graph against numpy")
    models = {}
    for target in TARGETS:
        model = to_onnx(graph, target=target)
        onnx.checker.check_model(model, full_check=True)
        assert_opsets_match_use(model)
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["kerascc.target"] == target
        assert [o.name for o in model.graph.output] == graph.output_names
        for level in LEVELS:
            got = run_model(model, feeds, level)
            assert len(got) == len(want)
            for i, (gv, wv) in enumerate(zip(got, want, strict=False)):
                assert gv.shape == wv.shape, (target, level, i)
                np.testing.assert_allclose(gv, wv, **TOL, err_msg=f"target {target}, ORT {level}, output {i}")
        models[target] = model
    return models


def fuse(build: Callable[[], Graph]):
    """(reference, rewritten graph, the pass's summary)."""
    ref, g, (report,) = transformed(build, "fuse_conv")
    return ref, g, report.summary


# -- residual joins -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["Conv", "DepthwiseConv"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("conv_slot", [0, 1])
@pytest.mark.parametrize("join", ["FusedAddRelu", "Add"])
def test_residual_join_becomes_the_convs_second_operand(join, conv_slot, bias, kind):
    shape = (None, 5, 6, 4)

    def build():
        g = Graph()
        x = g.add_input("x", shape)
        z = g.add_input("z", shape)
        c = (
            conv(g, x, 4, 1, bias=bias, name="branch")
            if kind == "Conv"
            else depthwise(g, x, 1, bias=bias, name="branch")
        )
        operands = [c, z] if conv_slot == 0 else [z, c]
        g.set_outputs([g.add(join, operands, name="join", layer="join_layer")], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(1, 0)
    assert g.op_counts() == {"Input": 2, kind: 1}
    (fused,) = g.nodes(kind)
    old = ref.node("branch")
    x, z = g.inputs
    assert fused.inputs == [x, z]
    assert fused.attrs.get("activation") == ({"op": "Relu"} if join == "FusedAddRelu" else None)
    assert {k: v for k, v in fused.attrs.items() if k != "activation"} == old.attrs
    assert sorted(fused.params) == sorted(old.params)
    for key, value in old.params.items():
        np.testing.assert_array_equal(fused.params[key], value)
    assert fused.layer == "branch" and fused.shape == shape
    assert g.outputs == [fused] and g.output_names == ["out"]

    xv, zv = rand((2, 5, 6, 4), 2), rand((2, 5, 6, 4), 3)
    p = old.params
    lin = (
        conv2d(xv, p["kernel"], p.get("bias"), pads=((1, 1), (1, 1)))
        if kind == "Conv"
        else depthwise2d(xv, p["kernel"], p.get("bias"), pads=((1, 1), (1, 1)))
    )
    total = lin + zv
    models = lower_all(ref, g, {"x": xv, "z": zv}, [np.maximum(total, 0) if join == "FusedAddRelu" else total])

    tail = ["Conv", "Add", "Relu"] if join == "FusedAddRelu" else ["Conv", "Add"]
    assert ops(models["onnx"]) == tail
    assert ops(models["tensorrt"]) == tail
    assert ops(models["ort"]) == [f"{MS}.FusedConv"]
    (node,) = fused_convs(models["ort"])
    assert len(node.input) == 4
    assert (node.input[2] == "") is (not bias)
    assert node.input[3] != "" and node.input[3] != node.input[0]
    a = attrs_of(node)
    if join == "FusedAddRelu":
        assert a["activation"] == "Relu" and "activation_params" not in a
    else:
        assert "activation" not in a
    assert a["group"] == (4 if kind == "DepthwiseConv" else 1)
    assert a["kernel_shape"] == [3, 3] and a["pads"] == [1, 1, 1, 1]


def test_relu_of_add_not_yet_fused_gets_both_rewrites():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 3))
        c = conv(g, x, 3, 4)
        g.set_outputs([g.add("Relu", [g.add("Add", [x, c])])], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(1, 1)
    (fused,) = g.nodes("Conv")
    assert fused.inputs == [g.inputs[0], g.inputs[0]]
    assert fused.attrs["activation"] == {"op": "Relu"}
    models = lower_all(ref, g, {"x": rand((2, 5, 5, 3), 5)})
    assert ops(models["onnx"]) == ["Conv", "Add", "Relu"]
    assert ops(models["ort"]) == [f"{MS}.FusedConv"]


@pytest.mark.parametrize("act", ["Clip", "LeakyRelu", "Tanh", "HardSigmoid"])
def test_residual_then_activation_keeps_the_sum_inside_the_activation(act):
    attrs, fn, params = ACTIVATIONS[act]

    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        z = g.add_input("z", (None, 4, 4, 3))
        c = conv(g, x, 3, 6, bias=False)
        g.set_outputs([g.add(act, [g.add("Add", [c, z])], attrs=attrs)], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(1, 1)
    (fused,) = g.nodes("Conv")
    assert len(fused.inputs) == 2 and fused.attrs["activation"] == {"op": act, **attrs}
    xv, zv = rand((2, 4, 4, 3), 7), rand((2, 4, 4, 3), 8)
    kernel = ref.nodes("Conv")[0].params["kernel"]
    expected = fn(conv2d(xv, kernel, pads=((1, 1), (1, 1))) + zv)
    models = lower_all(ref, g, {"x": xv, "z": zv}, [expected])
    assert ops(models["onnx"]) == ["Conv", "Add", act] == ops(models["tensorrt"])
    (node,) = fused_convs(models["ort"])
    assert len(node.input) == 4 and node.input[2] == ""
    a = attrs_of(node)
    assert a["activation"] == act
    if params is None:
        assert "activation_params" not in a
    else:
        np.testing.assert_allclose(a["activation_params"], params, rtol=1e-6)


@pytest.mark.parametrize("order", ["first_second", "second_first"])
@pytest.mark.parametrize("join", ["FusedAddRelu", "Add"])
def test_of_two_conv_operands_the_later_one_is_fused(join, order):
    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 4))
        first = conv(g, x, 4, 10, name="first")
        second = conv(g, x, 4, 11, name="second")
        operands = [first, second] if order == "first_second" else [second, first]
        g.set_outputs([g.add(join, operands)], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(1, 0)
    convs = g.nodes("Conv")
    assert len(convs) == 2
    kept, fused = convs
    assert kept.name == "first" and kept.inputs == [g.inputs[0]] and not kept.attrs.get("activation")
    assert fused.layer == "second" and fused.inputs == [g.inputs[0], kept]
    np.testing.assert_array_equal(fused.params["kernel"], ref.node("second").params["kernel"])
    models = lower_all(ref, g, {"x": rand((2, 5, 5, 4), 12)})
    assert ops(models["ort"]) == ["Conv", f"{MS}.FusedConv"]
    assert ops(models["onnx"]) == ["Conv", "Conv", "Add"] + (["Relu"] if join == "FusedAddRelu" else [])


@pytest.mark.parametrize("blocker", ["second_consumer", "already_activated", "is_output"])
def test_the_earlier_conv_is_fused_when_the_later_one_cannot_be(blocker):
    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 4))
        first = conv(g, x, 4, 13, name="first")
        extra = {"activation": {"op": "Relu"}} if blocker == "already_activated" else {}
        second = conv(g, x, 4, 14, name="second", **extra)
        join = g.add("FusedAddRelu", [second, first], name="join")
        if blocker == "second_consumer":
            g.set_outputs([join, g.add("Sub", [second, x])], ["out", "other"])
        elif blocker == "is_output":
            g.set_outputs([join, second], ["out", "other"])
        else:
            g.set_outputs([join], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(1, 0)
    fused = next(n for n in g.nodes("Conv") if len(n.inputs) == 2)
    assert fused.layer == "first"
    assert fused.inputs[1].layer == "second"
    assert fused.attrs["activation"] == {"op": "Relu"}
    lower_all(ref, g, {"x": rand((2, 5, 5, 4), 15)})


def test_two_residual_blocks_in_a_row():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 4))
        r = x
        for i in range(2):
            c = conv(g, g.add("Relu", [conv(g, r, 4, 20 + i)]), 4, 30 + i, bias=i == 0)
            r = g.add("FusedAddRelu", [c, r])
        g.set_outputs([r], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(2, 2)
    assert g.op_counts() == {"Conv": 4, "Input": 1}
    models = lower_all(ref, g, {"x": rand((2, 6, 6, 4), 21)})
    assert ops(models["ort"]) == [f"{MS}.FusedConv"] * 4
    assert [len(n.input) for n in fused_convs(models["ort"])] == [3, 4, 3, 4]
    assert ops(models["onnx"]) == ["Conv", "Relu", "Conv", "Add", "Relu"] * 2


# -- residual joins left alone ----------------------------------------------------------------------
RESIDUAL_BLOCKERS = [
    "conv_read_elsewhere",
    "conv_is_output",
    "same_conv_twice",
    "three_operands",
    "conv_already_activated",
    "conv_already_has_a_residual",
    "conv_output_broadcast",
    "dense_operand",
    "conv_transpose_operand",
    "sub",
    "mul",
    "max",
]


@pytest.mark.parametrize("variant", RESIDUAL_BLOCKERS)
def test_residual_join_not_fused(variant):
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        z = g.add_input("z", (None, 4, 4, 3))
        join_op, outputs = "FusedAddRelu", []
        if variant == "conv_read_elsewhere":
            c = conv(g, x, 3, 40)
            outputs.append(g.add("Sub", [c, z]))
            operands = [c, z]
        elif variant == "conv_is_output":
            c = conv(g, x, 3, 40)
            outputs.append(c)
            operands = [c, z]
        elif variant == "same_conv_twice":
            c = conv(g, x, 3, 40)
            operands = [c, c]
        elif variant == "three_operands":
            operands = [conv(g, x, 3, 40), z, x]
        elif variant == "conv_already_activated":
            operands = [conv(g, x, 3, 40, activation={"op": "Sigmoid"}), z]
        elif variant == "conv_already_has_a_residual":
            c = g.add("Conv", [x, x], attrs=conv_attrs(), params={"kernel": rand((3, 3, 3, 3), 40, scale=0.3)})
            operands = [c, z]
        elif variant == "conv_output_broadcast":  # a 1x1 conv output spread over the 4x4 operand
            c = conv(g, x, 3, 40, padding="valid", strides=(2, 2))
            assert c.shape == (None, 1, 1, 3)
            operands = [c, z]
        elif variant == "dense_operand":
            operands = [dense(g, x, 3, 40), z]
        elif variant == "conv_transpose_operand":
            small = g.add_input("small", (None, 2, 2, 3))
            operands = [conv_transpose(g, small, 3, 40), z]
        else:
            join_op = variant.capitalize()
            operands = [conv(g, x, 3, 40), z]
        g.set_outputs([g.add(join_op, operands), *outputs])
        return g

    ref, g, text = fuse(build)
    assert text == NOTHING
    assert str(g) == str(ref)
    feeds = {"x": rand((2, 4, 4, 3), 42), "z": rand((2, 4, 4, 3), 43)}
    if "small" in g:
        feeds["small"] = rand((2, 2, 2, 3), 44)
    models = lower_all(ref, g, feeds)
    # Only a convolution that already carried a residual operand lowers to a FusedConv with Z.
    residual_convs = sum(len(n.inputs) == 2 for n in g.nodes(("Conv", "DepthwiseConv")))
    assert sum(len(n.input) == 4 for n in fused_convs(models["ort"])) == residual_convs
    assert len(join_ops(models["onnx"])) - len(join_ops(models["ort"])) == residual_convs
    assert join_ops(models["ort"])


@pytest.mark.parametrize("z_shape", [(None, 1, 1, 3), (None, 4, 1, 1)])
@pytest.mark.parametrize("join", ["FusedAddRelu", "Add"])
def test_operand_broadcast_onto_the_conv_output_is_not_fused(join, z_shape):
    # The sum has the convolution's shape, but the other operand is smaller: a fused Z must have
    # the output's full shape, so the join stays as it is.
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        z = g.add_input("z", z_shape)
        g.set_outputs([g.add(join, [conv(g, x, 3, 45), z])], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == NOTHING
    assert str(g) == str(ref)
    models = lower_all(ref, g, {"x": rand((2, 4, 4, 3), 46), "z": rand((2, *z_shape[1:]), 47)})
    assert "Add" in ops(models["ort"])


# -- activations ------------------------------------------------------------------------------------
LINEAR_CASES = {
    # linear op: (input shape, builder, ops for onnx/tensorrt before the activation, ort)
    "Conv": ((None, 5, 5, 3), lambda g, x: conv(g, x, 4, 50, name="lin"), ["Conv"], True),
    "DepthwiseConv": ((None, 5, 5, 3), lambda g, x: depthwise(g, x, 50, name="lin", strides=(2, 2)), ["Conv"], True),
    "ConvTranspose": ((None, 3, 4, 3), lambda g, x: conv_transpose(g, x, 2, 50, name="lin"), ["ConvTranspose"], False),
    "Dense": ((None, 6), lambda g, x: dense(g, x, 5, 50, name="lin"), ["Gemm"], False),
}


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("linear", list(LINEAR_CASES))
def test_activation_fused_into_linear_op(linear, act):
    shape, make, standard, fused_in_ort = LINEAR_CASES[linear]
    attrs, fn, params = ACTIVATIONS[act]

    def build():
        g = Graph()
        x = g.add_input("x", shape)
        g.set_outputs([g.add(act, [make(g, x)], attrs=attrs, name="act")], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(0, 1)
    assert g.op_counts() == {"Input": 1, linear: 1}
    (fused,) = g.nodes(linear)
    old = ref.node("lin")
    assert fused.attrs == {**old.attrs, "activation": {"op": act, **attrs}}
    assert fused.layer == "lin" and fused.shape == ref.node("act").shape
    assert fused.inputs == [g.inputs[0]] and g.outputs == [fused]
    assert not old.attrs.get("activation"), "the pass changed the reference graph's node"

    def linear_only():
        g = Graph()
        g.set_outputs([make(g, g.add_input("x", shape))], ["out"])
        return g

    feeds = {"x": rand((2, *shape[1:]), 51, scale=2.0)}
    before_activation = run_graph(linear_only(), feeds, "none")[0]
    models = lower_all(ref, g, feeds, [fn(before_activation.astype(np.float64)).astype(np.float32)])

    assert ops(models["onnx"]) == standard + [act] == ops(models["tensorrt"])
    if fused_in_ort:
        assert ops(models["ort"]) == [f"{MS}.FusedConv"]
        (node,) = fused_convs(models["ort"])
        a = attrs_of(node)
        assert len(node.input) == 3 and a["activation"] == act
        if params is None:
            assert "activation_params" not in a
        else:
            np.testing.assert_allclose(a["activation_params"], params, rtol=1e-6)
    else:
        assert ops(models["ort"]) == standard + [act]


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_activation_numbers_against_numpy(act):
    attrs, fn, _ = ACTIVATIONS[act]
    kernel, bias = rand((3, 3, 3, 4), 52, scale=0.5), rand((4,), 53)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 5, 3))
        c = g.add("Conv", [x], attrs=conv_attrs(((1, 1), (0, 2))), params={"kernel": kernel, "bias": bias})
        g.set_outputs([g.add(act, [c], attrs=attrs)], ["out"])
        return g

    ref, g, _ = fuse(build)
    xv = rand((2, 6, 5, 3), 54, scale=2.0)
    lower_all(ref, g, {"x": xv}, [fn(conv2d(xv, kernel, bias, pads=((1, 1), (0, 2))))])


def test_dense_over_a_feature_map_keeps_its_activation():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        d = dense(g, conv(g, x, 6, 55), 5, 56)
        g.set_outputs([g.add("Clip", [d], attrs={"min": 0.0, "max": 6.0})], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(0, 1)
    models = lower_all(ref, g, {"x": rand((2, 4, 4, 3), 57, scale=3.0)})
    assert ops(models["onnx"]) == ["Conv", "Conv", "Clip"]
    assert ops(models["ort"]) == ["Conv", "Conv", "Clip"]


def test_activation_with_unknown_spatial_sizes():
    def build():
        g = Graph()
        x = g.add_input("x", (None, None, None, 3))
        c = conv(g, x, 4, 58, strides=(2, 2))
        g.set_outputs([g.add("LeakyRelu", [c], attrs={"alpha": 0.1})], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(0, 1)
    models = lower_all(ref, g, {"x": rand((2, 7, 9, 3), 59)})
    (node,) = fused_convs(models["ort"])
    assert attrs_of(node)["auto_pad"] == "SAME_UPPER"


def test_only_the_first_of_two_activations_is_fused():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        g.set_outputs([g.add("Sigmoid", [g.add("Relu", [conv(g, x, 3, 60)])])], ["out"])
        return g

    ref, g, text = fuse(build)
    assert text == summary(0, 1)
    assert g.op_counts() == {"Conv": 1, "Input": 1, "Sigmoid": 1}
    assert g.nodes("Conv")[0].attrs["activation"] == {"op": "Relu"}
    models = lower_all(ref, g, {"x": rand((2, 4, 4, 3), 61)})
    assert ops(models["ort"]) == [f"{MS}.FusedConv", "Sigmoid"]
    assert ops(models["onnx"]) == ["Conv", "Relu", "Sigmoid"]


ACTIVATION_BLOCKERS = [
    "linear_read_elsewhere",
    "linear_is_output",
    "linear_already_activated",
    "not_a_linear_op",
    "batchnorm_between",
    "elu",
    "softplus",
    "swish",
    "selu",
    "softmax",
]


@pytest.mark.parametrize("variant", ACTIVATION_BLOCKERS)
def test_activation_not_fused(variant):
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        act, act_attrs, extra = "Relu", {}, []
        if variant == "linear_read_elsewhere":
            src = conv(g, x, 3, 62)
            extra.append(g.add("Sub", [src, x]))
        elif variant == "linear_is_output":
            src = conv(g, x, 3, 62)
            extra.append(src)
        elif variant == "linear_already_activated":
            src = conv(g, x, 3, 62, activation={"op": "Tanh"})
            act, act_attrs = "Clip", {"min": 0.0, "max": 0.5}
        elif variant == "not_a_linear_op":
            src = g.add("MaxPool", [x], attrs={"window": (2, 2), "strides": (1, 1), "padding": "valid"})
        elif variant == "batchnorm_between":
            c = conv(g, x, 3, 62)
            bn = {
                "gamma": rand((3,), 63),
                "beta": rand((3,), 64),
                "mean": rand((3,), 65),
                "var": np.full((3,), 0.5, np.float32),
            }
            src = g.add("BatchNorm", [c], attrs={"axis": 3, "epsilon": 1e-3}, params=bn)
        else:
            src = conv(g, x, 3, 62)
            act, act_attrs = {
                "elu": ("Elu", {"alpha": 1.0}),
                "softplus": ("Softplus", {}),
                "swish": ("Swish", {}),
                "selu": ("Selu", {}),
                "softmax": ("Softmax", {"axis": 3}),
            }[variant]
        g.set_outputs([g.add(act, [src], attrs=act_attrs), *extra])
        return g

    ref, g, text = fuse(build)
    assert text == NOTHING
    assert str(g) == str(ref)
    models = lower_all(ref, g, {"x": rand((2, 4, 4, 3), 66)})
    if variant != "linear_already_activated":
        assert not fused_convs(models["ort"])


# -- the pass as a whole ------------------------------------------------------------------------------
def resnet_block() -> Graph:
    g = Graph("block")
    x = g.add_input("x", (None, 6, 6, 4))
    a = g.add("Relu", [conv(g, x, 4, 70)])
    b = g.add("Relu", [g.add("Add", [conv(g, a, 4, 71), x])])
    p = conv(g, b, 8, 72, strides=(2, 2))
    short = g.add("Conv", [b], attrs=conv_attrs("valid", (2, 2)), params={"kernel": rand((1, 1, 4, 8), 73)})
    c = g.add("Relu", [g.add("Add", [p, short])])
    d = g.add("Clip", [depthwise(g, c, 74)], attrs={"min": 0.0, "max": 6.0})
    gap = g.add("GlobalAveragePool", [d], attrs={"keepdims": False})
    g.set_outputs([g.add("Sigmoid", [dense(g, gap, 3, 75)])], ["probs"])
    return g


def test_second_run_changes_nothing():
    graph, reports = compiler.run_passes(resnet_block(), ["fuse_add_relu", "fuse_conv", "fuse_conv"], check=True)
    assert reports[1].summary == summary(2, 3)
    assert reports[2].summary == NOTHING
    assert graph.op_counts() == {"Conv": 4, "Dense": 1, "DepthwiseConv": 1, "GlobalAveragePool": 1, "Input": 1}


def test_default_pipeline_runs_it_after_add_relu_fusion():
    names = compiler.default_passes()
    assert "fuse_conv" in names and names.index("fuse_conv") > names.index("fuse_add_relu")
    ref = resnet_block()
    res = compiler.compile(resnet_block(), check=True)
    assert str(next(r for r in res.report if r.name == "fuse_conv")) == "fuse_conv: " + summary(2, 3)
    models = lower_all(ref, res.graph, {"x": rand((2, 6, 6, 4), 76)})
    assert ops(models["ort"]).count(f"{MS}.FusedConv") == 4 and ops(models["ort"]).count("Conv") == 1
    assert "Relu" not in ops(models["ort"]) and "Add" not in ops(models["ort"])
    assert sorted(ops(models["onnx"])) == sorted(
        ["Conv"] * 5 + ["Relu"] * 3 + ["Add"] * 2 + ["Clip", "GlobalAveragePool", "Flatten", "Gemm", "Sigmoid"]
    )


def test_standard_targets_use_no_contrib_ops_and_are_deterministic():
    graph, _ = compiler.run_passes(resnet_block(), compiler.default_passes(), check=True)
    for target in TARGETS:
        first = to_onnx(graph, target=target).SerializeToString(deterministic=True)
        second = to_onnx(graph, target=target).SerializeToString(deterministic=True)
        assert first == second, target
        model = onnx.load_from_string(first)
        assert_opsets_match_use(model)
        domains = {o.domain for o in model.opset_import}
        assert (MS in domains) is (target == "ort")


def test_ort_target_without_fusions_imports_no_contrib_opset():
    model = to_onnx(resnet_block(), target="ort")
    assert not fused_convs(model)
    assert [o.domain for o in model.opset_import] == [""]


def test_unknown_target_is_a_compile_error():
    with pytest.raises(CompileError, match="unknown target 'cuda'") as info:
        to_onnx(resnet_block(), target="cuda")
    assert "onnx" in str(info.value) and "ort" in str(info.value) and "tensorrt" in str(info.value)
    with pytest.raises(CompileError, match="unknown target"):
        compiler.compile(resnet_block(), target="TensorRT")


# -- MaxPool reading a Pad, per target ------------------------------------------------------------------
def test_max_pool_after_pad_returns_indices_except_for_tensorrt():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 2))
        c = g.add("Conv", [x], attrs=conv_attrs("valid"), params={"kernel": np.eye(2, dtype=np.float32)[None, None]})
        p = g.add("Pad", [c], attrs={"pads": ((1, 1), (2, 2))})
        g.set_outputs([g.add("MaxPool", [p], attrs={"window": (2, 2), "strides": (2, 2), "padding": "valid"})])
        return g

    xv = rand((2, 6, 6, 2), 77, shift=-3.0)
    want = run_graph(build(), {"x": xv}, "none")[0]
    assert (want == 0).any() and (want < 0).any()
    for target in TARGETS:
        model = to_onnx(build(), target=target)
        (pool,) = [n for n in model.graph.node if n.op_type == "MaxPool"]
        assert len(pool.output) == (1 if target == "tensorrt" else 2), target
        levels = ("none",) if target == "tensorrt" else LEVELS
        for level in levels:
            np.testing.assert_array_equal(run_model(model, {"x": xv}, level)[0], want, err_msg=f"{target} {level}")
