"""Regularization layers against Keras: Dropout and its relatives are the identity at inference and
leave nothing in the compiled graph (``check`` refuses a Dropout op)."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from .harness import check, randomize


def test_dropout_is_identity(tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv")(inp)
    x = layers.Dropout(0.5, name="drop")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dropout(0.3, name="drop2")(x)
    out = layers.Dense(3, name="head")(x)
    model = keras.Model(inp, out)
    randomize(model, 28)
    check(model, tmp_path)


def test_dropout_as_output(tmp_path):
    inp = keras.Input((5,), name="vector")
    out = layers.Dropout(0.5, name="drop")(layers.Dense(3, name="d")(inp))
    model = keras.Model(inp, out)
    check(model, tmp_path)


@pytest.mark.covers(
    "Dropout, SpatialDropout, GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization",
    "removed at inference",
)
def test_inference_time_no_ops(tmp_path):
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.SpatialDropout2D(0.3, name="sdrop")(x)
    x = layers.GaussianNoise(0.5, name="noise")(x)
    x = layers.GaussianDropout(0.2, name="gdrop")(x)
    x = layers.ActivityRegularization(l1=0.01, name="actreg")(x)
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(x))
    model = keras.Model(inp, out)
    randomize(model, 50)
    check(model, tmp_path)


@pytest.mark.covers("SpatialDropout1D, SpatialDropout3D, AlphaDropout", "removed at inference, named in the report")
def test_sequence_and_volume_dropouts(tmp_path):
    seq = keras.Input((6, 4), name="seq")
    s = layers.SpatialDropout1D(0.2, seed=1, name="sdrop1")(layers.Conv1D(3, 2, name="conv1")(seq))
    s = layers.AlphaDropout(0.1, noise_shape=None, seed=2, name="alpha")(s)
    vol = keras.Input((4, 4, 4, 2), name="vol")
    v = layers.SpatialDropout3D(0.3, name="sdrop3")(layers.Conv3D(3, 2, name="conv3")(vol))
    model = randomize(keras.Model([seq, vol], [s, v]), 51)
    result = check(model, tmp_path)
    result.assert_ops(Identity=0)
    report = next(str(r) for r in result["keras"].compiled.report if r.name == "remove_identity")
    for name in ("SpatialDropout1D", "SpatialDropout3D", "AlphaDropout"):
        assert f"{name}: inference no-op" in report, report
