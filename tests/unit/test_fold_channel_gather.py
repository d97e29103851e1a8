"""passes.fold_channel_gather: y[..., c] = x[..., g(c)] read by a Conv or Dense is the gathered kernel."""

from __future__ import annotations

import pytest

from compiler import Graph
from unit_kit import assert_equivalent, rand, transformed

CONV = {"strides": (1, 1), "dilations": (1, 1), "padding": "valid", "group": 1}


def gather(g: Graph, x, pieces: list[tuple[int, int]], squeeze: bool) -> object:
    """x[..., a:b] pieces concatenated on the last axis; ``squeeze``: width-1 pieces as x[..., i] stacked."""
    rank = len(x.shape)
    parts = []
    for a, b in pieces:
        s = g.add("Slice", [x], attrs={"slices": ((None, None, None),) * (rank - 1) + ((a, b, None),)})
        if squeeze and b - a == 1:
            s = g.add("Squeeze", [s], attrs={"axes": (rank - 1,)})
            s = g.add("Unsqueeze", [s], attrs={"axes": (rank - 1,)})
        parts.append(s)
    return g.add("Concat", parts, attrs={"axis": rank - 1})


@pytest.mark.parametrize(
    ("pieces", "squeeze"),
    [
        ([(2, 3), (1, 2), (0, 1)], True),  # caffe's RGB -> BGR as stack([x[..., 2], x[..., 1], x[..., 0]])
        ([(2, 3), (0, 2)], False),  # a rotation with a wider slice
        ([(0, 1), (0, 1), (2, 3)], True),  # a channel twice, one never read: still exact
    ],
)
def test_gather_folds_into_the_conv_kernel(pieces, squeeze):
    kernel = rand((3, 3, 3, 4), 1)

    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 3))
        y = gather(g, x, pieces, squeeze)
        g.set_outputs([g.add("Conv", [y], attrs=dict(CONV), params={"kernel": kernel, "bias": rand((4,), 2)})])
        return g

    ref, g, (report,) = transformed(build, "fold_channel_gather")
    assert report.summary == "folded 1 channel gathers into kernels"
    assert g.op_counts() == {"Conv": 1, "Input": 1}
    assert_equivalent(ref, g, {"x": rand((2, 6, 6, 3), 3)})


def test_permutation_moves_through_an_affine_into_a_padded_conv():
    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 5, 5, 3))
        y = gather(g, x, [(2, 3), (1, 2), (0, 1)], True)
        y = g.add("Affine", [y], attrs={"axis": 3}, params={"scale": rand((3,), 4), "shift": rand((3,), 5)})
        pads = {**CONV, "padding": ((1, 1), (1, 1))}
        g.set_outputs([g.add("Conv", [y], attrs=pads, params={"kernel": rand((3, 3, 3, 2), 6)})])
        return g

    ref, g, _ = transformed(build, "fold_channel_gather")
    assert g.op_counts() == {"Affine": 1, "Conv": 1, "Input": 1}
    assert_equivalent(ref, g, {"x": rand((2, 5, 5, 3), 7)})


def test_gather_into_dense():
    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 4, 3))
        y = gather(g, x, [(1, 3), (0, 1)], False)
        g.set_outputs([g.add("Dense", [y], params={"kernel": rand((3, 5), 8), "bias": rand((5,), 9)})])
        return g

    ref, g, _ = transformed(build, "fold_channel_gather")
    assert g.op_counts() == {"Dense": 1, "Input": 1}
    assert_equivalent(ref, g, {"x": rand((2, 4, 3), 10)})


def test_a_gather_read_elsewhere_or_of_spatial_slices_stays():
    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 6, 6, 3))
        flipped = gather(g, x, [(2, 3), (1, 2), (0, 1)], True)
        rows = g.add(
            "Slice", [x], attrs={"slices": ((None, None, None), (0, 3, None), (None, None, None), (0, 3, None))}
        )
        rows = g.add("Concat", [rows, rows], attrs={"axis": 1})
        conv = g.add("Conv", [flipped], attrs=dict(CONV), params={"kernel": rand((1, 1, 3, 2), 11)})
        other = g.add("Conv", [rows], attrs=dict(CONV), params={"kernel": rand((1, 1, 3, 2), 12)})
        g.set_outputs([conv, flipped, other])
        return g

    ref, g, (report,) = transformed(build, "fold_channel_gather")
    assert report.summary == "folded 0 channel gathers into kernels"
    assert g.op_counts()["Concat"] == 2
    assert_equivalent(ref, g, {"x": rand((2, 6, 6, 3), 13)})
