"""Nested models and shared layers against real Keras: where the weights of a shared object are,
and the shapes a nested model's call gives.

Keras saves each layer object once, at the first attribute path its saving walk meets it
(``keras.src.saving.saving_lib``); a model nested in two parents, a Sequential called twice or a
layer shared by an outer and an inner model has no weights at its later paths. Each model is
saved by Keras 3 (``.keras``, JSON + ``.weights.h5``, legacy ``.h5``) and by tf-keras (legacy
``.h5``, JSON + HDF5 weights, JSON + ``.weights.h5``) and must give ``model.predict``'s outputs.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tf_keras

import compiler
from frontends.keras_python import model_config

from .harness import (
    EVERY_FORM,
    check,
    check_tf_keras,
    keras_predict,
    make_inputs,
    randomize,
    randomize_tf_keras,
    rel_error,
    run_onnx,
    tf_keras_sources,
)


def shared_layer_inside_first(k: Any) -> Any:
    """The outer model calls a layer after the nested model that holds it: saved inside."""
    shared = k.layers.Dense(4, activation="tanh", name="shared_d")
    inner_in = k.Input((4,))
    inner = k.Model(inner_in, k.layers.Dense(4, name="inner_d")(shared(inner_in)), name="inner")
    inp = k.Input((4,), name="x")
    return k.Model(inp, shared(inner(inp)), name="outer")


def shared_layer_outside_first(k: Any) -> Any:
    """The outer model calls the layer before the nested model: saved at the outer path."""
    shared = k.layers.Dense(4, activation="tanh", name="shared_d")
    inner_in = k.Input((4,))
    inner = k.Model(inner_in, k.layers.Dense(3, name="inner_d")(shared(inner_in)), name="inner")
    inp = k.Input((4,), name="x")
    return k.Model(inp, inner(shared(inp)), name="outer")


def model_in_two_parents(k: Any) -> Any:
    """One Sequential inside two Functional models, both inside the top model."""
    enc = k.Sequential([k.Input((4,)), k.layers.Dense(5, activation="relu", name="enc_d")], name="enc")
    a_in, b_in = k.Input((4,)), k.Input((4,))
    a = k.Model(a_in, k.layers.Dense(3, name="a_head")(enc(a_in)), name="a")
    b = k.Model(b_in, k.layers.Dense(2, name="b_head")(enc(b_in)), name="b")
    inp = k.Input((4,), name="x")
    return k.Model(inp, [a(inp), b(inp)], name="top")


def layer_in_two_branches(k: Any) -> Any:
    """One layer object in two Sequential branches (its path in the second is numbered on)."""
    shared = k.layers.Dense(4, activation="relu", name="sh")
    b1 = k.Sequential([k.Input((4,)), shared, k.layers.Dense(3, name="b1_d")], name="b1")
    b2 = k.Sequential([k.Input((4,)), shared, k.layers.Dense(3, name="b2_d")], name="b2")
    inp = k.Input((4,), name="x")
    return k.Model(inp, k.layers.Add(name="add")([b1(inp), b2(inp)]), name="top")


def sequential_called_twice(k: Any) -> Any:
    """The same nested Sequential on two inputs, once more on its own output, and in a parent."""
    tower = k.Sequential(
        [k.Input((4,)), k.layers.Dense(4, activation="tanh", name="t1"), k.layers.Dense(4, name="t2")], name="tower"
    )
    wrap_in = k.Input((4,))
    wrap = k.Model(wrap_in, k.layers.Dense(2, name="w_d")(tower(wrap_in)), name="wrap")
    left, right = k.Input((4,), name="left"), k.Input((4,), name="right")
    both = k.layers.Concatenate(name="both")([tower(left), tower(tower(right)), wrap(left)])
    return k.Model([left, right], both, name="top")


CASES = [
    shared_layer_inside_first,
    shared_layer_outside_first,
    model_in_two_parents,
    layer_in_two_branches,
    sequential_called_twice,
]


@pytest.mark.parametrize("build", CASES, ids=lambda f: f.__name__)
def test_keras3_shared_objects_in_every_format(build: Any, tmp_path: Path) -> None:
    model = randomize(build(keras), 21)
    check(model, tmp_path, forms=EVERY_FORM)


@pytest.mark.parametrize("build", CASES, ids=lambda f: f.__name__)
def test_tf_keras_shared_objects_in_every_format(build: Any, tmp_path: Path) -> None:
    model = build(tf_keras)
    randomize_tf_keras(model, 22)
    sources = tf_keras_sources(model, tmp_path)
    if build in (shared_layer_outside_first, sequential_called_twice):
        # tf-keras's legacy .h5 config gives an outer call of a layer shared with a nested model
        # the nested model's Input (a layer outside the outer model); tf-keras cannot load that
        # file either, so only the JSON sources (to_json writes them correctly) are compared.
        with pytest.raises(KeyError):
            tf_keras.models.load_model(sources[0][0])
        sources = sources[1:]
    check_tf_keras(model, sources)


def test_shared_layer_gets_one_set_of_random_weights(tmp_path: Path) -> None:
    # Without a weights file the shared layer is still one layer: both branches draw the same
    # arrays, so Keras given those arrays computes what the compiled model computes.
    model = layer_in_two_branches(keras)
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    res = compiler.compile(path)
    assert res.random_weights
    inits = {i.name: onnx_array(i) for i in res.onnx.graph.initializer}
    kernels = [a for a in inits.values() if a.shape == (4, 4)]
    assert len(kernels) == 1, f"the shared 4x4 kernel is drawn {len(kernels)} times"


def onnx_array(tensor: Any) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor)


# -- the Python frontend: shapes of nested calls ---------------------------------------------------
NESTED_SHAPES = """
import keras
from keras import layers

