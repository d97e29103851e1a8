"""Helpers shared by the unit tests: numpy references, onnxruntime runs, pass comparisons.

The numpy references work on NHWC data, as Keras does, and are written from the textbook
definitions (explicit padding, one kernel tap at a time) rather than from the compiler's code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort

import compiler
from compiler.pipeline import run_passes

LEVELS = {
    "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

Pads = tuple[tuple[int, int], tuple[int, int]]
NO_PADS: Pads = ((0, 0), (0, 0))


# -- onnxruntime ------------------------------------------------------------------------------
def session(model: onnx.ModelProto, level: str = "all") -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = LEVELS[level]
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run_model(model: onnx.ModelProto, feeds: dict[str, np.ndarray], level: str = "all") -> list[np.ndarray]:
    return session(model, level).run(None, feeds)


def run_graph(graph: compiler.Graph, feeds: dict[str, np.ndarray], level: str = "all", **kw) -> list[np.ndarray]:
    return run_model(compiler.to_onnx(graph, **kw), feeds, level)


def onnx_ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


# -- data ---------------------------------------------------------------------------------------
def rand(shape: Sequence[int], seed: int = 0, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(tuple(shape)) * scale + shift).astype(np.float32)


def positive(shape: Sequence[int], seed: int = 0, low: float = 0.5, high: float = 1.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, tuple(shape)).astype(np.float32)


def bn_params(channels: int, seed: int = 0) -> dict[str, np.ndarray]:
    return {
        "gamma": positive((channels,), seed, 0.5, 2.0),
        "beta": rand((channels,), seed + 1),
        "mean": rand((channels,), seed + 2),
        "var": positive((channels,), seed + 3, 0.1, 2.0),
    }


# -- passes -------------------------------------------------------------------------------------
def transformed(build: Callable[[], compiler.Graph], *names: str):
    """(reference graph, graph after the passes, reports); both graphs come fresh from ``build``."""
    reference = build()
    graph, reports = run_passes(build(), list(names), check=True)
    graph.check()
    return reference, graph, reports


def assert_equivalent(
    reference: compiler.Graph,
    graph: compiler.Graph,
    feeds: dict[str, np.ndarray],
    expected: Sequence[np.ndarray] | None = None,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-4,
) -> list[np.ndarray]:
    """The rewritten graph computes what the reference graph computes, under both ORT levels.

    The reference runs with every onnxruntime optimization off (with them on, onnxruntime may
    fold a zero Pad into a following MaxPool as if the zeros were ignored); when ``expected`` (a
    numpy reference) is given, the reference graph itself is checked against it first.
    """
    want = run_graph(reference, feeds, "none")
    if expected is not None:
        for w, e in zip(want, expected, strict=True):
            np.testing.assert_allclose(w, e, rtol=rtol, atol=atol, err_msg="reference graph, ORT none")
    for level in ("none", "all"):
        got = run_graph(graph, feeds, level)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=False):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"rewritten graph, ORT {level}")
    return want


# -- numpy references (NHWC) ----------------------------------------------------------------------
def pad_nhwc(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    (t, b), (left, right) = pads
    return np.pad(x, ((0, 0), (t, b), (left, right), (0, 0)), constant_values=value)


def _taps(xp: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]):
    """Yield (i, j, patch) per kernel tap; patch[:, y, x] is the input under tap (i, j) of window (y, x)."""
    n, h, w, _ = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    oh = (h - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w - ((kw - 1) * dw + 1)) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw, :]


def conv2d(x, kernel, bias=None, strides=(1, 1), pads: Pads = NO_PADS, dilations=(1, 1), group=1) -> np.ndarray:
    """Keras Conv2D: kernel (kh, kw, cin/group, cout), output channels split evenly among groups."""
    kh, kw, cpg, cout = kernel.shape
    opg = cout // group
    out = None
    for i, j, patch in _taps(pad_nhwc(x.astype(np.float64), pads), (kh, kw), strides, dilations):
        n, oh, ow, _ = patch.shape
        k = kernel[i, j].astype(np.float64).reshape(cpg, group, opg).transpose(1, 0, 2)
        term = np.einsum("nhwgc,gco->nhwgo", patch.reshape(n, oh, ow, group, cpg), k).reshape(n, oh, ow, cout)
        out = term if out is None else out + term
    if bias is not None:
        out = out + bias
    return out.astype(np.float32)


def depthwise2d(x, kernel, bias=None, strides=(1, 1), pads: Pads = NO_PADS, dilations=(1, 1)) -> np.ndarray:
    """Keras DepthwiseConv2D: kernel (kh, kw, cin, mult); output channel c·mult + m."""
    kh, kw, cin, mult = kernel.shape
    out = None
    for i, j, patch in _taps(pad_nhwc(x.astype(np.float64), pads), (kh, kw), strides, dilations):
        n, oh, ow, _ = patch.shape
        term = np.einsum("nhwc,cm->nhwcm", patch, kernel[i, j].astype(np.float64)).reshape(n, oh, ow, cin * mult)
        out = term if out is None else out + term
    if bias is not None:
        out = out + bias
    return out.astype(np.float32)


def max_pool(x, kernel, strides, pads: Pads = NO_PADS) -> np.ndarray:
    """Max over each window; padded positions never win (they are -inf)."""
    out = None
    for _, _, patch in _taps(pad_nhwc(x, pads, -np.inf), kernel, strides, (1, 1)):
        out = patch if out is None else np.maximum(out, patch)
    return out.astype(np.float32)


def avg_pool(x, kernel, strides, pads: Pads = NO_PADS, count_pad: bool = False) -> np.ndarray:
    """Mean over each window; padded zeros count only with ``count_pad``."""
    total = sum(p for _, _, p in _taps(pad_nhwc(x.astype(np.float64), pads), kernel, strides, (1, 1)))
    if count_pad:
        return (total / (kernel[0] * kernel[1])).astype(np.float32)
    ones = np.ones(x.shape[:3] + (1,))
    count = sum(p for _, _, p in _taps(pad_nhwc(ones, pads), kernel, strides, (1, 1)))
    return (total / count).astype(np.float32)


def conv_transpose2d(x, kernel, bias, strides, dilations, out_size, crop) -> np.ndarray:
    """Keras Conv2DTranspose: kernel (kh, kw, cout, cin), scatter each input pixel, then crop.

    ``out_size`` is the output (H, W); ``crop`` the number of leading rows/cols dropped.
    """
    n, h, w, _ = x.shape
    kh, kw, cout, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilations
    full_h, full_w = (h - 1) * sh + (kh - 1) * dh + 1, (w - 1) * sw + (kw - 1) * dw + 1
    full = np.zeros((n, max(full_h, crop[0] + out_size[0]), max(full_w, crop[1] + out_size[1]), cout))
    for a in range(kh):
        for b in range(kw):
            contrib = np.einsum("nhwc,oc->nhwo", x.astype(np.float64), kernel[a, b].astype(np.float64))
            full[:, a * dh : a * dh + (h - 1) * sh + 1 : sh, b * dw : b * dw + (w - 1) * sw + 1 : sw, :] += contrib
    out = full[:, crop[0] : crop[0] + out_size[0], crop[1] : crop[1] + out_size[1], :]
    if bias is not None:
        out = out + bias
    return out.astype(np.float32)


def batch_norm(x, gamma, beta, mean, var, eps, axis=-1) -> np.ndarray:
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda a: a.astype(np.float64).reshape(shape)  # noqa: E731
    return (r(gamma) * (x - r(mean)) / np.sqrt(r(var) + eps) + r(beta)).astype(np.float32)


MODEL_TOL = {"rtol": 1e-4, "atol": 1e-4}


def assert_close(model: onnx.ModelProto, feeds: dict[str, np.ndarray], expected: Sequence[np.ndarray]) -> None:
    """Both onnxruntime optimization levels reproduce the numpy reference."""
    for level in ("none", "all"):
        got = run_model(model, feeds, level)
        assert len(got) == len(expected)
        for i, (g, e) in enumerate(zip(got, expected, strict=False)):
            assert g.shape == e.shape, (level, i)
            np.testing.assert_allclose(g, e, **MODEL_TOL, err_msg=f"output {i}, ORT optimizations {level}")
