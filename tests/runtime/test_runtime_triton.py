"""Triton model repositories, validated against Triton's own ModelConfig protobuf."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from runtime_testkit import one_line
from tritonclient.grpc import model_config_pb2

from runtime.errors import RuntimeInputError
from runtime.triton import build_config, export, model_name, preferred_sizes


def parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_gpu_tensorrt_repository(model_factory, tmp_path: Path):
    model = model_factory(["N", 8, 8, 3])
    config = build_config(model, name="toy", max_batch_size=16, instances=2, fp16=True, workspace_gb=2)
    folder = export(model, tmp_path / "repo", config)
    assert folder == tmp_path / "repo" / "toy"
    assert (folder / "1" / "model.onnx").read_bytes() == model.read_bytes()
    cfg = parse(folder / "config.pbtxt")
    assert cfg.name == "toy" and cfg.backend == "onnxruntime" and cfg.max_batch_size == 16
    assert [(i.name, i.data_type, list(i.dims)) for i in cfg.input] == [("x", model_config_pb2.TYPE_FP32, [8, 8, 3])]
    assert [(o.name, list(o.dims)) for o in cfg.output] == [("probs", [1000]), ("mean_rgb", [3])]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [2, 4, 8, 16]
    (group,) = cfg.instance_group
    assert group.count == 2 and group.kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    (accel,) = cfg.optimization.execution_accelerators.gpu_execution_accelerator
    assert accel.name == "tensorrt"
    assert accel.parameters["precision_mode"] == "FP16"
    assert accel.parameters["max_workspace_size_bytes"] == str(2 << 30)


def test_cpu_and_cuda_have_no_tensorrt_section(model_factory, tmp_path: Path):
    model = model_factory(["N", 8, 8, 3])
    for kind, accelerator, expected in (("cpu", "tensorrt", "KIND_CPU"), ("gpu", "cuda", "KIND_GPU")):
        folder = export(model, tmp_path / kind, build_config(model, kind=kind, accelerator=accelerator))
        cfg = parse(folder / "config.pbtxt")
        assert model_config_pb2.ModelInstanceGroup.Kind.Name(cfg.instance_group[0].kind) == expected
        assert not cfg.HasField("optimization")


def test_no_batching_keeps_every_dimension(model_factory, tmp_path: Path):
    model = model_factory([1, 8, "W", 3])
    folder = export(model, tmp_path, build_config(model, max_batch_size=0))
    cfg = parse(folder / "config.pbtxt")
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [1, 8, -1, 3]


def test_fixed_batch_needs_batching_off(model_factory):
    with pytest.raises(RuntimeInputError) as err:
        build_config(model_factory([1, 8, 8, 3]))
    assert "fixed batch dimension of 1" in one_line(err.value) and "--max-batch-size 0" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "tpu"}, "unknown instance kind"),
        ({"accelerator": "openvino"}, "unknown accelerator"),
        ({"accelerator": "cuda", "fp16": True}, "--fp16 applies to the TensorRT"),
        ({"instances": 0}, "--instances at least 1"),
        ({"name": "a/b"}, "model name 'a/b'"),
    ],
)
def test_bad_choices(model_factory, kwargs, message):
    with pytest.raises(RuntimeInputError, match=message):
        build_config(model_factory(["N", 8, 8, 3]), **kwargs)


def test_missing_and_corrupt_models_are_named(tmp_path: Path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    for path in (tmp_path / "none.onnx", bad):
        with pytest.raises(RuntimeInputError) as err:
            build_config(path)
        assert one_line(err.value).startswith(str(path))


def test_names_and_batch_sizes():
    assert model_name(Path("my model.v2.onnx")) == "my_model_v2"
    assert preferred_sizes(8) == [2, 4, 8] and preferred_sizes(6) == [2, 4, 6] and preferred_sizes(1) == [1]


def test_weights_kept_beside_a_big_model_travel_with_it(tmp_path: Path):
    import numpy as np
    import onnxruntime as ort

    import compiler

    g = compiler.Graph("wide")
    x = g.add_input("x", (None, 4))
    g.set_outputs([g.add("Dense", [x], params={"kernel": np.eye(4, dtype=np.float32) * 3})], ["y"])
    model = tmp_path / "wide.onnx"
    compiler.save(compiler.compile(g, passes=[]), model, external=True)
    folder = export(model, tmp_path / "repo", build_config(model, kind="cpu"))
    assert sorted(p.name for p in (folder / "1").iterdir()) == ["model.onnx", "wide.onnx.data"]
    session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"x": np.ones((1, 4), np.float32)})[0], [[3, 3, 3, 3]])
