"""Keras 2 / tf.keras files, written by tf-keras itself, against its own predictions.

tf-keras is the Keras 2 implementation that TensorFlow 2.16+ ships separately; it writes the
older serialization (``inbound_nodes: [[["layer", 0, 0, {}]]]``, ``batch_input_shape``,
legacy HDF5 with ``model_weights``), so these tests read real Keras 2 output, not a hand-written
imitation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tf_keras as k2
from tf_keras import layers

from .harness import check_tf_keras, randomize_tf_keras, tf_keras_sources


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
    randomize_tf_keras(model, 1)
    doc = json.loads(model.to_json())
    assert isinstance(doc["config"]["layers"][1]["inbound_nodes"][0], list)  # the Keras 2 format indeed
    check_tf_keras(model, tf_keras_sources(model, tmp_path))


def test_keras2_sequential_with_input_shape(tmp_path: Path) -> None:
    model = k2.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=(10, 9, 2)),
            layers.BatchNormalization(),
            layers.AveragePooling2D(2, padding="same"),
            layers.Conv2DTranspose(3, 3, strides=2, padding="same"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(4, activation="hard_sigmoid"),
        ]
    )
    randomize_tf_keras(model, 2)
    check_tf_keras(model, tf_keras_sources(model, tmp_path))


def test_keras2_multi_input_nested_shared(tmp_path: Path) -> None:
    inner = k2.Sequential([layers.Dense(6, activation="tanh", input_shape=(4,)), layers.Dense(3)], name="inner")
    a = k2.Input((4,), name="a")
    b = k2.Input((4,), name="b")
    shared = layers.Dense(4, name="shared")
    ha, hb = inner(shared(a)), inner(shared(b))
    model = k2.Model([a, b], [layers.concatenate([ha, hb]), layers.subtract([ha, hb])])
    randomize_tf_keras(model, 3)
    check_tf_keras(model, tf_keras_sources(model, tmp_path))


@pytest.mark.parametrize("activation", ["hard_sigmoid", "relu6", "elu", "selu", "softplus", "swish", "gelu"])
def test_keras2_activations(tmp_path: Path, activation: str) -> None:
    model = k2.Sequential([layers.Dense(8, activation=activation, input_shape=(6,))])
    randomize_tf_keras(model, 4)
    check_tf_keras(model, tf_keras_sources(model, tmp_path))
