"""``keras.applications.<family>.preprocess_input`` inside the graph, against real Keras.

A ``.py`` file must record the document Keras's ``to_json()`` writes for the same code ("caffe":
three ``GetItem`` stacked back as BGR plus a constant mean; "torch": ``/ 255``, ``+ -mean``,
``/ std``), and the model must compile from the ``.py``, the ``.keras`` and the JSON alike and give
what ``model.predict`` gives on pixels in 0…255. The preprocessing must cost nothing at run time
where that is exact: before an unpadded convolution no op of it is left; before a padded one (the
applications' own first convolutions) only the shift remains, as one Add.
"""

from __future__ import annotations

import json
import runpy
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pytest

import compiler
from frontends.keras_python import model_config

from .harness import check, keras_predict, op_counts, randomize, rel_error, run_onnx

ROOT = Path(__file__).resolve().parents[2]
DEEPLAB = ROOT / "tests" / "data" / "deeplabv3plus.py"
#: ONNX ops the preprocessing would add if it were not folded away
PREPROCESSING_OPS = ("Slice", "Squeeze", "Unsqueeze", "Concat", "Mul", "Div", "Sub", "Gather")


def pixels(model: keras.Model, batch: int = 2, seed: int = 0) -> np.ndarray:
    shape = (batch, *model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0.0, 255.0, shape).astype(np.float32)


def keras_model(path: Path, tmp_path: Path, seed: int) -> tuple[keras.Model, Path]:
    """The file's model built by real Keras, weights redrawn, saved for ``--weights``."""
    keras.backend.clear_session()
    model = runpy.run_path(str(path), run_name="__kerascc_model__")["model"]
    randomize(model, seed)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    return model, weights


def compile_file(path: Path, weights: Path, tmp_path: Path, x: np.ndarray, want: np.ndarray) -> Counter[str]:
    """Compile the .py with Keras's weights; it must give Keras's output. Returns its op counts."""
    compiled = compiler.compile(path, weights=weights)
    onnx_path = compiler.save(compiled, tmp_path / "from_py.onnx")
    (name,) = [i.name for i in compiled.onnx.graph.input]
    _, got = run_onnx(onnx_path, {name: x})
    assert got[0].shape == want.shape
    assert rel_error(got[0], want) <= 1e-4
    return op_counts(compiled.onnx)


MODES = {"resnet50": "caffe", "vgg19": "caffe", "imagenet_utils": "caffe", "densenet": "torch"}


@pytest.mark.covers("keras.ops.GetItem", "caffe preprocess_input: x[..., i] stacked as BGR, folded into the kernel")
@pytest.mark.covers("keras.ops.Stack", "caffe preprocess_input (axis=-1)")
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("family", list(MODES))
def test_preprocess_input_before_a_convolution(family: str, padding: str, tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        f"import keras\nfrom keras import layers\nfrom keras.applications.{family} import preprocess_input\n"
        "inputs = keras.Input((9, 9, 3), name='image')\nx = preprocess_input(inputs)\n"
        f"model = keras.Model(inputs, layers.Conv2D(5, 3, padding='{padding}', name='conv')(x))\n"
    )
    model, weights = keras_model(path, tmp_path, seed=3)
    ours, _ = model_config(path)
    assert ours == json.loads(model.to_json())
    x = pixels(model)
    result = check(model, tmp_path, inputs=[x])
    # a padded border reads zeros, not the mean: only there the shift stays, as one Add
    expected = {op: 0 for op in PREPROCESSING_OPS} | {"Conv": 1, "Add": 0 if padding == "valid" else 1}
    result.assert_ops(**expected)
    assert compile_file(path, weights, tmp_path, x, keras_predict(model, [x])[0]) == result.ops


def test_caffe_preprocess_input_before_a_dense_layer(tmp_path: Path) -> None:
    """The channel flip folds into a Dense's kernel too; the mean then into its bias."""
    path = tmp_path / "model.py"
    path.write_text(
        "import keras\nfrom keras import layers\nfrom keras.applications.vgg16 import preprocess_input\n"
        "inputs = keras.Input((4, 3), name='pixels')\n"
        "model = keras.Model(inputs, layers.Dense(2, name='dense')(preprocess_input(inputs)))\n"
    )
    model, weights = keras_model(path, tmp_path, seed=4)
    x = pixels(model)
    result = check(model, tmp_path, inputs=[x])
    assert compile_file(path, weights, tmp_path, x, keras_predict(model, [x])[0]) == result.ops
    plain = tmp_path / "plain.py"
    plain.write_text(path.read_text().replace("(preprocess_input(inputs))", "(inputs)"))
    assert result.ops == op_counts(compiler.compile(plain).onnx)  # the Dense alone


def test_a_gather_read_twice_is_left_as_it_is(tmp_path: Path) -> None:
    """The flipped image also leaves the model: folding would change that output, so nothing folds."""
    inputs = keras.Input((6, 6, 3), name="image")
    bgr = keras.applications.resnet50.preprocess_input(inputs)
    model = keras.Model(inputs, [keras.layers.Conv2D(2, 1, name="conv")(bgr), bgr])
    randomize(model, 5)
    check(model, tmp_path, inputs=[pixels(model)]).assert_ops(Conv=1, Concat=1)


