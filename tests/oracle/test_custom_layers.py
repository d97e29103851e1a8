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
from keras import layers

import compiler
from compiler.errors import CompileError, UnsupportedLayerError

from .harness import check, keras_predict, make_inputs, rel_error, run_onnx

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


CLASSIFIER = """
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
"""


@pytest.mark.covers("Model subclass", "call() traced; sublayers and a nested custom layer at Keras's weight paths")
def test_model_subclass(tmp_path):
    path = write(
        tmp_path,
        SCALE_LAYER
        + CLASSIFIER
        + """
model = Classifier()
model(np.zeros((1, 5), "float32"))  # how scripts build a subclassed model
""",
    )
    check_py(path, tmp_path, shape=(2, 5))


@pytest.mark.covers("Model subclass", "--custom-objects: a subclassed model saved whole as .keras")
def test_custom_objects_with_a_saved_model_subclass(tmp_path):
    layers_py = write(tmp_path, SCALE_LAYER + CLASSIFIER, name="my_model.py")
    keras.backend.clear_session()
    model = runpy.run_path(str(layers_py))["Classifier"]()
    model(np.zeros((1, 5), "float32"))
    rng = np.random.default_rng(5)
    for var in model.weights:
        var.assign(rng.normal(0.0, 0.5, tuple(var.shape)).astype("float32"))
    model.save(tmp_path / "classifier.keras")
    x = rng.standard_normal((2, 5)).astype("float32")
    want = model.predict(x, verbose=0)
    compiled = compiler.compile(tmp_path / "classifier.keras", custom_objects=layers_py)
    _, (got,) = run_onnx(compiled.onnx, {compiled.onnx.graph.input[0].name: x})
    assert rel_error(got, want) <= 1e-4


VAE = """
class Sampling(layers.Layer):
    \"\"\"z = z_mean + exp(z_log_var / 2) * epsilon, as in Keras's VAE example.\"\"\"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        if MEAN_AT_INFERENCE and not training:
            return z_mean
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

inp = keras.Input((6,), name="features")
h = layers.Dense(8, activation="relu", name="hidden")(inp)
z_mean = layers.Dense(2, name="z_mean")(h)
z_log_var = layers.Dense(2, name="z_log_var")(h)
z = Sampling(name="z")([z_mean, z_log_var])
model = keras.Model(inp, [z_mean, z_log_var, z], name="encoder")
"""


@pytest.mark.covers("custom Layer subclass", "VAE Sampling: keras.random refused at the user's line")
def test_vae_sampling_is_refused_with_the_reason(tmp_path):
    path = write(tmp_path, "MEAN_AT_INFERENCE = False\n" + VAE)
    err = refusal(path)
    assert isinstance(err, UnsupportedLayerError)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "keras.random.normal(" in text)
    assert err.file == f"{path}:{line}"
    assert "draws new random numbers" in err.message and "z_mean" in (err.hint or "")


@pytest.mark.covers("custom Layer subclass", "VAE Sampling returning z_mean when not training: compiled")
def test_vae_encoder_with_deterministic_sampling(tmp_path):
    path = write(tmp_path, "MEAN_AT_INFERENCE = True\n" + VAE)
    check_py(path, tmp_path)


PATCHES = {
    # ViT's patch embedding: a convolution with the patch as kernel and stride, then the tokens
    "conv": "x = self.proj(images)\n        return layers.Reshape((x.shape[1] * x.shape[2], self.dim))(x)",
    # the patches cut out with keras.ops (a 6-D reshape and transpose), then projected
    "ops": "h, w, c, p = images.shape[1], images.shape[2], images.shape[3], self.patch\n"
    "        x = ops.reshape(images, (-1, h // p, p, w // p, p, c))\n"
    "        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))\n"
    "        return self.flat(ops.reshape(x, (-1, (h // p) * (w // p), p * p * c)))",
}


