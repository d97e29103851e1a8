"""Keras 2 / tf.keras files, written by tf-keras itself, against its own predictions.

tf-keras is the Keras 2 implementation that TensorFlow 2.16+ ships separately; it writes the
older serialization (``inbound_nodes: [[["layer", 0, 0, {}]]]``, ``batch_input_shape``,
legacy HDF5 with ``model_weights``), so these tests read real Keras 2 output, not a hand-written
imitation.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tf_keras as k2
from tf_keras import layers

import compiler


def _randomize(model: k2.Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, k2.Model):
            _randomize(layer, seed + 1)
            continue
        weights = layer.get_weights()
        if isinstance(layer, layers.BatchNormalization):
            n = weights[0].shape
            layer.set_weights([rng.normal(1, 0.3, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n),
                               rng.uniform(0.5, 2.0, n)][: len(weights)])
        elif weights:
            layer.set_weights([w if w.ndim > 1 else rng.normal(0, 0.3, w.shape) for w in weights])


def _compare(model: k2.Model, sources: list[tuple[str, dict]], batch: int = 3) -> float:
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(batch, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    want = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    worst = 0.0
    for path, kwargs in sources:
        res = compiler.compile(path, **kwargs)
        assert not res.random_weights
        sess = ort.InferenceSession(res.serialize(), providers=["CPUExecutionProvider"])
        assert [i.name for i in sess.get_inputs()] == [t.name.split(":")[0] for t in model.inputs] or len(inputs) == 1
        got = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), inputs)})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            err = float(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-6))
            assert err <= 1e-4, f"{path}: relative error {err:.2e}"
            worst = max(worst, err)
    return worst


def _sources(model: k2.Model, tmp_path: Path) -> list[tuple[str, dict]]:
    full = tmp_path / "model.h5"
    model.save(full)
    (tmp_path / "model.json").write_text(model.to_json())
    model.save_weights(tmp_path / "weights.h5")
    # tf-keras writes ".weights.h5" in the attribute-path layout without layer names.
    model.save_weights(tmp_path / "model.weights.h5")
    return [(str(full), {}), (str(tmp_path / "model.json"), {"weights": str(tmp_path / "weights.h5")}),
            (str(tmp_path / "model.json"), {"weights": str(tmp_path / "model.weights.h5")})]


def test_keras2_functional_residual(tmp_path: Path) -> None:
    inp = k2.Input((15, 15, 3))
    x = layers.ZeroPadding2D(((1, 2), (0, 1)))(inp)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    y = layers.Conv2D(8, 2, padding="same")(x)
    y = layers.BatchNormalization(epsilon=1e-5)(y)
    x = layers.ReLU()(layers.add([x, y]))
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(5, activation="softmax")(layers.Flatten()(x))
    model = k2.Model(inp, out)
    _randomize(model, 1)
    doc = json.loads(model.to_json())
    assert isinstance(doc["config"]["layers"][1]["inbound_nodes"][0], list)  # the Keras 2 format indeed
    _compare(model, _sources(model, tmp_path))


def test_keras2_sequential_with_input_shape(tmp_path: Path) -> None:
    model = k2.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(10, 9, 2)),
        layers.BatchNormalization(),
        layers.AveragePooling2D(2, padding="same"),
        layers.Conv2DTranspose(3, 3, strides=2, padding="same"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(4, activation="hard_sigmoid"),
    ])
    _randomize(model, 2)
    _compare(model, _sources(model, tmp_path))


def test_keras2_multi_input_nested_shared(tmp_path: Path) -> None:
    inner = k2.Sequential([layers.Dense(6, activation="tanh", input_shape=(4,)), layers.Dense(3)], name="inner")
    a = k2.Input((4,), name="a")
    b = k2.Input((4,), name="b")
    shared = layers.Dense(4, name="shared")
    ha, hb = inner(shared(a)), inner(shared(b))
    model = k2.Model([a, b], [layers.concatenate([ha, hb]), layers.subtract([ha, hb])])
    _randomize(model, 3)
    _compare(model, _sources(model, tmp_path))


@pytest.mark.parametrize("activation", ["hard_sigmoid", "relu6", "elu", "selu", "softplus", "swish", "gelu"])
def test_keras2_activations(tmp_path: Path, activation: str) -> None:
    model = k2.Sequential([layers.Dense(8, activation=activation, input_shape=(6,))])
    _randomize(model, 4)
    _compare(model, _sources(model, tmp_path))
