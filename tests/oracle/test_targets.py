"""The three targets against real Keras: ``onnx``, ``ort`` (onnxruntime contrib ops, optimized ahead
of time for this CPU) and ``tensorrt``.

Each model is built, saved and predicted by Keras once per module; every target then compiles the
same ``.keras`` file. Numbers are compared at both onnxruntime optimization levels, except for a
``tensorrt`` file whose MaxPool reads a Pad: that form exists for TensorRT's parser, and
onnxruntime's own Pad+MaxPool fusion would merge the padded zeros into the pool's ignored border
(or refuse the merged pads), so it is checked with onnxruntime's optimizations off.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from keras import layers
from onnx import TensorProto, helper

import compiler

from .harness import OPTIMIZATION, RTOL, io_names, keras_predict, make_inputs, randomize, rel_error, run_onnx

TARGETS = ("onnx", "ort", "tensorrt")
NCHWC = "com.microsoft.nchwc"
MS = "com.microsoft"


# -- models -----------------------------------------------------------------------------------------
def conv_bn(x, filters, kernel, strides=1, name=""):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def resnet():
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.ReLU(name="stem_relu")(conv_bn(inp, 16, 3, name="stem"))
    # identity shortcut
    y = layers.ReLU(name="b1_relu_a")(conv_bn(x, 16, 3, name="b1a"))
    y = conv_bn(y, 16, 3, name="b1b")
    x = layers.ReLU(name="b1_out")(layers.Add(name="b1_add")([x, y]))
    # projection shortcut
    y = layers.Activation("relu", name="b2_relu_a")(conv_bn(x, 32, 3, strides=2, name="b2a"))
    y = conv_bn(y, 32, 3, name="b2b")
    s = conv_bn(x, 32, 1, strides=2, name="b2s")
    x = layers.Activation("relu", name="b2_out")(layers.Add(name="b2_add")([y, s]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="mini_resnet")


def mobilenet():
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.ReLU(6.0, name="stem_relu6")(conv_bn(inp, 16, 3, strides=2, name="stem"))
    x = layers.DepthwiseConv2D(3, padding="same", name="dw1")(x)
    x = layers.Activation("relu6", name="dw1_relu6")(layers.BatchNormalization(name="dw1_bn")(x))
    x = layers.ReLU(6.0, name="pw1_relu6")(conv_bn(x, 32, 1, name="pw1"))
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw2")(x)
    x = layers.ReLU(6.0, name="dw2_relu6")(layers.BatchNormalization(name="dw2_bn")(x))
    mask = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    gate = layers.Conv2D(16, 1, activation="hard_sigmoid", name="gate")(x)
    pooled = layers.GlobalAveragePooling2D(name="gap")(gate)
    labels = layers.Dense(4, activation="sigmoid", name="labels")(pooled)
    scores = layers.Dense(3, activation="hard_sigmoid", name="scores")(pooled)
    return keras.Model(inp, [labels, scores, mask], name="mini_mobilenet")


def dense_head():
    inp = keras.Input((20,), name="features")
    x = layers.Dense(32, activation="relu", name="d1")(inp)
    x = layers.Dense(32, activation="tanh", name="d2")(x)
    x = layers.Dense(16, activation="relu6", name="d3")(x)
    x = layers.Dense(16, name="d4")(x)
    x = layers.LeakyReLU(0.15, name="d4_leaky")(x)
    a = layers.Dense(4, activation="sigmoid", name="sig")(x)
    b = layers.Dense(4, activation="hard_sigmoid", name="hsig")(x)
    c = layers.Dense(5, activation="softmax", name="soft")(x)
    return keras.Model(inp, [a, b, c], name="dense_head")


def padded_pools():
    inp = keras.Input((10, 10, 16), name="image")
    shifted = layers.Conv2D(16, 1, name="shift")(inp)  # identity kernel, bias −2: mostly negative data
    wide = layers.ZeroPadding2D(2, name="pad2")(shifted)  # pads reach the kernel: the Pad stays
    wide = layers.MaxPooling2D(2, name="pool2")(wide)
    narrow = layers.ZeroPadding2D(((1, 0), (0, 1)), name="pad1")(shifted)  # merged into the pool
    narrow = layers.MaxPooling2D(3, strides=2, name="pool3")(narrow)
    raw = layers.ZeroPadding2D(1, name="pad_in")(inp)
    raw = layers.MaxPooling2D(2, name="pool_in")(raw)
    return keras.Model(inp, [wide, narrow, raw], name="padded_pools")


def _prepare_padded_pools(model):
    conv = model.get_layer("shift")
    conv.set_weights([np.eye(16, dtype=np.float32)[None, None], np.full((16,), -2.0, np.float32)])


BUILDERS = {"resnet": resnet, "mobilenet": mobilenet, "dense_head": dense_head, "padded_pools": padded_pools}


@dataclass
class Case:
    name: str
    path: Path
    inputs: list[str]
    outputs: list[str]
    arrays: list[np.ndarray]
    expected: list[np.ndarray]

    @property
    def feeds(self) -> dict[str, np.ndarray]:
        return dict(zip(self.inputs, self.arrays, strict=True))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[dict[str, Case], Path]:
    return {}, tmp_path_factory.mktemp("targets")


@pytest.fixture
def cases(built):
    """name → Case; each model is built, saved and predicted once per module."""
    cache, directory = built

    def get(name: str) -> Case:
        if name not in cache:
            keras.utils.set_random_seed(sorted(BUILDERS).index(name) + 7)
            model = BUILDERS[name]()
            randomize(model, seed=3)
            if name == "padded_pools":
                _prepare_padded_pools(model)
            arrays = make_inputs(model, batch=2, seed=5)
            expected = keras_predict(model, arrays)
            path = directory / f"{name}.keras"
            model.save(path)
            ins, outs = io_names(model)
            cache[name] = Case(name, path, ins, outs, arrays, expected)
        return cache[name]

    return get


# -- running ------------------------------------------------------------------------------------------
def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray], level: str) -> list[np.ndarray]:
    return run_onnx(model, feeds, optimization=level)[1]


def domains(model: onnx.ModelProto) -> set[str]:
    return {n.domain for n in model.graph.node} - {"", "ai.onnx"}


def standard_ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx")]


def pools_with_indices(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "MaxPool" and len([o for o in n.output if o]) > 1]


_NCHWC: dict[str, bool] = {}


def cpu_has_nchwc() -> bool:
    """Whether onnxruntime's optimizer builds NCHWc convolutions on this CPU (it does on x86 with
    AVX2 or better), asked with a plain ONNX model that kerascc had no part in."""
    if "answer" not in _NCHWC:
        rng = np.random.default_rng(0)
        weights = [
            helper.make_tensor(
                f"w{i}", TensorProto.FLOAT, [16, 16, 3, 3], rng.standard_normal(16 * 16 * 9).astype(np.float32)
            )
            for i in range(2)
        ]
        nodes = [
            helper.make_node("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c0"], ["r0"]),
            helper.make_node("Conv", ["r0", "w1"], ["y"], pads=[1, 1, 1, 1]),
        ]
        graph = helper.make_graph(
            nodes,
            "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8, 8])],
            weights,
        )
        probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        with tempfile.TemporaryDirectory() as tmp:
            options = ort.SessionOptions()
            options.graph_optimization_level = OPTIMIZATION["all"]
            options.log_severity_level = 3
            options.optimized_model_filepath = os.path.join(tmp, "probe.onnx")
            ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
            _NCHWC["answer"] = NCHWC in domains(onnx.load(options.optimized_model_filepath))
    return _NCHWC["answer"]


def compile_and_check(case: Case, target: str, tmp_path: Path) -> compiler.CompiledModel:
    res = compiler.compile(case.path, target=target)
    assert res.metadata["kerascc.target"] == target
    assert res.metadata["kerascc.input_layout"] == "nhwc"
    out = tmp_path / f"{case.name}.{target}.onnx"
    compiler.save(res, out)
    model = onnx.load(str(out))
    assert [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}] == case.inputs
    assert [o.name for o in model.graph.output] == case.outputs
    assert {p.key: p.value for p in model.metadata_props} == res.metadata
    assert "BatchNormalization" not in standard_ops(model)
    levels = ["none", "all"]
    if target == "tensorrt" and any(n.op_type == "Pad" for n in model.graph.node):
        levels = ["none"]
    for level in levels:
        got = run(model, case.feeds, level)
        assert len(got) == len(case.expected)
        for name, g, w in zip(case.outputs, got, case.expected, strict=True):
            assert g.shape == w.shape, (target, level, name)
            err = rel_error(g, w)
            assert err <= RTOL, f"target {target}, ORT {level}: output {name} relative error {err:.2e}"
    return res


def check_ops(model: onnx.ModelProto, target: str) -> None:
    if target == "ort":
        assert domains(model) & {MS, NCHWC}, "no onnxruntime contrib op in an ort file"
        assert "Relu" not in standard_ops(model)
        assert (NCHWC in domains(model)) is cpu_has_nchwc()
        imported = {o.domain for o in model.opset_import}
        assert domains(model) <= imported
    else:
        assert domains(model) == set(), f"{target} file uses {domains(model)}"
        assert [o.domain for o in model.opset_import] == [""]
    if target == "tensorrt":
        assert not pools_with_indices(model)


# -- tests ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_resnet_blocks(cases, target, tmp_path):
    res = compile_and_check(cases("resnet"), target, tmp_path)
    check_ops(res.onnx, target)
    fused = next(r for r in res.report if r.name == "fuse_conv")
    assert str(fused) == "fuse_conv: fused 2 residual Add, 3 activations into Conv/Dense"
    ops = standard_ops(res.onnx)
    if target != "ort":
        assert ops.count("Conv") == 6 and ops.count("Add") == 2 and ops.count("Relu") == 5
    else:
        assert "Add" not in ops and "Conv" not in ops


@pytest.mark.parametrize("target", TARGETS)
def test_mobilenet_with_relu6_and_sigmoid_heads(cases, target, tmp_path):
    res = compile_and_check(cases("mobilenet"), target, tmp_path)
    check_ops(res.onnx, target)
    assert res.graph.op_counts().get("Clip", 0) == 0
    activations = [
        n.attrs["activation"]["op"]
        for n in res.graph.nodes(("Conv", "DepthwiseConv", "Dense"))
        if n.attrs.get("activation")
    ]
    assert sorted(activations) == sorted(["Clip"] * 4 + ["Sigmoid", "HardSigmoid", "Sigmoid", "HardSigmoid"])
    ops = standard_ops(res.onnx)
    if target == "ort":
        assert "Clip" not in ops
    else:
        assert ops.count("Clip") == 4 and ops.count("Sigmoid") == 2 and ops.count("HardSigmoid") == 2


@pytest.mark.parametrize("target", TARGETS)
def test_dense_head_activations(cases, target, tmp_path):
    res = compile_and_check(cases("dense_head"), target, tmp_path)
    fused = {n.layer: n.attrs["activation"]["op"] for n in res.graph.nodes("Dense") if n.attrs.get("activation")}
    assert fused == {
        "d1": "Relu",
        "d2": "Tanh",
        "d3": "Clip",
        "d4": "LeakyRelu",
        "sig": "Sigmoid",
        "hsig": "HardSigmoid",
    }
    if target == "ort":  # onnxruntime's optimizer turned Gemm + activation into its FusedGemm
        assert MS in domains(res.onnx) and "Relu" not in standard_ops(res.onnx)
        assert "FusedGemm" in [n.op_type for n in res.onnx.graph.node if n.domain == MS]
    else:
        check_ops(res.onnx, target)
        assert standard_ops(res.onnx).count("Gemm") == 7


@pytest.mark.parametrize("target", TARGETS)
def test_zero_padding_then_max_pooling_on_signed_data(cases, target, tmp_path):
    case = cases("padded_pools")
    assert (case.expected[0] == 0).any() and (case.expected[0] < 0).any(), "the zeros must win somewhere"
    res = compile_and_check(case, target, tmp_path)
    if target == "tensorrt":
        assert not pools_with_indices(res.onnx)
        assert [n.op_type for n in res.onnx.graph.node].count("MaxPool") == 3
    if target == "onnx":
        assert len(pools_with_indices(res.onnx)) == 1


def test_ort_target_is_deterministic_and_keeps_its_metadata(cases, tmp_path):
    case = cases("resnet")
    first = compiler.compile(case.path, target="ort", preprocess="tf")
    second = compiler.compile(case.path, target="ort", preprocess="tf")
    assert first.serialize() == second.serialize()
    portable = compiler.compile(case.path, target="onnx", preprocess="tf")
    assert first.metadata == {**portable.metadata, "kerascc.target": "ort"}
    assert first.metadata["kerascc.preprocess"] == "tf"
    path = compiler.save(first, tmp_path / "a.onnx")
    assert path.read_bytes() == first.serialize()


def test_ort_target_runs_without_any_graph_optimization(cases):
    case = cases("mobilenet")
    res = compiler.compile(case.path, target="ort")
    plain = compiler.compile(case.path, target="onnx")
    off = run(res.onnx, case.feeds, "none")
    reference = run(plain.onnx, case.feeds, "all")
    for got, want, keras_out in zip(off, reference, case.expected, strict=True):
        assert rel_error(got, keras_out) <= RTOL
        assert rel_error(got, want) <= RTOL
