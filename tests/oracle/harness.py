"""The oracle: compile real Keras models with kerascc and compare onnxruntime's numbers with Keras's own.

A test builds a Keras model, gives it weights that exercise the compiler, and checks it::

    from .harness import check, randomize

    result = check(randomize(model, 1), tmp_path)  # from .keras and JSON + weights, batch 2, rtol 1e-4
    result.assert_ops(Conv=2, Transpose=2)  # op counts of the compiled graph (the same from every form)
    assert result.transposes_inside == 0  # layout changes only at the graph's edges

``check`` saves the model in each source form, compiles each file with ``compiler.compile``, and
checks every compiled file the same way (``verify``): the ONNX checker, opset >= 17, no op of
``FORBIDDEN_OPS`` and no unfolded BatchNormalization, Keras's input and output names, order and
shapes with a dynamic batch, and finite outputs within ``rtol`` of Keras's outputs
(``keras_predict``), relative to the largest |Keras output|. It returns an ``OracleResult``
holding, per form, the ONNX proto, the compiled model and the errors, so a test asserts on that
object instead of reloading files from ``tmp_path``.

Below ``check`` are the pieces it is made of (``save_source``, ``verify``, ``run_onnx``,
``keras_predict``, …) for tests that drive the compiler themselves, the same check for models
built by tf-keras (Keras 2), and the weight preparation the application tests share.
"""

from __future__ import annotations

import os

# Quiet TensorFlow and make its CPU numbers reproducible; this must run before anything imports
# TensorFlow or Keras, hence before the imports below.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import sys  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402
from keras.src.applications import convnext  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the repository's packages, also when pytest runs from elsewhere
    sys.path.insert(0, str(ROOT))

import compiler  # noqa: E402
from compiler.errors import CompileError, UnsupportedLayerError  # noqa: E402

warnings.filterwarnings("ignore", module="keras")
warnings.filterwarnings("ignore", category=DeprecationWarning)

