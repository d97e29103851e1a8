"""A DenseNet feature extractor as tutorials build one: the application called as a layer, with
a small head. Its preprocess_input ('torch' mode) is left to `run` (compile with --preprocess torch)."""

import tensorflow as tf
from tensorflow import keras
from tensorflow.keras.applications.densenet import DenseNet121

inputs = keras.Input((32, 32, 3), name="image")
features = DenseNet121(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="max")
x = features(inputs)
outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
model = keras.Model(inputs, outputs, name="densenet_head")
model.compile(optimizer=tf.keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
