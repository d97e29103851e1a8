"""Full keras.applications networks with randomised batch-norm statistics."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers


def _report(results):
    print({fmt: [f"{e:.2e}" for e in errs] for fmt, errs in results.items()})


@pytest.mark.slow
def test_resnet50_224_with_top(check, randomize, oracle, tmp_path):
    model = keras.applications.ResNet50(weights=None)
    assert tuple(model.inputs[0].shape[1:]) == (224, 224, 3)
    assert tuple(model.outputs[0].shape[1:]) == (1000,)
    randomize(model, 50)
    n_bn = sum(isinstance(layer, layers.BatchNormalization) for layer in model.layers)
    assert n_bn == 53

    # Two quite different images in a preprocessed-image range: noise, and a
    # smooth pattern.
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, (2, 224, 224, 3)).astype("float32")
    yy, xx = np.mgrid[0:224, 0:224] / 224.0
    x[1] = 2.0 * np.stack([np.sin(6 * yy), np.cos(9 * xx), yy - xx], axis=-1)

    # A saturated softmax would hide errors in the logits: rescale the
    # classifier so the logits have a moderate spread (std about 1.5).
    head = model.get_layer("predictions")
    features = oracle.keras_predict(keras.Model(model.input, head.input), [x])[0]
    kernel, bias = head.get_weights()
    spread = float((features @ kernel).std())
    head.set_weights([kernel * (1.5 / spread), bias * 0.2])
    probs = oracle.keras_predict(model, [x])[0]
    assert probs.max() < 0.5, f"softmax saturated (max prob {probs.max():.3f})"
    assert np.abs(probs[0] - probs[1]).max() > 1e-4

    _report(check(model, tmp_path, inputs=[x]))


@pytest.mark.slow
def test_resnet50_features_without_top(check, randomize, tmp_path):
    """The pooled 2048-d features: no softmax to hide differences."""
    model = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=(96, 96, 3)
    )
    randomize(model, 51)
    _report(check(model, tmp_path, formats=("json+weights",)))


@pytest.mark.slow
def test_vgg16_with_small_head(check, randomize, tmp_path):
    base = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(224, 224, 3)
    )
    x = layers.Flatten(name="flatten")(base.output)  # 7 x 7 x 512, NHWC order
    x = layers.Dense(32, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.5, name="drop")(x)
    out = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(base.input, out, name="vgg16_small_head")
    randomize(model, 16)
    _report(check(model, tmp_path))