# Ops that must not survive compilation: Dropout is an inference no-op. A BatchNormalization must
# be folded into the Conv/Gemm before it (``unfolded_batchnorms``); one with nothing to fold into
# is how kerascc writes a per-channel scale and shift of an image tensor.
FORBIDDEN_OPS = ("Dropout",)
LINEAR_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# The source forms ``check`` compiles by default, and all of them.
FORMS = ("keras", "json+weights")
EVERY_FORM = ("keras", "json+weights", "h5")
RTOL = 1e-4
OPTIMIZATION = {"none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


# --------------------------------------------------------------------------
# results


def op_counts(proto: onnx.ModelProto) -> Counter[str]:
    """How often each op occurs in the main graph (what the compiled graph looks like)."""
    return Counter(n.op_type for n in proto.graph.node)


def at_most(n: int) -> range:
    """An ``assert_ops`` bound: between 0 and ``n`` occurrences."""
    return range(n + 1)


def _assert_counts(ops: Counter[str], expected: dict[str, int | range], only: bool, what: str) -> None:
    for op, want in expected.items():
        got = ops.get(op, 0)
        ok = got in want if isinstance(want, range) else got == want
        shown = f"{want.start}..{want.stop - 1}" if isinstance(want, range) else want
        assert ok, f"{what}: {got} {op}, expected {shown}; compiled ops {dict(sorted(ops.items()))}"
    if only:
        extra = sorted(op for op in ops if op not in expected)
        assert not extra, f"{what}: unexpected {extra}; compiled ops {dict(sorted(ops.items()))}"


@dataclass
class FormResult:
    """One compiled file checked against Keras: its proto and its error per model output."""

    form: str
    proto: onnx.ModelProto
    errors: list[float]  # per output: max |onnx - keras| / max |keras|
    abs_errors: list[float]  # per output: max |onnx - keras|
    path: Path | None = None
    compiled: compiler.CompiledModel | None = None

    @property
    def ops(self) -> Counter[str]:
        return op_counts(self.proto)

    @property
    def inner_transposes(self) -> list[str]:
        """Transposes that neither read a graph input nor write a graph output."""
        ins = {i.name for i in self.proto.graph.input}
        outs = {o.name for o in self.proto.graph.output}
        found = [n for n in self.proto.graph.node if n.op_type == "Transpose"]
        return [n.name for n in found if n.input[0] not in ins and n.output[0] not in outs]

    @property
    def transposes_inside(self) -> int:
        return len(self.inner_transposes)

    @property
    def max_error(self) -> float:
        return max(self.errors, default=0.0)

    @property
    def max_abs_error(self) -> float:
        return max(self.abs_errors, default=0.0)

    def assert_ops(self, only: bool = False, **expected: int | range) -> None:
        """Each named op occurs exactly that often (0: absent) or within the range; ``only``: no other op."""
        _assert_counts(self.ops, expected, only, self.form)

    def __str__(self) -> str:
        return f"{self.form}: " + " ".join(f"{e:.2e}" for e in self.errors)


@dataclass
class OracleResult:
    """What ``check`` found, per source form; the op counts must agree across forms."""

    forms: dict[str, FormResult] = field(default_factory=dict)

    def __getitem__(self, form: str) -> FormResult:
        return self.forms[form]

    def __iter__(self) -> Iterator[FormResult]:
        return iter(self.forms.values())

    @property
    def errors(self) -> dict[str, list[float]]:
        return {form: r.errors for form, r in self.forms.items()}

    @property
    def max_error(self) -> float:
        return max((r.max_error for r in self), default=0.0)

    @property
    def max_abs_error(self) -> float:
        return max((r.max_abs_error for r in self), default=0.0)

    @property
    def ops(self) -> Counter[str]:
        """Op counts of the compiled graph; every source form must compile to the same ones."""
        counts = [(r.form, r.ops) for r in self]
        assert counts, "no compiled form"
        first_form, first = counts[0]
        for form, other in counts[1:]:
            assert other == first, f"source forms compile differently: {first_form} {first} vs {form} {other}"
        return first

    @property
    def transposes_inside(self) -> int:
        """The most Transposes inside the graph (away from its inputs and outputs) of any form."""
        return max(r.transposes_inside for r in self)

    def assert_ops(self, only: bool = False, **expected: int | range) -> None:
        """Each named op occurs exactly that often (0: absent) or within the range; ``only``: no other op."""
        _assert_counts(self.ops, expected, only, "compiled graph")

    def __str__(self) -> str:
        return " | ".join(str(r) for r in self)


# --------------------------------------------------------------------------
# model preparation


def fresh_keras_session(seed: int = 1234) -> None:
    """Forget Keras's auto-generated layer names and graph state and reseed its initialisers, so a
    model built now is the same whichever tests ran before."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)


def _all_layers(model: keras.Model) -> Iterator[Any]:
    """Every layer of ``model``, nested models and the layers inside them included."""
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


def randomize(model: keras.Model, seed: int = 0, bias_std: float = 0.5) -> keras.Model:
    """Give BatchNormalization layers random statistics and affine parameters, and every biased
    layer a non-zero bias, so that folding and bias handling are really exercised (Keras
    initialises both to trivial values)."""
    rng = np.random.default_rng(seed)

    def put(var: Any, values: Any) -> None:
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


def randomize_norms(model: keras.Model, seed: int) -> keras.Model:
    """Non-trivial LayerNormalization gamma/beta and LayerScale gamma (Keras starts them at 1, 0 and
    1e-6, which would make the normalization's affine part and ConvNeXt's residual branch invisible
    in the output)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.LayerNormalization):
            if layer.gamma is not None:
                layer.gamma.assign(rng.normal(1.0, 0.4, tuple(layer.gamma.shape)).astype("float32"))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0.0, 0.4, tuple(layer.beta.shape)).astype("float32"))
        elif isinstance(layer, convnext.LayerScale):
            layer.gamma.assign(rng.normal(0.5, 0.3, tuple(layer.gamma.shape)).astype("float32"))
    return model


def io_names(model: keras.Model) -> tuple[list[str], list[str]]:
    """(input names, output names) as the ONNX contract defines them: the Keras input layers in
    ``model.inputs`` order and the layers producing ``model.outputs`` in order."""
    ins = [t._keras_history.operation.name for t in model.inputs]
    outs = [t._keras_history.operation.name for t in model.outputs]
    return ins, outs


