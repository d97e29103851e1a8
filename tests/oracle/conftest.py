"""Shared machinery for the oracle tests: compile a real Keras model and compare
onnxruntime's numbers with Keras's own.

Every helper here is exposed as a fixture (``randomize``, ``check``,
``make_inputs``, ``io_names``) so test modules never import this file.
"""

from __future__ import annotations

import os

# Quiet TensorFlow and make its CPU numbers reproducible; must precede any
# import of tensorflow/keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", module="keras")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import keras  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

# Ops that must not survive compilation: BatchNormalization is folded into the
# preceding Conv/Gemm (or expressed otherwise) and Dropout is an inference no-op.
FORBIDDEN_OPS = ("BatchNormalization", "Dropout")

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: heavy models (full-size keras.applications networks)"
    )


# --------------------------------------------------------------------------
# model preparation


def _all_layers(model):
    """Every layer of ``model``, descending into nested models."""
    seen = set()
    stack = list(model.layers)
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        if hasattr(layer, "layers") and layer is not model:
            stack.extend(layer.layers)


def randomize(model, seed: int = 0, bias_std: float = 0.5):
    """Give BatchNormalization layers random statistics and affine parameters,
    and every biased layer a non-zero bias, so that folding and bias handling
    are really exercised (Keras initialises both to trivial values)."""
    rng = np.random.default_rng(seed)

    def put(var, values):
        var.assign(np.asarray(values, dtype=var.dtype))

    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = tuple(layer.moving_mean.shape)
            if layer.gamma is not None:
                put(layer.gamma, rng.normal(1.0, 0.5, shape))
            if layer.beta is not None:
                put(layer.beta, rng.normal(0.0, 0.5, shape))
            put(layer.moving_mean, rng.normal(0.0, 0.5, shape))
            put(layer.moving_variance, rng.uniform(0.5, 2.0, shape))
            continue
        bias = getattr(layer, "bias", None)
        if bias is not None and hasattr(bias, "assign"):
            put(bias, rng.normal(0.0, bias_std, tuple(bias.shape)))
    return model


def io_names(model):
    """(input names, output names) as the ONNX contract defines them: the Keras
    input layers in ``model.inputs`` order and the layers producing
    ``model.outputs`` in order."""
    ins = [t._keras_history.operation.name for t in model.inputs]
    outs = [t._keras_history.operation.name for t in model.outputs]
    return ins, outs


def make_inputs(model, batch: int = 2, seed: int = 0):
    """Seeded standard-normal inputs matching ``model.inputs`` (NHWC)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        shape = (batch,) + tuple(int(d) for d in t.shape[1:])
        arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


# --------------------------------------------------------------------------
# saving in each source format


def save_source(model, fmt: str, directory: Path):
    """Write ``model`` in ``fmt``; return (source, weights) for compiler.compile."""
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":
        path = directory / "model.keras"
        model.save(path)
        return path, None
    if fmt == "json+weights":
        path = directory / "model.json"
        path.write_text(model.to_json())
        weights = directory / "model.weights.h5"
        model.save_weights(weights)
        return path, weights
    if fmt == "h5":
        path = directory / "model.h5"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(path)
        return path, None
    raise ValueError(f"unknown format {fmt!r}")


# --------------------------------------------------------------------------
# inspecting and running ONNX


def op_types(proto: onnx.ModelProto) -> list[str]:
    """All op types in the graph, including nested subgraphs."""
    found = []

    def walk(graph):
        for node in graph.node:
            found.append(node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for g in attr.graphs:
                        walk(g)

    walk(proto.graph)
    return found


def graph_inputs(proto: onnx.ModelProto):
    inits = {i.name for i in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in inits]


def declared_shape(value_info):
    """Declared dims: an int for a fixed dim, None for a symbolic/unknown one."""
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.WhichOneof("value") == "dim_value" else None)
    return dims


def to_layout(array: np.ndarray, layout: str) -> np.ndarray:
    if layout == "nchw" and array.ndim == 4:
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    return array


def run_onnx(path, feeds: dict):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    return names, session.run(None, feeds)


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-6)
    if got.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want))) / scale


def keras_predict(model, arrays):
    out = model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0)
    if isinstance(out, dict):
        raise AssertionError("dict-valued model outputs are not used in these tests")
    if not isinstance(out, (list, tuple)):
        out = [out]
    return [np.asarray(o) for o in out]


def verify_onnx_file(
    path,
    model,
    arrays,
    expected,
    *,
    rtol: float = 1e-4,
    forbid_ops=FORBIDDEN_OPS,
    input_layout: str = "nhwc",
    label: str = "",
):
    """Check one compiled file against Keras's outputs; return per-output errors."""
    in_names, out_names = io_names(model)
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))

    opsets = {o.domain: o.version for o in proto.opset_import}
    assert opsets.get("", opsets.get("ai.onnx", 0)) >= 17, f"{label}: opset {opsets}"

    ops = op_types(proto)
    bad = sorted({op for op in ops if op in tuple(forbid_ops)})
    assert not bad, f"{label}: compiled graph still contains {bad}"

    # I/O names, order and declared shapes.
    g_inputs = graph_inputs(proto)
    assert [i.name for i in g_inputs] == in_names, (
        f"{label}: ONNX inputs {[i.name for i in g_inputs]} != Keras {in_names}"
    )
    assert [o.name for o in proto.graph.output] == out_names, (
        f"{label}: ONNX outputs {[o.name for o in proto.graph.output]} != Keras {out_names}"
    )
    for vi, t, arr in zip(g_inputs, model.inputs, arrays):
        keras_dims = [int(d) for d in t.shape[1:]]
        if input_layout == "nchw" and len(keras_dims) == 3:
            keras_dims = [keras_dims[2], keras_dims[0], keras_dims[1]]
        dims = declared_shape(vi)
        assert len(dims) == len(keras_dims) + 1, f"{label}: input {vi.name} rank {dims}"
        assert dims[0] is None, f"{label}: input {vi.name} batch dim is fixed: {dims}"
        assert dims[1:] == keras_dims, f"{label}: input {vi.name} dims {dims} != {keras_dims}"
        assert vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    for vo, t in zip(proto.graph.output, model.outputs):
        keras_dims = [None if d is None else int(d) for d in t.shape[1:]]
        dims = declared_shape(vo)
        assert len(dims) == len(keras_dims) + 1, f"{label}: output {vo.name} rank {dims}"
        assert dims[0] is None, f"{label}: output {vo.name} batch dim is fixed: {dims}"
        assert dims[1:] == keras_dims, f"{label}: output {vo.name} dims {dims} != {keras_dims}"

    feeds = {n: to_layout(a, input_layout) for n, a in zip(in_names, arrays)}
    names, got = run_onnx(path, feeds)
    assert names == out_names

    errors = []
    for name, g, w in zip(out_names, got, expected):
        assert g.shape == w.shape, f"{label}: output {name} shape {g.shape} != Keras {w.shape}"
        assert np.all(np.isfinite(g)), f"{label}: output {name} has non-finite values"
        err = rel_error(g, w)
        errors.append(err)
        assert err <= rtol, (
            f"{label}: output {name} relative error {err:.3e} > {rtol:g} "
            f"(max|keras|={np.max(np.abs(w)):.3e})"
        )
    return errors


