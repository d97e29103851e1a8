"""Engines and precisions: the choice rules (on faked CPUs and installs), both engines on the same
file, the accuracy cost, the pipelined run's order, and ``bench --json``'s schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_process import run_cli
from onnx import TensorProto, helper, numpy_helper
from runtime_testkit import IR_VERSION, OPSET, one_line, write_image

from runtime.batch import BatchRunner, collect, expand_inputs
from runtime.bench import ROW_KEYS, benchmark_many
from runtime.engines import (
    BF16,
    FP32,
    INT8,
    ONNXRUNTIME,
    OPENVINO,
    CpuFeatures,
    Engine,
    OnnxRuntimeEngine,
    OpenVinoEngine,
    PrecisionCost,
    choose,
    cpu_features,
    has_grouped_conv_or_concat,
    is_qdq,
    open_session,
)
from runtime.errors import RuntimeInputError

ROOT = Path(__file__).resolve().parents[2]
AVX2 = CpuFeatures(frozenset({"avx", "avx2", "fma"}))
AVX512 = CpuFeatures(frozenset({"avx2", "avx512f", "avx512_vnni"}))
SAPPHIRE = CpuFeatures(frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8"}))


class Missing(OpenVinoEngine):
    """OpenVINO as seen where it is not installed."""

    def installed(self) -> bool:
        return False


class WithGpu(OnnxRuntimeEngine):
    """onnxruntime-gpu: it lists the CUDA provider."""

    def gpu_providers(self) -> list[str]:
        return ["CUDAExecutionProvider"]


def registry(ort: Engine | None = None, ov: Engine | None = None) -> dict[str, Engine]:
    return {ONNXRUNTIME: ort or OnnxRuntimeEngine(), OPENVINO: ov or OpenVinoEngine()}


def test_cpu_flags_come_from_cpuinfo(tmp_path: Path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert cpu_features(info).native_bf16 and cpu_features(info).avx512
    assert not cpu_features(tmp_path / "absent").native_bf16  # unreadable: nothing assumed


@pytest.mark.parametrize(
    ("cpu", "precision", "engine", "branched", "expected"),
    [
        (AVX2, FP32, "auto", False, ONNXRUNTIME),  # measured on an AVX2 CPU: onnxruntime first
        (AVX512, FP32, "auto", False, OPENVINO),  # AVX-512, a plain stack: OpenVINO first
        (AVX512, FP32, "auto", True, ONNXRUNTIME),  # depthwise convolutions or concatenations: onnxruntime
        (AVX512, INT8, "auto", False, ONNXRUNTIME),
        (SAPPHIRE, BF16, "auto", True, OPENVINO),  # bf16 only on OpenVINO
        (SAPPHIRE, "auto", "auto", False, OPENVINO),
        (AVX2, "auto", "auto", False, ONNXRUNTIME),  # auto precision without bf16 is fp32
        (AVX512, FP32, ONNXRUNTIME, False, ONNXRUNTIME),  # an explicit engine is kept
        (AVX512, FP32, OPENVINO, True, OPENVINO),
    ],
)
def test_engine_and_precision_choice(cpu, precision, engine, branched, expected):
    qdq = precision == INT8
    choice = choose(engine, precision, qdq=qdq, plain_stack=lambda: not branched, cpu=cpu, engines=registry())
    assert choice.engine.name == expected
    assert choice.precision == (INT8 if qdq else BF16 if cpu is SAPPHIRE else FP32)


def test_the_graph_is_read_only_where_the_order_depends_on_it():
    def unread() -> bool:
        raise AssertionError("the model's graph was read")

    for cpu, precision, engine in ((AVX2, FP32, "auto"), (AVX512, INT8, "auto"), (AVX512, FP32, ONNXRUNTIME)):
        choose(engine, precision, qdq=precision == INT8, plain_stack=unread, cpu=cpu, engines=registry())
    assert choose("auto", FP32, qdq=False, cpu=AVX512, engines=registry()).engine.name == ONNXRUNTIME


def test_openvino_not_installed_falls_back_to_onnxruntime_with_a_note():
    # a plain stack on AVX-512, where OpenVINO comes first
    choice = choose("auto", FP32, qdq=False, plain_stack=lambda: True, cpu=AVX512, engines=registry(ov=Missing()))
    assert choice.engine.name == ONNXRUNTIME
    assert len(choice.notes) == 1 and "openvino is not installed" in choice.notes[0]
    with pytest.raises(RuntimeInputError) as err:
        choose(OPENVINO, FP32, qdq=False, cpu=AVX512, engines=registry(ov=Missing()))
    assert "openvino is not installed" in one_line(err.value) and "pip install openvino" in err.value.hint


def test_a_gpu_keeps_onnxruntime_and_openvino_refuses_gpu_providers(model_factory):
    assert choose("auto", FP32, qdq=False, cpu=AVX512, engines=registry(ort=WithGpu())).engine.name == ONNXRUNTIME
    assert choose("auto", FP32, qdq=False, provider="cuda", cpu=AVX512, engines=registry()).engine.name == ONNXRUNTIME
    with pytest.raises(RuntimeInputError) as err:
        open_session(model_factory(["N", 4, 4, 3]), engine=OPENVINO, provider="cuda")
    assert "belongs to onnxruntime" in one_line(err.value)


def test_bf16_is_refused_on_a_cpu_without_it(model_factory):
    with pytest.raises(RuntimeInputError) as err:
        open_session(model_factory(["N", 4, 4, 3]), engine="auto", precision=BF16, cpu=AVX512)
    assert "no native bf16" in one_line(err.value) and "fp32" in err.value.hint


def test_bf16_on_onnxruntime_is_refused_naming_openvino():
    with pytest.raises(RuntimeInputError) as err:
        choose(ONNXRUNTIME, BF16, qdq=False, cpu=SAPPHIRE, engines=registry())
    assert "no bf16" in one_line(err.value) and "--engine openvino" in err.value.hint


def test_int8_needs_a_qdq_model_and_a_qdq_model_runs_as_int8(model_factory, tmp_path: Path):
    plain = model_factory(["N", 4, 4, 3])
    with pytest.raises(RuntimeInputError) as err:
        open_session(plain, precision=INT8, cpu=AVX2)
    assert "not one" in one_line(err.value) and "--int8 --calibrate" in err.value.hint
    qdq = qdq_model(tmp_path / "q.onnx")
    assert is_qdq(qdq) and not is_qdq(plain)
    choice = choose("auto", FP32, qdq=True, cpu=AVX2, engines=registry())
    assert choice.precision == INT8 and "runs as int8" in choice.notes[0]


def test_unknown_engine_and_precision_list_the_choices():
    for engine, precision, needle in (("tvm", FP32, "unknown engine 'tvm'"), ("auto", "fp8", "unknown precision")):
        with pytest.raises(RuntimeInputError) as err:
            choose(engine, precision, qdq=False, cpu=AVX2, engines=registry())
        assert needle in one_line(err.value) and "auto" in err.value.hint


def test_both_engines_run_the_same_file_alike(model_factory, tmp_path: Path):
    # fp32 is exact on either engine, and the int8 QDQ model gives the same numbers on both
    for model in (model_factory(["N", 4, 4, 3]), qdq_model(tmp_path / "q.onnx")):
        feeds = {"x": np.random.default_rng(0).random((2, *_shape(model)), dtype=np.float32)}
        results = {}
        for name in (ONNXRUNTIME, OPENVINO):
            info = open_session(model, engine=name, cpu=AVX2)
            assert info.engine == name and info.precision == (INT8 if is_qdq(model) else FP32)
            assert [i.name for i in info.session.get_inputs()] == ["x"]
            results[name] = info.session.run(None, feeds)
        for a, b in zip(results[ONNXRUNTIME], results[OPENVINO], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 if not is_qdq(model) else 0.05)
    meta = open_session(model_factory(["N", 4, 4, 3], metadata={"kerascc.preprocess": "tf"}), engine=OPENVINO)
    assert meta.session.get_modelmeta().custom_metadata_map["kerascc.preprocess"] == "tf"


def test_openvino_compiles_a_repeated_input_shape_for_that_shape_and_keeps_the_dynamic_one(model_factory):
    """A shape's second run compiles the model for exactly that shape; other shapes, and shapes
    past the cap, run on the dynamic compilation; every one gives onnxruntime's numbers."""
    model = model_factory(["N", 4, 4, 3])
    ov = open_session(model, engine=OPENVINO, cpu=AVX2).session
    ort = open_session(model, engine=ONNXRUNTIME, cpu=AVX2).session
    compiled: list[dict] = []
    real = ov._compile_for
    ov._compile_for = lambda shapes: compiled.append(shapes) or real(shapes)
    rng = np.random.default_rng(1)
    for batch in [2, 2, 2, 1, 3, 3, 1]:
        x = {"x": rng.random((batch, 4, 4, 3), dtype=np.float32)}
        np.testing.assert_allclose(ov.run(None, x)[0], ort.run(None, x)[0], rtol=1e-4, atol=1e-5)
    assert compiled == [{"x": [2, 4, 4, 3]}, {"x": [3, 4, 4, 3]}, {"x": [1, 4, 4, 3]}]
    ov.SPECIALIZED = 3  # full: a new shape stays on the dynamic compilation
    for _ in range(2):
        ov.run(None, {"x": rng.random((5, 4, 4, 3), dtype=np.float32)})
    assert len(compiled) == 3


