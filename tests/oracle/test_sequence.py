"""Sequence models against Keras: integer inputs, Embedding, Masking and Keras's masks as they
flow through Dense, merges and pooling, from .keras, JSON + weights, JSON alone (drawn weights)
and Keras code (.py)."""

from __future__ import annotations

import runpy
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest
from keras import layers

import compiler
from frontends.keras_json import graph_from_config, read_model
from frontends.keras_python import model_config

from .harness import at_most, check, keras_predict, randomize, rel_error, run_onnx

SEED = 5
# Keras warns when a layer drops a mask; these tests drop masks on purpose, as Keras does.
pytestmark = pytest.mark.filterwarnings("ignore:Layer .* does not support masking:UserWarning")


def ids(batch: int, steps: int, vocab: int, seed: int = 0, dtype: str = "int32") -> np.ndarray:
    """Token ids with padding: trailing zeros, and zeros inside a sequence (a mask that is no prefix)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, (batch, steps))
    for row in range(batch):
        x[row, steps - 1 - row % max(steps - 1, 1) :] = 0  # each row a different padded length
    x[0, 1] = 0
    return x.astype(dtype)


def _drawn(doc: dict, file: str) -> dict[tuple[str, ...], list[np.ndarray]]:
    """The weights kerascc draws for a description without weights, per layer scope."""
    _graph, source = graph_from_config(doc, None, SEED, file)
    return {scope: list(arrays.values()) for scope, arrays in source.cache.items()}


def _set_drawn(model: keras.Model, drawn: dict[tuple[str, ...], list[np.ndarray]]) -> None:
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(drawn[(layer.name,)])


def check_drawn(model: keras.Model, source: Path, inputs: list[np.ndarray], rtol: float = 1e-4) -> float:
    """Compile ``source`` (model JSON or Keras code) without weights and compare with ``model``
    given the very weights kerascc drew."""
    res = compiler.compile(source, seed=SEED)
    assert res.random_weights is True
    doc = model_config(source)[0] if source.suffix == ".py" else read_model(source, None)[0]
    _set_drawn(model, _drawn(doc, str(source)))
    expected = keras_predict(model, inputs)
    names = [t._keras_history.operation.name for t in model.inputs]
    _, got = run_onnx(res.onnx, dict(zip(names, inputs, strict=True)))
    errors = [rel_error(g, w) for g, w in zip(got, expected, strict=True)]
    assert max(errors) <= rtol, errors
    return max(errors)


def check_every_form(model: keras.Model, tmp_path: Path, inputs: list[np.ndarray], code: str | None = None):
    """.keras and JSON + weights (``check``), then JSON alone and, given ``code`` (a Keras file
    defining ``model``), that file."""
    result = check(model, tmp_path, inputs=inputs)
    json_path = tmp_path / "alone.json"
    json_path.write_text(model.to_json())
    check_drawn(model, json_path, inputs)
    if code is not None:
        py = tmp_path / "model.py"
        py.write_text(code)
        check_drawn(runpy.run_path(str(py))["model"], py, inputs)
    return result


def input_types(proto: onnx.ModelProto) -> dict[str, int]:
    return {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}


# --------------------------------------------------------------------------
# integer inputs and Embedding

EMBED_CODE = """
import keras
from keras import layers

inp = keras.Input((6,), dtype="{dtype}", name="ids")
x = layers.Embedding(13, 5, name="embed")(inp)
x = layers.Flatten(name="flat")(x)
out = layers.Dense(4, activation="softmax", name="head")(x)
model = keras.Model(inp, out)
"""


@pytest.mark.covers("Embedding", "input_dim, output_dim, int32/int64 ids kept as the ONNX input's type")
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_embedding_integer_ids(dtype, tmp_path):
    model = runpy.run_path(str(_write(tmp_path / "src.py", EMBED_CODE.format(dtype=dtype))))["model"]
    x = ids(3, 6, 13, dtype=dtype)
    x[1, 2] = 12  # the last row of the table
    result = check_every_form(model, tmp_path, [x], code=EMBED_CODE.format(dtype=dtype))
    want = onnx.TensorProto.INT32 if dtype == "int32" else onnx.TensorProto.INT64
    assert input_types(result["keras"].proto) == {"ids": want}
    result.assert_ops(Gather=1, Cast=0)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


MASKED_CODE = """
import keras
from keras import layers