def check(
    model,
    tmp_path,
    batch: int = 2,
    formats=("keras", "json+weights"),
    inputs=None,
    rtol: float = 1e-4,
    forbid_ops=FORBIDDEN_OPS,
    input_layout: str = "nhwc",
    seed: int = 0,
    reference=None,
):
    """Compile ``model`` from each source format, run it with onnxruntime and
    compare every output with ``model.predict``.

    ``reference``: a Keras model with the same inputs and outputs that computes
    exactly what ``model`` means, for the rare layer configuration TensorFlow's
    CPU kernels cannot execute themselves.

    Returns ``{format: [relative error per output]}``.
    """
    import compiler

    arrays = list(inputs) if inputs is not None else make_inputs(model, batch, seed)
    expected = keras_predict(reference if reference is not None else model, arrays)
    assert len(expected) == len(model.outputs)
    for name, value in zip(io_names(model)[1], expected):
        assert np.all(np.isfinite(value)), f"Keras itself gives non-finite {name}: fix the test"

    results = {}
    for fmt in formats:
        directory = Path(tmp_path) / fmt.replace("+", "_")
        source, weights = save_source(model, fmt, directory)
        res = compiler.compile(source, weights=weights, input_layout=input_layout)
        assert res.random_weights is False, f"{fmt}: weights were not loaded"
        assert isinstance(res.onnx, onnx.ModelProto)
        out = directory / "model.onnx"
        compiler.save(res, out)
        results[fmt] = verify_onnx_file(
            out,
            model,
            arrays,
            expected,
            rtol=rtol,
            forbid_ops=forbid_ops,
            input_layout=input_layout,
            label=fmt,
        )
    return results


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(name="randomize")
def _randomize_fixture():
    return randomize


@pytest.fixture(name="check")
def _check_fixture():
    return check


@pytest.fixture(name="make_inputs")
def _make_inputs_fixture():
    return make_inputs


@pytest.fixture(name="io_names")
def _io_names_fixture():
    return io_names


@pytest.fixture(name="oracle")
def _oracle_fixture():
    """Namespace of lower-level helpers for tests that drive the compiler themselves."""

    class Oracle:
        pass

    o = Oracle()
    o.randomize = randomize
    o.check = check
    o.make_inputs = make_inputs
    o.io_names = io_names
    o.save_source = save_source
    o.verify_onnx_file = verify_onnx_file
    o.keras_predict = keras_predict
    o.run_onnx = run_onnx
    o.rel_error = rel_error
    o.op_types = op_types
    o.graph_inputs = graph_inputs
    o.declared_shape = declared_shape
    o.to_layout = to_layout
    return o


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Keep auto-generated layer names, graph state and the initialisers' random
    state from one test out of the next, so a test gives the same model alone
    or in the full run."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    yield