@pytest.mark.covers("custom Layer subclass", "patch extraction + position embedding (a weight of the sequence shape)")
@pytest.mark.parametrize("spelling", list(PATCHES))
def test_patch_extraction_and_position_embedding(spelling, tmp_path):
    path = write(
        tmp_path,
        """
class Patches(layers.Layer):
    \"\"\"Non-overlapping patches, each projected to `dim` features.\"\"\"

    def __init__(self, patch, dim, **kwargs):
        super().__init__(**kwargs)
        self.patch, self.dim = patch, dim
        self.proj = layers.Conv2D(dim, patch, strides=patch)
        self.flat = layers.Dense(dim)

    def call(self, images):
        BODY

    def get_config(self):
        return {**super().get_config(), "patch": self.patch, "dim": self.dim}


class PositionEmbedding(layers.Layer):
    def build(self, input_shape):
        self.position = self.add_weight(shape=(1, *input_shape[1:]), initializer="random_normal", name="position")

    def call(self, tokens):
        return tokens + self.position

inp = keras.Input((12, 12, 3), name="image")
tokens = PositionEmbedding(name="positions")(Patches(4, 8, name="patches")(inp))
x = layers.LayerNormalization(name="norm")(tokens)
model = keras.Model(inp, layers.Dense(5, name="head")(layers.GlobalAveragePooling1D(name="pool")(x)))
""".replace("BODY", PATCHES[spelling]),
    )
    check_py(path, tmp_path)


@pytest.mark.covers("custom Layer subclass", "two outputs; keras.ops.einsum with a weight; a learned token broadcast")
def test_custom_layer_with_einsum_and_two_outputs(tmp_path):
    path = write(
        tmp_path,
        """
class Mix(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 4), name="w")
        self.token = self.add_weight(shape=(1, 1, 4), name="token")

    def call(self, x):
        y = ops.einsum("bnc,cd->bnd", x, self.w)
        return y, ops.relu(y) + self.token

inp = keras.Input((5, 3), name="tokens")
a, b = Mix(name="mix")(inp)
model = keras.Model(inp, [a, b])
""",
    )
    compiled = check_py(path, tmp_path)
    assert compiled.op_counts()["Mul"] == 0  # the token is a shift only


@pytest.mark.covers("custom Layer subclass", "keras.ops on weights alone (softplus, reshape): computed at compile time")
def test_operations_on_weights_alone(tmp_path):
    path = write(
        tmp_path,
        """
class PositiveScale(layers.Layer):
    def build(self, input_shape):
        self.raw = self.add_weight(shape=(input_shape[-1],), name="raw")
        self.bias = self.add_weight(shape=(1, input_shape[-1]), name="bias")

    def call(self, x):
        return x * ops.softplus(self.raw) + ops.reshape(self.bias, (-1,))

inp = keras.Input((6, 6, 4), name="image")
x = layers.Conv2D(4, 3, name="conv")(inp)
model = keras.Model(inp, PositiveScale(name="scale")(x))
""",
    )
    compiled = check_py(path, tmp_path)
    assert compiled.op_counts()["Softplus"] == 0 and compiled.op_counts()["Conv"] == 1


DEPTH_TO_SPACE = {
    "tf.nn": "return tf.nn.depth_to_space(x, self.block)",
    "keras.ops": "return ops.nn.depth_to_space(x, self.block)",
    # the same permutation with built-in layers: channel (dy * r + dx) * c + k to pixel (y * r + dy, x * r + dx)
    "layers": "h, w, r = x.shape[1], x.shape[2], self.block\n"
    "        x = layers.Reshape((h, w, r, r, x.shape[3] // (r * r)))(x)\n"
    "        x = layers.Permute((1, 3, 2, 4, 5))(x)\n"
    "        return layers.Reshape((h * r, w * r, x.shape[-1]))(x)",
}


@pytest.mark.covers("custom Layer subclass", "depth-to-space super-resolution: tf.nn, keras.ops or layers in call()")
@pytest.mark.parametrize("spelling", list(DEPTH_TO_SPACE))
def test_depth_to_space_super_resolution(spelling, tmp_path):
    path = write(
        tmp_path,
        """
class DepthToSpace(layers.Layer):
    def __init__(self, block, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def call(self, x):
        BODY

    def get_config(self):
        return {**super().get_config(), "block": self.block}

inp = keras.Input((6, 6, 3), name="low_res")
x = layers.Conv2D(16, 3, padding="same", activation="relu", name="features")(inp)
x = layers.Conv2D(3 * 4, 3, padding="same", name="subpixel")(x)
model = keras.Model(inp, DepthToSpace(2, name="upscale")(x), name="espcn")
""".replace("BODY", DEPTH_TO_SPACE[spelling]),
    )
    check_py(path, tmp_path)


