"""``cli.py verify``: Keras and onnxruntime on the same inputs, through the command line.

Passing cases for each source (.keras, JSON with and without weights, .py, a tf.keras .h5, the
user's .npz inputs, an int32 input), a failing case (an ONNX model of the same architecture with
other weights: exit code 1 and the failing output named), a mismatched ONNX model refused in one
line, and the message naming the extra to install when Keras cannot be imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tf_keras
from keras import layers
from typer.testing import CliRunner

import cli
import compiler
from compiler.errors import CompileError

from .harness import randomize

ROOT = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()


def verify(*args: object) -> Any:
    """``cli.py verify ARGS`` in this process (Keras is loaded once for the whole module)."""
    return RUNNER.invoke(cli.app, ["verify", *map(str, args)], catch_exceptions=False)


def _model(seed: int) -> keras.Model:
    inp = keras.Input((9, 9, 3), name="image")
    x = layers.Conv2D(5, 3, activation="relu", name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    pooled = layers.GlobalAveragePooling2D(name="pool")(x)
    return randomize(keras.Model(inp, [layers.Dense(3, name="head")(pooled), x]), seed)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verify")
    model = _model(1)
    model.save(folder / "m.keras")
    (folder / "m.json").write_text(model.to_json())
    model.save_weights(folder / "m.weights.h5")
    np.savez(folder / "x.npz", image=np.random.default_rng(2).uniform(-3, 3, (4, 9, 9, 3)).astype("float32"))
    other = _model(2)
    other.save(folder / "other.keras")
    compiler.save(compiler.compile(folder / "other.keras"), folder / "other.onnx")
    return {p.name: p for p in folder.iterdir()}


@pytest.mark.parametrize(
    "args",
    [
        ["m.keras"],
        ["m.json"],
        ["m.json", "--weights", "m.weights.h5", "--inputs", "x.npz"],
        ["m.keras", "--batch", "3", "--rtol", "1e-3"],
    ],
    ids=["keras", "json-keras-weights", "json-weights-npz", "batch3"],
)
def test_verify_passes(args: list[str], saved: dict[str, Path]) -> None:
    run = verify(*[saved.get(a, a) for a in args])
    assert run.exit_code == 0, run.output
    assert "PASS: every output within rtol" in run.stdout
    lines = [line for line in run.stdout.splitlines() if line.startswith("  ")]
    assert [line.split()[0] for line in lines] == ["head", "bn"]
    assert all(line.rstrip().endswith("pass") for line in lines)
    if "x.npz" in args:
        assert "batch 4, inputs from x.npz" in run.stdout
    if len(args) == 1 and args[0] == "m.json":
        assert "random weights Keras drew" in run.output


def test_verify_in_a_new_process_prints_only_its_own_lines(saved: dict[str, Path]) -> None:
    """TensorFlow's C++ start-up lines (absl, oneDNN, CUDA) do not reach the user's terminal."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "verify", str(saved["m.keras"])],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[-1].startswith("PASS: every output within rtol")


def test_verify_fails_on_an_onnx_model_with_other_weights(saved: dict[str, Path]) -> None:
    run = verify(saved["m.keras"], "--onnx", saved["other.onnx"])
    assert run.exit_code == 1, run.output
    assert "FAIL: 2 of 2 outputs beyond rtol 0.0001" in run.stdout
    rows = [line for line in run.stdout.splitlines() if line.startswith("  ")]
    assert rows[0].split()[0] == "head" and rows[0].rstrip().endswith("FAIL")


def test_verify_refuses_an_onnx_model_of_another_shape_in_one_line(saved: dict[str, Path], tmp_path: Path) -> None:
    inp = keras.Input((4,), name="image")
    other = keras.Model(inp, layers.Dense(3, name="head")(inp))
    compiler.save(compiler.compile(other), tmp_path / "small.onnx")
    with pytest.raises(CompileError, match=r"ONNX input 'image' is \[\?, 4\], Keras's 'image' gives \(2, 9, 9, 3\)"):
        verify(saved["m.keras"], "--onnx", tmp_path / "small.onnx")


def test_verify_a_python_file_with_two_inputs(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        "import keras\nfrom keras import layers\n"
        "features = keras.Input((6,), name='features')\n"
        "image = keras.Input((8, 8, 2), name='image')\n"
        "x = layers.Conv2D(3, 3, padding='same', activation='relu')(image)\n"
        "y = layers.Dense(3)(features)\n"
        "z = layers.GlobalMaxPooling2D()(x)\n"
        "model = keras.Model([features, image], layers.Add(name='sum')([y, z]))\n"
        "model.summary()\n"
    )
    run = verify(path)
    assert run.exit_code == 0, run.output
    assert "sum" in run.stdout and "PASS" in run.stdout


def test_verify_a_tf_keras_h5(tmp_path: Path) -> None:
    inp = tf_keras.Input((7, 7, 2), name="image")
    x = tf_keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    model = tf_keras.Model(inp, tf_keras.layers.Dense(2, name="head")(tf_keras.layers.Flatten()(x)))
    model.save(tmp_path / "legacy.h5")
    run = verify(tmp_path / "legacy.h5")
    assert run.exit_code == 0, run.output
    assert "PASS" in run.stdout


BLOCK_KERAS = """
import runpy, sys
class NoKeras:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "tensorflow", "tf_keras"):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoKeras())
sys.argv = ["cli.py", *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_without_keras_one_line_names_the_extra(saved: dict[str, Path]) -> None:
    run = subprocess.run(
        [sys.executable, "-c", BLOCK_KERAS, "verify", str(saved["m.keras"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert "verify needs Keras, which is not installed" in run.stderr
    assert "pip install 'kerascc[verify]'" in run.stderr
