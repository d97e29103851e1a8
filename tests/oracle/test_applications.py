"""keras.applications networks and their building blocks against Keras.

Full-size ResNet50 (1000-class head at 224) and VGG16; the pooled features of networks of every
family with the shape of the graph they compile to (one Transpose, nothing left of
BatchNormalization, Dropout or Identity, exactly one Conv per Keras convolution); MobileNetV3's
classifier; and the helper layers the applications define (ConvNeXt's LayerScale and
StochasticDepth, InceptionResNetV2's scale layer). Weights are random, with randomised
normalization statistics; the zoo at its smallest sizes, from every source, is test_zoo.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers
from keras.src.applications import convnext

from .harness import (
    assert_application_graph,
    assert_informative,
    check,
    keras_predict,
    randomize,
    randomize_application,
    randomize_norms,
    redraw_kernels,
    two_images,
)

A = keras.applications

# --------------------------------------------------------------------------
# full-size networks


@pytest.mark.slow
def test_resnet50_224_with_top(tmp_path):
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
    features = keras_predict(keras.Model(model.input, head.input), [x])[0]
    kernel, bias = head.get_weights()
    spread = float((features @ kernel).std())
    head.set_weights([kernel * (1.5 / spread), bias * 0.2])
    probs = keras_predict(model, [x])[0]
    assert probs.max() < 0.5, f"softmax saturated (max prob {probs.max():.3f})"
    assert np.abs(probs[0] - probs[1]).max() > 1e-4

    check(model, tmp_path, inputs=[x])


@pytest.mark.slow
def test_resnet50_features_without_top(tmp_path):
    """The pooled 2048-d features: no softmax to hide differences."""
    model = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg", input_shape=(96, 96, 3))
    randomize(model, 51)
    check(model, tmp_path, forms=("json+weights",))


@pytest.mark.slow
def test_vgg16_with_small_head(tmp_path):
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    x = layers.Flatten(name="flatten")(base.output)  # 7 x 7 x 512, NHWC order
    x = layers.Dense(32, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.5, name="drop")(x)
    out = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(base.input, out, name="vgg16_small_head")
    randomize(model, 16)
    check(model, tmp_path)


# --------------------------------------------------------------------------
# pooled features and the shape of the compiled graph

# name: (constructor, input size, source form, inputs as raw pixels (the model rescales them
# itself), gain of the redrawn kernels (see harness.redraw_kernels))
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


@pytest.mark.slow
@pytest.mark.parametrize("name", list(APPS))
def test_application_features(name, tmp_path):
    build, size, form, pixels, gain = APPS[name]
    model = build(weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3))
    model = redraw_kernels(randomize_application(randomize(model, 7), 7), 7, gain)
    model.run_eagerly = True  # one small batch: tracing a tf.function would cost more than it saves
    x = two_images(size, pixels)
    assert_informative(keras_predict(model, [x])[0], name)
    result = check(model, tmp_path, inputs=[x], forms=(form,))
    assert_application_graph(name, model, result.ops)


@pytest.mark.slow
def test_mobilenet_v3_small_with_top(tmp_path):
    """The classifier as Keras builds it: pooled 1×1 convs, hard-swish, Dropout, Flatten and
    softmax; the logits are rescaled so the softmax is far from saturated."""
    model = A.MobileNetV3Small(weights=None, input_shape=(96, 96, 3))
    model = redraw_kernels(randomize(model, 8), 8, 2.0)
    model.run_eagerly = True
    x = two_images(96, pixels=True)
    logits_layer = model.get_layer("logits")
    penultimate = keras.Model(model.input, logits_layer.input)
    penultimate.run_eagerly = True
    features = keras_predict(penultimate, [x])[0]
    kernel, bias = logits_layer.get_weights()
    spread = float(np.einsum("nhwc,co->nhwo", features, kernel[0, 0]).std())
    logits_layer.set_weights([kernel * (1.5 / spread), bias * 0.2])
    probs = keras_predict(model, [x])[0]
    assert probs.shape == (2, 1000)
    assert probs.max() < 0.5, f"softmax saturated (max prob {probs.max():.3f})"
    assert np.abs(probs[0] - probs[1]).max() > 1e-4
    result = check(model, tmp_path, inputs=[x], forms=("json+weights",))
    assert_application_graph("MobileNetV3Small+top", model, result.ops)
    result.assert_ops(Softmax=1)


# --------------------------------------------------------------------------
# building blocks: ConvNeXt blocks (keras.applications' own), InceptionResNetV2's scale layer


@pytest.mark.covers("LayerScale, StochasticDepth", "ConvNeXt blocks")
@pytest.mark.parametrize("drop_path_rate", [0.0, 0.2], ids=["identity", "stochastic_depth"])
def test_convnext_blocks(drop_path_rate, tmp_path):
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(16, 4, strides=4, name="stem_conv")(inp)
    x = layers.LayerNormalization(epsilon=1e-6, name="stem_ln")(x)
    x = convnext.ConvNeXtBlock(16, drop_path_rate=drop_path_rate, name="block1")(x)
    x = convnext.ConvNeXtBlock(16, drop_path_rate=drop_path_rate, name="block2")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name="down_ln")(x)
    x = layers.Conv2D(24, 2, strides=2, name="down_conv")(x)
    x = convnext.ConvNeXtBlock(24, layer_scale_init_value=None, name="block3")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    out = layers.LayerNormalization(epsilon=1e-6, name="head_ln")(x)
    model = randomize_norms(randomize(keras.Model(inp, out), 71), 71)
    result = check(model, tmp_path)
    # 2 stem/downsampling convs, per block a 7x7 depthwise and two pointwise (Dense) convs
    result.assert_ops(Conv=2 + 3 * 3, Transpose=1, LayerNormalization=1, ReduceMean=2 * 5, Identity=0, MatMul=0)


@pytest.mark.parametrize("opset", [18, 20])
def test_convnext_block_at_newer_opsets(opset, tmp_path):
    """ReduceMean takes its axes as an input from opset 18; Gelu is an ONNX op from opset 20."""
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(8, 2, strides=2, name="stem_conv")(inp)
    x = layers.LayerNormalization(epsilon=1e-6, name="stem_ln")(x)
    out = convnext.ConvNeXtBlock(8, name="block")(x)
    model = randomize_norms(randomize(keras.Model(inp, out), 72), 72)
    result = check(model, tmp_path, forms=("keras",), seed=72, opset=opset)
    proto = result["keras"].proto
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {opset}
    result.assert_ops(ReduceMean=4, Transpose=2, Gelu=1 if opset >= 20 else 0)


@pytest.mark.covers("CustomScaleLayer", "InceptionResNetV2's x + scale·r")
def test_inception_resnet_scale_layer(tmp_path):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    inp = keras.Input((6, 6, 4), name="image")
    r = layers.Conv2D(4, 3, padding="same", name="branch")(inp)
    x = CustomScaleLayer(0.17, name="scale")([inp, r])
    out = layers.Activation("relu", name="act")(x)
    model = randomize(keras.Model(inp, out), 70)
    check(model, tmp_path)