inp = keras.Input((7,), dtype="int32", name="ids")
x = layers.Embedding(20, 6, mask_zero=True, name="embed")(inp)
x = layers.Dense(5, activation="tanh", name="dense")(x)
x = layers.Dropout(0.3, name="drop")(x)
x = layers.Activation("relu", name="act")(x)
out = layers.GlobalAveragePooling1D(name="pool")(x)
model = keras.Model(inp, out)
"""


@pytest.mark.covers("Embedding", "mask_zero (the mask passes Dense, Dropout, Activation)")
@pytest.mark.covers("GlobalAveragePooling1D", "with a mask: the mean of the unmasked steps")
def test_mask_zero_through_dense_to_average(tmp_path):
    model = runpy.run_path(str(_write(tmp_path / "src.py", MASKED_CODE)))["model"]
    result = check_every_form(model, tmp_path, [ids(4, 7, 20)], code=MASKED_CODE)
    result.assert_ops(Gather=1, Where=1, Div=1, ReduceMean=0)
    assert result.transposes_inside == 0


@pytest.mark.covers("Masking", "mask_value; masked steps zeroed and skipped by the pooling")
@pytest.mark.parametrize("mask_value", [0.0, -1.5])
def test_masking(mask_value, tmp_path):
    inp = keras.Input((6, 3), name="series")
    x = layers.Masking(mask_value, name="mask")(inp)
    x = layers.Dense(4, name="dense")(x)
    out = layers.GlobalAveragePooling1D(name="pool")(x)
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).standard_normal((3, 6, 3)).astype(np.float32)
    x[0, 4:] = mask_value
    x[1, 1] = mask_value
    x[2, 0, 0] = mask_value  # one feature only: not masked
    check_every_form(model, tmp_path, [x])


MERGES_CODE = """
import keras
from keras import layers

