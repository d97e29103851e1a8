"""Custom layers against real Keras: layer subclasses, Lambda layers and Model subclasses.

A model file runs twice: with real Keras, whose weights (every variable, drawn again so that
nothing is trivial) are saved to ``.weights.h5``, and through kerascc, which traces the custom
layers and reads those weights where Keras saved them; onnxruntime's outputs must match
``model.predict`` at batch 2. A ``.keras`` archive saved by Keras with real custom classes is
compiled with ``custom_objects=`` the file that defines them.
"""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import compiler
from compiler.errors import CompileError

from .harness import keras_predict, make_inputs, rel_error, run_onnx

HEADER = "import keras\nimport numpy as np\nfrom keras import layers, ops\nimport tensorflow as tf\n"


def write(tmp_path: Path, body: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def keras_run(path: Path, tmp_path: Path, seed: int = 0) -> tuple[keras.Model, Path]:
    """The file's model built by real Keras, every weight redrawn, saved as .weights.h5."""
    keras.backend.clear_session()
    namespace = runpy.run_path(str(path), run_name="__kerascc_model__")
    model = namespace["model"]
    rng = np.random.default_rng(seed)
    for var in model.weights:
        var.assign(rng.normal(0.0, 0.5, tuple(var.shape)).astype("float32"))
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    return model, weights


def check_py(path: Path, tmp_path: Path, rtol: float = 1e-4, shape: tuple[int, ...] | None = None) -> Any:
    """Compile the file with Keras's weights; its outputs must be Keras's at batch 2.

    ``shape``: the input shape (batch included) of a subclassed model, which has no ``inputs``.
    """
    model, weights = keras_run(path, tmp_path)
    if shape is None:
        inputs = make_inputs(model, batch=2)
    else:
        inputs = [np.random.default_rng(0).standard_normal(shape).astype(np.float32)]
    want = keras_predict(model, inputs)
    compiled = compiler.compile(path, weights=weights)
    onnx_path = compiler.save(compiled, tmp_path / "model.onnx")
    names = [i.name for i in compiled.onnx.graph.input]
    _, got = run_onnx(onnx_path, dict(zip(names, inputs, strict=True)))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert rel_error(g, w) <= rtol
    return compiled


def refusal(path: Path) -> CompileError:
    with pytest.raises(CompileError) as info:
        compiler.compile(path)
    return info.value


SCALE_LAYER = """
class ScaleShift(layers.Layer):
    \"\"\"A projection, then a learned per-feature scale and shift (one of them not trainable).\"\"\"

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.proj = layers.Dense(units)
        self.inner = layers.Dense(units, name="inner_proj")

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(self.units,), initializer="ones", name="gamma")
        self.offset = self.add_weight(shape=(self.units,), initializer="zeros", name="offset", trainable=False)
        self.beta = self.add_weight(shape=(self.units,), initializer="zeros", name="beta")

    def call(self, x):
        return ops.relu(self.inner(self.proj(x)) * self.gamma + self.beta - self.offset)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
"""


@pytest.mark.covers("custom Layer subclass", "build + add_weight (trainable and not), sublayers, keras.ops, weights")
def test_custom_layer_with_add_weight_and_sublayers(tmp_path):
    path = write(
        tmp_path,
        SCALE_LAYER
        + """
inp = keras.Input((3,), name="features")
x = ScaleShift(6, name="scale_shift")(inp)
model = keras.Model(inp, layers.Dense(2, name="head")(x))
""",
    )
    compiled = check_py(path, tmp_path)
    ops_ = compiled.op_counts()
    assert ops_["Gemm"] + ops_["MatMul"] == 3 and ops_["Relu"] == 1  # the scale and shift fold into the Dense
    graph = compiler.load(path)  # before the passes: the call's operations, named <layer>/<op>
    assert [n.name for n in graph.nodes("Relu")] == ["scale_shift/relu"]


@pytest.mark.covers("Lambda", "in a .py file: the function traced on recording tensors")
def test_lambda_in_a_model_file(tmp_path):
    path = write(
        tmp_path,
        """
def swish_shift(t):
    return t * ops.sigmoid(t) + 0.5

inp = keras.Input((5,), name="features")
x = layers.Dense(8, name="d1")(inp)
x = layers.Lambda(swish_shift, name="act")(x)
x = layers.Lambda(lambda t: -t * 2.0, name="negate")(x)
model = keras.Model(inp, layers.Dense(3, name="d2")(x))
""",
    )
    check_py(path, tmp_path)


@pytest.mark.covers("Model subclass", "call() traced; sublayers and a nested custom layer at Keras's weight paths")
def test_model_subclass(tmp_path):
    path = write(
        tmp_path,
        SCALE_LAYER
        + """
class Classifier(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="relu")
        self.block = ScaleShift(8)
        self.out = layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        h = self.hidden(x)
        if training:
            h = h * 0.0
        return self.out(self.block(h) + h)

model = Classifier()
model(np.zeros((1, 5), "float32"))  # how scripts build a subclassed model
""",
    )
    check_py(path, tmp_path, shape=(2, 5))
