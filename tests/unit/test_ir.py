"""compiler.ir: construction, navigation, mutation helpers, ordering and the linter."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler import Graph, GraphError


def dense_params(fan_in: int, units: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "kernel": rng.standard_normal((fan_in, units)).astype(np.float32),
        "bias": rng.standard_normal((units,)).astype(np.float32),
    }


def conv_attrs(padding="valid", strides=(1, 1)) -> dict:
    return {"strides": strides, "dilations": (1, 1), "padding": padding}


# -- construction -------------------------------------------------------------------------------
def test_add_gives_unique_names_from_name_layer_or_op():
    g = Graph()
    x = g.add_input("x", (None, 4))
    a = g.add("Relu", [x])
    b = g.add("Relu", [a])
    c = g.add("Relu", [b])
    assert (a.name, b.name, c.name) == ("relu", "relu_1", "relu_2")
    d = g.add("Sigmoid", [x], name="act")
    e = g.add("Sigmoid", [x], name="act")
    assert (d.name, e.name) == ("act", "act_1")
    f = g.add("Tanh", [x], layer="block1")
    assert f.name == "block1" and f.layer == "block1"
    assert g.unique_name("relu") == "relu_3"
    assert g.unique_name("fresh") == "fresh"
    assert len(g) == 7
    assert "relu_2" in g and "relu_3" not in g
    assert g.node("act_1") is e


def test_add_input_records_shape_dtype_and_order():
    g = Graph()
    a = g.add_input("a", [None, 3, 5, 2])
    b = g.add_input("b", (None, 7), dtype="float32")
    assert g.inputs == [a, b]
    assert a.shape == (None, 3, 5, 2) and isinstance(a.shape, tuple)
    assert a.op == "Input" and a.layer == "a"
    assert b.shape == (None, 7) and b.dtype == "float32"


def test_add_infers_shape_unless_given_or_disabled():
    g = Graph()
    x = g.add_input("x", (None, 6))
    d = g.add("Dense", [x], params=dense_params(6, 3))
    assert d.shape == (None, 3)
    forced = g.add("Relu", [x], shape=(None, 99))
    assert forced.shape == (None, 99)
    lazy = g.add("NoSuchOp", [x], infer=False)
    assert lazy.shape is None


def test_add_copies_attrs_and_params_dicts():
    g = Graph()
    x = g.add_input("x", (None, 4))
    attrs = {"axis": 1}
    params = dense_params(4, 2)
    node = g.add("Softmax", [x], attrs=attrs)
    d = g.add("Dense", [x], params=params)
    node.attrs["axis"] = 0
    d.params["extra"] = np.zeros(1)
    assert attrs == {"axis": 1}
    assert set(params) == {"kernel", "bias"}
    assert d.params["kernel"] is params["kernel"]  # the arrays themselves are shared, not copied


# -- navigation ---------------------------------------------------------------------------------
def test_inputs_are_in_slot_order():
    g = Graph()
    a = g.add_input("a", (None, 4))
    b = g.add_input("b", (None, 4))
    sub = g.add("Sub", [b, a])
    assert sub.inputs == [b, a]
    cat = g.add("Concat", [a, b, a], attrs={"axis": 1})
    assert cat.inputs == [a, b, a]
    assert cat.shape == (None, 12)


def test_same_node_twice_keeps_both_slots():
    g = Graph()
    x = g.add_input("x", (None, 4))
    add = g.add("Add", [x, x])
    assert add.inputs == [x, x]
    assert x.uses() == [(add, 0), (add, 1)]
    assert x.users == [add]
    assert not x.has_single_use()


def test_uses_and_users_follow_graph_order():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    s = g.add("Sigmoid", [x])
    m = g.add("Mul", [s, x])
    assert x.uses() == [(r, 0), (s, 0), (m, 1)]
    assert x.users == [r, s, m]
    assert r.uses() == [] and r.users == []
    assert s.uses() == [(m, 0)]


def test_single_use_and_is_output():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    t = g.add("Tanh", [r])
    g.set_outputs([t])
    assert r.has_single_use()
    assert t.is_output and not r.is_output
    assert not t.has_single_use()  # no consumer at all
    g.set_outputs([t, r])
    assert r.is_output
    assert not r.has_single_use()  # one consumer, but also a graph output


def test_input_property_requires_exactly_one_operand():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    add = g.add("Add", [x, r])
    assert r.input is x
    with pytest.raises(GraphError, match="2 inputs"):
        _ = add.input
    with pytest.raises(GraphError, match="0 inputs"):
        _ = x.input


def test_set_outputs_default_and_explicit_names():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    g.set_outputs([r, x])
    assert g.outputs == [r, x] and g.output_names == ["relu", "x"]
    g.set_outputs([r], ["probs"])
    assert g.outputs == [r] and g.output_names == ["probs"]


# -- mutation -----------------------------------------------------------------------------------
def test_replace_all_uses_rewires_every_slot_and_outputs():
    g = Graph()
    x = g.add_input("x", (None, 4))
    old = g.add("Relu", [x], name="old")
    new = g.add("Sigmoid", [x], name="new")
    add = g.add("Add", [old, x, old])
    tanh = g.add("Tanh", [old])
    g.set_outputs([old, add, tanh], ["a", "b", "c"])
    g.replace_all_uses(old, new)
    assert add.inputs == [new, x, new]
    assert tanh.inputs == [new]
    assert g.outputs == [new, add, tanh]
    assert g.output_names == ["a", "b", "c"]
    assert old.uses() == [] and not old.is_output
    assert new.uses() == [(add, 0), (add, 2), (tanh, 0)]
    g.check()


def test_replace_all_uses_with_itself_changes_nothing():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    t = g.add("Tanh", [r])
    g.set_outputs([r, t])
    before = str(g)
    g.replace_all_uses(r, r)
    assert str(g) == before
    assert r.uses() == [(t, 0)] and g.outputs == [r, t]


def test_remove_refuses_a_node_with_users_or_an_output():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    t = g.add("Tanh", [r])
    g.set_outputs([t])
    with pytest.raises(GraphError, match="'relu'.*still has users"):
        g.remove(r)
    with pytest.raises(GraphError, match="'tanh'"):
        g.remove(t)
    assert "relu" in g and "tanh" in g and len(g) == 3


def test_remove_deletes_an_unused_node_and_its_edges():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    s = g.add("Sigmoid", [x])
    g.set_outputs([r])
    g.remove(s)
    assert "sigmoid" not in g
    assert x.users == [r]
    assert [n.name for n in g.nodes()] == ["x", "relu"]


def test_remove_an_input_drops_it_from_graph_inputs():
    g = Graph()
    x = g.add_input("x", (None, 4))
    y = g.add_input("y", (None, 4))
    g.set_outputs([g.add("Relu", [x])])
    g.remove(y)
    assert g.inputs == [x]
    assert "y" not in g


def test_bypass_wires_consumers_and_outputs_to_the_operand():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    ident = g.add("Identity", [r])
    s = g.add("Sigmoid", [ident])
    add = g.add("Add", [ident, s])
    g.set_outputs([ident, add], ["feat", "sum"])
    g.bypass(ident)
    assert "identity" not in g
    assert s.inputs == [r]
    assert add.inputs == [r, s]
    assert g.outputs == [r, add] and g.output_names == ["feat", "sum"]
    g.check()


def test_bypass_refuses_a_node_that_is_not_unary():
    g = Graph()
    x = g.add_input("x", (None, 4))
    add = g.add("Add", [x, x])
    g.set_outputs([add])
    with pytest.raises(GraphError):
        g.bypass(add)
    assert add.inputs == [x, x] and g.outputs == [add]


def test_remove_dead_keeps_inputs_and_everything_outputs_need():
    g = Graph()
    x = g.add_input("x", (None, 4))
    unused = g.add_input("unused", (None, 2))
    r = g.add("Relu", [x])
    dead1 = g.add("Sigmoid", [r])
    g.add("Tanh", [dead1])
    g.add("Exp", [unused])
    out = g.add("Softplus", [r])
    g.set_outputs([out])
    assert g.remove_dead() == 3
    assert [n.name for n in g.nodes()] == ["x", "unused", "relu", "softplus"]
    assert g.inputs == [x, unused]
    assert r.users == [out]
    assert g.remove_dead() == 0


def test_set_inputs_rewires_in_the_given_order():
    g = Graph()
    a = g.add_input("a", (None, 4))
    b = g.add_input("b", (None, 4))
    sub = g.add("Sub", [a, b])
    g.set_outputs([sub])
    g.set_inputs(sub, [b, a])
    assert sub.inputs == [b, a]
    g.set_inputs(sub, [a, a, b])
    assert sub.inputs == [a, a, b]
    assert a.uses() == [(sub, 0), (sub, 1)] and b.uses() == [(sub, 2)]
    g.check()


# -- ordering -----------------------------------------------------------------------------------
def test_nodes_are_topological_even_after_rewiring_to_a_later_node():
    g = Graph()
    x = g.add_input("x", (None, 4))
    first = g.add("Relu", [x], name="first")
    later = g.add("Sigmoid", [x], name="later")
    g.set_outputs([first])
    g.set_inputs(first, [later])  # first now reads a node created after it
    names = [n.name for n in g.nodes()]
    assert names == ["x", "later", "first"]


def test_nodes_order_breaks_ties_by_creation_and_is_reproducible():
    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 4))
        y = g.add_input("y", (None, 4))
        b1 = g.add("Tanh", [y], name="zz")
        b2 = g.add("Relu", [x], name="aa")
        b3 = g.add("Sigmoid", [b1], name="mm")
        g.set_outputs([g.add("Add", [b2, b3], name="out")])
        return g

    g1, g2 = build(), build()
    names = [n.name for n in g1.nodes()]
    assert names == ["x", "y", "zz", "aa", "mm", "out"]  # creation order, not alphabetical
    assert names == [n.name for n in g2.nodes()]
    assert [n.name for n in g1] == names


def test_nodes_filter_by_op_and_returns_a_snapshot():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r1 = g.add("Relu", [x])
    s = g.add("Sigmoid", [r1])
    r2 = g.add("Relu", [s])
    g.set_outputs([r2])
    assert g.nodes("Relu") == [r1, r2]
    assert g.nodes(("Relu", "Sigmoid")) == [r1, s, r2]
    assert g.nodes(["Input"]) == [x]
    assert g.nodes("Conv") == []
    snapshot = g.nodes()
    snapshot.clear()
    assert len(g.nodes()) == 4
    t = g.add("Tanh", [r2])  # the cached order must see the new node
    assert g.nodes()[-1] is t


# -- linting ------------------------------------------------------------------------------------
def test_check_accepts_a_valid_graph():
    g = Graph()
    x = g.add_input("x", (None, 6, 6, 3))
    k = np.ones((3, 3, 3, 4), np.float32)
    c = g.add("Conv", [x], attrs=conv_attrs("same", (2, 2)), params={"kernel": k})
    g.set_outputs([g.add("Relu", [c])])
    g.check()


def test_check_catches_a_stale_shape():
    g = Graph()
    x = g.add_input("x", (None, 6))
    d = g.add("Dense", [x], params=dense_params(6, 3))
    g.set_outputs([d])
    d.shape = (None, 4)
    with pytest.raises(GraphError, match=r"'dense'.*\(None, 4\).*\(None, 3\)"):
        g.check()


def test_check_catches_a_gap_in_input_slots():
    g = Graph()
    x = g.add_input("x", (None, 4))
    y = g.add_input("y", (None, 4))
    add = g.add("Add", [x, y])
    g.set_outputs([add])
    g._g.remove_edge("x", "add")  # leaves only slot 1
    with pytest.raises(GraphError, match=r"'add' has input slots \[1\]"):
        g.check()


def test_check_catches_a_cycle():
    g = Graph()
    x = g.add_input("x", (None, 4))
    a = g.add("Relu", [x])
    b = g.add("Tanh", [a])
    g.set_outputs([b])
    g.set_inputs(a, [b])
    with pytest.raises(GraphError, match="cycle"):
        g.check()


def test_check_catches_bad_outputs():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    g.set_outputs([r])
    g.output_names.append("extra")
    with pytest.raises(GraphError, match="output names"):
        g.check()
    g.set_outputs([r])
    g._g.remove_node("relu")
    with pytest.raises(GraphError, match="'relu' is not in the graph"):
        g.check()


# -- printing and statistics ---------------------------------------------------------------------
def test_str_lists_inputs_nodes_shapes_and_outputs():
    g = Graph("tiny")
    x = g.add_input("img", (None, 8, 8, 3))
    k = np.ones((3, 3, 3, 4), np.float32)
    c = g.add("Conv", [x], name="conv1", attrs=conv_attrs("same"), params={"kernel": k})
    r = g.add("Relu", [c], name="act")
    g.set_outputs([r], ["features"])
    text = str(g)
    lines = text.splitlines()
    assert lines[0] == "graph tiny("
    assert lines[1] == "    %img : (?,8,8,3),"
    assert lines[2] == "):"
    assert lines[3] == (
        "    %conv1 = Conv[dilations=(1,1), padding=same, strides=(1,1)][kernel:(3, 3, 3, 4)](%img) : (?,8,8,4)"
    )
    assert lines[4] == "    %act = Relu(%conv1) : (?,8,8,4)"
    assert lines[5] == "    return features=%act"
    assert len(lines) == 6


def test_repr_shows_every_operand_slot_and_skips_none_attrs():
    g = Graph()
    x = g.add_input("x", (None, 4))
    add = g.add("Add", [x, x], attrs={"note": None, "alpha": 0.5})
    assert repr(add) == "%add = Add[alpha=0.5](%x, %x) : (?,4)"
    assert repr(x) == "%x = Input() : (?,4)"


def test_op_counts_are_sorted_by_op():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    a = g.add("Add", [r, x])
    r2 = g.add("Relu", [a])
    g.set_outputs([r2])
    counts = g.op_counts()
    assert counts == {"Add": 1, "Input": 1, "Relu": 2}
    assert list(counts) == ["Add", "Input", "Relu"]


def test_num_params_counts_shared_arrays_once():
    g = Graph()
    x = g.add_input("x", (None, 6))
    shared = dense_params(6, 6)
    d1 = g.add("Dense", [x], params=shared)
    d2 = g.add("Dense", [d1], params=shared)  # a Keras layer called twice
    d3 = g.add("Dense", [d2], params=dense_params(6, 2, seed=1))
    g.set_outputs([d3])
    assert g.num_params() == (36 + 6) + (12 + 2)
    bn = {
        "gamma": np.ones(2, np.float32),
        "beta": np.zeros(2, np.float32),
        "mean": np.zeros(2, np.float32),
        "var": np.ones(2, np.float32),
    }
    g.set_outputs([g.add("BatchNorm", [d3], attrs={"axis": 1, "epsilon": 1e-3}, params=bn)])
    assert g.num_params() == 56 + 8


def test_graph_is_exported_by_the_package():
    assert compiler.Graph is Graph
    assert compiler.Node is type(Graph().add_input("x", (None, 1)))
