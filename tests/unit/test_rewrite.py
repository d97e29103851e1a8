"""compiler.rewrite: patterns, rules and apply_rules."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import ANY, Graph, P, Rule, apply_rules


@pytest.fixture
def g() -> Graph:
    return Graph()


def conv(g: Graph, x, name=None):
    k = np.ones((1, 1, x.shape[-1], x.shape[-1]), np.float32)
    return g.add(
        "Conv", [x], name=name, attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "valid"}, params={"kernel": k}
    )


# -- P.match ------------------------------------------------------------------------------------
def test_match_binds_names_through_the_tree(g):
    x = g.add_input("x", (None, 4, 4, 3))
    c = conv(g, x)
    r = g.add("Relu", [c])
    m = P("Relu", P("Conv", ANY, name="conv"), name="act").match(r)
    assert m == {"conv": c, "act": r}
    m = P("Relu", P("Conv", P("Input", name="src"), name="conv"), name="act").match(r)
    assert m == {"src": x, "conv": c, "act": r}


def test_match_fails_on_the_wrong_op_anywhere(g):
    x = g.add_input("x", (None, 4, 4, 3))
    r = g.add("Relu", [conv(g, x)])
    assert P("Sigmoid").match(r) is None
    assert P("Relu", P("Dense")).match(r) is None
    assert P("Relu", P("Conv", P("Relu"))).match(r) is None


def test_alternatives_tuple_and_list(g):
    x = g.add_input("x", (None, 4))
    d = g.add("Dense", [x], params={"kernel": np.ones((4, 4), np.float32)})
    t = g.add("Tanh", [x])
    either = P(("Conv", "Dense"), name="lin")
    assert either.match(d) == {"lin": d}
    assert either.match(t) is None
    assert P(["Tanh", "Relu"]).op == ("Tanh", "Relu")
    assert P(["Tanh", "Relu"]).match(t) == {}


def test_any_matches_every_node_and_binds_nothing(g):
    x = g.add_input("x", (None, 4))
    t = g.add("Tanh", [x])
    assert ANY.match(x) == {}
    assert ANY.match(t) == {}
    assert P(None, name="n").match(x) == {"n": x}


def test_operand_count_must_match_when_operands_are_given(g):
    x = g.add_input("x", (None, 4))
    add3 = g.add("Add", [x, x, x])
    assert P("Add", ANY, ANY).match(add3) is None
    assert P("Add", ANY, ANY, ANY).match(add3) == {}
    assert P("Add").match(add3) == {}  # no operand patterns: operands are not looked at


def test_operands_match_in_slot_order(g):
    x = g.add_input("x", (None, 4))
    t = g.add("Tanh", [x])
    sub = g.add("Sub", [t, x])
    assert P("Sub", P("Tanh", name="a"), P("Input", name="b")).match(sub) == {"a": t, "b": x}
    assert P("Sub", P("Input"), P("Tanh")).match(sub) is None


def test_repeated_name_must_bind_the_same_node(g):
    x = g.add_input("x", (None, 4))
    r1 = g.add("Relu", [x])
    r2 = g.add("Relu", [x])
    same = g.add("Add", [r1, r1])
    different = g.add("Add", [r1, r2])
    pattern = P("Add", P("Relu", name="r"), P("Relu", name="r"), name="add")
    assert pattern.match(same) == {"r": r1, "add": same}
    assert pattern.match(different) is None
    anonymous = P("Add", P("Relu"), P("Relu"))
    assert anonymous.match(different) == {}


def test_match_extends_a_given_binding(g):
    x = g.add_input("x", (None, 4))
    r1 = g.add("Relu", [x])
    r2 = g.add("Relu", [x])
    assert P("Relu", name="r").match(r1, {"r": r2}) is None
    assert P("Relu", name="r").match(r1, {"r": r1}) == {"r": r1}


# -- apply_rules --------------------------------------------------------------------------------
def add_relu_graph(sites: int = 2):
    g = Graph()
    x = g.add_input("x", (None, 4))
    y = g.add_input("y", (None, 4))
    outs = []
    for i in range(sites):
        s = g.add("Add", [x, y], name=f"add{i}")
        outs.append(g.add("Relu", [s], name=f"relu{i}"))
    g.set_outputs(outs, [f"out{i}" for i in range(sites)])
    return g


def test_apply_rules_fires_once_per_match_and_drops_dead_nodes():
    g = add_relu_graph(2)
    calls = []

    def rewrite(graph, m):
        calls.append((m["add"].name, m["relu"].name))
        return graph.add("FusedAddRelu", m["add"].inputs, name="fused")

    rule = Rule("fuse", P("Relu", P("Add", name="add"), name="relu"), rewrite=rewrite)
    assert apply_rules(g, [rule]) == {"fuse": 2}
    assert calls == [("add0", "relu0"), ("add1", "relu1")]
    assert g.op_counts() == {"FusedAddRelu": 2, "Input": 2}
    assert [n.name for n in g.outputs] == ["fused", "fused_1"]
    assert g.output_names == ["out0", "out1"]
    assert all(n.inputs == g.inputs for n in g.outputs)
    g.check()


def test_a_failing_check_blocks_the_rewrite():
    g = add_relu_graph(1)
    before = str(g)
    calls = []
    rule = Rule(
        "never",
        P("Relu", P("Add", name="add"), name="relu"),
        rewrite=lambda graph, m: calls.append(m) or graph.add("Tanh", [m["add"]]),
        check=lambda m: False,
    )
    assert apply_rules(g, [rule]) == {"never": 0}
    assert calls == []
    assert str(g) == before


def test_check_sees_the_match():
    g = add_relu_graph(3)
    seen = []

    def check(m):
        seen.append(m["relu"].name)
        return m["relu"].name == "relu1"

    rule = Rule(
        "only1",
        P("Relu", P("Add", name="add"), name="relu"),
        rewrite=lambda graph, m: graph.add("FusedAddRelu", m["add"].inputs, name="f"),
        check=check,
    )
    assert apply_rules(g, [rule]) == {"only1": 1}
    assert seen == ["relu0", "relu1", "relu2"]
    assert [n.op for n in g.outputs] == ["Relu", "FusedAddRelu", "Relu"]
    g.check()


def test_rewrite_returning_none_is_not_counted():
    g = add_relu_graph(1)
    before = str(g)
    rule = Rule("noop", P("Relu"), rewrite=lambda graph, m: None)
    assert apply_rules(g, [rule]) == {"noop": 0}
    assert str(g) == before


def test_rewrite_returning_the_root_counts_without_rewiring():
    g = add_relu_graph(1)
    relu = g.outputs[0]
    rule = Rule("touch", P("Relu", name="r"), rewrite=lambda graph, m: m["r"])
    assert apply_rules(g, [rule]) == {"touch": 1}
    assert g.outputs == [relu] and "add0" in g


def test_first_matching_rule_wins_and_every_rule_is_reported():
    g = add_relu_graph(1)
    first = Rule("first", P("Relu", name="r"), rewrite=lambda graph, m: graph.add("Sigmoid", m["r"].inputs))
    second = Rule("second", P("Relu", name="r"), rewrite=lambda graph, m: graph.add("Tanh", m["r"].inputs))
    unused = Rule("unused", P("Conv"), rewrite=lambda graph, m: None)
    assert apply_rules(g, [first, second, unused]) == {"first": 1, "second": 0, "unused": 0}
    assert [n.op for n in g.outputs] == ["Sigmoid"]


def test_nodes_removed_by_an_earlier_rewrite_are_skipped():
    g = Graph()
    x = g.add_input("x", (None, 4))
    r = g.add("Relu", [x])
    ident = g.add("Identity", [r])
    g.set_outputs([g.add("Tanh", [ident])])

    def absorb(graph, m):
        new = graph.add("Sigmoid", m["relu"].inputs)
        for user in m["relu"].users:
            if user.op == "Identity":  # swallow the Identity that follows, later in the visit order
                graph.replace_all_uses(user, new)
                graph.remove(user)
        return new

    seen = []
    rules = [
        Rule("absorb", P("Relu", name="relu"), rewrite=absorb),
        Rule("identity", P("Identity", name="i"), rewrite=lambda graph, m: seen.append(m["i"]) or None),
    ]
    assert apply_rules(g, rules) == {"absorb": 1, "identity": 0}
    assert seen == []
    assert g.op_counts() == {"Input": 1, "Sigmoid": 1, "Tanh": 1}
    assert g.outputs[0].inputs[0].op == "Sigmoid"
    g.check()