def make_inputs(model: keras.Model, batch: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Seeded standard-normal inputs matching ``model.inputs`` (NHWC); integer inputs get ids 0..4,
    bool inputs coin flips."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        shape = (batch,) + tuple(int(d) for d in t.shape[1:])
        dtype = np.dtype(str(t.dtype))
        if dtype.kind in "iu":
            arrays.append(rng.integers(0, 5, shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.random(shape) < 0.5)
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


def onnx_elem_type(dtype: Any) -> int:
    """The ONNX element type a compiled model's input keeps for a Keras input dtype (float32 for
    every floating one, as the layers compute in float32)."""
    dtype = np.dtype(str(dtype))
    return onnx.TensorProto.FLOAT if dtype.kind == "f" else onnx.helper.np_dtype_to_tensor_dtype(dtype)


def keras_predict(model: keras.Model, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Keras's outputs as a list of arrays, one per output: the model called in inference mode,
    which computes what ``model.predict`` does without building a predict function per model."""
    out = model(list(arrays) if len(arrays) > 1 else arrays[0], training=False)
    if isinstance(out, dict):
        raise AssertionError("dict-valued model outputs are not used in these tests")
    if not isinstance(out, list | tuple):
        out = [out]
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in out]


def chain_model(input_shape: tuple[int, ...], *layer_list: Any, extra_outputs: bool = False) -> keras.Model:
    """The layers applied one after the other to an input named ``image``; ``extra_outputs``: every
    intermediate result is an output too."""
    inp = keras.Input(input_shape, name="image")
    x = inp
    seen = []
    for layer in layer_list:
        x = layer(x)
        seen.append(x)
    return keras.Model(inp, seen if extra_outputs else x)


def channels_last_twin(model: keras.Model, build_last: Callable[[], keras.Model]) -> keras.Model:
    """The channels_last twin of a channels_first model, with its weights: TensorFlow's CPU kernels
    cannot run channels_first convolutions, so Keras computes the reference this way."""
    twin = build_last()
    for layer in twin.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return twin


def hard_swish_relu6(x: Any) -> Any:
    """MobileNetV3's hard-swish as its code spells it: x · ReLU6(x + 3) / 6."""
    return x * layers.ReLU(6.0)(x + 3.0) / 6.0


# --------------------------------------------------------------------------
# saving, running, comparing


def save_source(model: keras.Model, form: str, directory: Path) -> tuple[Path, Path | None]:
    """Write ``model`` in ``form``; return (source, weights) for ``compiler.compile``."""
    directory.mkdir(parents=True, exist_ok=True)
    if form == "keras":
        path = directory / "model.keras"
        model.save(path)
        return path, None
    if form == "json+weights":
        path = directory / "model.json"
        path.write_text(model.to_json())
        weights = directory / "model.weights.h5"
        model.save_weights(weights)
        return path, weights
    if form == "h5":
        path = directory / "model.h5"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(path)
        return path, None
    raise ValueError(f"unknown form {form!r}")


def op_types(proto: onnx.ModelProto) -> list[str]:
    """All op types in the graph, including nested subgraphs."""
    found = []

    def walk(graph: onnx.GraphProto) -> None:
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


def unfolded_batchnorms(proto: onnx.ModelProto) -> list[str]:
    """BatchNormalization nodes right after a Conv/Gemm/MatMul whose output nothing else reads:
    those should have been folded into its weights."""
    producers = {out: node for node in proto.graph.node for out in node.output}
    readers = Counter(name for node in proto.graph.node for name in node.input)
    found = []
    for node in proto.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        before = producers.get(node.input[0])
        if before is not None and before.op_type in LINEAR_OPS and readers[node.input[0]] == 1:
            found.append(node.name)
    return found


def graph_inputs(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph's inputs that are not initializers: what a caller feeds."""
    inits = {i.name for i in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in inits]


def declared_shape(value_info: onnx.ValueInfoProto) -> list[int | None]:
    """Declared dims: an int for a fixed dim, None for a symbolic/unknown one."""
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.WhichOneof("value") == "dim_value" else None)
    return dims


def to_layout(array: np.ndarray, layout: str) -> np.ndarray:
    """An NHWC image batch as the compiled model's ``input_layout`` wants it."""
    if layout == "nchw" and array.ndim == 4:
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    return array


def run_onnx(
    model: str | os.PathLike[str] | onnx.ModelProto | bytes, feeds: dict[str, np.ndarray], optimization: str = "all"
) -> tuple[list[str], list[np.ndarray]]:
    """Run on onnxruntime's CPU provider at an optimization level ("all" or "none"); return
    (output names, outputs)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = OPTIMIZATION[optimization]
    options.log_severity_level = 3
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return names, session.run(None, feeds)


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| relative to max |want| (at least 1e-6)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-6)
    if got.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want))) / scale


def abs_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want|."""
    if np.size(got) == 0:
        return 0.0
    return float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))))


