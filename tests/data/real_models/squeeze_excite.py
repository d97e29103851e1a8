"""titu1994/keras-squeeze-excite-network: squeeze_excite_block (keras_squeeze_excite_network/se.py),
in a small ResNet-style classifier.

Cut down: the repository's squeeze_excite_block as written (image_data_format, the channel count read
from the tensor's shape, Reshape, two Dense, multiply) after two conv blocks.
"""

import keras
from keras import backend as K
from keras.layers import Conv2D, Dense, GlobalAveragePooling2D, Input, Permute, Reshape, multiply


def squeeze_excite_block(input_tensor, ratio=4):
    init = input_tensor
    channel_axis = 1 if K.image_data_format() == "channels_first" else -1
    filters = init.shape[channel_axis]
    se_shape = (1, 1, filters)

    se = GlobalAveragePooling2D()(init)
    se = Reshape(se_shape)(se)
    se = Dense(filters // ratio, activation="relu", kernel_initializer="he_normal", use_bias=False)(se)
    se = Dense(filters, activation="sigmoid", kernel_initializer="he_normal", use_bias=False)(se)

    if K.image_data_format() == "channels_first":
        se = Permute((3, 1, 2))(se)

    x = multiply([init, se])
    return x


inputs = Input((16, 16, 3))
x = Conv2D(16, 3, padding="same", activation="relu")(inputs)
x = squeeze_excite_block(x)
x = Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
x = squeeze_excite_block(x, ratio=8)
x = GlobalAveragePooling2D()(x)
outputs = Dense(10, activation="softmax")(x)
model = keras.Model(inputs, outputs)
