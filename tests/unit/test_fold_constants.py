"""passes.fold_constants: ops on constants computed at compile time, one rule per op, each checked
against onnxruntime running the unfolded graph."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import Graph
from passes.fold_constants import RULES
from unit_kit import assert_equivalent, rand, transformed

C = rand((3, 4), 1) + 2.0  # positive, so sqrt/log/rsqrt are defined
D = rand((3, 4), 2) + 3.0

#: rule -> (operands, attrs): each folds to one Constant that feeds x + value
CASES = {
    "Transpose": ([C], {"perm": (1, 0)}),
    "Reshape": ([C], {"shape": (2, 2)}),
    "ReshapeAll": ([C], {"shape": (4, 3)}),
    "Squeeze": ([C[:1]], {"axes": (0,)}),
    "Unsqueeze": ([C], {"axes": (1,)}),
    "Slice": ([C], {"slices": ((None, None, -1), (1, 4, 2))}),
    "Concat": ([C, D], {"axis": 1}),
    "Tile": ([C], {"repeats": (1, 2)}),
    "Repeat": ([C], {"repeats": 2, "axis": 1}),
    "Flatten": ([C], {}),
    "Add": ([C, D], {}),
    "Sub": ([C, D], {}),
    "Mul": ([C, D], {}),
    "Div": ([C, D], {}),
    "Pow": ([C, D[:1] * 0.3], {}),
    "Max": ([C, D - 2.5], {}),
    "Min": ([C, D - 2.5], {}),
    "Neg": ([C], {}),
    "Abs": ([C - 2.0], {}),
    "Sqrt": ([C], {}),
    "Rsqrt": ([C], {}),
    "Reciprocal": ([C], {}),
    "Square": ([C], {}),
    "Exp": ([C - 2.0], {}),
    "Log": ([C], {}),
    "Cast": ([C * 3.0], {"dtype": "int32"}),
    "Affine": ([C], {"axis": 1}),
    "MatMul": ([C, D.T.copy()], {}),
    "ReduceMean": ([C], {"axes": (0,), "keepdims": True}),
    "ReduceSum": ([C], {"axes": (1,), "keepdims": False}),
    "ReduceMax": ([C], {"axes": (0,), "keepdims": False}),
    "ReduceMin": ([C], {"axes": (1,), "keepdims": True}),
    "ReduceProd": ([C], {"axes": (0,), "keepdims": False}),
}


def test_every_rule_has_a_case():
    assert set(CASES) | {"Gather"} == set(RULES)  # Gather's ids are integers: its own case below


def test_embedding_rows_of_constant_ids_fold():
    """ViT's ``Embedding(n, d)(arange(n))``: the rows are a constant, negative ids from the end."""
    table = rand((5, 3), 7)

    def build() -> Graph:
        g = Graph()
        ids = g.add("Constant", [], params={"value": np.array([[0, 4, -1, 2]], np.int32)})
        rows = g.add("Gather", [ids], params={"table": table})
        x = g.add_input("x", (None, 4, 3))
        g.set_outputs([g.add("Add", [x, rows])])
        return g

    reference, graph, _ = transformed(build, "fold_constants")
    assert graph.op_counts() == {"Add": 1, "Constant": 1, "Input": 1}
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    assert_equivalent(reference, graph, {"x": x})


@pytest.mark.parametrize("op", list(CASES))
def test_fold_rule(op):
    operands, attrs = CASES[op]

    def build() -> Graph:
        g = Graph()
        consts = [g.add("Constant", [], params={"value": np.asarray(a, np.float32)}) for a in operands]
        params = {"scale": rand((4,), 3), "shift": rand((4,), 4)} if op == "Affine" else {}
        dtype = attrs.get("dtype", "float32")
        value = g.add(op, consts, attrs=attrs, params=params, dtype=dtype)
        if dtype != "float32":
            value = g.add("Cast", [value], attrs={"dtype": "float32"})
        x = g.add_input("x", (None, *value.shape))
        g.set_outputs([g.add("Add", [x, value])])
        return g

    reference, graph, reports = transformed(build, "fold_constants")
    assert "folded" in str(reports[0]) and " 0 " not in str(reports[0])
    assert graph.op_counts() == {"Add": 1, "Constant": 1, "Input": 1}
    x = np.random.default_rng(0).normal(size=(2, *graph.inputs[0].shape[1:])).astype(np.float32)
    assert_equivalent(reference, graph, {"x": x})


def test_an_op_on_a_tensor_is_left_alone():
    g = Graph()
    x = g.add_input("x", (None, 4))
    c = g.add("Constant", [], params={"value": np.ones(4, np.float32)})
    g.set_outputs([g.add("Add", [x, c])])
    _, graph, reports = transformed(lambda: g, "fold_constants")
    assert str(reports[0]) == "fold_constants: folded 0 ops on constants"