def verify(
    path: Path,
    model: keras.Model,
    arrays: Sequence[np.ndarray],
    expected: Sequence[np.ndarray],
    *,
    rtol: float = RTOL,
    forbid_ops: Iterable[str] = FORBIDDEN_OPS,
    input_layout: str = "nhwc",
    label: str = "",
) -> FormResult:
    """Check one compiled file against Keras's outputs (see the module docstring for what)."""
    in_names, out_names = io_names(model)
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))

    opsets = {o.domain: o.version for o in proto.opset_import}
    assert opsets.get("", opsets.get("ai.onnx", 0)) >= 17, f"{label}: opset {opsets}"

    bad = sorted({op for op in op_types(proto) if op in tuple(forbid_ops)})
    assert not bad, f"{label}: compiled graph still contains {bad}"
    unfolded = unfolded_batchnorms(proto)
    assert not unfolded, f"{label}: BatchNormalization {unfolded} not folded into the linear op before it"

    # I/O names, order and declared shapes.
    g_inputs = graph_inputs(proto)
    assert [i.name for i in g_inputs] == in_names, (
        f"{label}: ONNX inputs {[i.name for i in g_inputs]} != Keras {in_names}"
    )
    got_outs = [o.name for o in proto.graph.output]
    assert got_outs == out_names, f"{label}: ONNX outputs {got_outs} != Keras {out_names}"
    for vi, t in zip(g_inputs, model.inputs, strict=True):
        keras_dims = [None if d is None else int(d) for d in t.shape[1:]]  # None: a free axis
        if input_layout == "nchw" and len(keras_dims) == 3:
            keras_dims = [keras_dims[2], keras_dims[0], keras_dims[1]]
        dims = declared_shape(vi)
        assert len(dims) == len(keras_dims) + 1, f"{label}: input {vi.name} rank {dims}"
        assert dims[0] is None, f"{label}: input {vi.name} batch dim is fixed: {dims}"
        assert dims[1:] == keras_dims, f"{label}: input {vi.name} dims {dims} != {keras_dims}"
        assert vi.type.tensor_type.elem_type == onnx_elem_type(t.dtype), f"{label}: input {vi.name} element type"
    for vo, t in zip(proto.graph.output, model.outputs, strict=True):
        keras_dims = [None if d is None else int(d) for d in t.shape[1:]]
        dims = declared_shape(vo)
        assert len(dims) == len(keras_dims) + 1, f"{label}: output {vo.name} rank {dims}"
        assert dims[0] is None, f"{label}: output {vo.name} batch dim is fixed: {dims}"
        assert dims[1:] == keras_dims, f"{label}: output {vo.name} dims {dims} != {keras_dims}"

    feeds = {n: to_layout(a, input_layout) for n, a in zip(in_names, arrays, strict=True)}
    names, got = run_onnx(path, feeds)
    assert names == out_names

    errors, abs_errors = [], []
    for name, g, w in zip(out_names, got, expected, strict=True):
        assert g.shape == w.shape, f"{label}: output {name} shape {g.shape} != Keras {w.shape}"
        assert np.all(np.isfinite(g)), f"{label}: output {name} has non-finite values"
        err = rel_error(g, w)
        errors.append(err)
        abs_errors.append(abs_error(g, w))
        assert err <= rtol, (
            f"{label}: output {name} relative error {err:.3e} > {rtol:g} (max|keras|={np.max(np.abs(w)):.3e})"
        )
    return FormResult(label, proto, errors, abs_errors, path=Path(path))


