"""A three-input, three-output residual network built from ``res_block``.

From seed 000, as printed there (only line breaks and indentation restored). It is very wide:
the 2048-filter 3x3 residual blocks give it about 637 million parameters.
"""
from keras.layers import Activation, Add, BatchNormalization, Conv2D, Input
from keras.models import Model


def res_block(inputs, filters, kernel_size=3, strides=1, padding='same'):
    x = Conv2D(filters, kernel_size, strides=strides, padding=padding)(inputs)
    x = BatchNormalization()(x)
    x = Activation('relu')(x)
    x = Conv2D(filters, kernel_size, strides=1, padding=padding)(x)
    x = BatchNormalization()(x)
    x = Add()([x, inputs])
    x = Activation('relu')(x)
    return x


input_shape = (224, 224, 3)
input1 = Input(input_shape)
input2 = Input(input_shape)
input3 = Input(input_shape)
x = Conv2D(64, 7, strides=2, padding='same')(input1)
x = BatchNormalization()(x)
x = Activation('relu')(x)
x = res_block(x, 64)
x = res_block(x, 64)
x = Conv2D(128, 3, strides=2, padding='same')(x)
x = BatchNormalization()(x)
x = Activation('relu')(x)
x = res_block(x, 128)
x = res_block(x, 128)
x = Conv2D(256, 3, strides=2, padding='same')(x)
x = BatchNormalization()(x)
x = Activation('relu')(x)
x = res_block(x, 256)
x = res_block(x, 256)
x = Conv2D(512, 3, strides=2, padding='same')(x)
x = BatchNormalization()(x)
x = Activation('relu')(x)
x = res_block(x, 512)
x = res_block(x, 512)
x1 = Conv2D(1024, 3, strides=2, padding='same')(x)
x1 = BatchNormalization()(x1)
x1 = Activation('relu')(x1)
x1 = res_block(x1, 1024)
x1 = res_block(x1, 1024)
x1 = Conv2D(2048, 3, strides=2, padding='same')(x1)
x1 = BatchNormalization()(x1)
x1 = Activation('relu')(x1)
x1 = res_block(x1, 2048)
x1 = res_block(x1, 2048)
output1 = x1
x2 = Conv2D(1024, 3, strides=2, padding='same')(x)
x2 = BatchNormalization()(x2)
x2 = Activation('relu')(x2)
x2 = res_block(x2, 1024)
x2 = res_block(x2, 1024)
x2 = Conv2D(2048, 3, strides=2, padding='same')(x2)
x2 = BatchNormalization()(x2)
x2 = Activation('relu')(x2)
x2 = res_block(x2, 2048)
x2 = res_block(x2, 2048)
output2 = x2
x3 = Conv2D(1024, 3, strides=2, padding='same')(x)
x3 = BatchNormalization()(x3)
x3 = Activation('relu')(x3)
x3 = res_block(x3, 1024)
x3 = res_block(x3, 1024)
x3 = Conv2D(2048, 3, strides=2, padding='same')(x3)
x3 = BatchNormalization()(x3)
x3 = Activation('relu')(x3)
x3 = res_block(x3, 2048)
x3 = res_block(x3, 2048)
output3 = x3
model = Model(inputs=[input1, input2, input3], outputs=[output1, output2, output3])
