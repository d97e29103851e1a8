"""passes.cleanup's merge_shape_ops: Pad(Pad), Reshape/Flatten chains, global pool + Reshape((1, 1, C))."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler import Graph
from unit_kit import assert_equivalent, conv2d, onnx_ops, pad_nhwc, rand, transformed

IDENTITY_1x1 = np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)


def conv_attrs():
    return {"strides": (1, 1), "dilations": (1, 1), "padding": "valid"}


# -- Pad(Pad(x)) -----------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["Input", "Conv"])
def test_nested_pads_merge_into_one_with_the_pads_added(source):
    inner_pads, outer_pads = ((1, 0), (2, 1)), ((0, 3), (1, 1))

    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 5, 3))
        s = x if source == "Input" else g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": IDENTITY_1x1})
        inner = g.add("Pad", [s], name="inner", attrs={"pads": inner_pads})
        g.set_outputs([g.add("Pad", [inner], name="outer", attrs={"pads": outer_pads})], ["padded"])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == "merged 1 Pad/Reshape chains"
    (pad,) = g.nodes("Pad")
    assert tuple(map(tuple, pad.attrs["pads"])) == ((1, 3), (3, 2))
    assert pad.shape == (None, 8, 10, 3)
    assert pad.inputs[0].op == source
    assert g.output_names == ["padded"]
    x = rand((2, 4, 5, 3), 1, shift=-2.0)
    assert_equivalent(ref, g, {"x": x}, [pad_nhwc(x, ((1, 3), (3, 2)))])


def test_three_pads_collapse_into_one():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 3, 3, 2))
        y = x
        for pads in (((1, 1), (0, 0)), ((0, 0), (2, 0)), ((0, 2), (0, 1))):
            y = g.add("Pad", [y], attrs={"pads": pads})
        g.set_outputs([g.add("Relu", [y])])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == "merged 2 Pad/Reshape chains"
    (pad,) = g.nodes("Pad")
    assert tuple(map(tuple, pad.attrs["pads"])) == ((1, 3), (2, 1))
    x = rand((2, 3, 3, 2), 2)
    assert_equivalent(ref, g, {"x": x}, [np.maximum(pad_nhwc(x, ((1, 3), (2, 1))), 0)])


@pytest.mark.parametrize("other_reader", ["consumer", "output"])
def test_inner_pad_read_elsewhere_is_not_merged(other_reader):
    def build():
        g = Graph()
        x = g.add_input("x", (None, 3, 4, 2))
        inner = g.add("Pad", [x], name="inner", attrs={"pads": ((1, 1), (1, 1))})
        outer = g.add("Pad", [inner], name="outer", attrs={"pads": ((0, 1), (2, 0))})
        second = g.add("Tanh", [inner]) if other_reader == "consumer" else inner
        g.set_outputs([outer, second])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == "merged 0 Pad/Reshape chains"
    assert [n.name for n in g.nodes("Pad")] == ["inner", "outer"]
    assert g.node("outer").inputs == [g.node("inner")]
    x = rand((2, 3, 4, 2), 3)
    once = pad_nhwc(x, ((1, 1), (1, 1)))
    second = np.tanh(once) if other_reader == "consumer" else once
    assert_equivalent(ref, g, {"x": x}, [pad_nhwc(once, ((0, 1), (2, 0))), second])


# -- Reshape / Flatten chains ----------------------------------------------------------------------------
CHAINS = {
    "reshape_reshape": [("Reshape", (6, 4)), ("Reshape", (2, 12))],
    "flatten_reshape": [("Flatten", None), ("Reshape", (4, 6))],
    "reshape_flatten": [("Reshape", (4, 3, 2)), ("Flatten", None)],
    "four_long": [("Flatten", None), ("Reshape", (-1, 2)), ("Flatten", None), ("Reshape", (3, 8))],
    "inferred_dim": [("Reshape", (12, 2)), ("Reshape", (2, -1, 3))],
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_reshape_and_flatten_chains_become_one_reshape(chain):
    steps = CHAINS[chain]

    def build():
        g = Graph()
        x = g.add_input("x", (None, 2, 3, 4))
        y = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": rand((1, 1, 4, 4), 4)})
        for op, shape in steps:
            y = g.add(op, [y], attrs={} if shape is None else {"shape": shape})
        g.set_outputs([g.add("Relu", [y])], ["out"])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == f"merged {len(steps) - 1} Pad/Reshape chains"
    final = ref.nodes("Relu")[0].shape
    assert g.op_counts() == {"Conv": 1, "Input": 1, "Relu": 1, "Reshape": 1}
    (reshape,) = g.nodes("Reshape")
    assert tuple(reshape.attrs["shape"]) == final[1:]
    assert reshape.shape == final
    assert reshape.inputs == g.nodes("Conv")
    x = rand((2, 2, 3, 4), 5)
    expected = np.maximum(conv2d(x, rand((1, 1, 4, 4), 4)).reshape(2, *final[1:]), 0)
    assert_equivalent(ref, g, {"x": x}, [expected])


def test_reshape_chain_with_a_shared_middle_is_kept():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 2, 6))
        mid = g.add("Reshape", [x], name="mid", attrs={"shape": (3, 4)})
        g.set_outputs([g.add("Reshape", [mid], name="last", attrs={"shape": (12,)}), g.add("Tanh", [mid])])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == "merged 0 Pad/Reshape chains"
    assert g.node("last").inputs == [g.node("mid")]
    x = rand((2, 2, 6), 6)
    assert_equivalent(ref, g, {"x": x}, [x.reshape(2, 12), np.tanh(x.reshape(2, 3, 4))])


def test_reshape_chain_with_an_unknown_final_size_is_kept():
    def build():
        g = Graph()
        x = g.add_input("x", (None, None, 4))
        r = g.add("Reshape", [x], attrs={"shape": (-1, 2, 2)})
        g.set_outputs([g.add("Reshape", [r], attrs={"shape": (-1, 4)})])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == "merged 0 Pad/Reshape chains"
    assert g.op_counts() == {"Input": 1, "Reshape": 2}
    x = rand((2, 5, 4), 7)
    assert_equivalent(ref, g, {"x": x}, [x])


# -- global pool + Reshape((1, 1, C)) ---------------------------------------------------------------------
@pytest.mark.parametrize("pool", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool_reshaped_to_one_by_one_keeps_its_dims(pool):
    # squeeze-and-excitation: x · sigmoid(pool(x) reshaped to (1, 1, C))
    def build():
        g = Graph()
        x = g.add_input("x", (None, 5, 4, 3))
        c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": IDENTITY_1x1})
        p = g.add(pool, [c], name="pool", attrs={"keepdims": False})
        r = g.add("Reshape", [p], name="se_reshape", attrs={"shape": (1, 1, 3)})
        g.set_outputs([g.add("Mul", [c, g.add("Sigmoid", [r])])], ["y"])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == "merged 1 Pad/Reshape chains"
    assert g.op_counts() == {"Conv": 1, "Input": 1, "Mul": 1, "Sigmoid": 1, pool: 1}
    (p,) = g.nodes(pool)
    assert p.attrs["keepdims"] is True
    assert p.shape == (None, 1, 1, 3)
    assert g.nodes("Sigmoid")[0].inputs == [p]
    model = compiler.to_onnx(g)
    assert not {"Reshape", "Flatten"} & set(onnx_ops(model))
    x = rand((2, 5, 4, 3), 8)
    reduce = np.mean if pool == "GlobalAveragePool" else np.max
    gate = 1 / (1 + np.exp(-reduce(x.astype(np.float64), axis=(1, 2), keepdims=True)))
    assert_equivalent(ref, g, {"x": x}, [(x * gate).astype(np.float32)])


def test_global_pool_as_the_reshape_output_keeps_the_output_name():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 3, 3, 4))
        p = g.add("GlobalAveragePool", [x], attrs={"keepdims": False})
        g.set_outputs([g.add("Reshape", [p], attrs={"shape": (1, 1, 4)})], ["pooled"])
        return g

    ref, g, _ = transformed(build, "merge_shape_ops")
    assert g.op_counts() == {"GlobalAveragePool": 1, "Input": 1}
    assert g.output_names == ["pooled"]
    x = rand((2, 3, 3, 4), 9)
    assert_equivalent(ref, g, {"x": x}, [x.mean(axis=(1, 2), keepdims=True)])


@pytest.mark.parametrize("target", [(1, 3, 1), (3, 1, 1), (1, 3), (3,)])
def test_global_pool_reshaped_to_another_shape_is_left_alone(target):
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        p = g.add("GlobalAveragePool", [x], attrs={"keepdims": False})
        g.set_outputs([g.add("Reshape", [p], attrs={"shape": target})])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == "merged 0 Pad/Reshape chains"
    assert g.op_counts() == {"GlobalAveragePool": 1, "Input": 1, "Reshape": 1}
    assert g.nodes("GlobalAveragePool")[0].attrs["keepdims"] is False
    x = rand((2, 4, 4, 3), 10)
    assert_equivalent(ref, g, {"x": x}, [x.mean(axis=(1, 2)).reshape(2, *target)])


def test_global_pool_read_twice_is_left_alone():
    def build():
        g = Graph()
        x = g.add_input("x", (None, 4, 4, 3))
        p = g.add("GlobalMaxPool", [x], attrs={"keepdims": False})
        g.set_outputs([g.add("Reshape", [p], attrs={"shape": (1, 1, 3)}), p])
        return g

    ref, g, (report,) = transformed(build, "merge_shape_ops")
    assert report.summary == "merged 0 Pad/Reshape chains"
    assert g.op_counts() == {"GlobalMaxPool": 1, "Input": 1, "Reshape": 1}
    x = rand((2, 4, 4, 3), 11)
    assert_equivalent(ref, g, {"x": x}, [x.max(axis=(1, 2), keepdims=True), x.max(axis=(1, 2))])