def check(
    model: keras.Model,
    tmp_path: Path,
    *,
    batch: int = 2,
    forms: Sequence[str] = FORMS,
    inputs: Sequence[np.ndarray] | None = None,
    rtol: float = RTOL,
    forbid_ops: Iterable[str] = FORBIDDEN_OPS,
    input_layout: str = "nhwc",
    seed: int = 0,
    reference: keras.Model | None = None,
    **options: Any,
) -> OracleResult:
    """Compile ``model`` from each source form, run it with onnxruntime and compare every output
    with Keras's (``keras_predict``) on ``inputs`` (default: seeded normal inputs of ``batch`` rows).

    ``reference``: a Keras model with the same inputs and outputs that computes exactly what
    ``model`` means, for the rare layer configuration TensorFlow's CPU kernels cannot execute
    themselves. ``options`` go to ``compiler.compile`` (``opset``, ``target``, …), as does
    ``input_layout``.
    """
    arrays = list(inputs) if inputs is not None else make_inputs(model, batch, seed)
    expected = keras_predict(reference if reference is not None else model, arrays)
    assert len(expected) == len(model.outputs)
    for name, value in zip(io_names(model)[1], expected, strict=True):
        assert np.all(np.isfinite(value)), f"Keras itself gives non-finite {name}: fix the test"

    result = OracleResult()
    for form in forms:
        directory = Path(tmp_path) / form.replace("+", "_")
        source, weights = save_source(model, form, directory)
        res = compiler.compile(source, weights=weights, input_layout=input_layout, **options)
        assert res.random_weights is False, f"{form}: weights were not loaded"
        assert isinstance(res.onnx, onnx.ModelProto)
        out = directory / "model.onnx"
        compiler.save(res, out)
        found = verify(
            out, model, arrays, expected, rtol=rtol, forbid_ops=forbid_ops, input_layout=input_layout, label=form
        )
        found.compiled = res
        result.forms[form] = found
    print(result)
    return result


def check_inputs(
    model: keras.Model,
    tmp_path: Path,
    inputs: Sequence[Sequence[np.ndarray]],
    *,
    form: str = "keras",
    rtol: float = RTOL,
    **options: Any,
) -> OracleResult:
    """Compile ``model`` once, from ``form``, and compare onnxruntime with Keras (``keras_predict``) on each
    set of ``inputs``: one compiled file serves every batch size and, for dims Keras leaves
    unknown, every spatial size. The result has one entry per input set, named by its shapes."""
    source, weights = save_source(model, form, Path(tmp_path) / form.replace("+", "_"))
    res = compiler.compile(source, weights=weights, **options)
    assert res.random_weights is False, f"{form}: weights were not loaded"
    path = compiler.save(res, Path(tmp_path) / "model.onnx")
    proto = onnx.load(str(path))
    in_names, out_names = io_names(model)
    result = OracleResult()
    for arrays in inputs:
        label = ",".join("x".join(map(str, a.shape)) for a in arrays)
        expected = keras_predict(model, arrays)
        names, got = run_onnx(path, dict(zip(in_names, arrays, strict=True)))
        assert names == out_names, f"{label}: ONNX outputs {names} != Keras {out_names}"
        errors = []
        for name, g, w in zip(out_names, got, expected, strict=True):
            assert g.shape == w.shape, f"{label}: output {name} shape {g.shape} != Keras {w.shape}"
            assert np.all(np.isfinite(g)), f"{label}: output {name} has non-finite values"
            errors.append(rel_error(g, w))
            assert errors[-1] <= rtol, f"{label}: output {name} relative error {errors[-1]:.3e} > {rtol:g}"
        abs_errors = [abs_error(g, w) for g, w in zip(got, expected, strict=True)]
        result.forms[label] = FormResult(label, proto, errors, abs_errors, path=path, compiled=res)
    print(result)
    return result


def compile_error(model: keras.Model, tmp_path: Path, kind: type[CompileError] = UnsupportedLayerError) -> CompileError:
    """The error compiling ``model``'s JSON raises; it must be a ``kind``."""
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    with pytest.raises(kind) as info:
        compiler.compile(path)
    return info.value


# --------------------------------------------------------------------------
# tf-keras (Keras 2) models, whose tensors carry no Keras 3 history