def test_openvino_runs_a_shape_it_cannot_fix_on_the_dynamic_compilation(model_factory):
    ov = open_session(model_factory(["N", 4, 4, 3]), engine=OPENVINO, cpu=AVX2).session
    calls: list[dict] = []

    def refuse(shapes: dict) -> None:
        calls.append(shapes)
        raise RuntimeError("Reshape: cannot infer the output shape")

    ov._compile_for = refuse
    x = {"x": np.ones((2, 4, 4, 3), np.float32)}
    first = [ov.run(None, x)[0] for _ in range(4)]
    assert len(calls) == 1  # tried once, not at every run
    assert all(np.array_equal(first[0], f) for f in first)


def test_openvino_compiles_a_fixed_size_model_once(model_factory):
    ov = open_session(model_factory([2, 4, 4, 3]), engine=OPENVINO, cpu=AVX2).session
    assert ov._compile_for is None
    for _ in range(3):
        ov.run(None, {"x": np.ones((2, 4, 4, 3), np.float32)})


def test_precision_cost_measures_error_cosine_and_top1():
    cost = PrecisionCost("logits")
    ref = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    cost.add(ref, ref + np.array([[0.0, 0.0, 0.3], [0.0, 1.5, 0.0]]))
    assert cost.samples == 2 and cost.top1_agreement == 0.5
    assert cost.max_rel_error == pytest.approx(0.5) and cost.cosine_min < 1.0
    assert "top-1 agreement 50.0%" in cost.line(BF16)


