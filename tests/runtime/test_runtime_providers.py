from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from runtime_testkit import one_line

from runtime import providers
from runtime.errors import RuntimeInputError
from runtime.providers import (
    CPU,
    CUDA,
    PREFERENCE,
    TENSORRT,
    create_session,
    default_cache_dir,
    fallback_messages,
    provider_chain,
    provider_options,
    tensorrt_notes,
)

ALL_GPU = [TENSORRT, CUDA, CPU, "AzureExecutionProvider"]


def test_preference_is_tensorrt_cuda_cpu():
    assert PREFERENCE == [TENSORRT, CUDA, CPU]


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        (None, ALL_GPU, [TENSORRT, CUDA, CPU]),
        ("auto", ALL_GPU, [TENSORRT, CUDA, CPU]),
        ("auto", [CPU, "AzureExecutionProvider"], [CPU]),
        ("auto", [CUDA], [CUDA, CPU]),
        ("trt", ALL_GPU, [TENSORRT, CUDA, CPU]),
        ("tensorrt", [TENSORRT, CPU], [TENSORRT, CPU]),
        ("cuda", ALL_GPU, [CUDA, CPU]),
        ("CUDA", ALL_GPU, [CUDA, CPU]),
        (CUDA, ALL_GPU, [CUDA, CPU]),
        ("cpu", ALL_GPU, [CPU]),
    ],
)
def test_provider_chain(requested, available, expected):
    assert provider_chain(requested, available) == expected


def test_provider_chain_defaults_to_installed_onnxruntime():
    assert provider_chain("auto") == [p for p in PREFERENCE if p in onnxruntime.get_available_providers()]


def test_unavailable_provider_says_what_exists_and_what_to_install():
    with pytest.raises(RuntimeInputError) as err:
        provider_chain("cuda", [CPU, "AzureExecutionProvider"])
    text = one_line(err.value)
    assert "'cuda' is not available" in text
    assert "offers: cpu" in text
    assert "pip install 'kerascc[gpu]'" in text


def test_unknown_provider_lists_choices():
    with pytest.raises(RuntimeInputError) as err:
        provider_chain("gpu", ALL_GPU)
    text = one_line(err.value)
    assert "unknown provider 'gpu'" in text
    assert "tensorrt" in text and "cuda" in text and "auto" in text


def test_tensorrt_options_cache_engines(tmp_path: Path):
    opts = provider_options(TENSORRT, tmp_path)
    assert opts["trt_engine_cache_enable"] is True
    assert opts["trt_engine_cache_path"] == str(tmp_path)
    assert opts["trt_timing_cache_enable"] is True
    assert opts["trt_fp16_enable"] is False
    assert provider_options(TENSORRT, tmp_path, fp16=True)["trt_fp16_enable"] is True


def test_cuda_options():
    assert provider_options(CUDA) == {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}
    opts = provider_options(CUDA, device_id=1, conv_algo_search="HEURISTIC")
    assert opts == {"device_id": 1, "cudnn_conv_algo_search": "HEURISTIC"}
    with pytest.raises(RuntimeInputError, match="unknown cuDNN convolution search 'FAST'"):
        provider_options(CUDA, conv_algo_search="FAST")


def test_cpu_has_no_options():
    assert provider_options(CPU) == {}


