"""Weights kept as arrays until written: Lowered's byte stream, CompiledModel, save, Graph.prune."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

import compiler
from compiler import Graph
from compiler.backend import Lowered, lower
from unit_kit import LEVELS, conv2d, depthwise2d, max_pool, rand, run_model

SAME_3x3 = ((1, 1), (1, 1))

# Weights that are views, not contiguous arrays of their own.
BASE = rand((4, 3, 3, 3), 1)
K1 = BASE.transpose(1, 2, 3, 0)  # (3, 3, 3, 4), a transposed view
B1 = rand((8,), 2)[::2]  # every other element
K_DW = np.asfortranarray(rand((3, 3, 4, 2), 3))
WD = rand((5, 2 * 2 * 8), 4).T  # (32, 5), column-major
BD = rand((5,), 5)


def net(name: str = "stream") -> Graph:
    g = Graph(name)
    x = g.add_input("image", (None, 6, 6, 3))
    c = g.add(
        "Conv",
        [x],
        name="conv",
        attrs={"strides": (1, 1), "dilations": (1, 1), "padding": SAME_3x3},
        params={"kernel": K1, "bias": B1},
    )
    r = g.add("Relu", [c])
    d = g.add(
        "DepthwiseConv",
        [r],
        name="dw",
        attrs={"strides": (1, 1), "dilations": (1, 1), "padding": "valid"},
        params={"kernel": K_DW},
    )
    m = g.add("MaxPool", [d], attrs={"window": (2, 2), "strides": (2, 2), "padding": "valid"})
    f = g.add("Flatten", [m])
    g.set_outputs([g.add("Dense", [f], name="fc", params={"kernel": WD, "bias": BD})], ["logits"])
    return g


def net_ref(x: np.ndarray) -> np.ndarray:
    y = np.maximum(conv2d(x, K1, B1, pads=SAME_3x3), 0)
    y = max_pool(depthwise2d(y, K_DW), (2, 2), (2, 2))
    return (y.reshape(len(x), -1).astype(np.float64) @ WD + BD).astype(np.float32)


def assert_same_model(parsed: onnx.ModelProto, proto: onnx.ModelProto) -> None:
    assert list(parsed.graph.node) == list(proto.graph.node)
    assert list(parsed.graph.input) == list(proto.graph.input)
    assert list(parsed.graph.output) == list(proto.graph.output)
    assert list(parsed.metadata_props) == list(proto.metadata_props)
    assert [t.name for t in parsed.graph.initializer] == [t.name for t in proto.graph.initializer]
    for a, b in zip(parsed.graph.initializer, proto.graph.initializer, strict=False):
        assert list(a.dims) == list(b.dims), a.name
        assert a.data_type == b.data_type, a.name
        assert a.raw_data == b.raw_data, a.name
    assert parsed == proto


# -- Lowered ---------------------------------------------------------------------------------------
def test_serialized_stream_parses_into_the_assembled_model():
    lowered = lower(net())
    assert len(lowered.skeleton.graph.initializer) == 0
    assert len(lowered.initializers) >= 5
    data = lowered.serialize()
    assert data == b"".join(bytes(c) for c in lowered.chunks())
    assert_same_model(onnx.load_from_string(data), lowered.to_proto())


def test_views_are_written_in_logical_order():
    lowered = lower(net())
    views = {name for name, a in lowered.initializers if not a.flags["C_CONTIGUOUS"]}
    assert {"conv.weight", "conv.bias", "dw.weight"} <= views
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(lowered.serialize()).graph.initializer}
    for name, array in lowered.initializers:
        np.testing.assert_array_equal(weights[name], array, err_msg=name)
    np.testing.assert_array_equal(weights["conv.weight"], K1.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(weights["conv.bias"], B1)
    np.testing.assert_array_equal(weights["fc.bias"], BD)


def test_hand_built_lowered_round_trips_odd_arrays():
    skeleton = onnx.helper.make_model(onnx.helper.make_graph([], "empty", [], []), ir_version=8)
    arrays = [
        ("fortran", np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))),
        ("reversed", np.arange(10, dtype=np.float32)[::-1]),
        ("strided", np.arange(24, dtype=np.float32).reshape(4, 6)[::2, 1::2]),
        ("int64", np.asarray([0, -1, 7], np.int64)),
        ("big", np.arange(70_000, dtype=np.float32).reshape(700, 100).T),
    ]
    lowered = Lowered(skeleton, arrays)
    parsed = onnx.load_from_string(lowered.serialize())
    assert [t.name for t in parsed.graph.initializer] == [name for name, _ in arrays]
    for tensor, (name, array) in zip(parsed.graph.initializer, arrays, strict=False):
        got = numpy_helper.to_array(tensor)
        assert got.dtype == array.dtype and got.shape == array.shape, name
        np.testing.assert_array_equal(got, array, err_msg=name)
    assert_same_model(parsed, lowered.to_proto())


def test_scalar_constants_keep_rank_zero_when_streamed():
    g = Graph()
    x = g.add_input("x", (None, 4))
    clipped = g.add("Clip", [x], attrs={"min": 0.0, "max": 6.0})
    g.set_outputs([g.add("Dense", [clipped], params={"kernel": rand((4, 2), 6)})], ["y"])
    lowered = lower(g)
    assert [a.shape for _, a in lowered.initializers if a.ndim == 0] == [(), ()]
    assert_same_model(onnx.load_from_string(lowered.serialize()), lowered.to_proto())


# -- CompiledModel and save ------------------------------------------------------------------------------
def test_compiled_model_builds_the_proto_only_when_asked():
    model = compiler.compile(net(), passes=[])
    assert model.lowered is not None and model.proto is None
    assert len(model.skeleton.graph.initializer) == 0
    assert model.metadata["kerascc.target"] == "onnx"
    assert model.proto is None  # reading the metadata did not assemble the model
    proto = model.onnx
    assert model.proto is proto and model.onnx is proto
    assert len(proto.graph.initializer) == len(model.lowered.initializers)
    assert len(model.skeleton.graph.initializer) == 0
    assert_same_model(onnx.load_from_string(model.serialize()), proto)


def test_save_writes_the_stream_and_the_file_is_a_valid_runnable_model(tmp_path):
    model = compiler.compile(net(), passes=["resolve_padding", "fuse_conv"])
    path = compiler.save(model, tmp_path / "net.onnx")
    assert path.read_bytes() == model.serialize()
    onnx.checker.check_model(str(path), full_check=True)
    assert_same_model(onnx.load(str(path)), model.onnx)
    x = rand((3, 6, 6, 3), 7)
    expected = net_ref(x)
    for level in ("none", "all"):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = LEVELS[level]
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        (got,) = sess.run(None, {"image": x})
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=level)
        np.testing.assert_allclose(got, run_model(model.onnx, {"image": x}, level)[0], rtol=1e-5, atol=1e-5)


def test_two_compiles_give_the_same_bytes(tmp_path):
    first = compiler.compile(net(), passes=["resolve_padding", "fuse_conv"])
    second = compiler.compile(net(), passes=["resolve_padding", "fuse_conv"])
    assert first.serialize() == second.serialize()
    a = compiler.save(first, tmp_path / "a.onnx").read_bytes()
    b = compiler.save(second, tmp_path / "b.onnx").read_bytes()
    assert a == b == first.serialize()


def test_proto_model_is_saved_with_its_deterministic_serialization(tmp_path):
    proto = compiler.compile(net(), passes=[]).onnx
    path = compiler.save(proto, tmp_path / "proto.onnx")
    assert path.read_bytes() == proto.SerializeToString(deterministic=True)


# -- Graph.prune ---------------------------------------------------------------------------------------------
def chain() -> tuple[Graph, dict[str, compiler.Node]]:
    """x → a → b → old → out, with a also read by keep, and keep an output."""
    g = Graph()
    x = g.add_input("x", (None, 3))
    a = g.add("Relu", [x], name="a")
    b = g.add("Tanh", [a], name="b")
    old = g.add("Sigmoid", [b], name="old")
    keep = g.add("Exp", [a], name="keep")
    out = g.add("Add", [old, keep], name="out")
    g.set_outputs([out, keep], ["y", "k"])
    return g, {"x": x, "a": a, "b": b, "old": old, "keep": keep, "out": out}


def test_prune_removes_the_replaced_node_and_producers_nothing_else_reads():
    g, n = chain()
    new = g.add("Sigmoid", [n["x"]], name="new")
    g.replace_all_uses(n["old"], new)
    assert g.prune(n["old"]) == 2
    assert "old" not in g and "b" not in g
    assert {"x", "a", "keep", "out", "new"} <= {m.name for m in g.nodes()}
    assert g.inputs == [n["x"]]
    assert g.node("out").inputs == [new, n["keep"]]
    g.check()
    x = rand((2, 3), 8)
    (y, k) = run_model(compiler.to_onnx(g), {"x": x})
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)) + np.exp(np.maximum(x, 0)), rtol=1e-5)
    np.testing.assert_allclose(k, np.exp(np.maximum(x, 0)), rtol=1e-5)


def test_prune_keeps_the_input_even_when_nothing_reads_it_any_more():
    g = Graph()
    x = g.add_input("x", (None, 3))
    r = g.add("Relu", [x], name="r")
    t = g.add("Tanh", [r], name="t")
    g.set_outputs([t])
    const_src = g.add_input("z", (None, 3))
    new = g.add("Tanh", [const_src], name="t2")
    g.replace_all_uses(t, new)
    assert g.prune(t) == 2
    assert [m.name for m in g.nodes()] == ["x", "z", "t2"]
    assert g.inputs == [x, const_src]


def test_prune_leaves_nodes_that_are_still_read_or_are_outputs():
    g, n = chain()
    assert g.prune(n["a"]) == 0  # read by b and keep
    assert g.prune(n["keep"]) == 0  # an output and read by out
    assert g.prune(n["out"]) == 0  # an output
    assert len(g) == 6
    g.set_outputs([n["keep"]], ["k"])
    assert g.prune(n["out"]) == 3  # out, old, b; a is still read by keep
    assert sorted(m.name for m in g.nodes()) == ["a", "keep", "x"]
    g.check()


def test_prune_counts_a_producer_read_twice_once():
    g = Graph()
    x = g.add_input("x", (None, 2))
    r = g.add("Relu", [x], name="r")
    twice = g.add("Add", [r, r], name="twice")
    g.set_outputs([twice])
    g.set_outputs([x])
    assert g.prune(twice) == 2
    assert [m.name for m in g.nodes()] == ["x"]


def test_pruning_a_node_already_gone_is_a_no_op():
    g, n = chain()
    g.set_outputs([n["keep"]], ["k"])
    assert g.prune(n["out"]) == 3
    assert g.prune(n["out"]) == 0
    assert g.prune(n["b"]) == 0
    assert sorted(m.name for m in g.nodes()) == ["a", "keep", "x"]
