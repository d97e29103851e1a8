"""``keras.applications.ResNet50`` for model files that build on it.

Tutorials call ``tf.keras.applications.ResNet50(weights='imagenet', ...)``. The stand-in builds
the same graph with the same layer names as Keras's ``keras/src/applications/resnet.py``
(bottleneck blocks of ``stack1``), so weights saved from the real application load onto it;
pretrained weights are not downloaded: ``weights=`` is noted and ``--weights`` supplies them.
"""

from __future__ import annotations

from typing import Any

from .core import Model, recorder


def _block(layers: Any, x: Any, filters: int, stride: int = 1, conv_shortcut: bool = True, name: str = "") -> Any:
    bn = {"axis": 3, "epsilon": 1.001e-5}
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = layers.BatchNormalization(name=name + "_0_bn", **bn)(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = layers.BatchNormalization(name=name + "_1_bn", **bn)(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=name + "_2_conv")(x)
    x = layers.BatchNormalization(name=name + "_2_bn", **bn)(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = layers.BatchNormalization(name=name + "_3_bn", **bn)(x)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _stack(layers: Any, x: Any, filters: int, blocks: int, stride1: int = 2, name: str = "") -> Any:
    x = _block(layers, x, filters, stride=stride1, name=name + "_block1")
    for i in range(2, blocks + 1):
        x = _block(layers, x, filters, conv_shortcut=False, name=name + "_block" + str(i))
    return x


def resnet50_factory(layers: Any) -> Any:
    def ResNet50(
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        input_shape: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = "resnet50",
    ) -> Model:
        rec = recorder()
        if weights is not None:
            rec.note(f"ResNet50(weights={weights!r}): pretrained weights are not downloaded; pass them with --weights")
        if input_tensor is not None:
            img_input = input_tensor
        else:
            shape = tuple(input_shape) if input_shape is not None else (224, 224, 3)
            img_input = layers.Input(shape=shape)
        x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
        x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
        x = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        x = _stack(layers, x, 64, 3, stride1=1, name="conv2")
        x = _stack(layers, x, 128, 4, name="conv3")
        x = _stack(layers, x, 256, 6, name="conv4")
        x = _stack(layers, x, 512, 3, name="conv5")
        if include_top:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
        elif pooling == "avg":
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D(name="max_pool")(x)
        return Model(img_input, x, name=name)

    return ResNet50
