"""Shape rules and lowerings of the ops behind PReLU, Resizing and the 1-D/3-D layers, against numpy
references."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import Graph
from compiler.errors import ShapeError
from unit_kit import assert_equivalent, rand, run_graph, transformed


def conv_attrs() -> dict:
    return {"strides": (1, 1), "dilations": (1, 1), "padding": "valid", "group": 1}


def _prelu(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, alpha * x)


@pytest.mark.parametrize("alpha_shape", [(4, 3, 5), (1, 1, 5), (4, 1, 1)], ids=["full", "per_channel", "per_row"])
def test_prelu_on_nchw_tensor(alpha_shape):
    """After a convolution the tensor is NCHW inside: the slope must follow that layout."""
    g = Graph()
    x = g.add_input("x", (None, 4, 3, 2))
    kernel = rand((1, 1, 2, 5), 1)
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
    alpha = rand(alpha_shape, 2)
    y = g.add("PRelu", [c], params={"alpha": alpha})
    assert y.shape == (None, 4, 3, 5)
    g.set_outputs([y], ["y"])
    xs = rand((2, 4, 3, 2), 3)
    (got,) = run_graph(g, {"x": xs})
    want = _prelu(np.einsum("nhwc,cf->nhwf", xs, kernel[0, 0]), alpha)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_prelu_after_flatten_follows_the_feature_order():
    """A flattened NCHW map keeps its physical feature order; the slope is permuted to match."""
    g = Graph()
    x = g.add_input("x", (None, 2, 3, 2))
    kernel = rand((1, 1, 2, 2), 4)
    c = g.add("Conv", [x], attrs=conv_attrs(), params={"kernel": kernel})
    f = g.add("Flatten", [c])
    alpha = rand((12,), 5)
    p = g.add("PRelu", [f], params={"alpha": alpha})
    d = g.add("Dense", [p], params={"kernel": rand((12, 3), 6)})
    g.set_outputs([d, p], ["scores", "features"])
    xs = rand((2, 2, 3, 2), 7)
    scores, features = run_graph(g, {"x": xs})
    conv = np.einsum("nhwc,cf->nhwf", xs, kernel[0, 0]).reshape(2, -1)
    np.testing.assert_allclose(features, _prelu(conv, alpha), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores, _prelu(conv, alpha) @ g.outputs[0].params["kernel"], rtol=1e-5, atol=1e-5)


def test_resize_to_a_fixed_size_keeps_the_batch_dynamic():
    g = Graph()
    x = g.add_input("x", (None, 3, 5, 2))
    y = g.add("Resize", [x], attrs={"size": (6, 10), "mode": "nearest", "scale": None})
    assert y.shape == (None, 6, 10, 2)
    g.set_outputs([y], ["y"])
    for batch in (1, 3):
        xs = rand((batch, 3, 5, 2), batch)
        (got,) = run_graph(g, {"x": xs})
        # TensorFlow's nearest with pixel centres: source index floor((i + 0.5)·in/out)
        rows = np.minimum(np.floor((np.arange(6) + 0.5) * 3 / 6).astype(int), 2)
        cols = np.minimum(np.floor((np.arange(10) + 0.5) * 5 / 10).astype(int), 4)
        np.testing.assert_array_equal(got, xs[:, rows][:, :, cols])


def test_resize_by_scale_still_multiplies_known_sizes():
    g = Graph()
    x = g.add_input("x", (None, None, 4, 2))
    y = g.add("Resize", [x], attrs={"scale": (2, 3), "mode": "nearest"})
    assert y.shape == (None, None, 12, 2)


# -- steps (N, L, C) and volumes (N, D, H, W, C) ------------------------------------------------------
def _conv1x1(rank: int, cin: int, cout: int, seed: int):
    """A pointwise convolution over ``rank - 2`` spatial axes: its output is channels-first inside."""
    kernel = rand((1,) * (rank - 2) + (cin, cout), seed)
    attrs = {"strides": (1,) * (rank - 2), "dilations": (1,) * (rank - 2), "padding": "valid", "group": 1}
    return kernel, attrs


@pytest.mark.parametrize("rank", [3, 5])
def test_pad_crop_resize_on_steps_and_volumes(rank):
    """Pad, Crop and Resize take one (before, after) pair / factor per spatial axis, in the
    channels-first layout the convolution leaves behind."""
    spatial = (5, 4, 3)[: rank - 2]
    g = Graph()
    x = g.add_input("x", (None, *spatial, 2))
    kernel, attrs = _conv1x1(rank, 2, 3, 10)
    c = g.add("Conv", [x], attrs=attrs, params={"kernel": kernel})
    pads = ((1, 2), (0, 1), (2, 0))[: rank - 2]
    crops = ((2, 1), (1, 0), (0, 1))[: rank - 2]
    scale = (2, 1, 3)[: rank - 2]
    p = g.add("Pad", [c], attrs={"pads": pads})
    r = g.add("Resize", [p], attrs={"scale": scale, "mode": "nearest"})
    y = g.add("Crop", [r], attrs={"crops": crops})
    padded = [n + a + b for n, (a, b) in zip(spatial, pads, strict=False)]
    assert y.shape == (None, *[n * f - a - b for n, f, (a, b) in zip(padded, scale, crops, strict=False)], 3)
    g.set_outputs([y], ["y"])
    xs = rand((2, *spatial, 2), 11)
    (got,) = run_graph(g, {"x": xs})
    want = np.pad(xs @ kernel.reshape(2, 3), [(0, 0), *pads, (0, 0)])
    for axis, f in enumerate(scale, 1):
        want = np.repeat(want, f, axis=axis)
    want = want[(slice(None), *[slice(a, n - b) for (a, b), n in zip(crops, want.shape[1:], strict=False)])]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pad_needs_one_pair_per_spatial_axis():
    g = Graph()
    x = g.add_input("x", (None, 4, 5, 6, 2))
    with pytest.raises(ShapeError, match="3 spatial axes"):
        g.add("Pad", [x], attrs={"pads": ((1, 1), (1, 1))})


def test_affine_over_two_axes_follows_the_physical_layout():
    """Normalization over (height, channels): the statistics are laid out like the NCHW tensor."""
    g = Graph()
    x = g.add_input("x", (None, 3, 4, 2))
    kernel, attrs = _conv1x1(4, 2, 5, 12)
    c = g.add("Conv", [x], attrs=attrs, params={"kernel": kernel})
    scale, shift = rand((3, 5), 13), rand((3, 5), 14)
    y = g.add("Affine", [c], attrs={"axis": (1, 3)}, params={"scale": scale, "shift": shift})
    g.set_outputs([y], ["y"])
    xs = rand((2, 3, 4, 2), 15)
    (got,) = run_graph(g, {"x": xs})
    want = (xs @ kernel.reshape(2, 5)) * scale[:, None, :] + shift[:, None, :]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_affine_folds_into_a_volume_convolution():
    """fold_affine moves a scale/shift into the 3-D convolution that reads it (no pads)."""

    def build() -> Graph:
        g = Graph()
        x = g.add_input("x", (None, 4, 5, 6, 2))
        a = g.add("Affine", [x], attrs={"axis": 4}, params={"scale": rand((2,), 16), "shift": rand((2,), 17)})
        attrs = {"strides": (1, 2, 1), "dilations": (1, 1, 1), "padding": "valid", "group": 1}
        y = g.add("Conv", [a], attrs=attrs, params={"kernel": rand((2, 3, 2, 2, 3), 18), "bias": rand((3,), 19)})
        g.set_outputs([y], ["y"])
        return g

    reference, graph, _ = transformed(build, "resolve_padding", "fold_affine")
    assert not graph.nodes("Affine")
    assert_equivalent(reference, graph, {"x": rand((2, 4, 5, 6, 2), 20)})