a = keras.Input((6,), dtype="int32", name="a")
b = keras.Input((6,), dtype="int32", name="b")
ea = layers.Embedding(10, 4, mask_zero=True, name="ea")(a)
eb = layers.Embedding(10, 4, mask_zero=True, name="eb")(b)
plain = layers.Dense(4, name="plain")(layers.Embedding(10, 4, name="ec")(b))
pool = layers.GlobalAveragePooling1D
steps = pool(name="steps")(layers.Concatenate(axis=1, name="join_t")([ea, plain]))
summed = pool(name="summed")(layers.Add(name="add")([ea, eb]))
mixed = pool(name="mixed")(layers.Multiply(name="mul")([ea, plain]))
both = pool(name="both")(layers.Concatenate(name="join_c")([ea, layers.Dense(4, name="d")(eb)]))
product = pool(name="product")(layers.Multiply(name="mul2")([ea, eb]))
highest = pool(name="highest")(layers.Maximum(name="max")([ea, eb]))
lowest = pool(name="lowest")(layers.Minimum(name="min")([plain, ea]))
model = keras.Model([a, b], [steps, summed, mixed, both, product, highest, lowest])
"""


@pytest.mark.covers(
    "Add, Multiply, Maximum, Minimum", "masks as Keras 3 joins them (Multiply, Maximum, Minimum skip masked steps)"
)
@pytest.mark.covers("Concatenate", "masks along the time and the feature axis")
def test_merged_masks(tmp_path):
    model = runpy.run_path(str(_write(tmp_path / "src.py", MERGES_CODE)))["model"]
    a, b = ids(3, 6, 10, seed=1), ids(3, 6, 10, seed=2)[::-1].copy()
    check_every_form(model, tmp_path, [a, b], code=MERGES_CODE)


@pytest.mark.covers("InputLayer", "uint8 images, kept as the ONNX input's type, then Rescaling")
def test_uint8_image_input(tmp_path):
    inp = keras.Input((8, 8, 3), dtype="uint8", name="pixels")
    x = layers.Rescaling(1 / 255.0, name="scale")(inp)
    out = layers.Conv2D(4, 3, name="conv")(x)
    model = keras.Model(inp, out)
    x = np.random.default_rng(3).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    result = check(model, tmp_path, inputs=[x])
    assert input_types(result["keras"].proto) == {"pixels": onnx.TensorProto.UINT8}


@pytest.mark.covers("GlobalMaxPooling1D", "ignores a mask, as Keras does")
def test_global_max_pooling_ignores_the_mask(tmp_path):
    inp = keras.Input((7,), dtype="int32", name="ids")
    x = layers.Embedding(20, 6, mask_zero=True, name="embed")(inp)
    out = layers.GlobalMaxPooling1D(name="pool")(x)
    model = keras.Model(inp, out)
    result = check_every_form(model, tmp_path, [ids(3, 7, 20)])
    result.assert_ops(Where=0, ReduceMax=1, Transpose=0)  # Gather's (batch, steps, features) as it is


# --------------------------------------------------------------------------
# tf.keras (Keras 2) masks


def test_tf_keras_masks(tmp_path):
    """tf.keras joins masks with AND (Merge.compute_mask) and multiplies plainly; its GlobalAveragePooling1D
    divides the masked sum by the count, as Keras 3 does."""
    import tf_keras  # heavy and only needed here

    from .harness import check_tf_keras, randomize_tf_keras, tf_keras_sources

    L = tf_keras.layers
    a = tf_keras.Input((6,), dtype="int32", name="a")
    b = tf_keras.Input((6,), dtype="int32", name="b")
    ea = L.Embedding(10, 4, mask_zero=True, name="ea")(a)
    eb = L.Embedding(10, 4, mask_zero=True, name="eb")(b)
    plain = L.Dense(4, name="plain")(L.Embedding(10, 4, name="ec")(b))
    outs = [
        L.GlobalAveragePooling1D(name="summed")(L.Add(name="add")([ea, eb])),
        L.GlobalAveragePooling1D(name="mixed")(L.Multiply(name="mul")([ea, plain])),
        L.GlobalAveragePooling1D(name="joined")(L.Concatenate(name="join")([ea, eb])),
        L.GlobalAveragePooling1D(name="masked")(L.Masking(0.0, name="masking")(L.Dense(4, name="d")(ea))),
    ]
    model = tf_keras.Model([a, b], outs)
    randomize_tf_keras(model, 3)
    inputs = [ids(3, 6, 10, seed=1), ids(3, 6, 10, seed=2)[::-1].copy()]
    check_tf_keras(model, tf_keras_sources(model, tmp_path), inputs=inputs)


# --------------------------------------------------------------------------
# sequence shape layers, TimeDistributed, Conv1DTranspose


@pytest.mark.covers("RepeatVector", "n; a vector repeated as steps (no transposes)")
def test_repeat_vector(tmp_path):
    inp = keras.Input((5,), name="code")
    x = layers.Dense(3, name="dense")(inp)
    x = layers.RepeatVector(4, name="repeat")(x)
    x = layers.Conv1D(2, 3, padding="same", name="conv")(x)
    out = layers.Dense(2, name="head")(x)
    model = keras.Model(inp, out)
    result = check_every_form(model, tmp_path, [np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)])
    result.assert_ops(Tile=1)
    assert result.transposes_inside == 0


@pytest.mark.covers("Permute, Reshape", "on sequences; they drop the mask, as Keras's do")
def test_permute_reshape_drop_the_mask(tmp_path):
    inp = keras.Input((6,), dtype="int32", name="ids")
    x = layers.Embedding(12, 4, mask_zero=True, name="embed")(inp)
    swapped = layers.Permute((2, 1), name="swap")(x)  # (4, 6): 4 steps of 6 features
    flat = layers.Reshape((3, 8), name="regroup")(x)
    out_a = layers.GlobalAveragePooling1D(name="pool_a")(swapped)
    out_b = layers.GlobalAveragePooling1D(name="pool_b")(flat)
    model = keras.Model(inp, [out_a, out_b])
    check_every_form(model, tmp_path, [ids(3, 6, 12)])


TD_CODE = """
import keras
from keras import layers

