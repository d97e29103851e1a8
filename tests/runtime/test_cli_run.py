"""The runtime commands as users meet them: run over folders, export-triton, bench, compile --int8."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_process import run_cli
from google.protobuf import text_format
from runtime_testkit import CLASS_OF_CHANNEL, write_image
from tritonclient.grpc import model_config_pb2

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"COLUMNS": "200"})


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "more").mkdir(parents=True)
    for name, colour in (("red", (250, 0, 0)), ("green", (0, 250, 0)), ("more/blue", (0, 0, 250))):
        write_image(root / f"{name}.png", colour)
    (root / "more" / "broken.jpg").write_bytes(b"\xff\xd8 broken")
    return root


def test_run_folder_writes_csv_and_json_and_skips_unreadable(model_factory, photos: Path, tmp_path: Path):
    model = model_factory(["N", 4, 4, 3])
    proc = cli("run", model, photos, "--batch-size", "2", "--top-k", "2", "-o", tmp_path / "r.csv")
    assert proc.returncode == 0, proc.stderr
    # the header and the summary name where it ran: an onnxruntime provider, or OpenVINO's device
    where = re.findall(r" on (CPUExecutionProvider \(onnxruntime|CPU \(openvino), fp32\)", proc.stdout)
    assert len(where) == 2 and "3 images" in proc.stdout, proc.stdout
    assert "1 unreadable skipped" in proc.stdout
    assert "skipped:" in proc.stderr and "broken.jpg" in proc.stderr
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [Path(r["file"]).name for r in rows] == ["green.png", "blue.png", "red.png"]  # sorted paths
    assert [int(r["probs.class_1"]) for r in rows] == [CLASS_OF_CHANNEL[1], CLASS_OF_CHANNEL[2], CLASS_OF_CHANNEL[0]]
    proc = cli("run", model, str(photos / "*.png"), "-o", tmp_path / "r.json", "--save", tmp_path / "o.npz")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["summary"]["images"] == 2 and doc["summary"]["provider"] == "CPUExecutionProvider"
    assert [r["outputs"]["probs"]["top"][0]["index"] for r in doc["results"]] == [1, 281]
    saved = np.load(tmp_path / "o.npz")
    assert saved["probs"].shape == (2, 1000) and saved["mean_rgb"].shape == (2, 3)


def test_run_custom_labels_and_table_limit(model_factory, photos: Path, tmp_path: Path):
    labels = tmp_path / "rgb.txt"
    labels.write_text("reddish\ngreenish\nbluish\n")
    proc = cli("run", model_factory(["N", 4, 4, 3]), photos, "--labels", labels, "--show", "1", "-k", "1")
    assert proc.returncode == 0, proc.stderr
    assert "greenish 250" in proc.stdout  # mean_rgb has 3 scores: the custom labels name them
    assert "2 more rows" in proc.stdout and "--output results.csv" in proc.stdout


def test_run_segmentation_writes_masks(model_factory, photos: Path, tmp_path: Path):
    proc = cli(
        "run",
        model_factory(["N", 3, 3, 3], head="segmentation"),
        photos / "red.png",
        photos / "more" / "blue.png",
        "--masks",
        tmp_path / "masks",
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == [
        "blue_mask.png",
        "blue_overlay.png",
        "red_mask.png",
        "red_overlay.png",
    ]
    assert "class 2 100%" in proc.stdout and "class 0 100%" in proc.stdout


def test_run_errors_are_one_line(model_factory, tmp_path: Path, photos: Path):
    model = model_factory(["N", 4, 4, 3])
    one_line_error(cli("run", model, photos / "more" / "broken.jpg"), "broken.jpg")
    one_line_error(cli("run", model, str(tmp_path / "none-*.png")), "matches no image files")
    one_line_error(cli("run", model, photos, "-o", tmp_path / "r.txt"), "must end in .csv or .json")
    one_line_error(cli("run", model, photos, "--provider", "cuda"), "'cuda' is not available", "kerascc[gpu]")
    assert not (tmp_path / "r.txt").exists()


def test_export_triton_is_a_valid_model_config(model_factory, tmp_path: Path):
    proc = cli(
        "export-triton",
        model_factory(["N", 4, 4, 3]),
        tmp_path / "repo",
        "--name",
        "toy",
        "--max-batch-size",
        "4",
        "--instances",
        "2",
        "--fp16",
    )
    assert proc.returncode == 0, proc.stderr
    cfg = text_format.Parse((tmp_path / "repo" / "toy" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert cfg.max_batch_size == 4 and cfg.instance_group[0].count == 2
    assert cfg.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters["precision_mode"] == "FP16"
    assert (tmp_path / "repo" / "toy" / "1" / "model.onnx").is_file()
    one_line_error(cli("export-triton", model_factory([1, 4, 4, 3]), tmp_path / "repo2"), "fixed batch dimension")


def test_bench_per_provider(model_factory):
    proc = cli(
        "bench",
        model_factory(["N", 4, 4, 3]),
        "--provider",
        "cpu,auto",
        "--batch",
        "1,2",
        "--runs",
        "3",
        "--warmup",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    rows = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("│")]
    assert len(rows) == 4 and all("cpu" in r for r in rows)
    for col in ("p50 ms", "p90 ms", "p99 ms", "samples/s"):
        assert col in proc.stdout


@pytest.fixture(scope="module")
def keras_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers

    inp = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv")(inp)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(5, name="logits")(x)
    path = tmp_path_factory.mktemp("kj") / "small.json"
    path.write_text(keras.Model(inp, out, name="small").to_json())
    return path


def test_compile_int8_fp16_and_static_shape(keras_json: Path, photos: Path, tmp_path: Path):
    proc = cli(
        "compile", keras_json, "-o", tmp_path / "q.onnx", "--int8", "--calibrate", photos, "--input-shape", "1,16,16,3"
    )
    assert proc.returncode == 0, proc.stderr
    assert "QuantizeLinear" in proc.stdout and "calibrated on 3 images" in proc.stdout
    assert "cosine vs fp32" in proc.stdout and "static input shapes image [1, 16, 16, 3]" in proc.stdout
    inspect = cli("inspect", tmp_path / "q.onnx")
    assert "input   image [1, 16, 16, 3]" in inspect.stdout and "output  logits [1, 5]" in inspect.stdout
    assert "kerascc.precision = int8" in inspect.stdout
    run = cli("run", tmp_path / "q.onnx", photos / "red.png")
    assert run.returncode == 0, run.stderr
    proc = cli("compile", keras_json, "-o", tmp_path / "h.onnx", "--fp16", "--target", "tensorrt")
    assert proc.returncode == 0, proc.stderr and "fp16" in proc.stdout
    one_line_error(cli("compile", keras_json, "-o", tmp_path / "x.onnx", "--int8"), "--int8 and --calibrate")
    one_line_error(cli("compile", keras_json, "-o", tmp_path / "x.onnx", "--fp16", "--target", "ort"), "--target onnx")
    assert not (tmp_path / "x.onnx").exists()
