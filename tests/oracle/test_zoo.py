"""The keras.applications zoo the README promises, each network compiled from all three sources
and compared with ``model.predict`` at batch 1 and 3.

Every model is built once per module (a module-scoped fixture), saved once as a ``.keras``
archive, and that one archive serves all three sources: the archive itself, its
``config.json`` plus ``model.weights.h5`` (exactly what ``to_json()`` and ``save_weights()``
write), and the ``config.json`` alone.

A model description alone carries no weights, so kerascc draws them from each layer's own
initializer with a seed; Keras's own random draw cannot be reproduced. The JSON-only test
therefore checks the numbers the other way round: it reads the weights kerascc drew, puts them
into the Keras model with ``set_weights`` and compares the two again. That proves the drawn
weights have Keras's shapes and order (``count_params`` equal) and that the graph computes what
Keras computes with them.

Inputs are small (the smallest size each application accepts, with ``include_top=False`` and
average pooling) so the zoo stays cheap in CI; ResNet50 with its 1000-class head at 224 is in
``test_applications.py``. RegNet exists only in tf.keras (Keras 2), so RegNetX002 is built, saved
and run by tf-keras; its residual additions are ``TFOpLambda`` layers.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tf_keras

import compiler
from frontends.keras_json import graph_from_config, read_model

from .harness import (
    assert_application_graph,
    assert_informative,
    keras_predict,
    op_counts,
    randomize,
    randomize_application,
    randomize_tf_keras,
    redraw_kernels,
    rel_error,
    run_onnx,
    two_images,
    verify,
)

pytestmark = pytest.mark.slow

A = keras.applications
SEED = 3  # kerascc's seed for the JSON-only source


@dataclass(frozen=True)
class App:
    build: Any
    size: int  # the smallest input size the application accepts (or close to it)
    pixels: bool  # the model rescales raw [0, 255] pixels itself
    gain: float  # variance gain of the redrawn kernels (see harness.redraw_kernels)
    keras2: bool = False  # built, saved and run by tf-keras


ZOO: dict[str, App] = {
    "ResNet50": App(A.ResNet50, 32, False, 1.0),
    "ResNet101": App(A.ResNet101, 32, False, 1.0),
    "ResNet152": App(A.ResNet152, 32, False, 1.0),
    "ResNet50V2": App(A.ResNet50V2, 32, False, 1.0),
    "VGG16": App(A.VGG16, 32, False, 2.0),
    "VGG19": App(A.VGG19, 32, False, 2.0),
    "MobileNet": App(A.MobileNet, 32, False, 2.0),
    "MobileNetV2": App(A.MobileNetV2, 32, False, 2.0),
    "MobileNetV3Small": App(A.MobileNetV3Small, 32, True, 2.0),
    "MobileNetV3Large": App(A.MobileNetV3Large, 32, True, 2.0),
    "DenseNet121": App(A.DenseNet121, 32, False, 2.0),
    "EfficientNetB0": App(A.EfficientNetB0, 32, True, 2.0),
    "EfficientNetV2B0": App(A.EfficientNetV2B0, 32, True, 2.0),
    "Xception": App(A.Xception, 71, False, 1.0),
    "InceptionV3": App(A.InceptionV3, 75, False, 2.0),
    "InceptionResNetV2": App(A.InceptionResNetV2, 75, False, 1.0),
    "NASNetMobile": App(A.NASNetMobile, 32, False, 1.0),
    "ConvNeXtTiny": App(A.ConvNeXtTiny, 32, True, 1.0),
    "RegNetX002": App(tf_keras.applications.RegNetX002, 32, True, 2.0, keras2=True),
}


@dataclass
class Built:
    name: str
    model: keras.Model
    archive: Path
    config: Path
    weights: Path
    inputs: dict[int, np.ndarray]  # batch size -> images
    expected: dict[int, np.ndarray]  # batch size -> model.predict


def _three_images(size: int, pixels: bool) -> np.ndarray:
    """The two contrasting images of the graph tests plus a third of smooth noise."""
    two = two_images(size, pixels)
    rng = np.random.default_rng(size + 1)
    third = rng.uniform(-1.0, 1.0, (1, size, size, 3))
    if pixels:
        third = (third + 1.0) * 127.5
    return np.concatenate([two, third.astype("float32")])


def _redraw_keras2_kernels(model, seed: int, gain: float) -> None:
    """harness.redraw_kernels for tf-keras models (other layer classes): N(0, gain / fan_in) kernels."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if type(layer).__name__ == "Conv2D":
            kh, kw, cin, _ = weights[0].shape
            weights[0] = rng.normal(0.0, np.sqrt(gain / (kh * kw * cin)), weights[0].shape)
            layer.set_weights(weights)


def _split_archive(archive: Path, directory: Path) -> tuple[Path, Path]:
    """The archive's model config and weights as the standalone files Keras also writes."""
    config, weights = directory / "model.json", directory / "model.weights.h5"
    with zipfile.ZipFile(archive) as z:
        config.write_bytes(z.read("config.json"))
        weights.write_bytes(z.read("model.weights.h5"))
    return config, weights