inner_in = keras.Input((None, None, 3))
h = layers.Conv2D(4, 3, strides=2, padding="same", name="c1")(inner_in)
h = h * 2.0
h = layers.MaxPooling2D(2, name="p1")(h)
backbone = keras.Model(inner_in, h, name="backbone")
head_in = keras.Input((None, None, 4))
head = keras.Model(head_in, layers.Conv2D(5, 3, name="c2")(head_in), name="head")
stack = keras.Sequential([keras.Input((None, None, 3)), backbone, head], name="stack")

inp = keras.Input((32, 24, 3), name="image")
x = stack(inp)
y = backbone(inp)
shapes = [tuple(x.shape), tuple(y.shape)]
x = layers.Flatten(name="flat")(x)
x = layers.Dense(6, activation="relu", name="dense")(x)
shared = layers.Dense(3, name="shared")
z = layers.GlobalAveragePooling2D(name="gap")(y)
z = layers.Dense(6, name="proj")(z)
branch = keras.Sequential([keras.Input((6,)), shared], name="branch")
out = layers.Add(name="sum")([branch(x), shared(z)])
model = keras.Model(inp, out, name="outer")
"""


def _tensor_shapes(doc: Any) -> list[Any]:
    """Every tensor reference's recorded shape, in config order (what ``x.shape`` was)."""
    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                found.append((value["config"]["keras_history"], value["config"]["shape"]))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(doc)
    return found


def test_python_nested_call_shapes_and_weights_match_keras(tmp_path: Path) -> None:
    path = tmp_path / "nested_shapes.py"
    path.write_text(NESTED_SHAPES)
    keras.backend.clear_session()
    namespace = runpy.run_path(str(path), run_name="__kerascc_model__")
    model = namespace["model"]
    assert namespace["shapes"] == [(None, 6, 4, 5), (None, 8, 6, 4)]  # Keras's own, as a sanity check
    ours, _ = model_config(path)
    want = json.loads(model.to_json())
    assert _tensor_shapes(ours["config"]) == _tensor_shapes(want["config"])

    randomize(model, 23)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    arrays = make_inputs(model, batch=2)
    expected = keras_predict(model, arrays)
    res = compiler.compile(path, weights=weights)
    assert not res.random_weights
    out = tmp_path / "model.onnx"
    compiler.save(res, out)
    _, got = run_onnx(out, {"image": arrays[0]})
    assert got[0].shape == expected[0].shape
    assert rel_error(got[0], expected[0]) <= 1e-4
