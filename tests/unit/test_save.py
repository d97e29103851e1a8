"""compiler.save / save_bytes: atomic writes, and one CompileError for every way writing fails."""

from __future__ import annotations

import errno
import stat

import numpy as np
import onnx
import pytest

import compiler
from compiler import CompileError, Graph
from compiler import io as compiler_io


def tiny_model() -> compiler.CompiledModel:
    g = Graph("tiny")
    x = g.add_input("x", (None, 3))
    d = g.add("Dense", [x], params={"kernel": np.arange(6, dtype=np.float32).reshape(3, 2)})
    g.set_outputs([g.add("Relu", [d])], ["y"])
    return compiler.compile(g, passes=[])


def listing(path):
    return sorted(p.name for p in path.iterdir())


def test_save_writes_exactly_the_serialized_model(tmp_path):
    model = tiny_model()
    target = tmp_path / "model.onnx"
    returned = compiler.save(model, target)
    assert returned == target
    assert target.read_bytes() == model.serialize()
    assert listing(tmp_path) == ["model.onnx"]
    loaded = onnx.load(str(target))
    assert [o.name for o in loaded.graph.output] == ["y"]


def test_save_accepts_a_model_proto_and_a_string_path(tmp_path):
    proto = tiny_model().onnx
    target = tmp_path / "proto.onnx"
    compiler.save(proto, str(target))
    assert target.read_bytes() == proto.SerializeToString(deterministic=True)


def test_save_creates_missing_directories(tmp_path):
    target = tmp_path / "a" / "b" / "model.onnx"
    compiler.save(tiny_model(), target)
    assert target.read_bytes() == tiny_model().serialize()


def test_save_replaces_an_existing_file(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old contents")
    compiler.save(tiny_model(), target)
    assert target.read_bytes() == tiny_model().serialize()
    assert listing(tmp_path) == ["model.onnx"]


def test_saved_file_gets_the_permissions_of_an_ordinary_file(tmp_path):
    ordinary = tmp_path / "ordinary.bin"
    ordinary.write_bytes(b"x")
    target = tmp_path / "model.onnx"
    compiler.save(tiny_model(), target)
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(ordinary.stat().st_mode)


def test_path_that_is_a_directory(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(CompileError, match="cannot write output") as info:
        compiler.save(tiny_model(), target)
    assert info.value.file == str(target)
    assert target.is_dir() and listing(target) == []
    assert listing(tmp_path) == ["out"]


def test_parent_that_is_a_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("in the way")
    with pytest.raises(CompileError, match="cannot write output"):
        compiler.save(tiny_model(), blocker / "model.onnx")
    assert blocker.read_text() == "in the way"
    assert listing(tmp_path) == ["file.txt"]


def test_directory_refusing_temp_files(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(compiler_io.tempfile, "mkstemp", refuse)
    with pytest.raises(CompileError) as info:
        compiler.save(tiny_model(), tmp_path / "model.onnx")
    assert "cannot write output (Permission denied)" in str(info.value)
    assert str(tmp_path / "model.onnx") in str(info.value)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("stage", ["chmod", "replace"])
def test_failure_mid_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch, stage):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous model")

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(compiler_io.os, stage, fail)
    with pytest.raises(CompileError, match=r"cannot write output \(No space left on device\)"):
        compiler.save(tiny_model(), target)
    monkeypatch.undo()
    assert target.read_bytes() == b"previous model"
    assert listing(tmp_path) == ["model.onnx"]


def test_interrupt_mid_write_removes_the_temp_and_propagates(tmp_path, monkeypatch):
    def interrupt(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(compiler_io.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        compiler.save_bytes(b"data", tmp_path / "model.onnx")
    monkeypatch.undo()
    assert listing(tmp_path) == []


def test_save_bytes_round_trip(tmp_path):
    data = bytes(range(256)) * 10
    path = compiler.save_bytes(data, tmp_path / "blob.bin")
    assert path.read_bytes() == data


# -- weights in a side file (ONNX external data) -------------------------------------------------------
def _outputs(path, x):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_external_weights_give_the_same_results(tmp_path):
    model = tiny_model()
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    compiler.save(model, tmp_path / "inline.onnx")
    compiler.save(model, tmp_path / "split.onnx", external=True)
    assert listing(tmp_path) == ["inline.onnx", "split.onnx", "split.onnx.data"]
    assert (tmp_path / "split.onnx.data").stat().st_size == 6 * 4
    np.testing.assert_array_equal(_outputs(tmp_path / "split.onnx", x), _outputs(tmp_path / "inline.onnx", x))
    onnx.checker.check_model(str(tmp_path / "split.onnx"))


def test_models_over_the_protobuf_limit_keep_weights_beside_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(compiler_io, "EXTERNAL_DATA_BYTES", 10)  # the 2 GB limit, scaled down to this model
    compiler.save(tiny_model(), tmp_path / "big.onnx")
    assert listing(tmp_path) == ["big.onnx", "big.onnx.data"]
    monkeypatch.setattr(compiler_io, "EXTERNAL_DATA_BYTES", 1 << 40)
    compiler.save(tiny_model(), tmp_path / "big.onnx")  # now small: the stale side file goes
    assert listing(tmp_path) == ["big.onnx"]
