"""keras.applications networks (random weights, randomised normalization statistics) compiled
and compared with Keras on their pooled features, plus the shape of the graph they compile to:
one Transpose, nothing left of BatchNormalization, Dropout or Identity, and exactly one Conv per
Keras convolution."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest
from keras import layers
from keras.src.applications import convnext

pytestmark = pytest.mark.slow

A = keras.applications

# name: (constructor, input size, source format, inputs as raw pixels (the model rescales them
# itself), gain of the redrawn kernels (see _redraw_kernels))
APPS = {
    "MobileNetV2": (A.MobileNetV2, 96, "keras", False, 2.0),
    "MobileNetV3Small": (A.MobileNetV3Small, 96, "json+weights", True, 2.0),
    "EfficientNetB0": (A.EfficientNetB0, 64, "keras", True, 2.0),
    "DenseNet121": (A.DenseNet121, 64, "json+weights", False, 2.0),
    "InceptionV3": (A.InceptionV3, 75, "keras", False, 2.0),
    "Xception": (A.Xception, 71, "json+weights", False, 1.0),
    "NASNetMobile": (A.NASNetMobile, 96, "keras", False, 1.0),
    "ResNet50V2": (A.ResNet50V2, 64, "json+weights", False, 1.0),
    "ConvNeXtTiny": (A.ConvNeXtTiny, 64, "keras", True, 1.0),
}


def _all_layers(model):
    """Every layer, nested models included (ConvNeXt keeps its stem in a Sequential)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _rank_of_input(layer) -> int:
    return len(layer.input.shape)


def _expected_convs(model) -> int:
    """ONNX Conv nodes the model should compile to: one per Conv2D/DepthwiseConv2D, two per
    SeparableConv2D (depthwise, pointwise), and one per Dense applied to a 4-D feature map
    (a 1×1 convolution over channels, as in ConvNeXt)."""
    kinds = Counter(type(layer).__name__ for layer in _all_layers(model))
    dense_on_maps = sum(
        1 for layer in _all_layers(model) if isinstance(layer, layers.Dense) and _rank_of_input(layer) == 4
    )
    return kinds["Conv2D"] + kinds["DepthwiseConv2D"] + 2 * kinds["SeparableConv2D"] + dense_on_maps


def _expected_gemms(model) -> int:
    return sum(1 for layer in _all_layers(model) if isinstance(layer, layers.Dense) and _rank_of_input(layer) == 2)


def _randomize_more(model, seed: int):
    """What ``randomize`` leaves at Keras's trivial initial values but these networks use:
    LayerNormalization gamma/beta and LayerScale gamma (ConvNeXt's residual branches are scaled
    by 1e-6 otherwise), and EfficientNet's adapted Normalization statistics."""
    rng = np.random.default_rng(seed)

    def put(var, values):
        var.assign(np.asarray(values, dtype=var.dtype))

    for layer in _all_layers(model):
        if isinstance(layer, layers.LayerNormalization):
            put(layer.gamma, rng.normal(1.0, 0.3, tuple(layer.gamma.shape)))
            put(layer.beta, rng.normal(0.0, 0.3, tuple(layer.beta.shape)))
        elif isinstance(layer, convnext.LayerScale):
            put(layer.gamma, rng.uniform(0.2, 0.6, tuple(layer.gamma.shape)))
        elif isinstance(layer, layers.Normalization) and getattr(layer, "adapt_mean", None) is not None:
            put(layer.adapt_mean, [0.485, 0.456, 0.406])
            put(layer.adapt_variance, np.square([0.229, 0.224, 0.225]))
            layer.finalize_state()
    return model


def _redraw_kernels(model, seed: int, gain: float):
    """Redraw every convolution and Dense kernel from N(0, gain / fan_in).

    Keras's Glorot initialisers shrink the signal at every layer (a depthwise kernel by a factor
    of about the channel count), so after a few dozen layers of random weights the features only
    reflect biases and BatchNorm shifts, and two different images give the same numbers. With a
    variance-preserving scale the input still shows in the pooled features."""
    rng = np.random.default_rng(seed)

    def redraw(var, fan_in):
        shape = tuple(var.shape)
        var.assign(rng.normal(0.0, np.sqrt(gain / fan_in), shape).astype(var.dtype))

    for layer in _all_layers(model):
        if isinstance(layer, layers.SeparableConv2D):
            kh, kw, _, _ = layer.depthwise_kernel.shape
            redraw(layer.depthwise_kernel, kh * kw)
            redraw(layer.pointwise_kernel, layer.pointwise_kernel.shape[2])
        elif isinstance(layer, layers.DepthwiseConv2D):
            kh, kw, _, _ = layer.kernel.shape
            redraw(layer.kernel, kh * kw)
        elif isinstance(layer, layers.Conv2D):
            kh, kw, cin, _ = layer.kernel.shape
            redraw(layer.kernel, kh * kw * cin)
        elif isinstance(layer, layers.Dense):
            redraw(layer.kernel, layer.kernel.shape[0])
    return model


