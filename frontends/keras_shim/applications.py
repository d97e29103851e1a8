"""``keras.applications`` for model files that build on them.

Tutorials call ``keras.applications.MobileNetV2(include_top=False, weights='imagenet', ...)`` and
use it as a backbone. Each stand-in builds the graph of Keras's own ``keras/src/applications``
module with the same layer names (``conv2_block1_1_conv``, ``block_3_expand_BN``, …) and the same
automatic names where Keras leaves them out, so weights saved from the real application load
onto it. Pretrained weights are not downloaded: ``weights='imagenet'`` is noted and ``--weights``
supplies them.

Families: ResNet50/101/152, ResNet50V2/101V2/152V2, VGG16/19, MobileNet, MobileNetV2,
MobileNetV3Small/Large, DenseNet121/169/201, Xception, InceptionV3 and EfficientNetB0-B7, each
with ``include_top``, ``input_tensor``, ``input_shape``, ``pooling``, ``classes`` and
``classifier_activation`` as Keras reads them. The other applications Keras has are refused at
the line that asks for one, with the way to compile them instead (their JSON).

``preprocess_input`` of each family is recorded as Keras's ``imagenet_utils`` records it on a
symbolic tensor: "tf" (``x / 127.5 - 1``, MobileNet, MobileNetV2, ResNetV2) as two operations;
"caffe" (ResNet, VGG) as the RGB→BGR flip ``stack([x[..., 2], x[..., 1], x[..., 0]], axis=-1)``
plus the negated mean pixel as a constant ``(1, 1, 1, 3)`` tensor; "torch" (DenseNet) as
``x / 255``, plus the negated mean, divided by the standard deviation (constant tensors). The
passes fold all of it into the first convolution (``fold_channel_gather``, ``fold_affine``).
The applications that scale inputs themselves (EfficientNet, ConvNeXt, MobileNetV3, RegNet) have
an identity ``preprocess_input``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from compiler.errors import UnsupportedLayerError

from .core import InputLayer, KerasTensor, Model, initializer_class, recorder
from .ops import BackendTensor, call_op, operator
from .tutorial import Skipped

#: The stand-in ``keras.layers`` module the networks are built from.
Layers = Any
_BN = {"axis": 3, "epsilon": 1.001e-5}


def _note_weights(app: str, weights: Any) -> None:
    if weights is not None:
        recorder().note(f"{app}(weights={weights!r}): pretrained weights are not downloaded; pass them with --weights")


def _input_shape(input_shape: Any, include_top: bool, default: int = 224) -> tuple:
    """Keras's ``obtain_input_shape`` for channels_last: the given shape, else the default size
    with the classifier, else any size."""
    if input_shape is not None:
        return tuple(input_shape)
    return (default, default, 3) if include_top else (None, None, 3)


def _image_input(layers: Layers, input_tensor: Any, shape: tuple) -> tuple[Any, Any]:
    """(the tensor the network starts from, the model's input)."""
    if input_tensor is None:
        x = layers.Input(shape=shape)
        return x, x
    if not isinstance(input_tensor, KerasTensor):
        raise recorder().error("input_tensor must be a Keras tensor (the output of keras.Input)")
    return input_tensor, _source_inputs(input_tensor)


def _source_inputs(tensor: KerasTensor) -> Any:
    """Keras's ``get_source_inputs``: the ``keras.Input`` tensors ``tensor`` is computed from, so an
    application built on ``preprocess_input(inputs)`` (DeepLabV3+) starts at the model's input
    and holds the preprocessing operations, as Keras's does."""
    found: list[KerasTensor] = []
    stack, seen = [tensor], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        layer, index, _ = t._keras_history
        if isinstance(layer, InputLayer):
            found.append(t)
        else:
            stack.extend(reversed(layer.calls[index]["inputs"]))
    return found[0] if len(found) == 1 else found


def _top(
    layers: Layers,
    x: Any,
    include_top: bool,
    pooling: Any,
    classes: int,
    classifier_activation: Any,
    pool_names: tuple[str | None, str | None] = ("avg_pool", "max_pool"),
) -> Any:
    """The GlobalAveragePooling + Dense classifier, or the pooling of the features."""
    avg, mx = pool_names
    if include_top:
        x = layers.GlobalAveragePooling2D(**({"name": avg} if avg else {}))(x)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(**({"name": avg} if avg else {}))(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(**({"name": mx} if mx else {}))(x)
    return x


# -- ResNet and ResNetV2 (keras/src/applications/resnet.py, resnet_v2.py) -----------------------------
def _block_v1(layers: Layers, x: Any, filters: int, stride: int = 1, conv_shortcut: bool = True, name: str = "") -> Any:
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = layers.BatchNormalization(name=name + "_0_bn", **_BN)(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = layers.BatchNormalization(name=name + "_1_bn", **_BN)(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=name + "_2_conv")(x)
    x = layers.BatchNormalization(name=name + "_2_bn", **_BN)(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = layers.BatchNormalization(name=name + "_3_bn", **_BN)(x)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _stack_v1(layers: Layers, x: Any, filters: int, blocks: int, stride1: int = 2, name: str = "") -> Any:
    x = _block_v1(layers, x, filters, stride=stride1, name=name + "_block1")
    for i in range(2, blocks + 1):
        x = _block_v1(layers, x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def _block_v2(
    layers: Layers, x: Any, filters: int, stride: int = 1, conv_shortcut: bool = False, name: str = ""
) -> Any:
    preact = layers.BatchNormalization(name=f"{name}_preact_bn", **_BN)(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(name=f"{name}_1_bn", **_BN)(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_2_bn", **_BN)(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def _stack_v2(layers: Layers, x: Any, filters: int, blocks: int, stride1: int = 2, name: str = "") -> Any:
    x = _block_v2(layers, x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = _block_v2(layers, x, filters, name=f"{name}_block{i}")
    return _block_v2(layers, x, filters, stride=stride1, name=f"{name}_block{blocks}")


#: blocks per stage of each ResNet depth
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _resnet(layers: Layers, depth: int, v2: bool) -> Callable[..., Model]:
    app = f"ResNet{depth}{'V2' if v2 else ''}"
    blocks = RESNET_BLOCKS[depth]

    def build(
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        input_shape: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = app.lower(),
    ) -> Model:
        _note_weights(app, weights)
        x, inputs = _image_input(layers, input_tensor, _input_shape(input_shape, include_top))
        x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
        x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
        if not v2:
            x = layers.BatchNormalization(name="conv1_bn", **_BN)(x)
            x = layers.Activation("relu", name="conv1_relu")(x)
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        if v2:
            x = _stack_v2(layers, x, 64, blocks[0], name="conv2")
            x = _stack_v2(layers, x, 128, blocks[1], name="conv3")
            x = _stack_v2(layers, x, 256, blocks[2], name="conv4")
            x = _stack_v2(layers, x, 512, blocks[3], stride1=1, name="conv5")
            x = layers.BatchNormalization(name="post_bn", **_BN)(x)
            x = layers.Activation("relu", name="post_relu")(x)
        else:
            x = _stack_v1(layers, x, 64, blocks[0], stride1=1, name="conv2")
            x = _stack_v1(layers, x, 128, blocks[1], name="conv3")
            x = _stack_v1(layers, x, 256, blocks[2], name="conv4")
            x = _stack_v1(layers, x, 512, blocks[3], name="conv5")
        x = _top(layers, x, include_top, pooling, classes, classifier_activation)
        return Model(inputs, x, name=name)

    build.__name__ = app
    return build


# -- VGG (keras/src/applications/vgg16.py, vgg19.py) ---------------------------------------------------
def _vgg(layers: Layers, depth: int) -> Callable[..., Model]:
    app = f"VGG{depth}"
    convs = (2, 2, 3, 3, 3) if depth == 16 else (2, 2, 4, 4, 4)

    def build(
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        input_shape: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = app.lower(),
    ) -> Model:
        _note_weights(app, weights)
        x, inputs = _image_input(layers, input_tensor, _input_shape(input_shape, include_top))
        for block, (n, filters) in enumerate(zip(convs, (64, 128, 256, 512, 512), strict=True), start=1):
            for i in range(1, n + 1):
                x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
            x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
        if include_top:
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(4096, activation="relu", name="fc1")(x)
            x = layers.Dense(4096, activation="relu", name="fc2")(x)
            x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
        else:
            x = _top(layers, x, False, pooling, classes, classifier_activation, pool_names=(None, None))
        return Model(inputs, x, name=name)

    build.__name__ = app
    return build


# -- MobileNet and MobileNetV2 (keras/src/applications/mobilenet.py, mobilenet_v2.py) -------------------
def _rows(input_shape: Any, include_top: bool, sizes: tuple[int, ...]) -> tuple[tuple, Any]:
    """The input shape and the ``rows`` in the model's name, as MobileNet reads them."""
    default = 224
    if input_shape is not None and len(input_shape) == 3:
        rows, cols = input_shape[0], input_shape[1]
        if rows == cols and rows in sizes:
            default = rows
    shape = _input_shape(input_shape, include_top, default)
    return shape, shape[0]


def _mobilenet(layers: Layers) -> Callable[..., Model]:
    def conv_dw(x: Any, filters: int, alpha: float, depth_multiplier: int, strides: int, block_id: int) -> Any:
        filters = int(filters * alpha)
        if strides != 1:
            x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        x = layers.DepthwiseConv2D(
            (3, 3),
            padding="same" if strides == 1 else "valid",
            depth_multiplier=depth_multiplier,
            strides=(strides, strides),
            use_bias=False,
            name=f"conv_dw_{block_id}",
        )(x)
        x = layers.BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
        x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
        x = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False, strides=(1, 1), name=f"conv_pw_{block_id}")(
            x
        )
        x = layers.BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
        return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)

    def MobileNet(
        input_shape: Any = None,
        alpha: float = 1.0,
        depth_multiplier: int = 1,
        dropout: float = 1e-3,
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str | None = None,
    ) -> Model:
        _note_weights("MobileNet", weights)
        shape, rows = _rows(input_shape, include_top, (128, 160, 192, 224))
        x, inputs = _image_input(layers, input_tensor, shape)
        x = layers.Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1")(x)
        x = layers.BatchNormalization(axis=-1, name="conv1_bn")(x)
        x = layers.ReLU(6.0, name="conv1_relu")(x)
        plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
        for block_id, (filters, strides) in enumerate(plan, start=1):
            x = conv_dw(x, filters, alpha, depth_multiplier, strides, block_id)
        if include_top:
            x = layers.GlobalAveragePooling2D(keepdims=True)(x)
            x = layers.Dropout(dropout, name="dropout")(x)
            x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
            x = layers.Reshape((classes,), name="reshape_2")(x)
            x = layers.Activation(activation=classifier_activation, name="predictions")(x)
        else:
            x = _top(layers, x, False, pooling, classes, classifier_activation, pool_names=(None, None))
        return Model(inputs, x, name=name or f"mobilenet_{alpha:0.2f}_{rows}")

    return MobileNet


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """MobileNetV2's channel rounding: the nearest multiple of ``divisor``, never 10% below ``v``."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _correct_pad(x: Any, kernel: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``imagenet_utils.correct_pad``: the padding before a stride-2 'valid' convolution."""
    size = tuple(x.shape)[1:3]
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    c = kernel // 2
    return (c - adjust[0], c), (c - adjust[1], c)


def _mobilenet_v2(layers: Layers) -> Callable[..., Model]:
    bn = {"axis": -1, "epsilon": 1e-3, "momentum": 0.999}

    def inverted_res_block(inputs: Any, expansion: int, stride: int, alpha: float, filters: int, block_id: int) -> Any:
        in_channels = tuple(inputs.shape)[-1]
        pointwise_filters = _make_divisible(int(filters * alpha), 8)
        x = inputs
        prefix = f"block_{block_id}_"
        if block_id:
            x = layers.Conv2D(
                expansion * in_channels,
                kernel_size=1,
                padding="same",
                use_bias=False,
                activation=None,
                name=f"{prefix}expand",
            )(x)
            x = layers.BatchNormalization(name=f"{prefix}expand_BN", **bn)(x)
            x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
        else:
            prefix = "expanded_conv_"
        if stride == 2:
            x = layers.ZeroPadding2D(padding=_correct_pad(x, 3), name=f"{prefix}pad")(x)
        x = layers.DepthwiseConv2D(
            kernel_size=3,
            strides=stride,
            activation=None,
            use_bias=False,
            padding="same" if stride == 1 else "valid",
            name=f"{prefix}depthwise",
        )(x)
        x = layers.BatchNormalization(name=f"{prefix}depthwise_BN", **bn)(x)
        x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
        x = layers.Conv2D(
            pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None, name=f"{prefix}project"
        )(x)
        x = layers.BatchNormalization(name=f"{prefix}project_BN", **bn)(x)
        if in_channels == pointwise_filters and stride == 1:
            return layers.Add(name=f"{prefix}add")([inputs, x])
        return x

    def MobileNetV2(
        input_shape: Any = None,
        alpha: float = 1.0,
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str | None = None,
    ) -> Model:
        _note_weights("MobileNetV2", weights)
        shape, rows = _rows(input_shape, include_top, (96, 128, 160, 192, 224))
        x, inputs = _image_input(layers, input_tensor, shape)
        x = layers.Conv2D(
            _make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="Conv1"
        )(x)
        x = layers.BatchNormalization(name="bn_Conv1", **bn)(x)
        x = layers.ReLU(6.0, name="Conv1_relu")(x)
        plan = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6)]
        plan += [(64, 1, 6)] * 3 + [(96, 1, 6)] * 3 + [(160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6)]
        for block_id, (filters, stride, expansion) in enumerate(plan):
            x = inverted_res_block(x, expansion, stride, alpha, filters, block_id)
        last = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
        x = layers.Conv2D(last, kernel_size=1, use_bias=False, name="Conv_1")(x)
        x = layers.BatchNormalization(name="Conv_1_bn", **bn)(x)
        x = layers.ReLU(6.0, name="out_relu")(x)
        x = _top(layers, x, include_top, pooling, classes, classifier_activation, pool_names=(None, None))
        return Model(inputs, x, name=name or f"mobilenetv2_{alpha:0.2f}_{rows}")

    return MobileNetV2


# -- DenseNet (keras/src/applications/densenet.py) -----------------------------------------------------
DENSENET_BLOCKS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}


def _densenet(layers: Layers, depth: int) -> Callable[..., Model]:
    app = f"DenseNet{depth}"

    def conv_block(x: Any, growth_rate: int, name: str) -> Any:
        x1 = layers.BatchNormalization(name=f"{name}_0_bn", **_BN)(x)
        x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
        x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
        x1 = layers.BatchNormalization(name=f"{name}_1_bn", **_BN)(x1)
        x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
        x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
        return layers.Concatenate(axis=3, name=f"{name}_concat")([x, x1])

    def transition(x: Any, reduction: float, name: str) -> Any:
        x = layers.BatchNormalization(name=f"{name}_bn", **_BN)(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.Conv2D(int(tuple(x.shape)[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
        return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)

    def build(
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        input_shape: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = app.lower(),
    ) -> Model:
        _note_weights(app, weights)
        x, inputs = _image_input(layers, input_tensor, _input_shape(input_shape, include_top))
        x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(x)
        x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
        x = layers.BatchNormalization(name="conv1_bn", **_BN)(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
        for stage, blocks in enumerate(DENSENET_BLOCKS[depth], start=2):
            for i in range(blocks):
                x = conv_block(x, 32, name=f"conv{stage}_block{i + 1}")
            if stage < 5:
                x = transition(x, 0.5, name=f"pool{stage}")
        x = layers.BatchNormalization(name="bn", **_BN)(x)
        x = layers.Activation("relu", name="relu")(x)
        x = _top(layers, x, include_top, pooling, classes, classifier_activation)
        return Model(inputs, x, name=name)

    build.__name__ = app
    return build


# -- Xception (keras/src/applications/xception.py) -----------------------------------------------------
def _xception(layers: Layers) -> Callable[..., Model]:
    def sep(x: Any, filters: int, name: str) -> Any:
        x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
        return layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)

    def shortcut(x: Any, filters: int) -> Any:  # Keras leaves these unnamed: conv2d, batch_normalization …
        residual = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
        return layers.BatchNormalization(axis=-1)(residual)

    def Xception(
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        input_shape: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = "xception",
    ) -> Model:
        _note_weights("Xception", weights)
        x, inputs = _image_input(layers, input_tensor, _input_shape(input_shape, include_top, 299))
        x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(x)
        x = layers.BatchNormalization(axis=-1, name="block1_conv1_bn")(x)
        x = layers.Activation("relu", name="block1_conv1_act")(x)
        x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
        x = layers.BatchNormalization(axis=-1, name="block1_conv2_bn")(x)
        x = layers.Activation("relu", name="block1_conv2_act")(x)
        for block, filters in ((2, 128), (3, 256), (4, 728)):
            residual = shortcut(x, filters)
            if block > 2:
                x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
            x = sep(x, filters, f"block{block}_sepconv1")
            x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
            x = sep(x, filters, f"block{block}_sepconv2")
            x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
            x = layers.add([x, residual])
        for i in range(8):
            residual = x
            prefix = f"block{i + 5}"
            for k in (1, 2, 3):
                x = layers.Activation("relu", name=f"{prefix}_sepconv{k}_act")(x)
                x = sep(x, 728, f"{prefix}_sepconv{k}")
            x = layers.add([x, residual])
        residual = shortcut(x, 1024)
        x = layers.Activation("relu", name="block13_sepconv1_act")(x)
        x = sep(x, 728, "block13_sepconv1")
        x = layers.Activation("relu", name="block13_sepconv2_act")(x)
        x = sep(x, 1024, "block13_sepconv2")
        x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name="block13_pool")(x)
        x = layers.add([x, residual])
        x = sep(x, 1536, "block14_sepconv1")
        x = layers.Activation("relu", name="block14_sepconv1_act")(x)
        x = sep(x, 2048, "block14_sepconv2")
        x = layers.Activation("relu", name="block14_sepconv2_act")(x)
        if include_top:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
        else:
            x = _top(layers, x, False, pooling, classes, classifier_activation, pool_names=(None, None))
        return Model(inputs, x, name=name)

    return Xception


# -- EfficientNet B0-B7 (keras/src/applications/efficientnet.py) ---------------------------------------
#: (kernel, repeats, filters in, filters out, expand ratio, strides) of the seven stages; SE ratio 0.25
EFFICIENTNET_STAGES = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
#: width, depth, default size, dropout of B0 … B7
EFFICIENTNET_SCALING = (
    (1.0, 1.0, 224, 0.2),
    (1.0, 1.1, 240, 0.2),
    (1.1, 1.2, 260, 0.3),
    (1.2, 1.4, 300, 0.3),
    (1.4, 1.8, 380, 0.4),
    (1.6, 2.2, 456, 0.4),
    (1.8, 2.6, 528, 0.5),
    (2.0, 3.1, 600, 0.5),
)
#: EfficientNet's kernel initializers, passed as dicts and recorded by Keras as initializer objects
_CONV_INIT = {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}
_DENSE_INIT = {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}
_IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


def _efficientnet(layers: Layers, variant: int) -> Callable[..., Model]:
    width, depth, default_size, dropout_rate = EFFICIENTNET_SCALING[variant]
    app = f"EfficientNetB{variant}"

    def conv_init() -> Any:
        return initializer_class("VarianceScaling")(**_CONV_INIT)

    def round_filters(filters: float, divisor: int = 8) -> int:
        filters *= width
        new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
        return int(new + divisor if new < 0.9 * filters else new)

    def repeats(n: int) -> int:
        return int(math.ceil(depth * n))

    def block(inputs: Any, drop_rate: float, name: str, f_in: int, f_out: int, kernel: int, strides: int, expand: int):
        filters = f_in * expand
        x = inputs
        if expand != 1:
            x = layers.Conv2D(
                filters, 1, padding="same", use_bias=False, kernel_initializer=conv_init(), name=f"{name}expand_conv"
            )(x)
            x = layers.BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
            x = layers.Activation("swish", name=f"{name}expand_activation")(x)
        if strides == 2:
            x = layers.ZeroPadding2D(padding=_correct_pad(x, kernel), name=f"{name}dwconv_pad")(x)
        x = layers.DepthwiseConv2D(
            kernel,
            strides=strides,
            padding="valid" if strides == 2 else "same",
            use_bias=False,
            depthwise_initializer=conv_init(),
            name=f"{name}dwconv",
        )(x)
        x = layers.BatchNormalization(axis=3, name=f"{name}bn")(x)
        x = layers.Activation("swish", name=f"{name}activation")(x)
        filters_se = max(1, int(f_in * 0.25))
        se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
        se = layers.Conv2D(
            filters_se, 1, padding="same", activation="swish", kernel_initializer=conv_init(), name=f"{name}se_reduce"
        )(se)
        se = layers.Conv2D(
            filters, 1, padding="same", activation="sigmoid", kernel_initializer=conv_init(), name=f"{name}se_expand"
        )(se)
        x = layers.multiply([x, se], name=f"{name}se_excite")
        x = layers.Conv2D(
            f_out, 1, padding="same", use_bias=False, kernel_initializer=conv_init(), name=f"{name}project_conv"
        )(x)
        x = layers.BatchNormalization(axis=3, name=f"{name}project_bn")(x)
        if strides == 1 and f_in == f_out:
            if drop_rate > 0:
                x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
            x = layers.add([x, inputs], name=f"{name}add")
        return x

    def build(
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        input_shape: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = app.lower(),
    ) -> Model:
        _note_weights(app, weights)
        x, inputs = _image_input(layers, input_tensor, _input_shape(input_shape, include_top, default_size))
        x = layers.Rescaling(1.0 / 255.0)(x)
        x = layers.Normalization(axis=3)(x)
        if weights == "imagenet":  # the graph the ImageNet weights were saved from has this layer
            x = layers.Rescaling([1.0 / math.sqrt(s) for s in _IMAGENET_STDDEV_RGB])(x)
        x = layers.ZeroPadding2D(padding=_correct_pad(x, 3), name="stem_conv_pad")(x)
        x = layers.Conv2D(
            round_filters(32),
            3,
            strides=2,
            padding="valid",
            use_bias=False,
            kernel_initializer=conv_init(),
            name="stem_conv",
        )(x)
        x = layers.BatchNormalization(axis=3, name="stem_bn")(x)
        x = layers.Activation("swish", name="stem_activation")(x)
        total = float(sum(repeats(stage[1]) for stage in EFFICIENTNET_STAGES))
        b = 0
        for i, (kernel, n, f_in, f_out, expand, strides) in enumerate(EFFICIENTNET_STAGES):
            f_in, f_out = round_filters(f_in), round_filters(f_out)
            for j in range(repeats(n)):
                if j > 0:
                    strides, f_in = 1, f_out
                x = block(x, 0.2 * b / total, f"block{i + 1}{chr(j + 97)}_", f_in, f_out, kernel, strides, expand)
                b += 1
        x = layers.Conv2D(
            round_filters(1280), 1, padding="same", use_bias=False, kernel_initializer=conv_init(), name="top_conv"
        )(x)
        x = layers.BatchNormalization(axis=3, name="top_bn")(x)
        x = layers.Activation("swish", name="top_activation")(x)
        if include_top:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            if dropout_rate > 0:
                x = layers.Dropout(dropout_rate, name="top_dropout")(x)
            x = layers.Dense(
                classes,
                activation=classifier_activation,
                kernel_initializer=initializer_class("VarianceScaling")(**_DENSE_INIT),
                name="predictions",
            )(x)
        else:
            x = _top(layers, x, False, pooling, classes, classifier_activation)
        return Model(inputs, x, name=name)

    build.__name__ = app
    return build


# -- InceptionV3 (keras/src/applications/inception_v3.py) ----------------------------------------------
def _inception_v3(layers: Layers) -> Callable[..., Model]:
    def cbn(x: Any, filters: int, rows: int, cols: int, padding: str = "same", strides: tuple = (1, 1)) -> Any:
        """Conv, BatchNorm without scale, ReLU: all three auto-named, as Keras leaves them."""
        x = layers.Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False)(x)
        x = layers.BatchNormalization(axis=3, scale=False)(x)
        return layers.Activation("relu")(x)

    def avg_branch(x: Any, filters: int) -> Any:
        return cbn(layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x), filters, 1, 1)

    def block_35(x: Any, pool_filters: int, name: str) -> Any:
        b1 = cbn(x, 64, 1, 1)
        b5 = cbn(cbn(x, 48, 1, 1), 64, 5, 5)
        b3 = cbn(cbn(cbn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
        return layers.concatenate([b1, b5, b3, avg_branch(x, pool_filters)], axis=3, name=name)

    def block_17(x: Any, mid: int, name: str) -> Any:
        b1 = cbn(x, 192, 1, 1)
        b7 = cbn(cbn(cbn(x, mid, 1, 1), mid, 1, 7), 192, 7, 1)
        d = cbn(x, mid, 1, 1)
        for filters, rows, cols in ((mid, 7, 1), (mid, 1, 7), (mid, 7, 1), (192, 1, 7)):
            d = cbn(d, filters, rows, cols)
        return layers.concatenate([b1, b7, d, avg_branch(x, 192)], axis=3, name=name)

    def InceptionV3(
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        input_shape: Any = None,
        pooling: Any = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = "inception_v3",
    ) -> Model:
        _note_weights("InceptionV3", weights)
        x, inputs = _image_input(layers, input_tensor, _input_shape(input_shape, include_top, 299))
        x = cbn(x, 32, 3, 3, strides=(2, 2), padding="valid")
        x = cbn(x, 32, 3, 3, padding="valid")
        x = cbn(x, 64, 3, 3)
        x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
        x = cbn(x, 80, 1, 1, padding="valid")
        x = cbn(x, 192, 3, 3, padding="valid")
        x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
        x = block_35(x, 32, "mixed0")
        x = block_35(x, 64, "mixed1")
        x = block_35(x, 64, "mixed2")
        b3 = cbn(x, 384, 3, 3, strides=(2, 2), padding="valid")
        d = cbn(cbn(cbn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, strides=(2, 2), padding="valid")
        x = layers.concatenate([b3, d, layers.MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=3, name="mixed3")
        x = block_17(x, 128, "mixed4")
        for i in range(2):
            x = block_17(x, 160, f"mixed{5 + i}")
        x = block_17(x, 192, "mixed7")
        b3 = cbn(cbn(x, 192, 1, 1), 320, 3, 3, strides=(2, 2), padding="valid")
        b7 = cbn(cbn(cbn(cbn(x, 192, 1, 1), 192, 1, 7), 192, 7, 1), 192, 3, 3, strides=(2, 2), padding="valid")
        x = layers.concatenate([b3, b7, layers.MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=3, name="mixed8")
        for i in range(2):
            b1 = cbn(x, 320, 1, 1)
            b3 = cbn(x, 384, 1, 1)
            b3 = layers.concatenate([cbn(b3, 384, 1, 3), cbn(b3, 384, 3, 1)], axis=3, name=f"mixed9_{i}")
            d = cbn(cbn(x, 448, 1, 1), 384, 3, 3)
            d = layers.concatenate([cbn(d, 384, 1, 3), cbn(d, 384, 3, 1)], axis=3)
            x = layers.concatenate([b1, b3, d, avg_branch(x, 192)], axis=3, name=f"mixed{9 + i}")
        if include_top:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
        else:
            x = _top(layers, x, False, pooling, classes, classifier_activation, pool_names=(None, None))
        return Model(inputs, x, name=name)

    return InceptionV3


# -- MobileNetV3 (keras/src/applications/mobilenet_v3.py) ----------------------------------------------
#: (expansion, filters, kernel or None for the model's, stride, squeeze-excite, hard-swish) per block
MOBILENET_V3_SMALL = (
    (1, 16, 3, 2, True, False),
    (72.0 / 16, 24, 3, 2, False, False),
    (88.0 / 24, 24, 3, 1, False, False),
    (4, 40, None, 2, True, True),
    (6, 40, None, 1, True, True),
    (6, 40, None, 1, True, True),
    (3, 48, None, 1, True, True),
    (3, 48, None, 1, True, True),
    (6, 96, None, 2, True, True),
    (6, 96, None, 1, True, True),
    (6, 96, None, 1, True, True),
)
MOBILENET_V3_LARGE = (
    (1, 16, 3, 1, False, False),
    (4, 24, 3, 2, False, False),
    (3, 24, 3, 1, False, False),
    (3, 40, None, 2, True, False),
    (3, 40, None, 1, True, False),
    (3, 40, None, 1, True, False),
    (6, 80, 3, 2, False, True),
    (2.5, 80, 3, 1, False, True),
    (2.3, 80, 3, 1, False, True),
    (2.3, 80, 3, 1, False, True),
    (6, 112, 3, 1, True, True),
    (6, 112, 3, 1, True, True),
    (6, 160, None, 2, True, True),
    (6, 160, None, 1, True, True),
    (6, 160, None, 1, True, True),
)


def _mobilenet_v3(layers: Layers, large: bool) -> Callable[..., Model]:
    plan = MOBILENET_V3_LARGE if large else MOBILENET_V3_SMALL
    last_point = 1280 if large else 1024
    app = "MobileNetV3Large" if large else "MobileNetV3Small"
    bn = {"axis": -1, "epsilon": 1e-3, "momentum": 0.999}

    def relu(x: Any) -> Any:
        return layers.ReLU()(x)

    def hard_swish(x: Any) -> Any:
        return layers.Activation("hard_swish")(x)

    def hard_sigmoid(x: Any) -> Any:
        return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)

    def se_block(inputs: Any, filters: int, prefix: str) -> Any:
        x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
        x = layers.Conv2D(_make_divisible(filters * 0.25, 8), 1, padding="same", name=f"{prefix}squeeze_excite_conv")(x)
        x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
        x = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
        return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, hard_sigmoid(x)])

    def block(x: Any, expansion: float, filters: int, kernel: int, stride: int, se: bool, act: Any, block_id: int):
        shortcut = x
        prefix = "expanded_conv_"
        infilters = tuple(x.shape)[-1]
        if block_id:
            prefix = f"expanded_conv_{block_id}_"
            x = layers.Conv2D(
                _make_divisible(infilters * expansion, 8), 1, padding="same", use_bias=False, name=f"{prefix}expand"
            )(x)
            x = act(layers.BatchNormalization(name=f"{prefix}expand_bn", **bn)(x))
        if stride == 2:
            x = layers.ZeroPadding2D(padding=_correct_pad(x, kernel), name=f"{prefix}depthwise_pad")(x)
        x = layers.DepthwiseConv2D(
            kernel,
            strides=stride,
            padding="same" if stride == 1 else "valid",
            use_bias=False,
            name=f"{prefix}depthwise",
        )(x)
        x = act(layers.BatchNormalization(name=f"{prefix}depthwise_bn", **bn)(x))
        if se:
            x = se_block(x, _make_divisible(infilters * expansion, 8), prefix)
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
        x = layers.BatchNormalization(name=f"{prefix}project_bn", **bn)(x)
        if stride == 1 and infilters == filters:
            x = layers.Add(name=f"{prefix}add")([shortcut, x])
        return x

    def build(
        input_shape: Any = None,
        alpha: float = 1.0,
        minimalistic: bool = False,
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: Any = None,
        classes: int = 1000,
        pooling: Any = None,
        dropout_rate: float = 0.2,
        classifier_activation: Any = "softmax",
        include_preprocessing: bool = True,
        name: str = app,
    ) -> Model:
        _note_weights(app, weights)
        shape = tuple(input_shape) if input_shape is not None else (None, None, 3)
        x, inputs = _image_input(layers, input_tensor, shape)
        kernel, activation, se_ok = (3, relu, False) if minimalistic else (5, hard_swish, True)
        if include_preprocessing:
            x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
        x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
        x = activation(layers.BatchNormalization(name="conv_bn", **bn)(x))
        for block_id, (expansion, filters, k, stride, se, swish) in enumerate(plan):
            act = activation if swish else relu
            width = _make_divisible(filters * alpha, 8)
            x = block(x, expansion, width, k or kernel, stride, se and se_ok, act, block_id)
        last_conv = _make_divisible(tuple(x.shape)[-1] * 6, 8)
        last = _make_divisible(last_point * alpha, 8) if alpha > 1.0 else last_point
        x = layers.Conv2D(last_conv, kernel_size=1, padding="same", use_bias=False, name="conv_1")(x)
        x = activation(layers.BatchNormalization(name="conv_1_bn", **bn)(x))
        if include_top:
            x = layers.GlobalAveragePooling2D(keepdims=True)(x)
            x = activation(layers.Conv2D(last, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x))
            if dropout_rate > 0:
                x = layers.Dropout(dropout_rate)(x)
            x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
            x = layers.Flatten()(x)
            x = layers.Activation(activation=classifier_activation, name="predictions")(x)
        else:
            x = _top(layers, x, False, pooling, classes, classifier_activation)
        return Model(inputs, x, name=name)

    build.__name__ = app
    return build


# -- preprocess_input ---------------------------------------------------------------------------------
#: mode -> (mean pixel, standard deviation) of keras/src/applications/imagenet_utils.py
IMAGENET_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...] | None]] = {
    "caffe": ((103.939, 116.779, 123.68), None),
    "torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def preprocess(mode: str) -> Callable[..., Any]:
    """``preprocess_input`` of a family: Keras's operations on a model's tensor."""

    def preprocess_input(x: Any, data_format: Any = None, **kwargs: Any) -> Any:
        chosen = kwargs.get("mode", mode)
        if not isinstance(x, KerasTensor):  # data preprocessing outside the model does not run
            return Skipped(f"preprocess_input(mode={chosen!r}) on data")
        if data_format not in (None, "channels_last"):
            raise recorder().error("preprocess_input(data_format='channels_first') is not supported in model files")
        if chosen == "tf":
            x = x / 127.5
            return x - 1.0
        if chosen not in IMAGENET_STATS:
            raise recorder().error(f"preprocess_input(mode={chosen!r}): Keras knows 'caffe', 'tf' and 'torch'")
        mean, std = IMAGENET_STATS[chosen]
        if chosen == "torch":
            x = x / 255.0
        else:  # caffe: RGB → BGR, as three slices stacked back together
            x = call_op("stack", [x[..., 2], x[..., 1], x[..., 0]], axis=-1)
        shift = (-np.array(mean)).astype(np.float32).reshape((1,) * (len(x.shape) - 1) + (3,))
        x = operator("+", x, shift.view(BackendTensor))
        if std is not None:
            x = operator("/", x, np.array(std).astype(np.float32).view(BackendTensor))
        return x

    return preprocess_input


def _identity_preprocess(x: Any, data_format: Any = None) -> Any:
    """EfficientNet, ConvNeXt, MobileNetV3, RegNet: the model rescales its inputs itself."""
    return x


#: The applications Keras has that the stand-ins do not build, with their families' module names.
NOT_BUILT = {
    "InceptionResNetV2": "inception_resnet_v2",
    "NASNetMobile": "nasnet",
    "NASNetLarge": "nasnet",
    **{f"EfficientNetV2{s}": "efficientnet_v2" for s in ("B0", "B1", "B2", "B3", "S", "M", "L")},
    **{f"ConvNeXt{s}": "convnext" for s in ("Tiny", "Small", "Base", "Large", "XLarge")},
}


def _not_built(app: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise recorder().error(
            f"keras.applications.{app} is not available in kerascc's Python frontend",
            UnsupportedLayerError,
            hint=f"compile its JSON instead: open('{app.lower()}.json', 'w').write("
            f"keras.applications.{app}(weights=None).to_json()), then compile with --weights; "
            "in .py files: ResNet(V2), VGG, MobileNet(V2, V3), DenseNet, Xception, InceptionV3, EfficientNet",
        )

    refuse.__name__ = app
    return refuse


def application_modules(layers: Layers, module: Callable[[str, dict[str, Any]], ModuleType]) -> dict[str, ModuleType]:
    """``keras.applications`` and its family modules (``keras.applications.resnet50`` …), by dotted name."""
    builders: dict[str, Callable[..., Any]] = {}
    for depth in RESNET_BLOCKS:
        builders[f"ResNet{depth}"] = _resnet(layers, depth, v2=False)
        builders[f"ResNet{depth}V2"] = _resnet(layers, depth, v2=True)
    builders["VGG16"], builders["VGG19"] = _vgg(layers, 16), _vgg(layers, 19)
    builders["MobileNet"], builders["MobileNetV2"] = _mobilenet(layers), _mobilenet_v2(layers)
    for depth in DENSENET_BLOCKS:
        builders[f"DenseNet{depth}"] = _densenet(layers, depth)
    builders["Xception"] = _xception(layers)
    builders["InceptionV3"] = _inception_v3(layers)
    builders["MobileNetV3Small"] = _mobilenet_v3(layers, large=False)
    builders["MobileNetV3Large"] = _mobilenet_v3(layers, large=True)
    for variant in range(len(EFFICIENTNET_SCALING)):
        builders[f"EfficientNetB{variant}"] = _efficientnet(layers, variant)
    refused = {app: _not_built(app) for app in NOT_BUILT}
    caffe, tf, torch = preprocess("caffe"), preprocess("tf"), preprocess("torch")
    families = {
        "resnet": ({k: v for k, v in builders.items() if k.startswith("ResNet") and not k.endswith("V2")}, caffe),
        "resnet50": ({"ResNet50": builders["ResNet50"]}, caffe),
        "resnet_v2": ({k: v for k, v in builders.items() if k.startswith("ResNet") and k.endswith("V2")}, tf),
        "vgg16": ({"VGG16": builders["VGG16"]}, caffe),
        "vgg19": ({"VGG19": builders["VGG19"]}, caffe),
        "mobilenet": ({"MobileNet": builders["MobileNet"]}, tf),
        "mobilenet_v2": ({"MobileNetV2": builders["MobileNetV2"]}, tf),
        "densenet": ({k: v for k, v in builders.items() if k.startswith("DenseNet")}, torch),
        "xception": ({"Xception": builders["Xception"]}, tf),
        "inception_v3": ({"InceptionV3": builders["InceptionV3"]}, tf),
        "inception_resnet_v2": ({}, tf),
        "nasnet": ({}, tf),
        "mobilenet_v3": ({k: v for k, v in builders.items() if k.startswith("MobileNetV3")}, _identity_preprocess),
        "efficientnet": ({k: v for k, v in builders.items() if k.startswith("EfficientNetB")}, _identity_preprocess),
        "efficientnet_v2": ({}, _identity_preprocess),
        "convnext": ({}, _identity_preprocess),
    }
    mods: dict[str, ModuleType] = {}
    for family, (apps, pre) in families.items():
        own = {app: fn for app, fn in refused.items() if NOT_BUILT[app] == family}
        mods[f"keras.applications.{family}"] = module(
            f"keras.applications.{family}", {**apps, **own, "preprocess_input": pre}
        )
    imagenet_utils = module("keras.applications.imagenet_utils", {"preprocess_input": preprocess("caffe")})
    mods["keras.applications.imagenet_utils"] = imagenet_utils
    top = module("keras.applications", {**builders, **refused})
    for dotted, mod in mods.items():
        setattr(top, dotted.rpartition(".")[2], mod)
    mods["keras.applications"] = top
    return mods


def resnet50_factory(layers: Layers) -> Callable[..., Model]:
    """``keras.applications.ResNet50`` alone (kept for callers that build just that one)."""
    return _resnet(layers, 50, v2=False)
