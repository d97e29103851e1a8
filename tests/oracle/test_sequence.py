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

from .harness import check, keras_predict, rel_error, run_onnx

SEED = 5


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
model = keras.Model([a, b], [steps, summed, mixed, both])
"""


@pytest.mark.covers("Add", "masks as Keras 3's Merge.compute_mask joins them")
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
