"""passes.cleanup: remove_identity and remove_dead (transpose merging, dead branches)."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler import Graph
from unit_kit import assert_equivalent, onnx_ops, rand, run_graph, transformed


# -- remove_identity ----------------------------------------------------------------------------
def test_dropout_and_identity_are_bypassed():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 5))
        d = g.add("Dropout", [x], attrs={"rate": 0.5})
        t = g.add("Tanh", [d])
        i = g.add("Identity", [t])
        g.set_outputs([g.add("Relu", [i])], ["out"])
        return g

    ref, g, (report,) = transformed(build, "remove_identity")
    assert report.summary == "removed 1 Dropout, removed 1 Identity"
    assert g.op_counts() == {"Input": 1, "Relu": 1, "Tanh": 1}
    assert g.nodes("Tanh")[0].inputs == g.inputs
    x = rand((3, 5), 1)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(np.tanh(x), 0)])


def test_pass_through_nodes_that_are_outputs_keep_the_output_names():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4))
        t = g.add("Tanh", [x])
        logits = g.add("Identity", [t], name="logits_layer")
        echo = g.add("Dropout", [x], name="echo_layer")
        g.set_outputs([logits, echo], ["logits", "echo"])
        return g

    ref, g, (report,) = transformed(build, "remove_identity")
    assert report.summary == "removed 1 Dropout, removed 1 Identity"
    assert g.output_names == ["logits", "echo"]
    assert [n.op for n in g.outputs] == ["Tanh", "Input"]
    model = compiler.to_onnx(g)
    assert [o.name for o in model.graph.output] == ["logits", "echo"]
    assert [i.name for i in model.graph.input] == ["x"]
    x = rand((2, 4), 2)
    assert_equivalent(ref, g, {"x": x}, [np.tanh(x), x])


def test_two_output_names_for_one_tensor_after_bypass():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4))
        r = g.add("Relu", [x])
        g.set_outputs([g.add("Identity", [r]), g.add("Identity", [r])], ["first", "second"])
        return g

    ref, g, _ = transformed(build, "remove_identity")
    assert g.outputs == [g.node("relu"), g.node("relu")]
    model = compiler.to_onnx(g)
    assert [o.name for o in model.graph.output] == ["first", "second"]
    x = rand((2, 4), 3)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(x, 0)] * 2)


def test_chain_of_pass_through_nodes():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4))
        y = x
        for op in ("Identity", "Dropout", "Identity", "Dropout"):
            y = g.add(op, [y])
        g.set_outputs([g.add("Add", [y, y])])
        return g

    ref, g, (report,) = transformed(build, "remove_identity")
    assert report.summary == "removed 2 Dropout, removed 2 Identity"
    (add,) = g.nodes("Add")
    assert add.inputs == [g.inputs[0], g.inputs[0]]
    x = rand((2, 4), 4)
    assert_equivalent(ref, g, {"x": x}, [2 * x])


def test_nothing_to_remove():
    def build():
        g = Graph()
        g.set_outputs([g.add("Relu", [g.add_input("x", (None, 4))])])
        return g

    ref, g, (report,) = transformed(build, "remove_identity")
    assert report.summary == "nothing to remove"
    assert str(g) == str(ref)


# -- remove_dead: transposes --------------------------------------------------------------------
def transposes(perms, shape=(None, 2, 3, 4), output_first=False):
    def build():
        g = Graph()
        x = g.add_input("x", shape)
        y = x
        for p in perms:
            y = g.add("Transpose", [y], attrs={"perm": p})
        g.set_outputs([g.add("Relu", [y]), y] if output_first else [g.add("Relu", [y])])
        return g

    return build


def test_inverse_transposes_cancel():
    ref, g, (report,) = transformed(transposes([(0, 3, 1, 2), (0, 2, 3, 1)]), "remove_dead")
    assert report.summary == "merged 2 Transpose"
    assert g.op_counts() == {"Input": 1, "Relu": 1}
    x = rand((2, 2, 3, 4), 5)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(x, 0)])


def test_transposes_compose_into_one():
    perms = [(0, 2, 1, 3), (0, 1, 3, 2), (0, 3, 2, 1)]
    ref, g, (report,) = transformed(transposes(perms), "remove_dead")
    (t,) = g.nodes("Transpose")
    x = rand((2, 2, 3, 4), 6)
    expected = x
    for p in perms:
        expected = np.transpose(expected, p)
    labels = [0, 1, 2, 3]  # which input axis each axis of the result is
    for p in perms:
        labels = [labels[i] for i in p]
    assert tuple(t.attrs["perm"]) == tuple(labels)
    assert t.inputs == g.inputs and t.shape == (None, *expected.shape[1:])
    assert report.summary == "merged 2 Transpose"
    assert_equivalent(ref, g, {"x": x}, [np.maximum(expected, 0)])


def test_identity_transpose_is_dropped():
    ref, g, (report,) = transformed(transposes([(0, 1, 2, 3)]), "remove_dead")
    assert g.op_counts() == {"Input": 1, "Relu": 1}
    assert report.summary == "merged 1 Transpose"


def test_transpose_read_elsewhere_is_read_through():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 2, 3, 4))
        t1 = g.add("Transpose", [x], attrs={"perm": (0, 2, 1, 3)})
        t2 = g.add("Transpose", [t1], attrs={"perm": (0, 2, 1, 3)})
        g.set_outputs([g.add("Relu", [t2]), g.add("Tanh", [t1])])
        return g

    ref, g, _ = transformed(build, "remove_dead")
    # The cancelling pair goes; the first transpose stays for its other reader.
    assert g.op_counts()["Transpose"] == 1
    (t1,) = g.nodes("Transpose")
    assert [u.op for u in t1.users] == ["Tanh"]
    assert g.node("x").users[0].op in ("Relu", "Transpose") and "Relu" in [u.op for u in g.node("x").users]
    x = rand((2, 2, 3, 4), 7)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(x, 0), np.tanh(np.transpose(x, (0, 2, 1, 3)))])


def test_cancelling_transposes_at_the_output_keep_the_name():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 2, 3, 4))
        t1 = g.add("Transpose", [x], attrs={"perm": (0, 3, 1, 2)})
        t2 = g.add("Transpose", [t1], attrs={"perm": (0, 2, 3, 1)})
        g.set_outputs([t2], ["same"])
        return g

    ref, g, _ = transformed(build, "remove_dead")
    assert g.op_counts() == {"Input": 1}
    assert g.output_names == ["same"]
    model = compiler.to_onnx(g)
    assert [o.name for o in model.graph.output] == ["same"]
    x = rand((2, 2, 3, 4), 8)
    assert_equivalent(ref, g, {"x": x}, [x])


# -- remove_dead: unreachable nodes ---------------------------------------------------------------
def test_dead_branches_are_dropped_and_inputs_kept():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4))
        unused = g.add_input("unused", (None, 3))
        r = g.add("Relu", [x])
        g.add("Tanh", [g.add("Sigmoid", [r])])
        g.add("Exp", [unused])
        g.set_outputs([g.add("Softplus", [r])])
        return g

    ref, g, (report,) = transformed(build, "remove_dead")
    assert report.summary == "removed 3 dead nodes"
    assert g.op_counts() == {"Input": 2, "Relu": 1, "Softplus": 1}
    model = compiler.to_onnx(g)
    assert [i.name for i in model.graph.input] == ["x", "unused"]
    assert onnx_ops(model) == ["Relu", "Softplus"]
    feeds = {"x": rand((2, 4), 9), "unused": rand((2, 3), 10)}
    assert_equivalent(ref, g, feeds, [np.log1p(np.exp(np.maximum(feeds["x"], 0)))])


def test_remove_dead_reports_both_kinds_of_change():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 2, 3, 4))
        t1 = g.add("Transpose", [x], attrs={"perm": (0, 2, 1, 3)})
        t2 = g.add("Transpose", [t1], attrs={"perm": (0, 2, 1, 3)})
        g.add("Relu", [x])
        g.set_outputs([g.add("Tanh", [t2])])
        return g

    _, g, (report,) = transformed(build, "remove_dead")
    assert report.summary == "merged 2 Transpose, removed 1 dead nodes"
    assert g.op_counts() == {"Input": 1, "Tanh": 1}


def test_remove_dead_with_nothing_to_do():
    _, _, (report,) = transformed(transposes([(0, 2, 1, 3)]), "remove_dead")
    assert report.summary == "nothing to remove"


@pytest.mark.parametrize("level", ["none", "all"])
def test_default_pipeline_on_a_small_network(level):
    rng = np.random.default_rng(11)
    kernel = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    bn = {
        "gamma": np.full(4, 1.5, np.float32),
        "beta": np.full(4, 0.1, np.float32),
        "mean": np.full(4, 0.2, np.float32),
        "var": np.full(4, 0.9, np.float32),
    }

    def build():
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 3))
        d = g.add("Dropout", [x], attrs={"rate": 0.1})
        p = g.add("Pad", [d], attrs={"pads": ((1, 1), (1, 1))})
        c = g.add(
            "Conv", [p], attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "valid"}, params={"kernel": kernel}
        )
        b = g.add("BatchNorm", [c], attrs={"axis": 3, "epsilon": 1e-3}, params=bn)
        s = g.add("Add", [b, g.add("Identity", [b])])
        r = g.add("Relu", [s])
        g.add("Tanh", [r])
        g.set_outputs([r], ["y"])
        return g

    ref = build()
    g = compiler.compile(build(), check=True).graph
    assert g.op_counts() == {"Conv": 1, "FusedAddRelu": 1, "Input": 1}
    x = rand((2, 6, 6, 3), 12)
    want = run_graph(ref, {"x": x}, "none")[0]
    np.testing.assert_allclose(run_graph(g, {"x": x}, level)[0], want, rtol=1e-4, atol=1e-4)
