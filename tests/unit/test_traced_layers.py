"""Traced custom layers without TensorFlow: what a trace holds, what is refused and where, and the
``--custom-objects`` flag of the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.errors import CompileError, FormatError, UnsupportedLayerError
from frontends.keras_python import export_json, model_config
from tests.oracle.harness import run_onnx

ROOT = Path(__file__).resolve().parents[2]
HEADER = "import keras\nimport numpy as np\nfrom keras import layers, ops\nimport tensorflow as tf\n"

SCALE = """
class Scale(layers.Layer):
    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")

    def call(self, x):
        return x * self.gamma + 1.0
"""


def write(tmp_path: Path, body: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def line_of(path: Path, needle: str) -> str:
    number = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)
    return f"{path}:{number}"


def test_the_config_keeps_what_keras_writes_and_the_trace(tmp_path: Path) -> None:
    path = write(tmp_path, SCALE + "inp = keras.Input((3,))\nmodel = keras.Model(inp, Scale(name='s')(inp))\n")
    doc, _ = model_config(path)
    entry = doc["config"]["layers"][1]
    assert (entry["class_name"], entry["registered_name"], entry["config"]["name"]) == ("Scale", "Scale", "s")
    assert entry["build_config"] == {"input_shape": [None, 3]}
    trace = entry["kerascc_trace"]
    assert trace["variables"][0]["name"] == "gamma" and trace["variables"][0]["shape"] == [3]
    ops = [(e["class_name"], e["name"]) for e in trace["graph"]["layers"]]
    assert ops == [("InputLayer", "s/input_0"), ("Multiply", "s/multiply"), ("Add", "s/add")]


def test_operations_inside_a_call_leave_the_automatic_names_alone(tmp_path: Path) -> None:
    """Keras names nothing that runs inside a layer's call: the next ``x + 1`` outside is ``add``."""
    path = write(tmp_path, SCALE + "inp = keras.Input((3,))\nmodel = keras.Model(inp, Scale()(inp) + 2.0)\n")
    doc, _ = model_config(path)
    assert [e["name"] for e in doc["config"]["layers"]] == ["input_layer", "scale", "add"]


def test_random_weights_follow_the_initializer(tmp_path: Path) -> None:
    path = write(tmp_path, SCALE + "inp = keras.Input((3,))\nmodel = keras.Model(inp, Scale()(inp))\n")
    compiled = compiler.compile(path)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    _, (y,) = run_onnx(compiled.onnx, {"input_layer": x})
    np.testing.assert_allclose(y, x + 1.0, rtol=1e-6)  # gamma is ones


REFUSALS = [
    (
        "class L(layers.Layer):\n    def call(self, x):\n        if x > 0:\n            return x\n        return -x\n",
        "if x > 0:",
        "no truth value",
    ),
    (
        "class L(layers.Layer):\n    def call(self, x):\n        if x:\n            return x\n        return -x\n",
        "if x:",
        "no truth value",
    ),
    ("class L(layers.Layer):\n    def call(self, x):\n        return x * len(x)\n", "len(x)", "len() of a symbolic"),
    ("class L(layers.Layer):\n    def call(self, x):\n        return [t for t in x][0]\n", "for t in x", "iterating"),
    (
        "class L(layers.Layer):\n    def call(self, x):\n        return x + tf.random.normal((1, 3))\n",
        "tf.random",
        "tf.random.normal() draws new random numbers",
    ),
    (
        "class L(layers.Layer):\n    def build(self, s):\n        self.w = self.add_weight(shape=(3,))\n"
        "    def call(self, x):\n        self.w.assign(x)\n        return x\n",
        ".assign(",
        "changes the model's state",
    ),
    (
        "class L(layers.Layer):\n    def build(self, s):\n        self.w = self.add_weight(shape=(3,))\n"
        "    def call(self, x):\n        return self.w\n",
        "L()(inp)",
        "computed from its weights alone",
    ),
]


