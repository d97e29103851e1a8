"""Arithmetic and ``keras.ops`` on symbolic tensors, as Keras 3 tutorials write them.

Scaling pixels with ``inputs / 255.0``, centring with ``(x - 0.5) * 2.0``, residual sums with
``x + shortcut``, gating with ``x * keras.ops.sigmoid(g)``, and activations called as functions
(``keras.ops.relu(x)``, ``keras.activations.gelu(x)``). Keras records each as an operation
(``true_divide``, ``subtract``, ``multiply_1``…) in the model; kerascc records the same ones.
"""
import keras
from keras import layers


def conv_block(x, filters):
    shortcut = layers.Conv2D(filters, 1)(x)
    x = layers.Conv2D(filters, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = keras.ops.relu(x)
    gate = layers.Conv2D(filters, 1)(x)
    x = x * keras.ops.sigmoid(gate)
    return keras.activations.gelu(x + shortcut)


inputs = keras.Input(shape=(32, 32, 3))
x = inputs / 255.0
x = (x - 0.5) * 2.0
x = conv_block(x, 16)
x = layers.MaxPooling2D()(x)
x = conv_block(x, 32)
x = keras.ops.maximum(x, -1.0) - keras.ops.minimum(x, 0.0) * 0.5
x = 1.0 - keras.ops.leaky_relu(x, negative_slope=0.1)
x = layers.GlobalAveragePooling2D()(x)
logits = layers.Dense(10)(x)
outputs = keras.activations.softmax(logits / 2.0)
model = keras.Model(inputs, outputs)