inp = keras.Input((5, 8, 8, 2), name="frames")
x = layers.TimeDistributed(layers.Conv2D(4, 3, activation="relu"), name="conv")(inp)
x = layers.TimeDistributed(layers.MaxPooling2D(2), name="pool")(x)
x = layers.TimeDistributed(layers.Conv2D(3, 1), name="mix")(x)
x = layers.TimeDistributed(layers.Flatten(), name="flat")(x)
out = layers.TimeDistributed(layers.Dense(4, activation="softmax"), name="head")(x)
model = keras.Model(inp, out)
"""


@pytest.mark.covers("TimeDistributed", "Conv2D, MaxPooling2D, Flatten, Dense inside (one op per step-less op)")
def test_time_distributed_vision(tmp_path):
    model = runpy.run_path(str(_write(tmp_path / "src.py", TD_CODE)))["model"]
    x = np.random.default_rng(4).standard_normal((2, 5, 8, 8, 2)).astype(np.float32)
    result = check_every_form(model, tmp_path, [x], code=TD_CODE)
    result.assert_ops(Conv=2, MaxPool=1, Gemm=at_most(1), Transpose=at_most(2))


TD_MASK_CODE = """
import keras
from keras import layers

inp = keras.Input((7,), dtype="int32", name="ids")
x = layers.Embedding(15, 4, mask_zero=True, name="embed")(inp)
x = layers.TimeDistributed(layers.Dense(6, activation="relu"), name="td")(x)
out = layers.GlobalAveragePooling1D(name="pool")(x)
model = keras.Model(inp, out)
"""


@pytest.mark.covers("TimeDistributed", "Dense inside; the mask passes through")
def test_time_distributed_passes_the_mask(tmp_path):
    model = runpy.run_path(str(_write(tmp_path / "src.py", TD_MASK_CODE)))["model"]
    result = check_every_form(model, tmp_path, [ids(3, 7, 15)], code=TD_MASK_CODE)
    result.assert_ops(Where=1)


@pytest.mark.covers("Conv1DTranspose", "kernel_size, strides, padding, output_padding")
@pytest.mark.parametrize(
    "options",
    [
        {"kernel_size": 3, "strides": 2, "padding": "same"},
        {"kernel_size": 4, "strides": 3, "padding": "valid"},
        {"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
    ],
)
def test_conv1d_transpose(options, tmp_path):
    inp = keras.Input((9, 3), name="series")
    x = layers.Conv1DTranspose(4, name="up", **options)(inp)
    out = layers.Conv1D(2, 3, name="conv")(x)
    model = keras.Model(inp, out)
    x = np.random.default_rng(6).standard_normal((2, 9, 3)).astype(np.float32)
    result = check_every_form(model, tmp_path, [x])
    result.assert_ops(ConvTranspose=1)
    assert result.transposes_inside == 0


# --------------------------------------------------------------------------
# passes on sequence graphs


@pytest.mark.covers("BatchNormalization", "after Dense on sequences: folded into the Dense weights")
def test_passes_on_sequences(tmp_path):
    inp = keras.Input((8,), dtype="int32", name="ids")
    x = layers.Embedding(30, 6, name="embed")(inp)
    x = layers.Conv1D(5, 3, padding="same", name="conv")(x)
    x = layers.Dense(7, name="dense")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Dropout(0.2, name="drop")(x)
    x = layers.Conv1D(4, 3, name="conv2")(x)
    out = layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 7)
    result = check_every_form(model, tmp_path, [ids(3, 8, 30)])
    result.assert_ops(BatchNormalization=0, Mul=0, Add=0, Gather=1, Transpose=2)
    # Gather's (batch, steps, features) to the first Conv1D's channels-first, once; none after it
    assert result.transposes_inside == 1


# --------------------------------------------------------------------------
# masks across model structure, and ids at the edges of the table


@pytest.mark.covers("Embedding", "negative ids count from the end of the table, as Keras's take does")
def test_negative_ids(tmp_path):
    inp = keras.Input((4,), dtype="int32", name="ids")
    out = layers.Flatten(name="flat")(layers.Embedding(9, 3, name="embed")(inp))
    model = keras.Model(inp, out)
    check(model, tmp_path, inputs=[np.array([[-1, -9, 0, 8], [3, -4, 2, -2]], np.int32)])


@pytest.mark.covers("GlobalAveragePooling1D", "with a mask and keepdims")
@pytest.mark.covers("Sequential", "masks from Embedding(mask_zero) through Dense")
def test_sequential_masked_keepdims(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((6,), dtype="int64", name="ids"),
            layers.Embedding(11, 4, mask_zero=True, name="embed"),
            layers.Dense(3, name="dense"),
            layers.GlobalAveragePooling1D(keepdims=True, name="pool"),
        ]
    )
    check_every_form(model, tmp_path, [ids(3, 6, 11, dtype="int64")])


def test_mask_crosses_nested_models(tmp_path):
    """A nested model's output keeps its mask (Keras's Functional passes masks in and out)."""
    inner_in = keras.Input((7,), dtype="int32", name="inner_ids")
    inner_out = layers.Dense(5, name="inner_dense")(layers.Embedding(13, 4, mask_zero=True, name="embed")(inner_in))
    encoder = keras.Model(inner_in, inner_out, name="encoder")
    outer_in = keras.Input((7,), dtype="int32", name="ids")
    out = layers.GlobalAveragePooling1D(name="pool")(encoder(outer_in))
    model = keras.Model(outer_in, out)
    result = check(model, tmp_path, inputs=[ids(3, 7, 13)])
    result.assert_ops(Where=1)


def test_tf_keras_time_distributed_weights(tmp_path):
    """tf.keras files keep a TimeDistributed layer's weights under the wrapper: .h5, JSON + HDF5
    weights and JSON + .weights.h5."""
    import tf_keras  # heavy and only needed here

    from .harness import check_tf_keras, randomize_tf_keras, tf_keras_sources

    L = tf_keras.layers
    inp = tf_keras.Input((6,), dtype="int32", name="ids")
    x = L.Embedding(12, 4, mask_zero=True, name="embed")(inp)
    x = L.TimeDistributed(L.Dense(5, activation="tanh"), name="td")(x)
    model = tf_keras.Model(inp, L.GlobalAveragePooling1D(name="pool")(x))
    randomize_tf_keras(model, 4)
    check_tf_keras(model, tf_keras_sources(model, tmp_path), inputs=[ids(3, 6, 12)])


@pytest.mark.covers("TimeDistributed", "Embedding inside: integer ids per step")
def test_time_distributed_embedding(tmp_path):
    inp = keras.Input((3, 5), dtype="int32", name="sentences")
    x = layers.TimeDistributed(layers.Embedding(16, 4), name="words")(inp)
    x = layers.TimeDistributed(layers.Flatten(), name="flat")(x)
    out = layers.GlobalAveragePooling1D(name="pool")(x)
    model = keras.Model(inp, out)
    ids3 = np.random.default_rng(8).integers(0, 16, (2, 3, 5)).astype(np.int32)
    result = check_every_form(model, tmp_path, [ids3])
    result.assert_ops(Gather=1, Cast=0)
