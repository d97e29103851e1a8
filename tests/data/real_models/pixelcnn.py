"""keras.io: PixelCNN (examples/generative/pixelcnn.py).

Cut down: the page's PixelConvLayer, which masks its convolution's kernel by assigning to it in
call(), and a small stack of them.
"""

import keras
import numpy as np
from keras import layers, ops


class PixelConvLayer(layers.Layer):
    def __init__(self, mask_type, **kwargs):
        super().__init__()
        self.mask_type = mask_type
        self.conv = layers.Conv2D(**kwargs)

    def build(self, input_shape):
        self.conv.build(input_shape)
        kernel_shape = ops.shape(self.conv.kernel)
        self.mask = np.zeros(shape=kernel_shape)
        self.mask[: kernel_shape[0] // 2, ...] = 1.0
        self.mask[kernel_shape[0] // 2, : kernel_shape[1] // 2, ...] = 1.0
        if self.mask_type == "B":
            self.mask[kernel_shape[0] // 2, kernel_shape[1] // 2, ...] = 1.0

    def call(self, inputs):
        self.conv.kernel.assign(self.conv.kernel * self.mask)
        return self.conv(inputs)


inputs = keras.Input(shape=(12, 12, 1))
x = PixelConvLayer(mask_type="A", filters=8, kernel_size=7, activation="relu", padding="same")(inputs)
x = PixelConvLayer(mask_type="B", filters=8, kernel_size=1, strides=1, activation="relu", padding="valid")(x)
out = layers.Conv2D(filters=1, kernel_size=1, strides=1, activation="sigmoid", padding="valid")(x)
model = keras.Model(inputs, out)