@pytest.fixture(scope="module", params=list(ZOO))
def app(request, tmp_path_factory) -> Built:
    name = request.param
    spec = ZOO[name]
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    model = spec.build(weights=None, include_top=False, pooling="avg", input_shape=(spec.size, spec.size, 3))
    if spec.keras2:
        randomize_tf_keras(model, 11)
        _redraw_keras2_kernels(model, 11, spec.gain)
    else:
        model = redraw_kernels(randomize_application(randomize(model, 11), 11), 11, spec.gain)
    model.run_eagerly = True  # a few small batches: tracing a tf.function would cost more than it saves
    directory = tmp_path_factory.mktemp(name)
    archive = directory / "model.keras"
    model.save(archive)
    config, weights = _split_archive(archive, directory)
    x = _three_images(spec.size, spec.pixels)
    inputs = {1: x[:1], 3: x}
    expected = {b: keras_predict(model, [xb])[0] for b, xb in inputs.items()}
    assert_informative(expected[3], name)
    return Built(name, model, archive, config, weights, inputs, expected)


def _verify(built: Built, path: Path, expected: dict[int, np.ndarray], label: str) -> list[float]:
    """The compiled file against Keras at each batch size; one file serves both."""
    errors = []
    for batch, x in built.inputs.items():
        what = f"{built.name} {label} batch {batch}"
        if isinstance(built.model, keras.Model):
            errors += verify(path, built.model, [x], [expected[batch]], label=what).errors
            continue
        # tf-keras tensors have no Keras 3 history; check names, shapes and numbers directly.
        feeds = {built.model.input_names[0]: x}
        names, (got,) = run_onnx(path, feeds)
        assert names == built.model.output_names, what
        assert got.shape == expected[batch].shape, what
        errors.append(rel_error(got, expected[batch]))
        assert errors[-1] <= 1e-4, f"{what}: relative error {errors[-1]:.2e}"
    return errors


@pytest.mark.covers("keras.applications", ZOO)
@pytest.mark.parametrize("source", ["keras", "json+weights"])
def test_zoo_with_weights(app: Built, source, tmp_path):
    """From the .keras archive and from JSON + weights: Keras's numbers at batch 1 and 3."""
    if source == "keras":
        res = compiler.compile(app.archive)
    else:
        res = compiler.compile(app.config, weights=app.weights)
    assert res.random_weights is False
    out = compiler.save(res, tmp_path / "model.onnx")
    errors = _verify(app, out, app.expected, source)
    print(app.name, source, [f"{e:.2e}" for e in errors])
    assert_application_graph(app.name, app.model, op_counts(res.onnx))


def _drawn_weights(config: Path) -> dict[tuple[str, ...], list[np.ndarray]]:
    """The arrays kerascc draws for a weightless description, per layer scope, in Keras's order."""
    doc, store = read_model(config, None)
    assert store is None
    _graph, source = graph_from_config(doc, None, SEED, str(config))
    return {scope: list(arrays.values()) for scope, arrays in source.cache.items()}


def _scopes(model, prefix: tuple[str, ...] = ()):
    """(scope, layer) for every layer, nested models included, as kerascc scopes them."""
    for layer in model.layers:
        if isinstance(layer, keras.Model | tf_keras.Model):
            yield from _scopes(layer, (*prefix, layer.name))
        else:
            yield (*prefix, layer.name), layer


def _set_weights(model, weights: dict[tuple[str, ...], list[np.ndarray]]) -> None:
    """Every layer's weights by scope; an adapted Normalization recomputes what it applies."""
    for scope, layer in _scopes(model):
        if layer.weights:
            layer.set_weights(weights[scope])
            if isinstance(layer, keras.layers.Normalization):
                layer.finalize_state()


@pytest.mark.covers("keras.applications", ZOO)
def test_zoo_from_json_alone(app: Built, tmp_path):
    """From the description alone: seeded weights with Keras's shapes, order and count; Keras
    given the same weights computes the same numbers at batch 1 and 3."""
    res = compiler.compile(app.config, seed=SEED)
    assert res.random_weights is True
    out = compiler.save(res, tmp_path / "model.onnx")

    drawn = _drawn_weights(app.config)
    assert sum(a.size for arrays in drawn.values() for a in arrays) == app.model.count_params()
    original = {scope: layer.get_weights() for scope, layer in _scopes(app.model)}
    try:
        _set_weights(app.model, drawn)
        expected = {b: keras_predict(app.model, [x])[0] for b, x in app.inputs.items()}
    finally:
        _set_weights(app.model, original)
    errors = _verify(app, out, expected, "json")
    print(app.name, "json alone", [f"{e:.2e}" for e in errors])
    assert_application_graph(app.name, app.model, op_counts(res.onnx))