REFUSAL_IDS = ["if-greater", "if", "len", "iter", "random", "assign", "w"]


@pytest.mark.parametrize(("layer", "needle", "message"), REFUSALS, ids=REFUSAL_IDS)
def test_refused_at_the_users_line(tmp_path: Path, layer: str, needle: str, message: str) -> None:
    path = write(tmp_path, layer + "inp = keras.Input((3,))\nmodel = keras.Model(inp, L()(inp))\n")
    with pytest.raises(CompileError, match=re.escape(message)) as info:
        compiler.compile(path)
    assert info.value.file == line_of(path, needle)


def test_training_true_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, SCALE + "inp = keras.Input((3,))\nmodel = keras.Model(inp, Scale()(inp, training=True))\n")
    with pytest.raises(UnsupportedLayerError, match="training=True") as info:
        compiler.compile(path)
    assert info.value.file == line_of(path, "training=True")


def test_a_training_branch_is_traced_as_predict_runs_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
class Noisy(layers.Layer):
    def call(self, x, training=None):
        if training:
            return x + keras.random.normal((1, 3))
        return x * 3.0

inp = keras.Input((3,))
model = keras.Model(inp, Noisy()(inp))
""",
    )
    x = np.ones((2, 3), np.float32)
    _, (y,) = run_onnx(compiler.compile(path).onnx, {"input_layer": x})
    np.testing.assert_allclose(y, 3 * x)


def test_an_unbuilt_subclassed_model_asks_for_a_shape(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "class M(keras.Model):\n    def call(self, x):\n        return x * 2.0\nmodel = M()\n",
    )
    with pytest.raises(CompileError, match="has no input shape") as info:
        compiler.compile(path)
    assert "model.build" in (info.value.hint or "")


def test_a_layer_whose_second_call_records_otherwise_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
class Grow(layers.Layer):
    def call(self, x):
        return layers.Reshape((x.shape[1], 1))(x)

grow = Grow()
a, b = keras.Input((3,)), keras.Input((4,))
model = keras.Model([a, b], [grow(a), grow(b)])
""",
    )
    with pytest.raises(UnsupportedLayerError, match="different computation"):
        compiler.compile(path)


def test_exported_json_compiles_without_running_code(tmp_path: Path) -> None:
    """The trace is data: the exported JSON compiles alone, to the same numbers."""
    path = write(tmp_path, SCALE + "inp = keras.Input((3,))\nmodel = keras.Model(inp, Scale(name='s')(inp))\n")
    target = export_json(path, tmp_path / "model.json")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    _, (a,) = run_onnx(compiler.compile(path, seed=5).onnx, {"input_layer": x})
    _, (b,) = run_onnx(compiler.compile(target, seed=5).onnx, {"input_layer": x})
    np.testing.assert_array_equal(a, b)


# -- the CLI flag --------------------------------------------------------------------------------------
def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


def keras_written_json(tmp_path: Path) -> Path:
    """A JSON as Keras writes it for a model with a custom class: the config without a trace."""
    path = write(tmp_path, SCALE + "inp = keras.Input((3,))\nmodel = keras.Model(inp, Scale(name='s')(inp))\n")
    doc, _ = model_config(path)
    for entry in doc["config"]["layers"]:
        entry.pop("kerascc_trace", None)
    target = tmp_path / "model.json"
    target.write_text(json.dumps(doc))
    return target


