"""Shape rules and lowerings of the ops behind PReLU and Resizing, against numpy references."""
from __future__ import annotations

import numpy as np
import pytest
from unit_kit import rand, run_graph

from compiler import Graph


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
