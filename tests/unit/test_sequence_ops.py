"""The IR's element types and the ops of ids and masks, on hand-made graphs: dtype inference and
its lint, Gather, the bool algebra, Where, one-axis reductions, Fill, Tile and the time folds,
against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.errors import GraphError
from unit_kit import run_graph


def test_dtypes_are_inferred_and_linted() -> None:
    g = compiler.Graph()
    ids = g.add_input("ids", (None, 5), dtype="int64")
    mask = g.add("NotEqual", [ids], attrs={"value": 0})
    emb = g.add("Gather", [ids], params={"table": np.zeros((7, 3), np.float32)})
    wide = g.add("Reshape", [mask], attrs={"shape": (5, 1)})
    assert (mask.dtype, emb.dtype, wide.dtype) == ("bool", "float32", "bool")
    assert "bool" in repr(mask) and "bool" not in repr(emb)
    g.set_outputs([emb])
    g.check()
    wide.dtype = "float32"
    with pytest.raises(GraphError, match="dtype"):
        g.check()
    with pytest.raises(GraphError, match="element type"):
        compiler.Graph().add_input("s", (None, 2), dtype="string")


def _masked_mean_graph() -> compiler.Graph:
    g = compiler.Graph()
    ids = g.add_input("ids", (None, 6), dtype="int32")
    table = np.arange(24, dtype=np.float32).reshape(8, 3) - 10
    x = g.add("Gather", [ids], params={"table": table}, name="x")
    mask = g.add("NotEqual", [ids], attrs={"value": 0})
    steps = g.add("Reshape", [mask], attrs={"shape": (6, 1)})
    kept = g.add("Where", [steps, x], attrs={"other": 0.0})
    total = g.add("ReduceSum", [kept], attrs={"axis": 1, "keepdims": False})
    count = g.add("ReduceSum", [g.add("Cast", [steps], attrs={"to": "float32"})], attrs={"axis": 1, "keepdims": False})
    anyone = g.add("ReduceAny", [g.add("NotEqual", [x], attrs={"value": -10.0})], attrs={"axis": 2, "keepdims": False})
    joined = g.add("And", [mask, g.add("Not", [g.add("Fill", [mask], attrs={"value": 0, "dtype": "bool"})])])
    mean = g.add("Div", [total, count], name="mean")
    g.set_outputs([mean, anyone, g.add("Or", [joined, mask])], ["mean", "any", "or"])
    return g


def test_masked_mean_and_bool_ops() -> None:
    ids = np.array([[1, 2, 0, 3, 0, 0], [0, 7, 7, 0, 1, 1]], np.int32)
    mean, anyone, joined = run_graph(_masked_mean_graph(), {"ids": ids})
    table = np.arange(24, dtype=np.float32).reshape(8, 3) - 10
    keep = ids != 0
    want = np.stack([table[row][k].mean(axis=0) for row, k in zip(ids, keep, strict=True)])
    np.testing.assert_allclose(mean, want, rtol=1e-6)
    np.testing.assert_array_equal(anyone, (table[ids] != -10).any(axis=-1))
    np.testing.assert_array_equal(joined, keep)


def test_tile_and_time_folds() -> None:
    g = compiler.Graph()
    v = g.add_input("v", (None, 4))
    step = g.add("Reshape", [v], attrs={"shape": (1, 4)})
    rep = g.add("Tile", [step], attrs={"repeats": (1, 3, 1)})
    seq = g.add_input("seq", (None, 5, 2, 3))
    folded = g.add("FoldTime", [seq])
    dense = g.add("Dense", [folded], params={"kernel": np.eye(3, dtype=np.float32)[:, :2] * 2})
    back = g.add("SplitTime", [dense, seq])
    assert (rep.shape, folded.shape, back.shape) == ((None, 3, 4), (None, 2, 3), (None, 5, 2, 2))
    g.set_outputs([rep, back], ["rep", "back"])
    x, s = np.arange(8, dtype=np.float32).reshape(2, 4), np.random.default_rng(0).normal(size=(2, 5, 2, 3))
    got_rep, got_back = run_graph(g, {"v": x, "seq": s.astype(np.float32)})
    np.testing.assert_array_equal(got_rep, np.repeat(x[:, None], 3, axis=1))
    np.testing.assert_allclose(got_back, 2 * s[..., :2], rtol=1e-6)