def test_cli_custom_objects(tmp_path: Path) -> None:
    model = keras_written_json(tmp_path)
    refused = cli("compile", model.name, cwd=tmp_path)
    assert refused.returncode == 2 and "--custom-objects" in refused.stderr
    proc = cli("compile", model.name, "--custom-objects", "model.py", "-o", "out.onnx", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    x = np.ones((2, 3), np.float32)
    _, (y,) = run_onnx(str(tmp_path / "out.onnx"), {"input_layer": x})
    np.testing.assert_allclose(y, x + 1.0, rtol=1e-6)


def test_custom_objects_runs_only_a_py_file(tmp_path: Path) -> None:
    model = keras_written_json(tmp_path)
    with pytest.raises(FormatError, match="only a .py file is run"):
        compiler.compile(model, custom_objects=model)
    with pytest.raises(CompileError, match="defines its classes itself"):
        compiler.compile(tmp_path / "model.py", custom_objects=tmp_path / "model.py")


def test_matmul_with_a_weight_is_a_dense(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
class Linear(layers.Layer):
    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 2), initializer="ones", name="kernel")
        self.bias = self.add_weight(shape=(2,), initializer="ones", name="bias")

    def call(self, x):
        return x @ self.kernel + self.bias

inp = keras.Input((3,))
model = keras.Model(inp, Linear()(inp))
""",
    )
    compiled = compiler.compile(path)
    assert sum(compiled.op_counts()[op] for op in ("Gemm", "MatMul")) == 1  # the bias folds into it
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    _, (y,) = run_onnx(compiled.onnx, {"input_layer": x})
    np.testing.assert_allclose(y, np.repeat(x.sum(axis=1, keepdims=True) + 1.0, 2, axis=1), rtol=1e-6)


def test_custom_objects_supplies_a_lambdas_named_function(tmp_path: Path) -> None:
    """A Lambda saved with a function name runs the file's function of that name; the bytecode
    form stays refused."""
    path = write(
        tmp_path,
        "def triple(t):\n    return t * 3.0\n\ninp = keras.Input((3,))\n"
        "model = keras.Model(inp, layers.Lambda(triple, name='tri')(inp))\n",
    )
    doc, _ = model_config(path)
    entry = doc["config"]["layers"][1]
    assert entry["config"]["function"]["config"] == "triple"
    del entry["kerascc_trace"]
    model = tmp_path / "model.json"
    model.write_text(json.dumps(doc))
    with pytest.raises(UnsupportedLayerError, match="Lambda"):
        compiler.compile(model)
    x = np.ones((2, 3), np.float32)
    _, (y,) = run_onnx(compiler.compile(model, custom_objects=path).onnx, {"input_layer": x})
    np.testing.assert_allclose(y, 3 * x)


def test_operations_on_weights_alone_are_computed_at_compile_time(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
class ExpScale(layers.Layer):
    def build(self, input_shape):
        self.log_scale = self.add_weight(shape=(1, input_shape[-1]), initializer="ones", name="log_scale")

    def call(self, x):
        return x * ops.exp(ops.reshape(self.log_scale, (-1,)) * 2.0) + 1.0

inp = keras.Input((3,))
model = keras.Model(inp, ExpScale()(inp))
""",
    )
    compiled = compiler.compile(path)
    assert compiled.op_counts()["Exp"] == 0  # computed when the weights are known, not at runtime
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    _, (y,) = run_onnx(compiled.onnx, {"input_layer": x})
    np.testing.assert_allclose(y, x * np.exp(2.0) + 1.0, rtol=1e-6)


def test_an_unsupported_operation_on_weights_alone_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
class Odd(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(3,), name="w")

    def call(self, x):
        return x * ops.erf(self.w)

inp = keras.Input((3,))
model = keras.Model(inp, Odd()(inp))
""",
    )
    with pytest.raises(UnsupportedLayerError, match="Erf on weights alone"):
        compiler.compile(path)


def test_a_custom_layer_in_a_sequential(tmp_path: Path) -> None:
    path = write(tmp_path, SCALE + "model = keras.Sequential([keras.Input((3,)), Scale(), layers.ReLU()])\n")
    x = np.array([[-2.0, 0.5, 1.0]], np.float32)
    _, (y,) = run_onnx(compiler.compile(path).onnx, {compiler.compile(path).onnx.graph.input[0].name: x})
    np.testing.assert_allclose(y, np.maximum(x + 1.0, 0.0))