def randomize_tf_keras(model: Any, seed: int) -> None:
    """``randomize`` for a tf-keras model: random BatchNorm statistics and affine parameters, random
    biases (every 1-D weight), nested models included."""
    import tf_keras  # heavy and only needed by the Keras 2 tests

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, tf_keras.Model):
            randomize_tf_keras(layer, seed + 1)
            continue
        weights = layer.get_weights()
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            n = weights[0].shape
            stats = [rng.normal(1, 0.3, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.5, 2.0, n)]
            layer.set_weights(stats[: len(weights)])
        elif weights:
            layer.set_weights([w if w.ndim > 1 else rng.normal(0, 0.3, w.shape) for w in weights])


def tf_keras_sources(model: Any, tmp_path: Path) -> list[tuple[str, dict[str, str]]]:
    """The files tf-keras writes for ``model``, as (source, compile keyword arguments): a legacy
    full-model .h5, JSON + HDF5 weights, and JSON + ``.weights.h5`` (which tf-keras writes in the
    attribute-path layout without layer names)."""
    full = tmp_path / "model.h5"
    model.save(full)
    (tmp_path / "model.json").write_text(model.to_json())
    model.save_weights(tmp_path / "weights.h5")
    model.save_weights(tmp_path / "model.weights.h5")
    return [
        (str(full), {}),
        (str(tmp_path / "model.json"), {"weights": str(tmp_path / "weights.h5")}),
        (str(tmp_path / "model.json"), {"weights": str(tmp_path / "model.weights.h5")}),
    ]


def check_tf_keras(
    model: Any,
    sources: Sequence[tuple[str, dict[str, str]]],
    batch: int = 3,
    rtol: float = RTOL,
    inputs: Sequence[np.ndarray] | None = None,
) -> OracleResult:
    """Compile each tf-keras source and compare onnxruntime's outputs with tf-keras's ``predict``
    (on ``inputs``, by default seeded normal ones)."""
    rng = np.random.default_rng(0)
    if inputs is None:
        inputs = [rng.normal(size=(batch, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    inputs = list(inputs)
    want = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    result = OracleResult()
    for path, kwargs in sources:
        label = Path(path).name + "".join(f"+{Path(v).name}" for v in kwargs.values())
        res = compiler.compile(path, **kwargs)
        assert not res.random_weights
        session = ort.InferenceSession(res.serialize(), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        assert names == [t.name.split(":")[0] for t in model.inputs] or len(inputs) == 1
        got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)})
        assert len(got) == len(want)
        errors = []
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape
            err = float(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-6))
            assert err <= rtol, f"{path}: relative error {err:.2e}"
            errors.append(err)
        abs_errors = [abs_error(g, w) for g, w in zip(got, want, strict=True)]
        result.forms[label] = FormResult(label, res.onnx, errors, abs_errors, compiled=res)
    print(result)
    return result


# --------------------------------------------------------------------------
# keras.applications networks with random weights


def leaf_layers(model: keras.Model) -> Iterator[Any]:
    """Every layer that is not itself a model (ConvNeXt keeps its stem in a Sequential)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def _rank_of_input(layer: Any) -> int:
    return len(layer.input.shape)


def expected_convs(model: keras.Model) -> int:
    """ONNX Conv nodes the model should compile to: one per Conv2D/DepthwiseConv2D, two per
    SeparableConv2D (depthwise, pointwise), and one per Dense applied to a 4-D feature map (a 1×1
    convolution over channels, as in ConvNeXt)."""
    kinds = Counter(type(layer).__name__ for layer in leaf_layers(model))
    dense_on_maps = sum(
        1 for layer in leaf_layers(model) if isinstance(layer, layers.Dense) and _rank_of_input(layer) == 4
    )
    return kinds["Conv2D"] + kinds["DepthwiseConv2D"] + 2 * kinds["SeparableConv2D"] + dense_on_maps


def expected_gemms(model: keras.Model) -> int:
    """ONNX Gemm/MatMul nodes the model should compile to: one per Dense on vectors."""
    return sum(1 for layer in leaf_layers(model) if isinstance(layer, layers.Dense) and _rank_of_input(layer) == 2)


def assert_application_graph(name: str, model: keras.Model, ops: Counter[str]) -> None:
    """At most one Transpose, nothing left of Dropout/Identity, one Conv per Keras convolution and
    one Gemm/MatMul per Dense on vectors (``verify`` checks that every BatchNormalization that can
    be folded is)."""
    print(name, dict(sorted(ops.items())))
    assert ops["Transpose"] <= 1, f"{name}: {ops['Transpose']} Transpose"
    for op in ("Dropout", "Identity"):
        assert op not in ops, f"{name}: {ops[op]} {op} left"
    assert ops["Conv"] == expected_convs(model), f"{name}: {ops['Conv']} Conv, Keras has {expected_convs(model)}"
    assert ops["Gemm"] + ops["MatMul"] == expected_gemms(model)


def randomize_application(model: keras.Model, seed: int) -> keras.Model:
    """What ``randomize`` leaves at Keras's trivial initial values but these networks use:
    LayerNormalization gamma/beta and LayerScale gamma (ConvNeXt's residual branches are scaled by
    1e-6 otherwise), and EfficientNet's adapted Normalization statistics."""
    rng = np.random.default_rng(seed)

    def put(var: Any, values: Any) -> None:
        var.assign(np.asarray(values, dtype=var.dtype))

    for layer in leaf_layers(model):
        if isinstance(layer, layers.LayerNormalization):
            put(layer.gamma, rng.normal(1.0, 0.3, tuple(layer.gamma.shape)))
            put(layer.beta, rng.normal(0.0, 0.3, tuple(layer.beta.shape)))
        elif isinstance(layer, convnext.LayerScale):
            put(layer.gamma, rng.uniform(0.2, 0.6, tuple(layer.gamma.shape)))
        elif isinstance(layer, layers.Normalization) and getattr(layer, "adapt_mean", None) is not None:
            put(layer.adapt_mean, [0.485, 0.456, 0.406])
            put(layer.adapt_variance, np.square([0.229, 0.224, 0.225]))
            layer.finalize_state()
    return model


