"""VGG's first convolution in Keras 1 spelling.

From seed 000 (a question about ``x = Convolution2D(32, 3, 3, activation=relu, padding=same,
name=block1_conv1)(img_input)``). Added to make it a complete file: the imports, the quotes the
page lost around 'relu' and 'same', ``img_input`` and ``model``. ``Convolution2D(32, 3, 3)`` is
Keras 1's (filters, rows, cols): a 3x3 kernel. Keras 3 would read the third number as strides.
"""
from keras.layers import Convolution2D, Input
from keras.models import Model

img_input = Input(shape=(224, 224, 3))
x = Convolution2D(32, 3, 3, activation='relu', padding='same', name='block1_conv1')(img_input)
model = Model(img_input, x)
