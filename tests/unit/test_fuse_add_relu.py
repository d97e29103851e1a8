"""passes.fuse_add_relu on hand-made graphs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import Graph
from unit_kit import assert_equivalent, conv2d, rand, transformed


def two_inputs(g: Graph, shape=(None, 4, 4, 3)):
    return g.add_input("a", shape), g.add_input("b", shape)


def test_relu_of_add_becomes_one_fused_node():
    def build():
        g = Graph()
        a, b = two_inputs(g)
        s = g.add("Add", [b, a], name="sum")
        g.set_outputs([g.add("Relu", [s], name="act", layer="act_layer")], ["out"])
        return g

    ref, g, (report,) = transformed(build, "fuse_add_relu")
    assert report.summary == "fused 1 Add+Relu"
    assert g.op_counts() == {"FusedAddRelu": 1, "Input": 2}
    (fused,) = g.nodes("FusedAddRelu")
    a, b = g.inputs
    assert fused.inputs == [b, a]
    assert fused.layer == "act_layer"
    assert fused.shape == (None, 4, 4, 3)
    assert g.outputs == [fused] and g.output_names == ["out"]
    xa, xb = rand((2, 4, 4, 3), 1), rand((2, 4, 4, 3), 2)
    assert_equivalent(ref, g, {"a": xa, "b": xb}, [np.maximum(xa + xb, 0)])


def test_residual_block_with_a_conv_branch():
    kernel = rand((3, 3, 3, 3), 3)

    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 3))
        c = g.add(
            "Conv", [x], attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "same"}, params={"kernel": kernel}
        )
        s = g.add("Add", [c, x])
        r = g.add("Relu", [s])
        s2 = g.add("Add", [r, x])
        g.set_outputs([g.add("Relu", [s2])])
        return g

    ref, g, (report,) = transformed(build, "fuse_add_relu")
    assert report.summary == "fused 2 Add+Relu"
    assert g.op_counts() == {"Conv": 1, "FusedAddRelu": 2, "Input": 1}
    first, second = g.nodes("FusedAddRelu")
    assert second.inputs == [first, g.inputs[0]]
    x = rand((2, 5, 5, 3), 4)
    r = np.maximum(conv2d(x, kernel, pads=((1, 1), (1, 1))) + x, 0)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(r + x, 0)])


def test_add_of_the_same_tensor_twice():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 6))
        g.set_outputs([g.add("Relu", [g.add("Add", [x, x])])])
        return g

    ref, g, _ = transformed(build, "fuse_add_relu")
    (fused,) = g.nodes("FusedAddRelu")
    assert fused.inputs == [g.inputs[0], g.inputs[0]]
    x = rand((3, 6), 5)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(2 * x, 0)])


def test_three_operand_add():
    def build():
        g = Graph()
        a, b = two_inputs(g, (None, 5))
        c = g.add_input("c", (None, 5))
        g.set_outputs([g.add("Relu", [g.add("Add", [a, b, c])])])
        return g

    ref, g, _ = transformed(build, "fuse_add_relu")
    (fused,) = g.nodes("FusedAddRelu")
    assert [n.name for n in fused.inputs] == ["a", "b", "c"]
    feeds = {k: rand((2, 5), i) for i, k in enumerate("abc")}
    assert_equivalent(ref, g, feeds, [np.maximum(feeds["a"] + feeds["b"] + feeds["c"], 0)])


def test_broadcasting_add():
    def build():
        g = Graph()
        a = g.add_input("a", (None, 4, 4, 3))
        b = g.add_input("b", (None, 1, 1, 3))
        g.set_outputs([g.add("Relu", [g.add("Add", [a, b])])])
        return g

    ref, g, _ = transformed(build, "fuse_add_relu")
    assert g.nodes("FusedAddRelu")[0].shape == (None, 4, 4, 3)
    xa, xb = rand((2, 4, 4, 3), 6), rand((2, 1, 1, 3), 7)
    assert_equivalent(ref, g, {"a": xa, "b": xb}, [np.maximum(xa + xb, 0)])


@pytest.mark.parametrize("variant", ["second_consumer", "add_is_output", "relu_reads_it_twice"])
def test_not_fused_when_the_sum_is_read_elsewhere(variant):
    def build():
        g = Graph()
        a, b = two_inputs(g, (None, 4))
        s = g.add("Add", [a, b])
        r = g.add("Relu", [s])
        if variant == "second_consumer":
            g.set_outputs([g.add("Mul", [r, s])])
        elif variant == "add_is_output":
            g.set_outputs([r, s], ["relu", "sum"])
        else:
            g.set_outputs([r, g.add("Tanh", [s])])
        return g

    ref, g, (report,) = transformed(build, "fuse_add_relu")
    assert report.summary == "fused 0 Add+Relu"
    assert "FusedAddRelu" not in g.op_counts()
    assert str(g) == str(ref)
    assert_equivalent(ref, g, {"a": rand((2, 4), 8), "b": rand((2, 4), 9)})


@pytest.mark.parametrize("op", ["Sub", "Mul", "Max"])
def test_other_merges_are_not_fused(op):
    def build():
        g = Graph()
        a, b = two_inputs(g, (None, 4))
        g.set_outputs([g.add("Relu", [g.add(op, [a, b])])])
        return g

    _, g, (report,) = transformed(build, "fuse_add_relu")
    assert report.summary == "fused 0 Add+Relu"
    assert g.op_counts() == {op: 1, "Input": 2, "Relu": 1}


def test_other_activations_after_add_are_not_fused():
    def build():
        g = Graph()
        a, b = two_inputs(g, (None, 4))
        s = g.add("Add", [a, b])
        g.set_outputs([g.add("Clip", [s], attrs={"min": 0.0, "max": 6.0})])
        return g

    _, g, (report,) = transformed(build, "fuse_add_relu")
    assert report.summary == "fused 0 Add+Relu"
