"""A one-filter Conv2DTranspose with an all-ones kernel on a 5x5 input.

From seed 002 ("CONV2Dtranspose演示代码"), as printed there. Added to make it a complete file:
the imports.
"""
import keras
import numpy as np
from keras.layers import Conv2DTranspose
from keras.models import Sequential

v_input = np.ones([1, 5, 5, 1])
kernel = np.ones([3, 3])
stride = 1
model = Sequential()
model.add(Conv2DTranspose(1, kernel_size=(3, 3), activation="relu", padding="valid",  # "same"
                          strides=1,
                          # dilation_rate = 1,
                          kernel_initializer=keras.initializers.Ones(),
                          input_shape=v_input.shape[1:]))