def _images(size: int, pixels: bool) -> np.ndarray:
    """Two quite different images: noise and a smooth pattern; raw [0, 255] pixels for models
    that rescale their input themselves, else values in a preprocessed [-2, 2] range."""
    rng = np.random.default_rng(size)
    x = rng.uniform(-2.0, 2.0, (2, size, size, 3))
    yy, xx = np.mgrid[0:size, 0:size] / size
    x[1] = 2.0 * np.stack([np.sin(6 * yy), np.cos(9 * xx), yy - xx], axis=-1)
    if pixels:
        x = (x + 2.0) * (255.0 / 4.0)
    return x.astype("float32")


def _onnx_ops(tmp_path: Path) -> Counter:
    paths = sorted(Path(tmp_path).glob("*/model.onnx"))
    assert len(paths) == 1, paths
    return Counter(n.op_type for n in onnx.load(str(paths[0])).graph.node)


def _assert_graph(name: str, model, ops: Counter):
    print(name, dict(sorted(ops.items())))
    assert ops["Transpose"] <= 1, f"{name}: {ops['Transpose']} Transpose"
    for op in ("BatchNormalization", "Dropout", "Identity"):
        assert op not in ops, f"{name}: {ops[op]} {op} left"
    assert ops["Conv"] == _expected_convs(model), f"{name}: {ops['Conv']} Conv, Keras has {_expected_convs(model)}"
    assert ops["Gemm"] + ops["MatMul"] == _expected_gemms(model)


def _assert_informative(values: np.ndarray, what: str):
    """Outputs that vary across features and between the two images, so the comparison means
    something."""
    spread = float(np.max(np.abs(values)))
    assert np.all(np.isfinite(values)) and spread > 1e-3, f"{what}: degenerate output (max |x| = {spread:.2e})"
    assert float(values.std(axis=-1).min()) > 1e-3 * spread, f"{what}: constant across features"
    assert float(np.max(np.abs(values[0] - values[1]))) > 1e-2 * spread, f"{what}: both images give the same"


@pytest.mark.parametrize("name", list(APPS))
def test_application_features(name, check, randomize, oracle, tmp_path):
    build, size, fmt, pixels, gain = APPS[name]
    model = build(weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3))
    model = _redraw_kernels(_randomize_more(randomize(model, 7), 7), 7, gain)
    model.run_eagerly = True  # one small batch: tracing a tf.function would cost more than it saves
    x = _images(size, pixels)
    _assert_informative(oracle.keras_predict(model, [x])[0], name)
    results = check(model, tmp_path, inputs=[x], formats=(fmt,))
    print(name, {f: [f"{e:.2e}" for e in errs] for f, errs in results.items()})
    _assert_graph(name, model, _onnx_ops(tmp_path))


def test_mobilenet_v3_small_with_top(check, randomize, oracle, tmp_path):
    """The classifier as Keras builds it: pooled 1×1 convs, hard-swish, Dropout, Flatten and
    softmax; the logits are rescaled so the softmax is far from saturated."""
    model = A.MobileNetV3Small(weights=None, input_shape=(96, 96, 3))
    model = _redraw_kernels(randomize(model, 8), 8, 2.0)
    model.run_eagerly = True
    x = _images(96, pixels=True)
    logits_layer = model.get_layer("logits")
    penultimate = keras.Model(model.input, logits_layer.input)
    penultimate.run_eagerly = True
    features = oracle.keras_predict(penultimate, [x])[0]
    kernel, bias = logits_layer.get_weights()
    spread = float(np.einsum("nhwc,co->nhwo", features, kernel[0, 0]).std())
    logits_layer.set_weights([kernel * (1.5 / spread), bias * 0.2])
    probs = oracle.keras_predict(model, [x])[0]
    assert probs.shape == (2, 1000)
    assert probs.max() < 0.5, f"softmax saturated (max prob {probs.max():.3f})"
    assert np.abs(probs[0] - probs[1]).max() > 1e-4
    results = check(model, tmp_path, inputs=[x], formats=("json+weights",))
    print("MobileNetV3Small top", {f: [f"{e:.2e}" for e in errs] for f, errs in results.items()})
    ops = _onnx_ops(tmp_path)
    _assert_graph("MobileNetV3Small+top", model, ops)
    assert ops["Softmax"] == 1