@pytest.mark.parametrize("size", [3, 4])  # fixed-size resize (one batch shape) and dynamic sizes (flushes)
def test_pipelined_run_keeps_the_unpipelined_batches_and_order(model_factory, tmp_path: Path, size: int):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(11):
        shape = (5, 6, 3) if i % 4 else (7, 3, 3)  # two sizes, interleaved
        write_image(folder / f"p{i:02d}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    (folder / "p05b.png").write_bytes(b"not an image")  # skipped, in its place
    dims = ["N", 4, 4, 3] if size == 3 else ["N", "H", "W", 3]
    runner = BatchRunner(model_factory(dims), "cpu")
    runs = {}
    for pipeline in (False, True):
        skipped: list[Path] = []
        batches = list(runner.stream(expand_inputs([folder]), size, pipeline=pipeline, on_skip=_append_to(skipped)))
        runs[pipeline] = ([b.paths for b in batches], [b.sizes for b in batches], skipped, collect(batches))
    assert runs[False][:3] == runs[True][:3]
    assert runs[False][2] == [folder / "p05b.png"]
    for name, arr in runs[False][3].items():
        np.testing.assert_array_equal(arr, runs[True][3][name])


def test_pipelined_run_raises_a_named_bad_file_after_the_batches_before_it(model_factory, tmp_path: Path):
    good = [write_image(tmp_path / f"g{i}.png", (10 * i, 0, 0)) for i in range(3)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    runner = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    seen: list[Path] = []
    with pytest.raises(RuntimeInputError) as err:
        for batch in runner.stream(expand_inputs([*good, bad]), 2):
            seen.extend(batch.paths)
    assert seen == good[:2] and "bad.png" in one_line(err.value)


def test_bench_rows_carry_engine_precision_and_accuracy(model_factory):
    results = list(
        benchmark_many(model_factory(["N", 4, 4, 3]), engines=[ONNXRUNTIME, OPENVINO], batches=[1, 2], runs=2)
    )
    assert [(r.engine, r.batch) for r in results] == [(ONNXRUNTIME, 1), (ONNXRUNTIME, 2), (OPENVINO, 1), (OPENVINO, 2)]
    for res in results:
        assert tuple(res.row()) == ROW_KEYS and res.row()["precision"] == FP32
        assert res.accuracy is not None and all(c.max_rel_error < 1e-4 for c in res.accuracy)


def test_bench_json_schema(model_factory):
    model = model_factory(["N", 4, 4, 3])
    args = ["--engine", "onnxruntime,openvino", "--batch", "1,2", "--runs", "2", "--warmup", "0", "--json"]
    proc = _cli("bench", model, *args)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert len(doc["rows"]) == 4
    for row in doc["rows"]:
        assert list(row) == list(ROW_KEYS)
        assert isinstance(row["engine"], str) and isinstance(row["provider"], str) and row["precision"] == FP32
        assert isinstance(row["batch"], int) and row["batch"] in (1, 2)
        for key in ("session_s", "p50_ms", "p90_ms", "p99_ms", "samples_per_s"):
            assert isinstance(row[key], float) and row[key] > 0
        assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
    assert {r["engine"] for r in doc["rows"]} == {ONNXRUNTIME, OPENVINO}
    assert all(set(a) >= {"engine", "precision", "batch", "max_rel_error", "cosine_min"} for a in doc["accuracy"])


#: What compiling a JSON model has no use for: the engines, Pillow, TensorFlow, the .py frontend, the quantizer.
NOT_FOR_COMPILE = (
    "onnxruntime",
    "openvino",
    "PIL",
    "tensorflow",
    "keras",
    "frontends.keras_python",
    "runtime.quantize",
)


def test_compile_imports_no_engine_and_no_image_library(tmp_path: Path):
    code = (
        "import sys, cli\n"
        f"sys.argv = ['cli.py', 'compile', {str(ROOT / 'examples' / 'resnet50.json')!r}, '-o', "
        f"{str(tmp_path / 'r.onnx')!r}]\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {NOT_FOR_COMPILE!r} if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert (tmp_path / "r.onnx").is_file(), proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


@pytest.mark.parametrize("user_setting", [None, "2"])
def test_importing_the_cli_leaves_the_collector_on_and_the_blas_workers_to_the_user(user_setting):
    """The collector is off only while the command line's modules are imported (their objects are
    then frozen, so later collections skip them); numpy's BLAS gets one thread unless the user said."""
    code = (
        "import gc, os, cli\nprint(gc.isenabled(), gc.get_freeze_count() > 10000, os.environ['OPENBLAS_NUM_THREADS'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if user_setting is not None:
        env["OPENBLAS_NUM_THREADS"] = user_setting
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", user_setting or "1"]


def _append_to(found: list[Path]):
    return lambda path, _why: found.append(path)


def qdq_model(path: Path) -> Path:
    """A Conv between QuantizeLinear/DequantizeLinear pairs (the shape of compile --int8's output), NCHW."""
    rng = np.random.default_rng(2)
    weights = rng.integers(-100, 100, (4, 3, 3, 3), dtype=np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "xs"),
        numpy_helper.from_array(np.array(0, np.uint8), "xz"),
        numpy_helper.from_array(weights, "wq"),
        numpy_helper.from_array(np.full(4, 0.01, np.float32), "ws"),
        numpy_helper.from_array(np.zeros(4, np.int8), "wz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["y"], ["out"], axes=[2, 3], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 4])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    helper.set_model_props(model, {"kerascc.input_layout": "nchw", "kerascc.precision": "int8 (QDQ)"})
    onnx.save(model, path)
    return path


def _shape(model: Path) -> tuple[int, ...]:
    dims = onnx.load(model).graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_value for d in dims[1:])


def test_run_reports_engine_and_precision_and_verifies_it(model_factory, tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        write_image(photos / f"c{i}.png", colour)
    model = model_factory(["N", 4, 4, 3])
    proc = _cli("run", model, photos, "--engine", "openvino", "--verify-precision", "-o", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    assert "on CPU (openvino, fp32)" in proc.stdout
    accuracy = [ln for ln in proc.stdout.splitlines() if ln.startswith("accuracy")]
    assert len(accuracy) == 2 and all("on 3 inputs" in ln and "max rel error" in ln for ln in accuracy)
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert (summary["engine"], summary["precision"]) == (OPENVINO, FP32)
    refused = _cli("run", model, photos, "--precision", "int8")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--precision int8 runs an int8 QDQ model" in lines[0], refused.stderr


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"COLUMNS": "200"}, timeout=120)


def test_leaving_a_pipelined_run_early_stops_its_threads(model_factory, tmp_path: Path):
    for i in range(20):
        write_image(tmp_path / f"i{i:02d}.png", (i * 10, 0, 0))
    runner = BatchRunner(model_factory(["N", 4, 4, 3]), "cpu")
    batches = runner.stream(expand_inputs([tmp_path]), 2)
    assert len(next(batches).paths) == 2
    batches.close()  # what a consumer's `break` or an exception does
    assert not [t.name for t in threading.enumerate() if t.name.startswith("kerascc-")]


def test_each_engine_refuses_a_file_that_is_not_onnx_in_one_line(tmp_path: Path):
    description = tmp_path / "model.json"
    description.write_text('{"class_name": "Functional", "config": {}}')
    other = tmp_path / "model.bin"
    other.write_text('{"a": 1}')
    for name in (ONNXRUNTIME, OPENVINO):
        with pytest.raises(RuntimeInputError) as err:
            open_session(description, engine=name, cpu=AVX2)
        assert "is a Keras model description, not a compiled ONNX model" in one_line(err.value)
        assert "compile it first" in err.value.hint
    with pytest.raises(RuntimeInputError) as err:  # never read by OpenVINO's other frameworks' readers
        open_session(other, engine=OPENVINO, cpu=AVX2)
    assert one_line(err.value).startswith(f"{other}: is not an ONNX model")
    write_image(tmp_path / "photo.png", (255, 0, 0))
    proc = _cli("run", other, tmp_path / "photo.png", "--engine", "openvino")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "is not an ONNX model" in lines[0], proc.stderr


def test_grouped_convolutions_and_concatenations_are_read_from_the_graph(tmp_path: Path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    for group, concat, expected in ((1, False, False), (4, False, True), (1, True, True)):
        w = numpy_helper.from_array(np.ones((4, 4 // group, 3, 3), np.float32), "w")
        nodes = [helper.make_node("Conv", ["x", "w"], ["c" if concat else "y"], group=group, pads=[1, 1, 1, 1])]
        if concat:
            nodes.append(helper.make_node("Concat", ["c", "x"], ["y"], axis=1))
        graph = helper.make_graph(nodes, "g", [x], [y], [w])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
        path = tmp_path / f"g{group}{concat}.onnx"
        onnx.save(model, path)
        assert has_grouped_conv_or_concat(path) is expected
        assert has_grouped_conv_or_concat(path.read_bytes()) is expected
        assert open_session(path, cpu=AVX512).engine == (ONNXRUNTIME if expected else OPENVINO)
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    assert has_grouped_conv_or_concat(tmp_path / "bad.onnx") is False


def test_bench_of_an_int8_model_without_its_fp32_one_says_so_once(tmp_path: Path):
    """Its accuracy needs the fp32 model it came from: one note that names the missing option once."""
    model = qdq_model(tmp_path / "q.onnx")
    proc = _cli("bench", model, "--batch", "1", "--runs", "2", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr
    (note,) = [ln for ln in proc.stderr.splitlines() if "accuracy not measured" in ln]
    assert note.count("--reference") == 1, note
    # with a reference (here the file itself, read as fp32 by onnxruntime), the cost on bench's
    # random inputs, and where to measure it on real data
    proc = _cli("bench", model, "--batch", "1", "--runs", "2", "--warmup", "0", "--reference", model)
    assert proc.returncode == 0, proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("accuracy")]
    assert "int8 vs onnxruntime fp32 on 1 input" in line
    assert "on bench's random inputs; `run --verify-precision` measures it on your own data" in proc.stdout


def test_bench_table_written_to_a_file_is_whole_whatever_the_width(model_factory):
    """A pipe or file has no width to keep to: the table comes out at its own width, nothing cut short."""
    model = model_factory(["N", 4, 4, 3])
    args = ("bench", model, "--engine", "onnxruntime,openvino", "--batch", "1", "--runs", "2", "--warmup", "0")
    proc = run_cli(*args, env={"COLUMNS": "50"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("\n\n")[0]
    assert "…" not in table
    for word in ("provider", "precision", "session s", "samples/s", "onnxruntime", "openvino"):
        assert word in table, table