def test_cache_dir_default_and_override(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("KERASCC_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "kerascc" / "trt"
    monkeypatch.setenv("KERASCC_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere" / "trt"
    assert provider_options(TENSORRT)["trt_engine_cache_path"] == str(tmp_path / "elsewhere" / "trt")


def test_real_cpu_session_runs(model_factory):
    model = model_factory(["N", 4, 4, 3])
    info = create_session(model, "cpu")
    assert info.requested == [CPU]
    assert info.active == [CPU]
    assert info.provider == CPU
    assert info.fallbacks == [] and info.notes == []
    x = np.zeros((2, 4, 4, 3), np.float32)
    x[..., 0] = 100.0
    probs, mean_rgb = info.session.run(None, {"x": x})
    np.testing.assert_allclose(mean_rgb, [[100, 0, 0]] * 2)
    assert probs.argmax(axis=1).tolist() == [281, 281]


def test_session_from_bytes(model_factory):
    info = create_session(model_factory([1, 4, 4, 3]).read_bytes())
    assert info.provider == CPU


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_listed_gpu_providers_that_do_not_load_are_reported(model_factory, monkeypatch, tmp_path):
    # onnxruntime-gpu without CUDA libraries: it lists the GPU providers, the session runs on CPU.
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [TENSORRT, CUDA, CPU])
    cache = tmp_path / "trt-cache"
    info = create_session(model_factory(["N", 4, 4, 3]), cache_dir=cache)
    assert info.requested == [TENSORRT, CUDA, CPU]
    assert info.active == [CPU]
    assert info.provider == CPU
    assert len(info.fallbacks) == 2
    assert info.fallbacks[0].startswith("tensorrt was requested but onnxruntime fell back to cpu")
    assert "TensorRT libraries" in info.fallbacks[0]
    assert info.fallbacks[1].startswith("cuda was requested but onnxruntime fell back to cpu")
    assert "cuDNN" in info.fallbacks[1]
    assert info.notes == []  # TensorRT is not active, so no engine is built
    assert cache.is_dir()


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_explicit_cuda_fallback(model_factory, monkeypatch):
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    info = create_session(model_factory(["N", 4, 4, 3]), "cuda")
    assert info.requested == [CUDA, CPU]
    assert info.active == [CPU]
    assert [m.split(" was")[0] for m in info.fallbacks] == ["cuda"]


def test_fallback_messages_are_silent_when_gpu_runs():
    assert fallback_messages([TENSORRT, CUDA, CPU], [TENSORRT, CUDA, CPU]) == []
    assert fallback_messages([CPU], [CPU]) == []
    only_cuda = fallback_messages([TENSORRT, CUDA, CPU], [CUDA, CPU])
    assert len(only_cuda) == 1 and "fell back to cuda" in only_cuda[0]


def test_tensorrt_note_names_cache(tmp_path: Path):
    notes = tensorrt_notes([TENSORRT, CUDA, CPU], tmp_path)
    assert len(notes) == 1
    assert "builds an engine on the first run" in notes[0] and str(tmp_path) in notes[0]
    assert tensorrt_notes([CUDA, CPU], tmp_path) == []


@pytest.mark.parametrize("level", ["all", "extended", "basic", "disable"])
def test_optimization_levels(model_factory, level):
    info = create_session(model_factory([1, 4, 4, 3]), optimization=level, threads=1)
    options = info.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert (
        options.graph_optimization_level
        == {
            "all": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "disable": onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }[level]
    )


def test_unknown_optimization_level(model_factory):
    with pytest.raises(RuntimeInputError, match="unknown optimization level 'max'"):
        create_session(model_factory([1, 4, 4, 3]), optimization="max")


def test_missing_model_file_is_named(tmp_path: Path):
    with pytest.raises(RuntimeInputError) as err:
        create_session(tmp_path / "nope.onnx")
    assert one_line(err.value).startswith(f"{tmp_path / 'nope.onnx'}: no such model file")


def test_corrupt_model_file_is_named(tmp_path: Path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01 definitely not protobuf")
    with pytest.raises(RuntimeInputError) as err:
        create_session(bad)
    text = one_line(err.value)
    assert text.startswith(f"{bad}: onnxruntime cannot load the model")


def test_missing_onnxruntime_says_what_to_install(monkeypatch, model_factory):
    model = model_factory([1, 4, 4, 3])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(RuntimeInputError) as err:
        create_session(model)
    text = one_line(err.value)
    assert "onnxruntime is not installed" in text
    assert "pip install 'kerascc[cpu]'" in text and "kerascc[gpu]" in text


def test_short_names():
    assert [providers.short_name(p) for p in PREFERENCE] == ["tensorrt", "cuda", "cpu"]
    assert providers.short_name("AzureExecutionProvider") == "AzureExecutionProvider"


def test_tensorrt_int8_workspace_and_calibration_table(tmp_path: Path):
    opts = provider_options(
        TENSORRT,
        tmp_path,
        int8=True,
        int8_calibration_table=tmp_path / "calib.cache",
        workspace_gb=1.5,
        timing_cache=False,
    )
    assert opts["trt_int8_enable"] is True
    assert opts["trt_int8_calibration_table_name"] == "calib.cache"
    assert opts["trt_int8_use_native_calibration_table"] is True
    assert opts["trt_max_workspace_size"] == int(1.5 * (1 << 30))
    assert opts["trt_timing_cache_enable"] is False
    ort_table = provider_options(TENSORRT, tmp_path, int8=True, int8_calibration_table="calibration.flatbuffers")
    assert ort_table["trt_int8_use_native_calibration_table"] is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"int8_calibration_table": "t.cache"}, "without INT8"),
        ({"workspace_gb": 0}, "workspace must be positive"),
        ({"device_id": -1}, "device id must be 0 or more"),
    ],
)
def test_bad_gpu_options(kwargs, message):
    with pytest.raises(RuntimeInputError, match=message):
        provider_options(TENSORRT, **kwargs)


def test_settings_reach_every_provider(tmp_path: Path):
    settings = providers.GpuSettings(device_id=2, fp16=True, conv_algo_search="HEURISTIC", cache_dir=tmp_path)
    assert providers.settings_options(CUDA, settings) == {"device_id": 2, "cudnn_conv_algo_search": "HEURISTIC"}
    trt = providers.settings_options(TENSORRT, settings)
    assert trt["device_id"] == 2 and trt["trt_fp16_enable"] is True and trt["trt_engine_cache_path"] == str(tmp_path)
    assert providers.settings_options(CPU, settings) == {}


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_session_gets_the_settings_and_stages_the_table(model_factory, monkeypatch, tmp_path: Path):
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [TENSORRT, CUDA, CPU])
    seen = {}
    real = onnxruntime.InferenceSession

    def spy(model, sess_options=None, providers=None, provider_options=None):
        seen["providers"], seen["options"] = providers, provider_options
        return real(model, sess_options=sess_options, providers=[CPU])

    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    table = tmp_path / "calib.cache"
    table.write_bytes(b"TRT-table")
    cache = tmp_path / "cache"
    settings = providers.GpuSettings(int8=True, int8_calibration_table=table, cache_dir=cache, device_id=1)
    info = create_session(model_factory(["N", 4, 4, 3]), settings=settings)
    assert seen["providers"] == [TENSORRT, CUDA, CPU]
    assert seen["options"][0]["trt_int8_enable"] is True and seen["options"][0]["device_id"] == 1
    assert seen["options"][1] == {"device_id": 1, "cudnn_conv_algo_search": "EXHAUSTIVE"}
    assert (cache / "calib.cache").read_bytes() == b"TRT-table"
    assert info.provider == CPU and len(info.fallbacks) == 2


def test_missing_calibration_table_is_named(tmp_path: Path):
    settings = providers.GpuSettings(int8=True, int8_calibration_table=tmp_path / "nope.cache", cache_dir=tmp_path)
    with pytest.raises(RuntimeInputError) as err:
        providers.stage_calibration_table(settings)
    assert one_line(err.value).startswith(str(tmp_path / "nope.cache"))