def redraw_kernels(model: keras.Model, seed: int, gain: float) -> keras.Model:
    """Redraw every convolution and Dense kernel from N(0, gain / fan_in).

    Keras's Glorot initialisers shrink the signal at every layer (a depthwise kernel by a factor of
    about the channel count), so after a few dozen layers of random weights the features only
    reflect biases and BatchNorm shifts, and two different images give the same numbers. With a
    variance-preserving scale the input still shows in the pooled features."""
    rng = np.random.default_rng(seed)

    def redraw(var: Any, fan_in: int) -> None:
        shape = tuple(var.shape)
        var.assign(rng.normal(0.0, np.sqrt(gain / fan_in), shape).astype(var.dtype))

    for layer in leaf_layers(model):
        if isinstance(layer, layers.SeparableConv2D):
            kh, kw, _, _ = layer.depthwise_kernel.shape
            redraw(layer.depthwise_kernel, kh * kw)
            redraw(layer.pointwise_kernel, layer.pointwise_kernel.shape[2])
        elif isinstance(layer, layers.DepthwiseConv2D):
            kh, kw, _, _ = layer.kernel.shape
            redraw(layer.kernel, kh * kw)
        elif isinstance(layer, layers.Conv2D):
            kh, kw, cin, _ = layer.kernel.shape
            redraw(layer.kernel, kh * kw * cin)
        elif isinstance(layer, layers.Dense):
            redraw(layer.kernel, layer.kernel.shape[0])
    return model


def two_images(size: int, pixels: bool) -> np.ndarray:
    """Two quite different images: noise and a smooth pattern; raw [0, 255] pixels for models that
    rescale their input themselves, else values in a preprocessed [-2, 2] range."""
    rng = np.random.default_rng(size)
    x = rng.uniform(-2.0, 2.0, (2, size, size, 3))
    yy, xx = np.mgrid[0:size, 0:size] / size
    x[1] = 2.0 * np.stack([np.sin(6 * yy), np.cos(9 * xx), yy - xx], axis=-1)
    if pixels:
        x = (x + 2.0) * (255.0 / 4.0)
    return x.astype("float32")


def assert_informative(values: np.ndarray, what: str) -> None:
    """Outputs that vary across features and between the two images, so the comparison means
    something."""
    spread = float(np.max(np.abs(values)))
    assert np.all(np.isfinite(values)) and spread > 1e-3, f"{what}: degenerate output (max |x| = {spread:.2e})"
    assert float(values.std(axis=-1).min()) > 1e-3 * spread, f"{what}: constant across features"
    assert float(np.max(np.abs(values[0] - values[1]))) > 1e-2 * spread, f"{what}: both images give the same"