@pytest.mark.covers("custom Layer subclass", "squeeze-and-excite block written with tf.math.reduce_mean")
def test_squeeze_excite_block(tmp_path):
    path = write(
        tmp_path,
        """
class SqueezeExcite(layers.Layer):
    def __init__(self, ratio=4, **kwargs):
        super().__init__(**kwargs)
        self.ratio = ratio

    def build(self, input_shape):
        channels = input_shape[-1]
        self.reduce = layers.Conv2D(channels // self.ratio, 1, activation="relu")
        self.expand = layers.Conv2D(channels, 1, activation="sigmoid")

    def call(self, x):
        squeezed = tf.math.reduce_mean(x, axis=[1, 2], keepdims=True)
        return x * self.expand(self.reduce(squeezed))

inp = keras.Input((8, 8, 8), name="image")
x = layers.Conv2D(8, 3, padding="same", name="stem")(inp)
model = keras.Model(inp, SqueezeExcite(name="se")(x))
""",
    )
    check_py(path, tmp_path)


@pytest.mark.covers("custom Layer subclass", "--custom-objects: a .keras archive saved by Keras with custom classes")
def test_custom_objects_with_a_keras_archive(tmp_path):
    layers_py = write(
        tmp_path,
        "\n@keras.saving.register_keras_serializable(package='demo')" + SCALE_LAYER,
        name="my_layers.py",
    )
    keras.backend.clear_session()
    classes = runpy.run_path(str(layers_py))
    inp = keras.Input((5,), name="features")
    x = classes["ScaleShift"](6, name="scale_shift")(inp)
    model = keras.Model(inp, layers.Dense(3, name="head")(x))
    rng = np.random.default_rng(3)
    for var in model.weights:
        var.assign(rng.normal(0.0, 0.5, tuple(var.shape)).astype("float32"))
    check(model, tmp_path, custom_objects=layers_py)


@pytest.mark.covers("custom Layer subclass", "export-json: Keras loads it with the class in custom_objects")
def test_exported_json_loads_in_keras_with_custom_objects(tmp_path):
    path = write(
        tmp_path,
        SCALE_LAYER
        + """
inp = keras.Input((3,), name="features")
model = keras.Model(inp, layers.Dense(2, name="head")(ScaleShift(6, name="scale_shift")(inp)))
""",
    )
    target = compiler.export_json(path, tmp_path / "model.json")
    keras.backend.clear_session()
    classes = runpy.run_path(str(path), run_name="__kerascc_model__")
    loaded = keras.models.model_from_json(target.read_text(), custom_objects={"ScaleShift": classes["ScaleShift"]})
    built = classes["model"]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in built.layers]
    assert loaded.count_params() == built.count_params()
    assert loaded.get_layer("scale_shift").get_config() == built.get_layer("scale_shift").get_config()


TF_KERAS_MODEL = """
import tf_keras as keras
from tf_keras import layers


class ScaleShift(layers.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.proj = layers.Dense(units)

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(self.units,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(self.units,), initializer="zeros")

    def call(self, x):
        return self.proj(x) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "units": self.units}


inp = keras.Input((3,), name="features")
model = keras.Model(inp, layers.Dense(2, name="head")(ScaleShift(5, name="scale_shift")(inp)))
"""


@pytest.mark.covers("custom Layer subclass", "tf.keras legacy .h5 weights (by layer and variable name)")
def test_custom_layer_with_tf_keras_h5_weights(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(TF_KERAS_MODEL)
    namespace = runpy.run_path(str(path), run_name="__kerascc_model__")
    model = namespace["model"]
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(0.0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    weights = tmp_path / "model.h5"
    model.save_weights(str(weights))
    x = rng.standard_normal((2, 3)).astype("float32")
    want = model.predict(x, verbose=0)
    compiled = compiler.compile(path, weights=weights)
    _, (got,) = run_onnx(compiled.onnx, {"features": x})
    assert rel_error(got, want) <= 1e-4
