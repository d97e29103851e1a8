"""The shape classifier that `make demo` shows: the shipped archive against Keras, and through `run`.

The demo is only convincing if its answers are right and are kerascc's own: the compiled file must
give what Keras gives on the example images, and the CLI, run exactly as the Makefile runs it, must
name each image's class. The training data generator is checked for determinism here too, without
training, since the shipped weights are only reproducible if the data is.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import keras
import numpy as np
import onnxruntime as ort
from PIL import Image

import compiler

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "examples" / "shapes"
EXAMPLES = sorted(SHAPES.glob("*.png"))


def _training_script() -> ModuleType:
    """examples/shapes/train.py as a module (examples/ is not a package); importing it trains nothing."""
    spec = importlib.util.spec_from_file_location("shapes_train", SHAPES / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest absolute difference relative to the largest Keras value, as the other oracle tests measure."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), 1e-6)


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )


def test_examples_and_labels_cover_every_class() -> None:
    labels = (SHAPES / "labels.txt").read_text().splitlines()
    assert labels == list(_training_script().CLASSES)
    assert sorted(p.stem for p in EXAMPLES) == sorted(labels)
    assert (SHAPES / "shapes.keras").stat().st_size < 1_000_000


def test_compiled_shapes_model_matches_keras(tmp_path: Path) -> None:
    model = keras.saving.load_model(SHAPES / "shapes.keras", compile=False)
    # What `run` feeds a 64x64 RGB model for these 64x64 RGB files: float32 pixels 0..255, NHWC.
    images = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in EXAMPLES])
    expected = np.asarray(model.predict(images, verbose=0))

    result = compiler.compile(SHAPES / "shapes.keras", preprocess="none")
    assert result.random_weights is False
    out = tmp_path / "shapes.onnx"
    compiler.save(result, out)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(out), sess_options=options, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["probs"]
    (got,) = session.run(None, {"image": images})

    assert got.shape == expected.shape == (len(EXAMPLES), 5)
    assert _rel_error(got, expected) <= 1e-4
    # Keras itself must be right on the examples, or the demo would show a faithful wrong answer.
    labels = (SHAPES / "labels.txt").read_text().splitlines()
    assert [labels[i] for i in expected.argmax(axis=1)] == [p.stem for p in EXAMPLES]


def test_cli_run_names_each_example_class(tmp_path: Path) -> None:
    onnx_path = tmp_path / "shapes.onnx"
    proc = _cli("compile", SHAPES / "shapes.keras", "-o", onnx_path, "--preprocess", "none")
    assert proc.returncode == 0, proc.stderr
    assert "weights       loaded from shapes.keras" in proc.stdout
    results = tmp_path / "results.json"
    proc = _cli("run", onnx_path, SHAPES, "--labels", SHAPES / "labels.txt", "-o", results)
    assert proc.returncode == 0, proc.stderr
    assert "preprocess none" in proc.stdout
    doc = json.loads(results.read_text())
    assert doc["summary"]["images"] == len(EXAMPLES) and not doc["summary"]["skipped"]
    top1 = {Path(r["file"]).stem: r["outputs"]["probs"]["top"][0]["label"] for r in doc["results"]}
    assert top1 == {p.stem: p.stem for p in EXAMPLES}


def test_training_data_is_deterministic() -> None:
    train = _training_script()
    images, labels = train.make_dataset(25, seed=7)
    again_images, again_labels = train.make_dataset(25, seed=7)
    assert images.shape == (25, train.SIZE, train.SIZE, 3) and images.dtype == np.uint8
    assert labels.shape == (25,) and np.bincount(labels).tolist() == [5] * len(train.CLASSES)
    assert np.array_equal(images, again_images) and np.array_equal(labels, again_labels)
    other_images, _ = train.make_dataset(25, seed=8)
    assert not np.array_equal(images, other_images)
