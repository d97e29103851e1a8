"""Spellings published model files use, through the Python frontend without TensorFlow: each is
recorded as Keras records it and computes what Keras's definition says (checked with NumPy)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.errors import CompileError
from frontends.keras_python import model_config
from unit_kit import run_model

HEADER = "import keras\nimport numpy as np\nfrom keras import layers, ops\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "model.py"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def layer_configs(path: Path) -> dict[str, dict]:
    config, _ = model_config(path)
    return {entry["config"]["name"]: entry for entry in config["config"]["layers"]}


def test_embedding_by_keyword_keeps_its_vocabulary_and_width(tmp_path):
    # input_dim and output_dim are Keras 1 spellings for Dense, but Embedding's own arguments
    path = write(
        tmp_path,
        """
        inp = keras.Input((4,), dtype="int32")
        model = keras.Model(inp, layers.Embedding(input_dim=10, output_dim=3, name="emb")(inp))
        """,
    )
    cfg = layer_configs(path)["emb"]["config"]
    assert (cfg["input_dim"], cfg["output_dim"]) == (10, 3)


def test_own_regularizer_and_array_constant_initializer(tmp_path):
    path = write(
        tmp_path,
        """
        class Orthogonal(keras.regularizers.Regularizer):
            def __init__(self, k):
                self.k = k
                self.eye = keras.ops.eye(k)

            def __call__(self, x):
                return ops.sum(ops.square(x - self.eye))

            def get_config(self):
                return {"k": self.k}

        inp = keras.Input((3,))
        out = layers.Dense(4, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(
            np.eye(2).flatten()), activity_regularizer=Orthogonal(2), name="head")(inp)
        model = keras.Model(inp, out)
        """,
    )
    cfg = layer_configs(path)["head"]["config"]
    assert cfg["activity_regularizer"]["class_name"] == "Orthogonal"
    assert cfg["activity_regularizer"]["config"] == {"k": 2}
    assert cfg["bias_initializer"]["config"]["value"]["class_name"] == "__numpy__"
    proto = compiler.compile(path).onnx
    (got,) = run_model(proto, {proto.graph.input[0].name: np.ones((2, 3), np.float32)})
    np.testing.assert_allclose(got, np.tile(np.eye(2).flatten(), (2, 1)))  # zero kernel: the bias alone


def test_extract_patches_is_the_patches_in_row_column_channel_order(tmp_path):
    path = write(
        tmp_path,
        """
        inp = keras.Input((6, 8, 2), name="image")
        model = keras.Model(inp, layers.Lambda(lambda x: keras.ops.image.extract_patches(x, 2))(inp))
        """,
    )
    x = np.random.default_rng(0).standard_normal((3, 6, 8, 2)).astype(np.float32)
    proto = compiler.compile(path).onnx
    (got,) = run_model(proto, {"image": x})
    want = x.reshape(3, 3, 2, 4, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(3, 3, 4, 8)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize(("axes", "contract"), [((2, 1), "bij,bjk->bik"), (2, "bij,bkj->bik"), (1, "bji,bjk->bik")])
def test_dot_of_rank3_tensors_is_the_batched_product(axes, contract, tmp_path):
    path = write(
        tmp_path,
        f"""
        a = keras.Input((3, 4), name="a")
        b = keras.Input((4, 4), name="b")
        model = keras.Model([a, b], layers.Dot(axes={axes!r})([a, b]))
        """,
    )
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 4, 4)).astype(np.float32)
    if contract.startswith("bji"):
        x = rng.standard_normal((2, 4, 3)).astype(np.float32)
        path.write_text(path.read_text().replace("keras.Input((3, 4)", "keras.Input((4, 3)"))
    proto = compiler.compile(path).onnx
    (got,) = run_model(proto, {"a": x, "b": y})
    np.testing.assert_allclose(got, np.einsum(contract, x, y), rtol=1e-5, atol=1e-6)


def test_dot_of_vectors_and_its_refusals(tmp_path):
    path = write(
        tmp_path,
        """
        a = keras.Input((5,), name="a")
        b = keras.Input((5,), name="b")
        model = keras.Model([a, b], layers.Dot(axes=1)([a, b]))
        """,
    )
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((3, 5)).astype(np.float32)
    proto = compiler.compile(path).onnx
    (got,) = run_model(proto, {"a": x, "b": y})
    np.testing.assert_allclose(got, np.sum(x * y, axis=1, keepdims=True), rtol=1e-5)
    path.write_text(path.read_text().replace("Dot(axes=1)", "Dot(axes=1, normalize=True)"))
    with pytest.raises(CompileError, match="normalize=True.*UnitNormalization"):
        compiler.compile(path)


def test_position_embedding_of_a_constant_range_inside_a_custom_layer(tmp_path):
    # keras.io's TokenAndPositionEmbedding: a sublayer called on ops.arange(n) inside call()
    path = write(
        tmp_path,
        """
        class TokenAndPosition(layers.Layer):
            def __init__(self, n, vocab, dim, **kwargs):
                super().__init__(**kwargs)
                self.token = layers.Embedding(input_dim=vocab, output_dim=dim)
                self.pos = layers.Embedding(input_dim=n, output_dim=dim)

            def call(self, x):
                positions = ops.expand_dims(ops.arange(start=0, stop=ops.shape(x)[-1], step=1), axis=0)
                return self.token(x) + self.pos(positions)

        inp = keras.Input((5,), dtype="int32", name="tokens")
        model = keras.Model(inp, TokenAndPosition(5, 7, 3, name="embed")(inp))
        """,
    )
    compiled = compiler.compile(path)
    x = np.array([[0] * 5, [1] * 5], np.int32)
    (got,) = run_model(compiled.onnx, {"tokens": x})
    assert got.shape == (2, 5, 3)
    # token + position: two rows of one token each differ by the tokens' difference at every step,
    # and the steps of one row differ by the positions'
    np.testing.assert_allclose(got[1] - got[0], np.broadcast_to(got[1, 0] - got[0, 0], (5, 3)), atol=1e-6)
    assert not np.allclose(got[0, 0], got[0, 1])
    # outside a layer Keras computes the same call at once and takes the constant as the output
    constant = compiler.compile(keras_free_outside_a_layer(tmp_path))
    (rows,) = run_model(constant.onnx, {constant.onnx.graph.input[0].name: x})
    assert rows.shape == (5, 3) and not np.allclose(rows[0], rows[1])


def keras_free_outside_a_layer(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        """
        inp = keras.Input((5,), dtype="int32")
        model = keras.Model(inp, layers.Embedding(5, 3)(ops.arange(0, 5)))
        """,
    )
