"""Seed models for the fuzz tests: small real Keras models in every serialization we read.

Hypothesis mutates these (values, keys, structure, bytes); the tests then require that whatever
arrives, only a :class:`compiler.CompileError` leaves the compiler.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest


def _keras3_models() -> dict[str, object]:
    import keras
    from keras import layers

    inp = keras.Input((12, 12, 3), name="image")
    x = layers.ZeroPadding2D(1)(inp)
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(x)
    x = layers.BatchNormalization(name="bn")(x)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = layers.add([x, y], name="join")
    x = layers.Activation("relu")(x)
    a = layers.MaxPooling2D(2, name="pool")(x)
    b = layers.AveragePooling2D(2, name="avg")(x)
    x = layers.concatenate([a, b], axis=-1, name="cat")
    x = layers.UpSampling2D(2)(x)
    x = layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(5, activation="softmax", name="head")(x)
    functional = keras.Model(inp, out, name="fuzz_functional")

    sequential = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            layers.Conv2D(3, 2, padding="valid", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(max_value=6.0),
            layers.SeparableConv2D(4, 3, padding="same"),
            layers.GlobalAveragePooling2D(),
            layers.Reshape((2, 2)),
            layers.Permute((2, 1)),
            layers.Flatten(),
            layers.Dense(3),
        ],
        name="fuzz_sequential",
    )

    inner = keras.Sequential([keras.Input((6,)), layers.Dense(4, activation="tanh")], name="inner")
    v = keras.Input((6,), name="vec")
    nested = keras.Model(v, layers.Dense(2)(inner(v) * 2.0 + inner(v)), name="fuzz_nested")
    return {"functional": functional, "sequential": sequential, "nested": nested}


@pytest.fixture(scope="session")
def seed_models(tmp_path_factory) -> dict[str, object]:
    return _keras3_models()


@pytest.fixture(scope="session")
def seed_docs(seed_models, tmp_path_factory) -> dict[str, dict]:
    """Model JSON documents: Keras 3 from the models above, Keras 2 from tf-keras."""
    docs = {name: json.loads(model.to_json()) for name, model in seed_models.items()}
    import tf_keras

    k2 = tf_keras.Sequential(
        [
            tf_keras.layers.InputLayer(input_shape=(8, 8, 3)),
            tf_keras.layers.Conv2D(2, 3, padding="same", activation="relu"),
            tf_keras.layers.MaxPooling2D(),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(3),
        ]
    )
    docs["keras2"] = json.loads(k2.to_json())
    return docs


@pytest.fixture(scope="session")
def seed_archive(seed_models, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "seed.keras"
    seed_models["sequential"].save(path)
    return path.read_bytes()


@pytest.fixture(scope="session")
def seed_h5(seed_models, tmp_path_factory) -> dict[str, bytes]:
    """A legacy HDF5 model file, and a model JSON with its Keras 3 weights file."""
    folder = tmp_path_factory.mktemp("fuzz_h5")
    model = seed_models["sequential"]
    model.save(folder / "model.h5")
    model.save_weights(folder / "model.weights.h5")
    return {
        "model.h5": (folder / "model.h5").read_bytes(),
        "model.json": model.to_json().encode(),
        "model.weights.h5": (folder / "model.weights.h5").read_bytes(),
    }