@pytest.mark.covers("keras.applications", "input_tensor=preprocess_input(inputs): the application starts at the Input")
def test_application_built_on_a_preprocessed_input_tensor(tmp_path: Path) -> None:
    """Keras's ``get_source_inputs``: the application's graph begins at the keras.Input and holds
    the preprocessing; its layers' outputs are tensors of the outer model, which stays flat."""
    path = tmp_path / "model.py"
    path.write_text(
        "import keras\ninputs = keras.Input((32, 32, 3))\n"
        "x = keras.applications.mobilenet.preprocess_input(inputs)\n"
        "base = keras.applications.MobileNet(weights=None, include_top=False, input_tensor=x, alpha=0.25)\n"
        "features = base.get_layer('conv_pw_5_relu').output\n"
        "model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features))\n"
    )
    model, weights = keras_model(path, tmp_path, seed=6)
    ours, _ = model_config(path)
    assert ours == json.loads(model.to_json())
    x = pixels(model)
    compile_file(path, weights, tmp_path, x, keras_predict(model, [x])[0])


@pytest.mark.slow
@pytest.mark.covers("keras.applications", "DeepLabV3+: ResNet50 on preprocess_input, ASPP, bilinear UpSampling")
def test_deeplabv3plus_with_preprocess_input_inside(tmp_path: Path) -> None:
    model, weights = keras_model(DEEPLAB, tmp_path, seed=7)
    ours, _ = model_config(DEEPLAB)
    assert ours == json.loads(model.to_json())
    x = pixels(model)
    want = keras_predict(model, [x])[0]
    ops = compile_file(DEEPLAB, weights, tmp_path, x, want)
    result = check(model, tmp_path, inputs=[x])
    assert result.ops == ops
    # against the same network without preprocessing, caffe mode costs one Add (the mean before
    # conv1's padding) and nothing else: the BGR flip went into conv1's kernel
    plain = tmp_path / "plain.py"
    plain.write_text(
        DEEPLAB.read_text().replace(
            "preprocessed = keras.applications.resnet50.preprocess_input(model_input)", "preprocessed = model_input"
        )
    )
    assert "preprocess_input(" not in plain.read_text()
    without = op_counts(compiler.compile(plain).onnx)
    assert ops - without == Counter({"Add": 1}) and not without - ops


# -- the keras.io ViT position embedding: Embedding(num_patches, dim)(arange(0, num_patches)) -----------
VIT_LAYERS = '''
import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="vit")
class PatchEncoder(layers.Layer):
    """keras.io's ViT: projected patches plus a learned embedding of their positions."""

    def __init__(self, num_patches, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_patches = num_patches
        self.projection_dim = projection_dim
        self.projection = layers.Dense(units=projection_dim)
        self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

    def call(self, patch):
        positions = ops.expand_dims(ops.arange(start=0, stop=self.num_patches, step=1), axis=0)
        projected_patches = self.projection(patch)
        return projected_patches + self.position_embedding(positions)

    def get_config(self):
        return {**super().get_config(), "num_patches": self.num_patches, "projection_dim": self.projection_dim}


@keras.saving.register_keras_serializable(package="vit")
class PlainPatchEncoder(PatchEncoder):
    """The same with positions = keras.ops.arange(0, num_patches), no batch axis."""

    def call(self, patch):
        positions = keras.ops.arange(0, self.num_patches)
        return self.projection(patch) + self.position_embedding(positions)
'''


def _vit(classes: dict) -> keras.Model:
    inputs = keras.Input((6, 12), name="patches")
    x = classes["PatchEncoder"](6, 8, name="encoder")(inputs)
    x = classes["PlainPatchEncoder"](6, 8, name="plain_encoder")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


@pytest.mark.covers("custom Layer subclass", "ViT PatchEncoder: Embedding of keras.ops.arange positions, folded")
def test_vit_position_embedding_in_a_python_file(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        VIT_LAYERS + "\n\ninputs = keras.Input((6, 12), name='patches')\n"
        "x = PatchEncoder(6, 8, name='encoder')(inputs)\nx = PlainPatchEncoder(6, 8, name='plain_encoder')(x)\n"
        "model = keras.Model(inputs, layers.Dense(3, name='head')(x))\n"
    )
    model, weights = keras_model(path, tmp_path, seed=8)
    x = np.random.default_rng(1).standard_normal((2, 6, 12)).astype(np.float32)
    ops = compile_file(path, weights, tmp_path, x, keras_predict(model, [x])[0])
    assert ops["Gather"] == 0  # the positions' rows are a constant of the compiled model


@pytest.mark.covers("custom Layer subclass", "ViT PatchEncoder from a .keras with --custom-objects")
def test_vit_position_embedding_from_a_keras_archive(tmp_path: Path) -> None:
    layers_py = tmp_path / "vit_layers.py"
    layers_py.write_text(VIT_LAYERS)
    keras.backend.clear_session()
    model = randomize(_vit(runpy.run_path(str(layers_py))), 9)
    x = np.random.default_rng(2).standard_normal((2, 6, 12)).astype(np.float32)
    check(model, tmp_path, inputs=[x], custom_objects=layers_py).assert_ops(Gather=0)
